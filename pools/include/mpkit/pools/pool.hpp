#pragma once

// ProcessPool and ThreadPool: Python's multiprocessing.Pool API in C++, over
// shared-memory rings, surviving worker deaths.
//
// What it is
//   ProcessPool forks its workers when it is built: first a single-threaded
//   fork server (zygote), which then forks every worker and every
//   replacement, so the pool never forks from a threaded process (ARCHITECTURE.md
//   rule 3). Workers see the parent's memory AS OF CONSTRUCTION (like
//   Python's fork pools): globals changed and mappings made later are not
//   seen, and only what travels as arguments reaches a task. ThreadPool has
//   the same API on std::threads over the same rings and engine (Python's
//   multiprocessing.dummy).
//
// Calls (fn: a plain function pointer or a lambda without captures, whose
//   address every fork shares; arguments/results through codec.hpp)
//   map(fn, inputs, chunksize, timeout)  results in input order; throws the
//                                      first failure (in input order) once
//                                      every other item is in; WaitTimedOut
//                                      past the (optional) timeout
//   map_outcomes(fn, inputs, chunksize)  per-item Outcome<R>, never throws for
//                                      a task's failure
//   starmap / starmap_outcomes         fn(std::apply) over tuples / pairs
//   imap(fn, inputs, chunksize, window)  lazy, ordered: ImapResults<R>; at
//                                      most `window` chunks in flight or
//                                      unread, so a huge input is never held
//   imap_unordered(...)                the same in completion order
//   submit(fn, args...) / apply_async  AsyncResult<R> with get(), get(timeout)
//   close(), join(timeout), terminate()
//   Default chunksize for map/starmap: ceil(n / (4 x workers)), as Python's.
//   A chunksize beyond the input (up to SIZE_MAX) is one chunk of it all
//   (at most 2^32 - 1 items: a chunk's item count is 32 bits).
//
// Faults
//   A task that throws: its item is a TaskError ("<type>: <what>"); the
//   worker goes on. A worker that dies (signal, _exit, abort) while holding a
//   chunk: every item of that chunk is a WorkerDied (pid, signal / exit code,
//   first task index), the worker is replaced, every other chunk completes
//   (those queued behind it go to other workers). A task over task_timeout:
//   TaskTimedOut, worker killed and replaced. More than crash_limit crashes
//   within crash_window: respawning stops, pending work fails with
//   PoolBroken, later calls throw PoolBroken. A fork server that dies
//   (killed: its workers die with it, by PDEATHSIG, reporting nothing): the
//   parent reads the server's socket at least once per 4 ms wait slice, so
//   within a slice of the next (or current) waiting call broken() is true,
//   results already pushed are delivered, every other pending item fails
//   with PoolBroken, the dead server is reaped, later calls throw
//   PoolBroken; close() + join() return true. Destruction or terminate()
//   with work pending: workers killed and reaped (no zombies, no segments:
//   every mapping is anonymous), pending items fail with PoolBroken. A parent
//   that dies takes the zygote and the workers with it (PR_SET_PDEATHSIG).
//   Workers ignore SIGINT.
//
// Contract
//   Requires: ProcessPool is built while the calling process has no other
//     threads (it forks the zygote); the pool is driven by one thread, the
//     first that submits or waits (no background thread runs in the parent;
//     dispatched tasks run in the workers between calls); the pool is built
//     and destroyed by a long-lived thread (the zygote's PDEATHSIG follows
//     that thread). The input of map/starmap lives through the call; the
//     input range of imap outlives its ImapResults.
//   Throws: std::invalid_argument naming the argument (PoolOptions fields,
//     among them rings that would need more than the machine's memory;
//     chunksize 0, window 0, a negative timeout); std::logic_error for work
//     after close(), join() before close(), or a call from a thread other
//     than the one driving the pool; PoolBroken; std::system_error
//     if the mappings, socketpair or fork fail.
//   Thread safety: one driving thread per pool; any other thread's submit,
//     wait or join throws std::logic_error (checked, not undefined).
//
// Example
//   mpkit::ProcessPool pool;                                  // one worker per core
//   auto squares = pool.map([](int x) { return x * x; }, std::vector<int>{1, 2, 3});
//   auto handle = pool.submit([](std::string s) { return s.size(); }, std::string("hello"));
//   std::size_t five = handle.get(std::chrono::seconds(1));

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpkit/pools/codec.hpp"
#include "mpkit/pools/detail/jobs.hpp"
#include "mpkit/pools/detail/pool_core.hpp"
#include "mpkit/pools/errors.hpp"
#include "mpkit/pools/options.hpp"
#include "mpkit/pools/worker.hpp"

namespace mpkit {

namespace pools::detail {
[[nodiscard]] inline Deadline checked_deadline(std::chrono::nanoseconds timeout, const char* where) {
  if (timeout.count() < 0) {
    throw std::invalid_argument(std::string(where) + ": timeout must not be negative");
  }
  return deadline_after(timeout);
}
}  // namespace pools::detail

/// The handle submit() / apply_async() return.
template <class R>
class AsyncResult {
 public:
  AsyncResult() = default;
  [[nodiscard]] bool valid() const noexcept { return job_ != nullptr; }
  /// Whether the outcome is in (drives the pool without waiting).
  [[nodiscard]] bool ready() {
    if (!job_->ready()) (void)drive(std::chrono::nanoseconds(0));
    return job_->ready();
  }
  /// Waits at most `timeout`; true if the outcome is in.
  [[nodiscard]] bool wait(std::chrono::nanoseconds timeout) {
    (void)pools::detail::checked_deadline(timeout, "AsyncResult::wait");
    return drive(timeout);
  }
  /// The value; rethrows the task's TaskError / WorkerDied / PoolBroken.
  const R& get() {
    (void)drive(std::nullopt);
    return job_->outcome().value();
  }
  /// As get(), throwing WaitTimedOut if it is not in within `timeout`.
  const R& get(std::chrono::nanoseconds timeout) {
    (void)pools::detail::checked_deadline(timeout, "AsyncResult::get");
    if (!drive(timeout)) throw WaitTimedOut("AsyncResult::get: no result within the timeout");
    return job_->outcome().value();
  }
  [[nodiscard]] const Outcome<R>& outcome() {
    (void)drive(std::nullopt);
    return job_->outcome();
  }

 private:
  friend class PoolBase;
  struct Erased {
    virtual ~Erased() = default;
    [[nodiscard]] virtual bool ready() const noexcept = 0;
    [[nodiscard]] virtual const Outcome<R>& outcome() const noexcept = 0;
  };

  bool drive(std::optional<std::chrono::nanoseconds> timeout) {
    if (job_->ready()) return true;
    auto core = core_.lock();
    if (!core) throw PoolBroken("AsyncResult: the pool is gone");
    auto done = [this] { return job_->ready(); };
    const std::optional<Deadline> deadline =
        timeout ? std::optional<Deadline>(deadline_after(*timeout)) : std::nullopt;
    return core->drive_until(pools::detail::DonePredicate(done), deadline);
  }

  std::shared_ptr<Erased> job_;
  std::weak_ptr<pools::detail::PoolCore> core_;

  template <class Job>
  struct Holder final : Erased {
    explicit Holder(std::shared_ptr<Job> j) : job(std::move(j)) {}
    [[nodiscard]] bool ready() const noexcept override { return job->ready(); }
    [[nodiscard]] const Outcome<R>& outcome() const noexcept override { return job->outcome(); }
    std::shared_ptr<Job> job;
  };
};

/// What imap() / imap_unordered() return: read with next() or a range-for.
template <class R>
class ImapResults {
 public:
  ImapResults(ImapResults&&) noexcept = default;
  ImapResults& operator=(ImapResults&&) noexcept = default;
  ImapResults(const ImapResults&) = delete;
  ImapResults& operator=(const ImapResults&) = delete;
  /// Stops pulling the input; chunks in flight finish unread.
  ~ImapResults() {
    if (source_) source_->cancel();
  }

  /// The next item's outcome; nullopt once every item was read. With a
  /// timeout: throws WaitTimedOut if the next one is not in by then.
  std::optional<Outcome<R>> next_outcome(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    std::optional<Deadline> deadline;
    if (timeout) deadline = pools::detail::checked_deadline(*timeout, "ImapResults::next");
    if (!source_->has_ready() && !source_->finished()) {
      auto core = core_.lock();
      if (!core) throw PoolBroken("ImapResults: the pool is gone");
      auto done = [this] { return source_->has_ready() || source_->finished(); };
      if (!core->drive_until(pools::detail::DonePredicate(done), deadline)) {
        throw WaitTimedOut("ImapResults::next: no result within the timeout");
      }
    }
    if (!source_->has_ready()) return std::nullopt;
    return source_->take();
  }
  /// The next value (rethrows its error); nullopt at the end.
  std::optional<R> next(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    std::optional<Outcome<R>> outcome = next_outcome(timeout);
    if (!outcome) return std::nullopt;
    return std::move(*outcome).value();
  }

  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(ImapResults* owner) : owner_(owner) { ++*this; }
    const R& operator*() const { return *current_; }
    iterator& operator++() {
      current_ = owner_->next();
      if (!current_) owner_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.owner_ == nullptr; }

   private:
    ImapResults* owner_ = nullptr;
    std::optional<R> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  friend class PoolBase;
  ImapResults(std::shared_ptr<pools::detail::ImapSource<R>> source, std::weak_ptr<pools::detail::PoolCore> core)
      : source_(std::move(source)), core_(std::move(core)) {}

  std::shared_ptr<pools::detail::ImapSource<R>> source_;
  std::weak_ptr<pools::detail::PoolCore> core_;
};

/// The API both pools share (see the file comment).
class PoolBase {
 public:
  PoolBase(const PoolBase&) = delete;
  PoolBase& operator=(const PoolBase&) = delete;

  [[nodiscard]] std::size_t workers() const noexcept { return core_->workers(); }

  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto map(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
           std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return run_map<false>(fn, inputs, chunksize, timeout, [](auto& job) { return job.take_values(); });
  }

  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto map_outcomes(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                    std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return run_map<false>(fn, inputs, chunksize, timeout, [](auto& job) { return job.take_outcomes(); });
  }

  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto starmap(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
               std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return run_map<true>(fn, inputs, chunksize, timeout, [](auto& job) { return job.take_values(); });
  }

  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto starmap_outcomes(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                        std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return run_map<true>(fn, inputs, chunksize, timeout, [](auto& job) { return job.take_outcomes(); });
  }

  /// Lazy and ordered; `window` chunks at most in flight or unread (0: enough
  /// to keep every worker busy between two wake-ups of the driver: 4 x workers
  /// chunks, or 1024 items per worker's worth of chunks if that is more).
  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto imap(F fn, Range& inputs, std::size_t chunksize = 1, std::size_t window = 0) {
    return run_imap(fn, inputs, chunksize, window, true);
  }
  template <class F, std::ranges::input_range Range>
    requires pools::detail::PoolFunction<F>
  auto imap_unordered(F fn, Range& inputs, std::size_t chunksize = 1, std::size_t window = 0) {
    return run_imap(fn, inputs, chunksize, window, false);
  }

  /// fn(args...) in a worker; the arguments are encoded now.
  template <class F, class... Args>
    requires pools::detail::PoolFunction<F>
  auto submit(F fn, Args&&... args) {
    using Tuple = std::tuple<std::decay_t<Args>...>;
    using Job = pools::detail::SubmitJob<F, Tuple>;
    using R = typename Job::R;
    check_open();
    auto job = std::make_shared<Job>(fn, Tuple(std::forward<Args>(args)...));
    core_->add_job(job);
    AsyncResult<R> result;
    result.job_ = std::make_shared<typename AsyncResult<R>::template Holder<Job>>(std::move(job));
    result.core_ = core_;
    return result;
  }
  template <class F, class... Args>
    requires pools::detail::PoolFunction<F>
  auto apply_async(F fn, Args&&... args) {
    return submit(fn, std::forward<Args>(args)...);
  }

  /// No new work; what was submitted still runs.
  void close() noexcept { core_->close(); }
  /// After close(): waits for every submitted task and for the workers to
  /// leave; false if `timeout` passed first (call again, or terminate()).
  bool join(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (timeout && timeout->count() < 0) throw std::invalid_argument("join: timeout must not be negative");
    return core_->join(timeout);
  }
  /// Kills (ProcessPool) or stops (ThreadPool, after their current chunk)
  /// the workers; pending items fail with PoolBroken. Also what the
  /// destructor does.
  void terminate() noexcept { core_->terminate(); }

  /// Live worker pids whose start was reported so far (a ThreadPool reports
  /// its own pid per thread).
  [[nodiscard]] std::vector<pid_t> worker_pids() { return core_->worker_pids(); }
  [[nodiscard]] pools::detail::PoolStats stats() const noexcept { return core_->stats(); }
  [[nodiscard]] bool broken() const noexcept { return core_->broken(); }

 protected:
  PoolBase(pools::detail::PoolKind kind, const PoolOptions& options)
      : core_(std::make_shared<pools::detail::PoolCore>(kind, options)) {}
  ~PoolBase() { core_->terminate(); }

 private:
  void check_open() const {
    if (core_->closed()) throw std::logic_error("ProcessPool/ThreadPool: the pool is closed to new tasks");
  }

  [[nodiscard]] std::size_t default_chunksize(std::size_t n) const noexcept {
    const std::size_t per = 4 * workers();
    return n == 0 ? 1 : (n + per - 1) / per;
  }

  template <bool Star, class F, class Range, class Take>
  auto run_map(F fn, const Range& inputs, std::optional<std::size_t> chunksize,
               std::optional<std::chrono::nanoseconds> timeout, Take take) {
    using T = std::ranges::range_value_t<Range>;
    static_assert(Encodable<T>, "map: the input type needs a codec (see codec.hpp)");
    using Job = pools::detail::MapJob<F, T, Star>;
    static_assert(Encodable<typename Job::R>, "map: the result type needs a codec (see codec.hpp)");
    if (chunksize && *chunksize == 0) throw std::invalid_argument("map: chunksize must be at least 1 (got 0)");
    std::optional<Deadline> deadline;
    if (timeout) deadline = pools::detail::checked_deadline(*timeout, "map");
    check_open();
    if constexpr (std::ranges::contiguous_range<const Range> && std::ranges::sized_range<const Range>) {
      const std::span<const T> items(std::ranges::data(inputs), std::ranges::size(inputs));
      return take(*run_map_span<Job>(fn, items, chunksize, deadline));
    } else {
      const std::vector<T> copy(std::ranges::begin(inputs), std::ranges::end(inputs));
      return take(*run_map_span<Job>(fn, std::span<const T>(copy), chunksize, deadline));
    }
  }

  // Runs the job to completion; returns it (its results are taken by the caller).
  template <class Job, class F, class T>
  std::shared_ptr<Job> run_map_span(F fn, std::span<const T> items, std::optional<std::size_t> chunksize,
                                    std::optional<Deadline> deadline) {
    auto job = std::make_shared<Job>(fn, items, chunksize.value_or(default_chunksize(items.size())));
    struct Cancel {
      Job& job;
      ~Cancel() { job.cancel(); }  // whatever happens, the job forgets `items`
    } cancel{*job};
    if (items.empty()) return job;
    core_->add_job(job);
    auto done = [&job] { return job->done(); };
    if (!core_->drive_until(pools::detail::DonePredicate(done), deadline)) {
      // Cancel (above) drops what was not sent; chunks already queued in the
      // workers still run, into a job nobody reads.
      throw WaitTimedOut("map: not every result was in within the timeout");
    }
    return job;
  }

  template <class F, class Range>
  auto run_imap(F fn, Range& inputs, std::size_t chunksize, std::size_t window, bool ordered) {
    using T = std::ranges::range_value_t<Range>;
    static_assert(Encodable<T>, "imap: the input type needs a codec (see codec.hpp)");
    using It = std::ranges::iterator_t<Range>;
    using Sent = std::ranges::sentinel_t<Range>;
    using Job = pools::detail::ImapJob<F, T, false, It, Sent>;
    using R = typename Job::R;
    if (chunksize == 0) throw std::invalid_argument("imap: chunksize must be at least 1 (got 0)");
    check_open();
    if (window == 0) window = std::max(4 * workers(), (1024 * workers() + chunksize - 1) / chunksize);
    auto job = std::make_shared<Job>(fn, std::ranges::begin(inputs), std::ranges::end(inputs), chunksize,
                                     window, ordered);
    core_->add_job(job);
    return ImapResults<R>(std::move(job), core_);
  }

  std::shared_ptr<pools::detail::PoolCore> core_;
};

class ProcessPool final : public PoolBase {
 public:
  explicit ProcessPool(const PoolOptions& options = {}) : PoolBase(pools::detail::PoolKind::kProcess, options) {}
};

class ThreadPool final : public PoolBase {
 public:
  explicit ThreadPool(const PoolOptions& options = {}) : PoolBase(pools::detail::PoolKind::kThread, options) {}
};

}  // namespace mpkit
