// The pid-fill verifier: it accepts a correct fill and catches each way a
// fill can be wrong — above all a deliberately skipped row, done by real
// forked workers.
#include "mpkit/shared_arrays/experiments/pid_fill.hpp"

#include <unistd.h>

#include <memory>
#include <optional>
#include <vector>

#include "test_support.hpp"
#include <gtest/gtest.h>

#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;

// Fills `m` with `workers` forked workers, rows r = k mod workers for
// worker k, except that worker 0 skips row `skip` (if given).
std::vector<pid_t> fill_with_workers(const SharedMatrix<double>& m, unsigned workers,
                                     std::optional<std::size_t> skip = std::nullopt) {
  m.fill(kPidFillInitial);
  std::vector<std::unique_ptr<Child>> children;
  for (unsigned k = 0; k < workers; ++k) {
    children.push_back(std::make_unique<Child>([&m, k, workers, skip] {
      for (std::size_t r = k; r < m.rows(); r += workers) {
        if (skip && r == *skip) continue;
        if (!fill_row_with_pid(m.row(r), ::getpid())) return 1;
      }
      return 0;
    }));
  }
  std::vector<pid_t> pids;
  for (auto& child : children) {
    pids.push_back(child->pid());
    EXPECT_EQ(child->join(30s), ExitStatus::exited(0));
  }
  return pids;
}

TEST(PidFillTest, ACorrectFillByForkedWorkersPasses) {
  auto m = SharedMatrix<double>::anonymous(20, 1000);
  const auto pids = fill_with_workers(m, 2);
  const PidFillCheck check = verify_pid_fill(m.span(), m.cols(), pids);
  EXPECT_TRUE(check.ok()) << check.describe();
  EXPECT_EQ(check.rows, 20u);
  EXPECT_EQ(check.cells, 20'000u);
  EXPECT_EQ(check.distinct_pids, 2u);
  EXPECT_EQ(check.describe(), "ok: 20 rows by 2 workers");
}

TEST(PidFillTest, ADeliberatelySkippedRowIsCaught) {
  auto m = SharedMatrix<double>::anonymous(20, 1000);
  const auto pids = fill_with_workers(m, 2, /*skip=*/std::size_t{6});
  const PidFillCheck check = verify_pid_fill(m.span(), m.cols(), pids);
  EXPECT_FALSE(check.ok());
  EXPECT_EQ(check.initial_left, 1000u) << "exactly one row of 42s";
  EXPECT_EQ(check.first_bad_row, std::optional<std::size_t>(6));
  EXPECT_EQ(check.unknown, 0u);
  EXPECT_NE(check.describe().find("1000 cells still hold the initial value"), std::string::npos)
      << check.describe();
}

TEST(PidFillTest, AForeignValueAMixedRowAndTooFewWorkersAreCaught) {
  const std::vector<pid_t> pids = {101, 202};
  std::vector<double> cells(4 * 3, 101.0);
  for (std::size_t c = 0; c < 3; ++c) cells[3 + c] = 202.0;
  EXPECT_TRUE(verify_pid_fill(cells, 3, pids).ok());

  auto foreign = cells;
  foreign[7] = 303.0;  // nobody's pid
  const auto f = verify_pid_fill(foreign, 3, pids);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.unknown, 1u);
  EXPECT_EQ(f.first_bad_row, std::optional<std::size_t>(2));

  auto mixed = cells;
  mixed[10] = 202.0;  // a row done half by each: a task ran twice
  const auto x = verify_pid_fill(mixed, 3, pids);
  EXPECT_FALSE(x.ok());
  EXPECT_EQ(x.mixed_rows, 1u);
  EXPECT_EQ(x.first_bad_row, std::optional<std::size_t>(3));

  const std::vector<double> one_worker(4 * 3, 101.0);  // worker 202 did nothing
  const auto w = verify_pid_fill(one_worker, 3, pids);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.distinct_pids, 1u);
  EXPECT_EQ(w.expected_distinct, 2u);
  // With fewer rows than workers, fewer distinct pids are expected.
  EXPECT_TRUE(verify_pid_fill(std::vector<double>(3, 101.0), 3, pids).ok());
}

TEST(PidFillTest, FillRowRefusesARowThatIsNotInitial) {
  std::vector<double> row(8, kPidFillInitial);
  EXPECT_TRUE(fill_row_with_pid(row, 77));
  EXPECT_EQ(row[7], 77.0);
  EXPECT_FALSE(fill_row_with_pid(row, 88)) << "a row done twice shows";
  EXPECT_EQ(row[0], 77.0) << "and is left as it was";
}

TEST(PidFillTest, LongRowsAreCheckedAndFilledInFull) {
  // Rows past 2048 cells take the block-compare and block-copy paths.
  std::vector<double> row(5000, kPidFillInitial);
  row[4500] = 0.0;  // in the last, partial block
  EXPECT_FALSE(fill_row_with_pid(row, 77));
  EXPECT_EQ(row[0], kPidFillInitial) << "nothing written";
  row[4500] = kPidFillInitial;
  EXPECT_TRUE(fill_row_with_pid(row, 77));
  for (std::size_t i = 0; i < row.size(); ++i) ASSERT_EQ(row[i], 77.0) << "cell " << i;
}

TEST(PidFillTest, BadArgumentsAreNamed) {
  const std::vector<pid_t> pids = {1};
  const std::vector<double> cells(6, 1.0);
  EXPECT_THROW((void)verify_pid_fill(cells, 0, pids), std::invalid_argument);
  EXPECT_THROW((void)verify_pid_fill(cells, 4, pids), std::invalid_argument);
  EXPECT_THROW((void)verify_pid_fill(cells, 3, {}), std::invalid_argument);
}

}  // namespace
}  // namespace mpkit
