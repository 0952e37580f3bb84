// ByteRing: variable-size byte messages. Lifecycle and bad input; FIFO of
// random-size messages over many laps with every byte checked; exact
// fill/empty; timed operations; close; caller buffers; stress with threads
// (names contain "Threads": the TSan preset runs them) and processes,
// checking count, checksum and per-producer order; killed peers and killed
// lock holders. And, through a fixed-size adapter, the queue conformance
// suite every backend passes.

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mpkit/ipc/byte_ring.hpp"
#include "queue_conformance.hpp"
#include "test_support.hpp"

namespace mpkit {

// Reaches into the control block to play a process killed inside a
// critical section, or memory corruption.
struct ByteRingTestAccess {
  static Mutex& producer_lock(ByteRing& ring) { return ring.control_->producer_lock; }
  static Mutex& consumer_lock(ByteRing& ring) { return ring.control_->consumer_lock; }
  // A push killed before its commit point: a record written beyond tail
  // (room permitting), tail not moved. Requires the producer lock.
  static void write_record_without_commit(ByteRing& ring, std::span<const std::byte> message) {
    ring.write_record(ring.control_->tail.load(), message);
  }
  // Memory corruption: the first record's header claims an impossible length.
  static void corrupt_first_header(ByteRing& ring) {
    const std::uint64_t length = ring.capacity_bytes() * 2;
    std::memcpy(ring.data_ + (ring.control_->head.load() & ring.control_->mask), &length, sizeof length);
  }
};

namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;
using test::Watchdog;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// ---- message codec ----------------------------------------------------------
// Message `seq` of producer `p` has key = p << 40 | seq, a length chosen from
// the key, and bytes that all depend on the key and their index, so a torn,
// shifted or mixed-up copy shows. Its first 8 bytes are the key itself
// (when it is that long), so a consumer of several producers can tell whose
// it is.

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

constexpr std::uint64_t make_key(std::uint64_t producer, std::uint64_t seq) { return (producer << 40) | seq; }
constexpr std::uint64_t producer_of(std::uint64_t key) { return key >> 40; }
constexpr std::uint64_t seq_of(std::uint64_t key) { return key & ((std::uint64_t{1} << 40) - 1); }

// Sizes over the whole range: often tiny, sometimes large, now and then the
// extremes (0 bytes, 1, 7, 8, and the longest the ring takes).
std::size_t length_for(std::uint64_t key, std::size_t max, std::size_t min = 0) {
  const std::uint64_t r = mix(key);
  std::size_t length = 0;
  switch (r % 16) {
    case 0: length = 0; break;
    case 1: length = 1; break;
    case 2: length = 7; break;
    case 3: length = 8; break;
    case 4: length = max; break;
    case 5: case 6: case 7: length = (r >> 8) % (max + 1); break;
    case 8: case 9: case 10: length = (r >> 8) % 257; break;
    default: length = (r >> 8) % 33; break;
  }
  if (length > max) length = max;
  return length < min ? min : length;
}

// Word w of message `key`: the key itself first, then a hash of both.
std::uint64_t word_at(std::uint64_t key, std::size_t w) { return w == 0 ? key : mix(key ^ w); }

void fill(std::uint64_t key, std::span<std::byte> out) {
  for (std::size_t at = 0; at < out.size(); at += 8) {
    const std::uint64_t word = word_at(key, at / 8);
    std::memcpy(out.data() + at, &word, std::min<std::size_t>(8, out.size() - at));
  }
}

std::vector<std::byte> message_for(std::uint64_t key, std::size_t length) {
  std::vector<std::byte> m(length);
  fill(key, m);
  return m;
}

// True if `m` is exactly message `key` of length `length`: every byte.
bool is_message(std::span<const std::byte> m, std::uint64_t key, std::size_t length) {
  if (m.size() != length) return false;
  for (std::size_t at = 0; at < m.size(); at += 8) {
    const std::uint64_t word = word_at(key, at / 8);
    if (std::memcmp(m.data() + at, &word, std::min<std::size_t>(8, m.size() - at)) != 0) return false;
  }
  return true;
}

// The key a message carries (messages of several producers are >= 8 bytes).
std::uint64_t key_in(std::span<const std::byte> m) {
  std::uint64_t key = 0;
  std::memcpy(&key, m.data(), sizeof key);
  return key;
}

std::span<const std::byte> bytes_of(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

// ---- lifecycle and bad input -------------------------------------------------

TEST(ByteRingTest, LifecycleAndObservers) {
  for (int round = 0; round < 3; ++round) {
    auto ring = ByteRing::create(1000);
    EXPECT_EQ(ring.capacity_bytes(), 1024U);  // rounded up, never down
    EXPECT_EQ(ring.max_message_bytes(), 1016U);
    EXPECT_EQ(ring.size_guess(), 0U);
    EXPECT_EQ(ring.bytes_guess(), 0U);
    EXPECT_FALSE(ring.is_closed());
    EXPECT_EQ(ring.producers(), ByteRingProducers::kOne);
    EXPECT_EQ(ring.consumers(), ByteRingConsumers::kOne);
    const auto a = message_for(1, 5);
    ASSERT_EQ(ring.push(bytes_of(a)), QueueStatus::kOk);
    ASSERT_EQ(ring.try_push(bytes_of(a)), QueueStatus::kOk);
    EXPECT_EQ(ring.size_guess(), 2U);
    EXPECT_EQ(ring.bytes_guess(), 32U);  // two records of 8 + 8 bytes
    auto moved = std::move(ring);        // the handle moves; the ring stays
    std::vector<std::byte> out;
    ASSERT_EQ(moved.pop(out), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, 1, 5));
    EXPECT_EQ(moved.size_guess(), 1U);
    moved.close();
    moved.close();  // harmless twice
    EXPECT_TRUE(moved.is_closed());
  }  // destroyed holding a message, closed: nothing to release by hand
}

TEST(ByteRingTest, CapacityIsRoundedUpAndBadCapacityIsNamed) {
  EXPECT_EQ(ByteRing::create(1).capacity_bytes(), ByteRing::kMinCapacityBytes);
  EXPECT_EQ(ByteRing::create(16).capacity_bytes(), 16U);
  EXPECT_EQ(ByteRing::create(17).capacity_bytes(), 32U);
  EXPECT_EQ(ByteRing::create(4096, ByteRingProducers::kMany, ByteRingConsumers::kMany).capacity_bytes(), 4096U);
  for (std::size_t bad : {std::size_t{0}, (std::size_t{1} << 31) + 1}) {
    try {
      (void)ByteRing::create(bad);
      ADD_FAILURE() << "capacity " << bad << " was accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("ByteRing: capacity"), std::string::npos) << error.what();
    }
  }
}

TEST(ByteRingTest, MessageLongerThanTheRingCanHoldIsRejectedNeverTruncated) {
  for (auto producers : {ByteRingProducers::kOne, ByteRingProducers::kMany}) {
    auto ring = ByteRing::create(256, producers);
    const auto too_long = message_for(7, ring.max_message_bytes() + 1);
    const auto longest = message_for(8, ring.max_message_bytes());
    for (int form = 0; form < 3; ++form) {
      try {
        QueueStatus status = QueueStatus::kOk;
        if (form == 0) status = ring.push(bytes_of(too_long));
        if (form == 1) status = ring.try_push(bytes_of(too_long));
        if (form == 2) status = ring.push_until(bytes_of(too_long), Clock::now() + 10s);
        ADD_FAILURE() << "form " << form << " accepted it: " << to_string(status);
      } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("message of 249 bytes"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("max_message_bytes() = 248"), std::string::npos) << error.what();
      }
    }
    EXPECT_EQ(ring.bytes_guess(), 0U);  // nothing went in
    // The longest message fits an empty ring exactly, from any position.
    std::vector<std::byte> out;
    for (std::size_t shift : {0, 8, 120, 248}) {
      const auto pad = message_for(9, shift == 0 ? 0 : shift - 8);
      ASSERT_EQ(ring.push(bytes_of(pad)), QueueStatus::kOk);
      ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
      ASSERT_EQ(ring.push(bytes_of(longest)), QueueStatus::kOk);
      EXPECT_EQ(ring.try_push(bytes_of(message_for(1, 0))), QueueStatus::kFull);  // not one byte left
      ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
      EXPECT_TRUE(is_message(out, 8, ring.max_message_bytes())) << "shift " << shift;
    }
  }
}

// ---- FIFO, wrap-around, full and empty ----------------------------------------

// Random sizes through a small ring, pushing until full and popping a random
// number each round: hundreds of laps, records and payloads split at every
// offset of the end, every byte checked.
TEST(ByteRingTest, FifoOfRandomSizesOverManyLapsChecksEveryByte) {
  for (std::size_t capacity : {std::size_t{64}, std::size_t{1024}}) {
    auto ring = ByteRing::create(capacity);
    const std::size_t max = ring.max_message_bytes();
    std::uint64_t next_in = 0;
    std::uint64_t next_out = 0;
    std::uint64_t bytes_in = 0;
    std::vector<std::byte> out;
    std::array<bool, 4> seen{};  // lengths 0, 1, 7, max went through
    for (int round = 0; round < 4000; ++round) {
      for (;;) {
        const std::size_t length = length_for(next_in, max);
        const QueueStatus status = ring.try_push(bytes_of(message_for(next_in, length)));
        if (status == QueueStatus::kFull) break;
        ASSERT_EQ(status, QueueStatus::kOk);
        bytes_in += detail::byte_record_bytes(length);
        ++next_in;
      }
      const std::uint64_t take = 1 + mix(round) % (next_in - next_out);
      for (std::uint64_t i = 0; i < take; ++i) {
        const std::optional<std::size_t> announced = ring.next_message_bytes();
        ASSERT_EQ(ring.try_pop(out), QueueStatus::kOk);
        const std::size_t length = length_for(next_out, max);
        ASSERT_TRUE(is_message(out, next_out, length)) << "message " << next_out << ", " << out.size() << " bytes";
        ASSERT_EQ(announced, std::optional<std::size_t>(length));
        seen[0] = seen[0] || length == 0;
        seen[1] = seen[1] || length == 1;
        seen[2] = seen[2] || length == 7;
        seen[3] = seen[3] || length == max;
        ++next_out;
      }
    }
    while (next_out < next_in) {
      ASSERT_EQ(ring.try_pop(out), QueueStatus::kOk);
      ASSERT_TRUE(is_message(out, next_out, length_for(next_out, max)));
      ++next_out;
    }
    EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
    EXPECT_EQ(ring.next_message_bytes(), std::nullopt);
    EXPECT_GT(bytes_in, 200 * capacity) << "too few laps";
    EXPECT_EQ(seen, (std::array<bool, 4>{true, true, true, true}));
  }
}

// A payload that straddles the end of the area is copied in two parts: every
// start position, so every split point of header and payload.
TEST(ByteRingTest, PayloadSplitAtTheEndOfTheAreaArrivesWhole) {
  std::vector<std::byte> out;
  std::uint64_t key = 0;
  for (std::size_t start = 0; start < 128; start += 8) {
    // Up to 112 bytes: a 120-byte record, and room for an empty message after it.
    for (std::size_t length : {std::size_t{1}, std::size_t{13}, std::size_t{64}, std::size_t{112}}) {
      auto ring = ByteRing::create(128);
      for (std::size_t at = 0; at < start; at += 8) {  // empty messages: 8 bytes each
        ASSERT_EQ(ring.push({}), QueueStatus::kOk);
        ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
        ASSERT_TRUE(out.empty());
      }
      ++key;
      ASSERT_EQ(ring.push(bytes_of(message_for(key, length))), QueueStatus::kOk);
      ASSERT_EQ(ring.try_push(bytes_of(message_for(key + 1000, 0))), QueueStatus::kOk) << "room for a header left";
      ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
      EXPECT_TRUE(is_message(out, key, length)) << "start " << start << ", length " << length;
      ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
      EXPECT_TRUE(out.empty());
    }
  }
}

TEST(ByteRingTest, RecordsFillTheAreaExactlyAndEmptyIsReported) {
  auto ring = ByteRing::create(256);
  std::vector<std::byte> out;
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
  // 24-byte messages take 32 bytes each: exactly 8 fit, at any offset.
  for (int lap = 0; lap < 3; ++lap) {
    for (std::uint64_t i = 0; i < 8; ++i) {
      ASSERT_EQ(ring.try_push(bytes_of(message_for(i, 24))), QueueStatus::kOk) << i;
    }
    EXPECT_EQ(ring.try_push({}), QueueStatus::kFull);
    EXPECT_EQ(ring.size_guess(), 8U);
    EXPECT_EQ(ring.bytes_guess(), 256U);
    // One pop frees 32 bytes: a message of up to 24 fits, 25 does not.
    ASSERT_EQ(ring.try_pop(out), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, 0, 24));
    EXPECT_EQ(ring.try_push(bytes_of(message_for(99, 25))), QueueStatus::kFull);
    ASSERT_EQ(ring.try_push(bytes_of(message_for(8, 24))), QueueStatus::kOk);
    for (std::uint64_t i = 1; i <= 8; ++i) {
      ASSERT_EQ(ring.try_pop(out), QueueStatus::kOk);
      EXPECT_TRUE(is_message(out, i, 24));
    }
    EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
    EXPECT_EQ(ring.size_guess(), 0U);
    ASSERT_EQ(ring.push(bytes_of(message_for(0, 8))), QueueStatus::kOk);  // shift the next lap by 16 bytes
    ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  }
}

// ---- caller buffers ------------------------------------------------------------

TEST(ByteRingTest, PopIntoACallerBufferReportsTheSizeAndRefusesAShortBuffer) {
  for (auto consumers : {ByteRingConsumers::kOne, ByteRingConsumers::kMany}) {
    auto ring = ByteRing::create(512, ByteRingProducers::kOne, consumers);
    ASSERT_EQ(ring.push(bytes_of(message_for(1, 100))), QueueStatus::kOk);
    ASSERT_EQ(ring.push(bytes_of(message_for(2, 3))), QueueStatus::kOk);
    std::array<std::byte, 64> small{};
    std::size_t size = 12345;
    try {
      (void)ring.try_pop(small, size);
      ADD_FAILURE() << "a 100-byte message was put into a 64-byte buffer";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("buffer of 64 bytes"), std::string::npos) << error.what();
    }
    EXPECT_EQ(size, 12345U);                                             // untouched
    EXPECT_EQ(ring.next_message_bytes(), std::optional<std::size_t>(100));  // still first in the ring
    EXPECT_EQ(ring.size_guess(), 2U);
    std::vector<std::byte> big(ring.max_message_bytes());
    ASSERT_EQ(ring.pop(big, size), QueueStatus::kOk);
    EXPECT_EQ(size, 100U);
    EXPECT_TRUE(is_message(std::span(big).first(size), 1, 100));
    ASSERT_EQ(ring.pop_until(small, size, Clock::now() + 10s), QueueStatus::kOk);
    EXPECT_EQ(size, 3U);
    EXPECT_TRUE(is_message(std::span(small).first(size), 2, 3));
    EXPECT_EQ(ring.try_pop(small, size), QueueStatus::kEmpty);
    ring.close();
    EXPECT_EQ(ring.pop(small, size), QueueStatus::kClosed);
  }
}

// ---- timed operations and close ---------------------------------------------------

TEST(ByteRingTest, TimedPushAndPopTimeOutNotBeforeTheDeadline) {
  for (auto roles : {0, 1}) {
    auto ring = roles == 0 ? ByteRing::create(64)
                           : ByteRing::create(64, ByteRingProducers::kMany, ByteRingConsumers::kMany);
    std::vector<std::byte> out;
    auto start = Clock::now();
    EXPECT_EQ(ring.pop_until(out, start + 20ms), QueueStatus::kTimedOut);
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(ring.pop_until(out, Clock::now() - 1ms), QueueStatus::kTimedOut);  // already past
    ASSERT_EQ(ring.push(bytes_of(message_for(1, 40))), QueueStatus::kOk);        // 48 of 64 bytes
    start = Clock::now();
    EXPECT_EQ(ring.push_until(bytes_of(message_for(2, 9)), start + 20ms), QueueStatus::kTimedOut);  // needs 24
    EXPECT_GE(Clock::now() - start, 20ms);
    ASSERT_EQ(ring.push_until(bytes_of(message_for(3, 8)), Clock::now() + 10s), QueueStatus::kOk);  // 16 fits
    ASSERT_EQ(ring.pop_until(out, Clock::now() + 10s), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, 1, 40));
    ASSERT_EQ(ring.pop_until(out, Clock::now() + 10s), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, 3, 8));
    // The relative forms: the same, and a huge timeout means "forever", not overflow.
    start = Clock::now();
    EXPECT_EQ(ring.pop_for(out, 20ms), QueueStatus::kTimedOut);
    EXPECT_GE(Clock::now() - start, 20ms);
    std::array<std::byte, 8> small{};
    std::size_t size = 0;
    EXPECT_EQ(ring.pop_for(small, size, 1ms), QueueStatus::kTimedOut);
    ASSERT_EQ(ring.push_for(bytes_of(message_for(4, 50)), std::chrono::hours::max()), QueueStatus::kOk);
    start = Clock::now();
    EXPECT_EQ(ring.push_for(bytes_of(message_for(5, 1)), 20ms), QueueStatus::kTimedOut);  // 56 + 16 > 64
    EXPECT_GE(Clock::now() - start, 20ms);
    ASSERT_EQ(ring.pop_for(out, std::chrono::hours::max()), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, 4, 50));
  }
}

TEST(ByteRingTest, CloseRefusesPushesAndDrainsPops) {
  auto ring = ByteRing::create(256);
  std::vector<std::byte> out;
  ASSERT_EQ(ring.push(bytes_of(message_for(10, 10))), QueueStatus::kOk);
  ASSERT_EQ(ring.push(bytes_of(message_for(11, 0))), QueueStatus::kOk);
  ring.close();
  EXPECT_EQ(ring.push(bytes_of(message_for(12, 1))), QueueStatus::kClosed);
  EXPECT_EQ(ring.try_push(bytes_of(message_for(12, 1))), QueueStatus::kClosed);
  EXPECT_EQ(ring.push_until(bytes_of(message_for(12, 1)), Clock::now() + 10ms), QueueStatus::kClosed);
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_TRUE(is_message(out, 10, 10));
  ASSERT_EQ(ring.try_pop(out), QueueStatus::kOk);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ring.pop(out), QueueStatus::kClosed);
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kClosed);
  EXPECT_EQ(ring.pop_until(out, Clock::now() + 10ms), QueueStatus::kClosed);
}

// A producer blocked for room for a large message, and a consumer blocked on
// an empty ring, both parked: close() wakes them with kClosed.
TEST(ByteRingTest, CloseWakesBlockedPushAndPopThreads) {
  Watchdog watchdog(60s);
  auto full = ByteRing::create(64);
  auto empty = ByteRing::create(64);
  ASSERT_EQ(full.push(bytes_of(message_for(1, 8))), QueueStatus::kOk);  // 16 of 64: a 56-byte message waits
  std::atomic<pid_t> push_tid{0};
  std::atomic<pid_t> pop_tid{0};
  std::atomic<int> push_status{-1};
  std::atomic<int> pop_status{-1};
  std::thread pusher([&] {
    push_tid.store(test::this_tid());
    push_status.store(static_cast<int>(full.push(bytes_of(message_for(2, 56)))));
  });
  std::thread popper([&] {
    pop_tid.store(test::this_tid());
    std::vector<std::byte> out;
    pop_status.store(static_cast<int>(empty.pop(out)));
  });
  while (push_tid.load() == 0 || pop_tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(test::wait_until_asleep(push_tid.load(), 5s));
  EXPECT_TRUE(test::wait_until_asleep(pop_tid.load(), 5s));
  full.close();
  empty.close();
  pusher.join();
  popper.join();
  EXPECT_EQ(push_status.load(), static_cast<int>(QueueStatus::kClosed));
  EXPECT_EQ(pop_status.load(), static_cast<int>(QueueStatus::kClosed));
  std::vector<std::byte> out;
  ASSERT_EQ(full.pop(out), QueueStatus::kOk);  // the one before close, and not the blocked one
  EXPECT_TRUE(is_message(out, 1, 8));
  EXPECT_EQ(full.pop(out), QueueStatus::kClosed);
}

// A producer waiting for room for a large record is not content with less:
// it wakes, and succeeds, only once enough bytes are freed.
TEST(ByteRingTest, BlockedPushThreadsWaitForRoomForTheirWholeRecord) {
  Watchdog watchdog(60s);
  auto ring = ByteRing::create(128);
  for (std::uint64_t i = 0; i < 8; ++i) ASSERT_EQ(ring.push(bytes_of(message_for(i, 8))), QueueStatus::kOk);
  std::atomic<bool> pushed{false};
  std::thread pusher([&] {
    EXPECT_EQ(ring.push(bytes_of(message_for(100, 40))), QueueStatus::kOk);  // needs 48 bytes: 3 records
    pushed.store(true);
  });
  std::vector<std::byte> out;
  for (std::uint64_t i = 0; i < 2; ++i) {
    ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, i, 8));
  }
  std::this_thread::sleep_for(20ms);  // not a speed check: the push must still be waiting
  EXPECT_FALSE(pushed.load()) << "pushed into 32 free bytes";
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  pusher.join();
  EXPECT_TRUE(pushed.load());
  for (std::uint64_t i = 3; i < 8; ++i) {
    ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
    EXPECT_TRUE(is_message(out, i, 8));
  }
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_TRUE(is_message(out, 100, 40));
}

// ---- stress: threads and processes ------------------------------------------------

constexpr int kMaxProducers = 4;
constexpr int kMaxConsumers = 4;

// What one consumer saw, per producer; in shared memory for the process tests.
struct Tally {
  std::uint64_t count[kMaxProducers];
  std::uint64_t seq_sum[kMaxProducers];
  std::uint64_t bytes[kMaxProducers];
  std::uint64_t last_plus_one[kMaxProducers];
  std::uint64_t order_errors;
  std::uint64_t corrupt;
};
struct Board {
  std::atomic<std::uint32_t> go{0};
  Tally tally[kMaxConsumers] = {};
};

struct Roles {
  ByteRingProducers producers;
  ByteRingConsumers consumers;
  int producer_count;
  int consumer_count;
  const char* name;
};
constexpr std::array<Roles, 3> kRoles{{
    {ByteRingProducers::kOne, ByteRingConsumers::kOne, 1, 1, "1x1"},
    {ByteRingProducers::kMany, ByteRingConsumers::kOne, 3, 1, "3x1"},
    {ByteRingProducers::kMany, ByteRingConsumers::kMany, 2, 2, "2x2"},
}};

// With several producers every message carries its key (>= 8 bytes).
std::size_t min_length(const Roles& roles) { return roles.producer_count > 1 ? 8 : 0; }

void produce(ByteRing& ring, Board& board, const Roles& roles, int producer, std::uint64_t count) {
  while (board.go.load() == 0) std::this_thread::yield();
  std::vector<std::byte> m;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    const std::uint64_t key = make_key(static_cast<std::uint64_t>(producer), seq);
    m.resize(length_for(key, ring.max_message_bytes(), min_length(roles)));
    fill(key, m);
    if (ring.push(bytes_of(m)) != QueueStatus::kOk) throw std::runtime_error("push failed before close()");
  }
}

void consume(ByteRing& ring, Board& board, const Roles& roles, int consumer) {
  Tally& tally = board.tally[consumer];
  std::vector<std::byte> m;
  std::uint64_t next_single = 0;  // one producer: messages may be shorter than a key
  while (ring.pop(m) == QueueStatus::kOk) {
    std::uint64_t key = roles.producer_count == 1 ? make_key(0, next_single++) : 0;
    if (roles.producer_count > 1) {
      if (m.size() < 8) {
        ++tally.corrupt;
        continue;
      }
      key = key_in(m);
    }
    const std::uint64_t p = producer_of(key);
    if (p >= kMaxProducers || !is_message(m, key, length_for(key, ring.max_message_bytes(), min_length(roles)))) {
      ++tally.corrupt;
      continue;
    }
    const std::uint64_t s = seq_of(key);
    if (s + 1 <= tally.last_plus_one[p]) ++tally.order_errors;  // per-producer FIFO
    tally.last_plus_one[p] = s + 1;
    ++tally.count[p];
    tally.seq_sum[p] += s;
    tally.bytes[p] += m.size();
  }
}

void expect_exactly_once(const Board& board, const Roles& roles, std::uint64_t per_producer, std::size_t max) {
  for (int p = 0; p < roles.producer_count; ++p) {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    std::uint64_t bytes = 0;
    std::uint64_t expected_bytes = 0;
    for (std::uint64_t s = 0; s < per_producer; ++s) {
      expected_bytes += length_for(make_key(static_cast<std::uint64_t>(p), s), max, min_length(roles));
    }
    for (int c = 0; c < roles.consumer_count; ++c) {
      count += board.tally[c].count[p];
      sum += board.tally[c].seq_sum[p];
      bytes += board.tally[c].bytes[p];
    }
    EXPECT_EQ(count, per_producer) << roles.name << ", producer " << p;
    EXPECT_EQ(sum, per_producer * (per_producer - 1) / 2) << roles.name << ", producer " << p;
    EXPECT_EQ(bytes, expected_bytes) << roles.name << ", producer " << p;
  }
  for (int c = 0; c < roles.consumer_count; ++c) {
    EXPECT_EQ(board.tally[c].order_errors, 0U) << roles.name << ", consumer " << c;
    EXPECT_EQ(board.tally[c].corrupt, 0U) << roles.name << ", consumer " << c;
  }
}

TEST(ByteRingTest, StressThreadsRandomSizesExactlyOnceInOrder) {
  Watchdog watchdog(120s);
  const std::uint64_t total = kSanitized ? 10'000 : 60'000;
  for (const Roles& roles : kRoles) {
    auto ring = ByteRing::create(4096, roles.producers, roles.consumers);
    auto board = std::make_unique<Board>();
    const std::uint64_t per_producer = total / static_cast<std::uint64_t>(roles.producer_count);
    std::vector<std::thread> consumers;
    std::vector<std::thread> producers;
    for (int c = 0; c < roles.consumer_count; ++c) {
      consumers.emplace_back([&, c] { consume(ring, *board, roles, c); });
    }
    for (int p = 0; p < roles.producer_count; ++p) {
      producers.emplace_back([&, p] { produce(ring, *board, roles, p, per_producer); });
    }
    board->go.store(1);
    for (auto& t : producers) t.join();
    ring.close();
    for (auto& t : consumers) t.join();
    expect_exactly_once(*board, roles, per_producer, ring.max_message_bytes());
  }
}

TEST(ByteRingTest, StressProcessesRandomSizesExactlyOnceInOrder) {
  const std::uint64_t total = kSanitized ? 20'000 : 120'000;
  for (const Roles& roles : kRoles) {
    auto ring = ByteRing::create(8192, roles.producers, roles.consumers);
    Shared<Board> board;
    const std::uint64_t per_producer = total / static_cast<std::uint64_t>(roles.producer_count);
    std::vector<std::unique_ptr<Child>> consumers;
    std::vector<std::unique_ptr<Child>> producers;
    for (int c = 0; c < roles.consumer_count; ++c) {
      consumers.push_back(std::make_unique<Child>([&, c] {
        consume(ring, *board, roles, c);
        return 0;
      }));
    }
    for (int p = 0; p < roles.producer_count; ++p) {
      producers.push_back(std::make_unique<Child>([&, p] {
        produce(ring, *board, roles, p, per_producer);
        return 0;
      }));
    }
    board->go.store(1);
    for (auto& child : producers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0)) << roles.name;
    ring.close();
    for (auto& child : consumers) EXPECT_EQ(child->join(60s), ExitStatus::exited(0)) << roles.name;
    expect_exactly_once(*board, roles, per_producer, ring.max_message_bytes());
  }
}

// ---- killed peers ------------------------------------------------------------------

// A consumer pops a little and is SIGKILLed; the producer, blocked on the
// full ring, gets EPIPE naming the dead consumer instead of waiting forever.
TEST(ByteRingTest, KilledConsumerFailsTheBlockedProducerNamingIt) {
  for (auto consumers : {ByteRingConsumers::kOne, ByteRingConsumers::kMany}) {
    auto ring = ByteRing::create(1024, ByteRingProducers::kOne, consumers);
    Child consumer([&] {
      std::vector<std::byte> out;
      for (int i = 0; i < 100; ++i) {
        if (ring.pop(out) != QueueStatus::kOk) return 1;
      }
      ::raise(SIGKILL);  // mid-stream
      return 2;
    });
    const auto start = Clock::now();
    std::uint64_t pushed = 0;
    bool threw = false;
    try {
      for (; pushed < 1'000'000; ++pushed) {
        if (ring.push(bytes_of(message_for(pushed, length_for(pushed, 200)))) != QueueStatus::kOk) break;
      }
    } catch (const std::system_error& error) {
      threw = true;
      EXPECT_EQ(error.code().value(), EPIPE);
      EXPECT_NE(std::string(error.what()).find("consumer " + std::to_string(consumer.pid()) + " is gone"),
                std::string::npos)
          << error.what();
    }
    EXPECT_TRUE(threw) << "push returned normally after " << pushed << " messages";
    EXPECT_GE(pushed, 100U);
    EXPECT_LT(test::seconds_since(start), 30.0);  // bounded, not a speed check
    EXPECT_EQ(consumer.join(10s), ExitStatus::killed_by(SIGKILL));
    EXPECT_EQ(ring.try_push({}), QueueStatus::kFull);  // try_push just reports
  }
}

// A producer pushes random sizes and is SIGKILLed without close(); the
// consumer gets every message, whole and in order. The death is no end of
// file (more producers may come): a bounded pop times out; close() ends it.
TEST(ByteRingTest, KilledProducerLosesNothingAndIsNoEndOfFile) {
  for (auto producers : {ByteRingProducers::kOne, ByteRingProducers::kMany}) {
    constexpr std::uint64_t kPushed = 2000;
    auto ring = ByteRing::create(1024, producers);
    Child producer([&] {
      for (std::uint64_t i = 0; i < kPushed; ++i) {
        if (ring.push(bytes_of(message_for(i, length_for(i, 300)))) != QueueStatus::kOk) return 1;
      }
      ::raise(SIGKILL);  // mid-stream: no close()
      return 2;
    });
    std::vector<std::byte> out;
    for (std::uint64_t popped = 0; popped < kPushed; ++popped) {
      ASSERT_EQ(ring.pop_until(out, Clock::now() + 30s), QueueStatus::kOk) << "message " << popped;
      ASSERT_TRUE(is_message(out, popped, length_for(popped, 300))) << "message " << popped;
    }
    EXPECT_EQ(producer.join(10s), ExitStatus::killed_by(SIGKILL));
    EXPECT_EQ(ring.pop_until(out, Clock::now() + 50ms), QueueStatus::kTimedOut);
    EXPECT_FALSE(ring.is_closed());
    ring.close();
    EXPECT_EQ(ring.pop_until(out, Clock::now() + 10s), QueueStatus::kClosed);
  }
}

// ---- killed lock holders (kMany sides) ---------------------------------------------

// A producer killed holding the producer lock, its record written but not
// committed: the next producer takes over, repairs, and the half-push leaves
// no trace.
TEST(ByteRingTest, ProducerKilledHoldingTheLockLeavesNoTrace) {
  auto ring = ByteRing::create(256, ByteRingProducers::kMany, ByteRingConsumers::kMany);
  ASSERT_EQ(ring.push(bytes_of(message_for(1, 20))), QueueStatus::kOk);
  Child victim([&] {
    ByteRingTestAccess::producer_lock(ring).lock();
    ByteRingTestAccess::write_record_without_commit(ring, bytes_of(message_for(666, 30)));
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(ByteRingTestAccess::producer_lock(ring).owner_guess(), victim.pid());  // died holding it
  ASSERT_EQ(ring.push(bytes_of(message_for(2, 5))), QueueStatus::kOk);             // takes over, repairs
  EXPECT_EQ(ring.owner_deaths(), 1U);
  std::vector<std::byte> out;
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_TRUE(is_message(out, 1, 20));
  ASSERT_EQ(ring.pop(out), QueueStatus::kOk);
  EXPECT_TRUE(is_message(out, 2, 5));
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
}

// A consumer killed holding the consumer lock (mid-copy, before its commit):
// the message is still there for the next consumer.
TEST(ByteRingTest, ConsumerKilledHoldingTheLockLosesNothing) {
  auto ring = ByteRing::create(256, ByteRingProducers::kOne, ByteRingConsumers::kMany);
  ASSERT_EQ(ring.push(bytes_of(message_for(1, 33))), QueueStatus::kOk);
  Child victim([&] {
    ByteRingTestAccess::consumer_lock(ring).lock();
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  std::vector<std::byte> out;
  ASSERT_EQ(ring.pop_until(out, Clock::now() + 10s), QueueStatus::kOk);
  EXPECT_TRUE(is_message(out, 1, 33));
  EXPECT_EQ(ring.owner_deaths(), 1U);
  EXPECT_EQ(ring.try_pop(out), QueueStatus::kEmpty);
}

// If the repair finds the records inconsistent (only memory corruption can
// do that), the ring is declared broken on both sides, never reused.
TEST(ByteRingTest, InconsistentRecordsAfterAHolderDiedBreakTheRing) {
  auto ring = ByteRing::create(256, ByteRingProducers::kMany, ByteRingConsumers::kOne);
  ASSERT_EQ(ring.push(bytes_of(message_for(1, 20))), QueueStatus::kOk);
  ByteRingTestAccess::corrupt_first_header(ring);
  Child victim([&] {
    ByteRingTestAccess::producer_lock(ring).lock();
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(victim.join(10s), ExitStatus::killed_by(SIGKILL));
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      (void)ring.push(bytes_of(message_for(2, 5)));
      ADD_FAILURE() << "pushed into a broken ring";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ENOTRECOVERABLE) << error.what();
    }
  }
  std::vector<std::byte> out;
  try {
    (void)ring.try_pop(out);
    ADD_FAILURE() << "popped from a broken ring";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOTRECOVERABLE) << error.what();
  }
}

}  // namespace

// ---- the queue conformance suite, through a fixed-size adapter ------------------

/// ByteRing carrying one trivially copyable T per message: models Queue<Q, T>.
template <class T, ByteRingProducers P, ByteRingConsumers C>
class ByteRingOf {
 public:
  static ByteRingOf create(std::size_t capacity) {
    return ByteRingOf(ByteRing::create(capacity * detail::byte_record_bytes(sizeof(T)), P, C));
  }
  QueueStatus push(const T& v) { return ring_.push(std::as_bytes(std::span(&v, 1))); }
  QueueStatus try_push(const T& v) { return ring_.try_push(std::as_bytes(std::span(&v, 1))); }
  QueueStatus push_until(const T& v, Deadline d) { return ring_.push_until(std::as_bytes(std::span(&v, 1)), d); }
  // The size lives on the caller's stack: several consumer threads share one adapter.
  QueueStatus pop(T& out) {
    std::size_t size = 0;
    const QueueStatus status = ring_.pop(buffer(out), size);  // before reading size
    return checked(status, size);
  }
  QueueStatus try_pop(T& out) {
    std::size_t size = 0;
    const QueueStatus status = ring_.try_pop(buffer(out), size);  // before reading size
    return checked(status, size);
  }
  QueueStatus pop_until(T& out, Deadline d) {
    std::size_t size = 0;
    const QueueStatus status = ring_.pop_until(buffer(out), size, d);  // before reading size
    return checked(status, size);
  }
  void close() noexcept { ring_.close(); }
  [[nodiscard]] bool is_closed() const noexcept { return ring_.is_closed(); }
  [[nodiscard]] std::size_t size_guess() const noexcept { return ring_.size_guess(); }
  /// Exact: records of one size fill the area without waste.
  [[nodiscard]] std::size_t capacity() const noexcept {
    return ring_.capacity_bytes() / detail::byte_record_bytes(sizeof(T));
  }

 private:
  explicit ByteRingOf(ByteRing ring) : ring_(std::move(ring)) {}
  static std::span<std::byte> buffer(T& out) { return std::as_writable_bytes(std::span(&out, 1)); }
  static QueueStatus checked(QueueStatus status, std::size_t size) {
    if (status == QueueStatus::kOk && size != sizeof(T)) throw std::runtime_error("ByteRingOf: wrong size");
    return status;
  }

  ByteRing ring_;
};

/// A 64-byte payload whose every word depends on the key: a torn copy shows.
struct BytePayload64 {
  std::uint64_t key;
  std::uint64_t check[7];
};

namespace test {

struct BytePayload64Items {
  using Value = BytePayload64;
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

using ByteRingU64 = ByteRingOf<std::uint64_t, ByteRingProducers::kOne, ByteRingConsumers::kOne>;
using ByteRingManyU64 = ByteRingOf<std::uint64_t, ByteRingProducers::kMany, ByteRingConsumers::kMany>;
using ByteRingManyPayload64 = ByteRingOf<BytePayload64, ByteRingProducers::kMany, ByteRingConsumers::kMany>;
static_assert(Queue<ByteRingU64, std::uint64_t>);

template <>
struct QueueFactory<ByteRingU64>
    : CreatedBy<ByteRingU64, IntegerItems<std::uint64_t>, Producers::kOne, Consumers::kOne> {
  static std::string name() { return "ByteRingU64"; }
};
template <>
struct QueueFactory<ByteRingManyU64>
    : CreatedBy<ByteRingManyU64, IntegerItems<std::uint64_t>, Producers::kMany, Consumers::kMany> {
  static std::string name() { return "ByteRingManyU64"; }
};
template <>
struct QueueFactory<ByteRingManyPayload64>
    : CreatedBy<ByteRingManyPayload64, BytePayload64Items, Producers::kMany, Consumers::kMany> {
  static std::string name() { return "ByteRingManyPayload64"; }
};

using ByteRingQueues = ::testing::Types<ByteRingU64, ByteRingManyU64, ByteRingManyPayload64>;
INSTANTIATE_TYPED_TEST_SUITE_P(ByteRing, QueueConformance, ByteRingQueues, QueueNames);

}  // namespace test
}  // namespace mpkit
