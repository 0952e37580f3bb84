#pragma once

// SharedMatrix<T>: a rows x cols row-major matrix of trivially copyable T in
// shared memory — the chapter's numpy array shared by forked workers.
//
// Everything SharedArray<T> says holds here (shared_array.hpp): anonymous
// (inherited by fork) or named (create / open by name from an unrelated
// process); SharedMatrix<const T>::open attaches read-only (PROT_READ: a
// write through a cast dies by SIGSEGV); the header check refuses another
// element type or another shape with LayoutMismatchError naming both; sizes
// are checked before mapping (rows or cols 0, or an overflowing
// rows * cols * sizeof(T): std::invalid_argument naming it; too big for
// /dev/shm or RAM: std::system_error ENOSPC / ENOMEM, never SIGBUS).
//
// Who owns which word: the header is the creator's until published, then
// read-only. Elements are plain memory with no protocol of their own; the
// intended pattern is one writer per row (row(i) hands out a span), with the
// parent reading after it has reaped the writers (waitpid orders it).
//
// Cache-line layout: a 64-byte header, then element (0, 0) on the next line;
// rows follow each other without padding (a row boundary may fall inside a
// cache line: two processes writing adjacent rows may false-share that one
// line, which costs little next to a whole row).
// Memory ordering: none beyond the header's release/acquire publication.
//
// Contract
//   Requires: T trivially copyable, not volatile, alignof(T) <= 4096.
//   Guarantees: operator() and row() assert their indices in debug builds;
//             at() always checks (std::out_of_range naming index and bound).
//   Thread safety: the object is not synchronised; see above for elements.
//
// Example
//   auto m = mpkit::SharedMatrix<double>::anonymous(4, 1000);
//   m.fill(42);
//   std::vector<mpkit::Process> workers;
//   for (std::size_t r = 0; r < m.rows(); ++r)
//     workers.emplace_back([&m, r] { std::ranges::fill(m.row(r), double(getpid())); });

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
class SharedMatrix {
 public:
  using value_type = std::remove_const_t<T>;
  using element_type = T;
  /// True for SharedMatrix<const T>: attached read-only.
  static constexpr bool kReadOnly = std::is_const_v<T>;

  static_assert(std::is_trivially_copyable_v<value_type>,
                "SharedMatrix elements are shared as raw bytes: T must be trivially copyable");
  static_assert(!std::is_volatile_v<T>, "SharedMatrix<volatile T> is not supported");
  static_assert(alignof(value_type) <= kPageSize,
                "elements must not need more than page alignment");

  /// rows x cols zero-filled elements in an anonymous mapping.
  /// Throws std::invalid_argument ("SharedMatrix: rows must be > 0 (got 0)",
  /// cols likewise, or an overflowing byte count), std::system_error (ENOMEM).
  [[nodiscard]] static SharedMatrix anonymous(std::size_t rows,
                                              std::size_t cols) requires(!kReadOnly) {
    return SharedMatrix(shared_arrays::detail::ArraySegment::anonymous(
        "SharedMatrix", element_info_of<T>(), {2, rows, cols}));
  }

  /// The same in a new named segment (EEXIST if taken, ENOSPC if /dev/shm
  /// cannot hold it).
  [[nodiscard]] static SharedMatrix create(const SegmentName& name, std::size_t rows,
                                           std::size_t cols) requires(!kReadOnly) {
    return SharedMatrix(shared_arrays::detail::ArraySegment::create(
        "SharedMatrix", name, element_info_of<T>(), {2, rows, cols}));
  }

  /// Attaches to a matrix of any shape another process created (read-only
  /// for SharedMatrix<const T>). Throws std::system_error (ENOENT,
  /// ETIMEDOUT), LayoutMismatchError.
  [[nodiscard]] static SharedMatrix open(
      const SegmentName& name, std::chrono::milliseconds ready_timeout = std::chrono::seconds(5)) {
    return SharedMatrix(open_segment(name, std::nullopt, ready_timeout));
  }
  /// Attaches and requires exactly rows x cols (else LayoutMismatchError).
  [[nodiscard]] static SharedMatrix open(
      const SegmentName& name, std::size_t rows, std::size_t cols,
      std::chrono::milliseconds ready_timeout = std::chrono::seconds(5)) {
    return SharedMatrix(
        open_segment(name, shared_arrays::detail::Shape{2, rows, cols}, ready_timeout));
  }

  SharedMatrix(SharedMatrix&& other) noexcept
      : segment_(std::move(other.segment_)),
        data_(std::exchange(other.data_, nullptr)),
        rows_(std::exchange(other.rows_, 0)),
        cols_(std::exchange(other.cols_, 0)) {}
  SharedMatrix& operator=(SharedMatrix&& other) noexcept {
    segment_ = std::move(other.segment_);
    data_ = std::exchange(other.data_, nullptr);
    rows_ = std::exchange(other.rows_, 0);
    cols_ = std::exchange(other.cols_, 0);
    return *this;
  }
  SharedMatrix(const SharedMatrix&) = delete;
  SharedMatrix& operator=(const SharedMatrix&) = delete;
  ~SharedMatrix() = default;

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  /// rows() * cols().
  [[nodiscard]] std::size_t size() const noexcept { return rows_ * cols_; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return size() * sizeof(T); }
  [[nodiscard]] T* data() const noexcept { return data_; }
  /// Every element, row after row.
  [[nodiscard]] std::span<T> span() const noexcept { return {data_, size()}; }

  /// Row `r` (asserted `r < rows()` in debug builds).
  [[nodiscard]] std::span<T> row(std::size_t r) const noexcept {
    assert(r < rows_ && "SharedMatrix::row: row out of range");
    return {data_ + r * cols_, cols_};
  }
  /// Unchecked in release builds; asserts both indices in debug builds.
  [[nodiscard]] T& operator()(std::size_t r, std::size_t c) const noexcept {
    assert(r < rows_ && "SharedMatrix::operator(): row out of range");
    assert(c < cols_ && "SharedMatrix::operator(): col out of range");
    return data_[r * cols_ + c];
  }
  /// Always checked. Throws std::out_of_range naming the index and bound.
  [[nodiscard]] T& at(std::size_t r, std::size_t c) const {
    if (r >= rows_) {
      throw std::out_of_range("SharedMatrix::at: row " + std::to_string(r) + " >= rows " +
                              std::to_string(rows_));
    }
    if (c >= cols_) {
      throw std::out_of_range("SharedMatrix::at: col " + std::to_string(c) + " >= cols " +
                              std::to_string(cols_));
    }
    return data_[r * cols_ + c];
  }

  /// Stores `value` in every element.
  void fill(const value_type& value) const noexcept requires(!kReadOnly) {
    std::fill(data_, data_ + size(), value);
  }

  /// Faults every page in now (see Prefault). kTouchProcesses requires the
  /// caller has no threads of its own (ARCHITECTURE.md rule 3).
  void prefault(Prefault how = Prefault::kPopulate, unsigned workers = 2) const {
    segment_.prefault(how, workers);
  }

  [[nodiscard]] const SharedMemory& memory() const noexcept { return segment_.memory(); }
  [[nodiscard]] const std::optional<SegmentName>& name() const noexcept { return memory().name(); }
  [[nodiscard]] bool is_creator() const noexcept { return memory().is_creator(); }
  /// Unlinks the name now (creator only; the mapping stays valid).
  bool remove() noexcept { return segment_.remove(); }

 private:
  static shared_arrays::detail::ArraySegment open_segment(
      const SegmentName& name, std::optional<shared_arrays::detail::Shape> expected,
      std::chrono::milliseconds ready_timeout) {
    return shared_arrays::detail::ArraySegment::open(
        "SharedMatrix", name, element_info_of<T>(), 2,
        kReadOnly ? Access::kReadOnly : Access::kReadWrite, expected, ready_timeout);
  }

  explicit SharedMatrix(shared_arrays::detail::ArraySegment segment)
      : segment_(std::move(segment)),
        data_(std::launder(reinterpret_cast<T*>(segment_.data()))),
        rows_(segment_.rows()),
        cols_(segment_.cols()) {}

  shared_arrays::detail::ArraySegment segment_;
  T* data_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

}  // namespace mpkit
