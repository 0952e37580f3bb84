// The `mpkit pool` experiment library: a small configuration yields one row
// per configuration with correct answers, and bad configurations name the
// field. (Speed is never asserted.)

#include "mpkit/pools/experiments/pool_experiment.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>

namespace {

std::string part_of(const mpkit::Measurement& row) {
  const mpkit::ParamValue* part = mpkit::find_param(row, "part");
  return part != nullptr && std::holds_alternative<std::string>(*part) ? std::get<std::string>(*part) : "";
}

TEST(PoolExperiment, TrialDivisionAgreesWithKnownPrimes) {
  int count = 0;
  for (std::uint64_t n = 0; n < 100; ++n) count += mpkit::pool_experiment_is_prime(n) ? 1 : 0;
  EXPECT_EQ(count, 25);
  EXPECT_TRUE(mpkit::pool_experiment_is_prime(100000007));
  EXPECT_FALSE(mpkit::pool_experiment_is_prime(100000007ULL * 3));
}

TEST(PoolExperiment, SmallRunGivesOneCorrectRowPerConfiguration) {
  mpkit::PoolExperimentConfig config;
  config.repeats = 1;
  config.overhead_inputs = {2000};
  config.range_begin = 100'000'000;
  config.range_end = 100'002'000;
  config.sweep_workers = {1, 2};
  config.chunksizes = {0, 1, 100};
  config.max_chunks = 3;
  config.startup_runs = 2;
  config.shuffle = true;
  int lines = 0;
  const auto rows = mpkit::run_pool_experiment(config, [&](std::string_view) { ++lines; });
  std::map<std::string, int> per_part;
  for (const auto& row : rows) {
    EXPECT_EQ(row.experiment, "pool");
    EXPECT_TRUE(row.correct) << row.variant << " " << part_of(row);
    EXPECT_GT(row.seconds.median, 0.0);
    per_part[part_of(row)] += 1;
  }
  EXPECT_EQ(per_part["overhead"], 4) << "chunksize 1 and default, process and thread";
  EXPECT_EQ(per_part["sweep"], 3) << "serial + 2 pool sizes";
  EXPECT_EQ(per_part["chunksize"], 3);
  EXPECT_EQ(per_part["chunks"], 3);
  EXPECT_EQ(per_part["startup"], 2);
  EXPECT_GT(lines, 0);
  for (const auto& row : rows) {
    if (part_of(row) == "overhead") {
      EXPECT_TRUE(mpkit::find_metric(row, "tasks_per_s").has_value());
    }
    if (part_of(row) == "sweep") {
      EXPECT_TRUE(mpkit::find_metric(row, "speedup").has_value());
    }
  }
}

// The submit and ceiling parts, and what the sweep takes from them: every
// row correct, the figures present and in range (never their size).
TEST(PoolExperiment, SubmitAndCeilingPartsAndTheSweepAgainstTheCeiling) {
  mpkit::PoolExperimentConfig config;
  config.repeats = 1;
  config.parts = {"submit", "ceiling", "sweep"};
  config.range_begin = 1'000'000;
  config.range_end = 1'002'000;
  config.sweep_workers = {1};
  const auto rows = mpkit::run_pool_experiment(config);
  std::map<std::string, int> per_part;
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(part_of(row) + " " + row.variant + " " + std::to_string(row.workers));
    EXPECT_TRUE(row.correct);
    ++per_part[part_of(row)];
    if (part_of(row) == "submit") {
      const bool spread = mpkit::find_metric(row, "ratio_to_ideal").has_value();
      const bool trips = mpkit::find_metric(row, "rtt_us_p50").has_value();
      EXPECT_NE(spread, trips) << "one mode per row";
      if (spread) {
        EXPECT_GT(*mpkit::find_metric(row, "ratio_to_ideal"), 0.0);
      }
      if (trips) {
        EXPECT_LE(*mpkit::find_metric(row, "rtt_us_p50"), *mpkit::find_metric(row, "rtt_us_p99"));
      }
    }
    if (part_of(row) == "ceiling") {
      EXPECT_EQ(row.variant, "ceiling");
      EXPECT_TRUE(mpkit::find_metric(row, "speedup").has_value());
    }
    if (part_of(row) == "sweep" && row.variant == "process") {
      EXPECT_TRUE(mpkit::find_metric(row, "of_ceiling").has_value()) << "1 worker has a ceiling row";
      const auto pct = mpkit::find_metric(row, "parent_cpu_pct");
      ASSERT_TRUE(pct.has_value());
      EXPECT_GE(*pct, 0.0);
      EXPECT_LE(*pct, 100.0) << "one thread's CPU time cannot exceed the wall time";
    }
  }
  EXPECT_EQ(per_part["submit"], 4) << "two modes for each pool kind";
  EXPECT_GE(per_part["ceiling"], 1);
  EXPECT_EQ(per_part["sweep"], 2) << "serial and 1 worker";
}

TEST(PoolExperiment, BadConfigurationNamesTheField) {
  auto expect_invalid = [](mpkit::PoolExperimentConfig config, const std::string& word) {
    try {
      mpkit::validate_pool_experiment_config(config);
      ADD_FAILURE() << "accepted; expected an error naming " << word;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  mpkit::PoolExperimentConfig config;
  config.repeats = 0;
  expect_invalid(config, "repeats");
  config = {};
  config.range_end = config.range_begin;
  expect_invalid(config, "range_end");
  config = {};
  config.parts = {"nope"};
  expect_invalid(config, "part");
  config = {};
  config.sweep_workers = {0};
  expect_invalid(config, "sweep_workers");
  config = {};
  config.max_chunks = 0;
  expect_invalid(config, "max_chunks");
}

}  // namespace
