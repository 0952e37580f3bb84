// lock_bench: every lock of mpkit::locking, side by side in one binary
// (ARCHITECTURE.md machine notes: compare only what was measured in one run on this noisy VM).
//
// 1. uncontended/<lock>: lock, ++counter, unlock in one process. Baseline
//    uncontended/none: ++counter alone (the loop's own cost).
// 2. contended2/<lock>: two forked processes take the lock in a tight loop,
//    each incrementing the shared counter inside and its own op count
//    outside (a relaxed store to its own cache line; no clock read per
//    acquisition). One benchmark iteration is a window of kWindow: the
//    parent reads both op counts, sleeps, reads them again, and reports the
//    window's length as the iteration time (UseManualTime). At the end a stop
//    flag ends the children and the counter must equal the sum of their ops
//    (`correct` = 1). Baseline contended2/none: the same loop with no lock
//    and a private counter (the harness's own ceiling).
//    Counters: Mops_s (acquisitions per µs, both processes), ns_per_op
//    (window time per acquisition, both together), share_min (the smaller
//    process's share: 0.5 is fair) and jain (Jain's index over the two).
//
// Run: lock_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/locking/registry.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using mpkit::kCacheLineSize;

constexpr auto kWindow = std::chrono::milliseconds(10);
constexpr auto kJoinTimeout = std::chrono::seconds(30);
constexpr int kProcesses = 2;

/// One T constructed in an anonymous MAP_SHARED mapping, destroyed (by this
/// process only) and unmapped at scope end, after the children are gone.
/// No lock at all: the baseline rows.
struct NoLock {
  static constexpr std::string_view kName = "none";
  void lock() noexcept {}
  void unlock() noexcept {}
};

template <class L>
struct Board {
  alignas(kCacheLineSize) L lock;
  alignas(kCacheLineSize) std::uint64_t counter = 0;  // guarded by lock
  alignas(kCacheLineSize) std::atomic<std::uint32_t> stop{0};
  std::atomic<std::uint32_t> ready{0};
  struct alignas(kCacheLineSize) Slot {
    std::atomic<std::uint64_t> ops{0};    // written by its process only
    std::uint64_t private_counter = 0;    // the no-lock baseline's counter
  };
  Slot slots[kProcesses];
};

template <class L>
void bm_uncontended(benchmark::State& state) {
  mpkit::SharedBox<Board<L>> board;
  for (auto _ : state) {
    board->lock.lock();
    ++board->counter;
    benchmark::DoNotOptimize(board->counter);
    board->lock.unlock();
  }
  if (board->counter != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("lost updates in one process");
  }
}

template <class L>
void contend(Board<L>& board, int index) {
  auto& slot = board.slots[index];
  board.ready.fetch_add(1);
  std::uint64_t ops = 0;
  // relaxed: a stop signal only; the final counts travel through join().
  while (board.stop.load(std::memory_order_relaxed) == 0) {
    board.lock.lock();
    if constexpr (std::is_same_v<L, NoLock>) {
      ++slot.private_counter;
      benchmark::DoNotOptimize(slot.private_counter);
    } else {
      ++board.counter;
    }
    board.lock.unlock();
    // relaxed: read by the parent at window edges; exactness comes at the end.
    slot.ops.store(++ops, std::memory_order_relaxed);
  }
}

template <class L>
void bm_contended(benchmark::State& state) {
  mpkit::SharedBox<Board<L>> board;
  const auto total_ops = [&] {
    std::uint64_t sum = 0;
    for (const auto& slot : board->slots) sum += slot.ops.load(std::memory_order_relaxed);
    return sum;
  };
  {
    mpkit::Process first([&] { contend(*board, 0); });
    mpkit::Process second([&] { contend(*board, 1); });
    const auto start_by = Clock::now() + kJoinTimeout;
    while (board->ready.load() < kProcesses) {
      if (Clock::now() > start_by) {
        state.SkipWithError("the children did not start");
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    double seconds = 0;
    std::uint64_t ops = 0;
    std::uint64_t first_ops = 0;
    for (auto _ : state) {
      const std::uint64_t ops_before = total_ops();
      const std::uint64_t first_before = board->slots[0].ops.load(std::memory_order_relaxed);
      const auto begin = Clock::now();
      std::this_thread::sleep_for(kWindow);
      const std::uint64_t ops_after = total_ops();
      const std::uint64_t first_after = board->slots[0].ops.load(std::memory_order_relaxed);
      const double window = std::chrono::duration<double>(Clock::now() - begin).count();
      state.SetIterationTime(window);
      seconds += window;
      ops += ops_after - ops_before;
      first_ops += first_after - first_before;
    }
    board->stop.store(1);
    const bool joined = first.join(kJoinTimeout) == 0 && second.join(kJoinTimeout) == 0;
    if (!joined) {
      state.SkipWithError("a contending child failed or hung");
      return;
    }
    const double total = static_cast<double>(ops);
    const double a = static_cast<double>(first_ops);
    const double b = total - a;
    state.counters["Mops_s"] = total / seconds / 1e6;
    state.counters["ns_per_op"] = total > 0 ? seconds / total * 1e9 : 0;
    state.counters["share_min"] = total > 0 ? std::min(a, b) / total : 0;
    state.counters["jain"] = total > 0 ? total * total / (2 * (a * a + b * b)) : 0;
  }
  bool correct = true;
  if constexpr (!std::is_same_v<L, NoLock>) {
    correct = board->counter == total_ops();
  }
  state.counters["correct"] = correct ? 1 : 0;
  if (!correct) state.SkipWithError("lost updates: the lock did not exclude");
}

template <class L>
void register_lock() {
  const std::string name(L::kName);
  benchmark::RegisterBenchmark(("uncontended/" + name).c_str(), bm_uncontended<L>);
  benchmark::RegisterBenchmark(("contended2/" + name).c_str(), bm_contended<L>)->UseManualTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_lock<NoLock>();
  mpkit::locking::for_each_lock([]<class L>(std::type_identity<L>) { register_lock<L>(); });
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
