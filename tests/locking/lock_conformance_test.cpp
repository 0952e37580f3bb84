// The conformance suite every lock of the registry passes (ARCHITECTURE.md, style habit
// 12): lifecycle, try_lock against a holder in another thread and another
// process, bounded acquires that time out (never before their deadline),
// std::scoped_lock / std::unique_lock, mutual exclusion of threads (names
// contain "Threads": the TSan preset runs them) and of processes, checked by
// a non-atomic counter's exact total, and a holder SIGKILLed inside its
// critical section -- which each lock survives, reports, or times out on, as
// its traits (kSurvivesOwnerDeath, kReportsOwnerDeath) say.
//
// fcntl record locks belong to a process, so they do not exclude threads of
// one process (kExcludesThreads = false): the thread cases skip them, and
// file_lock_test.cpp shows the documented behaviour instead.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lock_test_support.hpp"
#include "mpkit/locking/registry.hpp"

namespace mpkit::test {
namespace {

using namespace std::chrono_literals;
using locking::LockStatus;

// 3 workers on this 2-core machine: oversubscribed, so the FIFO spin locks
// (ticket, MCS) hand off to descheduled waiters; counts stay small enough
// for their collapse (ARCHITECTURE.md machine notes: ~0.03-0.2 Mops/s) to finish in well under a
// second.
constexpr int kWorkers = 3;
constexpr std::uint64_t kIncrements = kSanitized ? 2000 : 20000;
constexpr auto kGenerous = 10s;  // a bound on waits that succeed at once when healthy

template <class L>
class LockConformance : public ::testing::Test {
 protected:
  using Lock = L;
  static void SetUpTestSuite() {
    static_assert(locking::Lock<L>, "every registered lock models Lock");
  }
};

TYPED_TEST_SUITE(LockConformance, AllLockTypes, LockNames);

// Waits until a child says it holds the lock.
template <class L>
bool child_holds(const Board<L>& board) {
  return eventually([&] { return board.held.load() != 0; }, kGenerous);
}

// In a child: waits (bounded) for the parent's "release".
template <class L>
bool release_requested(const Board<L>& board) {
  return eventually([&] { return board.release.load() != 0; }, 30s);
}

// ---- lifecycle --------------------------------------------------------------

TYPED_TEST(LockConformance, Lifecycle) {
  using L = TypeParam;
  for (int round = 0; round < 3; ++round) {
    Shared<Board<L>> board;
    L& lock = board->lock;
    lock.lock();
    ++board->counter;
    lock.unlock();
    ASSERT_TRUE(lock.try_lock());
    lock.unlock();
    ASSERT_TRUE(lock.try_lock_for(1s));
    lock.unlock();
    ASSERT_TRUE(lock.try_lock_until(Clock::now() - 1s)) << "a free lock is taken even past the deadline";
    lock.unlock();
    EXPECT_EQ(locking::acquire(lock, Clock::now() + 1s), LockStatus::kAcquired);
    locking::mark_consistent(lock);  // a no-op on a consistent lock
    lock.unlock();
    EXPECT_EQ(locking::try_acquire(lock), LockStatus::kAcquired);
    lock.unlock();
  }  // destroyed unlocked: nothing left behind (file locks: see file_lock_test)
}

TYPED_TEST(LockConformance, ZeroBytesAreAnUnlockedLockWhereTheTraitSaysSo) {
  using L = TypeParam;
  if constexpr (!L::kValidAsZeroBytes) {
    GTEST_SKIP() << L::kName << " needs its constructor (kValidAsZeroBytes = false)";
  } else {
    static_assert(std::is_trivially_destructible_v<L>);
    Shared<L> zero(kZeroFilled);  // mapped, never constructed
    ASSERT_TRUE(zero->try_lock());
    EXPECT_FALSE(zero->try_lock_for(5ms)) << "held: a second attempt must fail";
    zero->unlock();
    zero->lock();
    zero->unlock();
  }
}

// ---- try_lock and bounded acquire against a holder ---------------------------

TYPED_TEST(LockConformance, TryLockFailsWhileAnotherThreadHoldsItThreads) {
  using L = TypeParam;
  if constexpr (!L::kExcludesThreads) {
    GTEST_SKIP() << L::kName << " belongs to a process: its threads do not exclude each other";
  } else {
    Watchdog watchdog(60s);
    Shared<Board<L>> board;
    std::thread holder([&] {
      board->lock.lock();
      board->held.store(1);
      while (board->release.load() == 0) std::this_thread::sleep_for(100us);
      board->lock.unlock();
    });
    ASSERT_TRUE(child_holds(*board));
    EXPECT_FALSE(board->lock.try_lock());
    const auto start = Clock::now();
    EXPECT_FALSE(board->lock.try_lock_for(20ms));
    EXPECT_GE(Clock::now() - start, 20ms) << "timed out before its deadline";
    EXPECT_EQ(locking::acquire(board->lock, Clock::now() + 5ms), LockStatus::kTimedOut);
    board->release.store(1);
    EXPECT_TRUE(board->lock.try_lock_for(kGenerous)) << "free again once the holder unlocked";
    board->lock.unlock();
    holder.join();
  }
}

TYPED_TEST(LockConformance, TryLockFailsWhileAnotherProcessHoldsIt) {
  using L = TypeParam;
  Shared<Board<L>> board;
  board->lock.lock();
  Child tryer([&] {
    if (board->lock.try_lock()) return 1;
    return locking::try_acquire(board->lock) == LockStatus::kTimedOut ? 0 : 2;
  });
  EXPECT_EQ(tryer.join(30s), ExitStatus::exited(0));
  board->lock.unlock();
  Child taker([&] {
    if (!board->lock.try_lock_for(kGenerous)) return 1;
    board->lock.unlock();
    return 0;
  });
  EXPECT_EQ(taker.join(30s), ExitStatus::exited(0));
}

TYPED_TEST(LockConformance, BoundedAcquireTimesOutWhileAnotherProcessHoldsIt) {
  using L = TypeParam;
  Shared<Board<L>> board;
  Child holder([&] {
    board->lock.lock();
    board->held.store(1);
    const bool asked = release_requested(*board);
    board->lock.unlock();
    return asked ? 0 : 1;
  });
  ASSERT_TRUE(child_holds(*board));
  auto start = Clock::now();
  EXPECT_FALSE(board->lock.try_lock_for(30ms));
  EXPECT_GE(Clock::now() - start, 30ms) << "timed out before its deadline";
  start = Clock::now();
  EXPECT_FALSE(board->lock.try_lock_until(start + 20ms));
  EXPECT_GE(Clock::now() - start, 20ms) << "timed out before its deadline";
  EXPECT_FALSE(board->lock.try_lock_until(Clock::now() - 1s)) << "a past deadline: one attempt";
  EXPECT_EQ(locking::acquire(board->lock, Clock::now() + 10ms), LockStatus::kTimedOut);
  board->release.store(1);
  EXPECT_TRUE(board->lock.try_lock_for(kGenerous)) << "free again once the holder unlocked";
  board->lock.unlock();
  EXPECT_EQ(holder.join(30s), ExitStatus::exited(0));
}

// ---- the standard guards ------------------------------------------------------

TYPED_TEST(LockConformance, StandardGuardsHoldAndRelease) {
  using L = TypeParam;
  Shared<Board<L>> board;
  const auto held_elsewhere = [&] {  // asked from another process: fcntl too
    Child tryer([&] {
      if (!board->lock.try_lock()) return 0;
      board->lock.unlock();  // never leave with it
      return 1;
    });
    return tryer.join(30s) == ExitStatus::exited(0);
  };
  {
    std::scoped_lock guard(board->lock);
    EXPECT_TRUE(held_elsewhere()) << "std::scoped_lock holds it";
  }
  EXPECT_FALSE(held_elsewhere()) << "std::scoped_lock released it";
  {
    std::unique_lock guard(board->lock, std::try_to_lock);
    EXPECT_TRUE(guard.owns_lock());
    EXPECT_TRUE(held_elsewhere());
  }
  {
    std::unique_lock guard(board->lock, std::defer_lock);
    EXPECT_TRUE(guard.try_lock_for(1s));
    EXPECT_TRUE(held_elsewhere());
    guard.unlock();
    EXPECT_TRUE(guard.try_lock_until(Clock::now() + 1s));
  }
  EXPECT_FALSE(held_elsewhere()) << "std::unique_lock released it";
}

// ---- mutual exclusion ---------------------------------------------------------

// Increments the guarded counter kIncrements times; every 8th time through
// the bounded acquire, which must succeed well within kGenerous.
template <class L>
void increment(Board<L>& board) {
  while (board.go.load() == 0) std::this_thread::yield();
  for (std::uint64_t i = 0; i < kIncrements; ++i) {
    if (i % 8 == 7) {
      if (!board.lock.try_lock_for(kGenerous)) {
        board.failures.fetch_add(1);
        continue;
      }
    } else {
      board.lock.lock();
    }
    const std::uint64_t seen = board.counter;  // a read-modify-write torn by any overlap
    board.counter = seen + 1;
    board.lock.unlock();
  }
}

TYPED_TEST(LockConformance, MutualExclusionThreads) {
  using L = TypeParam;
  if constexpr (!L::kExcludesThreads) {
    GTEST_SKIP() << L::kName << " belongs to a process: its threads do not exclude each other";
  } else {
    Watchdog watchdog(120s);
    Shared<Board<L>> board;
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) workers.emplace_back([&] { increment(*board); });
    board->go.store(1);
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(board->failures.load(), 0U);
    EXPECT_EQ(board->counter, kWorkers * kIncrements);
  }
}

TYPED_TEST(LockConformance, MutualExclusionProcesses) {
  using L = TypeParam;
  Shared<Board<L>> board;
  std::vector<std::unique_ptr<Child>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(std::make_unique<Child>([&] {
      increment(*board);
      return 0;
    }));
  }
  board->go.store(1);
  for (auto& worker : workers) EXPECT_EQ(worker->join(90s), ExitStatus::exited(0));
  EXPECT_EQ(board->failures.load(), 0U);
  EXPECT_EQ(board->counter, kWorkers * kIncrements);
}

// ---- owner death ----------------------------------------------------------------

// A child takes the lock, bumps the counter halfway through an update, and
// is SIGKILLed inside its critical section.
template <class L>
void kill_a_holder(Board<L>& board) {
  Child victim([&] {
    board.lock.lock();
    board.counter = 1000;  // the half-done update a survivor must repair
    board.held.store(1);
    ::raise(SIGKILL);
    return 2;
  });
  ASSERT_EQ(victim.join(30s), ExitStatus::killed_by(SIGKILL));
  ASSERT_EQ(board.held.load(), 1U) << "it died holding the lock";
}

TYPED_TEST(LockConformance, HolderKilledInsideItsCriticalSection) {
  using L = TypeParam;
  Shared<Board<L>> board;
  kill_a_holder(*board);
  if constexpr (L::kReportsOwnerDeath) {
    // Robust: the next locker is told, holding the lock, repairs and carries on.
    EXPECT_EQ(locking::acquire(board->lock, Clock::now() + kGenerous), LockStatus::kOwnerDied);
    board->counter = 0;  // the repair
    locking::mark_consistent(board->lock);
    board->lock.unlock();
    EXPECT_EQ(locking::acquire(board->lock, Clock::now() + kGenerous), LockStatus::kAcquired)
        << "consistent again after mark_consistent()";
    board->lock.unlock();
  } else if constexpr (L::kSurvivesOwnerDeath) {
    // The kernel released it (file locks): the next locker just gets it.
    EXPECT_TRUE(board->lock.try_lock_for(kGenerous));
    board->lock.unlock();
  } else {
    // Cannot recover: every bounded acquire fails at its deadline, none hangs.
    EXPECT_FALSE(board->lock.try_lock());
    const auto start = Clock::now();
    EXPECT_FALSE(board->lock.try_lock_for(50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_EQ(locking::acquire(board->lock, Clock::now() + 20ms), LockStatus::kTimedOut);
  }
  // Other processes see the same outcome.
  Child next([&] {
    if constexpr (L::kSurvivesOwnerDeath) {
      if (!board->lock.try_lock_for(kGenerous)) return 1;
      board->lock.unlock();
      return 0;
    } else {
      return board->lock.try_lock_for(20ms) ? 1 : 0;
    }
  });
  EXPECT_EQ(next.join(30s), ExitStatus::exited(0));
}

// A waiter SIGKILLed while it waits in lock() (another process holds the
// lock): once the holder lets go, the next locker gets in -- for every lock
// whose kSurvivesWaiterDeath says so. The FIFO spin locks (ticket, MCS) are
// wedged by it, as their headers and the README's owner-death table say;
// their case is not run (it would hang the unlock or every later locker).
TYPED_TEST(LockConformance, QueuedWaiterKilled) {
  using L = TypeParam;
  if constexpr (!L::kSurvivesWaiterDeath) {
    GTEST_SKIP() << L::kName << ": a waiter killed inside lock() wedges it (kSurvivesWaiterDeath = false)";
  } else {
    Shared<Board<L>> board;
    Child holder([&] {
      board->lock.lock();
      board->held.store(1);
      if (!release_requested(*board)) return 1;
      board->lock.unlock();
      return 0;
    });
    ASSERT_TRUE(child_holds(*board));
    Child waiter([&] {
      board->go.store(1);
      board->lock.lock();  // waits: the holder holds it until after the kill
      board->lock.unlock();
      return 3;
    });
    ASSERT_TRUE(eventually([&] { return board->go.load() == 1; }, kGenerous));
    std::this_thread::sleep_for(20ms);  // well inside lock(); an earlier kill would only prove less
    waiter.send(SIGKILL);
    EXPECT_EQ(waiter.join(30s), ExitStatus::killed_by(SIGKILL));
    board->release.store(1);
    EXPECT_EQ(holder.join(30s), ExitStatus::exited(0));
    EXPECT_TRUE(board->lock.try_lock_for(kGenerous)) << "a killed waiter left the lock unusable";
    board->lock.unlock();
  }
}

TYPED_TEST(LockConformance, OwnerDeathThrowsFromLockWithTheLockHeld) {
  using L = TypeParam;
  if constexpr (!L::kReportsOwnerDeath) {
    GTEST_SKIP() << L::kName << " does not report owner death";
  } else {
    Shared<Board<L>> board;
    kill_a_holder(*board);
    bool threw = false;
    try {
      board->lock.lock();
    } catch (const mpkit::OwnerDiedError& error) {
      threw = true;
      EXPECT_NE(std::string(error.what()).find("died"), std::string::npos) << error.what();
    }
    ASSERT_TRUE(threw) << "lock() after a holder's death must throw OwnerDiedError";
    Child tryer([&] { return board->lock.try_lock() ? 1 : 0; });  // we hold it
    EXPECT_EQ(tryer.join(30s), ExitStatus::exited(0));
    board->counter = 0;
    locking::mark_consistent(board->lock);
    board->lock.unlock();
    EXPECT_TRUE(board->lock.try_lock_for(kGenerous));
    board->lock.unlock();
  }
}

TYPED_TEST(LockConformance, UnlockWithoutMarkConsistentMakesItNotRecoverable) {
  using L = TypeParam;
  if constexpr (!L::kReportsOwnerDeath) {
    GTEST_SKIP() << L::kName << " does not report owner death";
  } else {
    Shared<Board<L>> board;
    kill_a_holder(*board);
    ASSERT_EQ(locking::acquire(board->lock, Clock::now() + kGenerous), LockStatus::kOwnerDied);
    board->lock.unlock();  // no repair, no mark_consistent(): the data is declared broken
    EXPECT_EQ(locking::acquire(board->lock, Clock::now() + kGenerous), LockStatus::kNotRecoverable);
    EXPECT_EQ(locking::try_acquire(board->lock), LockStatus::kNotRecoverable);
    EXPECT_THROW((void)board->lock.try_lock(), mpkit::NotRecoverableError);
    EXPECT_THROW(board->lock.lock(), mpkit::NotRecoverableError);
  }
}

}  // namespace
}  // namespace mpkit::test
