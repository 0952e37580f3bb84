#include <cmath>
#include <numbers>

#include "mpkit/pi/kernels.hpp"

namespace mpkit {

std::string_view to_string(PiKernel kernel) noexcept {
  return kernel == PiKernel::kScalar ? "scalar" : "vector";
}

// The book's loop: two draws, one test, per dart.
std::uint64_t count_inside_scalar(StreamId id, std::uint64_t darts) noexcept {
  DartStream stream(id);
  std::uint64_t inside = 0;
  for (std::uint64_t i = 0; i < darts; ++i) {
    const double x = stream.uniform();
    const double y = stream.uniform();
    if (x * x + y * y <= 1.0) ++inside;
  }
  return inside;
}

std::uint64_t count_inside(PiKernel kernel, StreamId id, std::uint64_t darts) noexcept {
  return kernel == PiKernel::kScalar ? count_inside_scalar(id, darts)
                                     : count_inside_vector(id, darts);
}

double pi_estimate(std::uint64_t inside, std::uint64_t darts) noexcept {
  return 4.0 * static_cast<double>(inside) / static_cast<double>(darts);
}

double pi_standard_error(std::uint64_t darts) noexcept {
  constexpr double p = std::numbers::pi / 4;
  return 4.0 * std::sqrt(p * (1 - p) / static_cast<double>(darts));
}

}  // namespace mpkit
