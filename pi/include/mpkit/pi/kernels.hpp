#pragma once

// Monte Carlo pi kernels: how many of `darts` darts of a stream land inside
// the quarter circle (x*x + y*y <= 1, x and y uniform in [0, 1)).
//
//   count_inside_scalar  the book's loop ("lists" version): one dart at a
//                        time, two uniform() draws from a DartStream each
//   count_inside_vector  the "numpy" version: blocks of 256 darts, the
//                        Philox calls of a block computed lane by lane in
//                        arrays the compiler vectorises (built with -O3, and
//                        cloned for AVX-512, AVX2 and baseline x86-64, the
//                        best picked at load time)
//
// Both read the same words of the same stream and do the same IEEE double
// arithmetic (no FMA contraction: -ffp-contract=off), so they return the
// same count for the same (stream, darts), not merely a close one.
//
// Contract
//   Guarantees: deterministic in (id, darts); darts 0 gives 0.
//   Thread safety: pure functions.
//
// Example
//   const std::uint64_t inside = mpkit::count_inside_vector({42, 0}, 100'000'000);
//   const double pi = mpkit::pi_estimate(inside, 100'000'000);

#include <cstdint>
#include <string_view>

#include "mpkit/pi/stream.hpp"

namespace mpkit {

enum class PiKernel : std::uint8_t { kScalar, kVector };

[[nodiscard]] std::string_view to_string(PiKernel kernel) noexcept;

[[nodiscard]] std::uint64_t count_inside_scalar(StreamId id, std::uint64_t darts) noexcept;
[[nodiscard]] std::uint64_t count_inside_vector(StreamId id, std::uint64_t darts) noexcept;
[[nodiscard]] std::uint64_t count_inside(PiKernel kernel, StreamId id, std::uint64_t darts) noexcept;

/// 4 * inside / darts. Requires darts > 0.
[[nodiscard]] double pi_estimate(std::uint64_t inside, std::uint64_t darts) noexcept;

/// The standard error of that estimate for `darts` darts: 4 * sqrt(p(1-p)/darts),
/// p = pi/4.
[[nodiscard]] double pi_standard_error(std::uint64_t darts) noexcept;

/// Which clone of the vector kernel this CPU runs: "avx512f", "avx2" or "baseline".
[[nodiscard]] std::string_view vector_kernel_target() noexcept;

}  // namespace mpkit
