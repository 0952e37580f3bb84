// The parallel ceiling (parallel_ceiling.hpp): the rows' shape, and that a
// wrong answer marks its run. Shape and correctness only, never timing.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/parallel_ceiling.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::CeilingConfig;
using mpkit::Measurement;

// A few ms of dependent arithmetic whose answer the parent knows.
bool small_work() {
  std::uint64_t x = 1;
  for (int i = 0; i < 200'000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x != 0;
}

TEST(ParallelCeiling, OneRowPerProcessCount) {
  CeilingConfig config{.experiment = "test", .work = &small_work, .max_processes = 3, .repeats = 2};
  const std::vector<Measurement> rows = mpkit::measure_parallel_ceiling(config);
  ASSERT_EQ(rows.size(), 3U);
  for (unsigned n = 1; n <= 3; ++n) {
    const Measurement& row = rows[n - 1];
    SCOPED_TRACE(n);
    EXPECT_EQ(row.experiment, "test");
    EXPECT_EQ(row.variant, "ceiling");
    EXPECT_EQ(row.workers, n);
    const mpkit::ParamValue* processes = mpkit::find_param(row, "processes");
    ASSERT_NE(processes, nullptr);
    EXPECT_EQ(std::get<std::int64_t>(*processes), n);
    EXPECT_EQ(row.repeats, 2U);
    EXPECT_TRUE(row.correct);
    EXPECT_GT(row.seconds.min, 0);
    EXPECT_LE(row.seconds.min, row.seconds.median);
    EXPECT_LE(row.seconds.median, row.seconds.max);
    const auto speedup = mpkit::find_metric(row, "speedup");
    const auto efficiency = mpkit::find_metric(row, "efficiency");
    ASSERT_TRUE(speedup && efficiency);
    EXPECT_GT(*speedup, 0);
    EXPECT_DOUBLE_EQ(*efficiency, *speedup / n);
  }
  EXPECT_DOUBLE_EQ(*mpkit::find_metric(rows[0], "speedup"), 1.0);
}

TEST(ParallelCeiling, DefaultsToTheAllowedCpus) {
  CeilingConfig config{.experiment = "test", .work = &small_work, .repeats = 1};
  EXPECT_EQ(mpkit::measure_parallel_ceiling(config).size(), mpkit::allowed_cpus().size());
}

TEST(ParallelCeiling, AWrongAnswerFailsItsRuns) {
  CeilingConfig config{.experiment = "test", .work = [] { return false; }, .max_processes = 2,
                       .repeats = 2};
  const std::vector<Measurement> rows = mpkit::measure_parallel_ceiling(config);
  ASSERT_EQ(rows.size(), 2U);
  for (const Measurement& row : rows) {
    EXPECT_FALSE(row.correct);
    EXPECT_EQ(row.repeats, 0U);
    EXPECT_TRUE(row.metrics.empty());
  }
}

TEST(ParallelCeiling, OneRunIsTimedOrNot) {
  EXPECT_TRUE(mpkit::ceiling_once(2, &small_work, nullptr, 60s).has_value());
  EXPECT_FALSE(mpkit::ceiling_once(1, [] { return false; }, nullptr, 60s).has_value());
  const mpkit::Pinning pinning;
  EXPECT_TRUE(mpkit::ceiling_once(2, &small_work, &pinning, 60s).has_value());
}

TEST(ParallelCeiling, BadConfigNamesTheField) {
  EXPECT_THROW((void)mpkit::measure_parallel_ceiling({.experiment = "test"}),
               std::invalid_argument);
  EXPECT_THROW((void)mpkit::measure_parallel_ceiling(
                   {.experiment = "test", .work = &small_work, .repeats = 0}),
               std::invalid_argument);
  EXPECT_THROW((void)mpkit::ceiling_once(0, &small_work, nullptr, 1s), std::invalid_argument);
}

}  // namespace
