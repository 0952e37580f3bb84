// McsLock's queue slots: claimed per thread, never shared with a forked
// child, reclaimed from exited threads, and an honest error when every slot
// belongs to a live thread. (Mutual exclusion and the rest: the conformance
// suite.)

#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <string>
#include <thread>

#include "lock_test_support.hpp"
#include "mpkit/locking/mcs_lock.hpp"

namespace mpkit::test {
namespace {

using namespace std::chrono_literals;
using locking::McsLock;

// A thread that locks and unlocks once (claiming a slot), then stays alive
// until told to go.
class Participant {
 public:
  template <class L>
  explicit Participant(L& lock)
      : thread_([this, &lock] {
          tid_.store(this_tid());
          lock.lock();
          lock.unlock();
          claimed_.store(1);
          while (leave_.load() == 0) std::this_thread::sleep_for(100us);
        }) {
    while (claimed_.load() == 0) std::this_thread::yield();
  }
  Participant(const Participant&) = delete;
  Participant& operator=(const Participant&) = delete;
  ~Participant() { leave(); }
  void leave() {
    leave_.store(1);
    if (thread_.joinable()) thread_.join();
  }
  /// The kernel forgets a joined thread a moment after join returns.
  [[nodiscard]] bool gone() const {
    const std::string task = "/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(tid_.load());
    return eventually([&] { return ::access(task.c_str(), F_OK) != 0; }, 10s);
  }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<int> claimed_{0};
  std::atomic<int> leave_{0};
  std::thread thread_;
};

TEST(McsLockTest, SlotsAreClaimedPerThreadAndReclaimedFromExitedThreads) {
  Watchdog watchdog(60s);
  Shared<McsLock<2>> lock;
  Participant first(*lock);
  Participant second(*lock);
  int error = 0;
  std::thread third([&] {
    try {
      lock->lock();
      lock->unlock();
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
  });
  third.join();
  EXPECT_EQ(error, EAGAIN) << "two slots, two live participants: a third must be refused";
  first.leave();  // its thread is gone: its slot may be taken over
  ASSERT_TRUE(first.gone());
  bool locked = false;
  std::thread fourth([&] {
    try {
      locked = lock->try_lock_for(10s);
      if (locked) lock->unlock();
    } catch (const std::system_error&) {  // no slot reclaimed: locked stays false
    }
  });
  fourth.join();
  EXPECT_TRUE(locked);
}

TEST(McsLockTest, AForkedChildNeverUsesItsParentsSlot) {
  Shared<McsLock<1>> lock;
  lock->lock();  // the parent's thread claims the only slot and keeps living
  lock->unlock();
  Child child([&] {
    try {
      lock->lock();  // would share the parent's node if the cache were inherited
      lock->unlock();
      return 1;
    } catch (const std::system_error& e) {
      return e.code().value() == EAGAIN ? 0 : 2;
    }
  });
  EXPECT_EQ(child.join(30s), ExitStatus::exited(0));
  EXPECT_TRUE(lock->try_lock());  // the parent's slot still works
  lock->unlock();
}

TEST(McsLockTest, ALockRecreatedAtTheSameAddressClaimsAFreshSlot) {
  Shared<McsLock<1>> lock;
  lock->lock();
  lock->unlock();
  lock->~McsLock<1>();  // same bytes, a new lock: the thread's cached slot is stale
  new (lock.get()) McsLock<1>;
  EXPECT_TRUE(lock->try_lock());
  lock->unlock();
  lock->lock();
  lock->unlock();
}

}  // namespace
}  // namespace mpkit::test
