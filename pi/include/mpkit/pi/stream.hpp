#pragma once

// Counter-based random streams for Monte Carlo darts: Philox4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
// Random123's philox4x32).
//
// Design
//   A stream is a pair (seed, stream number). Call n of a stream is
//   philox4x32_10(counter = {n_lo, n_hi, stream_lo, stream_hi},
//                 key = {seed_lo, seed_hi}),
//   four 32-bit words. For a fixed key Philox is a bijection of the 128-bit
//   counter, and two streams' counters differ in their upper half, so two
//   streams of one seed never produce the same block: they are disjoint by
//   construction, not by luck. Nothing is copied from a parent's state: a
//   worker makes its stream from (seed, its index) alone (ARCHITECTURE.md
//   rule 7), and any position is reachable in O(1) (the counter is the
//   position), which is what lets the vector kernel compute 16 calls side by
//   side.
//
// Draws: word w of the stream is a uniform double w * 2^-32 in [0, 1)
//   (exact in a double). Dart i takes words 2i and 2i + 1 as (x, y).
//
// Thread safety: DartStream is a plain value, one thread at a time.
//
// Example
//   mpkit::DartStream stream({.seed = 42, .stream = worker_index});
//   const double x = stream.uniform(), y = stream.uniform();

#include <array>
#include <cstdint>

namespace mpkit {

/// Which stream: (seed, stream number).
struct StreamId {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
};

/// Call `n` of stream `id`: Philox4x32-10, bit for bit Random123's philox4x32.
[[nodiscard]] std::array<std::uint32_t, 4> philox_call(StreamId id, std::uint64_t n) noexcept;

/// The stream as a generator of uniform doubles in [0, 1), one word at a time.
class DartStream {
 public:
  /// Starts at word 4 * first_call of the stream.
  explicit DartStream(StreamId id, std::uint64_t first_call = 0) noexcept
      : id_(id), call_(first_call) {}

  /// The next 32-bit word.
  [[nodiscard]] std::uint32_t next_word() noexcept {
    if (used_ == 4) {
      block_ = philox_call(id_, call_++);
      used_ = 0;
    }
    return block_[used_++];
  }

  /// The next uniform double in [0, 1): next_word() * 2^-32.
  [[nodiscard]] double uniform() noexcept { return static_cast<double>(next_word()) * 0x1p-32; }

 private:
  StreamId id_;
  std::uint64_t call_;
  std::array<std::uint32_t, 4> block_{};
  unsigned used_ = 4;
};

}  // namespace mpkit
