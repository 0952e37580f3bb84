// The Manager backend: what a round trip to the server process costs, and
// what a queue held by the server carries between two processes, with a raw
// Unix-socket echo between two processes as the floor in the same binary
// (ARCHITECTURE.md, style habit 14).
//
// - RoundTrip/ManagerFlag, RoundTrip/ManagerCounter: is_set() / increment()
//   in a loop; one request and one reply to the (forked) server each.
// - RoundTrip/UnixSocketEcho: one 8-byte write and the echo back from a
//   forked peer over a socketpair: the kernel's part of any round trip.
// - PingPong/ManagerQueue: the parent pushes to a request queue, a forked
//   echo peer pops it and pushes it to a reply queue, the parent pops the
//   reply: four server round trips, two of them held pops.
// - Throughput/ManagerQueue/<bytes>: the parent pushes kItems items, a
//   forked consumer pops them; the clock stops when the consumer reports it
//   has popped them all (UseManualTime).
// rtt_ns is the mean round trip over the run; run with
// --benchmark_repetitions=5 for medians. Placement is left to the scheduler.

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench_support.hpp"
#include <benchmark/benchmark.h>

#include "mpkit/ipc/remote/manager.hpp"
#include "mpkit/ipc/remote/manager_flag_counter.hpp"
#include "mpkit/ipc/remote/manager_queue.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace {

using mpkit::bench::Progress;
using mpkit::bench::read_all;
using mpkit::bench::time_round_trips;
using mpkit::bench::write_all;

using Clock = std::chrono::steady_clock;

constexpr int kRoundTrips = 2'000;
constexpr std::uint64_t kItems = 20'000;
constexpr std::size_t kCapacity = 1024;

template <std::size_t N>
struct Bytes {
  std::uint64_t words[N / 8];
};

std::string fresh_name(const char* prefix) {
  static int next = 0;
  return std::string(prefix) + "." + std::to_string(next++);
}

void BM_FlagRoundTrip(benchmark::State& state) {
  mpkit::ManagerServer server;
  auto flag = mpkit::ManagerFlag::create(server, "flag");
  time_round_trips(state, kRoundTrips, [&](int /*i*/) {
    benchmark::DoNotOptimize(flag.is_set());
    return true;
  });
}

void BM_CounterRoundTrip(benchmark::State& state) {
  mpkit::ManagerServer server;
  auto counter = mpkit::ManagerCounter::create(server, "counter");
  time_round_trips(state, kRoundTrips, [&](int /*i*/) {
    benchmark::DoNotOptimize(counter.increment());
    return true;
  });
}

// The floor: the same request/reply shape with nothing but the kernel.
void BM_UnixSocketEcho(benchmark::State& state) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  mpkit::Process echo([&] {
    ::close(fds[0]);
    std::uint64_t value = 0;
    while (read_all(fds[1], &value, sizeof value) && write_all(fds[1], &value, sizeof value)) {
    }
    return 0;
  });
  ::close(fds[1]);
  std::uint64_t value = 0;
  time_round_trips(
      state, kRoundTrips,
      [&](int /*i*/) {
        return write_all(fds[0], &value, sizeof value) && read_all(fds[0], &value, sizeof value);
      },
      "echo failed");
  ::close(fds[0]);
  (void)echo.join(std::chrono::seconds(10));
}

void BM_QueuePingPong(benchmark::State& state) {
  mpkit::ManagerServer server;
  auto request = mpkit::ManagerQueue<std::uint64_t>::create(server, fresh_name("request"), 16);
  auto reply = mpkit::ManagerQueue<std::uint64_t>::create(server, fresh_name("reply"), 16);
  mpkit::Process echo([&] {
    std::uint64_t value = 0;
    while (request.pop(value) == mpkit::QueueStatus::kOk) {
      if (reply.push(value) != mpkit::QueueStatus::kOk) break;
    }
    return 0;
  });
  constexpr int kTrips = kRoundTrips / 4;
  std::uint64_t value = 0;
  time_round_trips(state, kTrips, [&](int i) {
    return request.push(static_cast<std::uint64_t>(i)) == mpkit::QueueStatus::kOk &&
           reply.pop(value) == mpkit::QueueStatus::kOk;
  });
  request.close();
  (void)echo.join(std::chrono::seconds(10));
}

template <class Item>
void BM_QueueThroughput(benchmark::State& state) {
  mpkit::ManagerServer server;
  auto queue = mpkit::ManagerQueue<Item>::create(server, fresh_name("throughput"), kCapacity);
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    Item item{};
    std::uint64_t popped = 0;
    while (queue.pop(item) == mpkit::QueueStatus::kOk) {
      ++popped;
      benchmark::DoNotOptimize(item);
      if ((popped & 255) == 0 || popped % kItems == 0)
        progress->popped.store(popped, std::memory_order_release);
    }
    return 0;
  });
  Item item{};
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < kItems; ++i) {
      item.words[0] = i;
      if (queue.push(item) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
    }
    target += kItems;
    while (progress->popped.load(std::memory_order_acquire) < target) std::this_thread::yield();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  queue.close();
  (void)consumer.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kItems));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kItems * sizeof(Item)));
}

}  // namespace

BENCHMARK(BM_FlagRoundTrip)
    ->Name("RoundTrip/ManagerFlag")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CounterRoundTrip)
    ->Name("RoundTrip/ManagerCounter")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UnixSocketEcho)
    ->Name("RoundTrip/UnixSocketEcho")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueuePingPong)
    ->Name("PingPong/ManagerQueue")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueueThroughput<Bytes<8>>)
    ->Name("Throughput/ManagerQueue/8B")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueueThroughput<Bytes<64>>)
    ->Name("Throughput/ManagerQueue/64B")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueueThroughput<Bytes<1024>>)
    ->Name("Throughput/ManagerQueue/1KiB")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
