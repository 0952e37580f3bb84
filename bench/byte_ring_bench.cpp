// ByteRing between two processes: throughput in messages/s and bytes/s for
// 8 B, 64 B, 1 KiB and 64 KiB messages, and an 8-byte ping-pong round trip,
// with a pipe() baseline carrying the same length-prefixed frames in the same
// binary (ARCHITECTURE.md, style habit 14).
//
// Each benchmark forks one long-lived peer before its timing loop.
// Throughput: per iteration the parent pushes messages_for(size) messages
// (about 64 MiB, at most 2^20 messages) and stops the clock when the peer
// reports it has popped them all (UseManualTime). The consumer pops into a
// caller buffer (no allocation per message). "ByteRingLocked" is the same
// ring created with kMany producers and consumers, still one process on each
// side: the price of the robust side locks. "SpscRingFixed" is SpscRing with
// items of the same fixed size (8 B, 64 B), for the price of a variable
// length (and the same for the ping-pong). The pipe writes each frame (an
// 8-byte length, then the payload) with one write(2) and reads it with two
// reads, as a length-prefixed transport does (Python's mp.Queue).
// Ping-pong: one 8-byte message and its echo, kRoundTrips times per
// iteration; rtt_ns is the mean round trip.
// Placement is left to the scheduler (unpinned); on this 2-core VM the two
// processes normally land on different cores.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include <benchmark/benchmark.h>

#include "mpkit/ipc/byte_ring.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"
#include "mpkit/ipc/spsc_ring.hpp"

namespace {

using mpkit::bench::Pipe;
using mpkit::bench::Progress;
using mpkit::bench::read_all;
using mpkit::bench::time_round_trips;
using mpkit::bench::wait_for;
using mpkit::bench::write_all;

using Clock = std::chrono::steady_clock;

constexpr int kRoundTrips = 20'000;

// About 64 MiB per iteration, at most 2^20 messages.
std::uint64_t messages_for(std::size_t size) {
  return std::min<std::uint64_t>(std::uint64_t{1} << 20,
                                 (std::uint64_t{64} << 20) / std::max<std::size_t>(size, 1));
}

// 1 MiB, and room for at least 8 messages in flight. (With 64 KiB, 1 KiB
// messages moved ~2.5 GB/s; with 1 MiB ~4.6 -- noisy, this VM, loaded.)
std::size_t ring_bytes_for(std::size_t size) {
  return std::bit_ceil(
      std::max<std::size_t>(std::size_t{1} << 20, 8 * mpkit::detail::byte_record_bytes(size)));
}

void set_counters(benchmark::State& state, std::uint64_t per_iteration, std::size_t size) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration * size));
}

// ---- ByteRing ----------------------------------------------------------------

template <mpkit::ByteRingProducers P, mpkit::ByteRingConsumers C>
void BM_ByteRingThroughput(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::uint64_t per_iteration = messages_for(size);
  auto ring = mpkit::ByteRing::create(ring_bytes_for(size), P, C);
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    std::vector<std::byte> buffer(ring.max_message_bytes());
    std::size_t got = 0;
    std::uint64_t popped = 0;
    std::uint64_t until_report = per_iteration;  // a countdown: no division per message
    while (ring.pop(buffer, got) == mpkit::QueueStatus::kOk) {
      if (got != size) return 1;
      benchmark::DoNotOptimize(buffer.data());
      ++popped;
      if (--until_report == 0) {
        progress->popped.store(popped, std::memory_order_release);
        until_report = per_iteration;
      }
    }
    return 0;
  });

  std::vector<std::byte> message(size, std::byte{0x5a});
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < per_iteration; ++i) {
      if (ring.push(message) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
    }
    target += per_iteration;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  ring.close();
  if (consumer.join(std::chrono::seconds(10)) != 0)
    state.SkipWithError("the consumer saw a wrong size");
  set_counters(state, per_iteration, size);
}

void BM_ByteRingPingPong(benchmark::State& state) {
  auto request = mpkit::ByteRing::create(4096);
  auto reply = mpkit::ByteRing::create(4096);
  mpkit::Process echo([&] {
    std::array<std::byte, 8> value{};
    std::size_t got = 0;
    while (request.pop(value, got) == mpkit::QueueStatus::kOk) {
      if (reply.push(std::span(value).first(got)) != mpkit::QueueStatus::kOk) break;
    }
    return 0;
  });
  std::array<std::byte, 8> value{};
  std::size_t got = 0;
  time_round_trips(state, kRoundTrips, [&](int /*i*/) {
    return request.push(value) == mpkit::QueueStatus::kOk &&
           reply.pop(value, got) == mpkit::QueueStatus::kOk;
  });
  request.close();
  reply.close();
  (void)echo.join(std::chrono::seconds(10));
}

// ---- SpscRing reference: fixed-size items, what a known size buys ----------------

template <std::size_t N>
struct Bytes {
  std::byte data[N];
};

template <std::size_t N>
void BM_SpscRingThroughput(benchmark::State& state) {
  const std::uint64_t per_iteration = messages_for(N);
  auto ring =
      mpkit::SpscRing<Bytes<N>>::create((std::size_t{64} << 10) / N);  // the same 64 KiB of items
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    Bytes<N> item{};
    std::uint64_t popped = 0;
    std::uint64_t until_report = per_iteration;
    while (ring.pop(item) == mpkit::QueueStatus::kOk) {
      benchmark::DoNotOptimize(item);
      ++popped;
      if (--until_report == 0) {
        progress->popped.store(popped, std::memory_order_release);
        until_report = per_iteration;
      }
    }
    return 0;
  });
  Bytes<N> item{};
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < per_iteration; ++i) {
      if (ring.push(item) != mpkit::QueueStatus::kOk) state.SkipWithError("push failed");
    }
    target += per_iteration;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  ring.close();
  (void)consumer.join(std::chrono::seconds(10));
  set_counters(state, per_iteration, N);
}

void BM_SpscRingPingPong(benchmark::State& state) {
  auto request = mpkit::SpscRing<std::uint64_t>::create(16);
  auto reply = mpkit::SpscRing<std::uint64_t>::create(16);
  mpkit::Process echo([&] {
    std::uint64_t value = 0;
    while (request.pop(value) == mpkit::QueueStatus::kOk) {
      if (reply.push(value) != mpkit::QueueStatus::kOk) break;
    }
    return 0;
  });
  std::uint64_t value = 0;
  time_round_trips(state, kRoundTrips, [&](int /*i*/) {
    return request.push(value) == mpkit::QueueStatus::kOk &&
           reply.pop(value) == mpkit::QueueStatus::kOk;
  });
  request.close();
  reply.close();
  (void)echo.join(std::chrono::seconds(10));
}

// ---- pipe baseline -------------------------------------------------------------

// A frame: the payload's length (8 bytes), then the payload.
std::vector<std::byte> frame_of(std::size_t size) {
  const auto header = std::bit_cast<std::array<std::byte, 8>>(std::uint64_t{size});
  std::vector<std::byte> frame(header.begin(), header.end());
  frame.resize(8 + size, std::byte{0x5a});
  return frame;
}

// Reads one frame into `buffer` (resized); false at end of file.
bool read_frame(int fd, std::vector<std::byte>& buffer) {
  std::uint64_t length = 0;
  if (!read_all(fd, &length, sizeof length)) return false;
  buffer.resize(static_cast<std::size_t>(length));
  return read_all(fd, buffer.data(), buffer.size());
}

void BM_PipeThroughput(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  // Pipes are slower: shorter iterations, the same bytes per message.
  const std::uint64_t per_iteration = std::max<std::uint64_t>(messages_for(size) / 16, 64);
  Pipe pipe;
  auto progress = mpkit::SharedObject<Progress>::anonymous();
  mpkit::Process consumer([&] {
    ::close(pipe.fds[1]);
    std::vector<std::byte> buffer;
    std::uint64_t popped = 0;
    std::uint64_t until_report = per_iteration;
    while (read_frame(pipe.fds[0], buffer)) {
      if (buffer.size() != size) return 1;
      benchmark::DoNotOptimize(buffer.data());
      ++popped;
      if (--until_report == 0) {
        progress->popped.store(popped, std::memory_order_release);
        until_report = per_iteration;
      }
    }
    return 0;
  });
  ::close(pipe.fds[0]);
  pipe.fds[0] = -1;
  const std::vector<std::byte> frame = frame_of(size);
  std::uint64_t target = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < per_iteration; ++i) {
      if (!write_all(pipe.fds[1], frame.data(), frame.size())) state.SkipWithError("write failed");
    }
    target += per_iteration;
    wait_for(progress->popped, target);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  pipe.close_all();
  if (consumer.join(std::chrono::seconds(10)) != 0)
    state.SkipWithError("the reader saw a wrong size");
  set_counters(state, per_iteration, size);
}

void BM_PipePingPong(benchmark::State& state) {
  Pipe request;
  Pipe reply;
  mpkit::Process echo([&] {
    std::vector<std::byte> buffer;
    while (read_frame(request.fds[0], buffer)) {
      const std::vector<std::byte> frame = frame_of(buffer.size());
      if (!write_all(reply.fds[1], frame.data(), frame.size())) break;
    }
    return 0;
  });
  constexpr int kTrips = kRoundTrips / 10;
  const std::vector<std::byte> frame = frame_of(8);
  std::vector<std::byte> buffer;
  time_round_trips(
      state, kTrips,
      [&](int /*i*/) {
        return write_all(request.fds[1], frame.data(), frame.size()) &&
               read_frame(reply.fds[0], buffer);
      },
      "pipe ping-pong failed");
  request.close_all();
  reply.close_all();
  (void)echo.join(std::chrono::seconds(10));
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t size : {8, 64, 1024, 64 * 1024}) b->Arg(size);
  b->ArgName("bytes");
}

}  // namespace

using mpkit::ByteRingConsumers;
using mpkit::ByteRingProducers;

BENCHMARK(BM_ByteRingThroughput<ByteRingProducers::kOne, ByteRingConsumers::kOne>)
    ->Name("Throughput/ByteRing")
    ->Apply(Sizes)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ByteRingThroughput<ByteRingProducers::kMany, ByteRingConsumers::kMany>)
    ->Name("Throughput/ByteRingLocked")
    ->Apply(Sizes)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpscRingThroughput<8>)
    ->Name("Throughput/SpscRingFixed/bytes:8")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpscRingThroughput<64>)
    ->Name("Throughput/SpscRingFixed/bytes:64")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipeThroughput)
    ->Name("Throughput/Pipe")
    ->Apply(Sizes)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ByteRingPingPong)
    ->Name("PingPong/ByteRing/8B")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SpscRingPingPong)
    ->Name("PingPong/SpscRingFixed/8B")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PipePingPong)
    ->Name("PingPong/Pipe/8B")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
