#include <signal.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/program.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;

bool contains(const std::vector<StaleSegment>& segments, const std::string& name) {
  return std::any_of(segments.begin(), segments.end(),
                     [&](const StaleSegment& s) { return s.name == name; });
}

TEST(SegmentSweepTest, RemovesSegmentOfKilledCreatorAndKeepsLiveOnes) {
  auto live = SharedMemory::named(create_only, SegmentName::unique(), 4096);

  // A child creates a segment and is killed before it can unlink it.
  auto shm = SharedMemory::anonymous(4096);
  auto* created = shm.as<std::atomic<int>>();
  Process child([created] {
    auto leaked = SharedMemory::named(create_only, SegmentName::with_tag("leaked"), 4096);
    created->store(1);
    ::pause();
    return 0;
  });
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (created->load() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(created->load(), 1);
  const std::string leaked_name = "/mpkit." + std::to_string(child.pid()) + ".leaked";
  EXPECT_FALSE(contains(find_stale_segments(), leaked_name)) << "creator still alive";

  child.kill();
  ASSERT_EQ(child.join(10s), -SIGKILL);
  ASSERT_TRUE(std::filesystem::exists("/dev/shm" + leaked_name));

  const auto removed = remove_stale_segments();
  EXPECT_TRUE(contains(removed, leaked_name));
  EXPECT_FALSE(std::filesystem::exists("/dev/shm" + leaked_name));
  EXPECT_FALSE(contains(removed, live.name()->str()));
  EXPECT_TRUE(std::filesystem::exists("/dev/shm" + live.name()->str()));
}

TEST(SegmentSweepTest, ZombieCreatorCountsAsGone) {
  Process child([] { return 0; });
  // Exited but not yet reaped: a zombie can never unlink its segments.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!process_is_gone(child.pid()) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(process_is_gone(child.pid()));
  EXPECT_EQ(child.join(10s), 0);
  EXPECT_FALSE(process_is_gone(::getpid()));
}

TEST(SegmentSweepTest, ProcessWhoseMainThreadExitedIsStillAlive) {
  // Its /proc/<pid>/stat says Z, yet a thread still runs and may hold locks
  // or segments: it must not be declared gone.
  Process child([] {
    std::thread([] { ::pause(); }).detach();
    ::syscall(SYS_exit, 0);  // ends this thread only, without unwinding
  });
  const auto give_up = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < give_up) {
    ASSERT_FALSE(process_is_gone(child.pid()));
    std::this_thread::sleep_for(10ms);
  }
  child.kill();
  EXPECT_EQ(child.join(10s), -SIGKILL);
}

TEST(SegmentSweepTest, NamedSegmentOpenedByExecedProcess) {
  // The helper is a separate program started with posix_spawn (exec, not
  // fork; run_program): it shares nothing with us but the segment's name.
  const auto name = SegmentName::unique();
  auto segment = SharedMemory::named(create_only, name, 4096);
  segment.as<std::uint64_t>()[0] = 20;
  const ProgramResult run =
      run_program({MPKIT_ATTACH_HELPER_PATH, name.str()}, "", 10s, Stderr::kInherit);
  ASSERT_TRUE(run.started) << run.error;
  ASSERT_FALSE(run.timed_out) << "attach helper hung";
  ASSERT_EQ(run.signal, 0);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(segment.as<std::uint64_t>()[1], 42u) << "the helper writes 2 * value + 2";
}

}  // namespace
}  // namespace mpkit
