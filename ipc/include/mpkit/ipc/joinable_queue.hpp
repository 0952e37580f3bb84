#pragma once

// JoinableQueue<Q>: Python's multiprocessing.JoinableQueue over any queue
// backend Q -- every push counts an unfinished task, task_done() marks one
// finished, join() waits until every pushed item has been task_done'd.
//
// Who may call what
//   Made in one process (create()) and used by it and by every child it forks
//   afterwards, from any thread: producers push, consumers pop and call
//   task_done() once per item they finished, anyone joins. The queue
//   operations are Q's, with Q's rules (an SPSC backend stays 1 / 1).
//
// Protocol
//   - The count of unfinished tasks, and what joiners sleep on, live in an
//     anonymous shared mapping (detail::TaskCount), so processes forked after
//     create() share them whatever Q is, Redis included.
//   - push: unfinished += 1 FIRST, then Q's push; if that does not return kOk
//     (full, timed out, closed, or it throws) the increment is undone. A
//     consumer can pop an item only after its push made it visible, hence
//     after its increment: the count never drops below the number of items
//     pushed and not yet done, task_done() can never underflow for an item
//     that was really pushed, and join() can never return while a pushed item
//     is unfinished. (It may wait a little longer: it also counts a push in
//     progress.)
//   - task_done: CAS unfinished -> unfinished - 1; at 0 it throws
//     std::logic_error (Python raises ValueError) and changes nothing. The
//     call that brings the count to 0 bumps zero_epoch, the futex word, and
//     wakes every sleeper -- only if the sleeper count says there is one.
//   - join: read zero_epoch, then the count; 0 returns at once. Otherwise
//     spin briefly (detail/spin.hpp) for the epoch to move, then sleepers++
//     and futex_wait on zero_epoch; return when the epoch moved or the count
//     is 0. A joiner returns once the count has BEEN zero since it started,
//     even if a new push raised it again before the joiner ran (Python's
//     join has the same semantics: it waits for a notification, not for the
//     count to stay zero); the epoch is what makes that moment observable.
//   - Failed pushes that undo their increment may bring the count to 0 too:
//     correct, that item never entered the queue.
//
// What a SIGKILL does
//   - A consumer killed between pop and task_done (or one that never calls
//     it): that task stays unfinished for good; join() blocks forever and
//     join_for / join_until return false at their deadline. Nothing can tell
//     which process held which item, so nothing repairs the count: use the
//     timed joins wherever a consumer may die, and decide what a time-out
//     means (Python's JoinableQueue hangs the same way).
//   - A producer killed between its increment and its push: the same
//     (one phantom unfinished task). Killed elsewhere: nothing.
//   - Q's own kill semantics (ipc/README.md, Queues) are unchanged.
//
// Cache-line layout of detail::TaskCount: line 0 the count (every push and
// task_done); line 1 zero_epoch and sleepers (touched when the count reaches
// zero and by joiners), so parked joiners do not bounce the count's line.
//
// Memory ordering: every change of the count is a read-modify-write
// (acq_rel), so a joiner's acquire load that reads 0 synchronises with every
// task_done before it; the epoch bump (seq_cst) follows the zeroing CAS, so a
// joiner that sees the epoch move (acquire) also sees everything the
// consumers did before their task_done(). The bump and the load of sleepers
// are seq_cst, as is the joiner's sleepers++ before futex_wait reads the
// epoch: a Dekker pair, so a wake is never lost (ipc/README.md, "Futex").
//
// Contract
//   Requires: Q models Queue<Q, Q::value_type>; create() before fork.
//   Guarantees: join() returns only after every item pushed (kOk) before it
//             started was task_done'd; join_until/join_for return false only
//             at their deadline (signals neither shorten nor lengthen it).
//             push/pop/task_done make no system call beyond Q's while nobody
//             is parked in join.
//   Throws:   task_done(): std::logic_error when called more times than items
//             were pushed. create(): std::system_error if the mapping fails.
//             Queue operations: whatever Q throws (the count is restored).
//   Thread safety: any thread of any process forked after create().
//
// Example
//   auto q = mpkit::JoinableQueue<mpkit::MpmcRing<std::uint64_t>>::create(
//       mpkit::MpmcRing<std::uint64_t>::create(1024));
//   mpkit::Process worker([&] { std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) { use(v); q.task_done(); } });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);
//   q.join();  // every item used

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {
namespace detail {

/// The shared part of a JoinableQueue (see the protocol).
struct TaskCount {
  // line 0: unfinished tasks; every push and task_done
  alignas(kCacheLineSize) std::atomic<std::uint64_t> unfinished{0};
  // line 1: what joiners sleep on
  alignas(kCacheLineSize) std::atomic<std::uint32_t> zero_epoch{0};  // futex word
  std::atomic<std::uint32_t> sleepers{0};  // joiners parked, or about to park, on zero_epoch

  /// unfinished += 1 (before the item's push).
  void add() noexcept;
  /// unfinished -= 1; throws std::logic_error at 0 (nothing changes then).
  void done();
  /// unfinished -= 1 for a push that did not happen (the count is >= 1).
  void undo() noexcept;
  /// Waits until the count has been 0 since the call; false at the deadline.
  [[nodiscard]] bool join(std::optional<Deadline> deadline) noexcept;

 private:
  void reached_zero() noexcept;
};

static_assert(std::is_standard_layout_v<TaskCount>, "lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<TaskCount>, "vanishes with its mapping");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(offsetof(TaskCount, zero_epoch) == kCacheLineSize && sizeof(TaskCount) == 2 * kCacheLineSize,
              "the count and the joiners' words each own a cache line");

}  // namespace detail

template <class Q>
class JoinableQueue {
 public:
  using value_type = typename Q::value_type;
  using queue_type = Q;
  static_assert(Queue<Q, value_type>, "JoinableQueue adapts a queue backend");

  /// Takes over `queue`; the task count starts at 0 in a fresh anonymous
  /// mapping that children forked afterwards share.
  [[nodiscard]] static JoinableQueue create(Q queue) { return JoinableQueue(std::move(queue)); }

  JoinableQueue(JoinableQueue&&) noexcept = default;
  JoinableQueue& operator=(JoinableQueue&&) noexcept = default;
  JoinableQueue(const JoinableQueue&) = delete;
  JoinableQueue& operator=(const JoinableQueue&) = delete;
  ~JoinableQueue() = default;

  // ---- producers: each kOk adds one unfinished task ------------------------

  [[nodiscard]] QueueStatus try_push(const value_type& value) {
    return counted([&] { return queue_.try_push(value); });
  }
  [[nodiscard]] QueueStatus push(const value_type& value) {
    return counted([&] { return queue_.push(value); });
  }
  [[nodiscard]] QueueStatus push_until(const value_type& value, Deadline deadline) {
    return counted([&] { return queue_.push_until(value, deadline); });
  }

  // ---- consumers: Q's pops; call task_done() once per finished item --------

  [[nodiscard]] QueueStatus try_pop(value_type& out) { return queue_.try_pop(out); }
  [[nodiscard]] QueueStatus pop(value_type& out) { return queue_.pop(out); }
  [[nodiscard]] QueueStatus pop_until(value_type& out, Deadline deadline) { return queue_.pop_until(out, deadline); }

  /// One popped item is finished. Throws std::logic_error when every pushed
  /// item was already marked done (Python: ValueError).
  void task_done() { count_->done(); }

  // ---- joiners --------------------------------------------------------------

  /// Blocks until every item pushed so far was task_done'd.
  void join() noexcept { (void)count_->join(std::nullopt); }
  /// As join(); false once `deadline` passed with tasks unfinished.
  [[nodiscard]] bool join_until(Deadline deadline) noexcept { return count_->join(deadline); }
  template <class Rep, class Period>
  [[nodiscard]] bool join_for(std::chrono::duration<Rep, Period> timeout) noexcept {
    return count_->join(detail::deadline_in(timeout));
  }

  /// Pushed and not yet task_done'd (including pushes in progress); a snapshot.
  [[nodiscard]] std::uint64_t unfinished_guess() const noexcept {
    return count_->unfinished.load(std::memory_order_relaxed);  // relaxed: a snapshot, orders nothing
  }

  // ---- anyone: Q's --------------------------------------------------------

  void close() { queue_.close(); }
  [[nodiscard]] bool is_closed() const { return queue_.is_closed(); }
  [[nodiscard]] std::size_t size_guess() const { return queue_.size_guess(); }
  [[nodiscard]] std::size_t capacity() const noexcept(noexcept(std::declval<const Q&>().capacity())) {
    return queue_.capacity();
  }

  /// The adapted backend (its own extras, e.g. LockedRing::owner_deaths()).
  [[nodiscard]] Q& queue() noexcept { return queue_; }
  [[nodiscard]] const Q& queue() const noexcept { return queue_; }

 private:
  explicit JoinableQueue(Q queue)
      : queue_(std::move(queue)), count_(SharedObject<detail::TaskCount>::anonymous()) {}

  // Counts the task before the push can be seen, and takes it back unless
  // the push returned kOk.
  template <class Push>
  QueueStatus counted(Push&& push) {
    count_->add();
    QueueStatus status = QueueStatus::kClosed;
    try {
      status = push();
    } catch (...) {
      count_->undo();
      throw;
    }
    if (status != QueueStatus::kOk) count_->undo();
    return status;
  }

  Q queue_;
  SharedObject<detail::TaskCount> count_;
};

}  // namespace mpkit
