// The Monte Carlo pi kernels of pi/, one core: the book's scalar loop (the
// baseline) beside the vector block kernel, in darts per second. The target
// (EXPERIMENTS.md §3): vector >= 4x scalar. Both count the same darts of the
// same stream, so the ratio is kernel against kernel, nothing else.

#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "mpkit/pi/kernels.hpp"

namespace mpkit::bench {
namespace {

void BM_PiScalar(benchmark::State& state) {
  const auto darts = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t seed = 1;
  for (auto _ : state) benchmark::DoNotOptimize(count_inside_scalar({seed++, 0}, darts));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetLabel("darts");
}
BENCHMARK(BM_PiScalar)->Arg(1 << 20);

void BM_PiVector(benchmark::State& state) {
  const auto darts = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t seed = 1;
  for (auto _ : state) benchmark::DoNotOptimize(count_inside_vector({seed++, 0}, darts));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetLabel(std::string("darts, ") + std::string(vector_kernel_target()));
}
BENCHMARK(BM_PiVector)->Arg(1 << 20);

}  // namespace
}  // namespace mpkit::bench

BENCHMARK_MAIN();
