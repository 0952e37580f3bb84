// The `ipc` experiment (run_transport_experiment, run_flag_experiment) at a
// tiny scale: row shape and correctness, config validation naming the field.
// No timed assertions: only shapes and verdicts.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/flag_experiment.hpp"
#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/ipc/experiments/transport_experiment.hpp"

namespace {

mpkit::TransportConfig tiny() {
  mpkit::TransportConfig config;
  config.repeats = 1;
  config.messages = 2000;
  config.round_trips = 200;
  config.payload_bytes = {8};
  config.backends = {"lockfree-spsc", "pipe"};
  config.sides = {1};
  return config;
}

template <class T>
T param(const mpkit::Measurement& row, const char* key) {
  const mpkit::ParamValue* value = mpkit::find_param(row, key);
  EXPECT_NE(value, nullptr) << row.variant << ": no param " << key;
  if (value == nullptr || !std::holds_alternative<T>(*value)) return T{};
  return std::get<T>(*value);
}

TEST(IpcExperiment, TinyRunGivesCorrectRowsOfTheRightShape) {
  const std::vector<mpkit::Measurement> rows = mpkit::run_transport_experiment(tiny());
  // 2 backends x 8 B x (throughput + round trip), unpinned.
  ASSERT_EQ(rows.size(), 4u);
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_EQ(row.experiment, "ipc");
    EXPECT_TRUE(row.variant == "lockfree-spsc" || row.variant == "pipe");
    EXPECT_EQ(row.workers, 2u);
    EXPECT_EQ(row.repeats, 1u);
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(param<std::int64_t>(row, "bytes"), 8);
    EXPECT_FALSE(param<bool>(row, "pinned"));
    EXPECT_GT(row.seconds.median, 0.0);
    const std::string mode = param<std::string>(row, "mode");
    if (mode == "throughput") {
      EXPECT_EQ(param<std::int64_t>(row, "messages"), 2000);
      EXPECT_GT(mpkit::find_metric(row, "messages_per_s").value_or(0), 0.0);
      EXPECT_GT(mpkit::find_metric(row, "bytes_per_s").value_or(0), 0.0);
    } else {
      EXPECT_EQ(mode, "round-trip");
      EXPECT_EQ(param<std::int64_t>(row, "round_trips"), 200);
      const double p50 = mpkit::find_metric(row, "rtt_ns_p50").value_or(0);
      EXPECT_GT(p50, 0.0);
      EXPECT_GE(mpkit::find_metric(row, "rtt_ns_p99").value_or(0), p50);
    }
  }
}

TEST(IpcExperiment, BatchVariantAndPinningGiveCorrectRows) {
  mpkit::TransportConfig config = tiny();
  config.backends = {"lockfree-spsc-batch64", "boost-spsc"};
  config.payload_bytes = {64};
  config.pin = true;
  const std::vector<mpkit::Measurement> rows = mpkit::run_transport_experiment(config);
  // The batch variant has no round-trip row: 2 throughput + 1 round trip.
  ASSERT_EQ(rows.size(), 3u);
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(param<std::int64_t>(row, "bytes"), 64);
  }
}

TEST(IpcExperiment, TwoByTwoRunsOnlyMultiSidedBackendsAndChecksEveryItem) {
  mpkit::TransportConfig config = tiny();
  config.backends = {"lockfree-spsc", "lockfree-mpmc", "locked"};
  config.sides = {2};
  config.messages = 5001;  // not a multiple of the producers: shares differ by one
  std::vector<mpkit::Measurement> rows = mpkit::run_transport_experiment(config);
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [](const mpkit::Measurement& row) {
                              return param<std::string>(row, "mode") != "throughput";
                            }),
             rows.end());
  ASSERT_EQ(rows.size(), 2u);  // lockfree-spsc is single-sided: no 2x2 row
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_NE(row.variant, "lockfree-spsc");
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(row.workers, 4u);
    EXPECT_EQ(param<std::int64_t>(row, "producers"), 2);
    EXPECT_EQ(param<std::int64_t>(row, "consumers"), 2);
  }
  EXPECT_TRUE(mpkit::transport_skip_reason("lockfree-spsc", 8, 2).has_value());
  EXPECT_FALSE(mpkit::transport_skip_reason("lockfree-mpmc", 8, 2).has_value());
}

TEST(IpcExperiment, ManagerAndRedisQueuesGiveCorrectCappedRows) {
  // Both servers are real and private: the experiment starts and stops them.
  mpkit::TransportConfig config = tiny();
  config.backends = {"manager", "redis"};
  config.sides = {1, 2};
  config.remote_messages = 301;
  config.remote_round_trips = 40;
  const std::vector<mpkit::Measurement> rows = mpkit::run_transport_experiment(config);
  ASSERT_EQ(rows.size(), 6u);  // 2 backends x (1:1, 2x2 throughput, round trip)
  for (const mpkit::Measurement& row : rows) {
    SCOPED_TRACE(row.variant);
    EXPECT_TRUE(row.correct);
    if (param<std::string>(row, "mode") == "throughput") {
      EXPECT_EQ(param<std::int64_t>(row, "messages"), 301);
    } else {
      EXPECT_EQ(param<std::int64_t>(row, "round_trips"), 40);
    }
  }
}

TEST(IpcExperiment, PipeCannotCarry64KiBAndSaysWhy) {
  EXPECT_TRUE(mpkit::transport_skip_reason("pipe", 65536).has_value());
  EXPECT_FALSE(mpkit::transport_skip_reason("pipe", 1024).has_value());
  EXPECT_FALSE(mpkit::transport_skip_reason("boost-mq", 65536).has_value());
  mpkit::TransportConfig config = tiny();
  config.payload_bytes = {65536};
  config.messages = 8;
  config.round_trips = 4;
  const std::vector<mpkit::Measurement> rows = mpkit::run_transport_experiment(config);
  ASSERT_EQ(rows.size(), 2u);  // lockfree-spsc only: the pipe's rows are skipped
  for (const mpkit::Measurement& row : rows) {
    EXPECT_EQ(row.variant, "lockfree-spsc");
    EXPECT_TRUE(row.correct);
  }
}

TEST(IpcExperiment, LargePayloadsGetFewerMessages) {
  mpkit::TransportConfig config;
  EXPECT_EQ(mpkit::transport_messages_per_run(config, 8), config.messages);
  EXPECT_EQ(mpkit::transport_messages_per_run(config, 65536),
            mpkit::kMaxTransportBytesPerRun / 65536);
}

void expect_invalid(const mpkit::TransportConfig& config, const std::string& field) {
  try {
    (void)mpkit::run_transport_experiment(config);
    ADD_FAILURE() << "no exception for a bad " << field;
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
  }
}

TEST(IpcExperiment, BadConfigsThrowNamingTheField) {
  mpkit::TransportConfig config = tiny();
  config.repeats = 0;
  expect_invalid(config, "repeats");
  config = tiny();
  config.messages = 0;
  expect_invalid(config, "messages");
  config = tiny();
  config.round_trips = 0;
  expect_invalid(config, "round_trips");
  config = tiny();
  config.payload_bytes = {100};
  expect_invalid(config, "payload_bytes");
  config = tiny();
  config.payload_bytes = {};
  expect_invalid(config, "payload_bytes");
  config = tiny();
  config.backends = {"lockfree-spsc", "carrier-pigeon"};
  expect_invalid(config, "backends");
  config = tiny();
  config.sides = {0};
  expect_invalid(config, "sides");
  config = tiny();
  config.sides = {mpkit::kMaxTransportSides + 1};
  expect_invalid(config, "sides");
}

mpkit::FlagExperimentConfig tiny_flags() {
  mpkit::FlagExperimentConfig config;
  config.repeats = 1;
  config.polls = 10'000;
  config.remote_polls = 20;
  config.handoffs = 50;
  return config;
}

TEST(FlagExperiment, EveryBackendGivesACorrectRowWithItsMetrics) {
  // Every backend, redis and manager included: the experiment starts its own servers.
  const std::vector<mpkit::Measurement> rows = mpkit::run_flag_experiment(tiny_flags());
  ASSERT_EQ(rows.size(), mpkit::flag_experiment_backends().size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const mpkit::Measurement& row = rows[i];
    SCOPED_TRACE(row.variant);
    EXPECT_EQ(row.variant, mpkit::flag_experiment_backends()[i]);
    EXPECT_EQ(row.experiment, "ipc");
    EXPECT_EQ(param<std::string>(row, "mode"), "flag");
    EXPECT_EQ(param<std::int64_t>(row, "handoffs"), 50);
    const bool remote = row.variant == "redis" || row.variant == "manager";
    EXPECT_EQ(param<std::int64_t>(row, "polls"), remote ? 20 : 10'000);
    EXPECT_TRUE(row.correct);
    EXPECT_EQ(row.repeats, 1u);
    for (const char* metric : {"poll_ns", "seen_ns_p50", "seen_ns_p99"}) {
      const auto value = mpkit::find_metric(row, metric);
      ASSERT_TRUE(value.has_value()) << metric;
      EXPECT_GT(*value, 0.0) << metric;
    }
    EXPECT_LE(*mpkit::find_metric(row, "seen_ns_p50"), *mpkit::find_metric(row, "seen_ns_p99"));
  }
}

TEST(FlagExperiment, UnreachableRedisFailsOnlyTheRedisRow) {
  mpkit::FlagExperimentConfig config = tiny_flags();
  config.backends = {"atomic", "redis"};
  config.redis_url = "unix:///nonexistent/mpkit-test.sock";
  std::vector<std::string> lines;
  const auto rows =
      mpkit::run_flag_experiment(config, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].correct);
  EXPECT_FALSE(rows[1].correct);
  EXPECT_EQ(rows[1].repeats, 0u);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("redis flag failed") != std::string::npos;
  }));
}

TEST(FlagExperiment, BadConfigsThrowNamingTheField) {
  const auto expect_field = [](const mpkit::FlagExperimentConfig& config, const char* field) {
    try {
      mpkit::validate_flag_experiment_config(config);
      ADD_FAILURE() << "accepted a bad " << field;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  };
  auto config = tiny_flags();
  config.repeats = 0;
  expect_field(config, "repeats");
  config = tiny_flags();
  config.polls = 0;
  expect_field(config, "polls");
  config = tiny_flags();
  config.remote_polls = 0;
  expect_field(config, "remote_polls");
  config = tiny_flags();
  config.handoffs = mpkit::kMaxFlagHandoffs + 1;
  expect_field(config, "handoffs");
  config = tiny_flags();
  config.backends = {"atomic", "smoke-signal"};
  expect_field(config, "backends");
}

}  // namespace
