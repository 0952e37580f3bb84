// sync_bench: what mpkit's futex-based synchronisation costs, with its peers
// in the same binary so the figures are side by side (ARCHITECTURE.md machine notes: compare only
// what was measured in one run on this noisy 2-vCPU VM).
//
// 1. round_trip/<hand-off>: two processes ping-pong on two words of a
//    MAP_SHARED page (the child is forked inside the benchmark function).
//      futex      each side sleeps in futex_wait until woken: the kernel floor.
//      spin       each side spins on the word: the cache-line floor (baseline).
//      semaphore  two mpkit::Semaphore: spin ~2.5 µs, then park, as shipped.
// 2. uncontended/<lock>: lock+unlock in one process, for
//      mpkit_mutex, pthread_pshared, pthread_pshared_robust, boost_ipc
//      (boost::interprocess::interprocess_mutex), futex_mutex2 (Drepper's
//      "Futexes Are Tricky" mutex2: the fastest non-robust reference).
// 3. contended/<lock>: the same five, while a forked child hammers the same
//    lock; both increment a counter in the critical section, verified at the
//    end (`correct` = 1).
//
// Forked work is timed by hand (UseManualTime): one benchmark iteration is a
// batch (kRoundTripsPerIteration round trips, kOpsPerIteration lock+unlock),
// so "Time" is per batch; the counters give the per-operation figures:
//   rt_ns        ns per round trip
//   ns_per_op    ns per parent lock+unlock (contended)
//   Mops_s       lock+unlock per µs, both processes together (contended)
//   ctxsw_per_op the parent's context switches per operation

#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include "bench_support.hpp"
#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/semaphore.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using mpkit::kCacheLineSize;
using mpkit::detail::cpu_relax;

constexpr int kRoundTripsPerIteration = 100;
constexpr int kOpsPerIteration = 1000;

// ---- plumbing: a shared page, a forked child, context switches -------------

/// One T constructed in an anonymous MAP_SHARED mapping; destroyed and
/// unmapped at scope end (after the child is gone).
long context_switches() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_nvcsw + usage.ru_nivcsw;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---- 1. round trips ---------------------------------------------------------

constexpr std::uint32_t kStop = 0xFFFF'FFFFU;

// The parent writes ping, the child pong; a cache line each.
struct Words {
  alignas(kCacheLineSize) std::atomic<std::uint32_t> ping{0};
  alignas(kCacheLineSize) std::atomic<std::uint32_t> pong{0};
};

/// Sleeps in the kernel on every hand-off: futex_wait / futex_wake, no spin.
struct FutexHandOff {
  using Shared = Words;
  static std::uint32_t wait_for_change(std::atomic<std::uint32_t>& word, std::uint32_t old) {
    std::uint32_t seen = 0;
    // acquire: pairs with publish()'s release (the value is the message).
    while ((seen = word.load(std::memory_order_acquire)) == old) mpkit::futex_wait(word, old);
    return seen;
  }
  static void publish(std::atomic<std::uint32_t>& word, std::uint32_t value) {
    word.store(value, std::memory_order_release);  // release: see wait_for_change
    mpkit::futex_wake(word, 1);
  }
};

/// Spins on the word: two cache-line transfers per round trip, the floor.
struct SpinHandOff {
  using Shared = Words;
  static std::uint32_t wait_for_change(std::atomic<std::uint32_t>& word, std::uint32_t old) {
    std::uint32_t seen = 0;
    // acquire: pairs with publish()'s release.
    while ((seen = word.load(std::memory_order_acquire)) == old) cpu_relax();
    return seen;
  }
  static void publish(std::atomic<std::uint32_t>& word, std::uint32_t value) {
    word.store(value, std::memory_order_release);  // release: see wait_for_change
  }
};

template <class HandOff>
struct WordPingPong {
  using Shared = Words;
  static void child(Words& w) {
    for (std::uint32_t last = 0;;) {
      last = HandOff::wait_for_change(w.ping, last);
      if (last == kStop) return;
      HandOff::publish(w.pong, last);
    }
  }
  static void round_trip(Words& w, std::uint32_t i) {
    HandOff::publish(w.ping, i);
    while (HandOff::wait_for_change(w.pong, i - 1) != i) {
    }
  }
  static void stop(Words& w) { HandOff::publish(w.ping, kStop); }
};

/// mpkit::Semaphore as shipped: spin briefly, then park.
struct SemaphorePingPong {
  struct Shared {
    alignas(kCacheLineSize) mpkit::Semaphore ping;
    alignas(kCacheLineSize) mpkit::Semaphore pong;
    alignas(kCacheLineSize) std::atomic<std::uint32_t> stop{0};
  };
  static void child(Shared& s) {
    for (;;) {
      s.ping.acquire();
      if (s.stop.load(std::memory_order_relaxed) != 0) return;  // relaxed: ordered by ping
      s.pong.release();
    }
  }
  static void round_trip(Shared& s, std::uint32_t /*i*/) {
    s.ping.release();
    s.pong.acquire();
  }
  static void stop(Shared& s) {
    s.stop.store(1, std::memory_order_relaxed);  // relaxed: published by ping.release()
    s.ping.release();
  }
};

template <class PingPong>
void bm_round_trip(benchmark::State& state) {
  mpkit::SharedBox<typename PingPong::Shared> shared;
  mpkit::Process child([&] { PingPong::child(*shared); });
  std::uint32_t i = 1;
  PingPong::round_trip(*shared, i++);  // the child is up: untimed

  const long switches_before = context_switches();
  double total = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    for (int k = 0; k < kRoundTripsPerIteration; ++k) PingPong::round_trip(*shared, i++);
    const double batch = seconds_between(start, Clock::now());
    state.SetIterationTime(batch);
    total += batch;
  }
  const long switches = context_switches() - switches_before;
  PingPong::stop(*shared);
  if (child.join() != 0) state.SkipWithError("the ping-pong child failed");

  const double trips = static_cast<double>(state.iterations()) * kRoundTripsPerIteration;
  state.SetItemsProcessed(static_cast<std::int64_t>(trips));
  state.counters["rt_ns"] = total / trips * 1e9;
  state.counters["ctxsw_per_op"] = static_cast<double>(switches) / trips;
}

// ---- 2 and 3. locks ----------------------------------------------------------

struct MpkitMutex {
  static constexpr const char* kName = "mpkit_mutex";
  mpkit::Mutex mutex;
  void lock() { mutex.lock(); }
  void unlock() { mutex.unlock(); }
};

/// pthread_mutex_t, PTHREAD_PROCESS_SHARED, optionally PTHREAD_MUTEX_ROBUST.
template <bool kRobust>
struct PthreadMutex {
  static constexpr const char* kName = kRobust ? "pthread_pshared_robust" : "pthread_pshared";
  pthread_mutex_t mutex{};
  PthreadMutex() {
    pthread_mutexattr_t attr{};
    ::pthread_mutexattr_init(&attr);
    ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (kRobust) ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutex_init(&mutex, &attr);
    ::pthread_mutexattr_destroy(&attr);
  }
  PthreadMutex(const PthreadMutex&) = delete;
  PthreadMutex& operator=(const PthreadMutex&) = delete;
  PthreadMutex(PthreadMutex&&) = delete;
  PthreadMutex& operator=(PthreadMutex&&) = delete;
  ~PthreadMutex() { ::pthread_mutex_destroy(&mutex); }
  void lock() {
    if (::pthread_mutex_lock(&mutex) == EOWNERDEAD) ::pthread_mutex_consistent(&mutex);
  }
  void unlock() { ::pthread_mutex_unlock(&mutex); }
};

struct BoostIpcMutex {
  static constexpr const char* kName = "boost_ipc";
  boost::interprocess::interprocess_mutex mutex;
  void lock() { mutex.lock(); }
  void unlock() { mutex.unlock(); }
};

/// Drepper, "Futexes Are Tricky" (2011), mutex2: 0 free, 1 locked, 2 locked
/// and maybe waiters. Not robust, no spin: the non-robust reference.
struct FutexMutex2 {
  static constexpr const char* kName = "futex_mutex2";
  std::atomic<std::uint32_t> word{0};
  void lock() {
    std::uint32_t c = 0;
    // acquire on every path that takes the lock; relaxed on the failed CAS.
    if (word.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      return;
    }
    if (c != 2) c = word.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      mpkit::futex_wait(word, 2);
      c = word.exchange(2, std::memory_order_acquire);
    }
  }
  void unlock() {
    // release: publishes the critical section.
    if (word.fetch_sub(1, std::memory_order_release) != 1) {
      word.store(0, std::memory_order_release);
      mpkit::futex_wake(word, 1);
    }
  }
};

/// A lock and the counter it guards share a line, as in a real structure.
template <class Lock>
struct Guarded {
  alignas(kCacheLineSize) Lock lock;
  std::uint64_t counter = 0;  // guarded by lock
  alignas(kCacheLineSize) std::atomic<std::uint32_t> started{0};
  std::atomic<std::uint32_t> stop{0};
  std::atomic<std::uint64_t> child_ops{0};
};

template <class Lock>
void bm_uncontended(benchmark::State& state) {
  mpkit::SharedBox<Guarded<Lock>> shared;
  for (auto _ : state) {
    shared->lock.lock();
    ++shared->counter;
    shared->lock.unlock();
  }
  if (shared->counter != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("lost updates in one process");
  }
}

template <class Lock>
void bm_contended(benchmark::State& state) {
  mpkit::SharedBox<Guarded<Lock>> shared;
  mpkit::Process child([&] {
    Guarded<Lock>& g = *shared;
    g.started.store(1);
    std::uint64_t ops = 0;
    // relaxed: only a stop signal; the final counts travel through join().
    while (g.stop.load(std::memory_order_relaxed) == 0) {
      g.lock.lock();
      ++g.counter;
      g.lock.unlock();
      ++ops;
    }
    g.child_ops.store(ops);
  });
  while (shared->started.load() == 0) cpu_relax();

  const long switches_before = context_switches();
  const auto window_start = Clock::now();
  for (auto _ : state) {
    const auto start = Clock::now();
    for (int k = 0; k < kOpsPerIteration; ++k) {
      shared->lock.lock();
      ++shared->counter;
      shared->lock.unlock();
    }
    state.SetIterationTime(seconds_between(start, Clock::now()));
  }
  const double window = seconds_between(window_start, Clock::now());
  const long switches = context_switches() - switches_before;
  shared->stop.store(1);
  if (child.join() != 0) state.SkipWithError("the contending child failed");

  const double parent_ops = static_cast<double>(state.iterations()) * kOpsPerIteration;
  const auto child_ops = static_cast<double>(shared->child_ops.load());
  const bool correct = static_cast<double>(shared->counter) == parent_ops + child_ops;
  if (!correct) state.SkipWithError("lost updates: the lock did not exclude");
  state.counters["ns_per_op"] = window / parent_ops * 1e9;
  state.counters["Mops_s"] = (parent_ops + child_ops) / window / 1e6;
  state.counters["child_share"] = child_ops / (parent_ops + child_ops);
  state.counters["ctxsw_per_op"] = static_cast<double>(switches) / parent_ops;
  state.counters["correct"] = correct ? 1 : 0;
}

// ---- registration: readable names, one binary ---------------------------------

template <class Lock>
void register_lock() {
  benchmark::RegisterBenchmark((std::string("uncontended/") + Lock::kName).c_str(),
                               bm_uncontended<Lock>);
  benchmark::RegisterBenchmark((std::string("contended/") + Lock::kName).c_str(),
                               bm_contended<Lock>)
      ->UseManualTime();
}

void register_all() {
  benchmark::RegisterBenchmark("round_trip/futex", bm_round_trip<WordPingPong<FutexHandOff>>)
      ->UseManualTime();
  benchmark::RegisterBenchmark("round_trip/spin", bm_round_trip<WordPingPong<SpinHandOff>>)
      ->UseManualTime();
  benchmark::RegisterBenchmark("round_trip/semaphore", bm_round_trip<SemaphorePingPong>)
      ->UseManualTime();
  register_lock<MpkitMutex>();
  register_lock<PthreadMutex<false>>();
  register_lock<PthreadMutex<true>>();
  register_lock<BoostIpcMutex>();
  register_lock<FutexMutex2>();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
