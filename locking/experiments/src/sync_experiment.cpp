#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/locking/boost_ipc_lock.hpp"
#include "mpkit/locking/experiments/sync_experiment.hpp"
#include "mpkit/locking/lock.hpp"
#include "mpkit/locking/mpkit_mutex.hpp"
#include "mpkit/locking/pthread_lock.hpp"

namespace mpkit {
namespace {

using detail::now_ns;
using std::chrono::steady_clock;

// Bounds on every wait (none of them is a timing assertion: a healthy peer
// answers in microseconds; these only stop a dead or stuck one from hanging
// the experiment).
constexpr auto kHandoffWaitTimeout = std::chrono::seconds(2);  // one reply
constexpr auto kStartTimeout = std::chrono::seconds(10);       // a child checking in
constexpr auto kRepeatBudget = std::chrono::seconds(60);       // one hand-off repeat in all

double seconds_between(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

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
// Protocol: the child, pinned, passes the start gate (ForkedChildren) with
// the parent. Round trip k: the parent posts turn = 2k+1 and waits for
// 2k+2; the child waits for 2k+1 and posts 2k+2. Each side writes `turn`
// only when it holds the turn, so the word has one writer at a time (uint32
// arithmetic wraps harmlessly: only equality with the next expected value
// matters). `turn` has a cache line and a mapping of its own, so start-up
// never disturbs the measured line. Memory ordering: post() stores with
// release and await_value() loads with acquire; no other data travels with
// the turn.

struct alignas(kCacheLineSize) HandoffWords {
  std::atomic<std::uint32_t> turn{0};  // written alternately: parent odd, child even
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

ChildExit handoff_child(HandoffWords& words, std::uint64_t round_trips, Wait how) {
  for (std::uint64_t k = 0; k < round_trips; ++k) {
    if (!await_value(words.turn, static_cast<std::uint32_t>(2 * k + 1), how, kHandoffWaitTimeout)) {
      return ChildExit::kStalled;
    }
    post(words.turn, static_cast<std::uint32_t>(2 * k + 2), how);
  }
  return ChildExit::kOk;
}

struct HandoffSample {
  bool ok = false;
  double seconds = 0;
  double rtt_ns_p50 = 0;
  double rtt_ns_p99 = 0;
};

HandoffSample handoff_once(Wait how, std::uint64_t round_trips, const Pinning& pinning) {
  SharedBox<HandoffWords> words;
  pinning.pin(0);
  // Killed and reaped before `words` goes, on every early return.
  ForkedChildren child(kStartTimeout);
  child.spawn([&] { pinning.pin(1); }, [&] { return handoff_child(*words, round_trips, how); });
  if (!child.start()) return {};

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
  if (!child.join_within(kStartTimeout).ok()) return {};
  return {true, seconds_between(first, last), percentile(rtt_ns, 50), percentile(rtt_ns, 99)};
}

// ---------------------------------------------------------------------------
// Locks: locking/'s own types (the code users link and `mpkit contention`
// measures), under the variant names this experiment reports. Each is
// constructed in shared memory by the parent before any fork, used by the
// children, and destroyed by the parent after both children are reaped.
//
// Protocol: the parent constructs the arena and forks the contenders; they
// pass the start gate together (ForkedChildren), the parent reading its
// clock just before it opens. Each contender does its share of locked
// increments of `counter`, stores its finish time in end_ns[slot] and exits;
// the parent reads counter, clean and end_ns only after reaping both, so
// waitpid orders those reads. Lock and counter each have their own cache
// line. Memory ordering: `counter` is ordered by the lock itself (that is
// what is being measured); the rest travels through waitpid.
template <locking::Lock L>
struct LockArena {
  alignas(kCacheLineSize) L lock;
  // On its own line: the measured cost includes moving the guarded data
  // between cores, as any real critical section does.
  alignas(kCacheLineSize) std::uint64_t counter = 0;  // guarded by `lock`
  alignas(kCacheLineSize) std::atomic<std::uint32_t> clean{1};  // 0: an acquisition was unclean
  std::int64_t end_ns[2] = {0, 0};  // each child's finish time; read after join
};

// n times lock, ++counter, unlock; false if any acquisition was not clean: a
// previous owner died inside (the lock is repaired so the run goes on, and
// the row is marked incorrect), or the lock failed (a pthread or Boost error).
template <locking::Lock L>
bool locked_increments(L& lock, std::uint64_t& counter, std::uint64_t n) noexcept {
  bool clean = true;
  for (std::uint64_t i = 0; i < n; ++i) {
    try {
      lock.lock();
    } catch (const OwnerDiedError&) {  // held
      locking::mark_consistent(lock);
      clean = false;
    } catch (...) {  // not held
      return false;
    }
    ++counter;
    lock.unlock();
  }
  return clean;
}

struct LockSample {
  bool ok = false;
  double seconds = 0;
};

template <locking::Lock L>
LockSample uncontended_once(std::uint64_t iterations, const Pinning& pinning) {
  SharedBox<LockArena<L>> arena;
  pinning.pin(0);
  const auto start = steady_clock::now();
  const bool clean = locked_increments(arena->lock, arena->counter, iterations);
  const auto stop = steady_clock::now();
  return {clean && arena->counter == iterations, seconds_between(start, stop)};
}

template <locking::Lock L>
ChildExit contender(LockArena<L>& arena, unsigned slot, std::uint64_t share) {
  const bool clean = locked_increments(arena.lock, arena.counter, share);
  arena.end_ns[slot] = now_ns();
  if (!clean) arena.clean.store(0, std::memory_order_relaxed);  // relaxed: read after join (waitpid orders it)
  return clean ? ChildExit::kOk : ChildExit::kLockFailed;
}

template <locking::Lock L>
LockSample contended_once(std::uint64_t iterations, const Pinning& pinning) {
  SharedBox<LockArena<L>> arena;
  // Declared after the arena: the children are killed and reaped before the
  // lock is destroyed.
  ForkedChildren children(kStartTimeout);
  const std::uint64_t shares[2] = {iterations / 2, iterations - iterations / 2};
  for (unsigned slot = 0; slot < 2; ++slot) {
    children.spawn([&pinning, slot] { pinning.pin(slot); },
                   [&arena, slot, share = shares[slot]] { return contender(*arena, slot, share); });
  }
  // Both children are parked at the gate before the clock starts.
  const std::optional<std::int64_t> start_ns = children.start_timed();
  if (!start_ns) return {};

  // Generous: 10 s plus 1 us per increment; healthy runs take ~30 ns each.
  const auto budget = kStartTimeout + std::chrono::microseconds(iterations);
  if (!children.join_within(budget).ok()) return {};
  const std::int64_t end_ns = std::max(arena->end_ns[0], arena->end_ns[1]);
  const bool ok = arena->counter == iterations && arena->clean.load(std::memory_order_relaxed) == 1;
  return {ok, static_cast<double>(end_ns - *start_ns) / 1e9};
}

// ---------------------------------------------------------------------------
// The variants and their rows.

struct LockVariant {
  const char* name;
  LockSample (*uncontended)(std::uint64_t, const Pinning&);
  LockSample (*contended)(std::uint64_t, const Pinning&);
};

template <locking::Lock L>
constexpr LockVariant lock_variant(const char* name) {
  return {name, &uncontended_once<L>, &contended_once<L>};
}

const LockVariant kLocks[] = {
    lock_variant<locking::MpkitMutex>("mpkit-mutex"),
    lock_variant<locking::PthreadLock>("pthread-pshared"),
    lock_variant<locking::RobustPthreadLock>("pthread-robust"),
    lock_variant<locking::BoostIpcLock>("boost-interprocess"),
};

// Samples of one row across the repeats.
struct Series {
  Repeats runs;  // hand-off rows: figures rtt_ns_p50, rtt_ns_p99

  void add(const HandoffSample& s) {
    if (!s.ok) return runs.fail();
    runs.add(s.seconds, {{"rtt_ns_p50", s.rtt_ns_p50}, {"rtt_ns_p99", s.rtt_ns_p99}});
  }
  void add(const LockSample& s) {
    if (!s.ok) return runs.fail();
    runs.add(s.seconds);
  }
};

Measurement base_row(std::string variant, unsigned workers, const Series& series) {
  Measurement row;
  row.experiment = "sync";
  row.variant = std::move(variant);
  row.workers = workers;
  series.runs.fill(row);
  return row;
}

Measurement handoff_row(std::string variant, const Series& series, const SyncConfig& config) {
  Measurement row = base_row(std::move(variant), 2, series);
  row.params = {{"round_trips", static_cast<std::int64_t>(config.handoff_round_trips)},
                {"pinned", config.pin}};
  if (row.repeats > 0) {
    const double p50 = series.runs.figure("rtt_ns_p50").median();
    row.metrics = {{"rtt_ns_p50", p50},
                   {"rtt_ns_p99", series.runs.figure("rtt_ns_p99").median()},
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
