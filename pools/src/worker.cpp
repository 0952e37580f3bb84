#include "mpkit/pools/worker.hpp"

#include <stdexcept>

#include "pool_shared.hpp"

namespace mpkit {
namespace {
thread_local int t_worker_index = -1;
}  // namespace

int this_worker_index() noexcept { return t_worker_index; }

std::mt19937_64 stream_engine(std::uint64_t seed, std::uint64_t stream) {
  std::seed_seq sequence{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(stream),
                         static_cast<std::uint32_t>(stream >> 32)};
  return std::mt19937_64(sequence);
}

std::mt19937_64 worker_stream(std::uint64_t seed) {
  const int index = this_worker_index();
  if (index < 0) {
    throw std::logic_error(
        "mpkit::worker_stream: called outside a pool's worker (use stream_engine(seed, n))");
  }
  return stream_engine(seed, static_cast<std::uint64_t>(index));
}

namespace pools::detail {
void set_this_worker_index(int index) noexcept { t_worker_index = index; }
}  // namespace pools::detail

}  // namespace mpkit
