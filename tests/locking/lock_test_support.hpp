#pragma once

// Helpers for the locking tests:
// - Mapped<T>: one T constructed in its own anonymous MAP_SHARED mapping and
//   destroyed at scope end (unlike test::Shared, T may have a destructor: a
//   file lock removes its file). Forked children inherit it and leave with
//   _exit, so only the creating process ever destroys it.
// - Board<L>: a lock, the non-atomic counter it guards, and a few gates, on
//   separate cache lines.
// - LockNames: readable typed-test names ("pthread_robust").
// - kSanitized: scale stress tests down under ASan/TSan.

#include <sys/mman.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "../ipc/test_support.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/locking/registry.hpp"

namespace mpkit::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

template <class T>
class Mapped {
 public:
  template <class... Args>
  explicit Mapped(Args&&... args) {
    void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
    try {
      object_ = new (p) T(std::forward<Args>(args)...);
    } catch (...) {
      ::munmap(p, sizeof(T));
      throw;
    }
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  Mapped(Mapped&&) = delete;
  Mapped& operator=(Mapped&&) = delete;
  ~Mapped() {
    object_->~T();
    ::munmap(object_, sizeof(T));
  }

  T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }

 private:
  T* object_ = nullptr;
};

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
