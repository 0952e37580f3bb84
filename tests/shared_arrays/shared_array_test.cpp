// SharedArray<T>: lifecycle, sharing with forked children, named attach in
// one process, read-only attach, layout and size errors, pre-faulting.
#include "mpkit/shared_arrays/shared_array.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>

#include "test_support.hpp"
#include <gtest/gtest.h>

#include "mpkit/shared_arrays/mapping_memory.hpp"
#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;

bool segment_exists(const SegmentName& name) {
  return std::filesystem::exists("/dev/shm" + name.str());
}

template <class Action>
std::string message_of(Action&& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no exception)";
}

template <class Action>
int errno_of(Action&& action) {
  try {
    action();
  } catch (const std::system_error& error) {
    return error.code().value();
  }
  return 0;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SharedArrayTest, AnonymousIsZeroedAndWritesOfAForkedChildAreSeen) {
  constexpr std::size_t kSize = 100'000;
  auto squares = SharedArray<std::int64_t>::anonymous(kSize);
  ASSERT_EQ(squares.size(), kSize);
  EXPECT_EQ(squares.size_bytes(), kSize * sizeof(std::int64_t));
  EXPECT_FALSE(squares.name().has_value());
  for (std::int64_t v : squares.span()) ASSERT_EQ(v, 0);
  Child child([&] {
    for (std::size_t i = 0; i < kSize; ++i) squares[i] = static_cast<std::int64_t>(i * i);
    return 0;
  });
  ASSERT_EQ(child.join(30s), ExitStatus::exited(0));
  for (std::size_t i = 0; i < kSize; ++i) {
    ASSERT_EQ(squares[i], static_cast<std::int64_t>(i * i)) << "index " << i;
  }
}

TEST(SharedArrayTest, ElementsStartOnTheirOwnCacheLine) {
  auto a = SharedArray<char>::anonymous(3);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % kCacheLineSize, 0u);
  EXPECT_EQ(a.data() - reinterpret_cast<char*>(a.memory().data()),
            static_cast<std::ptrdiff_t>(kCacheLineSize));
  struct alignas(256) Wide {
    char bytes[256];
  };
  auto wide = SharedArray<Wide>::anonymous(2);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(wide.data()) % 256, 0u);
}

TEST(SharedArrayTest, FillSpanAndAt) {
  auto a = SharedArray<double>::anonymous(10);
  a.fill(2.5);
  EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0.0), 25.0);
  a.at(9) = 1.0;
  EXPECT_EQ(a.span()[9], 1.0);
  EXPECT_THROW((void)a.at(10), std::out_of_range);
  EXPECT_TRUE(contains(message_of([&] { (void)a.at(10); }), "index 10 >= size 10"));
}

TEST(SharedArrayTest, MovedFromArrayIsEmptyAndTheMoveKeepsTheAddress) {
  auto a = SharedArray<int>::anonymous(4);
  a[3] = 7;
  int* address = a.data();
  SharedArray<int> b = std::move(a);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.data(), address);
  EXPECT_EQ(b[3], 7);
}

TEST(SharedArrayTest, NamedCreateOpenAndCreatorUnlinks) {
  const auto name = SegmentName::unique();
  {
    auto created = SharedArray<std::uint32_t>::create(name, 1000);
    EXPECT_TRUE(created.is_creator());
    EXPECT_TRUE(segment_exists(name));
    created[999] = 17;
    auto opened = SharedArray<std::uint32_t>::open(name);
    EXPECT_FALSE(opened.is_creator());
    EXPECT_EQ(opened.size(), 1000u);
    EXPECT_EQ(opened[999], 17u);
    opened[0] = 5;
    EXPECT_EQ(created[0], 5u);
    auto checked = SharedArray<std::uint32_t>::open(name, 1000);
    EXPECT_EQ(checked.size(), 1000u);
  }
  EXPECT_FALSE(segment_exists(name));
}

TEST(SharedArrayTest, RemoveUnlinksEarlyAndTheMappingStaysValid) {
  const auto name = SegmentName::unique();
  auto created = SharedArray<int>::create(name, 16);
  auto opened = SharedArray<int>::open(name);
  EXPECT_TRUE(created.remove());
  EXPECT_FALSE(segment_exists(name));
  created[1] = 3;
  EXPECT_EQ(opened[1], 3);
  EXPECT_EQ(errno_of([&] { (void)SharedArray<int>::open(name); }), ENOENT);
}

TEST(SharedArrayTest, OpenOfAMissingNameIsENOENTNamingIt) {
  const auto name = SegmentName::with_tag("never-created-array");
  EXPECT_EQ(errno_of([&] { (void)SharedArray<int>::open(name); }), ENOENT);
  EXPECT_TRUE(contains(message_of([&] { (void)SharedArray<int>::open(name); }), name.str()));
}

TEST(SharedArrayTest, ReadOnlyAttachGivesConstAccessAndAWriteDiesBySigsegv) {
  const auto name = SegmentName::unique();
  auto created = SharedArray<double>::create(name, 512);
  created.fill(4.0);
  auto reader = SharedArray<const double>::open(name);
  static_assert(std::is_same_v<decltype(reader[0]), const double&>, "read-only: const access only");
  static_assert(std::is_same_v<decltype(reader.span()), std::span<const double>>);
  static_assert(SharedArray<const double>::kReadOnly);
  EXPECT_EQ(reader.memory().access(), Access::kReadOnly);
  EXPECT_EQ(reader[511], 4.0);
  // Casting constness away does not make the mapping writable: PROT_READ.
  Child writer([&reader] {
    ::signal(SIGSEGV, SIG_DFL);  // sanitizers catch SEGV; we want the plain signal
    const_cast<volatile double*>(reader.data())[0] = 1.0;
    return 0;
  });
  EXPECT_EQ(writer.join(10s), ExitStatus::killed_by(SIGSEGV));
  EXPECT_EQ(created[0], 4.0);
}

TEST(SharedArrayTest, AttachRefusesAnotherElementTypeNamingBoth) {
  const auto name = SegmentName::unique();
  auto created = SharedArray<double>::create(name, 8);
  const std::string as_float = message_of([&] { (void)SharedArray<float>::open(name); });
  EXPECT_TRUE(contains(as_float, "holds 8-byte floating-point elements")) << as_float;
  EXPECT_TRUE(contains(as_float, "expects 4-byte floating-point elements")) << as_float;
  EXPECT_TRUE(contains(as_float, name.str())) << as_float;
  const std::string as_int = message_of([&] { (void)SharedArray<std::int64_t>::open(name); });
  EXPECT_TRUE(contains(as_int, "expects 8-byte signed-integer elements")) << as_int;
  EXPECT_THROW((void)SharedArray<std::uint64_t>::open(name), LayoutMismatchError);
}

TEST(SharedArrayTest, AttachRefusesAnotherShapeOrRankNamingBoth) {
  const auto name = SegmentName::unique();
  auto created = SharedArray<int>::create(name, 12);
  const std::string length = message_of([&] { (void)SharedArray<int>::open(name, 13); });
  EXPECT_TRUE(contains(length, "holds a 1-D array of 12 elements")) << length;
  EXPECT_TRUE(contains(length, "expects a 1-D array of 13 elements")) << length;
  const std::string rank = message_of([&] { (void)SharedMatrix<int>::open(name); });
  EXPECT_TRUE(contains(rank, "holds a 1-D array of 12 elements")) << rank;
  EXPECT_TRUE(contains(rank, "expects a matrix")) << rank;
  EXPECT_THROW((void)SharedMatrix<int>::open(name), LayoutMismatchError);
}

TEST(SharedArrayTest, AttachRefusesASegmentThatIsNoArray) {
  const auto name = SegmentName::unique();
  auto plain = SharedMemory::named(create_only, name, 4096);
  plain.as<std::uint64_t>()[0] = 0x1234;  // somebody else's magic
  EXPECT_THROW((void)SharedArray<int>::open(name), LayoutMismatchError);
  const auto tiny_name = SegmentName::unique();
  auto tiny = SharedMemory::named(create_only, tiny_name, 16);
  EXPECT_THROW((void)SharedArray<int>::open(tiny_name), LayoutMismatchError);
}

TEST(SharedArrayTest, AttachTimesOutOnAHeaderNeverPublished) {
  const auto name = SegmentName::unique();
  auto zeros = SharedMemory::named(create_only, name, 4096);  // a creator that died early
  EXPECT_EQ(errno_of([&] { (void)SharedArray<int>::open(name, std::nullopt, 50ms); }), ETIMEDOUT);
}

TEST(SharedArrayTest, ZeroSizeIsInvalidArgumentNamingIt) {
  EXPECT_THROW((void)SharedArray<int>::anonymous(0), std::invalid_argument);
  EXPECT_EQ(message_of([] { (void)SharedArray<int>::anonymous(0); }),
            "SharedArray: size must be > 0 (got 0)");
  const auto name = SegmentName::unique();
  EXPECT_THROW((void)SharedArray<int>::create(name, 0), std::invalid_argument);
  EXPECT_FALSE(segment_exists(name));
}

TEST(SharedArrayTest, AByteCountThatOverflowsIsInvalidArgument) {
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 4;
  EXPECT_THROW((void)SharedArray<double>::anonymous(huge), std::invalid_argument);
  EXPECT_TRUE(
      contains(message_of([&] { (void)SharedArray<double>::anonymous(huge); }), "overflows"));
}

TEST(SharedArrayTest, TooBigForMemoryOrDevShmIsAnErrorNotSigbus) {
  EXPECT_EQ(errno_of([] { (void)SharedArray<double>::anonymous(std::size_t{1} << 57); }), ENOMEM);
  const auto capacity = shm_capacity();
  ASSERT_GT(capacity.dev_shm_free_bytes, 0u);
  const auto name = SegmentName::unique();
  const std::size_t too_many =
      (capacity.dev_shm_free_bytes + (std::size_t{1} << 30)) / sizeof(double);
  const int error = errno_of([&] { (void)SharedArray<double>::create(name, too_many); });
  EXPECT_TRUE(error == ENOSPC || error == ENOMEM) << error;
  EXPECT_TRUE(contains(message_of([&] { (void)SharedArray<double>::create(name, too_many); }),
                       "does not fit"));
  EXPECT_FALSE(segment_exists(name)) << "a refused segment must not be left behind";
}

// Pre-faulting: the pages of a fresh array are not resident until touched.
class PrefaultTest : public ::testing::TestWithParam<Prefault> {};

TEST_P(PrefaultTest, FaultsPagesInAndKeepsTheContents) {
  constexpr std::size_t kSize = (8u << 20) / sizeof(std::uint64_t);  // 8 MiB
  auto a = SharedArray<std::uint64_t>::anonymous(kSize);
  const std::uint64_t before = memory_of(::getpid(), a.memory()).rss_bytes;
  EXPECT_LE(before, 64u * kPageSize) << "a fresh mapping has (almost) nothing resident";
  a[kSize / 2] = 99;  // must survive: the touch methods write `or 0`
  a.prefault(GetParam(), 2);
  EXPECT_EQ(a[kSize / 2], 99u);
  EXPECT_EQ(a[0], 0u);
  const std::uint64_t after = memory_of(::getpid(), a.memory()).rss_bytes;
  if (GetParam() == Prefault::kTouchProcesses) {
    // The workers' page tables got the pages, not ours (documented).
    EXPECT_LT(after, a.size_bytes() / 2);
  } else {
    EXPECT_GE(after, a.size_bytes());
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PrefaultTest,
                         ::testing::Values(Prefault::kPopulate, Prefault::kTouchThreads,
                                           Prefault::kTouchProcesses),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case Prefault::kPopulate:
                               return std::string("Populate");
                             case Prefault::kTouchThreads:
                               return std::string("TouchThreads");
                             case Prefault::kTouchProcesses:
                               return std::string("TouchProcesses");
                           }
                           return std::string("Unknown");
                         });

TEST(SharedArrayTest, PrefaultOfAReadOnlyAttachReadsAndZeroWorkersIsRefused) {
  const auto name = SegmentName::unique();
  auto created = SharedArray<int>::create(name, 1 << 20);
  created[5] = 6;
  auto reader = SharedArray<const int>::open(name);
  reader.prefault(Prefault::kPopulate);
  reader.prefault(Prefault::kTouchThreads, 2);
  EXPECT_GE(memory_of(::getpid(), reader.memory()).rss_bytes, reader.size_bytes());
  EXPECT_EQ(reader[5], 6);
  EXPECT_THROW(created.prefault(Prefault::kTouchThreads, 0), std::invalid_argument);
}

}  // namespace
}  // namespace mpkit
