#include <atomic>
#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;

struct Counters {
  static constexpr std::uint32_t kLayoutVersion = 2;
  explicit Counters(long start) : hits(start) {}
  std::atomic<long> hits;
  std::uint64_t constructed_marker = 0xC0FFEE;
};

struct CountersV3 {
  static constexpr std::uint32_t kLayoutVersion = 3;
  std::atomic<long> hits;
  std::uint64_t constructed_marker;
};

struct Bigger {
  static constexpr std::uint32_t kLayoutVersion = 2;
  std::atomic<long> hits;
  std::uint64_t extra[4];
};

TEST(SharedObjectTest, AnonymousConstructsAndSharesWithChild) {
  auto counters = SharedObject<Counters>::anonymous(5);
  EXPECT_EQ(counters->hits.load(), 5);
  EXPECT_EQ(counters->constructed_marker, 0xC0FFEEu);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(counters.get()) % kCacheLineSize, 0u);
  Process child([&counters] { counters->hits.fetch_add(10); });
  ASSERT_EQ(child.join(10s), 0);
  EXPECT_EQ(counters->hits.load(), 15);
}

TEST(SharedObjectTest, NamedOpenSeesCreatorsObject) {
  const auto name = SegmentName::unique();
  auto created = SharedObject<Counters>::create(name, 40);
  auto opened = SharedObject<Counters>::open(name);
  opened->hits.fetch_add(2);
  EXPECT_EQ(created->hits.load(), 42);
}

TEST(SharedObjectTest, LayoutVersionMismatchIsRefused) {
  const auto name = SegmentName::unique();
  auto created = SharedObject<Counters>::create(name, 1);
  try {
    (void)SharedObject<CountersV3>::open(name);
    FAIL() << "expected LayoutMismatchError";
  } catch (const LayoutMismatchError& error) {
    EXPECT_NE(std::string(error.what()).find("layout version 2, this code expects 3"),
              std::string::npos)
        << error.what();
  }
}

TEST(SharedObjectTest, SizeMismatchIsRefused) {
  const auto name = SegmentName::unique();
  auto created = SharedObject<Counters>::create(name, 1);
  EXPECT_THROW((void)SharedObject<Bigger>::open(name), LayoutMismatchError);
}

TEST(SharedObjectTest, ForeignSegmentHasNoMagic) {
  const auto name = SegmentName::unique();
  auto raw = SharedMemory::named(create_only, name, 4096);
  raw.as<SegmentHeader>()->state.store(SegmentHeader::kReady);  // ready, but no magic
  EXPECT_THROW((void)SharedObject<Counters>::open(name), LayoutMismatchError);
}

TEST(SharedObjectTest, NeverReadySegmentTimesOut) {
  const auto name = SegmentName::unique();
  auto raw = SharedMemory::named(create_only, name, 4096);  // state stays kConstructing
  try {
    (void)SharedObject<Counters>::open(name, 20ms);
    FAIL() << "expected ETIMEDOUT";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ETIMEDOUT);
  }
}

TEST(SharedObjectTest, OpenOfMissingSegmentIsENOENT) {
  try {
    (void)SharedObject<Counters>::open(SegmentName::with_tag("missing-object"));
    FAIL() << "expected ENOENT";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT);
  }
}

}  // namespace
}  // namespace mpkit
