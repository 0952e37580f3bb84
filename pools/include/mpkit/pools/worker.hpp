#pragma once

// What a task can ask about the worker it runs in: its index, and a random
// stream of its own.
//
// Fork copies the parent's generator state into every worker, so workers
// that draw from an inherited engine draw the same numbers (ARCHITECTURE.md
// rule 7). A stream made from (seed, worker index) is the worker's own: two
// workers' streams are unrelated, and the same seed gives the same streams
// on every run.
//
// Example
//   double task(int) {
//     thread_local std::mt19937_64 engine = mpkit::worker_stream(42);
//     return std::uniform_real_distribution<double>(0, 1)(engine);
//   }

#include <cstdint>
#include <random>

namespace mpkit {

/// The worker's index (0 .. workers-1) inside a pool's worker (task or
/// initializer), -1 elsewhere.
[[nodiscard]] int this_worker_index() noexcept;

/// Stream number `stream` of `seed`: (seed, stream) through std::seed_seq,
/// so streams of adjacent numbers are unrelated. Deterministic.
[[nodiscard]] std::mt19937_64 stream_engine(std::uint64_t seed, std::uint64_t stream);

/// The calling worker's own stream of `seed`: stream_engine(seed,
/// this_worker_index()). Throws std::logic_error outside a pool's worker,
/// where no index tells the streams apart.
[[nodiscard]] std::mt19937_64 worker_stream(std::uint64_t seed);

}  // namespace mpkit
