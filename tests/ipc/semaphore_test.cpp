// Semaphore: lifecycle, a producer/consumer ring counted by two semaphores
// (threads and processes), time-outs and signals.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/semaphore.hpp"
#include "signal_survival.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

// ---- lifecycle --------------------------------------------------------------

TEST(SemaphoreTest, ZeroBytesAreASemaphoreOfValueZero) {
  Shared<Semaphore> sem(test::kZeroFilled);
  EXPECT_EQ(sem->value_guess(), 0U);
  EXPECT_FALSE(sem->try_acquire());
  sem->release(3);
  EXPECT_EQ(sem->value_guess(), 3U);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(sem->try_acquire());
  EXPECT_FALSE(sem->try_acquire());
  sem->release(0);  // a no-op
  EXPECT_EQ(sem->value_guess(), 0U);
}

TEST(SemaphoreTest, InitialValueIsTheNumberOfUnits) {
  Shared<Semaphore> sem(2U);
  sem->acquire();
  EXPECT_TRUE(sem->try_acquire_for(0s));
  EXPECT_FALSE(sem->try_acquire());
  EXPECT_EQ(Semaphore::max(), 0xFFFF'FFFFU);
}

TEST(SemaphoreTest, TryAcquireForTimesOutAtItsDeadline) {
  Shared<Semaphore> sem;
  const auto start = Clock::now();
  EXPECT_FALSE(sem->try_acquire_for(50ms));
  EXPECT_GE(Clock::now(), start + 50ms);
  EXPECT_LT(test::seconds_since(start), 2.05);
  EXPECT_FALSE(sem->try_acquire_until(Clock::now() - 1s));
}

// ---- producers and consumers: every item handed over exactly once -----------

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr std::uint32_t kItemsPerProducer = 20'000;
constexpr std::uint32_t kCapacity = 16;
constexpr std::uint32_t kTotalItems = kProducers * kItemsPerProducer;
constexpr std::uint32_t kItemsPerConsumer = kTotalItems / kConsumers;

struct Ring {
  Semaphore free_slots{kCapacity};
  Semaphore items{0};
  Mutex mutex;
  std::uint64_t slots[kCapacity] = {};  // guarded by mutex, like the rest
  std::uint32_t head = 0;
  std::uint32_t tail = 0;
  std::uint64_t sum = 0;
  std::uint32_t taken = 0;
};

int produce(Ring& ring, std::uint32_t producer) {
  for (std::uint32_t i = 1; i <= kItemsPerProducer; ++i) {
    if (!ring.free_slots.try_acquire_for(10s)) return 1;
    {
      std::scoped_lock guard(ring.mutex);
      ring.slots[ring.tail] = std::uint64_t{producer} * kItemsPerProducer + i;
      ring.tail = (ring.tail + 1) % kCapacity;
    }
    ring.items.release();
  }
  return 0;
}

int consume(Ring& ring) {
  for (std::uint32_t i = 0; i < kItemsPerConsumer; ++i) {
    if (!ring.items.try_acquire_for(10s)) return 1;
    {
      std::scoped_lock guard(ring.mutex);
      ring.sum += ring.slots[ring.head];
      ring.head = (ring.head + 1) % kCapacity;
      ++ring.taken;
    }
    ring.free_slots.release();
  }
  return 0;
}

void expect_every_item_once(const Ring& ring) {
  // Items are 1..kTotalItems, each exactly once.
  constexpr std::uint64_t kExpectedSum = std::uint64_t{kTotalItems} * (kTotalItems + 1) / 2;
  EXPECT_EQ(ring.taken, kTotalItems);
  EXPECT_EQ(ring.sum, kExpectedSum);
  EXPECT_EQ(ring.items.value_guess(), 0U);
  EXPECT_EQ(ring.free_slots.value_guess(), kCapacity);
}

TEST(SemaphoreThreads, ProducersAndConsumersHandOverEveryItemOnce) {
  test::Watchdog watchdog;
  Shared<Ring> ring;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { failures += produce(*ring, p); });
  }
  for (int c = 0; c < kConsumers; ++c) threads.emplace_back([&] { failures += consume(*ring); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  expect_every_item_once(*ring);
}

TEST(SemaphoreProcesses, ProducersAndConsumersHandOverEveryItemOnce) {
  Shared<Ring> ring;
  std::vector<std::unique_ptr<Child>> children;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    children.push_back(std::make_unique<Child>([&, p] { return produce(*ring, p); }));
  }
  for (int c = 0; c < kConsumers; ++c) {
    children.push_back(std::make_unique<Child>([&] { return consume(*ring); }));
  }
  for (auto& child : children) EXPECT_EQ(child->join(), ExitStatus::exited(0));
  expect_every_item_once(*ring);
}

TEST(SemaphoreThreads, ReleaseOfManyUnitsWakesAsManyAcquirers) {
  test::Watchdog watchdog;
  constexpr int kAcquirers = 4;
  Shared<Semaphore> sem;
  std::atomic<int> acquired{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kAcquirers; ++i) {
    threads.emplace_back([&] {
      if (sem->try_acquire_for(10s)) ++acquired;
    });
  }
  sem->release(kAcquirers);
  for (auto& t : threads) t.join();
  EXPECT_EQ(acquired.load(), kAcquirers);
  EXPECT_EQ(sem->value_guess(), 0U);
}

// ---- signals ------------------------------------------------------------------

struct Signalled {
  Semaphore sem;
};

TEST(SemaphoreThreads, AcquirerSurvivesSignalsThenGetsTheUnit) {
  Shared<Signalled> shared;
  test::expect_thread_wait_survives_signals([&] { return shared->sem.try_acquire_for(10s); },
                                            [&] { shared->sem.release(); });
}

TEST(SemaphoreThreads, AcquirerSurvivesSignalsThenTimesOutAtItsDeadline) {
  Shared<Signalled> shared;
  test::expect_thread_timed_wait_survives_signals(
      [&] { return shared->sem.try_acquire_for(test::kSignalledTimeout); });
}

TEST(SemaphoreProcesses, ReleaseWakesAnAcquirerInAnotherProcessUnderSignals) {
  Shared<Signalled> shared;
  test::expect_child_wait_survives_signals([&] { return shared->sem.try_acquire_for(10s); },
                                           [&] { shared->sem.release(); });
  EXPECT_EQ(shared->sem.value_guess(), 0U);
}

}  // namespace
}  // namespace mpkit
