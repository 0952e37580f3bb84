// LockedRing, PipeQueue, BoostSpscQueue, BoostMessageQueue and the busy-polled
// SpinningBoostSpsc: the queue conformance suite, plus what is particular to
// each backend -- owner-death repair of the locked ring, EPIPE / end of file
// and untorn frames of the pipe, the compile-time capacity of Boost's
// spsc_queue, the name of Boost's message queue.

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mpkit/ipc/boost_message_queue.hpp"
#include "mpkit/ipc/boost_spsc_queue.hpp"
#include "mpkit/ipc/detail/spinning_boost_spsc.hpp"
#include "mpkit/ipc/locked_ring.hpp"
#include "mpkit/ipc/pipe_queue.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "queue_conformance.hpp"
#include "test_support.hpp"

namespace mpkit {

namespace {

/// A payload whose every word depends on the key: a torn copy shows.
template <std::size_t Words>
struct CheckedPayload {
  std::uint64_t key;
  std::uint64_t check[Words - 1];
};
using Payload64 = CheckedPayload<8>;
static_assert(sizeof(Payload64) == 64);

template <std::size_t Words>
struct CheckedItems {
  using Value = CheckedPayload<Words>;
  static std::uint64_t word(std::uint64_t key, std::uint64_t i) { return key * 0x9E3779B97F4A7C15ULL + i; }
  static Value encode(std::uint64_t key) {
    Value v{};
    v.key = key;
    for (std::uint64_t i = 0; i + 1 < Words; ++i) v.check[i] = word(key, i);
    return v;
  }
  static std::uint64_t decode(const Value& v) {
    for (std::uint64_t i = 0; i + 1 < Words; ++i) {
      if (v.check[i] != word(v.key, i)) return test::kCorruptKey;
    }
    return v.key;
  }
};

constexpr std::size_t kSpscCapacity = test::kFixedTestCapacity;
using BoostSpscU64 = BoostSpscQueue<std::uint64_t, kSpscCapacity>;
using SpinningBoostSpscU64 = detail::SpinningBoostSpsc<std::uint64_t, kSpscCapacity>;

}  // namespace

namespace test {

template <>
struct QueueFactory<LockedRing<std::uint64_t>>
    : Registered<LockedRingBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "LockedRingU64"; }
};

template <>
struct QueueFactory<LockedRing<Payload64>> : Registered<LockedRingBackend, CheckedItems<8>> {
  static std::string name() { return "LockedRingPayload64"; }
};

template <>
struct QueueFactory<PipeQueue<std::uint64_t>>
    : Registered<PipeQueueBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "PipeQueueU64"; }
};

template <>
struct QueueFactory<PipeQueue<Payload64>> : Registered<PipeQueueBackend, CheckedItems<8>> {
  static std::string name() { return "PipeQueuePayload64"; }
};

// The suite asks for capacities 2 ... 1024; Boost's capacity is a template
// argument, so Registered hands out the 1024-slot queue for any request it
// can hold (as the rings round up) and passes 0 or > 1024 through, to be
// rejected by create().
template <>
struct QueueFactory<BoostSpscU64> : Registered<BoostSpscBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "BoostSpscQueueU64"; }
};

// Busy-polled, so blocked cases burn a CPU until they end; a dead peer is not
// detected (the registry says so), so the Killed* cases are skipped.
template <>
struct QueueFactory<SpinningBoostSpscU64>
    : Registered<SpinningBoostSpscBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "SpinningBoostSpscU64"; }
};

// Boost 1.74's mutex is not robust and has no liveness checks: the registry
// says no peer death is detected.
template <>
struct QueueFactory<BoostMessageQueue<std::uint64_t>>
    : Registered<BoostMessageQueueBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "BoostMessageQueueU64"; }
};

using BackendQueues = ::testing::Types<LockedRing<std::uint64_t>, LockedRing<Payload64>, PipeQueue<std::uint64_t>,
                                       PipeQueue<Payload64>, BoostSpscU64, SpinningBoostSpscU64,
                                       BoostMessageQueue<std::uint64_t>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Backend, QueueConformance, BackendQueues, QueueNames);

}  // namespace test

// Stops a process inside LockedRing's critical section on purpose.
template <class T>
struct LockedRingTestAccess {
  static void lock(LockedRing<T>& ring) { (void)ring.control_->mutex.acquire(); }
  // Takes the lock at a moment the ring has room, as push() would.
  static void lock_with_room(LockedRing<T>& ring) {
    for (;;) {
      lock(ring);
      auto& c = *ring.control_;
      if (c.tail.load() - c.head.load() < c.capacity) return;
      c.mutex.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  // A push killed before its commit point: the slot is written, tail is not.
  // Requires: the lock held and room in the ring.
  static void write_slot_without_commit(LockedRing<T>& ring, const T& value) {
    const std::uint64_t tail = ring.control_->tail.load();
    std::memcpy(ring.slot(tail), &value, sizeof(T));
  }
  // A push killed after its commit point, before unlock and notify.
  static void commit_push(LockedRing<T>& ring, const T& value) {
    const std::uint64_t tail = ring.control_->tail.load();
    std::memcpy(ring.slot(tail), &value, sizeof(T));
    ring.control_->tail.store(tail + 1);
  }
  // A pop killed after its commit point: the item goes with the process.
  static void commit_pop(LockedRing<T>& ring) {
    ring.control_->head.store(ring.control_->head.load() + 1);
  }
  static pid_t owner(LockedRing<T>& ring) { return ring.control_->mutex.owner_guess(); }
};

namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;
using Access = LockedRingTestAccess<std::uint64_t>;

// ---- LockedRing ------------------------------------------------------------

TEST(LockedRingTest, CapacityIsExactAndCheckedByName) {
  EXPECT_EQ(LockedRing<std::uint64_t>::create(3).capacity(), 3U);
  EXPECT_EQ(LockedRing<std::uint64_t>::create(1000).capacity(), 1000U);
  try {
    (void)LockedRing<std::uint64_t>::create(0);
    FAIL() << "capacity 0 accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("LockedRing: capacity"), std::string::npos) << error.what();
  }
}

// A holder killed after writing a slot but before its commit point: the
// item was never pushed; the ring is repaired and nothing else moves.
TEST(LockedRingTest, HolderKilledBeforeCommitLeavesNoTrace) {
  auto ring = LockedRing<std::uint64_t>::create(4);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(ring.push(i), QueueStatus::kOk);
  Child victim([&] {
    Access::lock_with_room(ring);
    Access::write_slot_without_commit(ring, 666);
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(Access::owner(ring), victim.pid());  // died holding the lock
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
    EXPECT_EQ(out, i);
  }
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  EXPECT_EQ(ring.owner_deaths(), 1U);
  for (std::uint64_t i = 10; i < 14; ++i) ASSERT_EQ(ring.try_push(i), QueueStatus::kOk);  // the slot is reused
  EXPECT_EQ(ring.try_push(99), QueueStatus::kFull);
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, 10U);
}

// Killed after the commit point, before unlock and notify: the item is in,
// and a consumer already asleep on the empty ring gets it.
TEST(LockedRingTest, HolderKilledAfterCommitDeliversTheItemToASleepingConsumer) {
  auto ring = LockedRing<std::uint64_t>::create(4);
  Shared<std::atomic<int>> got(0);
  Child consumer([&] {
    std::uint64_t out = 0;
    if (ring.pop(out) != QueueStatus::kOk) return 1;
    got->store(static_cast<int>(out));
    return ring.owner_deaths() == 1 ? 0 : 2;
  });
  std::this_thread::sleep_for(20ms);  // let it park (not required for correctness)
  Child victim([&] {
    Access::lock(ring);
    Access::commit_push(ring, 42);
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(consumer.join(10s), ExitStatus::exited(0));
  EXPECT_EQ(got->load(), 42);
}

// A consumer killed after its commit point took its item along: the others
// see the rest, in order, and nothing twice.
TEST(LockedRingTest, ConsumerKilledAfterCommitTakesOnlyItsItem) {
  auto ring = LockedRing<std::uint64_t>::create(8);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_EQ(ring.push(i), QueueStatus::kOk);
  Child victim([&] {
    Access::lock(ring);
    Access::commit_pop(ring);  // takes item 0
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  std::uint64_t out = 0;
  for (std::uint64_t i = 1; i < 5; ++i) {
    ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
    EXPECT_EQ(out, i);
  }
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  EXPECT_EQ(ring.owner_deaths(), 1U);
}

// Live traffic: two producer processes and this consumer while a third
// process is SIGKILLed holding the lock mid-push. Every item of the live
// producers arrives exactly once and in order; the victim's never does.
TEST(LockedRingTest, ProcessKilledHoldingTheLockMidStreamLosesNothingElse) {
  test::Watchdog watchdog(60s);
  constexpr std::uint64_t kPerProducer = 20'000;
  auto ring = LockedRing<std::uint64_t>::create(64);
  struct Board {
    std::atomic<int> holding{0};
  };
  Shared<Board> board;
  std::vector<std::unique_ptr<Child>> producers;
  for (std::uint64_t p = 0; p < 2; ++p) {
    producers.push_back(std::make_unique<Child>([&, p] {
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        if (ring.push((p << 40) | i) != QueueStatus::kOk) return 1;
      }
      return 0;
    }));
  }
  Child victim([&]() -> int {
    std::this_thread::sleep_for(5ms);  // in the middle of the stream
    Access::lock_with_room(ring);
    Access::write_slot_without_commit(ring, std::uint64_t{7} << 40);
    board->holding.store(1);
    for (;;) ::pause();  // stopped inside the critical section until killed
  });
  // The killer is a process of its own: this one may be blocked on the lock
  // the victim holds (that is the point).
  const pid_t victim_pid = victim.pid();
  Child killer([&] {
    if (!test::eventually([&] { return board->holding.load() != 0; }, 20s)) return 1;
    std::this_thread::sleep_for(2ms);  // others now queue on the lock
    return ::kill(victim_pid, SIGKILL) == 0 ? 0 : 2;
  });
  std::uint64_t next[2] = {0, 0};
  std::uint64_t out = 0;
  for (std::uint64_t n = 0; n < 2 * kPerProducer; ++n) {
    const QueueStatus status = pop_for(ring, out, 20s);
    ASSERT_EQ(status, QueueStatus::kOk) << "after " << n << " items";
    const std::uint64_t p = out >> 40;
    ASSERT_LT(p, 2U) << "an item that was never committed was delivered";
    ASSERT_EQ(out & ((std::uint64_t{1} << 40) - 1), next[p]) << "producer " << p;
    ++next[p];
  }
  for (auto& child : producers) EXPECT_EQ(child->join(20s), ExitStatus::exited(0));
  EXPECT_EQ(killer.join(20s), ExitStatus::exited(0));
  EXPECT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  EXPECT_EQ(ring.owner_deaths(), 1U);
  ASSERT_EQ(ring.push(5), QueueStatus::kOk);  // still usable
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, 5U);
}

// ---- PipeQueue -------------------------------------------------------------

TEST(PipeQueueTest, CapacityCountsWholePagesOfFrames) {
  // One page holds 512 8-byte frames; the pipe keeps one page spare.
  EXPECT_EQ(PipeQueue<std::uint64_t>::create(1).capacity(), 512U);
  EXPECT_EQ(PipeQueue<std::uint64_t>::create(512).capacity(), 512U);
  EXPECT_GE(PipeQueue<std::uint64_t>::create(2000).capacity(), 2000U);
  try {
    (void)PipeQueue<std::uint64_t>::create(0);
    FAIL() << "capacity 0 accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("PipeQueue: capacity"), std::string::npos) << error.what();
  }
}

// Frames that do not divide a page: the counted capacity is always
// writable, whatever the pages hold, so try_push never blocks and never
// fails below capacity.
TEST(PipeQueueTest, CountedCapacityHoldsWithFramesStraddlingPageEnds) {
  using Odd = CheckedPayload<3>;  // 24 bytes: 170 per page, 16 bytes left over
  using Items = CheckedItems<3>;
  auto queue = PipeQueue<Odd>::create(200);
  const std::size_t capacity = queue.capacity();
  ASSERT_GE(capacity, 200U);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  Odd out{};
  const auto start = Clock::now();
  for (int round = 0; round < 20; ++round) {
    while (queue.size_guess() < capacity) ASSERT_EQ(queue.try_push(Items::encode(next_in++)), QueueStatus::kOk);
    EXPECT_EQ(queue.try_push(Items::encode(0)), QueueStatus::kFull);
    const std::size_t take = 1 + static_cast<std::size_t>(round) * 37 % capacity;  // a different cut each time
    for (std::size_t i = 0; i < take; ++i) {
      ASSERT_EQ(queue.try_pop(out), QueueStatus::kOk);
      ASSERT_EQ(Items::decode(out), next_out++);
    }
  }
  EXPECT_LT(test::seconds_since(start), 5.0);
}

TEST(PipeQueueTest, DeadReaderGivesEpipeNotSigpipe) {
  auto queue = PipeQueue<std::uint64_t>::create(16);
  Child consumer([&] {
    queue.consumer_only();
    std::uint64_t out = 0;
    return queue.pop(out) == QueueStatus::kOk && out == 1 ? 0 : 1;
  });
  queue.producer_only();  // now no read end is left once the consumer exits
  ASSERT_EQ(queue.push(1), QueueStatus::kOk);
  ASSERT_EQ(consumer.join(10s), ExitStatus::exited(0));
  try {
    (void)queue.push(2);
    FAIL() << "push with no reader returned";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), EPIPE);
    EXPECT_NE(std::string(error.what()).find("consumer"), std::string::npos) << error.what();
  }
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "SIGPIPE left pending";
}

TEST(PipeQueueTest, LastWriterGoneReadsAsEndOfFile) {
  auto queue = PipeQueue<std::uint64_t>::create(16);
  Child producer([&] {
    queue.producer_only();
    for (std::uint64_t i = 0; i < 3; ++i) {
      if (queue.push(i) != QueueStatus::kOk) return 1;
    }
    return 0;  // exits without close()
  });
  queue.consumer_only();
  ASSERT_EQ(producer.join(10s), ExitStatus::exited(0));
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
    EXPECT_EQ(out, i);
  }
  const auto start = Clock::now();
  EXPECT_EQ(queue.pop(out), QueueStatus::kClosed);  // the kernel's EOF, no slice needed
  EXPECT_EQ(queue.try_pop(out), QueueStatus::kClosed);
  EXPECT_LT(test::seconds_since(start), 1.0);
  EXPECT_FALSE(queue.is_closed());
}

// PIPE_BUF-sized frames from four producer processes to two consumer
// processes: every frame arrives whole, exactly once, in per-producer order.
TEST(PipeQueueTest, FramesOfPipeBufStayWholeWithSeveralProducersAndConsumers) {
  using Big = CheckedPayload<512>;  // 4096 bytes = PIPE_BUF
  using Items = CheckedItems<512>;
  static_assert(sizeof(Big) == 4096);
  constexpr int kProducers = 4;
  constexpr int kConsumers = 2;
  constexpr std::uint64_t kPerProducer = 3000;
  auto queue = PipeQueue<Big>::create(64);
  struct Tally {
    std::uint64_t count[kProducers];
    std::uint64_t sum[kProducers];
    std::uint64_t last_plus_one[kProducers];
    std::uint64_t torn;
    std::uint64_t order_errors;
  };
  Shared<Tally> tally[kConsumers];
  std::vector<std::unique_ptr<Child>> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(std::make_unique<Child>([&, c] {
      Big out{};
      Tally& t = *tally[c];
      while (queue.pop(out) == QueueStatus::kOk) {
        const std::uint64_t k = Items::decode(out);
        const std::uint64_t p = k >> 40;
        if (k == test::kCorruptKey || p >= kProducers) {
          ++t.torn;
          continue;
        }
        const std::uint64_t s = k & ((std::uint64_t{1} << 40) - 1);
        if (s + 1 <= t.last_plus_one[p]) ++t.order_errors;
        t.last_plus_one[p] = s + 1;
        ++t.count[p];
        t.sum[p] += s;
      }
      return 0;
    }));
  }
  std::vector<std::unique_ptr<Child>> producers;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    producers.push_back(std::make_unique<Child>([&, p] {
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        if (queue.push(Items::encode((p << 40) | i)) != QueueStatus::kOk) return 1;
      }
      return 0;
    }));
  }
  for (auto& child : producers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
  queue.close();
  for (auto& child : consumers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
  for (int p = 0; p < kProducers; ++p) {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    for (int c = 0; c < kConsumers; ++c) {
      count += tally[c]->count[p];
      sum += tally[c]->sum[p];
    }
    EXPECT_EQ(count, kPerProducer) << "producer " << p;
    EXPECT_EQ(sum, kPerProducer * (kPerProducer - 1) / 2) << "producer " << p;
  }
  for (int c = 0; c < kConsumers; ++c) {
    EXPECT_EQ(tally[c]->torn, 0U) << "consumer " << c;
    EXPECT_EQ(tally[c]->order_errors, 0U) << "consumer " << c;
  }
}

// ---- BoostSpscQueue ----------------------------------------------------------

TEST(BoostSpscQueueTest, RuntimeCapacityMustMatchTheTemplateArgument) {
  EXPECT_EQ(BoostSpscU64::create(kSpscCapacity).capacity(), kSpscCapacity);
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, kSpscCapacity - 1, kSpscCapacity + 1}) {
    try {
      (void)BoostSpscU64::create(bad);
      ADD_FAILURE() << "capacity " << bad << " accepted";
    } catch (const std::invalid_argument& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find("BoostSpscQueue: capacity"), std::string::npos) << what;
      EXPECT_NE(what.find(std::to_string(kSpscCapacity)), std::string::npos) << what;
      EXPECT_NE(what.find("(got " + std::to_string(bad) + ")"), std::string::npos) << what;
    }
  }
  auto small = BoostSpscQueue<std::uint64_t, 3>::create(3);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(small.try_push(i), QueueStatus::kOk);
  EXPECT_EQ(small.try_push(9), QueueStatus::kFull);  // exactly Capacity items, Boost's spare slot hidden
}

// ---- BoostMessageQueue -------------------------------------------------------

bool segment_exists(const std::string& name) { return std::filesystem::exists("/dev/shm" + name); }

TEST(BoostMessageQueueTest, CreatorRemovesTheNameAndAForkedChildNever) {
  std::string name;
  {
    auto queue = BoostMessageQueue<std::uint64_t>::create(4);
    name = queue.name();
    EXPECT_EQ(name.rfind("/mpkit." + std::to_string(::getpid()) + ".", 0), 0U) << name;
    EXPECT_TRUE(segment_exists(name)) << name;
    Child child([&] {
      { auto moved = std::move(queue); }  // the child's copy is destroyed here
      return 0;
    });
    ASSERT_EQ(child.join(10s), ExitStatus::exited(0));
    EXPECT_TRUE(segment_exists(name)) << "a forked child removed " << name;
    std::uint64_t out = 0;
    ASSERT_EQ(queue.push(5), QueueStatus::kOk);  // still works in the creator
    ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
    EXPECT_EQ(out, 5U);
  }
  EXPECT_FALSE(segment_exists(name)) << name << " left behind";
}

// An oversize queue is refused before anything is created (Boost would
// otherwise size and initialise a segment for every message, filling
// /dev/shm). In a child, so that a regression is a killed child, not a
// filled test process; its segments are removed whatever happens.
TEST(BoostMessageQueueTest, OversizeIsRefusedBeforeAnythingIsCreated) {
  const auto expect_refused = [](std::size_t capacity, int expected_errno) {
    Child child([capacity, expected_errno] {
      try {
        (void)BoostMessageQueue<std::uint64_t>::create(capacity);
        return 1;
      } catch (const std::invalid_argument& error) {
        return expected_errno == 0 && std::string(error.what()).find("capacity") != std::string::npos ? 0 : 2;
      } catch (const std::system_error& error) {
        return error.code().value() == expected_errno ? 0 : 3;
      }
    });
    const ExitStatus status = child.join(10s);
    const std::string prefix = "mpkit." + std::to_string(child.pid()) + ".";
    bool left = false;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) {
        left = true;
        std::filesystem::remove(entry.path());
      }
    }
    EXPECT_EQ(status, ExitStatus::exited(0)) << "capacity " << capacity << " (1: created, 2/3: another error)";
    EXPECT_FALSE(left) << "a segment was created for capacity " << capacity;
  };
  expect_refused(std::size_t{1} << 40, 0);
  expect_refused(std::size_t{1} << 32, 0);
  // Within 2^31 but larger than /dev/shm has free: ENOSPC (8-byte messages
  // take more than 8 bytes each in Boost's segment).
  struct statvfs shm {};
  ASSERT_EQ(::statvfs("/dev/shm", &shm), 0);
  const std::uint64_t free_slots = std::uint64_t{shm.f_bavail} * shm.f_frsize / 8 + 1;
  if (free_slots <= (std::uint64_t{1} << 31)) expect_refused(static_cast<std::size_t>(free_slots), ENOSPC);
}

TEST(BoostMessageQueueTest, CloseWakesABlockedPopInAnotherProcessWithinSlices) {
  auto queue = BoostMessageQueue<std::uint64_t>::create(4);
  Child consumer([&] {
    std::uint64_t out = 0;
    return queue.pop(out) == QueueStatus::kClosed ? 0 : 1;
  });
  std::this_thread::sleep_for(30ms);
  queue.close();
  EXPECT_EQ(consumer.join(10s), ExitStatus::exited(0));
}

}  // namespace
}  // namespace mpkit
