// Faults: a worker that dies holding a task (SIGSEGV, abort, _exit,
// SIGKILL), a task over its timeout, a crash loop, a pool torn down with
// work in flight, Ctrl-C at the workers, and a parent killed under its pool.
// After each: the right task failed with the right error, every other task
// completed, and no child process or /dev/shm segment is left.

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "mpkit/pools/pool.hpp"
#include "pool_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::test::children_of;
using mpkit::test::kPoolsSanitized;
using mpkit::test::with_workers;

// A pool's fork server is our child while the pool lives; afterwards nothing
// may be left, zombie or not.
void expect_no_children_and_no_segments() {
  const bool clean = mpkit::test::eventually([] { return children_of(::getpid()).empty(); }, 5000ms);
  EXPECT_TRUE(clean) << children_of(::getpid()).size() << " child process(es) left";
  EXPECT_TRUE(mpkit::test::my_segments().empty()) << "a /dev/shm segment is left";
}

int crash_at_42(int x) {
  if (x == 42) std::raise(SIGSEGV);
  return x + 1;
}

// Under ASan a SIGSEGV becomes ASan's report, then exit code 1, or SIGABRT
// when ASAN_OPTIONS has abort_on_error=1 (as the asan test preset does).
void expect_segv(const mpkit::WorkerDied& e) {
  if (kPoolsSanitized) {
    EXPECT_TRUE(e.signal() == SIGSEGV || e.signal() == SIGABRT || e.exit_code() != 0) << e.what();
  } else {
    EXPECT_EQ(e.signal(), SIGSEGV) << e.what();
  }
}

TEST(PoolFaults, SegfaultFailsExactlyThatTaskAndTheWorkerIsReplaced) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    const auto outcomes = pool.map_outcomes(&crash_at_42, std::views::iota(0, 200), 1);
    ASSERT_EQ(outcomes.size(), 200U);
    for (int i = 0; i < 200; ++i) {
      const auto& o = outcomes[static_cast<std::size_t>(i)];
      if (i != 42) {
        EXPECT_EQ(o.value(), i + 1) << "every other task completes";
        continue;
      }
      ASSERT_TRUE(o.has_error());
      try {
        (void)o.value();
        FAIL();
      } catch (const mpkit::WorkerDied& e) {
        expect_segv(e);
        EXPECT_EQ(e.task_index(), 42U);
        EXPECT_GT(e.pid(), 0);
        EXPECT_NE(std::string(e.what()).find("task 42"), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(pool.stats().crashed, 1U);
    // worker_pids() reads the fork server's pending reports.
    EXPECT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
    EXPECT_EQ(pool.stats().spawned, 3U) << "the dead worker was replaced";
    // map() itself throws, after the other results are in; the pool goes on.
    EXPECT_THROW((void)pool.map(&crash_at_42, std::views::iota(40, 45), 1), mpkit::WorkerDied);
    EXPECT_EQ(pool.map(&crash_at_42, std::vector<int>{1, 2, 3}), (std::vector<int>{2, 3, 4}));
    EXPECT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
  }
  expect_no_children_and_no_segments();
}

TEST(PoolFaults, AbortAndExitInATaskAreWorkerDeaths) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    auto aborted = pool.submit([] { std::abort(); });
    auto exited = pool.submit([] { ::_exit(3); });
    auto fine = pool.submit([](int x) { return x; }, 9);
    try {
      (void)aborted.get(10s);
      FAIL();
    } catch (const mpkit::WorkerDied& e) {
      EXPECT_EQ(e.signal(), SIGABRT) << e.what();
    }
    try {
      (void)exited.get(10s);
      FAIL();
    } catch (const mpkit::WorkerDied& e) {
      EXPECT_EQ(e.signal(), 0);
      EXPECT_EQ(e.exit_code(), 3) << e.what();
    }
    EXPECT_EQ(fine.get(10s), 9);
    // A chunk: every item of the chunk the worker held fails, the first
    // item's index is reported.
    const auto outcomes = pool.map_outcomes(&crash_at_42, std::views::iota(0, 100), 10);
    for (int i = 0; i < 100; ++i) {
      const bool in_chunk = i >= 40 && i < 50;
      EXPECT_EQ(outcomes[static_cast<std::size_t>(i)].has_error(), in_chunk) << i;
    }
    try {
      (void)outcomes[45].value();
    } catch (const mpkit::WorkerDied& e) {
      EXPECT_EQ(e.task_index(), 40U);
      EXPECT_EQ(e.chunk_items(), 10U);
    }
  }
  expect_no_children_and_no_segments();
}

TEST(PoolFaults, RandomSigkillsDuringALongMapLoseAndDuplicateNothing) {
  const int kills_wanted = kPoolsSanitized ? 30 : 200;
  const int items = kills_wanted * 25;
  {
    auto options = with_workers(3);
    options.crash_limit = 1000000;  // the kills are deliberate
    mpkit::ProcessPool pool(options);
    std::vector<int> inputs(static_cast<std::size_t>(items));
    for (int i = 0; i < items; ++i) inputs[static_cast<std::size_t>(i)] = i;
    auto results = pool.imap(
        [](int x) {
          const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
          while (std::chrono::steady_clock::now() < until) {
          }
          return 3L * x;
        },
        inputs, 1, 64);
    std::mt19937 rng(7);
    int kills = 0;
    int values = 0;
    int died = 0;
    for (int i = 0; i < items; ++i) {
      if (kills < kills_wanted && i % 20 == 5) {
        const auto pids = pool.worker_pids();
        if (!pids.empty()) {
          ::kill(pids[std::uniform_int_distribution<std::size_t>(0, pids.size() - 1)(rng)], SIGKILL);
          ++kills;
        }
      }
      auto outcome = results.next_outcome(20s);
      ASSERT_TRUE(outcome.has_value()) << "item " << i << " missing";
      if (outcome->ok()) {
        EXPECT_EQ(outcome->value(), 3L * i) << "a result for the wrong item";
        ++values;
      } else {
        try {
          (void)outcome->value();
        } catch (const mpkit::WorkerDied& e) {
          EXPECT_EQ(e.signal(), SIGKILL);
          EXPECT_EQ(e.task_index(), static_cast<std::size_t>(i));
          ++died;
        }
      }
    }
    EXPECT_FALSE(results.next(1s).has_value()) << "no extra (duplicated) item";
    EXPECT_EQ(values + died, items) << "every item is a value or a WorkerDied";
    EXPECT_LE(died, kills) << "a kill fails at most the one task its worker held";
    EXPECT_EQ(kills, kills_wanted);
    EXPECT_GT(values, items / 2);
    EXPECT_GT(pool.stats().redispatched, 0U) << "chunks queued behind a killed worker went to others";
    RecordProperty("kills", kills);
    RecordProperty("worker_died", died);
  }
  expect_no_children_and_no_segments();
}

TEST(PoolFaults, TaskTimeoutKillsAndReplacesTheWorker) {
  {
    auto options = with_workers(2);
    options.task_timeout = 200ms;
    mpkit::ProcessPool pool(options);
    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = pool.map_outcomes(
        [](int x) {
          if (x == 7) std::this_thread::sleep_for(30s);
          return x;
        },
        std::views::iota(0, 20), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the stuck task did not hold the map";
    for (int i = 0; i < 20; ++i) {
      const auto& o = outcomes[static_cast<std::size_t>(i)];
      if (i != 7) {
        EXPECT_EQ(o.value(), i);
        continue;
      }
      try {
        (void)o.value();
        FAIL();
      } catch (const mpkit::TaskTimedOut& e) {
        EXPECT_EQ(e.task_index(), 7U);
        EXPECT_NE(std::string(e.what()).find("task_timeout"), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(pool.map([](int x) { return x; }, std::vector<int>{5}), std::vector<int>{5});
    EXPECT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
  }
  expect_no_children_and_no_segments();
}

TEST(PoolFaults, CrashLoopBreakerStopsRespawning) {
  {
    auto options = with_workers(2);
    options.crash_limit = 3;
    options.crash_window = 60000ms;
    mpkit::ProcessPool pool(options);
    const auto outcomes = pool.map_outcomes(
        [](int) {
          std::raise(SIGKILL);
          return 0;
        },
        std::views::iota(0, 50), 1);
    int broken = 0;
    for (const auto& o : outcomes) {
      ASSERT_TRUE(o.has_error());
      try {
        (void)o.value();
      } catch (const mpkit::PoolBroken& e) {
        ++broken;
        EXPECT_NE(std::string(e.what()).find("crash loop"), std::string::npos) << e.what();
      } catch (const mpkit::WorkerDied&) {
      }
    }
    EXPECT_GT(broken, 0);
    EXPECT_TRUE(pool.broken());
    EXPECT_LE(pool.stats().spawned, 2U + 4U) << "respawning stopped";
    EXPECT_THROW((void)pool.map(&crash_at_42, std::vector<int>{1}), mpkit::PoolBroken);
  }
  expect_no_children_and_no_segments();
}

// The fork server is the pool owner's only child.
pid_t fork_server_of_this_process() {
  const auto children = children_of(::getpid());
  return children.size() == 1 ? children.front().pid : 0;
}

// Every outcome is the right value or PoolBroken naming the fork server.
template <class Outcomes>
int expect_values_or_fork_server_gone(const Outcomes& outcomes) {
  int broken = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].ok()) {
      EXPECT_EQ(outcomes[i].value(), static_cast<int>(2 * i + 1)) << "a wrong value for item " << i;
      continue;
    }
    try {
      (void)outcomes[i].value();
    } catch (const mpkit::PoolBroken& e) {
      ++broken;
      EXPECT_NE(std::string(e.what()).find("fork server"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "item " << i << ": " << e.what();
    }
  }
  return broken;
}

// A fork server killed while the pool is idle: the next call fails with
// PoolBroken (not WaitTimedOut, not a hang), and so does every later one.
TEST(PoolFaults, AForkServerKilledWhileIdleBreaksThePool) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    EXPECT_EQ(pool.map([](int x) { return 2 * x + 1; }, std::vector<int>{0, 1, 2}, 1),
              (std::vector<int>{1, 3, 5}));
    ASSERT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
    const std::vector<pid_t> workers = pool.worker_pids();
    const pid_t zygote = fork_server_of_this_process();
    ASSERT_GT(zygote, 0) << children_of(::getpid()).size() << " children";
    ASSERT_EQ(::kill(zygote, SIGKILL), 0);
    // Its workers die with it (PR_SET_PDEATHSIG), a moment later.
    for (pid_t pid : workers) {
      EXPECT_TRUE(mpkit::test::eventually([pid] { return !mpkit::test::process_running(pid); }, 5000ms));
    }
    EXPECT_THROW((void)pool.map([](int x) { return 2 * x + 1; }, std::views::iota(0, 100), 1, 10s),
                 mpkit::PoolBroken);
    EXPECT_TRUE(pool.broken());
    EXPECT_THROW((void)pool.submit([](int x) { return x; }, 1), mpkit::PoolBroken);
    EXPECT_THROW((void)pool.map([](int x) { return x; }, std::vector<int>{1}), mpkit::PoolBroken);
    EXPECT_TRUE(pool.worker_pids().empty());
    pool.close();
    EXPECT_TRUE(pool.join(5s));
    // The dead fork server is reaped at once, not left a zombie until the
    // pool is destroyed.
    EXPECT_TRUE(mpkit::test::eventually([] { return children_of(::getpid()).empty(); }, 5000ms));
  }
  expect_no_children_and_no_segments();
}

// A fork server killed in the middle of a map (by a task: the worker's
// parent is the fork server): the map ends with PoolBroken for what did not
// complete, every completed item is right, and later calls throw PoolBroken.
TEST(PoolFaults, AForkServerKilledDuringAMapBreaksThePool) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    std::vector<int> inputs(400);
    for (int i = 0; i < 400; ++i) inputs[static_cast<std::size_t>(i)] = i;
    const auto outcomes = pool.map_outcomes(
        [](int x) {
          if (x == 50) ::kill(::getppid(), SIGKILL);
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          return 2 * x + 1;
        },
        inputs, 1, 10s);
    ASSERT_EQ(outcomes.size(), inputs.size());
    EXPECT_GT(expect_values_or_fork_server_gone(outcomes), 0);
    EXPECT_TRUE(pool.broken());
    EXPECT_THROW((void)pool.submit([](int x) { return x; }, 1), mpkit::PoolBroken);
    pool.close();
    EXPECT_TRUE(pool.join(5s));
  }
  expect_no_children_and_no_segments();
}

// The same with work submitted and waited for with get(timeout).
TEST(PoolFaults, AForkServerKilledUnderPendingSubmitsFailsThemWithPoolBroken) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    std::vector<mpkit::AsyncResult<int>> pending;
    for (int i = 0; i < 6; ++i) {
      pending.push_back(pool.submit([](int x) {
        std::this_thread::sleep_for(30s);
        return x;
      }, i));
    }
    EXPECT_FALSE(pending[0].wait(50ms));
    const pid_t zygote = fork_server_of_this_process();
    ASSERT_GT(zygote, 0);
    ASSERT_EQ(::kill(zygote, SIGKILL), 0);
    EXPECT_THROW((void)pending[0].get(10s), mpkit::PoolBroken);
    for (auto& p : pending) EXPECT_THROW((void)p.get(1s), mpkit::PoolBroken);
    EXPECT_TRUE(pool.broken());
    pool.close();
    EXPECT_TRUE(pool.join(5s));
  }
  expect_no_children_and_no_segments();
}

// A pool of 1024 workers builds and runs (the spawn requests and reports
// once filled both directions of the fork server's socket and deadlocked the
// constructor above ~550 workers). In a child with a bounded join, so a
// deadlock is a failed assertion, not a hung test binary.
TEST(PoolLimits, AThousandWorkersBuildAndRunInBoundedTime) {
  constexpr int kWorkers = kPoolsSanitized ? 256 : 1024;
  mpkit::test::Child owner([] {
    auto options = with_workers(kWorkers);
    options.ring_records = 2;  // 1024 x 2 rings x 2 records: a little memory
    mpkit::ProcessPool pool(options);
    const auto values = pool.map([](int x) { return 2 * x + 1; }, std::views::iota(0, 64), 1, 60s);
    for (int i = 0; i < 64; ++i) {
      if (values[static_cast<std::size_t>(i)] != 2 * i + 1) return 2;
    }
    pool.close();
    return pool.join(60s) ? 0 : 3;
  }, 100s);
  EXPECT_EQ(owner.join(90s), mpkit::test::ExitStatus::exited(0))
      << "100: threw (e.g. a fork refused by a process limit), 2: wrong value, 3: join timed out";
}

// Rings that cannot fit in this machine's memory are refused, naming the
// option, before anything is mapped or forked.
TEST(PoolLimits, RingsLargerThanTheMachineAreRefused) {
  auto options = with_workers(64);
  options.ring_records = std::size_t{1} << 24;  // 64 x 2 x 2^24 x 64 B = 128 GiB
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  ASSERT_GT(pages, 0);
  if (static_cast<double>(pages) * static_cast<double>(page) >= 128.0 * (1ULL << 30)) {
    GTEST_SKIP() << "this machine has 128 GiB or more";
  }
  try {
    mpkit::ProcessPool pool(options);
    FAIL() << "a pool with 128 GiB of rings was built";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ring_records"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(children_of(::getpid()).empty()) << "nothing was forked";
}

TEST(PoolFaults, TerminateAndDestroyWithTasksInFlight) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    std::vector<mpkit::AsyncResult<int>> pending;
    for (int i = 0; i < 10; ++i) {
      pending.push_back(pool.submit([](int x) {
        std::this_thread::sleep_for(30s);
        return x;
      }, i));
    }
    EXPECT_FALSE(pending[0].wait(50ms));
    const auto start = std::chrono::steady_clock::now();
    pool.terminate();
    RecordProperty("terminate_us", static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                        std::chrono::steady_clock::now() - start)
                                                        .count()));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    for (auto& p : pending) EXPECT_THROW((void)p.get(1s), mpkit::PoolBroken);
    EXPECT_TRUE(pool.worker_pids().empty());
  }
  expect_no_children_and_no_segments();
  std::vector<pid_t> pids;
  {
    std::optional<mpkit::ProcessPool> pool(std::in_place, with_workers(2));
    (void)pool->map([](int x) { return x; }, std::vector<int>{1, 2}, 1);  // workers are up
    EXPECT_TRUE(mpkit::test::eventually([&] { return pool->worker_pids().size() == 2; }, 5000ms));
    pids = pool->worker_pids();
    for (int i = 0; i < 5; ++i) {
      (void)pool->submit([] { std::this_thread::sleep_for(30s); });
    }
    std::this_thread::sleep_for(20ms);  // the first two are running
    const auto start = std::chrono::steady_clock::now();
    pool.reset();  // the destructor terminates
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "destroying a busy pool does not wait for it";
  }
  for (pid_t pid : pids) EXPECT_FALSE(mpkit::test::process_running(pid));
  expect_no_children_and_no_segments();
}

TEST(PoolFaults, WorkersIgnoreSigint) {
  {
    mpkit::ProcessPool pool(with_workers(2));
    EXPECT_EQ(pool.map([](int x) { return x; }, std::vector<int>{1, 2, 3}, 1).size(), 3U);
    ASSERT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
    for (pid_t pid : pool.worker_pids()) ::kill(pid, SIGINT);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(pool.map([](int x) { return -x; }, std::vector<int>{1, 2, 3}, 1), (std::vector<int>{-1, -2, -3}));
    EXPECT_EQ(pool.stats().crashed, 0U);
  }
  expect_no_children_and_no_segments();
}

TEST(PoolLifecycle, WhatTasksPrintIsFlushedWhenWorkersLeave) {
  char path[] = "/tmp/mpkit_pool_stdout_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(fd, STDOUT_FILENO);  // the workers inherit it (the pool is built after this)
  {
    mpkit::ProcessPool pool(with_workers(2));
    (void)pool.map([](int x) {
      std::printf("task %d;", x);  // no newline: stays in the worker's stdio buffer
      return x;
    }, std::views::iota(0, 4), 1);
    pool.close();
    EXPECT_TRUE(pool.join(10s));
  }
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::string text;
  char buffer[256];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  ::unlink(path);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(text.find("task " + std::to_string(i) + ";"), std::string::npos) << text;
  }
}

TEST(PoolFaults, AParentKilledTakesItsWorkersWithIt) {
  struct Pids {
    std::atomic<int> count;
    pid_t pids[8];
  };
  mpkit::test::Shared<Pids> shared(mpkit::test::kZeroFilled);
  mpkit::test::Child parent([&] {
    mpkit::ProcessPool pool(with_workers(2));
    std::vector<pid_t> pids;
    for (int i = 0; i < 1000 && pids.size() < 2; ++i) {
      (void)pool.map([](int x) { return x; }, std::vector<int>{1, 2}, 1);
      pids = pool.worker_pids();
    }
    for (std::size_t i = 0; i < pids.size() && i < 8; ++i) shared->pids[i] = pids[i];
    shared->count.store(static_cast<int>(pids.size()));
    std::this_thread::sleep_for(60s);
    return 0;
  });
  ASSERT_TRUE(mpkit::test::eventually([&] { return shared->count.load() == 2; }, 10000ms));
  ::kill(parent.pid(), SIGKILL);
  EXPECT_EQ(parent.join(10s), mpkit::test::ExitStatus::killed_by(SIGKILL));
  for (int i = 0; i < 2; ++i) {
    const pid_t pid = shared->pids[i];
    EXPECT_TRUE(mpkit::test::eventually([pid] { return !mpkit::test::process_running(pid); }, 5000ms))
        << "worker " << pid << " outlived its pool's process";
  }
  expect_no_children_and_no_segments();
}

}  // namespace

namespace {
// After the whole suite (both pool kinds, every fault): no child process, no
// zombie, no /dev/shm segment of ours.
class NothingLeftBehind : public ::testing::Environment {
 public:
  void TearDown() override { expect_no_children_and_no_segments(); }
};
const auto* const kNothingLeftBehind = ::testing::AddGlobalTestEnvironment(new NothingLeftBehind);
}  // namespace
