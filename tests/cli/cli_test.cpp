// The mpkit command: the JSON row shape, the output helpers, and the built
// binary's behaviour (exit codes, one-line errors, files it writes), run as a
// separate program the way a user runs it. No timed assertions.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "machine_report.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "output/format.hpp"
#include "output/json_rows.hpp"
#include "output/table.hpp"
#include "run_mpkit.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------
// Running the binary.

using Result = mpkit::test::MpkitRun;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "mpkit_cli_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Runs `mpkit args...` (run_mpkit.hpp), `extra_env` added to its
  // environment; killed after `limit` so a hang fails the test instead of CI.
  Result mpkit(const std::vector<std::string>& args,
               std::chrono::seconds limit = std::chrono::seconds(90),
               const std::vector<std::string>& extra_env = {}) const {
    return ::mpkit::test::run_mpkit(args, limit, extra_env);
  }

  // A bad invocation: exit 2, exactly one line on stderr starting "mpkit:"
  // and holding `needle`, no usage dump on stdout.
  void expect_usage_error(const std::vector<std::string>& args, const std::string& needle) const {
    const Result r = mpkit(args);
    SCOPED_TRACE("stderr: " + r.err);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(line_count(r.err), 1U);
    EXPECT_EQ(r.err.rfind("mpkit: ", 0), 0U);
    EXPECT_NE(r.err.find(needle), std::string::npos);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  std::vector<json> read_rows(const fs::path& path) const {
    std::vector<json> rows;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      EXPECT_NO_THROW(rows.push_back(json::parse(line))) << line;
    }
    return rows;
  }

  fs::path dir_;
};

// Every key of ARCHITECTURE.md's row shape, with its JSON type.
void expect_row_shape(const json& row) {
  SCOPED_TRACE(row.dump());
  ASSERT_TRUE(row.is_object());
  for (const char* key : {"experiment", "variant", "workers", "params", "repeats", "seconds",
                          "metrics", "correct", "machine"}) {
    EXPECT_TRUE(row.contains(key)) << key;
  }
  EXPECT_TRUE(row["experiment"].is_string());
  EXPECT_TRUE(row["variant"].is_string());
  EXPECT_TRUE(row["workers"].is_number_unsigned());
  EXPECT_TRUE(row["params"].is_object());
  EXPECT_TRUE(row["repeats"].is_number_unsigned());
  ASSERT_TRUE(row["seconds"].is_object());
  for (const char* key : {"min", "median", "max"}) EXPECT_TRUE(row["seconds"][key].is_number()) << key;
  ASSERT_TRUE(row["metrics"].is_object());
  for (const auto& [key, value] : row["metrics"].items()) EXPECT_TRUE(value.is_number()) << key;
  EXPECT_TRUE(row["correct"].is_boolean());
  ASSERT_TRUE(row["machine"].is_object());
  EXPECT_TRUE(row["machine"]["cpu"].is_string());
  EXPECT_TRUE(row["machine"]["cores"].is_number_unsigned());
  EXPECT_GE(row["machine"]["cores"].get<unsigned>(), 1U);
  EXPECT_TRUE(row["machine"]["kernel"].is_string());
}

// ---------------------------------------------------------------------------
// The library side of the CLI: row shape and formatting.

TEST(RowJson, HasEveryKeyInOrderWithTheRightTypes) {
  mpkit::Measurement m;
  m.experiment = "ipc";
  m.variant = "lockfree";
  m.workers = 2;
  m.params = {{"bytes", std::int64_t{8}}, {"pinned", true}, {"ratio", 0.5}, {"mode", std::string("x")}};
  m.repeats = 5;
  m.seconds = {0.101, 0.104, 0.120};
  m.metrics = {{"msgs_per_s", 5.1e7}, {"rtt_ns_p50", 310}};
  m.correct = true;
  const auto row = mpkit::cli::row_json(m, {"AMD EPYC", 2, "Linux 6.1 x86_64"});
  expect_row_shape(json::parse(row.dump()));

  std::vector<std::string> keys;
  for (const auto& [key, value] : row.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"experiment", "variant", "workers", "params", "repeats",
                                            "seconds", "metrics", "correct", "machine"}));
  EXPECT_EQ(row["params"]["bytes"], 8);
  EXPECT_EQ(row["params"]["pinned"], true);
  EXPECT_EQ(row["params"]["mode"], "x");
  EXPECT_EQ(row["seconds"]["median"], 0.104);
  EXPECT_EQ(row["metrics"]["msgs_per_s"], 5.1e7);
  EXPECT_EQ(row["machine"]["cores"], 2);
}

TEST(RowJson, NonFiniteNumbersBecomeNull) {
  mpkit::Measurement m;
  m.metrics = {{"x_per_s", std::numeric_limits<double>::infinity()}};
  const auto row = mpkit::cli::row_json(m, {});
  EXPECT_TRUE(row["metrics"]["x_per_s"].is_null());
}

TEST(MachineRow, HasTheRowShape) {
  const auto info = mpkit::machine_info();
  const auto row = mpkit::cli::row_json(mpkit::cli::machine_row(info, 0.001),
                                        mpkit::cli::machine_summary(info));
  expect_row_shape(json::parse(row.dump()));
  EXPECT_EQ(row["experiment"], "info");
  EXPECT_EQ(row["params"]["cores_available"], info.cores_available);
}

TEST(Format, HumanUnits) {
  using namespace mpkit::cli;
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(4096), "4.0 KiB");
  EXPECT_EQ(human_bytes(3ULL << 30U), "3.0 GiB");
  EXPECT_EQ(human_seconds(0.8123), "812 ms");
  EXPECT_EQ(human_seconds(4.2e-9), "4.20 ns");
  EXPECT_EQ(human_seconds(12.5), "12.5 s");
  EXPECT_EQ(format_metric("ops_per_s", 5.1e7), "51.0 M/s");
  EXPECT_EQ(format_metric("rtt_ns_p50", 40100), "40.1 us");
  EXPECT_EQ(format_metric("one_way_ns", 38), "38.0 ns");
  EXPECT_EQ(format_metric("mem_total_bytes", 1024), "1.0 KiB");
}

TEST(Table, AlignsPlainAndMarkdown) {
  using namespace mpkit::cli;
  Table table({{"name"}, {"value", Align::kRight}});
  table.add_row({"a", "1"});
  table.add_row({"longer", "22"});
  EXPECT_EQ(table.render(TableStyle::kPlain),
            "name    value\n"
            "------  -----\n"
            "a           1\n"
            "longer     22\n");
  EXPECT_EQ(table.render(TableStyle::kMarkdown),
            "| name   | value |\n"
            "| ------ | ----: |\n"
            "| a      |     1 |\n"
            "| longer |    22 |\n");
  EXPECT_THROW(table.add_row({"1", "2", "3"}), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// The binary.

TEST_F(CliTest, VersionAndHelp) {
  const Result version = mpkit({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("mpkit ", 0), 0U) << version.out;

  const Result help = mpkit({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"info", "clean", "sync", "run"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  }
  EXPECT_NE(help.out.find("Examples"), std::string::npos);

  for (const char* command : {"info", "clean", "sync", "run"}) {
    const Result sub = mpkit({command, "--help"});
    EXPECT_EQ(sub.exit_code, 0) << command;
    EXPECT_NE(sub.out.find("Example"), std::string::npos) << command << ":\n" << sub.out;
  }
}

TEST_F(CliTest, BadInputIsOneLineAndExitCode2) {
  expect_usage_error({}, "no command");
  expect_usage_error({"frobnicate"}, "unknown command 'frobnicate'");
  expect_usage_error({"sync", "--bogus"}, "unknown option '--bogus'");
  expect_usage_error({"--bogus"}, "unknown option '--bogus'");
  expect_usage_error({"sync", "stray"}, "unexpected argument 'stray'");
  expect_usage_error({"sync", "--repeat", "0"},
                     "--repeat: value 0 is out of range (must be >= 1)");
  expect_usage_error({"sync", "--repeat", "-3"}, "value -3 is out of range (must be >= 1)");
  expect_usage_error({"sync", "--repeat", "1000001"}, "(must be <= 1000000)");
  expect_usage_error({"sync", "--repeat", "many"}, "value 'many' is not a whole number");
  expect_usage_error({"sync", "--round-trips", "0"}, "--round-trips");
  expect_usage_error({"sync", "--repeat"}, "--repeat");
  expect_usage_error({"run", "--only", "nope"}, "unknown experiment 'nope'");
  expect_usage_error({"info", "--json", (dir_ / "missing" / "x.jsonl").string()}, "--json");
}

// Values that used to slip past the validators (wrapped negatives, numbers
// past 2^64, malformed ranges, empty values, a list of separators that ate
// the next option, a --json target that cannot be written): each is a usage
// error naming the flag, before anything runs or prints.
TEST_F(CliTest, ValuesPastTheValidatorsAreUsageErrorsNamingTheFlag) {
  const std::string huge(5000, '7');
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"array", "--seed", "-1"}, "--seed"},
      {{"array", "--seed", "18446744073709551616"}, "--seed"},
      {{"array", "--seed", huge}, "--seed"},
      {{"pool", "--parts", "chunksize", "--chunksizes", "-1"}, "--chunksizes"},
      {{"pool", "--overhead-inputs", "-1"}, "--overhead-inputs"},
      {{"pool", "--overhead-inputs", "0"}, "--overhead-inputs"},
      {{"pool", "--range", "a:b"}, "--range"},
      {{"pool", "--range", "-5:10"}, "--range"},
      {{"pool", "--range", "1:2:3"}, "--range"},
      {{"pool", "--range", "10:5"}, "--range"},
      {{"pool", "--range", ":"}, "--range"},
      {{"pool", "--workers", "0"}, "--workers"},
      {{"pool", "--workers", "-1"}, "--workers"},
      {{"pool", "--parts", "carrier-pigeon"}, "--parts"},
      {{"pool", "--parts", ",", "--no-python"}, "--parts"},
      {{"pool", "--parts", "startup,,overhead"}, "--parts"},
      {{"pool", "--plot", ""}, "--plot"},
      {{"sync", "--json", ""}, "--json"},
      {{"info", "--json", ""}, "--json"},
      {{"contention", "--plot", ""}, "--plot"},
      {{"contention", "--critical-work", ""}, "--critical-work"},
      {{"contention", "--critical-work", "-1"}, "--critical-work"},
      {{"contention", "--outside-work", "-1"}, "--outside-work"},
      {{"contention", "--workers", "-1"}, "--workers"},
      {{"contention", "--locks", ",", "--pin"}, "--locks"},
      {{"contention", "--locks", "carrier-pigeon"}, "--locks"},
      {{"counter", "--variants", ",", "--no-auto-scale"}, "--variants"},
      {{"ipc", "--bytes", ","}, "--bytes"},
      {{"ipc", "--sides", "-1"}, "--sides"},
      {{"ipc", "--backends", ""}, "--backends"},
      {{"run", "--out", ""}, "--out"},
      {{"run", "--only", ""}, "--only"},
      {{"run", "--only", ","}, "--only"},
  };
  for (const auto& [args, flag] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args).substr(0, 200));
    const Result r = mpkit(args, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(line_count(r.err), 1U) << r.err;
    EXPECT_EQ(r.err.rfind("mpkit: " + flag, 0), 0U) << r.err.substr(0, 300);
    EXPECT_LT(r.err.size(), 400U) << "a huge value is not echoed whole";
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // A --json target that cannot be written: refused before the table is
  // printed, naming the flag.
  const Result full = mpkit({"sync", "--repeat", "1", "--round-trips", "20", "--iterations", "200",
                             "--json", "/dev/full"});
  EXPECT_EQ(full.exit_code, 2) << full.err;
  EXPECT_EQ(line_count(full.err), 1U) << full.err;
  EXPECT_EQ(full.err.rfind("mpkit: --json", 0), 0U) << full.err;
  EXPECT_TRUE(full.out.empty()) << full.out;
}

// --redis: a malformed URL is bad input (exit 2, naming the flag); one that
// names no reachable server is a runtime failure (exit 1) carrying the
// connect error -- never a run that reports lost data.
TEST_F(CliTest, BadRedisUrlsExit2AndUnreachableOnesExit1WithTheConnectError) {
  for (const std::string command : {"ipc", "counter"}) {
    const std::vector<std::string> base =
        command == "ipc" ? std::vector<std::string>{"ipc", "--backends", "redis", "--flags", "none", "--repeat", "1"}
                         : std::vector<std::string>{"counter", "--variants", "redis", "--repeat", "1"};
    for (const std::string url : {"garbage", "", "redis://127.0.0.1:99999", "unix://relative.sock"}) {
      std::vector<std::string> args = base;
      args.insert(args.end(), {"--redis", url});
      SCOPED_TRACE(command + " --redis '" + url + "'");
      expect_usage_error(args, "--redis");
    }
    for (const std::string url : {"unix:///nonexistent/mpkit-test.sock", "redis://127.0.0.1:1"}) {
      std::vector<std::string> args = base;
      args.insert(args.end(), {"--redis", url});
      SCOPED_TRACE(command + " --redis '" + url + "'");
      const Result r = mpkit(args, std::chrono::seconds(30));
      EXPECT_EQ(r.exit_code, 1) << r.err;
      EXPECT_EQ(line_count(r.err), 1U) << r.err;
      EXPECT_EQ(r.err.rfind("mpkit: --redis", 0), 0U) << r.err;
      EXPECT_NE(r.err.find(url.starts_with("unix") ? "No such file or directory" : "Connection refused"),
                std::string::npos)
          << r.err;
      EXPECT_TRUE(r.out.empty()) << r.out;
    }
  }
}

// Why a variant failed is in the notes on stdout, not only in the progress
// output (shown on a terminal or with --progress): here the private
// redis-server cannot start (its directory cannot be made under TMPDIR).
TEST_F(CliTest, AFailedVariantSaysWhyWithoutProgress) {
  const Result r = mpkit({"counter", "--variants", "redis", "--repeat", "1", "--count", "10"},
                         std::chrono::seconds(60), {"TMPDIR=/nonexistent-mpkit-test-dir"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("FAILED: redis failed: "), std::string::npos) << r.out;
}

TEST_F(CliTest, RuntimeFailureIsOneLineAndExitCode1) {
  const Result r = mpkit({"clean", "--dir", (dir_ / "no-such-dir").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(line_count(r.err), 1U) << r.err;
  EXPECT_EQ(r.err.rfind("mpkit: ", 0), 0U) << r.err;
}

TEST_F(CliTest, InfoWritesOneParsableRow) {
  const fs::path file = dir_ / "info.jsonl";
  const Result r = mpkit({"info", "--json", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cpu"), std::string::npos);
  const auto rows = read_rows(file);
  ASSERT_EQ(rows.size(), 1U);
  expect_row_shape(rows[0]);
  EXPECT_EQ(rows[0]["experiment"], "info");
  EXPECT_EQ(rows[0]["correct"], true);
}

TEST_F(CliTest, JsonFileIsTruncatedNotAppended) {
  const fs::path file = dir_ / "info.jsonl";
  std::ofstream(file) << "old line 1\nold line 2\nold line 3\n";
  ASSERT_EQ(mpkit({"info", "--json", file.string()}).exit_code, 0);
  EXPECT_EQ(read_rows(file).size(), 1U);
}

TEST_F(CliTest, SyncAtTinyScaleWritesCorrectRows) {
  const fs::path file = dir_ / "sync.jsonl";
  const Result r = mpkit({"sync", "--repeat", "1", "--round-trips", "200", "--iterations", "20000",
                          "--json", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("futex-handoff"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mpkit-mutex"), std::string::npos) << r.out;
  const auto rows = read_rows(file);
  ASSERT_EQ(rows.size(), 10U);
  for (const json& row : rows) {
    expect_row_shape(row);
    EXPECT_EQ(row["experiment"], "sync");
    EXPECT_EQ(row["repeats"], 1);
    EXPECT_EQ(row["correct"], true) << row.dump();
  }
}

TEST_F(CliTest, RunListsAndWritesItsDirectory) {
  const Result list = mpkit({"run", "--list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("sync"), std::string::npos);

  const fs::path out = dir_ / "suite";
  const Result r = mpkit({"run", "--only", "sync", "--repeat", "1", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_rows(out / "results.jsonl");
  ASSERT_EQ(rows.size(), 11U);  // the machine row + 10 sync rows
  EXPECT_EQ(rows[0]["experiment"], "info");
  for (const json& row : rows) expect_row_shape(row);
  const std::string report = slurp(out / "report.md");
  EXPECT_EQ(report, r.out);
  for (const char* needle : {"## Machine", "## sync", "mpkit sync --repeat 1", "## Commands used"}) {
    EXPECT_NE(report.find(needle), std::string::npos) << needle;
  }
}

TEST_F(CliTest, CleanRemovesOnlySegmentsOfDeadCreators) {
  // A pid that is certainly gone: a child we reaped ourselves.
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = "mpkit." + std::to_string(dead) + ".7";
  const std::string alive = "mpkit." + std::to_string(::getpid()) + ".1";
  std::ofstream(dir_ / stale) << std::string(4096, 'x');
  std::ofstream(dir_ / alive) << "mine";

  const Result dry = mpkit({"clean", "--dry-run", "--dir", dir_.string()});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove /" + stale + " (creator " + std::to_string(dead) + " gone, 4.0 KiB)"),
            std::string::npos)
      << dry.out;
  EXPECT_TRUE(fs::exists(dir_ / stale));

  const Result clean = mpkit({"clean", "--dir", dir_.string()});
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_NE(clean.out.find("removed /" + stale), std::string::npos) << clean.out;
  EXPECT_NE(clean.out.find("removed 1 stale segment"), std::string::npos) << clean.out;
  EXPECT_FALSE(fs::exists(dir_ / stale));
  EXPECT_TRUE(fs::exists(dir_ / alive));
}

}  // namespace
