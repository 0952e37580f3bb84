// SpscRing and MpmcRing (the `lockfree` backend): the queue conformance
// suite, plus what is particular to the rings -- capacity rounding, batches,
// wrap-around of the free-running positions, and positions stranded by a
// SIGKILL between claiming and releasing a slot.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "mpkit/ipc/mpmc_ring.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "mpkit/ipc/spsc_ring.hpp"
#include "queue_conformance.hpp"
#include "test_support.hpp"

namespace mpkit {

/// A 64-byte payload whose every word depends on the key: a torn copy shows.
struct Payload64 {
  std::uint64_t key;
  std::uint64_t check[7];
};
static_assert(sizeof(Payload64) == 64);

namespace test {

struct Payload64Items {
  using Value = Payload64;
  static Value encode(std::uint64_t key) {
    Value v{};
    v.key = key;
    for (std::uint64_t i = 0; i < 7; ++i) v.check[i] = key * 0x9E3779B97F4A7C15ULL + i;
    return v;
  }
  static std::uint64_t decode(const Value& v) {
    for (std::uint64_t i = 0; i < 7; ++i) {
      if (v.check[i] != v.key * 0x9E3779B97F4A7C15ULL + i) return kCorruptKey;
    }
    return v.key;
  }
};

template <>
struct QueueFactory<SpscRing<std::uint64_t>>
    : Registered<SpscRingBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "SpscRingU64"; }
};

template <>
struct QueueFactory<SpscRing<Payload64>> : Registered<SpscRingBackend, Payload64Items> {
  static std::string name() { return "SpscRingPayload64"; }
};

template <>
struct QueueFactory<MpmcRing<std::uint64_t>>
    : Registered<MpmcRingBackend, IntegerItems<std::uint64_t>> {
  static std::string name() { return "MpmcRingU64"; }
};

template <>
struct QueueFactory<MpmcRing<Payload64>> : Registered<MpmcRingBackend, Payload64Items> {
  static std::string name() { return "MpmcRingPayload64"; }
};

using RingQueues = ::testing::Types<SpscRing<std::uint64_t>, SpscRing<Payload64>, MpmcRing<std::uint64_t>,
                                    MpmcRing<Payload64>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Ring, QueueConformance, RingQueues, QueueNames);

}  // namespace test

// Strands a position on purpose: what a producer or consumer killed between
// its CAS and its release leaves behind.
template <class T>
struct MpmcRingTestAccess {
  // Claims the next push position and records the claimer, never publishes.
  static void claim_push_and_abandon(MpmcRing<T>& ring) {
    auto& c = *ring.control_;
    c.producers.add(current_pid());
    const std::uint64_t pos = c.tail.fetch_add(1);
    ring.header(pos)->claim.store(ring.claim_word(pos, MpmcRing<T>::kProducerRole));
  }
  // Claims the next pop position (which must hold an item), never frees it.
  static void claim_pop_and_abandon(MpmcRing<T>& ring) {
    auto& c = *ring.control_;
    c.consumers.add(current_pid());
    const std::uint64_t pos = c.head.fetch_add(1);
    ring.header(pos)->claim.store(ring.claim_word(pos, MpmcRing<T>::kConsumerRole));
  }
  // Claims the next push position without recording anything (killed
  // between the CAS and the claim store).
  static void claim_push_silently(MpmcRing<T>& ring) { (void)ring.control_->tail.fetch_add(1); }
};

namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;

template <class Ring>
void expect_capacity_rule(const char* type) {
  EXPECT_EQ(Ring::create(2).capacity(), 2U);
  EXPECT_EQ(Ring::create(3).capacity(), 4U);  // rounded up, never down
  EXPECT_EQ(Ring::create(1000).capacity(), 1024U);
  EXPECT_EQ(Ring::create(1024).capacity(), 1024U);
  for (std::size_t bad : {std::size_t{0}, (std::size_t{1} << 31) + 1}) {
    try {
      (void)Ring::create(bad);
      ADD_FAILURE() << type << " accepted capacity " << bad;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(type), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("capacity"), std::string::npos) << error.what();
    }
  }
}

TEST(RingQueueTest, CapacityIsRoundedUpToAPowerOfTwo) {
  expect_capacity_rule<SpscRing<std::uint64_t>>("SpscRing");
  expect_capacity_rule<MpmcRing<std::uint64_t>>("MpmcRing");
}

TEST(RingQueueTest, SmallestRingsFillAndEmptyInTurn) {
  auto spsc = SpscRing<std::uint64_t>::create(1);
  auto mpmc = MpmcRing<std::uint64_t>::create(1);
  EXPECT_EQ(spsc.capacity(), 1U);
  EXPECT_EQ(mpmc.capacity(), 2U);  // Vyukov's sequence numbers need two slots
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(spsc.try_push(i), QueueStatus::kOk);
    ASSERT_EQ(spsc.try_push(i), QueueStatus::kFull);
    ASSERT_EQ(mpmc.try_push(2 * i), QueueStatus::kOk);
    ASSERT_EQ(mpmc.try_push(2 * i + 1), QueueStatus::kOk);
    ASSERT_EQ(mpmc.try_push(i), QueueStatus::kFull);
    ASSERT_EQ(spsc.try_pop(out), QueueStatus::kOk);
    ASSERT_EQ(out, i);
    ASSERT_EQ(mpmc.try_pop(out), QueueStatus::kOk);
    ASSERT_EQ(out, 2 * i);
    ASSERT_EQ(mpmc.try_pop(out), QueueStatus::kOk);
    ASSERT_EQ(out, 2 * i + 1);
    ASSERT_EQ(mpmc.try_pop(out), QueueStatus::kEmpty);
  }
}

TEST(RingQueueTest, SpscBatchesMoveTheLongestPrefixThatFits) {
  auto ring = SpscRing<std::uint64_t>::create(8);
  std::vector<std::uint64_t> in(20);
  for (std::uint64_t i = 0; i < in.size(); ++i) in[i] = i;
  EXPECT_EQ(ring.try_push_many(std::span<const std::uint64_t>(in).first(5)), 5U);
  EXPECT_EQ(ring.try_push_many(std::span<const std::uint64_t>(in).subspan(5)), 3U);  // 3 fit
  EXPECT_EQ(ring.try_push_many(std::span<const std::uint64_t>(in).subspan(8)), 0U);  // full
  std::array<std::uint64_t, 6> out{};
  EXPECT_EQ(ring.try_pop_many(out), 6U);
  for (std::uint64_t i = 0; i < 6; ++i) EXPECT_EQ(out[i], i);
  EXPECT_EQ(ring.try_push_many(std::span<const std::uint64_t>(in).subspan(8)), 6U);  // wraps
  std::uint64_t next = 6;
  std::size_t got = 0;
  while ((got = ring.try_pop_many(out)) != 0) {
    for (std::size_t i = 0; i < got; ++i) EXPECT_EQ(out[i], next++);
  }
  EXPECT_EQ(next, 14U);
  ring.close();
  EXPECT_EQ(ring.try_push_many(in), 0U);
  EXPECT_EQ(ring.try_pop_many(out), 0U);
  EXPECT_TRUE(ring.is_closed());
}

TEST(RingQueueTest, SpscRegistersTheProcessesThatPushAndPop) {
  auto ring = SpscRing<std::uint64_t>::create(4);
  EXPECT_EQ(ring.producer_pid(), 0);
  EXPECT_EQ(ring.consumer_pid(), 0);
  ASSERT_EQ(ring.push(1), QueueStatus::kOk);
  EXPECT_EQ(ring.producer_pid(), ::getpid());
  Child child([&] {
    std::uint64_t out = 0;
    return ring.pop(out) == QueueStatus::kOk && out == 1 ? 0 : 1;
  });
  ASSERT_EQ(child.join(10s), ExitStatus::exited(0));
  EXPECT_EQ(ring.consumer_pid(), child.pid());
}

// Slot indices wrap many times over a small ring between two processes.
TEST(RingQueueTest, SmallRingsWrapAroundAcrossProcesses) {
  constexpr std::uint64_t kItems = 200'000;
  auto spsc = SpscRing<std::uint64_t>::create(2);
  auto mpmc = MpmcRing<std::uint64_t>::create(2);
  Child producer([&] {
    for (std::uint64_t i = 0; i < kItems; ++i) {
      if (spsc.push(i) != QueueStatus::kOk || mpmc.push(i) != QueueStatus::kOk) return 1;
    }
    return 0;
  });
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  for (std::uint64_t i = 0; i < kItems; ++i) {
    ASSERT_EQ(spsc.pop(a), QueueStatus::kOk);
    ASSERT_EQ(mpmc.pop(b), QueueStatus::kOk);
    ASSERT_EQ(a, i);
    ASSERT_EQ(b, i);
  }
  EXPECT_EQ(producer.join(30s), ExitStatus::exited(0));
}

// A producer that streams in bursts and pauses between them: the consumer
// slips behind inside each burst and must still take every item, in order,
// at each pause and at the close that ends the stream (capacity 4 makes the
// slip's target a single item, 4096 a quarter of the ring).
TEST(RingQueueTest, SpscBurstsWithPausesArriveWholeAndTheCloseEndsTheSlip) {
  constexpr std::uint64_t kBursts = 40;
  constexpr std::uint64_t kBurst = 300;
  for (const std::size_t capacity : {std::size_t{4}, std::size_t{4096}}) {
    auto ring = SpscRing<std::uint64_t>::create(capacity);
    Child producer([&] {
      for (std::uint64_t b = 0; b < kBursts; ++b) {
        for (std::uint64_t i = 0; i < kBurst; ++i) {
          if (ring.push(b * kBurst + i) != QueueStatus::kOk) return 1;
        }
        ::usleep(200);
      }
      ring.close();
      return 0;
    });
    std::uint64_t out = 0;
    for (std::uint64_t i = 0; i < kBursts * kBurst; ++i) {
      ASSERT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kOk) << capacity;
      ASSERT_EQ(out, i) << capacity;
    }
    EXPECT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kClosed) << capacity;
    EXPECT_EQ(producer.join(30s), ExitStatus::exited(0));
  }
}

// The slip never makes a timed pop give up early, nor hides an item pushed
// while it waits.
TEST(RingQueueTest, SpscTimedPopAfterARunTimesOutNoEarlierThanItsDeadline) {
  auto ring = SpscRing<std::uint64_t>::create(64);
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_EQ(ring.try_push(i), QueueStatus::kOk);
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  const auto start = Clock::now();
  EXPECT_EQ(ring.pop_until(out, start + 30ms), QueueStatus::kTimedOut);
  EXPECT_GE(Clock::now() - start, 30ms);
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_EQ(ring.try_push(i), QueueStatus::kOk);
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  Child late([&] {  // the producer role moves to the child; we only pop from here on
    ::usleep(20'000);
    return ring.push(77) == QueueStatus::kOk ? 0 : 1;
  });
  ASSERT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kOk);
  EXPECT_EQ(out, 77U);
  EXPECT_EQ(late.join(10s), ExitStatus::exited(0));
}

// A producer that exited is no end of file: another process may take the
// producer role. The consumer drains, waits, and gets the next producer's
// items; close() ends the stream.
TEST(RingQueueTest, SpscGoneProducerIsNoEndOfFile) {
  auto ring = SpscRing<std::uint64_t>::create(8);
  Child producer([&] {
    for (std::uint64_t i = 0; i < 5; ++i) (void)ring.push(i);
    return 0;  // exits without close()
  });
  ASSERT_EQ(producer.join(10s), ExitStatus::exited(0));
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kOk);
    EXPECT_EQ(out, i);
  }
  EXPECT_EQ(ring.pop_until(out, deadline_after(50ms)), QueueStatus::kTimedOut);
  Child next([&] { return ring.push(5) == QueueStatus::kOk ? 0 : 1; });
  EXPECT_EQ(next.join(10s), ExitStatus::exited(0));
  ASSERT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kOk);
  EXPECT_EQ(out, 5U);
  ring.close();
  EXPECT_EQ(ring.pop_until(out, deadline_after(10s)), QueueStatus::kClosed);
}

TEST(RingQueueTest, SpscDeadConsumerIsNamedInTheError) {
  auto ring = SpscRing<std::uint64_t>::create(2);
  Child consumer([&] {
    std::uint64_t out = 0;
    return ring.pop(out) == QueueStatus::kOk ? 0 : 1;
  });
  ASSERT_EQ(ring.push(1), QueueStatus::kOk);
  ASSERT_EQ(consumer.join(10s), ExitStatus::exited(0));
  while (ring.try_push(2) == QueueStatus::kOk) {
  }
  try {
    (void)ring.push(3);
    FAIL() << "push on a full ring with no consumer returned";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), EPIPE);
    EXPECT_NE(std::string(error.what()).find(std::to_string(consumer.pid())), std::string::npos) << error.what();
  }
  // A timed push that runs out before a slice has passed just times out.
  EXPECT_EQ(ring.push_until(4, Clock::now() + 1ms), QueueStatus::kTimedOut);
}

TEST(RingQueueTest, MpmcProducerKilledHoldingAPositionStrandsItAndIsNamed) {
  auto ring = MpmcRing<std::uint64_t>::create(8);
  ASSERT_EQ(ring.push(7), QueueStatus::kOk);
  Child producer([&] {
    MpmcRingTestAccess<std::uint64_t>::claim_push_and_abandon(ring);
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(producer.join(10s), ExitStatus::killed_by(SIGKILL));
  std::uint64_t out = 0;
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);  // the item before the hole
  EXPECT_EQ(out, 7U);
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  try {
    (void)ring.pop(out);
    FAIL() << "pop at a stranded position returned";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), EOWNERDEAD);
    EXPECT_NE(std::string(error.what()).find("producer " + std::to_string(producer.pid())), std::string::npos)
        << error.what();
  }
  ring.close();
  // Closed, but a claimed position is never "drained": blocking pops keep failing loudly.
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  EXPECT_THROW((void)ring.pop(out), std::system_error);
}

TEST(RingQueueTest, MpmcConsumerKilledHoldingAPositionStrandsItAndIsNamed) {
  auto ring = MpmcRing<std::uint64_t>::create(2);
  ASSERT_EQ(ring.push(1), QueueStatus::kOk);
  ASSERT_EQ(ring.push(2), QueueStatus::kOk);
  Child consumer([&] {
    MpmcRingTestAccess<std::uint64_t>::claim_pop_and_abandon(ring);  // takes item 1, never frees
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(consumer.join(10s), ExitStatus::killed_by(SIGKILL));
  std::uint64_t out = 0;
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, 2U);
  try {
    (void)ring.push(3);  // position 2 needs slot 0, which the dead consumer holds
    FAIL() << "push at a stranded slot returned";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), EOWNERDEAD);
    EXPECT_NE(std::string(error.what()).find("consumer " + std::to_string(consumer.pid())), std::string::npos)
        << error.what();
  }
}

TEST(RingQueueTest, MpmcUnrecordedClaimIsDeclaredStrandedAfterAWhile) {
  auto ring = MpmcRing<std::uint64_t>::create(4);
  MpmcRingTestAccess<std::uint64_t>::claim_push_silently(ring);
  std::uint64_t out = 0;
  const auto start = Clock::now();
  EXPECT_EQ(pop_for(ring, out, 50ms), QueueStatus::kTimedOut);  // not yet declared
  try {
    (void)ring.pop(out);
    FAIL() << "pop at a silently stranded position returned";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), EOWNERDEAD);
  }
  EXPECT_GE(Clock::now() - start, MpmcRing<std::uint64_t>::kStrandedAfter);
}

}  // namespace
}  // namespace mpkit
