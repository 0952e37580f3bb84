#pragma once

// The conformance suite every queue backend passes (ARCHITECTURE.md, style habit 12).
//
// A backend's test file specialises QueueFactory for its queue type and
// instantiates the suite:
//
//   template <> struct mpkit::test::QueueFactory<MyQueue> : mpkit::test::IntegerItems<std::uint64_t> {
//     static MyQueue make(std::size_t capacity) { return MyQueue::create(capacity); }
//     static constexpr bool kMultiProducer = true;    // several producers at once
//     static constexpr bool kMultiConsumer = true;    // several consumers at once
//     static constexpr bool kDetectsPeerDeath = true; // the Killed* cases apply
//   };
//   using Queues = ::testing::Types<MyQueue>;
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, QueueConformance, Queues, mpkit::test::QueueNames);
//
// A backend of the queue registry (mpkit/ipc/queue_registry.hpp,
// mpkit/ipc/remote/backends.hpp) takes those three answers from its entry
// instead, so the suite checks what the registry claims: derive from
// Registered<Entry, Items> (answers and make(), by the entry's queue type), or
// from Items and TraitsOf<Entry> with a make() of your own (a remote backend
// and its test server). QueueNames records every type the suite is
// instantiated for; tests/ipc/registry_test.cpp checks each registered
// backend's queue of std::uint64_t is among them.
//
// The factory also says how an item carries a 64-bit key: encode(key) ->
// Value and decode(value) -> key (IntegerItems does it for integers; a
// struct payload fills every byte and decode returns kCorruptKey for a torn
// copy). Optional: `static constexpr bool kAcrossProcesses = false` for a
// queue that only works inside one process; `static std::string name()` for
// readable test names; `static constexpr std::uint64_t kStressItems = n` caps
// the items of each stress case (threads and processes) at n for a backend
// that pays a round trip per item (Redis, Manager) -- without it the cases
// move 200'000 items through threads (20'000 sanitized) and 10^6 through
// processes.
//
// Cases: lifecycle; FIFO order over several laps; try_push on full / try_pop
// on empty; timed push/pop time out (never before the deadline; no speed
// assertion); close drains then reports kClosed and wakes blocked pushers
// and poppers; capacity 0 -> std::invalid_argument; stress with threads
// (names contain "Threads": the TSan preset runs them) and with processes,
// checking per-producer order, count and sum of every key; a consumer
// SIGKILLed mid-stream ends the blocked producer's wait within a bounded
// time (std::system_error), and a push after every consumer is gone fails;
// a producer SIGKILLed mid-stream, or producers that come and go one after
// the other, end nothing: every item is delivered and only close() ends the
// stream.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "test_support.hpp"

namespace mpkit::test {

/// Specialise for each backend (see the file comment).
template <class Q>
struct QueueFactory;

/// What decode() returns for an item whose bytes are inconsistent.
inline constexpr std::uint64_t kCorruptKey = ~std::uint64_t{0};

/// encode/decode for integer payloads.
template <class T>
struct IntegerItems {
  using Value = T;
  static Value encode(std::uint64_t key) { return static_cast<Value>(key); }
  static std::uint64_t decode(const Value& value) { return static_cast<std::uint64_t>(value); }
};

enum class Producers { kOne, kMany };
enum class Consumers { kOne, kMany };
enum class PeerDeath { kDetected, kUndetected };

/// The usual factory: Q::create(capacity), items encoded by `Items`, and the
/// backend's honest answers to "several producers?", "several consumers?",
/// "does a killed peer end the survivors' waits?".
template <class Q, class Items, Producers P, Consumers C, PeerDeath D = PeerDeath::kDetected>
struct CreatedBy : Items {
  static Q make(std::size_t capacity) { return Q::create(capacity); }
  static constexpr bool kMultiProducer = P == Producers::kMany;
  static constexpr bool kMultiConsumer = C == Consumers::kMany;
  static constexpr bool kDetectsPeerDeath = D == PeerDeath::kDetected;
};

/// The capacity Registered gives a backend whose capacity is a template
/// argument (fixed_capacity): every capacity the suite asks for fits in it.
inline constexpr std::size_t kFixedTestCapacity = 1024;

/// The answers of registry entry E (queue_registry.hpp): the suite checks them.
template <class E>
struct TraitsOf {
  static constexpr bool kMultiProducer = E::kInfo.multi_producer;
  static constexpr bool kMultiConsumer = E::kInfo.multi_consumer;
  static constexpr bool kDetectsPeerDeath = E::kInfo.detects_peer_death;
};

/// The factory of a local registry entry: its answers, items by `Items`, and
/// make_queue. A fixed_capacity backend is made with kFixedTestCapacity slots
/// for any request it can hold (as the rings round up); 0 and larger requests
/// pass through, to be rejected by create().
template <class E, class Items>
struct Registered : Items, TraitsOf<E> {
  using Q = typename E::template Queue<typename Items::Value, kFixedTestCapacity>;
  static Q make(std::size_t capacity) {
    if constexpr (E::kInfo.fixed_capacity) {
      if (capacity != 0 && capacity <= kFixedTestCapacity) capacity = kFixedTestCapacity;
    }
    return make_queue<E, typename Items::Value, kFixedTestCapacity>(capacity);
  }
};

/// Every queue type the suite is instantiated for (QueueNames fills it while
/// GoogleTest registers the instantiations, before main).
inline std::set<std::type_index>& conformance_types() {
  static std::set<std::type_index> types;
  return types;
}

namespace queue_conformance {

using test::kSanitized;  // test_support.hpp's switch, under the suite's own name too

// `default_items`, or the factory's kStressItems if that is smaller.
template <class Q>
constexpr std::uint64_t stress_items(std::uint64_t default_items) {
  if constexpr (requires { QueueFactory<Q>::kStressItems; }) {
    return QueueFactory<Q>::kStressItems < default_items ? QueueFactory<Q>::kStressItems : default_items;
  } else {
    return default_items;
  }
}

template <class Q>
constexpr bool across_processes() {
  if constexpr (requires { QueueFactory<Q>::kAcrossProcesses; }) {
    return QueueFactory<Q>::kAcrossProcesses;
  } else {
    return true;
  }
}

// A key is (producer << 40) | sequence number.
constexpr std::uint64_t key(std::uint64_t producer, std::uint64_t seq) { return (producer << 40) | seq; }
constexpr std::uint64_t producer_of(std::uint64_t k) { return k >> 40; }
constexpr std::uint64_t seq_of(std::uint64_t k) { return k & ((std::uint64_t{1} << 40) - 1); }

inline constexpr int kMaxProducers = 4;
inline constexpr int kMaxConsumers = 4;

// What one consumer saw, per producer. Lives in shared memory for the
// process tests, so plain integers only.
struct ConsumerTally {
  std::uint64_t count[kMaxProducers];
  std::uint64_t seq_sum[kMaxProducers];
  std::uint64_t last_plus_one[kMaxProducers];  // last sequence seen + 1 (0: none)
  std::uint64_t order_errors;
  std::uint64_t corrupt;
};
struct StressBoard {
  std::atomic<std::uint32_t> go{0};
  ConsumerTally tally[kMaxConsumers] = {};
};

template <class Q>
void produce(Q& queue, StressBoard& board, int producer, std::uint64_t items) {
  using F = QueueFactory<Q>;
  while (board.go.load() == 0) std::this_thread::yield();
  for (std::uint64_t i = 0; i < items; ++i) {
    if (queue.push(F::encode(key(static_cast<std::uint64_t>(producer), i))) != QueueStatus::kOk) {
      throw std::runtime_error("push failed before close()");
    }
  }
}

template <class Q>
void consume(Q& queue, StressBoard& board, int consumer) {
  using F = QueueFactory<Q>;
  ConsumerTally& tally = board.tally[consumer];
  typename F::Value value{};
  while (queue.pop(value) == QueueStatus::kOk) {
    const std::uint64_t k = F::decode(value);
    const std::uint64_t p = producer_of(k);
    if (k == kCorruptKey || p >= kMaxProducers) {
      ++tally.corrupt;
      continue;
    }
    const std::uint64_t s = seq_of(k);
    if (s + 1 <= tally.last_plus_one[p]) ++tally.order_errors;  // per-producer FIFO
    tally.last_plus_one[p] = s + 1;
    ++tally.count[p];
    tally.seq_sum[p] += s;
  }
}

// Every item seen exactly once, in per-producer order.
inline void expect_exactly_once(const StressBoard& board, int producers, int consumers,
                                std::uint64_t per_producer) {
  for (int p = 0; p < producers; ++p) {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    for (int c = 0; c < consumers; ++c) {
      count += board.tally[c].count[p];
      sum += board.tally[c].seq_sum[p];
    }
    EXPECT_EQ(count, per_producer) << "producer " << p;
    EXPECT_EQ(sum, per_producer * (per_producer - 1) / 2) << "producer " << p;
  }
  for (int c = 0; c < consumers; ++c) {
    EXPECT_EQ(board.tally[c].order_errors, 0U) << "consumer " << c;
    EXPECT_EQ(board.tally[c].corrupt, 0U) << "consumer " << c;
  }
}

template <class Q>
constexpr int producers_for() {
  return QueueFactory<Q>::kMultiProducer ? 2 : 1;
}
template <class Q>
constexpr int consumers_for() {
  return QueueFactory<Q>::kMultiConsumer ? 2 : 1;
}

}  // namespace queue_conformance

/// Readable instantiation names: QueueFactory<Q>::name() if present.
struct QueueNames {
  template <class Q>
  static std::string GetName(int index) {
    conformance_types().insert(typeid(Q));
    if constexpr (requires { QueueFactory<Q>::name(); }) {
      return QueueFactory<Q>::name();
    } else {
      return std::to_string(index);
    }
  }
};

template <class Q>
class QueueConformance : public ::testing::Test {
 protected:
  using Value = typename QueueFactory<Q>::Value;
  static Value item(std::uint64_t k) { return QueueFactory<Q>::encode(k); }
  static std::uint64_t key_of(const Value& v) { return QueueFactory<Q>::decode(v); }

  // A consumer process pops one item and exits normally: afterwards every
  // consumer that ever popped is gone (not killed).
  static void consume_one_and_leave(Q& queue) {
    Child consumer([&] {
      Value out{};
      return pop_for(queue, out, std::chrono::seconds(30)) == QueueStatus::kOk ? 0 : 1;
    });
    ASSERT_EQ(queue.push(item(0)), QueueStatus::kOk);
    ASSERT_EQ(consumer.join(std::chrono::seconds(30)), ExitStatus::exited(0));
  }
};

TYPED_TEST_SUITE_P(QueueConformance);

using namespace std::chrono_literals;

TYPED_TEST_P(QueueConformance, Lifecycle) {
  using F = QueueFactory<TypeParam>;
  for (int round = 0; round < 3; ++round) {
    TypeParam queue = F::make(8);
    EXPECT_GE(queue.capacity(), 8U);
    EXPECT_EQ(queue.size_guess(), 0U);
    EXPECT_FALSE(queue.is_closed());
    ASSERT_EQ(queue.push(this->item(1)), QueueStatus::kOk);
    ASSERT_EQ(queue.try_push(this->item(2)), QueueStatus::kOk);
    EXPECT_EQ(queue.size_guess(), 2U);
    queue.close();
    queue.close();  // harmless twice
    EXPECT_TRUE(queue.is_closed());
  }  // destroyed with items inside and closed: nothing to release by hand
}

TYPED_TEST_P(QueueConformance, FifoOrderOverSeveralLapsSingleThreaded) {
  using F = QueueFactory<TypeParam>;
  TypeParam queue = F::make(4);
  const std::size_t capacity = queue.capacity();
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  typename F::Value out{};
  for (int lap = 0; lap < 5; ++lap) {  // fill completely, drain completely: wraps around
    for (std::size_t i = 0; i < capacity; ++i) ASSERT_EQ(queue.push(this->item(next_in++)), QueueStatus::kOk);
    for (std::size_t i = 0; i < capacity; ++i) {
      ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
      ASSERT_EQ(this->key_of(out), next_out++);
    }
  }
  for (std::size_t i = 0; i < (capacity + 1) / 2; ++i) {  // half full, then sliding
    ASSERT_EQ(queue.try_push(this->item(next_in++)), QueueStatus::kOk);
  }
  for (std::size_t round = 0; round < 3 * capacity; ++round) {
    ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
    ASSERT_EQ(this->key_of(out), next_out++);
    ASSERT_EQ(queue.try_push(this->item(next_in++)), QueueStatus::kOk);
  }
  while (next_out < next_in) {
    ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
    ASSERT_EQ(this->key_of(out), next_out++);
  }
  EXPECT_EQ(queue.try_pop(out), QueueStatus::kEmpty);
}

TYPED_TEST_P(QueueConformance, TryPushOnFullAndTryPopOnEmpty) {
  using F = QueueFactory<TypeParam>;
  TypeParam queue = F::make(4);
  typename F::Value out{};
  EXPECT_EQ(queue.try_pop(out), QueueStatus::kEmpty);
  for (std::size_t i = 0; i < queue.capacity(); ++i) ASSERT_EQ(queue.try_push(this->item(i)), QueueStatus::kOk);
  EXPECT_EQ(queue.try_push(this->item(99)), QueueStatus::kFull);
  EXPECT_EQ(queue.size_guess(), queue.capacity());
  ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
  EXPECT_EQ(this->key_of(out), 0U);
  EXPECT_EQ(queue.try_push(this->item(99)), QueueStatus::kOk);  // room again
}

TYPED_TEST_P(QueueConformance, TimedPushAndPopTimeOutNotBeforeTheDeadline) {
  using F = QueueFactory<TypeParam>;
  TypeParam queue = F::make(2);
  typename F::Value out{};
  auto start = Clock::now();
  EXPECT_EQ(pop_for(queue, out, 20ms), QueueStatus::kTimedOut);
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_EQ(queue.pop_until(out, Clock::now() - 1ms), QueueStatus::kTimedOut);  // already past

  while (queue.try_push(this->item(1)) == QueueStatus::kOk) {
  }
  start = Clock::now();
  EXPECT_EQ(push_for(queue, this->item(2), 20ms), QueueStatus::kTimedOut);
  EXPECT_GE(Clock::now() - start, 20ms);
  // Deadline in the future but room now: succeeds at once.
  ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
  EXPECT_EQ(push_for(queue, this->item(3), 10s), QueueStatus::kOk);
  EXPECT_EQ(pop_for(queue, out, 10s), QueueStatus::kOk);
}

TYPED_TEST_P(QueueConformance, CloseRefusesPushesAndDrainsPops) {
  using F = QueueFactory<TypeParam>;
  TypeParam queue = F::make(8);
  typename F::Value out{};
  ASSERT_EQ(queue.push(this->item(10)), QueueStatus::kOk);
  ASSERT_EQ(queue.push(this->item(11)), QueueStatus::kOk);
  queue.close();
  EXPECT_EQ(queue.push(this->item(12)), QueueStatus::kClosed);
  EXPECT_EQ(queue.try_push(this->item(12)), QueueStatus::kClosed);
  EXPECT_EQ(push_for(queue, this->item(12), 10ms), QueueStatus::kClosed);
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  EXPECT_EQ(this->key_of(out), 10U);
  ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
  EXPECT_EQ(this->key_of(out), 11U);
  EXPECT_EQ(queue.pop(out), QueueStatus::kClosed);
  EXPECT_EQ(queue.try_pop(out), QueueStatus::kClosed);
  EXPECT_EQ(pop_for(queue, out, 10ms), QueueStatus::kClosed);
}

TYPED_TEST_P(QueueConformance, ZeroCapacityIsRejected) {
  using F = QueueFactory<TypeParam>;
  try {
    (void)F::make(0);
    FAIL() << "capacity 0 was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("capacity"), std::string::npos) << error.what();
  }
}

TYPED_TEST_P(QueueConformance, CloseWakesBlockedPopThreads) {
  using F = QueueFactory<TypeParam>;
  Watchdog watchdog(60s);
  TypeParam queue = F::make(4);
  std::atomic<pid_t> tid{0};
  std::atomic<int> status{-1};
  std::thread waiter([&] {
    tid.store(this_tid());
    typename F::Value out{};
    status.store(static_cast<int>(queue.pop(out)));
  });
  while (tid.load() == 0) std::this_thread::yield();
  (void)wait_until_asleep(tid.load(), 2s);  // close while it is parked, if it parks
  queue.close();
  waiter.join();
  EXPECT_EQ(status.load(), static_cast<int>(QueueStatus::kClosed));
}

TYPED_TEST_P(QueueConformance, CloseWakesBlockedPushThreads) {
  using F = QueueFactory<TypeParam>;
  Watchdog watchdog(60s);
  TypeParam queue = F::make(2);
  while (queue.try_push(this->item(1)) == QueueStatus::kOk) {
  }
  std::atomic<pid_t> tid{0};
  std::atomic<int> status{-1};
  std::thread waiter([&] {
    tid.store(this_tid());
    status.store(static_cast<int>(queue.push(this->item(2))));
  });
  while (tid.load() == 0) std::this_thread::yield();
  (void)wait_until_asleep(tid.load(), 2s);
  queue.close();
  waiter.join();
  EXPECT_EQ(status.load(), static_cast<int>(QueueStatus::kClosed));
  typename F::Value out{};
  std::size_t drained = 0;
  while (queue.pop(out) == QueueStatus::kOk) ++drained;
  EXPECT_EQ(drained, queue.capacity());  // the blocked push did not sneak in
}

TYPED_TEST_P(QueueConformance, StressThreadsExactlyOnceInOrder) {
  using namespace queue_conformance;
  Watchdog watchdog(120s);
  constexpr int kProducers = producers_for<TypeParam>();
  constexpr int kConsumers = consumers_for<TypeParam>();
  constexpr std::uint64_t kPerProducer = stress_items<TypeParam>(kSanitized ? 20'000 : 200'000) / kProducers;
  TypeParam queue = QueueFactory<TypeParam>::make(64);
  auto board = std::make_unique<StressBoard>();
  std::vector<std::thread> consumers;
  std::vector<std::thread> producers;
  for (int c = 0; c < kConsumers; ++c) consumers.emplace_back([&, c] { consume(queue, *board, c); });
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] { produce(queue, *board, p, kPerProducer); });
  }
  board->go.store(1);
  for (auto& t : producers) t.join();
  queue.close();
  for (auto& t : consumers) t.join();
  expect_exactly_once(*board, kProducers, kConsumers, kPerProducer);
}

TYPED_TEST_P(QueueConformance, StressProcessesExactlyOnceInOrder) {
  using namespace queue_conformance;
  if constexpr (!across_processes<TypeParam>()) {
    GTEST_SKIP() << "this backend works inside one process only";
  } else {
    constexpr int kProducers = producers_for<TypeParam>();
    constexpr int kConsumers = consumers_for<TypeParam>();
    constexpr std::uint64_t kPerProducer = stress_items<TypeParam>(1'000'000) / kProducers;  // 10^6 by default
    TypeParam queue = QueueFactory<TypeParam>::make(1024);
    Shared<StressBoard> board;
    std::vector<std::unique_ptr<Child>> consumers;
    std::vector<std::unique_ptr<Child>> producers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.push_back(std::make_unique<Child>([&, c] {
        consume(queue, *board, c);
        return 0;
      }));
    }
    for (int p = 0; p < kProducers; ++p) {
      producers.push_back(std::make_unique<Child>([&, p] {
        produce(queue, *board, p, kPerProducer);
        return 0;
      }));
    }
    board->go.store(1);
    for (auto& child : producers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
    queue.close();
    for (auto& child : consumers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
    expect_exactly_once(*board, kProducers, kConsumers, kPerProducer);
  }
}

// A consumer that pops a little, then is SIGKILLed; the producer, blocked on
// the full queue, must get std::system_error instead of waiting forever.
TYPED_TEST_P(QueueConformance, KilledConsumerFailsTheBlockedProducer) {
  using F = QueueFactory<TypeParam>;
  if constexpr (!queue_conformance::across_processes<TypeParam>() || !F::kDetectsPeerDeath) {
    GTEST_SKIP() << "this backend does not detect dead peers";
  } else {
    TypeParam queue = F::make(16);
    Child consumer([&] {
      typename F::Value out{};
      for (int i = 0; i < 100; ++i) {
        if (queue.pop(out) != QueueStatus::kOk) return 1;
      }
      ::raise(SIGKILL);  // mid-stream
      return 2;
    });
    const auto start = Clock::now();
    std::uint64_t pushed = 0;
    bool threw = false;
    try {
      for (; pushed < 1'000'000; ++pushed) {
        if (queue.push(this->item(pushed)) != QueueStatus::kOk) break;
      }
    } catch (const std::system_error& error) {
      threw = true;
      EXPECT_NE(std::string(error.what()).find("consumer"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(threw) << "push returned normally after " << pushed << " items";
    EXPECT_GE(pushed, 100U);
    EXPECT_LT(seconds_since(start), 30.0);  // bounded, not a speed check
    EXPECT_EQ(consumer.join(10s), ExitStatus::killed_by(SIGKILL));
  }
}

// A producer that pushes some items, then is SIGKILLed; the consumer gets
// every pushed item in order. Its death is not an end of file (more
// producers may come): a bounded pop times out, and close() ends the stream.
TYPED_TEST_P(QueueConformance, KilledProducerLosesNothingAndCloseEndsTheStream) {
  using F = QueueFactory<TypeParam>;
  if constexpr (!queue_conformance::across_processes<TypeParam>() || !F::kDetectsPeerDeath) {
    GTEST_SKIP() << "this backend does not detect dead peers";
  } else {
    constexpr std::uint64_t kPushed = 1000;
    TypeParam queue = F::make(16);
    Child producer([&] {
      for (std::uint64_t i = 0; i < kPushed; ++i) {
        if (queue.push(this->item(i)) != QueueStatus::kOk) return 1;
      }
      ::raise(SIGKILL);  // mid-stream: no close()
      return 2;
    });
    std::uint64_t popped = 0;
    typename F::Value out{};
    for (; popped < kPushed; ++popped) {
      ASSERT_EQ(pop_for(queue, out, 30s), QueueStatus::kOk) << "after " << popped << " items";
      ASSERT_EQ(this->key_of(out), popped) << "out of order";
    }
    EXPECT_EQ(producer.join(10s), ExitStatus::killed_by(SIGKILL));
    EXPECT_EQ(pop_for(queue, out, 50ms), QueueStatus::kTimedOut) << "a dead producer is not an end of file";
    queue.close();
    EXPECT_EQ(pop_for(queue, out, 10s), QueueStatus::kClosed);
  }
}

// Producer A pushes its share and exits; only then, once the consumer has
// read it all and waited, producer B pushes its share and a pill. The
// consumer gets every item of both and the pill: A's exit did not end the
// stream (the chapter's pattern of staggered producers with poison pills).
TYPED_TEST_P(QueueConformance, StaggeredProducersLoseNothing) {
  using F = QueueFactory<TypeParam>;
  if constexpr (!queue_conformance::across_processes<TypeParam>()) {
    GTEST_SKIP() << "this backend works inside one process only";
  } else {
    constexpr std::uint64_t kShare = 10;
    constexpr std::uint64_t kPill = 1'000'000;
    struct Board {
      std::atomic<std::uint64_t> count;
      std::atomic<std::uint64_t> sum;
    };
    Shared<Board> board(kZeroFilled);
    TypeParam queue = F::make(16);
    Child consumer([&] {
      typename F::Value out{};
      for (;;) {
        const QueueStatus status = pop_for(queue, out, 30s);
        if (status != QueueStatus::kOk) return status == QueueStatus::kClosed ? 1 : 2;
        const std::uint64_t k = this->key_of(out);
        if (k == kPill) return 0;
        board->sum.fetch_add(k);
        board->count.fetch_add(1);
      }
    });
    const auto produce_share = [&](std::uint64_t first) {
      return [&queue, first, this] {
        for (std::uint64_t k = first; k < first + kShare; ++k) {
          if (queue.push(this->item(k)) != QueueStatus::kOk) return 1;
        }
        return 0;
      };
    };
    Child a(produce_share(0));
    EXPECT_EQ(a.join(30s), ExitStatus::exited(0));
    ASSERT_TRUE(eventually([&] { return board->count.load() == kShare; }, 30s)) << board->count.load();
    // Long enough for a consumer that took A's exit for an end of file to
    // have done so (its checks run every few ms); B's items are checked
    // whatever the timing.
    std::this_thread::sleep_for(100ms);
    Child b([&] {
      if (produce_share(kShare)() != 0) return 1;
      return queue.push(this->item(kPill)) == QueueStatus::kOk ? 0 : 1;
    });
    EXPECT_EQ(b.join(30s), ExitStatus::exited(0));
    EXPECT_EQ(consumer.join(60s), ExitStatus::exited(0)) << "1: kClosed, 2: timed out";
    EXPECT_EQ(board->count.load(), 2 * kShare);
    EXPECT_EQ(board->sum.load(), (2 * kShare) * (2 * kShare - 1) / 2);
  }
}

// Every consumer that ever popped is gone: a process's first push fails
// with std::system_error(EPIPE) instead of going where nobody reads.
TYPED_TEST_P(QueueConformance, PushAfterEveryConsumerIsGoneFails) {
  using F = QueueFactory<TypeParam>;
  if constexpr (!queue_conformance::across_processes<TypeParam>() || !F::kDetectsPeerDeath) {
    GTEST_SKIP() << "this backend does not detect dead peers";
  } else {
    TypeParam queue = F::make(16);
    ASSERT_NO_FATAL_FAILURE(this->consume_one_and_leave(queue));
    Child late([&] {
      try {
        (void)queue.push(this->item(1));
        return 1;
      } catch (const std::system_error& error) {
        return error.code().value() == EPIPE ? 0 : 2;
      }
    });
    EXPECT_EQ(late.join(30s), ExitStatus::exited(0)) << "1: the push was accepted, 2: another error";
  }
}

// Every consumer left normally (not killed): a producer blocked on the full
// queue gets std::system_error(EPIPE) instead of waiting for ever.
TYPED_TEST_P(QueueConformance, EveryConsumerGoneFailsTheBlockedProducer) {
  using F = QueueFactory<TypeParam>;
  if constexpr (!queue_conformance::across_processes<TypeParam>() || !F::kDetectsPeerDeath) {
    GTEST_SKIP() << "this backend does not detect dead peers";
  } else {
    TypeParam queue = F::make(2);
    ASSERT_NO_FATAL_FAILURE(this->consume_one_and_leave(queue));
    std::uint64_t i = 1;
    while (queue.try_push(this->item(i)) == QueueStatus::kOk) ++i;
    try {
      (void)queue.push(this->item(i));
      FAIL() << "push with every consumer gone returned";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), EPIPE);
    }
  }
}

REGISTER_TYPED_TEST_SUITE_P(QueueConformance, Lifecycle, FifoOrderOverSeveralLapsSingleThreaded,
                            TryPushOnFullAndTryPopOnEmpty, TimedPushAndPopTimeOutNotBeforeTheDeadline,
                            CloseRefusesPushesAndDrainsPops, ZeroCapacityIsRejected,
                            CloseWakesBlockedPopThreads, CloseWakesBlockedPushThreads,
                            StressThreadsExactlyOnceInOrder, StressProcessesExactlyOnceInOrder,
                            KilledConsumerFailsTheBlockedProducer, KilledProducerLosesNothingAndCloseEndsTheStream,
                            StaggeredProducersLoseNothing, PushAfterEveryConsumerIsGoneFails,
                            EveryConsumerGoneFailsTheBlockedProducer);

}  // namespace mpkit::test
