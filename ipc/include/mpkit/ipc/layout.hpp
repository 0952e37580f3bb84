#pragma once

// Layout constants for everything placed in shared memory (ARCHITECTURE.md rule 2).

#include <cstddef>

namespace mpkit {

/// A fixed 64 bytes, not std::hardware_destructive_interference_size: the
/// layout of a shared segment must not change with compiler flags, or two
/// binaries built differently would disagree about where a field lies.
inline constexpr std::size_t kCacheLineSize = 64;

}  // namespace mpkit
