// The streams and kernels of pi/: Philox against its published known-answer
// vectors, disjoint streams, the estimate for a fixed seed, determinism, and
// the scalar and vector kernels giving the same count.

#include <cmath>
#include <cstdint>
#include <numbers>
#include <unordered_set>

#include <gtest/gtest.h>

#include "mpkit/pi/kernels.hpp"
#include "mpkit/pi/stream.hpp"

namespace mpkit::test {
namespace {

TEST(PiStream, PhiloxMatchesRandom123KnownAnswers) {
  // Random123's kat_vectors, philox4x32 10: counter, key -> output.
  EXPECT_EQ(philox_call({0, 0}, 0), (std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  // counter {243f6a88 85a308d3 13198a2e 03707344}, key {a4093822 299f31d0} (pi's digits).
  const StreamId id{.seed = 0x299f31d0a4093822ULL, .stream = 0x0370734413198a2eULL};
  EXPECT_EQ(philox_call(id, 0x85a308d3243f6a88ULL),
            (std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PiStream, DartStreamReadsTheCallsInOrder) {
  DartStream stream({7, 3});
  for (std::uint64_t n = 0; n < 3; ++n) {
    const auto block = philox_call({7, 3}, n);
    for (const std::uint32_t word : block) EXPECT_EQ(stream.next_word(), word);
  }
  DartStream later({7, 3}, 2);
  EXPECT_EQ(later.next_word(), philox_call({7, 3}, 2)[0]);
}

// Eight workers' streams of one seed: no dart (its two 32-bit words, 64
// bits) of one appears in another over the first 2^17 darts of each. By
// chance alone a repeat among these 2^20 darts has odds ~2^-25.
TEST(PiStream, WorkersStreamsNeverShareADart) {
  constexpr unsigned kWorkers = 8;
  constexpr std::uint64_t kDarts = 1u << 17;
  std::unordered_set<std::uint64_t> seen;
  seen.reserve(kWorkers * kDarts);
  for (std::uint64_t worker = 0; worker < kWorkers; ++worker) {
    DartStream stream({42, worker});
    for (std::uint64_t i = 0; i < kDarts; ++i) {
      const std::uint64_t dart = (std::uint64_t{stream.next_word()} << 32) | stream.next_word();
      ASSERT_TRUE(seen.insert(dart).second) << "worker " << worker << " dart " << i;
    }
  }
}

TEST(PiStream, SeedsGiveDifferentStreams) {
  EXPECT_NE(philox_call({1, 0}, 0), philox_call({2, 0}, 0));
  EXPECT_NE(philox_call({1, 0}, 0), philox_call({1, 1}, 0));
  EXPECT_NE(philox_call({1, 0}, 0), philox_call({1, 0}, 1));
}

TEST(PiKernels, ZeroDartsCountNothing) {
  EXPECT_EQ(count_inside_scalar({1, 0}, 0), 0u);
  EXPECT_EQ(count_inside_vector({1, 0}, 0), 0u);
}

// Same words, same arithmetic: the same count, for block-sized and ragged
// dart counts alike (the vector kernel's tail runs one dart at a time).
TEST(PiKernels, VectorCountEqualsScalarCount) {
  for (const std::uint64_t darts : {1ULL, 2ULL, 3ULL, 255ULL, 256ULL, 257ULL, 511ULL, 4096ULL, 1'000'003ULL}) {
    for (const std::uint64_t stream : {0ULL, 1ULL, 0xFFFFFFFFULL, 0x100000000ULL}) {
      EXPECT_EQ(count_inside_vector({9, stream}, darts), count_inside_scalar({9, stream}, darts))
          << darts << " darts, stream " << stream;
    }
  }
}

// Deterministic: seed 42 is fixed, so this is one fixed number, not a draw.
TEST(PiKernels, EstimateOfTenMillionDartsIsWithinFourStandardErrors) {
  constexpr std::uint64_t kDarts = 10'000'000;
  const double estimate = pi_estimate(count_inside_vector({42, 0}, kDarts), kDarts);
  const double se = pi_standard_error(kDarts);
  EXPECT_NEAR(se, 5.19e-4, 1e-5);
  EXPECT_LE(std::abs(estimate - std::numbers::pi), 4 * se) << estimate;
}

TEST(PiKernels, SameSeedSameEstimateOtherSeedOtherCount) {
  constexpr std::uint64_t kDarts = 1'000'000;
  EXPECT_EQ(count_inside_scalar({5, 2}, kDarts), count_inside_scalar({5, 2}, kDarts));
  EXPECT_EQ(count_inside_vector({5, 2}, kDarts), count_inside_vector({5, 2}, kDarts));
  EXPECT_NE(count_inside_vector({5, 2}, kDarts), count_inside_vector({6, 2}, kDarts));
}

// On different streams the kernels still agree statistically: the difference
// of two independent estimates within 4 of its standard errors (sqrt 2 x one).
TEST(PiKernels, ScalarAndVectorAgreeStatisticallyOnIndependentStreams) {
  constexpr std::uint64_t kDarts = 4'000'000;
  const double scalar = pi_estimate(count_inside_scalar({11, 0}, kDarts), kDarts);
  const double vector = pi_estimate(count_inside_vector({11, 1}, kDarts), kDarts);
  EXPECT_LE(std::abs(scalar - vector), 4 * std::sqrt(2.0) * pi_standard_error(kDarts));
}

TEST(PiKernels, NamesAndTarget) {
  EXPECT_EQ(to_string(PiKernel::kScalar), "scalar");
  EXPECT_EQ(to_string(PiKernel::kVector), "vector");
  const std::string_view target = vector_kernel_target();
  EXPECT_TRUE(target == "avx512f" || target == "avx2" || target == "baseline") << target;
}

}  // namespace
}  // namespace mpkit::test
