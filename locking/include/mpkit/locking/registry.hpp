#pragma once

// The lock registry: every lock of mpkit::locking by name, for the
// experiments (`mpkit contention --locks tas,mcs`), the benchmarks and the
// conformance suite.
//
//   AllLocks        a type list of every lock, in registry order
//   lock_infos()    name + traits of each, in the same order (the README's
//                   owner-death table is this table)
//   lock_names()    the names alone
//   visit_lock(name, fn)
//                   calls fn(std::type_identity<L>{}) for the lock named
//                   `name` and returns its result; every instantiation must
//                   return the same type.
//
// Example
//   double mops = mpkit::locking::visit_lock("ticket", [&]<class L>(std::type_identity<L>) {
//     return measure<L>(config);   // L = mpkit::locking::TicketLock
//   });
//
// Throws: visit_lock: std::invalid_argument naming the unknown name and
// listing the known ones.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/type_list.hpp"
#include "mpkit/locking/boost_ipc_lock.hpp"
#include "mpkit/locking/file_lock.hpp"
#include "mpkit/locking/lock.hpp"
#include "mpkit/locking/mcs_lock.hpp"
#include "mpkit/locking/mpkit_mutex.hpp"
#include "mpkit/locking/pthread_lock.hpp"
#include "mpkit/locking/semaphore_lock.hpp"
#include "mpkit/locking/tas_lock.hpp"
#include "mpkit/locking/ticket_lock.hpp"
#include "mpkit/locking/ttas_lock.hpp"

namespace mpkit::locking {

/// mpkit's one TypeList (mpkit/ipc/type_list.hpp), which the queue and flag
/// registries use too.
template <class... Ls>
using TypeList = mpkit::TypeList<Ls...>;

using AllLocks = TypeList<TasLock, TtasLock, TicketLock, McsLock<>, PthreadLock, RobustPthreadLock,
                          MpkitMutex, BoostIpcLock, SemaphoreLock, FlockLock, FcntlLock, OfdLock>;

/// What a lock is, at run time (the traits of lock.hpp).
struct LockInfo {
  std::string_view name;
  bool survives_owner_death;
  bool reports_owner_death;
  bool excludes_threads;
  bool valid_as_zero_bytes;
  bool sleeps;
  bool survives_waiter_death;
};

template <Lock L>
constexpr LockInfo info_of() {
  return {L::kName,           L::kSurvivesOwnerDeath, L::kReportsOwnerDeath,
          L::kExcludesThreads, L::kValidAsZeroBytes,   L::kSleeps,
          L::kSurvivesWaiterDeath};
}

namespace detail {

template <class... Ls>
constexpr std::array<LockInfo, sizeof...(Ls)> infos_of(TypeList<Ls...> /*list*/) {
  static_assert((Lock<Ls> && ...), "every registered type models Lock");
  return {info_of<Ls>()...};
}

inline constexpr auto kLockInfos = infos_of(AllLocks{});

template <class... Ls>
constexpr bool names_unique(TypeList<Ls...> /*list*/) {
  constexpr std::array<std::string_view, sizeof...(Ls)> names{Ls::kName...};
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t j = i + 1; j < names.size(); ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}
static_assert(names_unique(AllLocks{}), "registry names are unique");

[[noreturn]] void throw_unknown_lock(std::string_view name);

template <class F, class First, class... Rest>
decltype(auto) visit_in(std::string_view name, F&& fn, TypeList<First, Rest...> /*list*/) {
  using Result = std::invoke_result_t<F&, std::type_identity<First>>;
  static_assert((std::is_same_v<Result, std::invoke_result_t<F&, std::type_identity<Rest>>> && ...),
                "visit_lock: fn must return the same type for every lock");
  if (name == First::kName) return fn(std::type_identity<First>{});
  if constexpr (sizeof...(Rest) == 0) {
    throw_unknown_lock(name);
  } else {
    return visit_in(name, fn, TypeList<Rest...>{});
  }
}

}  // namespace detail

/// Every lock's name and traits, in registry order.
[[nodiscard]] constexpr const std::array<LockInfo, AllLocks::kSize>& lock_infos() noexcept {
  return detail::kLockInfos;
}

/// Every lock's name, in registry order.
[[nodiscard]] std::vector<std::string_view> lock_names();

/// The traits of the lock named `name`. Throws: std::invalid_argument.
[[nodiscard]] const LockInfo& lock_info(std::string_view name);

/// Calls fn(std::type_identity<L>{}) for the lock named `name`.
/// Throws: std::invalid_argument for an unknown name; whatever fn throws.
template <class F>
decltype(auto) visit_lock(std::string_view name, F&& fn) {
  return detail::visit_in(name, fn, AllLocks{});
}

/// Calls fn(std::type_identity<L>{}) for every lock, in registry order.
template <class F>
void for_each_lock(F&& fn) {
  [&]<class... Ls>(TypeList<Ls...> /*list*/) { (fn(std::type_identity<Ls>{}), ...); }(AllLocks{});
}

}  // namespace mpkit::locking
