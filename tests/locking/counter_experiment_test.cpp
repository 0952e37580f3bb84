// The `counter` experiment (locking::run_counter_experiment) at a small
// scale: locked variants are exact, the no-lock ones lose updates (scaled up
// until they do), config errors name the field. No timed assertions.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/locking/experiments/counter_experiment.hpp"

namespace {

using mpkit::locking::CounterConfig;

CounterConfig small(std::vector<std::string> variants) {
  CounterConfig config;
  config.repeats = 1;
  config.workers = 2;
  config.count = 200;
  config.variants = std::move(variants);
  return config;
}

std::int64_t int_param(const mpkit::Measurement& row, const char* key) {
  const mpkit::ParamValue* value = mpkit::find_param(row, key);
  EXPECT_NE(value, nullptr) << key;
  return value != nullptr && std::holds_alternative<std::int64_t>(*value)
             ? std::get<std::int64_t>(*value)
             : -1;
}

TEST(CounterExperiment, LockedVariantsCountEveryIncrement) {
  const auto rows = mpkit::locking::run_counter_experiment(
      small({"file-lock", "value-lock", "rawvalue-lock", "atomic", "redis", "manager",
             "lock:tas", "lock:ticket", "lock:mcs", "lock:pthread-robust", "lock:flock"}));
  ASSERT_EQ(rows.size(), 11u);
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_EQ(row.experiment, "counter");
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(int_param(row, "expected"), 400);
    EXPECT_EQ(mpkit::find_metric(row, "final").value_or(-1), 400.0);
    EXPECT_EQ(mpkit::find_metric(row, "lost_updates").value_or(-1), 0.0);
    EXPECT_EQ(mpkit::find_metric(row, "parse_errors").value_or(-1), 0.0);
  }
}

TEST(CounterExperiment, NoLockVariantsLoseUpdatesAndSayAtWhatScale) {
  CounterConfig config = small({"value-nolock", "file-nolock"});
  const auto rows = mpkit::locking::run_counter_experiment(config);
  ASSERT_EQ(rows.size(), 2u);
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    // Auto-scaling reruns at 10x until something is lost: on 2 cores two
    // processes interleave long before 10^7 increments each.
    EXPECT_FALSE(row.correct);
    EXPECT_GT(mpkit::find_metric(row, "lost_updates_max").value_or(0), 0.0);
    EXPECT_EQ(int_param(row, "requested_count"), 200);
    EXPECT_GE(int_param(row, "count"), 200);
    const double final_value = mpkit::find_metric(row, "final").value_or(-1);
    EXPECT_LT(final_value, static_cast<double>(int_param(row, "expected")));
  }
}

TEST(CounterExperiment, LoopScopeHoldsTheFileLockForAWholeLoop) {
  CounterConfig config = small({"file-lock"});
  config.lock_scope = "loop";
  const auto rows = mpkit::locking::run_counter_experiment(config);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].correct);
  const mpkit::ParamValue* scope = mpkit::find_param(rows[0], "lock_scope");
  ASSERT_NE(scope, nullptr);
  EXPECT_EQ(std::get<std::string>(*scope), "loop");
}

TEST(CounterExperiment, BadConfigsThrowNamingTheField) {
  const auto expect_field = [](const CounterConfig& config, const char* field) {
    try {
      mpkit::locking::validate_counter_config(config);
      ADD_FAILURE() << "accepted a bad " << field;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  };
  CounterConfig config = small({});
  config.repeats = 0;
  expect_field(config, "repeats");
  config = small({});
  config.workers = 0;
  expect_field(config, "workers");
  config = small({});
  config.count = 0;
  expect_field(config, "count");
  config = small({"lock:carrier-pigeon"});
  expect_field(config, "variants");
  config = small({});
  config.lock_scope = "forever";
  expect_field(config, "lock_scope");
}

}  // namespace
