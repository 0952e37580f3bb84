// allowed_cpus and Pinning (pinning.hpp): which CPUs, and that the mask
// comes back. Reads the affinity mask; never times anything.

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/pinning.hpp"
#include "mpkit/ipc/process.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::allowed_cpus;
using mpkit::Pinning;

std::vector<int> mask_now() { return allowed_cpus(); }

TEST(AllowedCpus, AscendingAndWhatNprocCounts) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(static_cast<int>(cpus.size()), CPU_COUNT(&set));
}

TEST(Pinning, TakesAllOrTheFirstFew) {
  const std::vector<int> cpus = allowed_cpus();
  const Pinning all;
  EXPECT_EQ(std::vector<int>(all.cpus().begin(), all.cpus().end()), cpus);
  const Pinning one(true, 1);
  ASSERT_EQ(one.size(), 1U);
  EXPECT_EQ(one.cpus()[0], cpus[0]);
  EXPECT_EQ(one.cpus_text(), std::to_string(cpus[0]));
  const Pinning off(false);
  EXPECT_EQ(off.size(), 0U);
  EXPECT_EQ(off.cpus_text(), "");
}

TEST(Pinning, CpusTextIsCommaSeparated) {
  const Pinning two(true, 2);
  if (two.size() < 2) GTEST_SKIP() << "one CPU allowed";
  EXPECT_EQ(two.cpus_text(), std::to_string(two.cpus()[0]) + "," + std::to_string(two.cpus()[1]));
}

TEST(Pinning, PinsWithWrapAroundAndRestores) {
  const std::vector<int> before = mask_now();
  {
    const Pinning pinning;
    pinning.pin(pinning.size());  // wraps to the first
    EXPECT_EQ(mask_now(), std::vector<int>{pinning.cpus()[0]});
    pinning.restore();
    EXPECT_EQ(mask_now(), before);
    pinning.pin(pinning.size() - 1);
    EXPECT_EQ(mask_now(), std::vector<int>{pinning.cpus().back()});
  }
  EXPECT_EQ(mask_now(), before) << "the destructor restores the mask";
}

TEST(Pinning, AChildPinsItselfAndTheParentStaysAsItWas) {
  const std::vector<int> before = mask_now();
  const Pinning pinning;
  mpkit::Process child([&] {
    pinning.pin(0);
    return mask_now() == std::vector<int>{pinning.cpus()[0]} ? 0 : 1;
  });
  EXPECT_EQ(child.join(10s), 0);
  EXPECT_EQ(mask_now(), before);
}

TEST(Pinning, DisabledDoesNothing) {
  const std::vector<int> before = mask_now();
  const Pinning off(false);
  off.pin(0);
  EXPECT_EQ(mask_now(), before);
  {
    const mpkit::ScopedPin none(nullptr, 0);
    EXPECT_EQ(mask_now(), before);
  }
}

TEST(ScopedPin, PinsForTheScope) {
  const std::vector<int> before = mask_now();
  const Pinning pinning;
  {
    const mpkit::ScopedPin pin(&pinning, 0);
    EXPECT_EQ(mask_now(), std::vector<int>{pinning.cpus()[0]});
  }
  EXPECT_EQ(mask_now(), before);
}

}  // namespace
