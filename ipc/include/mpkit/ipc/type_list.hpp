#pragma once

// TypeList: the compile-time list every registry of mpkit is (the queue and
// flag registries here, the lock registry of locking/), and the few
// operations on it the registries need.
//
//   TypeList<Ts...>             the list; kSize elements
//   ConcatTypeLists<Ls...>      the elements of every list, in order
//   DistinctTypes<L>            L without repeats (the first of each stays)
//   for_each_type(L{}, fn)      fn(std::type_identity<T>{}) for each T, in order
//
// Example
//   using Mine = mpkit::ConcatTypeLists<mpkit::TypeList<int>, mpkit::TypeList<long, int>>;
//   static_assert(std::is_same_v<mpkit::DistinctTypes<Mine>, mpkit::TypeList<int, long>>);

#include <cstddef>
#include <type_traits>

namespace mpkit {

template <class... Ts>
struct TypeList {
  static constexpr std::size_t kSize = sizeof...(Ts);
};

namespace detail {

template <class... Lists>
struct Concat;
template <>
struct Concat<> {
  using type = TypeList<>;
};
template <class... Ts>
struct Concat<TypeList<Ts...>> {
  using type = TypeList<Ts...>;
};
template <class... As, class... Bs, class... Rest>
struct Concat<TypeList<As...>, TypeList<Bs...>, Rest...> {
  using type = typename Concat<TypeList<As..., Bs...>, Rest...>::type;
};

template <class Kept, class Left>
struct Distinct;
template <class... Kept>
struct Distinct<TypeList<Kept...>, TypeList<>> {
  using type = TypeList<Kept...>;
};
template <class... Kept, class First, class... Rest>
struct Distinct<TypeList<Kept...>, TypeList<First, Rest...>> {
  using type = typename Distinct<std::conditional_t<(std::is_same_v<First, Kept> || ...),
                                                    TypeList<Kept...>, TypeList<Kept..., First>>,
                                 TypeList<Rest...>>::type;
};

}  // namespace detail

/// The elements of every list, in order.
template <class... Lists>
using ConcatTypeLists = typename detail::Concat<Lists...>::type;

/// The list without repeats; the first occurrence of each type stays.
template <class List>
using DistinctTypes = typename detail::Distinct<TypeList<>, List>::type;

/// Calls fn(std::type_identity<T>{}) for every T of the list, in order.
template <class... Ts, class F>
constexpr void for_each_type(TypeList<Ts...> /*list*/, F&& fn) {
  (fn(std::type_identity<Ts>{}), ...);
}

}  // namespace mpkit
