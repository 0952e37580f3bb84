#pragma once

// What the forked-peer benchmarks share: a progress word, the round-trip
// counter, and the pipe baseline's plumbing (the peer baseline every
// transport suite puts in its own binary, ARCHITECTURE.md, style habit 14).
// An object of any type in shared memory is the lab's SharedBox
// (mpkit/ipc/experiments/shared_box.hpp).

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include <benchmark/benchmark.h>

namespace mpkit::bench {

/// How far the peer has got, in shared memory.
struct Progress {
  std::atomic<std::uint64_t> popped{0};
};

/// Yields until `counter` reaches `target` (acquire: the peer's work is visible).
inline void wait_for(const std::atomic<std::uint64_t>& counter, std::uint64_t target) {
  while (counter.load(std::memory_order_acquire) < target) std::this_thread::yield();
}

/// Mean round trip in ns over the whole run, as a plain counter.
inline void set_rtt(benchmark::State& state, double total_seconds, int trips_per_iteration) {
  const double trips = static_cast<double>(state.iterations()) * trips_per_iteration;
  state.counters["rtt_ns"] = trips > 0 ? total_seconds * 1e9 / trips : 0.0;
}

/// Times `trips` round trips per benchmark iteration (for UseManualTime) and
/// sets rtt_ns. `trip(i)` makes round trip i and returns false if it failed:
/// the run is then skipped with `error`.
template <class Trip>
void time_round_trips(benchmark::State& state, int trips, Trip&& trip,
                      const char* error = "ping-pong failed") {
  double total_seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < trips; ++i) {
      if (!trip(i)) {
        state.SkipWithError(error);
        break;
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total_seconds += seconds;
    state.SetIterationTime(seconds);
  }
  set_rtt(state, total_seconds, trips);
}

/// A pipe whose ends close with it.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close_all(); }
  void close_all() noexcept {
    for (int& fd : fds) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
};

/// Writes / reads exactly n bytes (EINTR retried); false on EOF or error.
inline bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
inline bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace mpkit::bench
