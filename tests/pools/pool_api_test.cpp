// Every pool call gives the serial results, for both pool kinds (a typed
// suite over ProcessPool and ThreadPool), on random inputs; the lifecycle
// calls (close/join/terminate) and bad input.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "mpkit/pools/pool.hpp"
#include "test_support.hpp"
#include "pool_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::test::with_workers;

struct Reading {
  std::string sensor;
  std::vector<double> values;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(sensor, values);
  }
};

long square(int x) { return static_cast<long>(x) * x; }
std::string shout(const std::string& s) {
  std::string out = s;
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out + "!";
}
long sum_of(const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0L); }
std::vector<int> iota_of(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
std::string label(const std::pair<int, std::string>& p) { return p.second + "#" + std::to_string(p.first); }
int add3(int a, int b, int c) { return a + b + c; }
double mean_of(const Reading& r) {
  return r.values.empty() ? 0.0 : std::accumulate(r.values.begin(), r.values.end(), 0.0) / static_cast<double>(r.values.size());
}

std::vector<int> random_ints(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-100000, 100000);
  std::vector<int> v(n);
  for (int& x : v) x = dist(rng);
  return v;
}

template <class Pool>
class PoolApi : public ::testing::Test {};
using PoolKinds = ::testing::Types<mpkit::ProcessPool, mpkit::ThreadPool>;
TYPED_TEST_SUITE(PoolApi, PoolKinds);

TYPED_TEST(PoolApi, MapEqualsSerialForEveryChunksize) {
  TypeParam pool(with_workers(2));
  const auto inputs = random_ints(5000, 1);
  std::vector<long> expected;
  for (int x : inputs) expected.push_back(square(x));
  EXPECT_EQ(pool.map(&square, inputs), expected) << "default chunksize";
  EXPECT_EQ(pool.map(&square, inputs, 1), expected) << "chunksize 1";
  EXPECT_EQ(pool.map(&square, inputs, 7), expected) << "chunksize 7";
  EXPECT_EQ(pool.map(&square, inputs, 100000), expected) << "one chunk";
  EXPECT_TRUE(pool.map(&square, std::vector<int>{}).empty());
  // A lambda without captures, and an input that is not contiguous.
  const std::vector<int> small{3, 1, 2};
  auto doubled = pool.map([](int x) { return 2 * x; }, std::views::iota(0, 100));
  ASSERT_EQ(doubled.size(), 100U);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(doubled[static_cast<std::size_t>(i)], 2 * i);
  EXPECT_EQ(pool.stats().crashed, 0U);
}

// A chunksize beyond the input, up to SIZE_MAX, is one chunk: never a
// wrapped chunk count (every item a silent zero) nor a huge reservation.
TYPED_TEST(PoolApi, ChunksizesBeyondTheInputAreOneChunk) {
  TypeParam pool(with_workers(2));
  const std::vector<int> inputs = iota_of(1900);
  std::vector<long> expected;
  for (int x : inputs) expected.push_back(2L * x + 1);
  const auto fn = [](int x) { return 2L * x + 1; };
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  for (const std::size_t chunksize : {std::size_t{1900}, std::size_t{1901}, std::size_t{1} << 32,
                                      std::size_t{1} << 62, kMax - 1, kMax}) {
    EXPECT_EQ(pool.map(fn, inputs, chunksize, 20s), expected) << "map, chunksize " << chunksize;
    const auto outcomes = pool.map_outcomes(fn, inputs, chunksize, 20s);
    ASSERT_EQ(outcomes.size(), inputs.size());
    for (std::size_t i = 0; i < outcomes.size(); ++i) ASSERT_EQ(outcomes[i].value(), expected[i]) << i;
    std::vector<long> got;
    for (long v : pool.imap(fn, inputs, chunksize)) got.push_back(v);
    EXPECT_EQ(got, expected) << "imap, chunksize " << chunksize;
    got.clear();
    for (long v : pool.imap_unordered(fn, inputs, chunksize)) got.push_back(v);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected) << "imap_unordered, chunksize " << chunksize;
  }
}

TYPED_TEST(PoolApi, CodecTypesTravelBothWays) {
  TypeParam pool(with_workers(2));
  const std::vector<std::string> words{"alpha", "", "gamma delta", std::string(300, 'x')};
  std::vector<std::string> shouted;
  for (const auto& w : words) shouted.push_back(shout(w));
  EXPECT_EQ(pool.map(&shout, words, 1), shouted);

  std::vector<std::vector<int>> vectors;
  std::vector<long> sums;
  for (int n : {0, 1, 5, 1000, 200000}) {  // 200000 ints: longer than a whole ring
    vectors.push_back(iota_of(n));
    sums.push_back(sum_of(vectors.back()));
  }
  EXPECT_EQ(pool.map(&sum_of, vectors, 1), sums);
  auto big = pool.map(&iota_of, std::vector<int>{300000, 3});  // results longer than a ring
  ASSERT_EQ(big.size(), 2U);
  EXPECT_EQ(big[0], iota_of(300000));
  EXPECT_EQ(big[1], iota_of(3));

  const std::vector<std::pair<int, std::string>> pairs{{1, "a"}, {22, "bb"}};
  EXPECT_EQ(pool.map(&label, pairs), (std::vector<std::string>{"a#1", "bb#22"}));

  const std::vector<Reading> readings{{"t1", {1.0, 2.0, 3.0}}, {"t2", {}}};
  EXPECT_EQ(pool.map(&mean_of, readings), (std::vector<double>{2.0, 0.0}));
}

TYPED_TEST(PoolApi, StarmapAppliesTuples) {
  TypeParam pool(with_workers(2));
  std::vector<std::tuple<int, int, int>> args;
  std::vector<int> expected;
  const auto r = random_ints(999, 2);
  for (std::size_t i = 0; i + 2 < r.size(); i += 3) {
    args.emplace_back(r[i], r[i + 1], r[i + 2]);
    expected.push_back(r[i] + r[i + 1] + r[i + 2]);
  }
  EXPECT_EQ(pool.starmap(&add3, args), expected);
  EXPECT_EQ(pool.starmap(&add3, args, 1), expected);
}

TYPED_TEST(PoolApi, ImapIsOrderedAndLazy) {
  TypeParam pool(with_workers(2));
  const auto inputs = random_ints(3000, 3);
  std::vector<long> expected;
  for (int x : inputs) expected.push_back(square(x));
  for (std::size_t chunksize : {std::size_t{1}, std::size_t{13}}) {
    std::vector<long> got;
    for (long v : pool.imap(&square, inputs, chunksize)) got.push_back(v);
    EXPECT_EQ(got, expected) << "chunksize " << chunksize;
  }
  // A lazy input: a window of 3 chunks of 4 means at most 12 items pulled
  // ahead of what was read.
  int pulled = 0;
  auto counting = std::views::iota(0, 1000) | std::views::transform([&pulled](int x) {
                    ++pulled;
                    return x;
                  });
  auto results = pool.imap(&square, counting, 4, 3);
  for (int i = 0; i < 50; ++i) {
    const auto v = results.next(5s);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, square(i));
    EXPECT_LE(pulled, i + 1 + 12) << "imap pulled more than its window ahead";
  }
}

TYPED_TEST(PoolApi, ImapUnorderedYieldsEveryResultOnce) {
  TypeParam pool(with_workers(3));
  const auto inputs = random_ints(2000, 4);
  std::vector<long> expected;
  for (int x : inputs) expected.push_back(square(x));
  auto results = pool.imap_unordered(&square, inputs, 5);
  std::vector<long> got;
  while (auto v = results.next(10s)) got.push_back(*v);
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got, expected);
}

TYPED_TEST(PoolApi, SubmitAndApplyAsync) {
  TypeParam pool(with_workers(2));
  auto a = pool.submit(&add3, 1, 2, 3);
  auto b = pool.apply_async(&shout, std::string("hey"));
  auto c = pool.submit([](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }, 300);
  EXPECT_EQ(a.get(5s), 6);
  EXPECT_EQ(b.get(), "HEY!");
  EXPECT_THROW((void)c.get(10ms), mpkit::WaitTimedOut);
  EXPECT_EQ(c.get(10s), 300);
  EXPECT_TRUE(c.ready());
  // map with a timeout: a slow map gives up with WaitTimedOut, the pool goes on.
  EXPECT_THROW((void)pool.map([](int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }, std::vector<int>{200, 200, 200, 200}, 1, 20ms), mpkit::WaitTimedOut);
  EXPECT_EQ(pool.map(&square, std::vector<int>{4}, 1, 10s), std::vector<long>{16});
  auto v = pool.submit([] {});  // a void task
  EXPECT_EQ(v.get(5s), mpkit::Unit{});
  std::vector<mpkit::AsyncResult<long>> many;
  for (int i = 0; i < 200; ++i) many.push_back(pool.submit(&square, i));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(many[static_cast<std::size_t>(i)].get(5s), square(i));
}

TYPED_TEST(PoolApi, TaskErrorsCarryTheMessageAndTheWorkerSurvives) {
  TypeParam pool(with_workers(2));
  auto outcomes = pool.map_outcomes(
      [](int x) {
        if (x % 10 == 3) throw std::runtime_error("bad " + std::to_string(x));
        return x;
      },
      std::views::iota(0, 100), 4);
  ASSERT_EQ(outcomes.size(), 100U);
  for (int i = 0; i < 100; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    if (i % 10 == 3) {
      ASSERT_TRUE(o.has_error()) << i;
      try {
        (void)o.value();
        FAIL() << "value() should throw";
      } catch (const mpkit::TaskError& e) {
        EXPECT_EQ(std::string(e.what()), "std::runtime_error: bad " + std::to_string(i));
      }
    } else {
      EXPECT_EQ(o.value(), i);
    }
  }
  // A result type that is not trivially copyable takes the per-item layout.
  auto named = pool.map_outcomes(
      [](int x) {
        if (x == 2) throw std::out_of_range("two");
        return std::to_string(x);
      },
      std::views::iota(0, 5), 2);
  ASSERT_EQ(named.size(), 5U);
  EXPECT_EQ(named[1].value(), "1");
  EXPECT_EQ(named[3].value(), "3");
  ASSERT_TRUE(named[2].has_error());
  EXPECT_THROW((void)named[2].value(), mpkit::TaskError);
  EXPECT_THROW((void)pool.map([](int x) { return x == 1 ? throw 42 : std::to_string(x); }, std::views::iota(0, 3)),
               mpkit::TaskError);
  EXPECT_THROW((void)pool.map([](int x) { return x == 5 ? throw std::logic_error("five") : x; },
                              std::views::iota(0, 10)),
               mpkit::TaskError);
  EXPECT_EQ(pool.stats().crashed, 0U) << "a throwing task does not end its worker";
  EXPECT_TRUE(mpkit::test::eventually([&] { return pool.worker_pids().size() == 2; }, 5000ms));
  EXPECT_EQ(pool.stats().spawned, 2U) << "nobody was replaced";
}

std::atomic<int>* g_initialized = nullptr;  // in an anonymous shared mapping made before the pool
void count_initializer() { g_initialized->fetch_add(1); }

TYPED_TEST(PoolApi, InitializerRunsOncePerWorkerAndMaxTasksReplacesWorkers) {
  mpkit::test::Shared<std::atomic<int>> counter(0);
  g_initialized = counter.get();
  {
    auto options = with_workers(3);
    options.initializer = &count_initializer;
    TypeParam pool(options);
    EXPECT_EQ(pool.map(&square, std::views::iota(0, 300), 1).size(), 300U);
    pool.close();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(counter->load(), 3) << "once per worker";
  }
  counter->store(0);
  {
    auto options = with_workers(2);
    options.initializer = &count_initializer;
    options.max_tasks_per_child = 10;
    TypeParam pool(options);
    const auto inputs = random_ints(500, 5);
    std::vector<long> expected;
    for (int x : inputs) expected.push_back(square(x));
    EXPECT_EQ(pool.map(&square, inputs, 1), expected);
    pool.close();
    EXPECT_TRUE(pool.join(10s));
    const auto stats = pool.stats();
    EXPECT_GE(stats.retired, 500U / 11 - 2) << "each worker leaves after 10-11 tasks";
    EXPECT_EQ(stats.crashed, 0U);
    EXPECT_EQ(static_cast<std::uint64_t>(counter->load()), stats.spawned) << "every replacement ran it too";
  }
  g_initialized = nullptr;
}

TYPED_TEST(PoolApi, WorkerIndexIsSetInWorkers) {
  TypeParam pool(with_workers(3));
  const auto indices = pool.map([](int) { return mpkit::this_worker_index(); }, std::views::iota(0, 300), 1);
  for (int index : indices) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, 3);
  }
  EXPECT_EQ(mpkit::this_worker_index(), -1) << "not a worker";
}

// The first 64 draws of the calling worker's stream of seed 7, with its index.
std::pair<int, std::vector<std::uint64_t>> first_draws(int) {
  auto engine = mpkit::worker_stream(7);
  std::vector<std::uint64_t> draws(64);
  for (auto& draw : draws) draw = engine();
  return {mpkit::this_worker_index(), draws};
}

TYPED_TEST(PoolApi, WorkerStreamsAreTheWorkersOwnAndRepeatable) {
  TypeParam pool(with_workers(2));
  std::vector<std::vector<std::uint64_t>> by_worker(2);
  for (const auto& [index, draws] : pool.map(&first_draws, std::views::iota(0, 64), 1)) {
    ASSERT_GE(index, 0);
    ASSERT_LT(index, 2);
    if (by_worker[index].empty()) by_worker[index] = draws;
    EXPECT_EQ(draws, by_worker[index]) << "the same seed gives worker " << index << " the same stream";
  }
  for (int index = 0; index < 2; ++index) {
    if (by_worker[index].empty()) continue;  // every item may have gone to one worker
    auto expected = mpkit::stream_engine(7, static_cast<std::uint64_t>(index));
    for (std::uint64_t draw : by_worker[index]) EXPECT_EQ(draw, expected());
  }
  // Two workers' streams share no draw (a forgotten reseed would share all).
  auto a = mpkit::stream_engine(7, 0);
  auto b = mpkit::stream_engine(7, 1);
  std::vector<std::uint64_t> xs(10000);
  std::vector<std::uint64_t> ys(10000);
  for (auto& x : xs) x = a();
  for (auto& y : ys) y = b();
  std::sort(xs.begin(), xs.end());
  std::sort(ys.begin(), ys.end());
  std::vector<std::uint64_t> common;
  std::set_intersection(xs.begin(), xs.end(), ys.begin(), ys.end(), std::back_inserter(common));
  EXPECT_TRUE(common.empty());
  EXPECT_THROW((void)mpkit::worker_stream(7), std::logic_error) << "not a worker";
}

TYPED_TEST(PoolApi, CloseJoinTerminate) {
  TypeParam pool(with_workers(2));
  EXPECT_THROW((void)pool.join(1s), std::logic_error) << "join before close";
  auto pending = pool.submit(&square, 12);
  pool.close();
  EXPECT_THROW((void)pool.map(&square, std::vector<int>{1}), std::logic_error);
  EXPECT_THROW((void)pool.submit(&square, 1), std::logic_error);
  EXPECT_TRUE(pool.join(10s));
  EXPECT_EQ(pending.get(), 144) << "submitted before close: still ran";
  pool.terminate();  // after join: a no-op
}

TYPED_TEST(PoolApi, BadInputNamesTheArgument) {
  auto expect_invalid = [](auto&& make, const std::string& word) {
    try {
      make();
      ADD_FAILURE() << "no exception; expected one naming " << word;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_invalid([] { TypeParam pool(with_workers(0)); }, "workers");
  expect_invalid([] {
    auto options = with_workers(1);
    options.task_timeout = -1ms;
    TypeParam pool(options);
  }, "task_timeout");
  expect_invalid([] {
    auto options = with_workers(1);
    options.ring_records = 1;
    TypeParam pool(options);
  }, "ring_records");
  TypeParam pool(with_workers(1));
  expect_invalid([&] { (void)pool.map(&square, std::vector<int>{1, 2}, 0); }, "chunksize");
  expect_invalid([&] { (void)pool.map(&square, std::vector<int>{1, 2}, 1, -1ms); }, "timeout");
  const std::vector<int> in{1};
  expect_invalid([&] { (void)pool.imap(&square, in, 0); }, "chunksize");
  auto handle = pool.submit(&square, 3);
  expect_invalid([&] { (void)handle.get(-1s); }, "timeout");
  pool.close();
  expect_invalid([&] { (void)pool.join(-1s); }, "timeout");
  EXPECT_TRUE(pool.join(5s));
}

TEST(ThreadPoolOnly, RejectsTaskTimeout) {
  auto options = with_workers(1);
  options.task_timeout = 1s;
  try {
    mpkit::ThreadPool pool(options);
    FAIL() << "a ThreadPool cannot kill a thread";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("task_timeout"), std::string::npos);
  }
}

TEST(PoolDefaults, WorkersDefaultToAvailableCores) {
  mpkit::ProcessPool pool;
  EXPECT_EQ(pool.workers(), mpkit::pools::detail::available_cores());
  EXPECT_GE(pool.workers(), 1U);
}

}  // namespace
