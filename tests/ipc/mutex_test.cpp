// Mutex: lifecycle, mutual exclusion under threads and processes, and the
// robust part: owners killed while holding it.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "mpkit/ipc/mutex.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

// A non-atomic counter guarded by the mutex: any lost update is a failure of
// mutual exclusion (and, under TSan, a reported race).
struct GuardedCounter {
  Mutex mutex;
  std::uint64_t value = 0;            // guarded by mutex
  std::atomic<std::uint32_t> ready{0};  // a starting gate / "the child holds it"
};

// ---- lifecycle --------------------------------------------------------------

TEST(MutexTest, ZeroBytesAreAnUnlockedConsistentMutex) {
  Shared<Mutex> mutex(test::kZeroFilled);
  EXPECT_EQ(mutex->owner_guess(), 0);
  ASSERT_TRUE(mutex->try_lock());
  EXPECT_EQ(mutex->owner_guess(), ::getpid());
  mutex->unlock();
  EXPECT_EQ(mutex->owner_guess(), 0);
  ASSERT_EQ(mutex->acquire(), LockStatus::kAcquired);
  mutex->unlock();
}

TEST(MutexTest, ConstructUseAndDestroyInPlace) {
  alignas(Mutex) unsigned char storage[sizeof(Mutex)];
  for (int round = 0; round < 3; ++round) {
    auto* mutex = new (storage) Mutex;
    mutex->lock();
    EXPECT_EQ(mutex->owner_guess(), ::getpid());
    mutex->unlock();
    mutex->~Mutex();  // trivial: nothing to release, nothing to wait for
  }
}

TEST(MutexTest, WorksWithScopedLockAndUniqueLock) {
  Shared<GuardedCounter> shared;
  {
    std::scoped_lock guard(shared->mutex);
    ++shared->value;
  }
  {
    std::unique_lock lock(shared->mutex, std::defer_lock);
    ASSERT_TRUE(lock.try_lock_for(1s));
    ++shared->value;
  }
  {
    std::unique_lock lock(shared->mutex, std::try_to_lock);
    ASSERT_TRUE(lock.owns_lock());
    ++shared->value;
  }
  EXPECT_EQ(shared->value, 3U);
  EXPECT_EQ(shared->mutex.owner_guess(), 0);
}

TEST(MutexThreads, LockedMutexRefusesTryLockAndTimesOut) {
  test::Watchdog watchdog;
  Shared<Mutex> mutex;
  mutex->lock();
  std::thread other([&] {
    EXPECT_FALSE(mutex->try_lock());
    EXPECT_EQ(mutex->try_acquire(), LockStatus::kTimedOut);
    const auto start = Clock::now();
    EXPECT_FALSE(mutex->try_lock_for(30ms));  // several owner checks: we are alive
    EXPECT_GE(Clock::now(), start + 30ms);
    EXPECT_LT(test::seconds_since(start), 2.03);
    EXPECT_EQ(mutex->acquire(Clock::now() + 5ms), LockStatus::kTimedOut);
  });
  other.join();
  mutex->unlock();
  std::thread later([&] {
    EXPECT_TRUE(mutex->try_lock_for(1s));
    mutex->unlock();
  });
  later.join();
}

// ---- mutual exclusion ------------------------------------------------------

constexpr int kWorkers = 4;
constexpr int kIterations = 100'000;

// Mixes the three ways to lock so each one's slow path is exercised. Workers
// start together (`ready` is the starting gate) so that they really contend.
void hammer(GuardedCounter& shared, int worker) {
  while (shared.ready.load() == 0) std::this_thread::yield();
  for (int i = 0; i < kIterations; ++i) {
    switch ((i + worker) % 3) {
      case 0:
        shared.mutex.lock();
        break;
      case 1:
        while (!shared.mutex.try_lock()) std::this_thread::yield();
        break;
      default:
        while (!shared.mutex.try_lock_for(10ms)) {
        }
        break;
    }
    ++shared.value;
    shared.mutex.unlock();
  }
}

TEST(MutexThreads, CounterHasNoLostUpdates) {
  test::Watchdog watchdog;
  Shared<GuardedCounter> shared;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back([&, w] { hammer(*shared, w); });
  shared->ready.store(1);
  for (auto& t : workers) t.join();
  EXPECT_EQ(shared->value, std::uint64_t{kWorkers} * kIterations);
  EXPECT_EQ(shared->mutex.owner_guess(), 0);
}

TEST(MutexProcesses, CounterHasNoLostUpdates) {
  Shared<GuardedCounter> shared;
  std::vector<std::unique_ptr<Child>> children;
  for (int w = 0; w < kWorkers; ++w) {
    children.push_back(std::make_unique<Child>([&, w] {
      hammer(*shared, w);
      return 0;
    }));
  }
  shared->ready.store(1);
  for (auto& child : children) EXPECT_EQ(child->join(), ExitStatus::exited(0));
  EXPECT_EQ(shared->value, std::uint64_t{kWorkers} * kIterations);
}

// ---- robustness: owners that die holding the lock ---------------------------

// A child that takes the lock, breaks the invariant (value odd) and waits to
// be killed. Returns once it holds the lock.
std::unique_ptr<Child> spawn_holder_to_kill(Shared<GuardedCounter>& shared) {
  auto child = std::make_unique<Child>([&] {
    shared->mutex.lock();
    ++shared->value;  // half an update: the invariant "value is even" is broken
    shared->ready.store(1);
    for (;;) ::pause();
    return 0;
  });
  EXPECT_TRUE(test::eventually([&] { return shared->ready.load() == 1; }));
  return child;
}

TEST(MutexRobust, OwnerKilledIsReportedWhileStillAZombie) {
  Shared<GuardedCounter> shared;
  auto holder = spawn_holder_to_kill(shared);
  holder->send(SIGKILL);  // not reaped: a zombie until join() below

  try {
    shared->mutex.lock();
    FAIL() << "lock() returned normally; the owner died holding it";
  } catch (const OwnerDiedError& error) {
    EXPECT_EQ(error.dead_owner(), holder->pid());
  }
  EXPECT_EQ(shared->mutex.owner_guess(), ::getpid());  // held by us now
  shared->value += 1;                                   // repair: even again
  shared->mutex.mark_consistent();
  shared->mutex.unlock();

  shared->mutex.lock();  // consistent: no exception
  EXPECT_EQ(shared->value % 2, 0U);
  shared->mutex.unlock();
  EXPECT_EQ(holder->join(), ExitStatus::killed_by(SIGKILL));
}

TEST(MutexRobust, OwnerKilledAndReapedIsReportedByAcquire) {
  Shared<GuardedCounter> shared;
  auto holder = spawn_holder_to_kill(shared);
  holder->send(SIGKILL);
  ASSERT_EQ(holder->join(), ExitStatus::killed_by(SIGKILL));  // reaped: the pid is gone

  ASSERT_EQ(shared->mutex.acquire(deadline_after(10s)), LockStatus::kOwnerDied);
  shared->value += 1;
  shared->mutex.mark_consistent();
  shared->mutex.unlock();
  ASSERT_EQ(shared->mutex.acquire(deadline_after(10s)), LockStatus::kAcquired);
  shared->mutex.unlock();
}

TEST(MutexRobust, WaiterBlockedInLockTakesOverWhenTheOwnerDies) {
  Shared<GuardedCounter> shared;
  Child holder([&] {
    shared->mutex.lock();
    shared->ready.store(1);
    std::this_thread::sleep_for(50ms);  // long enough for the parent to park
    ::raise(SIGKILL);                     // die holding the lock
    return 0;
  });
  ASSERT_TRUE(test::eventually([&] { return shared->ready.load() == 1; }));
  const auto start = Clock::now();
  EXPECT_EQ(shared->mutex.acquire(deadline_after(10s)), LockStatus::kOwnerDied);
  EXPECT_LT(test::seconds_since(start), 5.0);  // found within a slice, loosely
  shared->mutex.mark_consistent();
  shared->mutex.unlock();
  EXPECT_EQ(holder.join(), ExitStatus::killed_by(SIGKILL));
}

struct TakeoverRace {
  GuardedCounter counter;
  std::atomic<std::uint32_t> waiting{0};
  std::uint32_t owner_died = 0;  // guarded by counter.mutex
  std::uint32_t acquired = 0;    // guarded by counter.mutex
};

TEST(MutexRobust, OnlyOneOfManyWaitersGetsOwnerDied) {
  constexpr int kWaiters = 3;
  Shared<TakeoverRace> race;
  Child holder([&] {
    race->counter.mutex.lock();
    race->counter.ready.store(1);
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(test::eventually([&] { return race->counter.ready.load() == 1; }));

  std::vector<std::unique_ptr<Child>> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::make_unique<Child>([&] {
      race->waiting.fetch_add(1);
      const LockStatus status = race->counter.mutex.acquire(deadline_after(20s));
      if (status == LockStatus::kOwnerDied) {
        ++race->owner_died;
        race->counter.mutex.mark_consistent();
      } else if (status == LockStatus::kAcquired) {
        ++race->acquired;
      } else {
        return 1;
      }
      race->counter.mutex.unlock();
      return 0;
    }));
  }
  for (auto& waiter : waiters) {
    EXPECT_TRUE(test::wait_until_asleep(waiter->pid()));
  }
  holder.send(SIGKILL);
  for (auto& waiter : waiters) EXPECT_EQ(waiter->join(), ExitStatus::exited(0));
  EXPECT_EQ(race->owner_died, 1U);
  EXPECT_EQ(race->acquired, std::uint32_t{kWaiters - 1});
}

TEST(MutexRobust, UnlockWithoutMarkConsistentMakesItNotRecoverable) {
  Shared<GuardedCounter> shared;
  auto holder = spawn_holder_to_kill(shared);
  holder->send(SIGKILL);
  ASSERT_EQ(shared->mutex.acquire(deadline_after(10s)), LockStatus::kOwnerDied);

  // A waiter parked behind us must be released with kNotRecoverable too.
  shared->ready.store(0);
  Child waiter([&] {
    shared->ready.store(2);
    return shared->mutex.acquire(deadline_after(10s)) == LockStatus::kNotRecoverable ? 0 : 1;
  });
  ASSERT_TRUE(test::eventually([&] { return shared->ready.load() == 2; }));
  EXPECT_TRUE(test::wait_until_asleep(waiter.pid()));

  shared->mutex.unlock();  // no repair, no mark_consistent(): broken for good
  EXPECT_EQ(waiter.join(), ExitStatus::exited(0));
  EXPECT_EQ(shared->mutex.acquire(), LockStatus::kNotRecoverable);
  EXPECT_EQ(shared->mutex.try_acquire(), LockStatus::kNotRecoverable);
  EXPECT_THROW(shared->mutex.lock(), NotRecoverableError);
  EXPECT_THROW((void)shared->mutex.try_lock(), NotRecoverableError);
  EXPECT_THROW((void)shared->mutex.try_lock_for(10ms), NotRecoverableError);
  EXPECT_EQ(shared->mutex.owner_guess(), 0);
  Child later([&] { return shared->mutex.try_acquire() == LockStatus::kNotRecoverable ? 0 : 1; });
  EXPECT_EQ(later.join(), ExitStatus::exited(0));
}

TEST(MutexRobust, TryLockPollingFindsADeadOwner) {
  Shared<GuardedCounter> shared;
  auto holder = spawn_holder_to_kill(shared);
  holder->send(SIGKILL);

  bool owner_died = false;
  const bool finished = test::eventually(
      [&] {
        try {
          if (shared->mutex.try_lock()) return true;  // not expected: fails below
        } catch (const OwnerDiedError& error) {
          owner_died = error.dead_owner() == holder->pid();
          return true;
        }
        return false;
      },
      10s);
  ASSERT_TRUE(finished);
  EXPECT_TRUE(owner_died);
  shared->mutex.mark_consistent();
  shared->mutex.unlock();
}

// Short bounded acquires, each shorter than the owner-check interval, find a
// dead owner after a few calls: the watch on the owner's word carries over
// from one call to the next (as it does for try_lock). Bounded by a number
// of calls, not by time: 200 calls of >= 200 us each span 40 times the
// check interval.
TEST(MutexRobust, ShortBoundedAcquiresFindADeadOwnerWithinAFewCalls) {
  constexpr int kMaxCalls = 200;
  {
    Shared<GuardedCounter> shared;
    auto holder = spawn_holder_to_kill(shared);
    holder->send(SIGKILL);
    ASSERT_EQ(holder->join(), ExitStatus::killed_by(SIGKILL));
    int calls = 0;
    bool owner_died = false;
    for (; calls < kMaxCalls && !owner_died; ++calls) {
      try {
        ASSERT_FALSE(shared->mutex.try_lock_for(200us)) << "taken without a word about the dead owner";
      } catch (const OwnerDiedError& error) {
        owner_died = error.dead_owner() == holder->pid();
      }
    }
    EXPECT_TRUE(owner_died) << "try_lock_for(200us) x " << calls;
    RecordProperty("try_lock_for_calls", calls);
    shared->value += 1;
    shared->mutex.mark_consistent();
    shared->mutex.unlock();
  }
  {
    Shared<GuardedCounter> shared;
    auto holder = spawn_holder_to_kill(shared);
    holder->send(SIGKILL);
    ASSERT_EQ(holder->join(), ExitStatus::killed_by(SIGKILL));
    int calls = 0;
    LockStatus status = LockStatus::kTimedOut;
    for (; calls < kMaxCalls && status == LockStatus::kTimedOut; ++calls) {
      status = shared->mutex.acquire(Clock::now() + 500us);
    }
    EXPECT_EQ(status, LockStatus::kOwnerDied) << "acquire(now + 500us) x " << calls;
    RecordProperty("acquire_calls", calls);
    if (status == LockStatus::kOwnerDied) {
      shared->value += 1;
      shared->mutex.mark_consistent();
      shared->mutex.unlock();
    }
  }
}

TEST(MutexRobust, LockHeldByALivingProcessIsNotTakenOver) {
  Shared<GuardedCounter> shared;
  Child holder([&] {
    shared->mutex.lock();
    shared->ready.store(1);
    std::this_thread::sleep_for(100ms);
    ++shared->value;
    shared->mutex.unlock();
    return 0;
  });
  ASSERT_TRUE(test::eventually([&] { return shared->ready.load() == 1; }));
  EXPECT_FALSE(shared->mutex.try_lock_for(20ms));  // ~20 owner checks, all alive
  EXPECT_EQ(shared->mutex.acquire(deadline_after(10s)), LockStatus::kAcquired);
  EXPECT_EQ(shared->value, 1U);
  shared->mutex.unlock();
  EXPECT_EQ(holder.join(), ExitStatus::exited(0));
}

}  // namespace
}  // namespace mpkit
