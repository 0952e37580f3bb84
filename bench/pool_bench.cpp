// pool_bench: what a task costs through ProcessPool and ThreadPool, and what
// the driving thread spends meanwhile.
//
// 1. map/<pool>/<task>/<chunksize>: map over 20000 items of a no-op or of a
//    ~1 µs dependent-multiply loop, at chunksize 1, 10, 100 and the default
//    (0 = ceil(n / (4 x workers)), Python's), on 2 workers. The pool lives
//    across iterations (its start-up is not timed). items_per_second, and
//    parent_cpu_pct: the driving thread's CPU time (RUSAGE_THREAD) as a
//    percentage of the wall time -- a driver that spins takes a core from the
//    workers.
// 2. submit_get/<pool>: one submit(...).get() round trip of a no-op.
//
// Run: pool_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <vector>

#include <benchmark/benchmark.h>

#include "mpkit/pools/pool.hpp"

namespace {

constexpr int kItems = 20000;
constexpr unsigned kWorkers = 2;
constexpr int kSpinSteps = 300;  // ~1 µs of dependent multiplies on this class of machine

std::uint64_t noop(int x) { return static_cast<std::uint64_t>(x); }

std::uint64_t about_1us(int x) {
  auto v = static_cast<std::uint64_t>(x);
  for (int i = 0; i < kSpinSteps; ++i) v = v * 6364136223846793005ULL + 1442695040888963407ULL;
  return v;
}

double thread_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

mpkit::PoolOptions two_workers() {
  mpkit::PoolOptions options;
  options.workers = kWorkers;
  return options;
}

template <class Pool, std::uint64_t (*Task)(int)>
void map(benchmark::State& state) {
  Pool pool(two_workers());
  const auto chunksize = static_cast<std::size_t>(state.range(0));
  (void)pool.map(Task, std::views::iota(0, kItems), 1);  // workers started and warm
  const double cpu_before = thread_cpu_seconds();
  const auto wall_before = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto results = chunksize == 0 ? pool.map(Task, std::views::iota(0, kItems))
                                  : pool.map(Task, std::views::iota(0, kItems), chunksize);
    benchmark::DoNotOptimize(results.data());
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  state.counters["parent_cpu_pct"] = 100.0 * (thread_cpu_seconds() - cpu_before) / wall;
  state.SetItemsProcessed(state.iterations() * kItems);
  pool.close();
  (void)pool.join(std::chrono::seconds(30));
}

template <class Pool>
void submit_get(benchmark::State& state) {
  Pool pool(two_workers());
  (void)pool.submit(&noop, 1).get();
  for (auto _ : state) benchmark::DoNotOptimize(pool.submit(&noop, 7).get());
  pool.close();
  (void)pool.join(std::chrono::seconds(30));
}

void chunksizes(benchmark::internal::Benchmark* b) {
  b->ArgName("chunksize")->Arg(1)->Arg(10)->Arg(100)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(map<mpkit::ProcessPool, &noop>)->Name("map/process/noop")->Apply(chunksizes);
BENCHMARK(map<mpkit::ProcessPool, &about_1us>)->Name("map/process/1us")->Apply(chunksizes);
BENCHMARK(map<mpkit::ThreadPool, &noop>)->Name("map/thread/noop")->Apply(chunksizes);
BENCHMARK(map<mpkit::ThreadPool, &about_1us>)->Name("map/thread/1us")->Apply(chunksizes);
BENCHMARK(submit_get<mpkit::ProcessPool>)->Name("submit_get/process")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(submit_get<mpkit::ThreadPool>)->Name("submit_get/thread")->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
