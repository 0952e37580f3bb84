// The shared-array experiment at a tiny size: row order and shape, the pid
// fill by a pool verified, the memory proof (bounds on bytes, never on
// time), the random fills — and the forgotten reseed reproduced and
// detected; no process or segment left behind.
#include "mpkit/pools/experiments/array_experiment.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "pool_test_support.hpp"

namespace mpkit {
namespace {

double metric(const Measurement& row, std::string_view name) {
  const auto value = find_metric(row, name);
  EXPECT_TRUE(value.has_value()) << row.variant << " has no metric " << name;
  return value.value_or(-1);
}

TEST(ArrayExperimentTest, RowsPidFillMemoryProofAndTheForgottenReseed) {
  ArrayConfig config;
  config.rows = 64;
  config.cols = 2000;
  config.workers = 2;
  config.repeats = 2;
  config.forget_reseed = true;
  config.seed = 12345;
  std::vector<std::string> steps;
  const auto rows =
      run_array_experiment(config, [&](std::string_view s) { steps.emplace_back(s); });
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(steps.size(), 10u);
  EXPECT_EQ(steps.front(), "repeat 1/2: memset-1core");
  const std::vector<std::string> variants = {"memset-1core", "pid-fill", "random-serial",
                                             "random-parallel", "random-parallel-forgot-reseed"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].experiment, "array");
    EXPECT_EQ(rows[i].variant, variants[i]);
    EXPECT_EQ(rows[i].repeats, 2u) << rows[i].variant;
    EXPECT_GT(rows[i].seconds.median, 0) << rows[i].variant;
    ASSERT_NE(find_param(rows[i], "bytes"), nullptr);
  }
  const double bytes = 64.0 * 2000 * sizeof(double);

  const Measurement& pid = rows[1];
  EXPECT_TRUE(pid.correct);
  EXPECT_EQ(pid.workers, 2u);
  EXPECT_EQ(metric(pid, "distinct_pids"), 2);
  EXPECT_GT(metric(pid, "bytes_per_s"), 0);
  EXPECT_GT(metric(pid, "ratio_to_memset"), 0);
  EXPECT_GT(metric(pid, "warm_ratio_to_memset"), 0);
  // The memory proof: all processes together hold the array about once,
  // and no worker holds any of it privately (nothing was copied).
  EXPECT_GT(metric(pid, "pss_sum_bytes"), 0.9 * bytes);
  EXPECT_LT(metric(pid, "pss_sum_bytes"), 1.1 * bytes + 8192);
  EXPECT_LT(metric(pid, "worker_private_fraction_max"), 0.01);
  EXPECT_GE(metric(pid, "parent_rss_bytes"), bytes);
  EXPECT_GT(metric(pid, "worker0_rss_bytes"), 0.4 * bytes) << "worker 0 touched half the rows";
  EXPECT_LT(metric(pid, "worker1_pss_bytes"), 0.4 * bytes) << "it shares them with the parent";

  EXPECT_TRUE(rows[2].correct);
  EXPECT_EQ(metric(rows[2], "repeated_rows"), 0);
  EXPECT_TRUE(rows[3].correct);
  EXPECT_EQ(metric(rows[3], "repeated_rows"), 0);
  EXPECT_GT(metric(rows[3], "speedup_vs_serial"), 0);
  // Every worker continued the same inherited stream: worker 1's j-th row
  // is worker 0's j-th row, so min(rows of worker 0, rows of worker 1) rows
  // repeat: at least one (each worker got a chunk), at most half. Detected,
  // not hidden.
  EXPECT_FALSE(rows[4].correct);
  EXPECT_GE(metric(rows[4], "repeated_rows"), 1);
  EXPECT_LE(metric(rows[4], "repeated_rows"), 32);
  const ParamValue* reseed = find_param(rows[4], "reseed");
  ASSERT_NE(reseed, nullptr);
  EXPECT_EQ(std::get<bool>(*reseed), false);
  EXPECT_TRUE(mpkit::test::eventually([] { return mpkit::test::children_of(::getpid()).empty(); },
                                      std::chrono::seconds(5)))
      << "every pool was reaped";
  EXPECT_TRUE(mpkit::test::my_segments().empty());
}

TEST(ArrayExperimentTest, ChunksizeIsPythonsDefaultOrTheOneGiven) {
  ArrayConfig config;
  config.rows = 10;
  config.cols = 512;
  config.workers = 2;
  config.repeats = 1;
  config.seed = 7;
  const auto chunksize_of = [](const ArrayConfig& c) {
    for (const Measurement& row : run_array_experiment(c)) {
      if (row.variant != "pid-fill") continue;
      EXPECT_TRUE(row.correct);
      const ParamValue* value = find_param(row, "chunksize");
      return value != nullptr ? std::get<std::int64_t>(*value) : std::int64_t{-1};
    }
    return std::int64_t{-1};
  };
  EXPECT_EQ(chunksize_of(config), 2);  // ceil(10 / (4 x 2))
  config.chunksize = 1;
  EXPECT_EQ(chunksize_of(config), 1);
  config.chunksize = 100;  // one chunk: one worker does every row
  for (const Measurement& row : run_array_experiment(config)) {
    if (row.variant == "pid-fill") {
      EXPECT_FALSE(row.correct) << "one distinct pid for two workers is reported, not hidden";
      EXPECT_EQ(metric(row, "distinct_pids"), 1);
    }
  }
}

TEST(ArrayExperimentTest, BadConfigIsRefusedNamingTheField) {
  const auto message = [](ArrayConfig config) {
    try {
      (void)run_array_experiment(config);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("(no invalid_argument)");
  };
  ArrayConfig config = quick_array_config();
  config.rows = 0;
  EXPECT_EQ(message(config), "ArrayConfig: rows must be >= 1 (got 0)");
  config = quick_array_config();
  config.workers = 0;
  EXPECT_EQ(message(config), "ArrayConfig: workers must be >= 1 (got 0)");
  config = quick_array_config();
  config.repeats = 0;
  EXPECT_EQ(message(config), "ArrayConfig: repeats must be >= 1 (got 0)");
}

TEST(ArrayExperimentTest, ASizeThatDoesNotFitIsENOMEMBeforeAnythingRuns) {
  ArrayConfig config;
  config.rows = std::size_t{1} << 24;
  config.cols = std::size_t{1} << 24;  // 2 PiB
  try {
    (void)run_array_experiment(config);
    FAIL() << "expected ENOMEM";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOMEM) << error.what();
  }
}

TEST(ArrayExperimentTest, DefaultsFitTheMachine) {
  const ArrayConfig book = default_array_config();
  EXPECT_EQ(book.cols, kBookCols);
  EXPECT_GE(book.rows, 1u);
  EXPECT_LE(book.rows, kBookRows);
  EXPECT_LE(book.rows * book.cols * sizeof(double), shm_capacity().mem_available_bytes);
  EXPECT_EQ(quick_array_config().rows * quick_array_config().cols, 4'000'000u);
}

}  // namespace
}  // namespace mpkit
