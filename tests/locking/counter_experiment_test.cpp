// The `counter` experiment (locking::run_counter_experiment) at a small
// scale: locked variants are exact; the no-lock ones report what they lost
// (lost = expected - final, correct only if nothing was) and are scaled up
// within the bound while they lose nothing -- whether they lose anything is
// the scheduler's business, never asserted; config errors name the field.
// No timed assertions.

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

TEST(CounterExperiment, NoLockVariantsReportWhatTheyLostAndAtWhatScale) {
  CounterConfig config = small({"value-nolock", "file-nolock"});
  const auto rows = mpkit::locking::run_counter_experiment(config);
  ASSERT_EQ(rows.size(), 2u);
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    ASSERT_EQ(row.repeats, 1u) << "the run completed";
    const std::int64_t count = int_param(row, "count");
    const std::int64_t expected = int_param(row, "expected");
    EXPECT_EQ(int_param(row, "requested_count"), 200);
    EXPECT_GE(count, 200);
    EXPECT_LE(count, static_cast<std::int64_t>(mpkit::locking::kMaxAutoScaleCount));
    EXPECT_EQ(expected, 2 * count);
    // The reporting, whatever the scheduler did: lost = expected - final, and
    // the row is correct exactly when nothing was lost.
    const double final_value = mpkit::find_metric(row, "final").value_or(-1);
    const double lost = mpkit::find_metric(row, "lost_updates").value_or(-1);
    const double lost_max = mpkit::find_metric(row, "lost_updates_max").value_or(-1);
    EXPECT_GE(final_value, 0.0);
    EXPECT_LE(final_value, static_cast<double>(expected)) << "an unlocked counter never gains";
    EXPECT_EQ(lost, static_cast<double>(expected) - final_value);
    EXPECT_EQ(lost_max, lost) << "one repeat";
    EXPECT_EQ(row.correct, lost == 0.0);
    // A row that lost nothing was scaled up before it said so, unless the
    // bound stopped it (the count cap, or a run that took the time budget).
    if (lost == 0.0) {
      EXPECT_TRUE(count > 200 || row.seconds.median >= mpkit::locking::kAutoScaleSeconds)
          << "nothing lost at count " << count << " in " << row.seconds.median << " s, and no larger count was tried";
    }
  }
}

// Without auto_scale the asked count runs once and is reported the same way.
TEST(CounterExperiment, WithoutAutoScaleTheAskedCountIsReported) {
  CounterConfig config = small({"value-nolock"});
  config.auto_scale = false;
  const auto rows = mpkit::locking::run_counter_experiment(config);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(int_param(rows[0], "count"), 200) << "--no-auto-scale runs the count asked for";
  const double lost = mpkit::find_metric(rows[0], "lost_updates").value_or(-1);
  EXPECT_EQ(mpkit::find_metric(rows[0], "final").value_or(-1) + lost, 400.0);
  EXPECT_EQ(rows[0].correct, lost == 0.0);
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
