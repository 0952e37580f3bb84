#include "mpkit/pools/pool.hpp"

#include <gtest/gtest.h>

namespace {
TEST(PoolSmoke, ProcessMap) {
  mpkit::PoolOptions o; o.workers = 2; mpkit::ProcessPool pool(o);
  std::vector<int> in{1, 2, 3, 4, 5};
  auto out = pool.map([](int x) { return x * x; }, in);
  EXPECT_EQ(out, (std::vector<int>{1, 4, 9, 16, 25}));
  pool.close();
  EXPECT_TRUE(pool.join(std::chrono::seconds(5)));
}
}  // namespace
