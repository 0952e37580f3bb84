#pragma once

// Event: a flag threads of several processes can wait for, like Python's
// multiprocessing.Event.
//
// Protocol
//   word_, the futex word: bit 0 = set; bits 1..31 = generation, the number
//   of clear -> set transitions (mod 2^31). sleepers_ counts the waiters that
//   are asleep, or about to be, on word_.
//   - set: CAS word_ from clear to (generation + 1) | set; then, only if that
//     was a transition and sleepers_ != 0, FUTEX_WAKE all. Setting a set
//     event changes nothing (but still publishes, see below).
//   - clear: clears bit 0; the generation stays. It wakes nobody.
//   - is_set: one acquire load (it is polled on hot loops).
//   - wait: read word_ (A); if set, return. Otherwise spin ~2.5 µs, then
//     sleepers_++ and futex_wait(word_, A) until word_ != A. Because set()
//     bumps the generation, a waiter that was already waiting when set() ran
//     returns true even if clear() follows at once (Python's semantics: a
//     set-then-clear "pulse" releases every current waiter).
//   Layout: 8 bytes, one cache line; zero bytes are a clear Event.
//
// Memory ordering: set() is a seq_cst read-modify-write on word_, even on a
// set event, so a wait() or is_set() that observes it set by a set() call
// (acquire) sees everything written before that call. set()'s CAS, the
// waiter's sleepers_++ and set()'s load of sleepers_ are seq_cst: a setter
// that reads sleepers_ == 0 was ordered before the increment, whose
// futex_wait then sees the new word (ipc/README.md, "Futex").
//
// Contract
//   Requires: nothing; any sequence of calls is valid.
//   Guarantees: wait() returns once a set() has happened since it began (or
//             the event was set); wait_until/wait_for return false only once
//             the deadline has passed without a set (signals neither shorten
//             nor lengthen it).
//   Throws: nothing.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   auto* ready = new (shared_page) mpkit::Event;     // or zero-filled memory
//   /* workers */ if (!ready->wait_for(std::chrono::seconds(5))) return timed_out();
//   /* parent  */ publish_input(); ready->set();

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"

namespace mpkit {

class Event {
 public:
  constexpr Event() noexcept = default;
  // It lives at one place in shared memory, where others find it: never
  // copied or moved. Trivially destructible: a process may just unmap it.
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Event(Event&&) = delete;
  Event& operator=(Event&&) = delete;
  ~Event() = default;

  /// Sets the flag and wakes every waiter.
  void set() noexcept;
  /// Clears the flag; later waiters wait for the next set().
  void clear() noexcept;

  [[nodiscard]] bool is_set() const noexcept {
    // acquire: pairs with set(), so the data published before it is visible.
    return (word_.load(std::memory_order_acquire) & kSetBit) != 0;
  }

  /// Returns once the event is set, or a set() happened since the call began.
  void wait() noexcept { (void)wait_impl(std::nullopt); }
  /// false: `deadline` passed without a set().
  [[nodiscard]] bool wait_until(Deadline deadline) noexcept { return wait_impl(deadline); }
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return wait_impl(detail::deadline_in(timeout));
  }

 private:
  static constexpr std::uint32_t kSetBit = 1;
  static constexpr std::uint32_t kGenerationOne = 2;  // generation lives in bits 1..31

  [[nodiscard]] bool wait_impl(std::optional<Deadline> deadline) noexcept;

  std::atomic<std::uint32_t> word_{0};      // the futex word: generation << 1 | set
  std::atomic<std::uint32_t> sleepers_{0};  // waiters parked, or about to park, on word_
};

static_assert(std::is_standard_layout_v<Event>, "Event lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<Event>,
              "a process may unmap an Event without running anything");
static_assert(sizeof(Event) == 8, "Event is two 32-bit words, no padding");

}  // namespace mpkit
