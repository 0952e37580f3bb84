// Condition: lifecycle, a bounded queue built on it (threads and processes),
// time-outs and signals.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "mpkit/ipc/condition.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "signal_survival.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

struct Guarded {
  Mutex mutex;
  Condition changed;
  bool flag = false;  // guarded by mutex
};

// ---- lifecycle --------------------------------------------------------------

TEST(ConditionTest, ZeroBytesAreAConditionAndNotifyWithNobodyIsHarmless) {
  Shared<Guarded> shared(test::kZeroFilled);
  shared->changed.notify_one();
  shared->changed.notify_all();
  std::scoped_lock guard(shared->mutex);
  EXPECT_FALSE(shared->changed.wait_for(shared->mutex, 5ms));
  EXPECT_EQ(shared->mutex.owner_guess(), ::getpid());  // relocked
}

TEST(ConditionTest, WaitForReturnsFalseAtItsDeadlineHoldingTheMutex) {
  Shared<Guarded> shared;
  std::scoped_lock guard(shared->mutex);
  const auto start = Clock::now();
  EXPECT_FALSE(shared->changed.wait_for(shared->mutex, 50ms));
  EXPECT_GE(Clock::now(), start + 50ms);
  EXPECT_LT(test::seconds_since(start), 2.05);
  EXPECT_EQ(shared->mutex.owner_guess(), ::getpid());
  EXPECT_FALSE(shared->changed.wait_until(shared->mutex, Clock::now() - 1s));
}

TEST(ConditionTest, PredicateOverloadsReturnThePredicate) {
  Shared<Guarded> shared;
  std::scoped_lock guard(shared->mutex);
  EXPECT_FALSE(shared->changed.wait_for(shared->mutex, 10ms, [] { return false; }));
  const auto start = Clock::now();
  EXPECT_TRUE(shared->changed.wait_for(shared->mutex, 10s, [] { return true; }));
  EXPECT_TRUE(shared->changed.wait_until(shared->mutex, Clock::now() + 10s, [] { return true; }));
  shared->changed.wait(shared->mutex, [] { return true; });
  EXPECT_LT(test::seconds_since(start), 1.0);  // a true predicate never waits
}

// ---- a bounded queue: every item delivered once, per-producer order kept ------

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr std::uint32_t kItemsPerProducer = 20'000;
constexpr std::uint32_t kCapacity = 8;

struct BoundedQueue {
  Mutex mutex;
  Condition not_empty;
  Condition not_full;
  std::uint64_t slots[kCapacity] = {};  // guarded by mutex, like everything below
  std::uint32_t head = 0;
  std::uint32_t size = 0;
  std::uint32_t taken = 0;  // items consumed so far
  std::uint64_t sum = 0;    // of the sequence numbers consumed
};

constexpr std::uint32_t kTotalItems = kProducers * kItemsPerProducer;

std::uint64_t item(std::uint32_t producer, std::uint32_t seq) {
  return (std::uint64_t{producer} << 32) | seq;
}

int produce(BoundedQueue& q, std::uint32_t producer) {
  for (std::uint32_t seq = 0; seq < kItemsPerProducer; ++seq) {
    std::scoped_lock guard(q.mutex);
    if (!q.not_full.wait_for(q.mutex, 10s, [&] { return q.size < kCapacity; })) return 1;
    q.slots[(q.head + q.size) % kCapacity] = item(producer, seq);
    ++q.size;
    q.not_empty.notify_one();
  }
  return 0;
}

// Returns 0, or 1 on a time-out, 2 on an item out of per-producer order.
int consume(BoundedQueue& q) {
  std::uint32_t next_seq[kProducers] = {};
  for (;;) {
    std::scoped_lock guard(q.mutex);
    const bool ready =
        q.not_empty.wait_for(q.mutex, 10s, [&] { return q.size > 0 || q.taken == kTotalItems; });
    if (!ready) return 1;
    if (q.size == 0) return 0;  // all taken: by us or the other consumer
    const std::uint64_t value = q.slots[q.head];
    q.head = (q.head + 1) % kCapacity;
    --q.size;
    ++q.taken;
    const auto producer = static_cast<std::uint32_t>(value >> 32);
    const auto seq = static_cast<std::uint32_t>(value);
    if (seq < next_seq[producer]) return 2;
    next_seq[producer] = seq + 1;
    q.sum += seq;
    q.not_full.notify_one();
    if (q.taken == kTotalItems) q.not_empty.notify_all();  // release the other consumer
  }
}

void expect_everything_delivered(const BoundedQueue& q) {
  constexpr std::uint64_t kSeqSum =
      std::uint64_t{kItemsPerProducer} * (kItemsPerProducer - 1) / 2 * kProducers;
  EXPECT_EQ(q.taken, kTotalItems);
  EXPECT_EQ(q.size, 0U);
  EXPECT_EQ(q.sum, kSeqSum);
}

TEST(ConditionThreads, BoundedQueueDeliversEveryItemInOrder) {
  test::Watchdog watchdog;
  Shared<BoundedQueue> queue;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { failures += produce(*queue, p); });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] { failures += consume(*queue); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  expect_everything_delivered(*queue);
}

TEST(ConditionProcesses, BoundedQueueDeliversEveryItemInOrder) {
  Shared<BoundedQueue> queue;
  std::vector<std::unique_ptr<Child>> children;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    children.push_back(std::make_unique<Child>([&, p] { return produce(*queue, p); }));
  }
  for (int c = 0; c < kConsumers; ++c) {
    children.push_back(std::make_unique<Child>([&] { return consume(*queue); }));
  }
  for (auto& child : children) EXPECT_EQ(child->join(), ExitStatus::exited(0));
  expect_everything_delivered(*queue);
}

// ---- notify_all, signals ------------------------------------------------------

TEST(ConditionThreads, NotifyAllWakesEveryWaiter) {
  test::Watchdog watchdog;
  constexpr int kWaiters = 4;
  Shared<Guarded> shared;
  std::atomic<int> woken{0};
  std::atomic<int> waiting{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      std::scoped_lock guard(shared->mutex);
      ++waiting;
      if (shared->changed.wait_for(shared->mutex, 10s, [&] { return shared->flag; })) ++woken;
    });
  }
  ASSERT_TRUE(test::eventually([&] { return waiting.load() == kWaiters; }));
  {
    std::scoped_lock guard(shared->mutex);
    shared->flag = true;
  }
  shared->changed.notify_all();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), kWaiters);
}

// Waits (with a predicate) for `flag`; true if it was set in time.
bool wait_for_flag(Guarded& shared, std::chrono::milliseconds timeout) {
  std::scoped_lock guard(shared.mutex);
  return shared.changed.wait_for(shared.mutex, timeout, [&] { return shared.flag; });
}

TEST(ConditionThreads, WaiterSurvivesSignalsThenWakesOnNotify) {
  Shared<Guarded> shared;
  test::expect_thread_wait_survives_signals(
      [&] { return wait_for_flag(*shared, 10s); },
      [&] {
        {
          std::scoped_lock guard(shared->mutex);
          shared->flag = true;
        }
        shared->changed.notify_one();
      });
}

TEST(ConditionThreads, WaiterSurvivesSignalsThenTimesOutAtItsDeadline) {
  Shared<Guarded> shared;
  test::expect_thread_timed_wait_survives_signals(
      [&] { return wait_for_flag(*shared, test::kSignalledTimeout); });
}

TEST(ConditionProcesses, WaiterInAChildSurvivesSignalsThenWakesOnNotify) {
  Shared<Guarded> shared;
  test::expect_child_wait_survives_signals(
      [&] { return wait_for_flag(*shared, 10s); },
      [&] {
        {
          std::scoped_lock guard(shared->mutex);
          shared->flag = true;
        }
        shared->changed.notify_one();
      });
}

TEST(ConditionProcesses, WaiterInAChildTimesOutAtItsDeadlineUnderSignals) {
  Shared<Guarded> shared;
  test::expect_child_timed_wait_survives_signals(
      [&] { return wait_for_flag(*shared, test::kSignalledTimeout); });
}

}  // namespace
}  // namespace mpkit
