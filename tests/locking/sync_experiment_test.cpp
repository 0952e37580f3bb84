// The sync experiment at tiny scale: shapes, invariants and correctness, no
// timed assertions.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/locking/experiments/sync_experiment.hpp"

namespace {

using mpkit::test::invalid_argument_message;

TEST(SyncExperiment, RejectsZeroesNamingTheField) {
  mpkit::SyncConfig config;
  config.repeats = 0;
  EXPECT_NE(invalid_argument_message([&] { (void)mpkit::run_sync_experiment(config); }).find("repeats"),
            std::string::npos);
  config = {};
  config.handoff_round_trips = 0;
  EXPECT_NE(invalid_argument_message([&] { (void)mpkit::run_sync_experiment(config); })
                .find("handoff_round_trips"),
            std::string::npos);
  config = {};
  config.lock_iterations = 0;
  EXPECT_NE(invalid_argument_message([&] { (void)mpkit::run_sync_experiment(config); })
                .find("lock_iterations"),
            std::string::npos);
}

// Forks children from the test process: fine, GoogleTest runs single-threaded
// here, and every child leaves with _exit.
TEST(SyncExperiment, TinyRunIsCorrectAndComplete) {
  mpkit::SyncConfig config;
  config.repeats = 2;
  config.handoff_round_trips = 200;
  config.lock_iterations = 20000;
  int progress_lines = 0;
  const auto rows = mpkit::run_sync_experiment(config, [&](std::string_view) { ++progress_lines; });
  EXPECT_GT(progress_lines, 0);

  // 2 hand-offs + (uncontended, contended) for each of the 4 locks.
  ASSERT_EQ(rows.size(), 10U);
  for (const auto& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_EQ(row.experiment, "sync");
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(row.repeats, 2U);
    EXPECT_LE(row.seconds.min, row.seconds.median);
    EXPECT_LE(row.seconds.median, row.seconds.max);
    EXPECT_GT(row.seconds.min, 0);
    const auto* mode = mpkit::find_param(row, "mode");
    if (mode == nullptr) {
      EXPECT_EQ(row.workers, 2U);
      ASSERT_TRUE(mpkit::find_metric(row, "rtt_ns_p50"));
      EXPECT_LE(*mpkit::find_metric(row, "rtt_ns_p50"), *mpkit::find_metric(row, "rtt_ns_p99"));
      EXPECT_TRUE(mpkit::find_metric(row, "one_way_ns"));
    } else if (std::get<std::string>(*mode) == "uncontended") {
      EXPECT_EQ(row.workers, 1U);
      EXPECT_TRUE(mpkit::find_metric(row, "ns_per_op"));
    } else {
      EXPECT_EQ(std::get<std::string>(*mode), "contended");
      EXPECT_EQ(row.workers, 2U);
      EXPECT_TRUE(mpkit::find_metric(row, "ops_per_s"));
    }
  }
  std::vector<std::string> variants;
  for (const auto& row : rows) variants.push_back(row.variant);
  for (const char* expected : {"futex-handoff", "spin-handoff", "mpkit-mutex", "pthread-pshared",
                               "pthread-robust", "boost-interprocess"}) {
    EXPECT_NE(std::find(variants.begin(), variants.end(), expected), variants.end()) << expected;
  }
}

}  // namespace
