#pragma once

// The flag registry: every shared-memory Flag backend of mpkit::ipc
// (flag.hpp) by the name `mpkit ipc` gives its flag rows, with its traits,
// for the flag experiment and the flag conformance suite (ARCHITECTURE.md,
// style habit 17). The Redis and Manager flags live in ipc/remote/, which
// this folder cannot see; mpkit/ipc/remote/backends.hpp appends them
// (AllFlagBackends).
//
//   LocalFlagBackends   a type list of the entries below, in row order
//   FlagInfo            what an entry is, at run time (the ipc README's flag
//                       backend table is this table, tested)
//   flag_infos(List{})  every entry's FlagInfo, in list order
//   visit_flag(List{}, name, fn)
//                       calls fn(std::type_identity<E>{}) for the entry named
//                       `name` and returns its result
//   FlagTypes<List>     the distinct Flag types of the entries (the types the
//                       conformance suite runs on)
//   flag_info_for<F>(List{})
//                       the first entry of that Flag type
//   make_flag<E>()      E's flag, created
//
// An entry is a small struct: `static constexpr FlagInfo kInfo;` and
// `using Flag = ...;`, plus, for a remote one, a static create(servers). One
// flag type may be measured two ways (futex polled, and futex-wait with the
// watcher asleep in wait_until). Adding a local backend is its entry here and
// one line in LocalFlagBackends; the experiment and the conformance suite
// pick it up (the suite does not compile until its Factory exists) and the
// README test fails until its row is there.
//
// Example
//   mpkit::visit_flag(mpkit::LocalFlagBackends{}, "futex", [&]<class E>(std::type_identity<E>) {
//     auto flag = mpkit::make_flag<E>();   // a FutexFlag
//     return measure(flag, E::kInfo);
//   });
//
// Throws: visit_flag: std::invalid_argument naming the unknown name and
// listing the known ones.

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/atomic_flag_counter.hpp"
#include "mpkit/ipc/detail/registry.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/futex_flag.hpp"
#include "mpkit/ipc/raw_value_flag_counter.hpp"
#include "mpkit/ipc/type_list.hpp"
#include "mpkit/ipc/value_flag_counter.hpp"

namespace mpkit {

/// What is_set(), the call a worker polls, costs.
enum class FlagPoll {
  kLoad,        ///< one load from shared memory
  kLockedLoad,  ///< lock + load + unlock of a robust Mutex
  kRoundTrip,   ///< a request to a server and its answer
};

[[nodiscard]] constexpr std::string_view to_string(FlagPoll poll) noexcept {
  switch (poll) {
    case FlagPoll::kLoad:
      return "one load";
    case FlagPoll::kLockedLoad:
      return "lock + load + unlock";
    case FlagPoll::kRoundTrip:
      return "round trip";
  }
  return "?";
}

/// What a flag backend is, at run time. Every entry states every field.
struct FlagInfo {
  std::string_view name;  ///< the variant name of `mpkit ipc` flag rows
  std::string_view type;  ///< the flag type
  FlagPoll poll;          ///< what is_set() costs
  bool watcher_sleeps;    ///< the experiment's watcher sleeps in wait_until instead of polling

  /// A server round trip per call: the experiment polls remote_polls times, not polls.
  [[nodiscard]] constexpr bool remote() const noexcept { return poll == FlagPoll::kRoundTrip; }
};

/// A registry entry: kInfo, and a Flag type.
template <class E>
concept FlagBackend = std::convertible_to<decltype(E::kInfo), FlagInfo> && Flag<typename E::Flag>;

// ---- the entries, in row order ---------------------------------------------

/// std::atomic<uint8_t>, an acquire load per poll.
struct AtomicFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "atomic", .type = "AtomicFlag", .poll = FlagPoll::kLoad, .watcher_sleeps = false};
  using Flag = AtomicFlag;
};

/// A plain byte, relaxed loads (mp.RawValue).
struct RawValueFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "rawvalue", .type = "RawValueFlag", .poll = FlagPoll::kLoad, .watcher_sleeps = false};
  using Flag = RawValueFlag;
};

/// A byte behind a robust Mutex (mp.Value).
struct ValueFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "value", .type = "ValueFlag", .poll = FlagPoll::kLockedLoad, .watcher_sleeps = false};
  using Flag = ValueFlag;
};

/// FutexFlag polled with is_set().
struct FutexFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "futex", .type = "FutexFlag", .poll = FlagPoll::kLoad, .watcher_sleeps = false};
  using Flag = FutexFlag;
};

/// FutexFlag with the watcher asleep in wait_until: a wake-up, not a poll.
struct FutexWaitFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "futex-wait", .type = "FutexFlag", .poll = FlagPoll::kLoad, .watcher_sleeps = true};
  using Flag = FutexFlag;
};

/// Every local flag backend, in row order.
using LocalFlagBackends = TypeList<AtomicFlagBackend, RawValueFlagBackend, ValueFlagBackend,
                                   FutexFlagBackend, FutexWaitFlagBackend>;

// ---- the registry ------------------------------------------------------------

namespace detail {

template <class E>
constexpr bool flag_entry_valid() {
  static_assert(FlagBackend<E>, "an entry has kInfo and a Flag type that models Flag");
  static_assert(!E::kInfo.watcher_sleeps || WaitableFlag<typename E::Flag>,
                "a watcher can sleep only on a WaitableFlag");
  return true;
}

template <class... Es>
constexpr bool flag_entries_valid(TypeList<Es...> list) {
  return (flag_entry_valid<Es>() && ...) && names_unique(list);
}

}  // namespace detail

/// Every entry's FlagInfo, in list order.
template <class... Es>
constexpr std::array<FlagInfo, sizeof...(Es)> flag_infos(TypeList<Es...> list) {
  static_assert(detail::flag_entries_valid(TypeList<Es...>{}), "flag backend names are unique");
  return detail::infos_of<FlagInfo>(list);
}

/// Calls fn(std::type_identity<E>{}) for the entry of `list` named `name`.
/// Throws: std::invalid_argument for an unknown name; whatever fn throws.
template <class List, class F>
decltype(auto) visit_flag(List list, std::string_view name, F&& fn) {
  return detail::visit_named("flag backend", list, name, fn);
}

namespace detail {
template <class List>
struct FlagTypesOf;
template <class... Es>
struct FlagTypesOf<TypeList<Es...>> {
  using type = DistinctTypes<TypeList<typename Es::Flag...>>;
};
}  // namespace detail

/// The distinct Flag types of the entries of `List`, in list order.
template <class List>
using FlagTypes = typename detail::FlagTypesOf<List>::type;

/// The FlagInfo of the first entry of `list` whose Flag is F.
template <class F, class... Es>
constexpr FlagInfo flag_info_for(TypeList<Es...> /*list*/) {
  static_assert((std::is_same_v<F, typename Es::Flag> || ...), "F is the Flag of no entry");
  constexpr std::array<bool, sizeof...(Es)> kIsF{std::is_same_v<F, typename Es::Flag>...};
  constexpr std::array<FlagInfo, sizeof...(Es)> kInfos{Es::kInfo...};
  for (std::size_t i = 0; i < kIsF.size(); ++i) {
    if (kIsF[i]) return kInfos[i];
  }
  return kInfos[0];  // not reached: the static_assert holds
}

/// E's flag, created (clear). A remote entry needs its servers: make_flag of
/// mpkit/ipc/remote/backends.hpp.
template <FlagBackend E>
[[nodiscard]] typename E::Flag make_flag() {
  static_assert(!E::kInfo.remote(),
                "a remote backend is made with its servers (ipc/remote/backends.hpp)");
  return E::Flag::create();
}

static_assert(flag_infos(LocalFlagBackends{}).size() == LocalFlagBackends::kSize);

}  // namespace mpkit
