// SharedMatrix<T>: rows filled by forked workers, bounds, size errors, named
// attach from an exec'd process (read-write, read-only, wrong type), a
// read-only write dying by SIGSEGV, and no segment left behind when a worker
// is killed mid-fill.
#include "mpkit/shared_arrays/shared_matrix.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/program.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/shared_arrays/experiments/pid_fill.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;

bool segment_exists(const SegmentName& name) {
  return std::filesystem::exists("/dev/shm" + name.str());
}

template <class Action>
std::string message_of(Action&& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no exception)";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SharedMatrixTest, RowsFilledByForkedWorkersWithTheirPidsAreSeenByTheParent) {
  constexpr std::size_t kRows = 64;
  constexpr std::size_t kCols = 3000;  // a row spans pages: boundaries fall mid-page
  constexpr unsigned kWorkers = 4;
  auto m = SharedMatrix<double>::anonymous(kRows, kCols);
  m.fill(kPidFillInitial);
  std::vector<std::unique_ptr<Child>> workers;
  for (unsigned w = 0; w < kWorkers; ++w) {
    workers.push_back(std::make_unique<Child>([&m, w] {
      for (std::size_t r = w; r < m.rows(); r += kWorkers) {
        if (!fill_row_with_pid(m.row(r), ::getpid())) return 1;
      }
      return 0;
    }));
  }
  std::vector<pid_t> pids;
  for (auto& worker : workers) {
    pids.push_back(worker->pid());
    ASSERT_EQ(worker->join(30s), ExitStatus::exited(0));
  }
  // Every cell, directly: row r belongs to worker r mod kWorkers.
  for (std::size_t r = 0; r < kRows; ++r) {
    for (std::size_t c = 0; c < kCols; ++c) {
      ASSERT_EQ(m(r, c), static_cast<double>(pids[r % kWorkers])) << "cell " << r << ", " << c;
    }
  }
  const PidFillCheck check = verify_pid_fill(m.span(), m.cols(), pids);
  EXPECT_TRUE(check.ok()) << check.describe();
  EXPECT_EQ(check.distinct_pids, kWorkers);
}

// The same pattern with threads over one mapping, for ThreadSanitizer
// (ARCHITECTURE.md rule 5): disjoint rows need no synchronisation beyond join.
TEST(SharedMatrixTest, ThreadsOverOneMappingFillDisjointRows) {
  constexpr std::size_t kRows = 32;
  constexpr unsigned kThreads = 4;
  auto m = SharedMatrix<double>::anonymous(kRows, 3000);
  m.fill(kPidFillInitial);
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t r = t; r < kRows; r += kThreads) {
        if (!fill_row_with_pid(m.row(r), static_cast<pid_t>(1000 + t))) refused.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), 0);
  const std::vector<pid_t> ids = {1000, 1001, 1002, 1003};
  const PidFillCheck check = verify_pid_fill(m.span(), m.cols(), ids);
  EXPECT_TRUE(check.ok()) << check.describe();
  for (std::size_t r = 0; r < kRows; ++r)
    EXPECT_EQ(m(r, 2999), 1000.0 + static_cast<double>(r % kThreads));
}

TEST(SharedMatrixTest, ShapeRowsAndBounds) {
  auto m = SharedMatrix<int>::anonymous(3, 4);
  EXPECT_EQ(m.rows(), 3u);
  EXPECT_EQ(m.cols(), 4u);
  EXPECT_EQ(m.size(), 12u);
  EXPECT_EQ(m.size_bytes(), 48u);
  for (std::size_t i = 0; i < m.size(); ++i) m.span()[i] = static_cast<int>(i);
  EXPECT_EQ(m(2, 1), 9);
  EXPECT_EQ(m.row(1).size(), 4u);
  EXPECT_EQ(m.row(1)[0], 4);
  EXPECT_EQ(m.at(2, 3), 11);
  EXPECT_EQ(message_of([&] { (void)m.at(3, 0); }), "SharedMatrix::at: row 3 >= rows 3");
  EXPECT_EQ(message_of([&] { (void)m.at(0, 4); }), "SharedMatrix::at: col 4 >= cols 4");
  EXPECT_THROW((void)m.at(3, 0), std::out_of_range);
}

#ifndef NDEBUG
TEST(SharedMatrixDeathTest, DebugBuildsAssertIndices) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto m = SharedMatrix<int>::anonymous(2, 2);
  EXPECT_DEATH((void)m(2, 0), "row out of range");
  EXPECT_DEATH((void)m.row(5), "row out of range");
}
#endif

TEST(SharedMatrixTest, ZeroRowsOrColsIsInvalidArgumentNamingIt) {
  EXPECT_EQ(message_of([] { (void)SharedMatrix<double>::anonymous(0, 5); }),
            "SharedMatrix: rows must be > 0 (got 0)");
  EXPECT_EQ(message_of([] { (void)SharedMatrix<double>::anonymous(5, 0); }),
            "SharedMatrix: cols must be > 0 (got 0)");
  EXPECT_THROW((void)SharedMatrix<double>::anonymous(0, 0), std::invalid_argument);
  const auto name = SegmentName::unique();
  EXPECT_THROW((void)SharedMatrix<double>::create(name, 0, 1), std::invalid_argument);
  EXPECT_FALSE(segment_exists(name));
}

TEST(SharedMatrixTest, RowsTimesColsTimesSizeOverflowIsInvalidArgument) {
  const std::size_t big = std::size_t{1} << 32;
  const std::string message = message_of([&] { (void)SharedMatrix<double>::anonymous(big, big); });
  EXPECT_TRUE(contains(message, "4294967296 x 4294967296 matrix")) << message;
  EXPECT_TRUE(contains(message, "overflows")) << message;
  // rows * cols fits, times sizeof(T) does not.
  EXPECT_THROW((void)SharedMatrix<double>::anonymous(big, big / 8), std::invalid_argument);
  EXPECT_THROW((void)SharedMatrix<double>::anonymous(std::numeric_limits<std::size_t>::max(), 2),
               std::invalid_argument);
}

TEST(SharedMatrixTest, TooBigIsENOMEMOrENOSPCNotSigbus) {
  try {
    (void)SharedMatrix<double>::anonymous(std::size_t{1} << 27, std::size_t{1} << 27);  // 128 PiB
    FAIL() << "expected ENOMEM";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOMEM);
    EXPECT_TRUE(contains(error.what(), "does not fit in memory")) << error.what();
  }
  const auto name = SegmentName::unique();
  const std::size_t cols = std::size_t{1} << 20;
  const std::size_t rows = (shm_capacity().dev_shm_free_bytes >> 23) + 128;  // 8 MiB rows
  try {
    (void)SharedMatrix<double>::create(name, rows, cols);
    FAIL() << "expected ENOSPC or ENOMEM";
  } catch (const std::system_error& error) {
    EXPECT_TRUE(error.code().value() == ENOSPC || error.code().value() == ENOMEM) << error.what();
  }
  EXPECT_FALSE(segment_exists(name));
}

TEST(SharedMatrixTest, AttachWithAnotherShapeIsRefusedNamingBoth) {
  const auto name = SegmentName::unique();
  auto created = SharedMatrix<double>::create(name, 3, 4);
  const std::string message = message_of([&] { (void)SharedMatrix<double>::open(name, 4, 3); });
  EXPECT_TRUE(contains(message, "holds a 3 x 4 matrix")) << message;
  EXPECT_TRUE(contains(message, "expects a 4 x 3 matrix")) << message;
  EXPECT_THROW((void)SharedMatrix<double>::open(name, 4, 3), LayoutMismatchError);
  auto any_shape = SharedMatrix<double>::open(name);
  EXPECT_EQ(any_shape.rows(), 3u);
  EXPECT_EQ(any_shape.cols(), 4u);
}

// Runs the exec'd helper (array_attach_helper.cpp) on `name`; its exit code
// (-signal if killed; -1000 if it could not start, -2000 if it hung).
int run_helper(const SegmentName& name, std::size_t rows, std::size_t cols, const char* mode) {
  const ProgramResult run = run_program({MPKIT_ARRAY_ATTACH_HELPER_PATH, name.str(),
                                         std::to_string(rows), std::to_string(cols), mode},
                                        "", 30s, Stderr::kInherit);
  if (!run.started) return -1000;
  if (run.timed_out) return -2000;
  return run.signal != 0 ? -run.signal : run.exit_code;
}

TEST(SharedMatrixTest, NamedAttachFromAnExecdProcess) {
  // The helper shares nothing with us but the segment's name.
  constexpr std::size_t kRows = 50;
  constexpr std::size_t kCols = 700;
  const auto name = SegmentName::unique();
  auto m = SharedMatrix<double>::create(name, kRows, kCols);
  for (std::size_t i = 0; i < m.size(); ++i) m.span()[i] = static_cast<double>(i);
  EXPECT_EQ(run_helper(name, kRows, kCols, "ro"), 0) << "read-only attach and check";
  EXPECT_EQ(run_helper(name, kRows, kCols, "wrong-type"), 0) << "int64 attach refused, both named";
  EXPECT_EQ(run_helper(name, kRows + 1, kCols, "rw"), 3) << "a shape mismatch fails the attach";
  ASSERT_EQ(run_helper(name, kRows, kCols, "rw"), 0) << "read-write attach, check and write";
  for (std::size_t i = 0; i < m.size(); ++i) {
    ASSERT_EQ(m.span()[i], 2.0 * static_cast<double>(i) + 1) << "cell " << i;
  }
}

TEST(SharedMatrixTest, ReadOnlyAttachDiesBySigsegvOnAWrite) {
  const auto name = SegmentName::unique();
  auto m = SharedMatrix<std::int32_t>::create(name, 8, 8);
  m.fill(3);
  auto reader = SharedMatrix<const std::int32_t>::open(name, 8, 8);
  static_assert(std::is_same_v<decltype(reader.row(0)), std::span<const std::int32_t>>);
  EXPECT_EQ(reader(7, 7), 3);
  Child writer([&reader] {
    ::signal(SIGSEGV, SIG_DFL);  // sanitizers catch SEGV; we want the plain signal
    const_cast<volatile std::int32_t&>(reader(7, 7)) = 9;
    return 0;
  });
  EXPECT_EQ(writer.join(10s), ExitStatus::killed_by(SIGSEGV));
  EXPECT_EQ(m(7, 7), 3);
}

// A worker killed mid-fill holds only a mapping: it never owned the name, so
// nothing of it outlives the creator, which unlinks as usual.
TEST(SharedMatrixTest, NoSegmentLeftAfterAWorkerIsKilledMidFill) {
  const auto name = SegmentName::unique();
  test::Shared<std::atomic<std::uint64_t>> rows_done(0);
  {
    auto m = SharedMatrix<double>::create(name, 256, 8192);  // 16 MiB
    m.fill(kPidFillInitial);
    // One worker inherits the mapping by fork, one attaches by name.
    std::vector<std::unique_ptr<Child>> workers;
    for (int attach_by_name = 0; attach_by_name < 2; ++attach_by_name) {
      workers.push_back(std::make_unique<Child>([&, attach_by_name] {
        std::optional<SharedMatrix<double>> own;
        if (attach_by_name) own.emplace(SharedMatrix<double>::open(name));
        const SharedMatrix<double>& target = own ? *own : m;
        for (std::uint64_t pass = 0;; ++pass) {  // fills until killed
          for (std::size_t r = 0; r < target.rows(); ++r) {
            std::ranges::fill(target.row(r), static_cast<double>(pass));
            rows_done->fetch_add(1, std::memory_order_relaxed);  // relaxed: a progress count
          }
        }
        return 0;
      }));
    }
    ASSERT_TRUE(test::eventually([&] { return rows_done->load() >= 1000; }))
        << "the workers never got going";
    for (auto& worker : workers) {
      worker->send(SIGKILL);
      EXPECT_EQ(worker->join(10s), ExitStatus::killed_by(SIGKILL));
    }
    EXPECT_TRUE(segment_exists(name)) << "the creator still holds it";
    m(0, 0) = 1.5;  // and the mapping is intact
    EXPECT_EQ(m(0, 0), 1.5);
  }
  EXPECT_FALSE(segment_exists(name)) << "the creator unlinked it; no worker could leave it";
}

}  // namespace
}  // namespace mpkit
