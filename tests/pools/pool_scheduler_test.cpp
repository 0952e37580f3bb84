// The pool's scheduler: work that arrives one chunk at a time, or through
// imap, lands on every worker; a second driving thread is refused. Only
// placements and outcomes are asserted, never times: the spread bounds hold
// however slow the machine is, and fail for a scheduler that sends
// everything to one worker.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mpkit/pools/pool.hpp"
#include "pool_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::test::with_workers;

constexpr std::size_t kWorkers = 4;

int sleep_then_say_who(int) {
  std::this_thread::sleep_for(5ms);
  return mpkit::this_worker_index();
}

// How many of `indices` each worker ran; fails on an index out of range.
std::vector<std::size_t> per_worker(const std::vector<int>& indices) {
  std::vector<std::size_t> counts(kWorkers);
  for (int index : indices) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, static_cast<int>(kWorkers));
    if (index >= 0 && index < static_cast<int>(kWorkers)) ++counts[static_cast<std::size_t>(index)];
  }
  return counts;
}

// Every worker ran at least a quarter of its fair share, none more than twice it.
void expect_spread(const std::vector<std::size_t>& counts, std::size_t total) {
  const std::size_t fair = total / kWorkers;
  for (std::size_t w = 0; w < counts.size(); ++w) {
    EXPECT_GE(counts[w], fair / 4) << "worker " << w << " was left out";
    EXPECT_LE(counts[w], 2 * fair) << "worker " << w << " took far more than its share";
  }
}

template <class Pool>
class PoolScheduler : public ::testing::Test {};
using PoolKinds = ::testing::Types<mpkit::ProcessPool, mpkit::ThreadPool>;
TYPED_TEST_SUITE(PoolScheduler, PoolKinds);

TYPED_TEST(PoolScheduler, SubmitsLandOnEveryWorker) {
  TypeParam pool(with_workers(kWorkers));
  constexpr int kSubmits = 80;
  std::vector<mpkit::AsyncResult<int>> pending;
  for (int i = 0; i < kSubmits; ++i) pending.push_back(pool.submit(&sleep_then_say_who, i));
  std::vector<int> indices;
  for (auto& result : pending) indices.push_back(result.get(60s));
  expect_spread(per_worker(indices), kSubmits);
}

TYPED_TEST(PoolScheduler, ImapItemsLandOnEveryWorker) {
  TypeParam pool(with_workers(kWorkers));
  constexpr int kItems = 200;
  const auto inputs = std::views::iota(0, kItems);
  std::vector<int> unordered;
  for (int index : pool.imap_unordered(&sleep_then_say_who, inputs)) unordered.push_back(index);
  ASSERT_EQ(unordered.size(), static_cast<std::size_t>(kItems));
  expect_spread(per_worker(unordered), kItems);
  std::vector<int> ordered;
  for (int index : pool.imap(&sleep_then_say_who, inputs)) ordered.push_back(index);
  ASSERT_EQ(ordered.size(), static_cast<std::size_t>(kItems));
  expect_spread(per_worker(ordered), kItems);
}

long twice(int x) { return 2L * x; }

TYPED_TEST(PoolScheduler, ASecondDrivingThreadIsRefusedAndTheFirstGoesOn) {
  TypeParam pool(with_workers(2));
  EXPECT_EQ(pool.map(&twice, std::views::iota(0, 100), 7).at(99), 198);
  std::string refusal;
  std::thread other([&] {
    try {
      (void)pool.submit(&twice, 1);
    } catch (const std::logic_error& error) {
      refusal = error.what();
    }
  });
  other.join();
  EXPECT_NE(refusal.find("second thread"), std::string::npos) << refusal;
  const auto values = pool.map(&twice, std::views::iota(0, 1000), 3);
  ASSERT_EQ(values.size(), 1000U);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], 2L * i);
  pool.close();
  EXPECT_TRUE(pool.join(30s));
}

}  // namespace
