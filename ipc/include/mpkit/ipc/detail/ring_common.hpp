#pragma once

// Pieces shared by SpscRing and MpmcRing (spsc_ring.hpp, mpmc_ring.hpp):
// capacity checking, the segment header fields, and the layout of a ring's
// shared segment (control block, then slots).
//
// Why a power of two: a slot index is `position & mask`, one AND instead of a
// division on every push and pop. A requested capacity is rounded UP to the
// next power of two (capacity() reports the rounded value), so a user asking
// for 1000 gets room for 1024, never less than asked.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"

namespace mpkit::detail {

/// "mpkitrng": the first word of every ring's control block.
inline constexpr std::uint64_t kRingMagic = 0x6d706b69'74726e67;

/// The largest capacity a ring accepts: 2^31 slots. Positions are 64-bit and
/// never wrap in practice (2^64 items at 10^9/s is 584 years).
inline constexpr std::size_t kMaxRingCapacity = std::size_t{1} << 31;

/// Checks `capacity` and rounds it up to a power of two, and to at least
/// `minimum` (a power of two). Throws std::invalid_argument naming the
/// argument for 0 or > kMaxRingCapacity.
[[nodiscard]] inline std::size_t ring_capacity(const char* type, std::size_t capacity,
                                               std::size_t minimum = 1) {
  if (capacity == 0) {
    throw_invalid_argument(std::string(type) + ": capacity must be > 0 (got 0)");
  }
  if (capacity > kMaxRingCapacity) {
    throw_invalid_argument(std::string(type) + ": capacity must be <= " +
                           std::to_string(kMaxRingCapacity) + " (got " + std::to_string(capacity) +
                           ")");
  }
  return std::bit_ceil(capacity < minimum ? minimum : capacity);
}

/// `offset` rounded up to a multiple of `align` (a power of two).
[[nodiscard]] constexpr std::size_t align_up(std::size_t offset, std::size_t align) noexcept {
  return (offset + align - 1) & ~(align - 1);
}

}  // namespace mpkit::detail
