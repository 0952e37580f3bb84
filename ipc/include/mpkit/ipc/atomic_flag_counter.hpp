#pragma once

// AtomicFlag, AtomicCounter: a std::atomic in an anonymous shared mapping --
// the `atomic` strategy that EXPERIMENTS.md §1 and §5 add beyond the book.
//
// Who may call what
//   Any thread of the creating process and of every process it forks after
//   create(), concurrently; one handle may be shared by the threads of a
//   process.
//
// Protocol
//   AtomicFlag: one byte, 0 = clear, 1 = set. set() stores 1 with release,
//     clear() stores 0 with release, is_set() is one acquire load. No
//     read-modify-write anywhere: setting a set flag is one plain store.
//   AtomicCounter: one int64; add(n) is one fetch_add (lock xadd), get() one
//     load.
//   Layout: the word alone in the first 64-byte line after SharedObject's
//     header line (so the page holds [header line][word line]); nothing else
//     shares the word's line, so polling it never false-shares.
//
// What a SIGKILL of a user does: nothing. Every update is a single atomic
// instruction, done or not done; there is no lock to leave held.
//
// Memory ordering: AtomicFlag's set()/clear() are release stores and is_set()
// an acquire load, so a reader that sees a flag set also sees what the setter
// wrote before set() (the factor it found); on x86 both are plain movs, the
// same instructions as relaxed. AtomicCounter is relaxed throughout: a count
// publishes nothing, and the atomicity of fetch_add alone makes it exact;
// join()/waitpid orders the final get() after every child's last add.
//
// Contract
//   Requires: a handle that was not moved from.
//   Guarantees: exact counts; a set() is visible to every process as soon
//             as the store leaves the store buffer (no system call).
//   Throws:   create(): std::system_error if the mapping fails. Nothing else.
//   Thread safety: any thread of any process sharing the mapping.
//
// Example
//   auto found = mpkit::AtomicFlag::create();
//   auto polls = mpkit::AtomicCounter::create();
//   mpkit::Process w([&] { while (!found.is_set()) polls.increment(); });  found.set();

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/counter.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {
namespace detail {

struct alignas(kCacheLineSize) AtomicFlagCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  std::atomic<std::uint8_t> value{0};  // 0 clear, 1 set
};

struct alignas(kCacheLineSize) AtomicCounterCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  std::atomic<std::int64_t> value{0};
};

static_assert(std::atomic<std::uint8_t>::is_always_lock_free &&
                  std::atomic<std::int64_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(sizeof(AtomicFlagCell) == kCacheLineSize &&
                  sizeof(AtomicCounterCell) == kCacheLineSize,
              "each word owns its cache line: polling it never false-shares");
static_assert(std::is_standard_layout_v<AtomicCounterCell> &&
                  std::is_trivially_destructible_v<AtomicCounterCell>,
              "lives in shared memory and vanishes with it");

/// a + b with two's-complement wrap-around instead of signed overflow.
[[nodiscard]] constexpr std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

}  // namespace detail

class AtomicFlag {
 public:
  /// A clear flag in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static AtomicFlag create() {
    return AtomicFlag(SharedObject<detail::AtomicFlagCell>::anonymous());
  }

  // release: publishes the setter's earlier writes to is_set()'s acquire.
  void set() noexcept { cell_->value.store(1, std::memory_order_release); }
  // release: as set(), for symmetry; clearing publishes nothing anyone relies on.
  void clear() noexcept { cell_->value.store(0, std::memory_order_release); }
  // acquire: pairs with set(); a plain mov on x86, as cheap as relaxed.
  [[nodiscard]] bool is_set() const noexcept {
    return cell_->value.load(std::memory_order_acquire) != 0;
  }

 private:
  explicit AtomicFlag(SharedObject<detail::AtomicFlagCell> cell) noexcept
      : cell_(std::move(cell)) {}
  SharedObject<detail::AtomicFlagCell> cell_;
};

class AtomicCounter {
 public:
  /// A counter at 0 in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static AtomicCounter create() {
    return AtomicCounter(SharedObject<detail::AtomicCounterCell>::anonymous());
  }

  std::int64_t increment() noexcept { return add(1); }
  std::int64_t add(std::int64_t n) noexcept {
    // relaxed: a count orders nothing; the RMW's atomicity makes it exact.
    // (fetch_add on a signed atomic wraps, [atomics.types.int].)
    return detail::wrapping_add(cell_->value.fetch_add(n, std::memory_order_relaxed), n);
  }
  // relaxed: a snapshot; join()/waitpid orders it after finished children.
  [[nodiscard]] std::int64_t get() const noexcept {
    return cell_->value.load(std::memory_order_relaxed);
  }

 private:
  explicit AtomicCounter(SharedObject<detail::AtomicCounterCell> cell) noexcept
      : cell_(std::move(cell)) {}
  SharedObject<detail::AtomicCounterCell> cell_;
};

static_assert(Flag<AtomicFlag>);
static_assert(Counter<AtomicCounter> && !loses_updates_v<AtomicCounter>);

}  // namespace mpkit
