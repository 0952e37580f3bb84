// RedisQueue (the `redis` backend): the queue conformance suite on a private
// redis-server, plus what is particular to Redis -- argument checks, an
// unreachable or killed server as std::system_error within the timeout,
// close() waking blocked consumers of other processes through the sentinel
// (and without it, when a consumer died holding it), the capacity enforced
// across processes by the server-side script, foreign list elements, keys
// reset by create() and shared by attach(), and a JoinableQueue over Redis.
//
// Every case talks to a real redis-server started by RedisServer (one per
// suite; ctest runs each case in its own process, so in practice one per
// case). No case asserts a speed: time bounds are generous ceilings that
// only a hang would break.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mpkit/ipc/joinable_queue.hpp"
#include "mpkit/ipc/remote/backends.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "mpkit/ipc/remote/redis_queue.hpp"
#include "mpkit/ipc/remote/redis_server.hpp"
#include "queue_conformance.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

/// One private redis-server for the queues of a suite, and queue names that
/// never repeat within a run. The conformance suite has no suite hooks, so
/// its factory starts the server on first use; it stops with the process.
struct RedisQueueFixture {
  static inline std::optional<RedisServer> server;
  static inline int next_name = 0;

  static void start() {
    if (!server.has_value()) server.emplace();
  }
  static void stop() noexcept { server.reset(); }
  static std::string url() {
    start();
    return server->url();
  }
  static std::string name(const std::string& prefix) {
    return "mpkit.test." + prefix + "." + std::to_string(::getpid()) + "." + std::to_string(next_name++);
  }
};

/// A 64-byte item whose every word depends on the key (a torn or foreign
/// copy shows) and which holds zero bytes (binary safety).
struct RedisPayload {
  std::uint64_t key;
  std::uint64_t check[7];
};
static_assert(sizeof(RedisPayload) == 64);

struct RedisPayloadItems {
  using Value = RedisPayload;
  static std::uint64_t word(std::uint64_t key, std::uint64_t i) { return (key * 0x9E3779B97F4A7C15ULL + i) & ~0xFFULL; }
  static Value encode(std::uint64_t key) {
    Value v{};
    v.key = key;
    for (std::uint64_t i = 0; i < 7; ++i) v.check[i] = word(key, i);  // low byte 0: embedded NULs
    return v;
  }
  static std::uint64_t decode(const Value& v) {
    for (std::uint64_t i = 0; i < 7; ++i) {
      if (v.check[i] != word(v.key, i)) return test::kCorruptKey;
    }
    return v.key;
  }
};

using RedisU64 = RedisQueue<std::uint64_t>;
using RedisPayloadQueue = RedisQueue<RedisPayload>;

/// blocked_clients from INFO clients: how many BRPOPs the server holds.
int blocked_clients(RedisClient& client) {
  const std::vector<std::string> info = client.command({"INFO", "clients"});
  const std::string text = info.empty() ? std::string() : info.front();
  const std::string field = "blocked_clients:";
  const auto at = text.find(field);
  return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + field.size());
}

/// Waits (bounded) until the server holds at least `n` blocked clients.
[[nodiscard]] bool wait_for_blocked(const std::string& url, int n) {
  RedisClient client = RedisClient::connect(url);
  return test::eventually([&] { return blocked_clients(client) >= n; }, 10s);
}

}  // namespace

namespace test {

// The answers are the registry's: a dead peer is not detected, because Redis
// cannot tell a quiet client from a dead one (redis_queue.hpp, "What a
// SIGKILL does").
template <>
struct QueueFactory<RedisU64> : IntegerItems<std::uint64_t>, TraitsOf<RedisQueueBackend> {
  static RedisU64 make(std::size_t capacity) {
    return RedisU64::create(RedisQueueFixture::url(), RedisQueueFixture::name("conformance"), capacity);
  }
  static std::string name() { return "RedisQueueU64"; }
  // A round trip per push and per pop (~20-50 µs here): 5 x 10^4 items, not 10^6.
  static constexpr std::uint64_t kStressItems = queue_conformance::kSanitized ? 10'000 : 50'000;
};

template <>
struct QueueFactory<RedisPayloadQueue> : RedisPayloadItems, TraitsOf<RedisQueueBackend> {
  static RedisPayloadQueue make(std::size_t capacity) {
    return RedisPayloadQueue::create(RedisQueueFixture::url(), RedisQueueFixture::name("conformance"), capacity);
  }
  static std::string name() { return "RedisQueuePayload64"; }
  static constexpr std::uint64_t kStressItems = queue_conformance::kSanitized ? 5'000 : 20'000;
};

using RedisQueues = ::testing::Types<RedisU64, RedisPayloadQueue>;
INSTANTIATE_TYPED_TEST_SUITE_P(Redis, QueueConformance, RedisQueues, QueueNames);

}  // namespace test

namespace {

class RedisQueueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RedisQueueFixture::start(); }
  static void TearDownTestSuite() { RedisQueueFixture::stop(); }

  static RedisU64 make(std::size_t capacity, const std::string& prefix = "queue") {
    return RedisU64::create(RedisQueueFixture::url(), RedisQueueFixture::name(prefix), capacity);
  }
};

template <class Fn>
void expect_invalid_argument(Fn fn, const std::string& names) {
  try {
    fn();
    ADD_FAILURE() << "accepted; expected std::invalid_argument naming " << names;
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(names), std::string::npos) << error.what();
  }
}

TEST_F(RedisQueueTest, CreateNamesTheBadArgument) {
  const std::string url = RedisQueueFixture::url();
  expect_invalid_argument([&] { (void)RedisU64::create(url, "", 4); }, "name");
  expect_invalid_argument([&] { (void)RedisU64::create(url, "q", 0); }, "capacity");
  expect_invalid_argument([&] { (void)RedisU64::create(url, "q", RedisU64::kMaxCapacity + 1); }, "capacity");
  expect_invalid_argument([&] { (void)RedisU64::create(url, "q", 4, 0ms); }, "timeout");
  expect_invalid_argument([&] { (void)RedisU64::create("", "q", 4); }, "url");
  expect_invalid_argument([&] { (void)RedisU64::create("no-scheme-no-port", "q", 4); }, "url");
  // Shorter than the server's tick (100 ms at the default hz 10): a BRPOP the
  // server ends a tick late would look like a dead server.
  expect_invalid_argument([&] { (void)RedisU64::create(url, "q", 4, 50ms); }, "timeout");
}

TEST_F(RedisQueueTest, UnreachableServerIsASystemErrorWithinTheTimeout) {
  for (const std::string& url : {std::string("unix:///nonexistent-mpkit-dir/redis.sock"),
                                std::string("redis://127.0.0.1:1")}) {
    const auto start = Clock::now();
    try {
      (void)RedisU64::create(url, "unreachable", 4, 300ms);
      ADD_FAILURE() << "connected to " << url;
    } catch (const std::system_error& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find("RedisQueue \"unreachable\""), std::string::npos) << what;
      EXPECT_NE(what.find(url), std::string::npos) << what;
    }
    EXPECT_LT(test::seconds_since(start), 5.0) << url << ": bounded by the 300 ms timeout, not a hang";
  }
}

TEST_F(RedisQueueTest, KeysAreResetByCreateAndSharedByAttach) {
  const std::string url = RedisQueueFixture::url();
  const std::string name = RedisQueueFixture::name("reset");
  {
    RedisU64 first = RedisU64::create(url, name, 8);
    ASSERT_EQ(first.push(1), QueueStatus::kOk);
    ASSERT_EQ(first.push(2), QueueStatus::kOk);
    RedisU64 attached = RedisU64::attach(url, name, 8);
    EXPECT_EQ(attached.size_guess(), 2U);
    std::uint64_t out = 0;
    ASSERT_EQ(attached.pop(out), QueueStatus::kOk);
    EXPECT_EQ(out, 1U);
    first.close();
    EXPECT_TRUE(attached.is_closed());
  }
  RedisU64 again = RedisU64::create(url, name, 8);  // a leftover must not leak into a new queue
  EXPECT_FALSE(again.is_closed());
  EXPECT_EQ(again.size_guess(), 0U);
  std::uint64_t out = 0;
  EXPECT_EQ(again.try_pop(out), QueueStatus::kEmpty);
  EXPECT_EQ(again.name(), name);
  EXPECT_EQ(again.url(), url);
  EXPECT_GE(again.server_tick(), 1ms);
}

TEST_F(RedisQueueTest, AllZeroItemIsNotTheCloseSentinel) {
  RedisU64 queue = make(4);
  ASSERT_EQ(queue.push(0), QueueStatus::kOk);  // eight NUL bytes, not the empty string
  queue.close();
  std::uint64_t out = 99;
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, 0U);
  EXPECT_EQ(queue.pop(out), QueueStatus::kClosed);
  EXPECT_EQ(queue.size_guess(), 0U) << "the sentinel is not an item";
}

TEST_F(RedisQueueTest, ForeignElementIsBadMessageAndTheQueueStaysUsable) {
  RedisU64 queue = make(4);
  RedisClient client = RedisClient::connect(queue.url());
  client.lpush(queue.name() + ":items", "abc");  // 3 bytes, not sizeof(std::uint64_t)
  std::uint64_t out = 0;
  try {
    (void)queue.pop(out);
    ADD_FAILURE() << "a 3-byte element was accepted";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::bad_message);
    EXPECT_NE(std::string(error.what()).find("3 bytes"), std::string::npos) << error.what();
  }
  ASSERT_EQ(queue.push(7), QueueStatus::kOk);
  ASSERT_EQ(queue.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, 7U);
}

TEST_F(RedisQueueTest, LongTimedPopUsesTheServerAndNeverEndsBeforeTheDeadline) {
  RedisU64 queue = make(4);
  std::uint64_t out = 0;
  // More than a tick away: a BRPOP that ends a tick early, then polling.
  const auto timeout = queue.server_tick() * 3 + 50ms;
  const auto start = Clock::now();
  EXPECT_EQ(pop_for(queue, out, timeout), QueueStatus::kTimedOut);
  EXPECT_GE(Clock::now() - start, timeout);
  EXPECT_LT(test::seconds_since(start), 10.0);  // bounded, not a speed check
  // An item that arrives during the wait is taken.
  Child producer([&] {
    std::this_thread::sleep_for(20ms);
    return queue.push(42) == QueueStatus::kOk ? 0 : 1;
  });
  EXPECT_EQ(pop_for(queue, out, 10s), QueueStatus::kOk);
  EXPECT_EQ(out, 42U);
  EXPECT_EQ(producer.join(10s), ExitStatus::exited(0));
}

// Several consumer processes blocked in BRPOP all wake on close(): the first
// is served the sentinel, puts it back, and so on.
TEST_F(RedisQueueTest, CloseWakesBlockedPopsInOtherProcesses) {
  constexpr int kConsumers = 3;
  RedisU64 queue = make(4);
  std::vector<std::unique_ptr<Child>> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(std::make_unique<Child>([&] {
      std::uint64_t out = 0;
      return queue.pop(out) == QueueStatus::kClosed ? 0 : 1;
    }));
  }
  ASSERT_TRUE(wait_for_blocked(queue.url(), kConsumers)) << "the consumers never blocked in BRPOP";
  queue.close();
  for (auto& child : consumers) EXPECT_EQ(child->join(10s), ExitStatus::exited(0));
  RedisClient client = RedisClient::connect(queue.url());
  EXPECT_EQ(client.llen(queue.name() + ":items"), 1) << "the sentinel was put back for the next consumer";
  EXPECT_EQ(queue.size_guess(), 0U);
}

TEST_F(RedisQueueTest, CloseWakesABlockedPushInAnotherProcess) {
  RedisU64 queue = make(2);
  while (queue.try_push(1) == QueueStatus::kOk) {
  }
  Shared<std::atomic<int>> started(0);
  Child producer([&] {
    started->store(1);
    return queue.push(2) == QueueStatus::kClosed ? 0 : 1;
  });
  ASSERT_TRUE(test::eventually([&] { return started->load() == 1; }));
  std::this_thread::sleep_for(20ms);  // likely inside its polling loop; either way it must see kClosed
  queue.close();
  EXPECT_EQ(producer.join(10s), ExitStatus::exited(0));
  std::uint64_t out = 0;
  std::size_t drained = 0;
  while (queue.pop(out) == QueueStatus::kOk) ++drained;
  EXPECT_EQ(drained, 2U) << "the refused push did not land";
}

// A consumer killed between its BRPOP of the sentinel and putting it back
// takes the sentinel with it; the closed key still ends every pop.
TEST_F(RedisQueueTest, CloseHoldsEvenWhenTheSentinelIsLost) {
  RedisU64 queue = make(4);
  queue.close();
  RedisClient client = RedisClient::connect(queue.url());
  ASSERT_EQ(client.brpop(queue.name() + ":items", 1000ms), std::optional<std::string>(""));  // the "dead" consumer
  std::uint64_t out = 0;
  EXPECT_EQ(queue.try_pop(out), QueueStatus::kClosed);
  const auto start = Clock::now();
  EXPECT_EQ(queue.pop(out), QueueStatus::kClosed);  // after one slice
  EXPECT_LT(test::seconds_since(start), 10.0);      // bounded, not a speed check
  EXPECT_EQ(queue.push(1), QueueStatus::kClosed);
}

TEST_F(RedisQueueTest, CapacityIsEnforcedAcrossProcesses) {
  constexpr std::size_t kCapacity = 50;
  constexpr int kProducers = 4;
  RedisU64 queue = make(kCapacity);
  Shared<std::atomic<std::uint32_t>> go(0U);
  Shared<std::atomic<std::uint64_t>> accepted(0U);
  std::vector<std::unique_ptr<Child>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(std::make_unique<Child>([&, p] {
      while (go->load() == 0) std::this_thread::yield();
      for (std::uint64_t i = 0; i < 2 * kCapacity; ++i) {
        const QueueStatus status = queue.try_push(static_cast<std::uint64_t>(p) << 32 | i);
        if (status == QueueStatus::kOk) accepted->fetch_add(1);
        else if (status != QueueStatus::kFull) return 1;
      }
      return 0;
    }));
  }
  go->store(1);
  for (auto& child : producers) EXPECT_EQ(child->join(30s), ExitStatus::exited(0));
  EXPECT_EQ(accepted->load(), kCapacity) << "the script admits exactly capacity items";
  EXPECT_EQ(queue.size_guess(), kCapacity);
  RedisClient client = RedisClient::connect(queue.url());
  EXPECT_EQ(client.llen(queue.name() + ":items"), static_cast<long long>(kCapacity));
}

// The server SIGKILLed while a consumer in another process is blocked in
// BRPOP: the consumer gets std::system_error (the socket closes), and later
// calls fail within the timeout instead of hanging.
TEST(RedisQueueServerKilledTest, KilledServerFailsTheBlockedConsumerWithinTheTimeout) {
  RedisServer server;
  RedisU64 queue = RedisU64::create(server.url(), "dies", 4, 500ms);
  Child consumer([&] {
    std::uint64_t out = 0;
    try {
      (void)queue.pop(out);
      return 1;  // returned normally: wrong
    } catch (const std::system_error& error) {
      return std::strstr(error.what(), "RedisQueue \"dies\"") != nullptr ? 0 : 2;
    }
  });
  ASSERT_TRUE(wait_for_blocked(server.url(), 1));
  ASSERT_EQ(::kill(server.pid(), SIGKILL), 0);
  const auto killed = Clock::now();
  EXPECT_EQ(consumer.join(10s), ExitStatus::exited(0));
  EXPECT_LT(test::seconds_since(killed), 5.0);  // bounded by timeout + slice, not a speed check
  const auto start = Clock::now();
  EXPECT_THROW((void)queue.push(1), std::system_error);  // reconnect fails: no server
  EXPECT_THROW((void)queue.size_guess(), std::system_error);
  EXPECT_LT(test::seconds_since(start), 5.0);
  server.stop();  // reaps the killed server, removes its directory
}

// A JoinableQueue over Redis: the task count lives in shared memory, the
// items on the server; consumer processes mark each item done.
TEST_F(RedisQueueTest, JoinableRedisQueueAcrossProcesses) {
  constexpr std::uint64_t kItems = 400;
  constexpr int kConsumers = 2;
  auto queue = JoinableQueue<RedisU64>::create(make(16, "joinable"));
  Shared<std::atomic<std::uint64_t>> finished(0U);
  std::vector<std::unique_ptr<Child>> consumers;
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
  for (std::uint64_t i = 0; i < kItems; ++i) ASSERT_EQ(queue.push(i), QueueStatus::kOk);
  ASSERT_TRUE(queue.join_for(60s)) << "unfinished: " << queue.unfinished_guess();
  EXPECT_EQ(finished->load(), kItems) << "join returned before every item was done";
  queue.close();
  for (auto& child : consumers) EXPECT_EQ(child->join(10s), ExitStatus::exited(0));
}

}  // namespace
}  // namespace mpkit
