// The contention experiment at a tiny scale: the row shape, the no-lost-
// update check, fairness and latency figures in range, bad input named.
// (No speed assertions: speed is the experiment's output, not its test.)

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/locking/experiments/contention_experiment.hpp"

namespace mpkit::locking {
namespace {

using namespace std::chrono_literals;

ContentionConfig tiny() {
  ContentionConfig config;
  config.locks = {"ticket", "mpkit-mutex", "flock"};
  config.workers = {2, 1};  // sorted in the rows
  config.critical_work = 5;
  config.outside_work = 10;
  config.duration = 30ms;
  config.repeats = 2;
  config.sample_every = 16;
  return config;
}

TEST(ContentionExperimentTest, OneCorrectRowPerVariantAndWorkerCount) {
  const ContentionConfig config = tiny();
  std::vector<std::string> seen_progress;
  const auto rows = run_contention_experiment(
      config, [&](std::string_view line) { seen_progress.emplace_back(line); });
  ASSERT_EQ(rows.size(), 8U);  // (none + 3 locks) x (1, 2)
  EXPECT_EQ(seen_progress.size(), 16U);  // one line per run: 8 rows x 2 repeats
  const std::vector<std::string> variants = {"none", "none", "ticket", "ticket", "mpkit-mutex",
                                             "mpkit-mutex", "flock", "flock"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Measurement& row = rows[i];
    SCOPED_TRACE(row.variant + " x " + std::to_string(row.workers));
    EXPECT_EQ(row.experiment, "contention");
    EXPECT_EQ(row.variant, variants[i]);
    EXPECT_EQ(row.workers, i % 2 == 0 ? 1U : 2U);
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(row.repeats, 2U);
    EXPECT_GE(row.seconds.min, 0.030) << "a window lasts at least its duration";
    ASSERT_TRUE(find_metric(row, "acq_per_s"));
    EXPECT_GE(*find_metric(row, "acq_per_s"), 0);
    EXPECT_LE(*find_metric(row, "acq_per_s_min"), *find_metric(row, "acq_per_s_max"));
    // Shares and latency exist unless every window went without an
    // acquisition (all workers descheduled throughout: a loaded machine).
    if (const auto jain = find_metric(row, "jain")) {
      EXPECT_GE(*jain, 1.0 / row.workers - 1e-9);
      EXPECT_LE(*jain, 1.0 + 1e-9);
      EXPECT_LE(*find_metric(row, "share_min"), *find_metric(row, "share_max"));
      EXPECT_LE(*find_metric(row, "share_max"), 1.0 + 1e-9);
    }
    if (const auto p50 = find_metric(row, "latency_ns_p50")) {
      EXPECT_LE(*p50, *find_metric(row, "latency_ns_p99"));
    }
    EXPECT_GT(*find_metric(row, "work_step_ns"), 0);
    const ParamValue* outside = find_param(row, "outside_per_worker");
    ASSERT_NE(outside, nullptr);
    EXPECT_EQ(std::get<std::int64_t>(*outside), 10 * static_cast<std::int64_t>(row.workers))
        << "outside work scales with the workers";
    ASSERT_NE(find_param(row, "nproc"), nullptr);
  }
}

TEST(ContentionExperimentTest, BadInputNamesTheField) {
  const auto message_of = [](const ContentionConfig& config) {
    try {
      (void)run_contention_experiment(config);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("(nothing thrown)");
  };
  ContentionConfig config = tiny();
  config.locks = {"tas", "spinny"};
  EXPECT_NE(message_of(config).find("locks: unknown lock \"spinny\""), std::string::npos);
  config = tiny();
  config.workers = {0};
  EXPECT_NE(message_of(config).find("workers"), std::string::npos);
  config.workers = {kMaxContentionWorkers + 1};
  EXPECT_NE(message_of(config).find("workers"), std::string::npos);
  config = tiny();
  config.repeats = 0;
  EXPECT_NE(message_of(config).find("repeats"), std::string::npos);
  config = tiny();
  config.duration = 0ms;
  EXPECT_NE(message_of(config).find("duration"), std::string::npos);
  config = tiny();
  config.sample_every = 0;
  EXPECT_NE(message_of(config).find("sample_every"), std::string::npos);
}

TEST(ContentionExperimentTest, DefaultWorkersGoToTwiceTheCpus) {
  const std::vector<unsigned> workers = default_contention_workers();
  ASSERT_FALSE(workers.empty());
  EXPECT_EQ(workers.front(), 1U);
  EXPECT_EQ(workers.back() % 2, 0U);
  for (std::size_t i = 1; i < workers.size(); ++i) EXPECT_EQ(workers[i], workers[i - 1] + 1);
}

}  // namespace
}  // namespace mpkit::locking
