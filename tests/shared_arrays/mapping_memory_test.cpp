// memory_of: RSS / PSS / private and shared bytes of one mapping, by
// address, range or segment name; and the proof of sharing: a child that
// touched a whole array its parent also touched holds half of it (PSS) and
// nothing private. Bounds are generous and never about time.
#include "mpkit/shared_arrays/mapping_memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>

#include "test_support.hpp"
#include <gtest/gtest.h>

#include "mpkit/shared_arrays/shared_array.hpp"
#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;

constexpr std::size_t kMiB = 1 << 20;

template <class Action>
int errno_of(Action&& action) {
  try {
    action();
  } catch (const std::system_error& error) {
    return error.code().value();
  }
  return 0;
}

TEST(MappingMemoryTest, SoleOwnerOfATouchedArrayHoldsAllOfItPrivately) {
  auto a = SharedArray<double>::anonymous(8 * kMiB / sizeof(double));
  a.fill(1.0);
  const MappingMemory m = memory_of(::getpid(), a.memory());
  EXPECT_EQ(m.pid, ::getpid());
  EXPECT_EQ(m.vmas, 1u);
  EXPECT_EQ(m.start, reinterpret_cast<std::uintptr_t>(a.memory().data()));
  EXPECT_GE(m.size_bytes, a.memory().size());
  EXPECT_GE(m.rss_bytes, a.size_bytes());
  EXPECT_LE(m.rss_bytes, m.size_bytes);
  EXPECT_GE(m.pss_bytes, a.size_bytes()) << "nobody else maps it: PSS = RSS";
  // Mapped by one process only, so smaps counts it as private (and dirty).
  EXPECT_GE(m.private_dirty_bytes, a.size_bytes());
  EXPECT_EQ(m.shared_bytes(), 0u);
  // An address inside finds the same mapping.
  const MappingMemory inside = memory_of(::getpid(), &a[a.size() / 2]);
  EXPECT_EQ(inside.start, m.start);
  EXPECT_EQ(inside.path, m.path);
}

TEST(MappingMemoryTest, AChildThatTouchedTheWholeArrayHoldsHalfOfItAndNothingPrivate) {
  constexpr std::size_t kBytes = 16 * kMiB;
  auto m = SharedMatrix<double>::anonymous(256, kBytes / 256 / sizeof(double));
  m.fill(kBytes);                           // the parent maps every page
  test::Shared<std::atomic<int>> phase(0);  // 1: child touched all; 2: parent measured
  Child child([&] {
    double sum = 0;
    for (double v : m.span()) sum += v;  // maps every page into the child
    if (sum != static_cast<double>(kBytes) * static_cast<double>(m.size())) return 1;
    phase->store(1);
    return test::eventually([&] { return phase->load() == 2; }, 30s) ? 0 : 2;
  });
  ASSERT_TRUE(test::eventually([&] { return phase->load() == 1; }, 30s)) << "child never touched";
  const MappingMemory in_child = memory_of(child.pid(), m.memory());
  const MappingMemory in_parent = memory_of(::getpid(), m.memory());
  phase->store(2);
  ASSERT_EQ(child.join(30s), ExitStatus::exited(0));

  const double size = static_cast<double>(m.size_bytes());
  EXPECT_GE(static_cast<double>(in_child.rss_bytes), size) << "the child maps every page";
  // Two sharers: each page counts half. Generous bounds around 1/2.
  EXPECT_GT(static_cast<double>(in_child.pss_bytes), 0.40 * size);
  EXPECT_LT(static_cast<double>(in_child.pss_bytes), 0.60 * size);
  EXPECT_GT(static_cast<double>(in_parent.pss_bytes), 0.40 * size);
  EXPECT_LT(static_cast<double>(in_parent.pss_bytes), 0.60 * size);
  // Nothing was copied: under 1 % of the array is private to the child.
  EXPECT_LT(static_cast<double>(in_child.private_bytes()), 0.01 * size);
  EXPECT_LT(static_cast<double>(in_child.private_dirty_bytes), 0.01 * size);
  EXPECT_GE(static_cast<double>(in_child.shared_bytes()), 0.99 * size);
}

TEST(MappingMemoryTest, ANamedSegmentIsFoundByNameBeforeAndAfterUnlinking) {
  const auto name = SegmentName::unique();
  auto a = SharedArray<std::uint8_t>::create(name, 4 * kMiB);
  a.fill(7);
  const MappingMemory m = memory_of(::getpid(), name);
  EXPECT_EQ(m.path, "/dev/shm" + name.str());
  EXPECT_EQ(m.start, reinterpret_cast<std::uintptr_t>(a.memory().data()));
  EXPECT_GE(m.rss_bytes, a.size_bytes());
  // A second mapping of the same segment adds a VMA, found by name too.
  auto again = SharedArray<std::uint8_t>::open(name);
  (void)again[a.size() - 1];
  EXPECT_EQ(memory_of(::getpid(), name).vmas, 2u);
  ASSERT_TRUE(a.remove());
  const MappingMemory unlinked = memory_of(::getpid(), name);
  EXPECT_EQ(unlinked.path, "/dev/shm" + name.str() + " (deleted)");
  EXPECT_GE(unlinked.rss_bytes, a.size_bytes());
}

TEST(MappingMemoryTest, ARangeSumsEveryVmaItOverlaps) {
  auto a = SharedArray<std::uint64_t>::anonymous(kMiB / sizeof(std::uint64_t));
  auto b = SharedArray<std::uint64_t>::anonymous(kMiB / sizeof(std::uint64_t));
  a.fill(1);
  b.fill(2);
  const auto* low = std::min(a.memory().data(), b.memory().data());
  const auto* high = std::max(a.memory().data(), b.memory().data());
  const MappingMemory both = memory_of(::getpid(), low, static_cast<std::size_t>(high - low) + 1);
  EXPECT_GE(both.vmas, 2u);
  EXPECT_GE(both.rss_bytes, a.size_bytes() + b.size_bytes());
}

TEST(MappingMemoryTest, AMissingMappingIsMappingNotFoundError) {
  EXPECT_THROW((void)memory_of(::getpid(), nullptr), MappingNotFoundError);
  EXPECT_THROW((void)memory_of(::getpid(), SegmentName::with_tag("not-mapped")),
               MappingNotFoundError);
  EXPECT_THROW((void)memory_of(::getpid(), nullptr, 0), std::invalid_argument);
}

TEST(MappingMemoryTest, AProcessThatIsGoneIsESRCH) {
  auto a = SharedArray<int>::anonymous(1024);
  // A zombie: exited, not yet reaped; its address space is gone.
  Child zombie([] { return 0; });
  ASSERT_TRUE(test::eventually([&] {
    std::ifstream stat("/proc/" + std::to_string(zombie.pid()) + "/stat");
    std::string pid, comm, state;
    return stat >> pid >> comm >> state && state == "Z";
  }));
  EXPECT_EQ(errno_of([&] { (void)memory_of(zombie.pid(), a.memory()); }), ESRCH);
  const pid_t gone = zombie.pid();
  ASSERT_EQ(zombie.join(10s), ExitStatus::exited(0));
  EXPECT_EQ(errno_of([&] { (void)memory_of(gone, a.memory()); }), ESRCH);
}

}  // namespace
}  // namespace mpkit
