// The vector kernel: Philox4x32-10 for kLanes consecutive calls side by
// side, in structure-of-arrays form (one array per counter word), so every
// round is a handful of whole-array operations the compiler turns into SIMD
// (this file is built with -O3; see pi/CMakeLists.txt). The 32x32->64
// multiplies become vpmuludq. Same words, same arithmetic as the scalar
// kernel, hence the same count.

#include <array>
#include <cstdint>

#include "mpkit/pi/kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define MPKIT_PI_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MPKIT_PI_CLONES
#endif

namespace mpkit {
namespace {

constexpr std::uint32_t kLanes = 128;  // Philox calls per block: 256 darts
constexpr std::uint32_t kM0 = 0xD2511F53;
constexpr std::uint32_t kM1 = 0xCD9E8D57;
constexpr std::uint32_t kW0 = 0x9E3779B9;
constexpr std::uint32_t kW1 = 0xBB67AE85;

// w * 2^-32, through a signed conversion (AVX2 has int32 -> double but no
// uint32 -> double): (w - 2^31) as int32, plus 2^31, is exact, so the value
// is the scalar kernel's.
inline double to_unit(std::uint32_t w) noexcept {
  return (static_cast<double>(static_cast<std::int32_t>(w ^ 0x80000000U)) + 0x1p31) * 0x1p-32;
}

// Darts inside among the 2 * kLanes darts of calls first .. first + kLanes - 1.
// One loop over the lanes with the ten rounds unrolled inside it: the
// compiler vectorises the lane loop, so the counter words stay in registers.
MPKIT_PI_CLONES std::uint64_t block_inside(StreamId id, std::uint64_t first) noexcept {
  std::array<std::uint32_t, 10> k0{};
  std::array<std::uint32_t, 10> k1{};
  k0[0] = static_cast<std::uint32_t>(id.seed);
  k1[0] = static_cast<std::uint32_t>(id.seed >> 32);
  for (std::size_t r = 1; r < 10; ++r) {
    k0[r] = k0[r - 1] + kW0;
    k1[r] = k1[r - 1] + kW1;
  }
  const auto s_lo = static_cast<std::uint32_t>(id.stream);
  const auto s_hi = static_cast<std::uint32_t>(id.stream >> 32);
  const auto f_lo = static_cast<std::uint32_t>(first);
  const auto f_hi = static_cast<std::uint32_t>(first >> 32);
  std::int64_t inside = 0;
  for (std::uint32_t i = 0; i < kLanes; ++i) {
    // first is a multiple of kLanes, so first + i never carries into the high word.
    std::uint32_t c0 = f_lo + i;
    std::uint32_t c1 = f_hi;
    std::uint32_t c2 = s_lo;
    std::uint32_t c3 = s_hi;
    for (std::size_t r = 0; r < 10; ++r) {
      const std::uint64_t p0 = std::uint64_t{kM0} * c0;
      const std::uint64_t p1 = std::uint64_t{kM1} * c2;
      c0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0[r];
      c1 = static_cast<std::uint32_t>(p1);
      c2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1[r];
      c3 = static_cast<std::uint32_t>(p0);
    }
    const double x0 = to_unit(c0);
    const double y0 = to_unit(c1);
    const double x1 = to_unit(c2);
    const double y1 = to_unit(c3);
    inside += static_cast<std::int64_t>(x0 * x0 + y0 * y0 <= 1.0);
    inside += static_cast<std::int64_t>(x1 * x1 + y1 * y1 <= 1.0);
  }
  return static_cast<std::uint64_t>(inside);
}

}  // namespace

std::uint64_t count_inside_vector(StreamId id, std::uint64_t darts) noexcept {
  const std::uint64_t calls = darts / 2;
  const std::uint64_t blocks = calls / kLanes;
  std::uint64_t inside = 0;
  for (std::uint64_t k = 0; k < blocks; ++k) inside += block_inside(id, k * kLanes);
  // The tail (fewer than 2 * kLanes darts) one dart at a time, from the same words.
  DartStream stream(id, blocks * kLanes);
  for (std::uint64_t i = blocks * kLanes * 2; i < darts; ++i) {
    const double x = stream.uniform();
    const double y = stream.uniform();
    if (x * x + y * y <= 1.0) ++inside;
  }
  return inside;
}

std::string_view vector_kernel_target() noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
  return "baseline";
}

}  // namespace mpkit
