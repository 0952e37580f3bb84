// The `mpkit pi` driver: its rows, the forgotten reseed found, bad
// configurations refused; the program runner's failures as values.

#include <algorithm>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "mpkit/pi/experiments/pi_experiment.hpp"
#include "mpkit/pi/experiments/python_pi.hpp"

namespace mpkit::test {
namespace {

std::string text(const Measurement& row, std::string_view key) {
  const ParamValue* value = find_param(row, key);
  return value != nullptr && std::holds_alternative<std::string>(*value) ? std::get<std::string>(*value) : "";
}

TEST(PiExperiment, RowsForEveryModeKernelAndWorkerCount) {
  PiExperimentConfig config;
  config.darts = 100'000;
  config.workers = {2, 1};
  config.repeats = 2;
  config.ceiling = false;  // its rows are checked below
  const std::vector<Measurement> rows = run_pi_experiment(config);
  ASSERT_EQ(rows.size(), 8u);  // 2 modes x 2 kernels x 2 worker counts
  for (const Measurement& row : rows) {
    EXPECT_EQ(row.experiment, "pi");
    EXPECT_TRUE(row.correct) << row.variant << " " << text(row, "kernel") << " " << row.workers;
    EXPECT_EQ(row.repeats, 2u);
    EXPECT_TRUE(find_metric(row, "darts_per_s").has_value());
    if (row.workers == 1) {
      EXPECT_DOUBLE_EQ(*find_metric(row, "speedup"), 1.0);
    }
  }
  // Blocks come from (seed, block), not from whichever worker ran them: every
  // mode and kernel gives the same estimate for the same worker count.
  for (const Measurement& row : rows) {
    const Measurement& first = row.workers == 1 ? rows[0] : rows[1];
    EXPECT_EQ(*find_metric(row, "estimate"), *find_metric(first, "estimate"));
  }
}

TEST(PiExperiment, ForgottenReseedIsFoundAndMarked) {
  PiExperimentConfig config;
  config.darts = 40'000;
  config.workers = {4};
  config.repeats = 1;
  config.threads = false;
  config.scalar = false;
  config.forget_reseed = true;
  config.ceiling = false;
  const std::vector<Measurement> rows = run_pi_experiment(config);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(*find_metric(rows[0], "repeated_blocks"), 4.0);
  EXPECT_FALSE(rows[0].correct);
  EXPECT_EQ(text(rows[0], "reseed"), "forgotten");
}

TEST(PiExperiment, TheCeilingComesFirstOneRowPerProcessCount) {
  PiExperimentConfig config;
  config.darts = 40'000;
  config.workers = {1};
  config.repeats = 1;
  config.threads = false;
  config.vector = false;
  const std::vector<Measurement> rows = run_pi_experiment(config);
  std::size_t ceiling_rows = 0;
  for (const Measurement& row : rows) {
    if (row.variant != "ceiling") continue;
    EXPECT_EQ(ceiling_rows, &row - rows.data()) << "ceiling rows come first";
    EXPECT_EQ(row.workers, ++ceiling_rows);
    EXPECT_TRUE(row.correct);
    EXPECT_TRUE(find_metric(row, "speedup").has_value());
  }
  EXPECT_GE(ceiling_rows, 1u);
  EXPECT_EQ(rows.size(), ceiling_rows + 1) << "and then the one pool row";
}

TEST(PiExperiment, DefaultWorkersAreSortedAndUnique) {
  const std::vector<unsigned> counts = pi_worker_counts({});
  ASSERT_FALSE(counts.empty());
  EXPECT_EQ(counts.front(), 1u);
  EXPECT_TRUE(std::is_sorted(counts.begin(), counts.end()));
  EXPECT_EQ(std::adjacent_find(counts.begin(), counts.end()), counts.end());
}

TEST(PiExperiment, BadConfigurationsNameTheField) {
  const auto message = [](PiExperimentConfig config) {
    try {
      validate_pi_experiment_config(config);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  PiExperimentConfig zero;
  zero.darts = 0;
  EXPECT_NE(message(zero).find("darts"), std::string::npos);
  PiExperimentConfig huge;
  huge.darts = (1ULL << 63);
  EXPECT_NE(message(huge).find("darts"), std::string::npos);
  PiExperimentConfig no_workers;
  no_workers.workers = {0};
  EXPECT_NE(message(no_workers).find("workers"), std::string::npos);
  PiExperimentConfig few;
  few.darts = 3;
  few.workers = {4};
  EXPECT_NE(message(few).find("darts"), std::string::npos);
  PiExperimentConfig no_mode;
  no_mode.processes = no_mode.threads = false;
  EXPECT_NE(message(no_mode).find("mode"), std::string::npos);
  PiExperimentConfig no_repeat;
  no_repeat.repeats = 0;
  EXPECT_NE(message(no_repeat).find("repeats"), std::string::npos);
}

TEST(PythonPi, AMissingInterpreterGivesANoteAndNoRows) {
  PythonPiConfig config;
  config.python = "mpkit-no-such-python";
  config.numpy = false;  // the /usr/bin/python3 fallback is for numpy only
  const PythonPi result = run_python_pi(config);
  EXPECT_TRUE(result.rows.empty());
  ASSERT_FALSE(result.notes.empty());
  EXPECT_NE(result.notes[0].find("not measured"), std::string::npos) << result.notes[0];
}

}  // namespace
}  // namespace mpkit::test
