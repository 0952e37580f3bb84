// RedisQueue between two processes: throughput (items/s) for 8-byte and
// 64-byte items and ping-pong round-trip latency, on a private redis-server
// (Unix socket). Baselines in the same binary (ARCHITECTURE.md, style habit 14): raw LPUSH
// + BRPOP through one RedisClient per process, without RedisQueue's capacity
// script, and the bare PING round trip (the floor of any Redis transport).
//
// Each benchmark forks one long-lived peer before its timing loop.
// Throughput: per iteration the parent pushes kBatchItems items and stops the
// clock when the peer reports it has popped them all (UseManualTime).
// Ping-pong: the parent sends one item and waits for the echo, kRoundTrips
// times per iteration; rtt_ns is the mean round trip. Unpinned. The server is
// a third process: on this 2-core VM the three share two cores.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "bench_support.hpp"
#include <benchmark/benchmark.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "mpkit/ipc/remote/redis_queue.hpp"
#include "mpkit/ipc/remote/redis_server.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace {

using mpkit::bench::Progress;
using mpkit::bench::time_round_trips;

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBatchItems = 2'000;
constexpr int kRoundTrips = 500;
constexpr std::size_t kCapacity = 1024;

template <std::size_t N>
struct Bytes {
  std::uint64_t words[N / 8];
};
using Item8 = Bytes<8>;
using Item64 = Bytes<64>;

// One server for the whole binary, started on first use by the main thread.
const std::string& server_url() {
  static mpkit::RedisServer server;
  return server.url();
}

std::string fresh_name() {
  static int next = 0;
  return "bench." + std::to_string(next++);
}

// Sleeps between looks: on 2 cores a spinning parent would take the CPU the
// server and the consumer need (a round trip costs ~15 µs here anyway).
void wait_for(const std::atomic<std::uint64_t>& counter, std::uint64_t target) {
  while (counter.load(std::memory_order_acquire) < target)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
}

// ---- RedisQueue -----------------------------------------------------------

template <class Item>
void BM_RedisQueueThroughput(benchmark::State& state) {
  auto queue = mpkit::RedisQueue<Item>::create(server_url(), fresh_name(), kCapacity);
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    Item item{};
    std::uint64_t popped = 0;
    while (queue.pop(item) == mpkit::QueueStatus::kOk) {
      benchmark::DoNotOptimize(item);
      progress->popped.store(++popped, std::memory_order_release);
    }
    return 0;
  });
  Item item{};
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < kBatchItems; ++i) {
      item.words[0] = i;
      if (queue.push(item) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
    }
    target += kBatchItems;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  queue.close();
  (void)consumer.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchItems));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * kBatchItems * sizeof(Item)));
}

void BM_RedisQueuePingPong(benchmark::State& state) {
  auto request = mpkit::RedisQueue<std::uint64_t>::create(server_url(), fresh_name(), 16);
  auto reply = mpkit::RedisQueue<std::uint64_t>::create(server_url(), fresh_name(), 16);
  mpkit::Process echo([&] {
    std::uint64_t value = 0;
    while (request.pop(value) == mpkit::QueueStatus::kOk) {
      if (reply.push(value) != mpkit::QueueStatus::kOk) break;
    }
    return 0;
  });
  std::uint64_t value = 0;
  time_round_trips(state, kRoundTrips, [&](int i) {
    return request.push(static_cast<std::uint64_t>(i)) == mpkit::QueueStatus::kOk &&
           reply.pop(value) == mpkit::QueueStatus::kOk;
  });
  request.close();
  reply.close();
  (void)echo.join(std::chrono::seconds(10));
}

// ---- baselines: raw LPUSH/BRPOP, PING --------------------------------------

// Unbounded and without close(): the consumer stops at a 0-byte element.
void BM_RawListThroughput(benchmark::State& state) {
  const std::string url = server_url();  // started here, not in the child
  const std::string key = fresh_name();
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    auto client = mpkit::RedisClient::connect(url);
    std::uint64_t popped = 0;
    for (;;) {
      // The same BRPOP slice as RedisQueue's pop (kPopSlice).
      const std::optional<std::string> element = client.brpop(key, std::chrono::milliseconds(100));
      if (!element.has_value()) continue;
      if (element->empty()) break;
      progress->popped.store(++popped, std::memory_order_release);
    }
    return 0;
  });
  auto client = mpkit::RedisClient::connect(server_url());
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < kBatchItems; ++i) {
      client.lpush(key, std::string_view(reinterpret_cast<const char*>(&i), sizeof(i)));
    }
    target += kBatchItems;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  client.lpush(key, "");
  (void)consumer.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchItems));
}

void BM_RawListPingPong(benchmark::State& state) {
  const std::string url = server_url();  // started here, not in the child
  const std::string request = fresh_name();
  const std::string reply = fresh_name();
  mpkit::Process echo([&] {
    auto client = mpkit::RedisClient::connect(url);
    for (;;) {
      const std::optional<std::string> element =
          client.brpop(request, std::chrono::milliseconds(100));
      if (!element.has_value()) continue;
      if (element->empty()) break;
      client.lpush(reply, *element);
    }
    return 0;
  });
  auto client = mpkit::RedisClient::connect(server_url());
  time_round_trips(
      state, kRoundTrips,
      [&](int /*i*/) {
        client.lpush(request, "12345678");
        return client.brpop(reply, std::chrono::seconds(5)).has_value();
      },
      "no echo");
  client.lpush(request, "");
  (void)echo.join(std::chrono::seconds(10));
}

void BM_Ping(benchmark::State& state) {
  auto client = mpkit::RedisClient::connect(server_url());
  for (auto _ : state) client.ping();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK_TEMPLATE(BM_RedisQueueThroughput, Item8)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_RedisQueueThroughput, Item64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RedisQueuePingPong)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawListThroughput)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawListPingPong)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ping)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
