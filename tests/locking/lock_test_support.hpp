#pragma once

// Helpers for the locking tests (beside test_support.hpp's Shared<T>, which
// holds each lock in its own anonymous mapping and runs its destructor):
// - Board<L>: a lock, the non-atomic counter it guards, and a few gates, on
//   separate cache lines.
// - LockNames: readable typed-test names ("pthread_robust").

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "mpkit/ipc/layout.hpp"
#include "mpkit/locking/registry.hpp"
#include "test_support.hpp"

namespace mpkit::test {

/// A lock and the data it guards, as a shared structure lays them out.
template <class L>
struct Board {
  alignas(kCacheLineSize) L lock;
  alignas(kCacheLineSize) std::uint64_t counter = 0;  // guarded by lock; deliberately not atomic
  alignas(kCacheLineSize) std::atomic<std::uint32_t> go{0};  // starting gate
  std::atomic<std::uint32_t> held{0};     // a child says "I hold the lock"
  std::atomic<std::uint32_t> release{0};  // the parent says "let it go"
  std::atomic<std::uint32_t> failures{0}; // attempts that should have succeeded
};

/// Typed-test names: the registry name with '-' as '_'.
struct LockNames {
  template <class L>
  static std::string GetName(int /*index*/) {
    std::string name(L::kName);
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    return name;
  }
};

template <class... Ls>
::testing::Types<Ls...> as_gtest_types(locking::TypeList<Ls...>);

/// Every registered lock, as a GoogleTest type list.
using AllLockTypes = decltype(as_gtest_types(locking::AllLocks{}));

}  // namespace mpkit::test
