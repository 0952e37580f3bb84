#pragma once

// SharedMemory: a mapping several processes see, anonymous or named.
//
// - Anonymous (SharedMemory::anonymous): MAP_SHARED|MAP_ANONYMOUS. Children
//   forked after creation inherit it at the same address. It has no name, so
//   it cannot leak; the kernel frees it when the last process unmaps it.
//   Prefer it whenever the sharing processes are forked from one parent.
// - Named (SharedMemory::named): POSIX shm in /dev/shm, opened by name from any
//   process, including an unrelated one started with exec. Created with the
//   tags create_only / open_only / open_or_create. The process that created
//   the segment unlinks it on destruction (a forked child holding a copy of
//   the object never does); remove() unlinks early, as soon as every party
//   has attached. Names are SegmentName ("/mpkit.<pid>.<tag>").
//
// Sizes are checked before anything is mapped: a size that /dev/shm (named)
// or the available RAM (both) cannot hold throws std::system_error(ENOMEM or
// ENOSPC) naming the size and the limit. A mapping larger than its backing
// store would otherwise die later with SIGBUS on first touch (the book's
// "Bus error").
//
// Contract
//   Requires: size > 0 when creating.
//   Throws: std::invalid_argument for a zero size; std::system_error
//           (errno + what was attempted, e.g. "shm_open /mpkit.12.3") for
//           every failed system call; open_only on a missing name gives ENOENT.
//   Thread safety: a SharedMemory object is not synchronised; the bytes it
//           maps are shared and need the caller's own protocol.
//
// Example
//   auto shm = mpkit::SharedMemory::anonymous(1 << 20);
//   auto* counter = shm.as<std::atomic<long>>();   // visible to forked children
//   auto named = mpkit::SharedMemory::named(mpkit::create_only,
//                                           mpkit::SegmentName::with_tag("jobs"), 4096);

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "mpkit/ipc/segment_name.hpp"

namespace mpkit {

struct CreateOnly {};
struct OpenOnly {};
struct OpenOrCreate {};
inline constexpr CreateOnly create_only{};
inline constexpr OpenOnly open_only{};
inline constexpr OpenOrCreate open_or_create{};

enum class Access { kReadWrite, kReadOnly };

/// Bytes that can still be placed in shared memory: min(free space in
/// /dev/shm, MemAvailable) for named segments, MemAvailable for anonymous.
struct ShmCapacity {
  std::uint64_t dev_shm_free_bytes;
  std::uint64_t mem_available_bytes;
};
[[nodiscard]] ShmCapacity shm_capacity();

class SharedMemory {
 public:
  /// Anonymous shared mapping of `size` bytes, zero-filled.
  [[nodiscard]] static SharedMemory anonymous(std::size_t size);

  /// Creates a new named segment of `size` bytes (zero-filled); fails with
  /// EEXIST if the name is taken.
  [[nodiscard]] static SharedMemory named(CreateOnly, const SegmentName& name, std::size_t size);
  /// Attaches to an existing named segment; its size is the segment's.
  [[nodiscard]] static SharedMemory named(OpenOnly, const SegmentName& name,
                                          Access access = Access::kReadWrite);
  /// Attaches, or creates with `size` bytes if missing (is_creator() tells).
  [[nodiscard]] static SharedMemory named(OpenOrCreate, const SegmentName& name, std::size_t size);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  /// Unmaps; the creator of a named segment also unlinks it. Never throws.
  ~SharedMemory();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] bool is_named() const noexcept { return name_.has_value(); }
  [[nodiscard]] const std::optional<SegmentName>& name() const noexcept { return name_; }
  /// True if this object created the named segment (and will unlink it).
  [[nodiscard]] bool is_creator() const noexcept { return creator_pid_ != 0; }
  [[nodiscard]] Access access() const noexcept { return access_; }

  /// The mapping viewed as a T at `offset` (no construction, no checks beyond
  /// alignment and bounds, asserted in debug builds).
  template <class T>
  [[nodiscard]] T* as(std::size_t offset = 0) const noexcept {
    return reinterpret_cast<T*>(data_ + offset);
  }

  /// Unlinks the name now (idempotent); the mapping stays valid. Only the
  /// creator may unlink: for others this is a no-op returning false.
  bool remove() noexcept;

 private:
  SharedMemory(std::byte* data, std::size_t size, std::optional<SegmentName> name,
               pid_t creator_pid, Access access) noexcept;
  void release() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::optional<SegmentName> name_;
  pid_t creator_pid_ = 0;  // pid that must unlink; 0: not ours to unlink
  Access access_ = Access::kReadWrite;
};

}  // namespace mpkit
