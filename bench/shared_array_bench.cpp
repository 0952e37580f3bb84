// shared_array_bench: how fast a SharedMatrix is filled, beside its baseline
// in the same binary (ARCHITECTURE.md, style habit 14), and what first touch costs.
//
// 1. fill/memset_1core/<bytes>: one process memsets the bytes of a
//    pre-faulted SharedMatrix: the single-core write bandwidth (baseline),
//    on wall time (UseRealTime) like the manual time of the parallel fill.
// 2. fill/pid_fill_2proc/<bytes>: two long-lived forked workers fill the same
//    matrix, worker k every row r = k mod 2, with the library's
//    fill_row_with_pid (check the row, then write it); iteration g checks
//    for the value of iteration g - 1 (42 first) and writes 42 + g. Timed by
//    hand (UseManualTime) from the parent's "go" to the last worker's
//    "done", so a futex wake-up (~20 µs here) is inside each iteration. The
//    workers live across iterations: from the second on their page tables
//    are warm, as a pool's workers' are.
//    Both report bytes_per_second; their ratio is the target (the
//    parallel fill at >= 70 % of one core's memset).
// 3. first_touch/<method>: a fresh 64 MiB anonymous SharedArray per
//    iteration; the time until every page has been written once by the
//    caller. Methods: none (the caller's writes fault), populate
//    (MADV_POPULATE_WRITE, then the writes), threads2 / procs2 (two threads /
//    forked processes touch half each, then the caller writes). Counters:
//    prefault_ns_per_page (the prefault step), touch_ns_per_page (the
//    caller's writes after it), ns_per_page (both).
//
// Run: shared_array_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include <benchmark/benchmark.h>

#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"
#include "mpkit/shared_arrays/experiments/pid_fill.hpp"
#include "mpkit/shared_arrays/shared_array.hpp"
#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kCols = 4096;  // 32 KiB rows of doubles
constexpr unsigned kFillers = 2;
constexpr auto kWaitLimit = std::chrono::seconds(30);  // a worker that stops answering

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

mpkit::SharedMatrix<double> warm_matrix(std::size_t bytes) {
  auto m = mpkit::SharedMatrix<double>::anonymous(bytes / sizeof(double) / kCols, kCols);
  m.prefault(mpkit::Prefault::kPopulate);
  m.fill(mpkit::kPidFillInitial);
  return m;
}

void BM_Memset(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto m = warm_matrix(bytes);
  int pattern = 0;
  for (auto _ : state) {
    std::memset(m.data(), 0x40 + (pattern++ & 0xF), m.size_bytes());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.size_bytes()));
}

// Protocol: the parent bumps `generation` (release) and wakes the workers;
// each fills its rows, then adds one to `done` (release) and wakes the
// parent, which waits (acquire) for kFillers * generation. `stop` ends the
// workers. Each word has its own cache line. Memory ordering: release /
// acquire on generation and done; the matrix is written only between them.
struct FillControl {
  alignas(mpkit::kCacheLineSize) std::atomic<std::uint32_t> generation{0};
  alignas(mpkit::kCacheLineSize) std::atomic<std::uint32_t> done{0};
  alignas(mpkit::kCacheLineSize) std::atomic<std::uint32_t> stop{0};
  std::atomic<std::uint32_t> failed{0};  // a row did not hold the previous value
};

int filler(const mpkit::SharedMatrix<double>& m, FillControl& control, unsigned k) {
  std::uint32_t seen = 0;
  for (;;) {
    std::uint32_t now = control.generation.load(std::memory_order_acquire);
    while (now == seen) {
      if (control.stop.load(std::memory_order_acquire) != 0) return 0;
      (void)mpkit::futex_wait(control.generation, now, mpkit::deadline_after(kWaitLimit));
      now = control.generation.load(std::memory_order_acquire);
    }
    seen = now;
    const double previous = mpkit::kPidFillInitial + (now - 1);
    const auto next = static_cast<pid_t>(mpkit::kPidFillInitial + now);
    for (std::size_t r = k; r < m.rows(); r += kFillers) {
      // relaxed: read by the parent after its acquire of `done`.
      if (!mpkit::fill_row_with_pid(m.row(r), next, previous))
        control.failed.store(1, std::memory_order_relaxed);
    }
    control.done.fetch_add(1, std::memory_order_release);
    mpkit::futex_wake_all(control.done);
  }
}

void BM_ParallelPidFill(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto m = warm_matrix(bytes);
  auto control = mpkit::SharedObject<FillControl>::anonymous();
  std::vector<mpkit::Process> workers;
  for (unsigned k = 0; k < kFillers; ++k) {
    workers.emplace_back([&m, &control, k] { return filler(m, *control, k); });
  }
  std::uint32_t generation = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    ++generation;
    control->generation.store(generation, std::memory_order_release);
    mpkit::futex_wake_all(control->generation);
    const std::uint32_t target = kFillers * generation;
    const auto give_up = mpkit::deadline_after(kWaitLimit);
    for (;;) {
      const std::uint32_t done = control->done.load(std::memory_order_acquire);
      if (done >= target) break;
      if (Clock::now() > give_up) {
        state.SkipWithError("a filler stopped answering");
        break;
      }
      (void)mpkit::futex_wait(control->done, done, give_up);
    }
    state.SetIterationTime(seconds_since(start));
    if (control->failed.load(std::memory_order_relaxed) != 0) {
      state.SkipWithError("a row did not hold the previous iteration's value");
      break;
    }
  }
  control->stop.store(1, std::memory_order_release);
  control->generation.fetch_add(1, std::memory_order_release);
  mpkit::futex_wake_all(control->generation);
  for (auto& worker : workers) (void)worker.join(kWaitLimit);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.size_bytes()));
}

// ---- first touch -----------------------------------------------------------

constexpr std::size_t kTouchBytes = 64u << 20;

enum Method : int { kNone, kPopulate, kThreads, kProcesses };

void BM_FirstTouch(benchmark::State& state) {
  const auto method = static_cast<Method>(state.range(0));
  double prefault_s = 0;
  double touch_s = 0;
  std::size_t pages = 0;
  for (auto _ : state) {
    auto a = mpkit::SharedArray<unsigned char>::anonymous(kTouchBytes);  // untimed
    pages = a.size() / mpkit::kPageSize;
    const auto start = Clock::now();
    switch (method) {
      case kNone:
        break;
      case kPopulate:
        a.prefault(mpkit::Prefault::kPopulate);
        break;
      case kThreads:
        a.prefault(mpkit::Prefault::kTouchThreads, 2);
        break;
      case kProcesses:
        a.prefault(mpkit::Prefault::kTouchProcesses, 2);
        break;
    }
    const auto prefaulted = Clock::now();
    for (std::size_t i = 0; i < a.size(); i += mpkit::kPageSize) a[i] = 1;
    benchmark::ClobberMemory();
    const auto end = Clock::now();
    prefault_s += std::chrono::duration<double>(prefaulted - start).count();
    touch_s += std::chrono::duration<double>(end - prefaulted).count();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
  }
  const double touched = static_cast<double>(state.iterations()) * static_cast<double>(pages);
  if (touched > 0) {
    state.counters["prefault_ns_per_page"] = prefault_s * 1e9 / touched;
    state.counters["touch_ns_per_page"] = touch_s * 1e9 / touched;
    state.counters["ns_per_page"] = (prefault_s + touch_s) * 1e9 / touched;
  }
}

void FillSizes(benchmark::internal::Benchmark* b) {
  b->Arg(64 << 20)->Arg(256 << 20)->Unit(benchmark::kMillisecond);
}

}  // namespace

// Wall time for both fills: bytes_per_second then compares like with like.
BENCHMARK(BM_Memset)->Name("fill/memset_1core")->Apply(FillSizes)->UseRealTime();
BENCHMARK(BM_ParallelPidFill)->Name("fill/pid_fill_2proc")->Apply(FillSizes)->UseManualTime();
BENCHMARK(BM_FirstTouch)
    ->Name("first_touch/none")
    ->Arg(kNone)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstTouch)
    ->Name("first_touch/populate")
    ->Arg(kPopulate)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstTouch)
    ->Name("first_touch/threads2")
    ->Arg(kThreads)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstTouch)
    ->Name("first_touch/procs2")
    ->Arg(kProcesses)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
