#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;

bool segment_exists(const SegmentName& name) {
  return std::filesystem::exists("/dev/shm" + name.str());
}

int errno_of(auto&& action) {
  try {
    action();
  } catch (const std::system_error& error) {
    return error.code().value();
  }
  return 0;
}

TEST(SharedMemoryTest, AnonymousIsZeroedAndSharedWithForkedChild) {
  auto shm = SharedMemory::anonymous(4096);
  ASSERT_EQ(shm.size(), 4096u);
  for (std::byte b : shm.bytes()) ASSERT_EQ(b, std::byte{0});
  auto* word = shm.as<std::atomic<int>>();
  Process child([word] { word->store(42); });
  ASSERT_EQ(child.join(10s), 0);
  EXPECT_EQ(word->load(), 42);
  EXPECT_FALSE(shm.is_named());
}

TEST(SharedMemoryTest, NamedCreateOpenAndCreatorUnlinks) {
  const auto name = SegmentName::unique();
  {
    auto created = SharedMemory::named(create_only, name, 8192);
    EXPECT_TRUE(created.is_creator());
    EXPECT_TRUE(segment_exists(name));
    created.as<int>()[5] = 7;
    auto opened = SharedMemory::named(open_only, name);
    EXPECT_FALSE(opened.is_creator());
    EXPECT_EQ(opened.size(), 8192u);
    EXPECT_EQ(opened.as<int>()[5], 7);
  }
  EXPECT_FALSE(segment_exists(name));
}

TEST(SharedMemoryTest, OpenerDoesNotUnlink) {
  const auto name = SegmentName::unique();
  auto created = SharedMemory::named(create_only, name, 4096);
  { auto opened = SharedMemory::named(open_only, name); }
  EXPECT_TRUE(segment_exists(name));
}

TEST(SharedMemoryTest, CreateOnlyRefusesExistingName) {
  const auto name = SegmentName::unique();
  auto created = SharedMemory::named(create_only, name, 4096);
  EXPECT_EQ(errno_of([&] { (void)SharedMemory::named(create_only, name, 4096); }), EEXIST);
}

TEST(SharedMemoryTest, OpenOnlyOfMissingNameIsENOENT) {
  const auto name = SegmentName::with_tag("never-created");
  try {
    (void)SharedMemory::named(open_only, name);
    FAIL() << "expected ENOENT";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT);
    EXPECT_NE(std::string(error.what()).find("shm_open " + name.str()), std::string::npos)
        << error.what();
  }
}

TEST(SharedMemoryTest, OpenOrCreateCreatesThenAttaches) {
  const auto name = SegmentName::unique();
  auto first = SharedMemory::named(open_or_create, name, 4096);
  auto second = SharedMemory::named(open_or_create, name, 4096);
  EXPECT_TRUE(first.is_creator());
  EXPECT_FALSE(second.is_creator());
  first.as<int>()[0] = 11;
  EXPECT_EQ(second.as<int>()[0], 11);
  EXPECT_EQ(errno_of([&] { (void)SharedMemory::named(open_or_create, name, 1 << 20); }), EINVAL);
}

TEST(SharedMemoryTest, RemoveUnlinksEarlyAndMappingStaysValid) {
  const auto name = SegmentName::unique();
  auto created = SharedMemory::named(create_only, name, 4096);
  auto opened = SharedMemory::named(open_only, name);
  EXPECT_TRUE(created.remove());
  EXPECT_FALSE(segment_exists(name));
  created.as<int>()[1] = 3;
  EXPECT_EQ(opened.as<int>()[1], 3);
  EXPECT_FALSE(created.remove());
}

TEST(SharedMemoryTest, ForkedChildCopyNeverUnlinksParentsSegment) {
  const auto name = SegmentName::unique();
  auto created = SharedMemory::named(create_only, name, 4096);
  // The child destroys its copy of the object explicitly, then reports.
  Process child([&created] {
    SharedMemory moved = std::move(created);
    return 0;
  });
  ASSERT_EQ(child.join(10s), 0);
  EXPECT_TRUE(segment_exists(name));
}

TEST(SharedMemoryTest, MovedFromObjectOwnsNothing) {
  const auto name = SegmentName::unique();
  auto a = SharedMemory::named(create_only, name, 4096);
  SharedMemory b = std::move(a);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(b.is_creator());
  EXPECT_TRUE(segment_exists(name));
}

TEST(SharedMemoryTest, ZeroSizeIsInvalidArgument) {
  EXPECT_THROW((void)SharedMemory::anonymous(0), std::invalid_argument);
  EXPECT_THROW((void)SharedMemory::named(create_only, SegmentName::unique(), 0),
               std::invalid_argument);
}

TEST(SharedMemoryTest, SizeBeyondDevShmIsAnErrorNotSigbus) {
  const auto capacity = shm_capacity();
  ASSERT_GT(capacity.dev_shm_free_bytes, 0u);
  const auto name = SegmentName::unique();
  const std::size_t too_big = capacity.dev_shm_free_bytes + (std::size_t{1} << 30);
  const int error = errno_of([&] { (void)SharedMemory::named(create_only, name, too_big); });
  EXPECT_TRUE(error == ENOSPC || error == ENOMEM) << error;
  EXPECT_FALSE(segment_exists(name)) << "a refused segment must not be left behind";
}

TEST(SharedMemoryTest, SizeBeyondMemoryIsENOMEM) {
  EXPECT_EQ(errno_of([] { (void)SharedMemory::anonymous(std::size_t{1} << 60); }), ENOMEM);
}

TEST(SharedMemoryTest, ReadOnlyAttachRefusesWritesWithSigsegv) {
  const auto name = SegmentName::unique();
  auto created = SharedMemory::named(create_only, name, 4096);
  auto reader = SharedMemory::named(open_only, name, Access::kReadOnly);
  EXPECT_EQ(reader.access(), Access::kReadOnly);
  created.as<int>()[0] = 9;
  EXPECT_EQ(reader.as<const int>()[0], 9);
  // Writing through a PROT_READ mapping faults: the documented outcome.
  Process writer([&reader] {
    ::signal(SIGSEGV, SIG_DFL);  // sanitizers catch SEGV; we want the plain signal
    reader.as<volatile int>()[0] = 1;
    return 0;
  });
  EXPECT_EQ(writer.join(10s), -SIGSEGV);
  EXPECT_EQ(created.as<int>()[0], 9);
}

TEST(SegmentNameTest, UniqueNamesCarryPidAndDiffer) {
  const auto a = SegmentName::unique();
  const auto b = SegmentName::unique();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.creator_pid(), ::getpid());
  EXPECT_TRUE(a.str().starts_with("/mpkit." + std::to_string(::getpid()) + "."));
}

TEST(SegmentNameTest, ParseRoundTripsAndRejectsBadNames) {
  const auto tagged = SegmentName::with_tag("jobs");
  EXPECT_EQ(SegmentName::parse(tagged.str()), tagged);
  EXPECT_THROW((void)SegmentName::parse("/other.1.x"), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::parse("/mpkit.12.a/b"), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::parse("/mpkit.12."), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::parse("/mpkit.x1.tag"), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::with_tag(""), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::with_tag("a/b"), std::invalid_argument);
  EXPECT_THROW((void)SegmentName::with_tag(std::string(NAME_MAX, 'x')), std::invalid_argument);
}

}  // namespace
}  // namespace mpkit
