#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/locking/experiments/sync_experiment.hpp"

namespace mpkit {
namespace {

using std::chrono::steady_clock;

// Bounds on every wait (none of them is a timing assertion: a healthy peer
// answers in microseconds; these only stop a dead or stuck one from hanging
// the experiment).
constexpr auto kHandoffWaitTimeout = std::chrono::seconds(2);  // one reply
constexpr auto kStartTimeout = std::chrono::seconds(10);       // a child checking in
constexpr auto kRepeatBudget = std::chrono::seconds(60);       // one hand-off repeat in all

// Child exit codes (0: success).
constexpr int kChildTimedOut = 3;
constexpr int kChildLockFailed = 4;

double seconds_between(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// Pinning: the parent and each child take one of the CPUs this process may
// use, by slot; the parent's original mask comes back on destruction.

class Pinning {
 public:
  explicit Pinning(bool enabled) {
    if (!enabled || ::sched_getaffinity(0, sizeof original_, &original_) != 0) return;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &original_)) cpus_.push_back(cpu);
    }
  }
  Pinning(const Pinning&) = delete;
  Pinning& operator=(const Pinning&) = delete;
  ~Pinning() {
    if (!cpus_.empty()) ::sched_setaffinity(0, sizeof original_, &original_);
  }

  /// Pins the calling process to the slot-th allowed CPU (wrapping around
  /// when there are fewer CPUs than slots). A no-op when pinning is off.
  void pin(unsigned slot) const noexcept {
    if (cpus_.empty()) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus_[slot % cpus_.size()], &one);
    ::sched_setaffinity(0, sizeof one, &one);
  }

 private:
  cpu_set_t original_{};
  std::vector<int> cpus_;
};

// ---------------------------------------------------------------------------
// Waiting on a shared word, bounded.

enum class Wait { kFutex, kSpin };

// Waits until word == want. False once `timeout` has passed without it.
// The spin path reads the clock only every 4096 polls and yields there, so a
// peer sharing our CPU (oversubscription) still gets to run.
bool await_value(std::atomic<std::uint32_t>& word, std::uint32_t want, Wait how,
                 steady_clock::duration timeout) noexcept {
  std::optional<Deadline> deadline;  // set lazily: the fast path reads no clock
  for (std::uint32_t polls = 1;; ++polls) {
    const std::uint32_t seen = word.load(std::memory_order_acquire);  // pairs with post()
    if (seen == want) return true;
    if (how == Wait::kSpin && polls % 4096 != 0) continue;
    if (!deadline) deadline = deadline_after(timeout);
    if (Clock::now() > *deadline) return false;
    if (how == Wait::kSpin) {
      ::sched_yield();
    } else {
      (void)futex_wait(word, seen, deadline);  // every outcome re-checks the word
    }
  }
}

void post(std::atomic<std::uint32_t>& word, std::uint32_t value, Wait how) noexcept {
  word.store(value, std::memory_order_release);  // publishes the turn; pairs with await_value
  if (how == Wait::kFutex) futex_wake(word, 1);
}

// ---------------------------------------------------------------------------
// Hand-off: ping-pong on one word.
//
// Protocol: the child posts ready = 1 once it runs (and is pinned). Round
// trip k: the parent posts turn = 2k+1 and waits for 2k+2; the child waits
// for 2k+1 and posts 2k+2. Each side writes `turn` only when it holds the
// turn, so the word has one writer at a time (uint32 arithmetic wraps
// harmlessly: only equality with the next expected value matters). `turn`
// and `ready` sit on separate cache lines so start-up never disturbs the
// measured line. Memory ordering: post() stores with release and
// await_value() loads with acquire; no other data travels with the turn.

struct alignas(kCacheLineSize) HandoffWords {
  std::atomic<std::uint32_t> turn{0};   // written alternately: parent odd, child even
  alignas(kCacheLineSize) std::atomic<std::uint32_t> ready{0};  // child -> parent: started
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

int handoff_child(HandoffWords& words, std::uint64_t round_trips, Wait how, const Pinning& pinning) {
  pinning.pin(1);
  post(words.ready, 1, Wait::kFutex);
  for (std::uint64_t k = 0; k < round_trips; ++k) {
    if (!await_value(words.turn, static_cast<std::uint32_t>(2 * k + 1), how, kHandoffWaitTimeout)) {
      return kChildTimedOut;
    }
    post(words.turn, static_cast<std::uint32_t>(2 * k + 2), how);
  }
  return 0;
}

struct HandoffSample {
  bool ok = false;
  double seconds = 0;
  double rtt_ns_p50 = 0;
  double rtt_ns_p99 = 0;
};

HandoffSample handoff_once(Wait how, std::uint64_t round_trips, const Pinning& pinning) {
  SharedMemory memory = SharedMemory::anonymous(sizeof(HandoffWords));
  auto* words = new (memory.data()) HandoffWords{};
  pinning.pin(0);
  // Destroyed (SIGKILL + reap) before `memory` on every early return.
  Process child([&] { return handoff_child(*words, round_trips, how, pinning); });
  if (!await_value(words->ready, 1, Wait::kFutex, kStartTimeout)) return {};

  std::vector<double> rtt_ns(round_trips);
  const auto first = steady_clock::now();
  auto last = first;
  for (std::uint64_t k = 0; k < round_trips; ++k) {
    post(words->turn, static_cast<std::uint32_t>(2 * k + 1), how);
    if (!await_value(words->turn, static_cast<std::uint32_t>(2 * k + 2), how, kHandoffWaitTimeout)) {
      return {};
    }
    // One clock read per round trip: its end is the next one's start.
    const auto now = steady_clock::now();
    rtt_ns[k] = std::chrono::duration<double, std::nano>(now - last).count();
    last = now;
    if (now - first > kRepeatBudget) return {};
  }
  const auto code = child.join(kStartTimeout);
  if (!code || *code != 0) return {};
  return {true, seconds_between(first, last), percentile(rtt_ns, 50), percentile(rtt_ns, 99)};
}

// ---------------------------------------------------------------------------
// Locks under one harness. Each adapter is constructed in shared memory by
// the parent before any fork, used by the children, and destroyed by the
// parent after both children are reaped.

enum class Acquired {
  kOk,         // held
  kOwnerDied,  // held, but the previous owner died inside: guarded data suspect
  kFailed,     // not held
};

class PthreadLock {
 public:
  explicit PthreadLock(bool robust) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (robust) pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    const int rc = pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) throw_system_error(rc, "pthread_mutex_init");
  }
  PthreadLock(const PthreadLock&) = delete;
  PthreadLock& operator=(const PthreadLock&) = delete;
  ~PthreadLock() { pthread_mutex_destroy(&mutex_); }

  Acquired lock() noexcept {
    const int rc = pthread_mutex_lock(&mutex_);
    if (rc == 0) return Acquired::kOk;
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(&mutex_);  // keep the run going; the row is marked incorrect
      return Acquired::kOwnerDied;
    }
    return Acquired::kFailed;
  }
  void unlock() noexcept { pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_{};
};

// Boost 1.74's interprocess_mutex: a process-shared pthread mutex on Linux,
// not robust (ARCHITECTURE.md, peer lesson 2): a dead owner leaves it locked forever, which the
// bounded joins below turn into correct = false instead of a hang.
class BoostLock {
 public:
  // Boost reports a failed pthread call with lock_exception; in a child that
  // must become a failed row, not std::terminate.
  Acquired lock() noexcept {
    try {
      mutex_.lock();
      return Acquired::kOk;
    } catch (...) {
      return Acquired::kFailed;
    }
  }
  void unlock() noexcept {
    try {
      mutex_.unlock();
    } catch (...) {  // cannot happen for a held mutex; nothing to do if it does
    }
  }

 private:
  boost::interprocess::interprocess_mutex mutex_;
};

// mpkit::Mutex through its exception-free entry point.
class MpkitLock {
 public:
  Acquired lock() noexcept {
    switch (mutex_.acquire()) {
      case LockStatus::kAcquired:
        return Acquired::kOk;
      case LockStatus::kOwnerDied:
        mutex_.mark_consistent();  // keep the run going; the row is marked incorrect
        return Acquired::kOwnerDied;
      case LockStatus::kTimedOut:
      case LockStatus::kNotRecoverable:
        break;
    }
    return Acquired::kFailed;
  }
  void unlock() noexcept { mutex_.unlock(); }

 private:
  Mutex mutex_;
};

// Protocol: the parent constructs the arena, forks the contenders, waits
// (futex on `ready`) until both have checked in, takes the start time and
// releases them through `go`. Each contender does its share of locked
// increments of `counter`, stores its finish time in end_ns[slot] and exits;
// the parent reads counter, clean and end_ns only after reaping both, so
// waitpid orders those reads. Lock, counter and the start words each have
// their own cache line. Memory ordering: ready/go are release/acquire pairs;
// `counter` is ordered by the lock itself (that is what is being measured).
template <class Lock>
struct LockArena {
  template <class... Args>
  explicit LockArena(Args... args) : lock(args...) {}

  alignas(kCacheLineSize) Lock lock;
  // On its own line: the measured cost includes moving the guarded data
  // between cores, as any real critical section does.
  alignas(kCacheLineSize) std::uint64_t counter = 0;  // guarded by `lock`
  alignas(kCacheLineSize) std::atomic<std::uint32_t> ready{0};  // children checked in
  std::atomic<std::uint32_t> go{0};     // parent -> children: start (futex word)
  std::atomic<std::uint32_t> clean{1};  // 0 once any acquisition was not kOk
  std::int64_t end_ns[2] = {0, 0};      // each child's finish time; read after join
};

// n times lock, ++counter, unlock; false if any acquisition was not clean.
template <class Lock>
bool locked_increments(Lock& lock, std::uint64_t& counter, std::uint64_t n) noexcept {
  bool clean = true;
  for (std::uint64_t i = 0; i < n; ++i) {
    const Acquired got = lock.lock();
    if (got == Acquired::kFailed) return false;
    clean = clean && got == Acquired::kOk;
    ++counter;
    lock.unlock();
  }
  return clean;
}

struct LockSample {
  bool ok = false;
  double seconds = 0;
};

template <class Lock, class... Args>
LockSample uncontended_once(std::uint64_t iterations, const Pinning& pinning, Args... args) {
  SharedMemory memory = SharedMemory::anonymous(sizeof(LockArena<Lock>));
  auto* arena = new (memory.data()) LockArena<Lock>(args...);
  pinning.pin(0);
  const auto start = steady_clock::now();
  const bool clean = locked_increments(arena->lock, arena->counter, iterations);
  const auto stop = steady_clock::now();
  const bool ok = clean && arena->counter == iterations;
  arena->~LockArena<Lock>();
  return {ok, seconds_between(start, stop)};
}

template <class Lock>
int contender(LockArena<Lock>& arena, unsigned slot, std::uint64_t share, const Pinning& pinning) {
  pinning.pin(slot);
  arena.ready.fetch_add(1, std::memory_order_release);  // pairs with the parent's acquire
  futex_wake_all(arena.ready);
  if (!await_value(arena.go, 1, Wait::kFutex, kStartTimeout)) return kChildTimedOut;
  const bool clean = locked_increments(arena.lock, arena.counter, share);
  arena.end_ns[slot] = now_ns();
  if (!clean) arena.clean.store(0, std::memory_order_relaxed);  // relaxed: read after join (waitpid orders it)
  return clean ? 0 : kChildLockFailed;
}

template <class Lock, class... Args>
LockSample contended_once(std::uint64_t iterations, const Pinning& pinning, Args... args) {
  SharedMemory memory = SharedMemory::anonymous(sizeof(LockArena<Lock>));
  auto* arena = new (memory.data()) LockArena<Lock>(args...);
  // Destroys the lock after the children: declared before them, so it runs
  // after their destructors have killed and reaped any that still run.
  struct Destroy {
    LockArena<Lock>* arena;
    ~Destroy() { arena->~LockArena<Lock>(); }
  } destroy{arena};

  const std::uint64_t shares[2] = {iterations / 2, iterations - iterations / 2};
  std::vector<Process> children;
  children.reserve(2);
  for (unsigned slot = 0; slot < 2; ++slot) {
    children.emplace_back([arena, slot, share = shares[slot], &pinning] {
      return contender(*arena, slot, share, pinning);
    });
  }
  // Both children are parked on `go` before the clock starts.
  const Deadline checked_in = deadline_after(kStartTimeout);
  for (;;) {
    const std::uint32_t seen = arena->ready.load(std::memory_order_acquire);
    if (seen == 2) break;
    if (Clock::now() > checked_in) return {};
    (void)futex_wait(arena->ready, seen, checked_in);
  }
  const std::int64_t start_ns = now_ns();
  arena->go.store(1, std::memory_order_release);  // pairs with the children's await_value
  futex_wake_all(arena->go);

  // Generous: 10 s plus 1 us per increment; healthy runs take ~30 ns each.
  const auto budget = kStartTimeout + std::chrono::microseconds(iterations);
  const Deadline give_up = deadline_after(budget);
  bool ok = true;
  for (Process& child : children) {
    const auto left = std::max(Clock::duration::zero(), give_up - Clock::now());
    const auto code = child.join(left);
    ok = ok && code && *code == 0;
  }
  if (!ok) return {};
  const std::int64_t end_ns = std::max(arena->end_ns[0], arena->end_ns[1]);
  ok = arena->counter == iterations && arena->clean.load(std::memory_order_relaxed) == 1;
  return {ok, static_cast<double>(end_ns - start_ns) / 1e9};
}

// ---------------------------------------------------------------------------
// The variants and their rows.

struct LockVariant {
  const char* name;
  LockSample (*uncontended)(std::uint64_t, const Pinning&);
  LockSample (*contended)(std::uint64_t, const Pinning&);
};

const LockVariant kLocks[] = {
    {"mpkit-mutex",
     [](std::uint64_t n, const Pinning& p) { return uncontended_once<MpkitLock>(n, p); },
     [](std::uint64_t n, const Pinning& p) { return contended_once<MpkitLock>(n, p); }},
    {"pthread-pshared",
     [](std::uint64_t n, const Pinning& p) { return uncontended_once<PthreadLock>(n, p, false); },
     [](std::uint64_t n, const Pinning& p) { return contended_once<PthreadLock>(n, p, false); }},
    {"pthread-robust",
     [](std::uint64_t n, const Pinning& p) { return uncontended_once<PthreadLock>(n, p, true); },
     [](std::uint64_t n, const Pinning& p) { return contended_once<PthreadLock>(n, p, true); }},
    {"boost-interprocess",
     [](std::uint64_t n, const Pinning& p) { return uncontended_once<BoostLock>(n, p); },
     [](std::uint64_t n, const Pinning& p) { return contended_once<BoostLock>(n, p); }},
};

// Samples of one row across the repeats.
struct Series {
  std::vector<double> seconds;
  std::vector<double> p50_ns;
  std::vector<double> p99_ns;
  bool all_ok = true;

  void add(const HandoffSample& s) {
    all_ok = all_ok && s.ok;
    if (!s.ok) return;
    seconds.push_back(s.seconds);
    p50_ns.push_back(s.rtt_ns_p50);
    p99_ns.push_back(s.rtt_ns_p99);
  }
  void add(const LockSample& s) {
    all_ok = all_ok && s.ok;
    if (s.ok) seconds.push_back(s.seconds);
  }
};

Measurement base_row(std::string variant, unsigned workers, const Series& series) {
  Measurement row;
  row.experiment = "sync";
  row.variant = std::move(variant);
  row.workers = workers;
  row.repeats = static_cast<unsigned>(series.seconds.size());
  if (!series.seconds.empty()) row.seconds = summarize(series.seconds);
  row.correct = series.all_ok && !series.seconds.empty();
  return row;
}

Measurement handoff_row(std::string variant, const Series& series, const SyncConfig& config) {
  Measurement row = base_row(std::move(variant), 2, series);
  row.params = {{"round_trips", static_cast<std::int64_t>(config.handoff_round_trips)},
                {"pinned", config.pin}};
  if (!series.p50_ns.empty()) {
    const double p50 = summarize(series.p50_ns).median;
    row.metrics = {{"rtt_ns_p50", p50},
                   {"rtt_ns_p99", summarize(series.p99_ns).median},
                   {"one_way_ns", p50 / 2}};
  }
  return row;
}

Measurement lock_row(std::string variant, bool contended, const Series& series,
                     const SyncConfig& config) {
  Measurement row = base_row(std::move(variant), contended ? 2 : 1, series);
  row.params = {{"mode", std::string(contended ? "contended" : "uncontended")},
                {"iterations", static_cast<std::int64_t>(config.lock_iterations)},
                {"pinned", config.pin}};
  if (row.repeats > 0 && row.seconds.median > 0) {
    const double iterations = static_cast<double>(config.lock_iterations);
    if (contended) {
      row.metrics = {{"ops_per_s", iterations / row.seconds.median}};
    } else {
      row.metrics = {{"ns_per_op", row.seconds.median / iterations * 1e9}};
    }
  }
  return row;
}

void check(const SyncConfig& config) {
  if (config.repeats == 0) throw_invalid_argument("SyncConfig: repeats must be >= 1 (got 0)");
  if (config.handoff_round_trips == 0 || config.handoff_round_trips > kMaxHandoffRoundTrips) {
    throw_invalid_argument("SyncConfig: handoff_round_trips must lie in [1, " +
                           std::to_string(kMaxHandoffRoundTrips) + "] (got " +
                           std::to_string(config.handoff_round_trips) + ")");
  }
  if (config.lock_iterations == 0) {
    throw_invalid_argument("SyncConfig: lock_iterations must be >= 1 (got 0)");
  }
}

}  // namespace

std::vector<Measurement> run_sync_experiment(const SyncConfig& config,
                                             const std::function<void(std::string_view)>& progress) {
  check(config);
  const Pinning pinning(config.pin);
  const std::size_t lock_count = std::size(kLocks);
  Series futex_series;
  Series spin_series;
  std::vector<Series> uncontended(lock_count);
  std::vector<Series> contended(lock_count);

  const auto say = [&](unsigned repeat, std::string_view what) {
    if (progress) {
      progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) + ": " +
               std::string(what));
    }
  };
  // Round-robin: every variant once per repeat, so drift in the background
  // load spreads over all of them instead of biasing whichever ran last.
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    say(repeat, "futex-handoff");
    futex_series.add(handoff_once(Wait::kFutex, config.handoff_round_trips, pinning));
    say(repeat, "spin-handoff");
    spin_series.add(handoff_once(Wait::kSpin, config.handoff_round_trips, pinning));
    for (std::size_t i = 0; i < lock_count; ++i) {
      say(repeat, std::string(kLocks[i].name) + " uncontended");
      uncontended[i].add(kLocks[i].uncontended(config.lock_iterations, pinning));
    }
    for (std::size_t i = 0; i < lock_count; ++i) {
      say(repeat, std::string(kLocks[i].name) + " contended");
      contended[i].add(kLocks[i].contended(config.lock_iterations, pinning));
    }
  }

  std::vector<Measurement> rows;
  rows.push_back(handoff_row("futex-handoff", futex_series, config));
  rows.push_back(handoff_row("spin-handoff", spin_series, config));
  for (std::size_t i = 0; i < lock_count; ++i) {
    rows.push_back(lock_row(kLocks[i].name, false, uncontended[i], config));
  }
  for (std::size_t i = 0; i < lock_count; ++i) {
    rows.push_back(lock_row(kLocks[i].name, true, contended[i], config));
  }
  return rows;
}

}  // namespace mpkit
