#pragma once

// The queue vocabulary every transport backend shares.
//
// A queue carries values of a trivially copyable T between threads and
// processes. Every backend (lockfree ring, Boost spsc_queue, locked ring,
// Boost message_queue, pipe, manager, Redis) models the Queue concept below,
// so one conformance suite and one experiment run them all.
//
// Semantics shared by every backend
//   - push blocks while full; pop blocks while empty. try_* never block. The
//     _until/_for forms block until a deadline (steady_clock).
//   - close(): later pushes report kClosed; pops drain what is left, then
//     report kClosed; every blocked waiter wakes. Closing twice is harmless.
//   - Expected outcomes are return values (QueueStatus, std::optional, bool);
//     system failures (a dead peer, a broken connection) throw
//     std::system_error naming what failed; none of them hangs.
//   - size_guess() is a snapshot that may be stale by the time it returns.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/futex.hpp"

namespace mpkit {

enum class QueueStatus {
  kOk,        ///< the value was pushed / popped
  kFull,      ///< try_push: no room right now
  kEmpty,     ///< try_pop: nothing there right now
  kTimedOut,  ///< push_until / pop_until: the deadline passed
  kClosed,    ///< push after close(); pop after close() and drained
};

[[nodiscard]] constexpr std::string_view to_string(QueueStatus status) noexcept {
  switch (status) {
    case QueueStatus::kOk: return "ok";
    case QueueStatus::kFull: return "full";
    case QueueStatus::kEmpty: return "empty";
    case QueueStatus::kTimedOut: return "timed out";
    case QueueStatus::kClosed: return "closed";
  }
  return "?";
}

/// What every backend offers for values of type T.
template <class Q, class T>
concept Queue = std::is_trivially_copyable_v<T> &&
                requires(Q& queue, const T& in, T& out, Deadline deadline) {
                  { queue.push(in) } -> std::same_as<QueueStatus>;       // kOk, kClosed
                  { queue.try_push(in) } -> std::same_as<QueueStatus>;   // kOk, kFull, kClosed
                  { queue.push_until(in, deadline) } -> std::same_as<QueueStatus>;
                  { queue.pop(out) } -> std::same_as<QueueStatus>;       // kOk, kClosed
                  { queue.try_pop(out) } -> std::same_as<QueueStatus>;   // kOk, kEmpty, kClosed
                  { queue.pop_until(out, deadline) } -> std::same_as<QueueStatus>;
                  queue.close();
                  { queue.is_closed() } -> std::same_as<bool>;
                  { queue.size_guess() } -> std::convertible_to<std::size_t>;
                  { queue.capacity() } -> std::convertible_to<std::size_t>;
                };

/// push_for / pop_for for any backend: the relative forms of the _until calls.
template <class T, Queue<T> Q, class Rep, class Period>
[[nodiscard]] QueueStatus push_for(Q& queue, const T& value,
                                   std::chrono::duration<Rep, Period> timeout) {
  return queue.push_until(value, deadline_after(std::chrono::duration_cast<Clock::duration>(timeout)));
}

template <class T, Queue<T> Q, class Rep, class Period>
[[nodiscard]] QueueStatus pop_for(Q& queue, T& out, std::chrono::duration<Rep, Period> timeout) {
  return queue.pop_until(out, deadline_after(std::chrono::duration_cast<Clock::duration>(timeout)));
}

}  // namespace mpkit
