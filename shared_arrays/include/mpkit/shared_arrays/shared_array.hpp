#pragma once

// SharedArray<T>: a 1-D array of trivially copyable T in shared memory.
//
// Who may call what:
//   - anonymous(n): MAP_SHARED|MAP_ANONYMOUS. Children forked afterwards see
//     the same elements at the same address; nothing can leak (no name).
//   - create(name, n): a named segment ("/mpkit.<pid>.<tag>") that an
//     unrelated process attaches to with open(name). The creating process
//     unlinks it on destruction or remove(); a forked child or an attached
//     process never does (SharedMemory's rule).
//   - SharedArray<T>::open(name) attaches read-write;
//     SharedArray<const T>::open(name) attaches read-only: the type then
//     offers const access only, and the mapping itself is PROT_READ, so a
//     write that casts constness away dies by SIGSEGV (tested).
//   Attaching checks the segment's header (array_segment.hpp): element size,
//   alignment and kind, rank, and the length if the caller names one; a
//   mismatch is LayoutMismatchError naming both sides.
//
// Who owns which word: the header belongs to the creator until it publishes
// it (see array_segment.hpp) and is read-only afterwards. The elements have
// no protocol of their own: plain loads and stores, shared by every process
// that maps them. Concurrent writers must write disjoint elements (a worker
// per range) or bring their own synchronisation; a reader sees another
// process's plain stores once something orders them, e.g. after it has
// reaped the writer (waitpid) or through a release/acquire flag.
//
// Sizes are checked before anything is mapped: size 0 and a byte count that
// overflows size_t are std::invalid_argument naming the argument; more than
// /dev/shm's free space (named) or MemAvailable is SharedMemory's
// std::system_error (ENOSPC / ENOMEM) — never the SIGBUS of an unbacked
// page on first touch.
//
// Cache-line layout: a 64-byte header, then element 0 on the next line.
// Memory ordering: none beyond the header's release/acquire publication;
// elements are plain memory.
//
// Contract
//   Requires: T trivially copyable, not volatile, alignof(T) <= 4096.
//   Guarantees: operator[] asserts the index in debug builds; at() always
//             checks and throws std::out_of_range. A moved-from array is
//             empty (size 0); a moved array keeps its address.
//   Throws: see each factory.
//   Thread safety: the object is not synchronised (one owner per thread);
//             the elements are shared memory, see above.
//
// Example
//   auto squares = mpkit::SharedArray<double>::anonymous(1000);
//   mpkit::Process child([&] { for (std::size_t i = 0; i < 1000; ++i) squares[i] = i * i; });
//   child.join();                       // squares[7] == 49 here

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "mpkit/shared_arrays/array_segment.hpp"

namespace mpkit {

template <class T>
class SharedArray {
 public:
  using value_type = std::remove_const_t<T>;
  using element_type = T;
  /// True for SharedArray<const T>: attached read-only.
  static constexpr bool kReadOnly = std::is_const_v<T>;

  static_assert(std::is_trivially_copyable_v<value_type>,
                "SharedArray elements are shared as raw bytes: T must be trivially copyable");
  static_assert(!std::is_volatile_v<T>, "SharedArray<volatile T> is not supported");
  static_assert(alignof(value_type) <= kPageSize,
                "elements must not need more than page alignment");

  /// `size` zero-filled elements in an anonymous mapping.
  /// Throws std::invalid_argument (size 0, byte count overflows),
  /// std::system_error (ENOMEM: does not fit in memory; mmap).
  [[nodiscard]] static SharedArray anonymous(std::size_t size) requires(!kReadOnly) {
    return SharedArray(shared_arrays::detail::ArraySegment::anonymous(
        "SharedArray", element_info_of<T>(), {1, 1, size}));
  }

  /// `size` zero-filled elements in a new named segment.
  /// Throws as anonymous, plus std::system_error EEXIST (name taken) and
  /// ENOSPC (does not fit in /dev/shm).
  [[nodiscard]] static SharedArray create(const SegmentName& name,
                                          std::size_t size) requires(!kReadOnly) {
    return SharedArray(shared_arrays::detail::ArraySegment::create(
        "SharedArray", name, element_info_of<T>(), {1, 1, size}));
  }

  /// Attaches to an array another process created (read-only for
  /// SharedArray<const T>); `expected_size`, if given, must match.
  /// Throws std::system_error (ENOENT: no such segment; ETIMEDOUT: its
  /// header was not published within `ready_timeout`), LayoutMismatchError.
  [[nodiscard]] static SharedArray open(
      const SegmentName& name, std::optional<std::size_t> expected_size = std::nullopt,
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(5)) {
    std::optional<shared_arrays::detail::Shape> expected;
    if (expected_size) expected = shared_arrays::detail::Shape{1, 1, *expected_size};
    return SharedArray(shared_arrays::detail::ArraySegment::open(
        "SharedArray", name, element_info_of<T>(), 1,
        kReadOnly ? Access::kReadOnly : Access::kReadWrite, expected, ready_timeout));
  }

  SharedArray(SharedArray&& other) noexcept
      : segment_(std::move(other.segment_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SharedArray& operator=(SharedArray&& other) noexcept {
    segment_ = std::move(other.segment_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;
  ~SharedArray() = default;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  [[nodiscard]] T* data() const noexcept { return data_; }
  [[nodiscard]] std::span<T> span() const noexcept { return {data_, size_}; }
  [[nodiscard]] T* begin() const noexcept { return data_; }
  [[nodiscard]] T* end() const noexcept { return data_ + size_; }

  /// Unchecked in release builds; asserts `i < size()` in debug builds.
  [[nodiscard]] T& operator[](std::size_t i) const noexcept {
    assert(i < size_ && "SharedArray::operator[]: index out of range");
    return data_[i];
  }
  /// Always checked. Throws std::out_of_range naming the index and size.
  [[nodiscard]] T& at(std::size_t i) const {
    if (i >= size_) {
      throw std::out_of_range("SharedArray::at: index " + std::to_string(i) + " >= size " +
                              std::to_string(size_));
    }
    return data_[i];
  }

  /// Stores `value` in every element.
  void fill(const value_type& value) const noexcept requires(!kReadOnly) {
    std::fill(data_, data_ + size_, value);
  }

  /// Faults every page in now (see Prefault; `workers` for the touch
  /// methods). Requires the caller has no threads of its own for
  /// kTouchProcesses (ARCHITECTURE.md rule 3).
  void prefault(Prefault how = Prefault::kPopulate, unsigned workers = 2) const {
    segment_.prefault(how, workers);
  }

  /// The mapping (for memory_of, names, sizes).
  [[nodiscard]] const SharedMemory& memory() const noexcept { return segment_.memory(); }
  [[nodiscard]] const std::optional<SegmentName>& name() const noexcept { return memory().name(); }
  /// True if this object created the named segment and will unlink it.
  [[nodiscard]] bool is_creator() const noexcept { return memory().is_creator(); }
  /// Unlinks the name now (creator only; the mapping stays valid).
  bool remove() noexcept { return segment_.remove(); }

 private:
  explicit SharedArray(shared_arrays::detail::ArraySegment segment)
      : segment_(std::move(segment)),
        data_(std::launder(reinterpret_cast<T*>(segment_.data()))),
        size_(segment_.cols()) {}

  shared_arrays::detail::ArraySegment segment_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace mpkit
