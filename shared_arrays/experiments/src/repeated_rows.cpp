#include "mpkit/shared_arrays/experiments/repeated_rows.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>

#include "mpkit/ipc/error.hpp"

namespace mpkit {

std::uint64_t count_repeated_rows(const double* cells, std::size_t rows, std::size_t cols) {
  if (cols == 0) throw_invalid_argument("count_repeated_rows: cols must be > 0 (got 0)");
  const std::size_t row_bytes = cols * sizeof(double);
  std::unordered_multimap<std::size_t, std::size_t> seen;  // hash -> first row with it
  seen.reserve(rows);
  std::uint64_t repeated = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const char* bytes = reinterpret_cast<const char*>(cells + r * cols);
    const std::size_t hash = std::hash<std::string_view>{}(std::string_view(bytes, row_bytes));
    const auto [first, last] = seen.equal_range(hash);
    const bool again = std::any_of(first, last, [&](const auto& entry) {
      return std::memcmp(reinterpret_cast<const char*>(cells + entry.second * cols), bytes,
                         row_bytes) == 0;
    });
    if (again) {
      ++repeated;
    } else {
      seen.emplace(hash, r);
    }
  }
  return repeated;
}

}  // namespace mpkit
