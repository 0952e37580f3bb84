#pragma once

// SharedBox<T>: one T in an anonymous shared mapping of its own, for the
// lab, the tests and the benchmarks.
//
// The box maps sizeof(T) bytes (SharedMemory::anonymous: MAP_SHARED, zero
// filled, page aligned), constructs T there, and on destruction runs ~T()
// and unmaps. Children forked after construction see the same T at the same
// address; they leave by _exit (Process, ARCHITECTURE.md rule 4), so only
// the process that made the box ever destroys T. Unlike SharedObject<T> (the
// library's type for state other processes attach to by name), T may have a
// destructor -- a file lock removes its file, a pthread or Boost mutex
// destroys itself -- and there is no header, name or layout check: the box
// is for state shared with one's own forked children.
//
// SharedBox(kZeroFilled) runs no constructor: T is the mapping's zero bytes
// (for types valid as zero bytes, such as a futex word or a lock with
// kValidAsZeroBytes). It is offered only for trivially destructible T, so
// no destructor ever runs on an object that was never constructed.
//
// Contract
//   Requires: alignof(T) <= the page size.
//   Throws: std::system_error if the mapping fails; whatever T's constructor
//           throws (the mapping is released).
//   Thread safety: the box is not synchronised; T's own protocol governs
//           its bytes.
//
// Example
//   mpkit::SharedBox<mpkit::locking::FlockLock> lock;     // makes its lock file
//   mpkit::Process child([&] { std::scoped_lock hold(*lock); return 0; });
//   (void)child.join(std::chrono::seconds(5));
//   // ~SharedBox: ~FlockLock removes the file, then the mapping goes

#include <concepts>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {

/// Tag: map the bytes but run no constructor (they stay all zero).
struct ZeroFilled {};
inline constexpr ZeroFilled kZeroFilled{};

template <class T>
class SharedBox {
 public:
  /// Constructs T(args...) in a fresh anonymous shared mapping.
  template <class... Args>
    requires std::constructible_from<T, Args&&...>
  explicit SharedBox(Args&&... args)
      : memory_(SharedMemory::anonymous(sizeof(T))),
        object_(new (memory_.data()) T(std::forward<Args>(args)...)) {}

  /// T is the mapping's zero bytes; no constructor runs.
  explicit SharedBox(ZeroFilled /*tag*/)
    requires std::is_trivially_destructible_v<T>
      : memory_(SharedMemory::anonymous(sizeof(T))),
        object_(static_cast<T*>(static_cast<void*>(memory_.data()))) {}

  SharedBox(const SharedBox&) = delete;
  SharedBox& operator=(const SharedBox&) = delete;
  SharedBox(SharedBox&&) = delete;
  SharedBox& operator=(SharedBox&&) = delete;
  /// Runs ~T(), then unmaps. Never throws (T's destructor must not).
  ~SharedBox() { std::destroy_at(object_); }

  [[nodiscard]] T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }

 private:
  SharedMemory memory_;
  T* object_;
};

}  // namespace mpkit
