#include "mpkit/pi/stream.hpp"

#include <Random123/philox.h>

namespace mpkit {

std::array<std::uint32_t, 4> philox_call(StreamId id, std::uint64_t n) noexcept {
  const r123::Philox4x32::ctr_type counter = {{static_cast<std::uint32_t>(n),
                                               static_cast<std::uint32_t>(n >> 32),
                                               static_cast<std::uint32_t>(id.stream),
                                               static_cast<std::uint32_t>(id.stream >> 32)}};
  const r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(id.seed), static_cast<std::uint32_t>(id.seed >> 32)}};
  const r123::Philox4x32::ctr_type out = r123::Philox4x32()(counter, key);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace mpkit
