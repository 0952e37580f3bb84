// now_ns (mpkit/ipc/detail/clock.hpp): the one CLOCK_MONOTONIC read in
// nanoseconds. Ordering only, never a speed.

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace {

TEST(NowNs, NeverRunsBackwards) {
  std::int64_t last = mpkit::detail::now_ns();
  for (int i = 0; i < 10'000; ++i) {
    const std::int64_t now = mpkit::detail::now_ns();
    ASSERT_GE(now, last);
    last = now;
  }
}

TEST(NowNs, IsSteadyClockInNanoseconds) {
  const auto in_ns = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  const auto before = std::chrono::steady_clock::now();
  const std::int64_t ns = mpkit::detail::now_ns();
  const auto after = std::chrono::steady_clock::now();
  EXPECT_GE(ns, in_ns(before));
  EXPECT_LE(ns, in_ns(after));
}

TEST(NowNs, OneClockAcrossProcesses) {
  auto shm = mpkit::SharedMemory::anonymous(sizeof(std::int64_t));
  auto* child_ns = shm.as<std::int64_t>();
  const std::int64_t before = mpkit::detail::now_ns();
  mpkit::Process child([child_ns] { *child_ns = mpkit::detail::now_ns(); });
  ASSERT_EQ(child.join(std::chrono::seconds(10)), 0);
  const std::int64_t after = mpkit::detail::now_ns();
  EXPECT_GE(*child_ns, before);
  EXPECT_LE(*child_ns, after);
}

}  // namespace
