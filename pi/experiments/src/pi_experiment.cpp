#include "mpkit/pi/experiments/pi_experiment.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/parallel_ceiling.hpp"
#include "mpkit/pi/kernels.hpp"
#include "mpkit/pi/stream.hpp"
#include "mpkit/pools/pool.hpp"

namespace mpkit {
namespace {

// One pool task: block `block` of the darts.
struct PiTask {
  std::uint64_t seed;
  std::uint64_t stream;
  std::uint64_t darts;
  PiKernel kernel;
};

struct PiBlockResult {
  std::uint64_t inside;
  std::uint64_t first_words;  ///< the block's first two words: a fingerprint of its darts
};

PiBlockResult throw_block(PiTask task) {
  const StreamId id{task.seed, task.stream};
  const std::array<std::uint32_t, 4> first = philox_call(id, 0);
  return {count_inside(task.kernel, id, task.darts),
          (std::uint64_t{first[0]} << 32) | first[1]};
}

std::vector<PiTask> tasks_for(const PiExperimentConfig& config, unsigned workers, PiKernel kernel) {
  std::vector<PiTask> tasks;
  const std::uint64_t base = config.darts / workers;
  const std::uint64_t extra = config.darts % workers;
  for (unsigned k = 0; k < workers; ++k) {
    // Forgotten reseed: every block draws from a copy of one stream.
    const std::uint64_t stream = config.forget_reseed ? 0 : k;
    tasks.push_back({config.seed, stream, base + (k < extra ? 1 : 0), kernel});
  }
  return tasks;
}

struct Samples {
  std::vector<double> seconds;
  std::set<std::uint64_t> counts;  ///< the total inside count of each repeat
  std::uint64_t repeated_blocks = 0;
};

using Key = std::tuple<unsigned, std::string, PiKernel>;  // workers, variant, kernel

template <class Pool>
void time_kernels(Pool& pool, const PiExperimentConfig& config, unsigned workers,
                  const std::vector<PiKernel>& kernels, const std::string& variant,
                  std::map<Key, Samples>& samples) {
  // Warm-up, untimed: every worker has started and run one task before the clock starts.
  PiExperimentConfig warm = config;
  warm.darts = workers;
  (void)pool.map(throw_block, tasks_for(warm, workers, PiKernel::kScalar), std::size_t{1});
  for (const PiKernel kernel : kernels) {
    const std::vector<PiTask> tasks = tasks_for(config, workers, kernel);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<PiBlockResult> blocks = pool.map(throw_block, tasks, std::size_t{1});
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Samples& s = samples[Key{workers, variant, kernel}];
    s.seconds.push_back(seconds);
    std::uint64_t inside = 0;
    std::map<std::uint64_t, unsigned> fingerprints;
    for (const PiBlockResult& block : blocks) {
      inside += block.inside;
      ++fingerprints[block.first_words];
    }
    s.counts.insert(inside);
    std::uint64_t repeated = 0;
    for (const auto& [words, n] : fingerprints) repeated += n > 1 ? n : 0;
    s.repeated_blocks = std::max(s.repeated_blocks, repeated);
  }
}

}  // namespace

std::vector<unsigned> pi_worker_counts(const PiExperimentConfig& config) {
  std::vector<unsigned> counts = config.workers;
  if (counts.empty()) counts = {1, 2, 4, 8, 2 * std::max(1u, machine_info().cores_available)};
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  return counts;
}

void validate_pi_experiment_config(const PiExperimentConfig& config) {
  constexpr auto kMaxDarts = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (config.darts == 0) throw std::invalid_argument("darts: must be at least 1 (got 0)");
  if (config.darts > kMaxDarts) {
    throw std::invalid_argument("darts: at most 2^63 - 1 (got " + std::to_string(config.darts) + ")");
  }
  if (config.repeats == 0) throw std::invalid_argument("repeats: must be at least 1 (got 0)");
  if (!config.processes && !config.threads) throw std::invalid_argument("mode: choose processes and/or threads");
  if (!config.scalar && !config.vector) throw std::invalid_argument("kernel: choose scalar and/or vector");
  for (const unsigned w : config.workers) {
    if (w == 0 || w > 1024) {
      throw std::invalid_argument("workers: each count must be in 1..1024 (got " + std::to_string(w) + ")");
    }
  }
  const std::vector<unsigned> counts = pi_worker_counts(config);
  if (config.darts < counts.back()) {
    throw std::invalid_argument("darts: fewer darts (" + std::to_string(config.darts) + ") than workers (" +
                                std::to_string(counts.back()) + ")");
  }
}

std::vector<Measurement> run_pi_experiment(const PiExperimentConfig& config,
                                           const std::function<void(std::string_view)>& progress) {
  validate_pi_experiment_config(config);
  const std::vector<unsigned> counts = pi_worker_counts(config);
  std::vector<PiKernel> kernels;
  if (config.scalar) kernels.push_back(PiKernel::kScalar);
  if (config.vector) kernels.push_back(PiKernel::kVector);
  std::vector<std::string> variants;
  if (config.processes) variants.emplace_back("processes");
  if (config.threads) variants.emplace_back("threads");

  std::map<Key, Samples> samples;
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (const unsigned workers : counts) {
      for (const std::string& variant : variants) {
        if (progress) {
          progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) + ", " +
                   std::to_string(workers) + " " + variant);
        }
        PoolOptions options;
        options.workers = workers;
        if (variant == "processes") {
          ProcessPool pool(options);
          time_kernels(pool, config, workers, kernels, variant, samples);
        } else {
          ThreadPool pool(options);
          time_kernels(pool, config, workers, kernels, variant, samples);
        }
      }
    }
  }

  std::vector<Measurement> rows;
  // The machine's parallel ceiling, measured in this run: N independent
  // processes each throwing one block's darts with the scalar kernel (no
  // pool, no IPC), N = 1 .. cores.
  if (config.ceiling) {
    CeilingConfig ceiling;
    ceiling.experiment = "pi";
    ceiling.repeats = config.repeats;
    const std::uint64_t darts = std::max<std::uint64_t>(config.darts / 4, 1);
    const std::uint64_t expected = count_inside_scalar(StreamId{config.seed, 0}, darts);
    ceiling.work = [darts, expected, seed = config.seed] {
      return count_inside_scalar(StreamId{seed, 0}, darts) == expected;
    };
    for (Measurement& row : measure_parallel_ceiling(ceiling, progress)) rows.push_back(std::move(row));
  }
  const double standard_error = pi_standard_error(config.darts);
  for (const std::string& variant : variants) {
    for (const PiKernel kernel : kernels) {
      const Samples* one = nullptr;
      for (const unsigned workers : counts) {
        const Samples& s = samples.at(Key{workers, variant, kernel});
        if (one == nullptr) one = &s;
        Measurement row;
        row.experiment = "pi";
        row.variant = variant;
        row.workers = workers;
        row.params = {{"kernel", std::string(to_string(kernel))},
                      {"darts", static_cast<std::int64_t>(config.darts)},
                      {"seed", static_cast<std::int64_t>(config.seed)},
                      {"reseed", std::string(config.forget_reseed ? "forgotten" : "per-block")}};
        row.repeats = static_cast<unsigned>(s.seconds.size());
        row.seconds = summarize(s.seconds);
        const double estimate = pi_estimate(*s.counts.begin(), config.darts);
        const double error = std::abs(estimate - std::numbers::pi);
        row.metrics = {{"estimate", estimate},
                       {"abs_error", error},
                       {"std_errors", error / standard_error},
                       {"darts_per_s", static_cast<double>(config.darts) / row.seconds.median},
                       {"speedup", summarize(one->seconds).median / row.seconds.median}};
        if (config.forget_reseed) {
          row.metrics.emplace_back("repeated_blocks", static_cast<double>(s.repeated_blocks));
        }
        // With a fixed seed the count is the same on every run: a wrong
        // estimate here is a broken kernel or stream, not bad luck.
        row.correct = s.counts.size() == 1 && error <= 6 * standard_error && s.repeated_blocks == 0;
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

}  // namespace mpkit
