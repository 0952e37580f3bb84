// File locks beyond the conformance suite: the private file's lifecycle, a
// caller's path, bad paths, and the documented per-process nature of fcntl
// record locks.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "lock_test_support.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "mpkit/locking/file_lock.hpp"

namespace mpkit::test {
namespace {

using namespace std::chrono_literals;
using locking::FcntlLock;
using locking::FlockLock;
using locking::OfdLock;
namespace fs = std::filesystem;

template <class L>
class FileLockTest : public ::testing::Test {};
using FileLocks = ::testing::Types<FlockLock, FcntlLock, OfdLock>;
TYPED_TEST_SUITE(FileLockTest, FileLocks, LockNames);

TYPED_TEST(FileLockTest, PrivateFileLivesInAPrivateDirectoryRemovedWithTheLock) {
  std::string path;
  {
    Shared<TypeParam> lock;
    path = std::string(lock->path());
    const fs::path dir = fs::path(path).parent_path();
    EXPECT_TRUE(fs::is_regular_file(path)) << path;
    EXPECT_NE(dir.filename().string().find("mpkit." + std::to_string(current_pid()) + ".lock."),
              std::string::npos)
        << dir;
    struct stat info {};
    ASSERT_EQ(::stat(dir.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700U) << "private: only the owner may enter";
    lock->lock();
    lock->unlock();
  }
  EXPECT_FALSE(fs::exists(path)) << "the creator's destructor removes the file";
  EXPECT_FALSE(fs::exists(fs::path(path).parent_path())) << "... and its directory";
}

TYPED_TEST(FileLockTest, ACallersPathIsCreatedAndKept) {
  Shared<TypeParam> scratch;  // a private directory to put our own file in
  const std::string path = fs::path(scratch->path()).parent_path() / "mine";
  {
    Shared<TypeParam> lock(path);
    EXPECT_EQ(lock->path(), path);
    EXPECT_TRUE(lock->try_lock());
    lock->unlock();
  }
  EXPECT_TRUE(fs::exists(path)) << "a caller's file is never removed";
  fs::remove(path);
}

TYPED_TEST(FileLockTest, BadPathsAreRejectedNamingThePath) {
  try {
    TypeParam lock{std::string(TypeParam::kMaxPath, 'x')};
    FAIL() << "an over-long path was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("path"), std::string::npos) << error.what();
  }
  try {
    TypeParam lock{std::string("/nonexistent-mpkit-dir/lock")};
    FAIL() << "a path in a missing directory was accepted";
  } catch (const std::system_error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent-mpkit-dir/lock"), std::string::npos)
        << error.what();
  }
}

TYPED_TEST(FileLockTest, TmpdirIsHonoured) {
  Shared<TypeParam> scratch;
  const std::string base = fs::path(scratch->path()).parent_path();
  const char* previous = ::getenv("TMPDIR");
  const std::string saved = previous != nullptr ? previous : "";
  ::setenv("TMPDIR", base.c_str(), 1);
  std::string path;
  {
    Shared<TypeParam> lock;
    path = std::string(lock->path());
  }
  if (previous != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_EQ(path.rfind(base + "/mpkit.", 0), 0U) << path;
}

// The documented limit, shown: POSIX record locks belong to the process, so a
// second thread of the holder's process "gets" the lock too. (The
// conformance suite skips fcntl's thread cases for this reason.)
TEST(FcntlLockTest, RecordLocksBelongToTheProcessNotTheThread) {
  Shared<FcntlLock> lock;
  lock->lock();
  bool second_thread_got_it = false;
  std::thread other([&] {
    second_thread_got_it = lock->try_lock();
    if (second_thread_got_it) lock->unlock();  // releases the process's lock
  });
  other.join();
  EXPECT_TRUE(second_thread_got_it);
  Child child([&] {  // ...which another process now sees free
    if (!lock->try_lock()) return 1;
    lock->unlock();
    return 0;
  });
  EXPECT_EQ(child.join(30s), ExitStatus::exited(0));
}

// flock and OFD locks, by contrast, exclude a second thread: each thread has
// its own open file description.
TEST(FcntlLockTest, FlockAndOfdLocksExcludeASecondThread) {
  Shared<FlockLock> flock_lock;
  Shared<OfdLock> ofd_lock;
  flock_lock->lock();
  ofd_lock->lock();
  bool flock_taken = true;
  bool ofd_taken = true;
  std::thread other([&] {
    flock_taken = flock_lock->try_lock();
    ofd_taken = ofd_lock->try_lock();
  });
  other.join();
  EXPECT_FALSE(flock_taken);
  EXPECT_FALSE(ofd_taken);
  flock_lock->unlock();
  ofd_lock->unlock();
}

}  // namespace
}  // namespace mpkit::test
