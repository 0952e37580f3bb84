#pragma once

// SharedObject<T>: one T constructed in shared memory behind a checked header.
//
// Layout of the segment:
//   [0, 64)   SegmentHeader: magic, layout version, sizeof/alignof T, state
//   [64, ..)  T, aligned to max(alignof(T), 64)
//
// Protocol: the creator writes the header fields, constructs T, then
// publishes state = kReady with a release store. An opener checks the magic,
// the layout version and sizeof(T) (a mismatch throws LayoutMismatchError
// naming both values: a process built from another version of the code is
// refused instead of misreading memory), then waits, bounded by a timeout,
// for state == kReady with acquire loads, so it never sees a half-built T.
//
// T must be standard-layout and trivially destructible (it may hold
// std::atomic members, no pointers): it is never destroyed, its memory just
// goes away with the segment. T may declare
// `static constexpr std::uint32_t kLayoutVersion`, bumped whenever its
// layout changes; it defaults to 1.
//
// Memory ordering: state is published with release by the creator and read
// with acquire by openers; everything else in the header is written before
// that release.
//
// Example
//   auto counter = mpkit::SharedObject<Counters>::create(mpkit::SegmentName::with_tag("c"));
//   // in an unrelated process:
//   auto view = mpkit::SharedObject<Counters>::open(mpkit::SegmentName::parse(name));
//   view->hits.fetch_add(1);

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {

/// Thrown when an attached segment was laid out by other code.
class LayoutMismatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint64_t kSegmentMagic = 0x6d706b69'74736567;  // "mpkitseg"

struct SegmentHeader {
  static constexpr std::uint32_t kConstructing = 0;
  static constexpr std::uint32_t kReady = 1;

  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t object_align;
  std::uint64_t object_size;
  std::atomic<std::uint32_t> state;
};
static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(SegmentHeader) <= kCacheLineSize, "the header fits one cache line");

namespace detail {

template <class T>
constexpr std::uint32_t layout_version() {
  if constexpr (requires { T::kLayoutVersion; }) {
    return T::kLayoutVersion;
  } else {
    return 1;
  }
}

template <class T>
constexpr std::size_t object_offset() {
  return alignof(T) > kCacheLineSize ? alignof(T) : kCacheLineSize;
}

}  // namespace detail

template <class T>
class SharedObject {
  static_assert(std::is_standard_layout_v<T>, "T lives in shared memory: standard layout only");
  static_assert(std::is_trivially_destructible_v<T>,
                "T is never destroyed: it vanishes with its segment");

 public:
  static constexpr std::size_t kSegmentSize = detail::object_offset<T>() + sizeof(T);

  /// T(args...) in a fresh anonymous mapping (inherited by forked children).
  template <class... Args>
  [[nodiscard]] static SharedObject anonymous(Args&&... args) {
    return SharedObject(Construct{}, SharedMemory::anonymous(kSegmentSize), std::forward<Args>(args)...);
  }

  /// T(args...) in a new named segment; throws std::system_error(EEXIST) if taken.
  template <class... Args>
  [[nodiscard]] static SharedObject create(const SegmentName& name, Args&&... args) {
    return SharedObject(Construct{}, SharedMemory::named(create_only, name, kSegmentSize),
                        std::forward<Args>(args)...);
  }

  /// Attaches to a T another process created. Throws std::system_error
  /// (ENOENT: no such segment; ETIMEDOUT: never became ready) or
  /// LayoutMismatchError.
  [[nodiscard]] static SharedObject open(const SegmentName& name,
                                         std::chrono::milliseconds ready_timeout = std::chrono::seconds(5)) {
    SharedMemory memory = SharedMemory::named(open_only, name);
    if (memory.size() < kSegmentSize) {
      throw LayoutMismatchError("SharedObject " + name.str() + ": segment holds " +
                                std::to_string(memory.size()) + " bytes, expected " +
                                std::to_string(kSegmentSize));
    }
    auto& header = *memory.as<SegmentHeader>();
    const auto give_up = std::chrono::steady_clock::now() + ready_timeout;
    // acquire: pairs with the creator's release of kReady; the header fields
    // and T are complete once we see it.  // A
    while (header.state.load(std::memory_order_acquire) != SegmentHeader::kReady) {
      if (std::chrono::steady_clock::now() > give_up) {
        throw_system_error(ETIMEDOUT, "SharedObject " + name.str() + ": not ready after " +
                                          std::to_string(ready_timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    check_header(header, name.str());
    return SharedObject(Attach{}, std::move(memory));
  }

  [[nodiscard]] T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  [[nodiscard]] const SharedMemory& memory() const noexcept { return memory_; }

 private:
  struct Construct {};
  struct Attach {};

  template <class... Args>
  SharedObject(Construct, SharedMemory memory, Args&&... args) : memory_(std::move(memory)) {
    auto* header = new (memory_.data()) SegmentHeader{};
    header->magic = kSegmentMagic;
    header->layout_version = detail::layout_version<T>();
    header->object_align = alignof(T);
    header->object_size = sizeof(T);
    object_ = new (memory_.data() + detail::object_offset<T>()) T(std::forward<Args>(args)...);
    // release: publishes the header fields and T to openers (see A).
    header->state.store(SegmentHeader::kReady, std::memory_order_release);
  }

  SharedObject(Attach, SharedMemory memory)
      : memory_(std::move(memory)),
        object_(std::launder(reinterpret_cast<T*>(memory_.data() + detail::object_offset<T>()))) {}

  static void check_header(const SegmentHeader& header, const std::string& name) {
    if (header.magic != kSegmentMagic) {
      throw LayoutMismatchError("SharedObject " + name + ": no mpkit header (bad magic)");
    }
    if (header.layout_version != detail::layout_version<T>()) {
      throw LayoutMismatchError("SharedObject " + name + ": layout version " +
                                std::to_string(header.layout_version) + ", this code expects " +
                                std::to_string(detail::layout_version<T>()));
    }
    if (header.object_size != sizeof(T) || header.object_align != alignof(T)) {
      throw LayoutMismatchError("SharedObject " + name + ": object of " +
                                std::to_string(header.object_size) + " bytes, this code expects " +
                                std::to_string(sizeof(T)));
    }
  }

  SharedMemory memory_;
  T* object_ = nullptr;
};

}  // namespace mpkit
