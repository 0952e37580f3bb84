// The harness's summaries (summarize, percentile), the row type, MachineInfo.
// No timed assertions (ARCHITECTURE.md): only shapes, invariants and correctness.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/measurement.hpp"

namespace {

using mpkit::test::invalid_argument_message;

using mpkit::percentile;
using mpkit::summarize;

TEST(Summarize, OddCountTakesTheMiddle) {
  const std::vector<double> samples = {3, 1, 2};
  const auto s = summarize(samples);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.median, 2);
  EXPECT_EQ(s.max, 3);
}

TEST(Summarize, EvenCountAveragesTheMiddleTwo) {
  const std::vector<double> samples = {4, 1, 3, 2};
  const auto s = summarize(samples);
  EXPECT_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_EQ(s.max, 4);
}

TEST(Summarize, OneSampleIsEverything) {
  const std::vector<double> samples = {0.25};
  const auto s = summarize(samples);
  EXPECT_EQ(s.min, 0.25);
  EXPECT_EQ(s.median, 0.25);
  EXPECT_EQ(s.max, 0.25);
}

TEST(Summarize, EmptyThrowsNamingTheArgument) {
  const std::string message = invalid_argument_message([] { (void)summarize({}); });
  EXPECT_NE(message.find("samples"), std::string::npos) << message;
}

TEST(Percentile, EndsAreMinAndMaxAndFiftyIsTheMedian) {
  const std::vector<double> samples = {5, 1, 4, 2, 3};
  EXPECT_EQ(percentile(samples, 0), 1);
  EXPECT_EQ(percentile(samples, 100), 5);
  EXPECT_EQ(percentile(samples, 50), summarize(samples).median);
  const std::vector<double> even = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(percentile(even, 50), summarize(even).median);
}

TEST(Percentile, InterpolatesBetweenRanks) {
  // Ranks 0..10 over values 0..100: p-th percentile = p.
  std::vector<double> samples;
  for (int i = 10; i >= 0; --i) samples.push_back(i * 10.0);
  EXPECT_DOUBLE_EQ(percentile(samples, 25), 25.0);
  EXPECT_DOUBLE_EQ(percentile(samples, 99), 99.0);
  EXPECT_DOUBLE_EQ(percentile({7, 9}, 75), 8.5);
}

TEST(Percentile, BadInputThrowsNamingTheArgument) {
  EXPECT_NE(invalid_argument_message([] { (void)percentile({}, 50); }).find("samples"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([] { (void)percentile({1, 2}, 101); }).find("p must"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([] { (void)percentile({1, 2}, -1); }).find("p must"),
            std::string::npos);
}

TEST(Measurement, FindsMetricsAndParamsByKey) {
  mpkit::Measurement m;
  m.params = {{"mode", std::string("contended")}, {"iterations", std::int64_t{10}}};
  m.metrics = {{"ops_per_s", 5.0}};
  ASSERT_TRUE(mpkit::find_metric(m, "ops_per_s"));
  EXPECT_EQ(*mpkit::find_metric(m, "ops_per_s"), 5.0);
  EXPECT_FALSE(mpkit::find_metric(m, "ns_per_op"));
  ASSERT_NE(mpkit::find_param(m, "iterations"), nullptr);
  EXPECT_EQ(std::get<std::int64_t>(*mpkit::find_param(m, "iterations")), 10);
  EXPECT_EQ(mpkit::find_param(m, "absent"), nullptr);
}

TEST(MachineInfo, ReadsThisLinuxHost) {
  const mpkit::MachineInfo info = mpkit::machine_info();
  EXPECT_GE(info.cores_available, 1U);
  EXPECT_GE(info.logical_cores, 1U);
  EXPECT_FALSE(info.kernel.empty());
  EXPECT_GT(info.mem_total_bytes, 0U);
  EXPECT_LE(info.mem_available_bytes, info.mem_total_bytes);
  EXPECT_LE(info.dev_shm_free_bytes, info.dev_shm_total_bytes);
  EXPECT_FALSE(info.perf_note.empty()) << "either ok or why not";
  for (const auto& cache : info.caches) {
    EXPECT_GE(cache.level, 1U);
    EXPECT_GT(cache.size_bytes, 0U);
  }
}

}  // namespace
