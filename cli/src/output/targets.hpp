#pragma once

// What every target line of the commands shares: the verdict word it ends
// with, and the best of a set of variants that a ratio is taken against
// ("mpkit-mutex vs the fastest non-robust sleeping mutex"). Words only; the
// figures come from the rows.

#include <optional>
#include <string_view>

namespace mpkit::cli {

/// "met" or "MISSED".
[[nodiscard]] std::string_view verdict(bool met) noexcept;

/// One variant and its figure.
struct Best {
  std::string_view name;
  double value = 0;
};

/// The variant of `names` with the highest value_of(name) (the lowest, with
/// `lower_is_better`); names whose value_of is nullopt are passed over; the
/// first of equal values wins. nullopt when no name has a value.
template <class Names, class ValueOf>
[[nodiscard]] std::optional<Best> best_of(const Names& names, ValueOf&& value_of,
                                          bool lower_is_better = false) {
  std::optional<Best> best;
  for (const std::string_view name : names) {
    const std::optional<double> value = value_of(name);
    if (value && (!best || (lower_is_better ? *value < best->value : *value > best->value))) {
      best = Best{name, *value};
    }
  }
  return best;
}

}  // namespace mpkit::cli
