#pragma once

// The segment under every SharedArray and SharedMatrix: a checked header,
// then the elements. Users normally see it only through those two types.
//
// Layout of the segment (one SharedMemory mapping, anonymous or named):
//   [0, 64)              ArrayHeader: magic, layout version, element size /
//                        alignment / kind, rank, rows, cols, data offset,
//                        state
//   [data_offset, ...)   rows * cols elements, row-major, data_offset =
//                        max(64, alignof(T)): elements start on their own
//                        cache line, never sharing one with the header.
//
// Protocol (named segments; anonymous ones follow it too, trivially):
//   - The creator maps a fresh zero-filled segment (SharedMemory, which
//     checks the size against /dev/shm and MemAvailable first), writes every
//     header field, then publishes state = kReady with a release store.
//   - An opener maps the segment, waits (bounded by a timeout) for state ==
//     kReady with acquire loads, then checks magic, layout version, rank,
//     element size / alignment / kind, the dimensions it expects (if it
//     names them), and that the segment is long enough for them. Any
//     mismatch is LayoutMismatchError naming both sides.
//   - Nobody writes the header after kReady: the elements are the caller's,
//     and their sharing protocol is the caller's too (a forked worker writing
//     its own rows, say).
//   - Unlinking is SharedMemory's: only the creating process, on destruction
//     or remove(); a forked child or an attached process never unlinks.
//
// Cache-line layout: the header is one line; element 0 starts on the next.
// Memory ordering: `state` is published with release by the creator and
// read with acquire by openers; every other header field is written before
// that release and never again.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/shared_object.hpp"  // LayoutMismatchError

namespace mpkit {

/// "mpkitarr": the first word of every array segment.
inline constexpr std::uint64_t kArrayMagic = 0x6d706b69'74617272;
/// Bumped whenever ArrayHeader changes.
inline constexpr std::uint32_t kArrayLayoutVersion = 1;

/// What a 4 KiB page costs to fault in is the unit pre-faulting works in.
inline constexpr std::size_t kPageSize = 4096;

/// How to fault every page of an array in before it is used (see
/// SharedArray::prefault). Each moves the first-touch cost (about 3 µs per
/// 4 KiB page of shared memory on this VM, ARCHITECTURE.md machine notes) to a moment of the
/// caller's choosing; only the parallel ones can shorten it.
enum class Prefault {
  /// madvise(MADV_POPULATE_WRITE) — MADV_POPULATE_READ for a read-only
  /// attach — in the caller: the kernel allocates every page and maps it
  /// into the caller's page tables (what MAP_POPULATE does at mmap time).
  kPopulate,
  /// `workers` threads of the caller each write-touch a contiguous share of
  /// the pages (an atomic `or 0` per page: contents are kept even under
  /// concurrent writers). Pages land in the caller's page tables.
  kTouchThreads,
  /// `workers` forked processes do the same. Pages are allocated, but the
  /// caller's own page tables stay empty: its first access to each page is
  /// still a minor fault (cheaper: ~1.1 µs here). What a pool's workers get
  /// when they touch their own rows.
  kTouchProcesses,
};

enum class ElementKind : std::uint32_t { kOther = 0, kSigned = 1, kUnsigned = 2, kFloating = 3 };

/// What the header records about the element type.
struct ElementInfo {
  std::uint32_t size;
  std::uint32_t align;
  ElementKind kind;
};

template <class T>
[[nodiscard]] constexpr ElementInfo element_info_of() noexcept {
  using U = std::remove_cv_t<T>;
  ElementKind kind = ElementKind::kOther;
  if constexpr (std::is_floating_point_v<U>) {
    kind = ElementKind::kFloating;
  } else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
    kind = ElementKind::kSigned;
  } else if constexpr (std::is_integral_v<U>) {
    kind = ElementKind::kUnsigned;
  }
  return {static_cast<std::uint32_t>(sizeof(U)), static_cast<std::uint32_t>(alignof(U)), kind};
}

struct ArrayHeader {
  static constexpr std::uint32_t kConstructing = 0;
  static constexpr std::uint32_t kReady = 1;

  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t rank;  ///< 1: SharedArray, 2: SharedMatrix
  std::uint32_t element_size;
  std::uint32_t element_align;
  std::uint32_t element_kind;  ///< an ElementKind
  std::atomic<std::uint32_t> state;
  std::uint64_t rows;  ///< 1 for a SharedArray
  std::uint64_t cols;  ///< the length of a SharedArray
  std::uint64_t data_offset;
};
static_assert(std::is_standard_layout_v<ArrayHeader>, "ArrayHeader lives in shared memory");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "state is read across processes");
static_assert(sizeof(ArrayHeader) <= kCacheLineSize, "the header fits one cache line");

namespace shared_arrays::detail {

/// Where element 0 starts for elements aligned to `align`.
[[nodiscard]] constexpr std::size_t data_offset_for(std::size_t align) noexcept {
  return align > kCacheLineSize ? align : kCacheLineSize;
}

/// The dimensions of an array: rank 1 has rows == 1.
struct Shape {
  std::uint32_t rank;
  std::uint64_t rows;
  std::uint64_t cols;
};

/// The untyped segment behind SharedArray<T> and SharedMatrix<T>; `type` is
/// the user-facing type name used in every message ("SharedMatrix").
class ArraySegment {
 public:
  /// Throws std::invalid_argument naming the zero dimension ("size" for rank
  /// 1, "rows"/"cols" for rank 2) or the overflowing product; whatever
  /// SharedMemory::anonymous throws (ENOMEM: does not fit in memory).
  [[nodiscard]] static ArraySegment anonymous(const char* type, ElementInfo element, Shape shape);
  /// As anonymous, in a new named segment (EEXIST if taken; ENOSPC if it
  /// does not fit in /dev/shm).
  [[nodiscard]] static ArraySegment create(const char* type, const SegmentName& name,
                                           ElementInfo element, Shape shape);
  /// Attaches to a segment another process created. `expected` (rank must
  /// match `rank`) names dimensions the caller requires. Throws
  /// std::system_error (ENOENT: no such segment; ETIMEDOUT: never became
  /// ready) or LayoutMismatchError.
  [[nodiscard]] static ArraySegment open(const char* type, const SegmentName& name,
                                         ElementInfo element, std::uint32_t rank, Access access,
                                         std::optional<Shape> expected,
                                         std::chrono::milliseconds ready_timeout);

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::uint64_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::uint64_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::size_t data_bytes() const noexcept { return data_bytes_; }
  [[nodiscard]] const SharedMemory& memory() const noexcept { return memory_; }
  bool remove() noexcept { return memory_.remove(); }

  /// Faults every page of the segment in (see Prefault). `workers` >= 1 for
  /// the touch methods. Throws std::invalid_argument for workers == 0,
  /// std::system_error if madvise, fork or a worker fails.
  void prefault(Prefault how, unsigned workers) const;

 private:
  ArraySegment(SharedMemory memory, std::uint64_t rows, std::uint64_t cols, std::size_t data_bytes);

  SharedMemory memory_;
  std::byte* data_ = nullptr;
  std::uint64_t rows_ = 0;
  std::uint64_t cols_ = 0;
  std::size_t data_bytes_ = 0;
};

}  // namespace shared_arrays::detail
}  // namespace mpkit
