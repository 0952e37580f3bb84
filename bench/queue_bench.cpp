// Queue transports between processes: throughput (items/s) for 8-byte and
// 64-byte items, and ping-pong round-trip latency, for every local backend of
// the queue registry (mpkit/ipc/queue_registry.hpp), each under its registry
// name -- SpscRing and MpmcRing with the baselines in the same binary
// (ARCHITECTURE.md, style habit 14): Boost's spsc_queue in shared memory
// busy-polled (boost-spsc-spin, the target's yardstick) and with mpkit's
// spin-then-park waiting (boost-spsc), Boost's interprocess message_queue,
// LockedRing, PipeQueue, and a bare pipe() (raw-pipe). "Many2x2" runs 2
// producer and 2 consumer processes on one queue, for every backend that
// takes several of each. A backend added to the registry is benchmarked here
// without a change to this file.
//
// Each benchmark forks one long-lived peer process before its timing loop.
// Throughput: per iteration the parent pushes kBatchItems items and stops the
// clock when the peer reports it has popped them all (UseManualTime). A batch
// entry (items_per_call > 1, lockfree-spsc-batch64) moves up to that many
// items per try_push_many/try_pop_many call.
// Ping-pong: the parent sends one item and waits for the echo, kRoundTrips
// times per iteration; rtt_ns is the mean round trip.
// Placement is left to the scheduler (unpinned); on this 2-core VM the two
// processes normally land on different cores.

#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "bench_support.hpp"
#include <benchmark/benchmark.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "mpkit/ipc/shared_object.hpp"
#include "mpkit/ipc/type_list.hpp"

namespace {

using mpkit::bench::Pipe;
using mpkit::bench::Progress;
using mpkit::bench::read_all;
using mpkit::bench::time_round_trips;
using mpkit::bench::wait_for;
using mpkit::bench::write_all;

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBatchItems = 1 << 20;
constexpr int kRoundTrips = 20'000;
constexpr std::size_t kRingCapacity = 4096;
constexpr std::size_t kPingPongCapacity = 16;

template <std::size_t N>
struct Bytes {
  std::uint64_t words[N / 8];
};
using Item8 = Bytes<8>;
using Item64 = Bytes<64>;

// ---- rings ----------------------------------------------------------------

template <class E, class Item>
void BM_RingThroughput(benchmark::State& state) {
  constexpr std::size_t kChunk = E::kInfo.items_per_call;  // items per call
  constexpr bool kBatched = kChunk > 1;
  auto ring = mpkit::make_queue<E, Item, kRingCapacity>(kRingCapacity);
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    std::array<Item, kChunk> buffer{};
    std::uint64_t popped = 0;
    for (;;) {
      if constexpr (kBatched) {
        std::size_t got = ring.try_pop_many(buffer);
        if (got == 0) {
          if (ring.pop(buffer[0]) != mpkit::QueueStatus::kOk) break;
          got = 1;
        }
        popped += got;
        benchmark::DoNotOptimize(buffer[got - 1]);
      } else {
        if (ring.pop(buffer[0]) != mpkit::QueueStatus::kOk) break;
        ++popped;
        benchmark::DoNotOptimize(buffer[0]);
      }
      if ((popped & 1023) == 0 || popped % kBatchItems == 0) {
        progress->popped.store(popped, std::memory_order_release);
      }
    }
    return 0;
  });

  std::array<Item, kChunk> items{};
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    if constexpr (kBatched) {
      std::uint64_t sent = 0;
      while (sent < kBatchItems) {
        const std::size_t want = std::min<std::uint64_t>(kChunk, kBatchItems - sent);
        std::size_t put = ring.try_push_many(std::span<const Item>(items.data(), want));
        if (put == 0) {
          if (ring.push(items[0]) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
          put = 1;
        }
        sent += put;
      }
    } else {
      for (std::uint64_t i = 0; i < kBatchItems; ++i) {
        items[0].words[0] = i;
        if (ring.push(items[0]) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
      }
    }
    target += kBatchItems;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  ring.close();
  (void)consumer.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchItems));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * kBatchItems * sizeof(Item)));
}

template <class E>
void BM_RingPingPong(benchmark::State& state) {
  auto request = mpkit::make_queue<E, std::uint64_t, kPingPongCapacity>(kPingPongCapacity);
  auto reply = mpkit::make_queue<E, std::uint64_t, kPingPongCapacity>(kPingPongCapacity);
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

// ---- two producers, two consumers ------------------------------------------

constexpr int kSides = 2;

struct ManyBoard {
  alignas(64) std::atomic<std::uint64_t> rounds{0};  // parent -> producers: rounds asked for
  alignas(64) std::atomic<std::uint32_t> stop{0};    // parent -> producers: leave
  struct alignas(64) Count {
    std::atomic<std::uint64_t> value{0};
  };
  Count popped[kSides];  // each consumer's total, published when it finds the queue empty
};

template <class E>
void BM_ManyThroughput(benchmark::State& state) {
  using Item = Item8;
  auto ring = mpkit::make_queue<E, Item, kRingCapacity>(kRingCapacity);
  auto board = mpkit::SharedObject<ManyBoard>::anonymous();
  constexpr std::uint64_t kShare = kBatchItems / 4;  // per producer per round
  std::vector<mpkit::Process> children;
  for (int c = 0; c < kSides; ++c) {
    children.emplace_back([&, c] {
      Item item{};
      std::uint64_t popped = 0;
      for (;;) {
        mpkit::QueueStatus status = ring.try_pop(item);
        if (status == mpkit::QueueStatus::kEmpty) {
          board->popped[c].value.store(popped, std::memory_order_release);
          status = ring.pop(item);
        }
        if (status != mpkit::QueueStatus::kOk) break;
        benchmark::DoNotOptimize(item);
        if ((++popped & 1023) == 0) board->popped[c].value.store(popped, std::memory_order_release);
      }
      return 0;
    });
  }
  for (int p = 0; p < kSides; ++p) {
    children.emplace_back([&] {
      Item item{};
      for (std::uint64_t done = 0;;) {
        while (board->rounds.load(std::memory_order_acquire) == done) {
          if (board->stop.load(std::memory_order_acquire) != 0) return 0;
          std::this_thread::yield();
        }
        for (std::uint64_t i = 0; i < kShare; ++i) {
          item.words[0] = i;
          if (ring.push(item) != mpkit::QueueStatus::kOk) return 1;
        }
        ++done;
      }
    });
  }
  const auto total_popped = [&] {
    std::uint64_t sum = 0;
    for (auto& count : board->popped) sum += count.value.load(std::memory_order_acquire);
    return sum;
  };
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    board->rounds.fetch_add(1, std::memory_order_release);
    target += kSides * kShare;
    while (total_popped() < target) std::this_thread::yield();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  board->stop.store(1, std::memory_order_release);
  ring.close();
  for (auto& child : children) (void)child.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kSides * kShare));
}

// ---- pipe baseline --------------------------------------------------------

// One write(2) per item: what a queue API over a pipe does (mp.Queue-like).
template <class Item>
void BM_PipeThroughput(benchmark::State& state) {
  Pipe pipe;
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    ::close(pipe.fds[1]);
    Item item{};
    std::uint64_t popped = 0;
    while (read_all(pipe.fds[0], &item, sizeof item)) {
      ++popped;
      if ((popped & 1023) == 0) progress->popped.store(popped, std::memory_order_release);
    }
    return 0;
  });
  ::close(pipe.fds[0]);
  pipe.fds[0] = -1;
  constexpr std::uint64_t kItems = kBatchItems / 16;  // pipes are slow: keep iterations short
  Item item{};
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < kItems; ++i) {
      if (!write_all(pipe.fds[1], &item, sizeof item)) state.SkipWithError("write failed");
    }
    target += kItems;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  pipe.close_all();
  (void)consumer.join(std::chrono::seconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kItems));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kItems * sizeof(Item)));
}

void BM_PipePingPong(benchmark::State& state) {
  Pipe request;
  Pipe reply;
  mpkit::Process echo([&] {
    std::uint64_t value = 0;
    while (read_all(request.fds[0], &value, sizeof value) &&
           write_all(reply.fds[1], &value, sizeof value)) {
    }
    return 0;
  });
  constexpr int kTrips = kRoundTrips / 10;
  std::uint64_t value = 0;
  time_round_trips(
      state, kTrips,
      [&](int /*i*/) {
        return write_all(request.fds[1], &value, sizeof value) &&
               read_all(reply.fds[0], &value, sizeof value);
      },
      "pipe ping-pong failed");
  request.close_all();
  reply.close_all();
  (void)echo.join(std::chrono::seconds(10));
}

// ---- registration: every registry entry, under its name ------------------------

template <class F>
void add(const std::string& name, F fn, benchmark::TimeUnit unit) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(unit);
}

template <class Item>
void add_throughput(const std::string& bytes) {
  mpkit::for_each_type(mpkit::LocalQueueBackends{}, [&]<class E>(std::type_identity<E>) {
    add("Throughput/" + std::string(E::kInfo.name) + "/" + bytes, BM_RingThroughput<E, Item>,
        benchmark::kMillisecond);
  });
  add("Throughput/raw-pipe/" + bytes, BM_PipeThroughput<Item>, benchmark::kMillisecond);
}

void register_benchmarks() {
  add_throughput<Item8>("8B");
  add_throughput<Item64>("64B");
  mpkit::for_each_type(mpkit::LocalQueueBackends{}, []<class E>(std::type_identity<E>) {
    // A ping-pong has one item in flight: nothing for a batch entry to batch.
    if constexpr (E::kInfo.items_per_call == 1) {
      add("PingPong/" + std::string(E::kInfo.name), BM_RingPingPong<E>, benchmark::kMicrosecond);
    }
  });
  add("PingPong/raw-pipe", BM_PipePingPong, benchmark::kMicrosecond);
  mpkit::for_each_type(mpkit::LocalQueueBackends{}, []<class E>(std::type_identity<E>) {
    if constexpr (E::kInfo.many_sided()) {
      add("Many2x2/" + std::string(E::kInfo.name) + "/8B", BM_ManyThroughput<E>,
          benchmark::kMillisecond);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
