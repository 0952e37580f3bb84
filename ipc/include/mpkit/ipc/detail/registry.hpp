#pragma once

// What the queue and flag registries share: look-up by name over a TypeList
// of entries that each carry `static constexpr Info kInfo` with a `name`.
// Internal to queue_registry.hpp and flag_registry.hpp.

#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/type_list.hpp"

namespace mpkit::detail {

/// Every entry's kInfo, in list order.
template <class Info, class... Es>
constexpr std::array<Info, sizeof...(Es)> infos_of(TypeList<Es...> /*list*/) {
  return {Es::kInfo...};
}

/// Every entry's name, in list order.
template <class... Es>
constexpr std::array<std::string_view, sizeof...(Es)> names_of(TypeList<Es...> /*list*/) {
  return {Es::kInfo.name...};
}

template <class List>
constexpr bool names_unique(List list) {
  const auto names = names_of(list);
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t j = i + 1; j < names.size(); ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}

/// The info named `name`, or nullptr.
template <class Info, std::size_t N>
constexpr const Info* find_named(const std::array<Info, N>& infos, std::string_view name) noexcept {
  for (const Info& info : infos) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

/// Throws std::invalid_argument: `<family>: unknown <family> "<name>" (known: a, b, ...)`.
[[noreturn]] void throw_unknown_name(std::string_view family, std::string_view name,
                                     std::span<const std::string_view> known);

template <class F, class First, class... Rest>
decltype(auto) visit_in(std::string_view family, std::span<const std::string_view> known,
                        std::string_view name, F& fn, TypeList<First, Rest...> /*list*/) {
  using Result = std::invoke_result_t<F&, std::type_identity<First>>;
  static_assert((std::is_same_v<Result, std::invoke_result_t<F&, std::type_identity<Rest>>> && ...),
                "a registry visitor must return the same type for every entry");
  if (name == First::kInfo.name) return fn(std::type_identity<First>{});
  if constexpr (sizeof...(Rest) == 0) {
    throw_unknown_name(family, name, known);
  } else {
    return visit_in(family, known, name, fn, TypeList<Rest...>{});
  }
}

/// Calls fn(std::type_identity<E>{}) for the entry of `list` named `name`.
template <class List, class F>
decltype(auto) visit_named(std::string_view family, List list, std::string_view name, F&& fn) {
  static constexpr auto kNames = names_of(List{});
  return visit_in(family, kNames, name, fn, list);
}

}  // namespace mpkit::detail
