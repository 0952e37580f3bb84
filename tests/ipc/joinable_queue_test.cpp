// JoinableQueue<Q>: join() returns only after every pushed item was
// task_done'd (threads and processes, N producers x M consumers), timed
// joins time out when one item is never done, task_done() called too often
// throws, failed pushes are not counted, a join parked in another process
// wakes on the last task_done, and a killed consumer leaves join timing out
// (documented). Over two backends (MpmcRing and LockedRing), plus the queue
// conformance suite over the adapter itself.
//
// Cases whose names contain "Threads" run threads over one mapping (the TSan
// preset runs them). No case asserts a speed.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mpkit/ipc/joinable_queue.hpp"
#include "mpkit/ipc/locked_ring.hpp"
#include "mpkit/ipc/mpmc_ring.hpp"
#include "queue_conformance.hpp"
#include "test_support.hpp"

namespace mpkit {

using JoinableMpmc = JoinableQueue<MpmcRing<std::uint64_t>>;
using JoinableLocked = JoinableQueue<LockedRing<std::uint64_t>>;
static_assert(Queue<JoinableMpmc, std::uint64_t> && Queue<JoinableLocked, std::uint64_t>,
              "the adapter is a queue backend itself");

namespace test {

template <>
struct QueueFactory<JoinableMpmc> : IntegerItems<std::uint64_t> {
  static JoinableMpmc make(std::size_t capacity) {
    return JoinableMpmc::create(MpmcRing<std::uint64_t>::create(capacity));
  }
  static std::string name() { return "JoinableMpmcRingU64"; }
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;
  static constexpr bool kDetectsPeerDeath = true;  // MpmcRing's detection passes through
  // The ring's own suite moves 10^6 items; the adapter adds one RMW per item.
  static constexpr std::uint64_t kStressItems = 200'000;
};

using JoinableQueues = ::testing::Types<JoinableMpmc>;
INSTANTIATE_TYPED_TEST_SUITE_P(Joinable, QueueConformance, JoinableQueues, QueueNames);

}  // namespace test

namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

template <class J>
J make_joinable(std::size_t capacity) {
  return J::create(J::queue_type::create(capacity));
}

template <class J>
class JoinableQueueTest : public ::testing::Test {};

struct BackendNames {
  template <class J>
  static std::string GetName(int /*index*/) {
    return std::is_same_v<J, JoinableMpmc> ? "MpmcRing" : "LockedRing";
  }
};

using Backends = ::testing::Types<JoinableMpmc, JoinableLocked>;
TYPED_TEST_SUITE(JoinableQueueTest, Backends, BackendNames);

TYPED_TEST(JoinableQueueTest, JoinOnAFreshQueueReturnsAtOnce) {
  auto queue = make_joinable<TypeParam>(8);
  EXPECT_EQ(queue.unfinished_guess(), 0U);
  EXPECT_TRUE(queue.join_for(0ms));
  queue.join();
}

TYPED_TEST(JoinableQueueTest, JoinForTimesOutWhileOneItemIsNotDone) {
  auto queue = make_joinable<TypeParam>(8);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(queue.push(i), QueueStatus::kOk);
  EXPECT_EQ(queue.unfinished_guess(), 3U);
  std::uint64_t out = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  queue.task_done();
  queue.task_done();  // the third item is popped but never done
  const auto start = Clock::now();
  EXPECT_FALSE(queue.join_for(50ms));
  EXPECT_GE(Clock::now() - start, 50ms) << "never before the deadline";
  EXPECT_FALSE(queue.join_until(Clock::now() - 1ms));
  queue.task_done();
  EXPECT_TRUE(queue.join_for(10s));
  EXPECT_EQ(queue.unfinished_guess(), 0U);
}

TYPED_TEST(JoinableQueueTest, TooManyTaskDoneCallsThrowAndChangeNothing) {
  auto queue = make_joinable<TypeParam>(8);
  EXPECT_THROW(queue.task_done(), std::logic_error);
  ASSERT_EQ(queue.push(1), QueueStatus::kOk);
  std::uint64_t out = 0;
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  queue.task_done();
  try {
    queue.task_done();
    ADD_FAILURE() << "a second task_done() for one item was accepted";
  } catch (const std::logic_error& error) {
    EXPECT_NE(std::string(error.what()).find("task_done"), std::string::npos) << error.what();
  }
  EXPECT_EQ(queue.unfinished_guess(), 0U) << "the refused call did not wrap the count";
  EXPECT_TRUE(queue.join_for(0ms));
  ASSERT_EQ(queue.push(2), QueueStatus::kOk);  // still usable
  EXPECT_EQ(queue.unfinished_guess(), 1U);
}

TYPED_TEST(JoinableQueueTest, FailedPushesAreNotCounted) {
  auto queue = make_joinable<TypeParam>(4);
  const std::size_t capacity = queue.capacity();
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_EQ(queue.try_push(i), QueueStatus::kOk);
  EXPECT_EQ(queue.try_push(99), QueueStatus::kFull);
  EXPECT_EQ(push_for(queue, std::uint64_t{99}, 1ms), QueueStatus::kTimedOut);
  queue.close();
  EXPECT_EQ(queue.push(99), QueueStatus::kClosed);
  EXPECT_EQ(queue.unfinished_guess(), capacity);
  std::uint64_t out = 0;
  while (queue.pop(out) == QueueStatus::kOk) queue.task_done();
  EXPECT_TRUE(queue.join_for(10s));
}

// Consumers hold every task_done behind a gate: a joiner must park, and may
// return only after the gate opens and every item is done.
TYPED_TEST(JoinableQueueTest, JoinWaitsForEveryTaskDoneThreads) {
  test::Watchdog watchdog(60s);
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr std::uint64_t kPerProducer = 20'000;
  constexpr std::uint64_t kTotal = kProducers * kPerProducer;
  auto queue = make_joinable<TypeParam>(64);
  std::atomic<std::uint64_t> popped{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<bool> gate{false};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      std::uint64_t out = 0;
      while (queue.pop(out) == QueueStatus::kOk) {
        // The last item each consumer takes waits for the gate.
        if (popped.fetch_add(1) + 1 + kConsumers > kTotal) {
          while (!gate.load()) std::this_thread::yield();
        }
        finished.fetch_add(1);
        queue.task_done();
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        ASSERT_EQ(queue.push(static_cast<std::uint64_t>(p) << 32 | i), QueueStatus::kOk);
      }
    });
  }
  for (auto& t : producers) t.join();
  std::atomic<pid_t> joiner_tid{0};
  std::atomic<std::uint64_t> finished_at_join{0};
  std::thread joiner([&] {
    joiner_tid.store(test::this_tid());
    queue.join();
    finished_at_join.store(finished.load());
  });
  while (joiner_tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(test::wait_until_asleep(joiner_tid.load(), 10s)) << "join() should park while tasks are held";
  EXPECT_EQ(finished_at_join.load(), 0U) << "join returned with tasks unfinished";
  gate.store(true);
  joiner.join();
  EXPECT_EQ(finished_at_join.load(), kTotal) << "join returned before every item was done";
  EXPECT_EQ(queue.unfinished_guess(), 0U);
  queue.close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(finished.load(), kTotal);
}

TYPED_TEST(JoinableQueueTest, JoinWaitsForEveryTaskDoneProcesses) {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr std::uint64_t kPerProducer = 20'000;
  constexpr std::uint64_t kTotal = kProducers * kPerProducer;
  auto queue = make_joinable<TypeParam>(256);
  Shared<std::atomic<std::uint64_t>> finished(0U);
  Shared<std::atomic<std::uint32_t>> go(0U);
  std::vector<std::unique_ptr<Child>> consumers;
  std::vector<std::unique_ptr<Child>> producers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(std::make_unique<Child>([&] {
      std::uint64_t out = 0;
      while (queue.pop(out) == QueueStatus::kOk) {
        finished->fetch_add(1);
        queue.task_done();
      }
      return 0;
    }));
  }
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(std::make_unique<Child>([&, p] {
      while (go->load() == 0) std::this_thread::yield();
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        if (queue.push(static_cast<std::uint64_t>(p) << 32 | i) != QueueStatus::kOk) return 1;
      }
      return 0;
    }));
  }
  go->store(1);
  for (auto& child : producers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
  ASSERT_TRUE(queue.join_for(60s)) << "unfinished: " << queue.unfinished_guess();
  EXPECT_EQ(finished->load(), kTotal) << "join returned before every item was done";
  queue.close();
  for (auto& child : consumers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
}

TYPED_TEST(JoinableQueueTest, JoinParkedInAnotherProcessWakesOnTheLastTaskDone) {
  auto queue = make_joinable<TypeParam>(8);
  ASSERT_EQ(queue.push(1), QueueStatus::kOk);
  ASSERT_EQ(queue.push(2), QueueStatus::kOk);
  Child joiner([&] { return queue.join_for(30s) ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_asleep(joiner.pid(), 10s));
  std::uint64_t out = 0;
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  queue.task_done();
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  EXPECT_TRUE(test::asleep_in_futex(joiner.pid())) << "one task is still unfinished";
  queue.task_done();
  EXPECT_EQ(joiner.join(10s), ExitStatus::exited(0));
}

// Documented behaviour: a consumer killed between pop and task_done leaves
// its task unfinished for good; the timed join reports it, bounded.
TYPED_TEST(JoinableQueueTest, KilledConsumerLeavesTheTimedJoinFalse) {
  auto queue = make_joinable<TypeParam>(8);
  ASSERT_EQ(queue.push(1), QueueStatus::kOk);
  ASSERT_EQ(queue.push(2), QueueStatus::kOk);
  Child consumer([&] {
    std::uint64_t out = 0;
    if (queue.pop(out) != QueueStatus::kOk) return 1;
    queue.task_done();
    if (queue.pop(out) != QueueStatus::kOk) return 1;
    ::raise(SIGKILL);  // dies holding the second task
    return 2;
  });
  EXPECT_EQ(consumer.join(10s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(queue.unfinished_guess(), 1U);
  EXPECT_FALSE(queue.join_for(100ms));
}

}  // namespace
}  // namespace mpkit
