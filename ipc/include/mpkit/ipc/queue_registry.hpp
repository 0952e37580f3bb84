#pragma once

// The queue registry: every shared-memory queue backend of mpkit::ipc by the
// name `mpkit ipc` gives its rows, with its traits, for the transport
// experiment, bench/queue_bench.cpp and the queue conformance suite
// (ARCHITECTURE.md, style habit 17). The Manager and Redis queues live in
// ipc/remote/, which this folder cannot see; mpkit/ipc/remote/backends.hpp
// appends them (AllQueueBackends).
//
//   LocalQueueBackends   a type list of the entries below, in row order
//   QueueInfo            what an entry is, at run time (the ipc README's
//                        queue backend table is this table, tested)
//   queue_infos(List{})  every entry's QueueInfo, in list order
//   visit_queue(List{}, name, fn)
//                        calls fn(std::type_identity<E>{}) for the entry
//                        named `name` and returns its result; every
//                        instantiation must return the same type
//   make_queue<E, T, N>(capacity)
//                        E's queue of T (N: the compile-time capacity of the
//                        backends that take one; see fixed_capacity)
//
// An entry is a small struct, not the queue: one queue type may be measured
// two ways (SpscRing one item per call, and 64 per call), and a queue type is
// a template of its item. Each entry has
//   static constexpr QueueInfo kInfo;          its name and traits
//   template <class T, std::size_t N> using Queue = ...;   its queue of T
// and a remote one (ipc/remote/backends.hpp) also a static create(capacity,
// servers). Adding a local backend is its entry here and one line in
// LocalQueueBackends; the experiment, queue_bench and the README test pick it
// up, and tests/ipc/registry_test.cpp fails until the conformance suite runs
// on it (tests/ipc/queue_conformance.hpp, Registered).
//
// Example
//   mpkit::visit_queue(mpkit::LocalQueueBackends{}, "locked", [&]<class E>(std::type_identity<E>) {
//     auto queue = mpkit::make_queue<E, std::uint64_t, 1024>(1024);   // a
//     LockedRing<std::uint64_t> return measure(queue);
//   });
//
// Throws: visit_queue: std::invalid_argument naming the unknown name and
// listing the known ones.

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/boost_message_queue.hpp"
#include "mpkit/ipc/boost_spsc_queue.hpp"
#include "mpkit/ipc/detail/registry.hpp"
#include "mpkit/ipc/detail/spinning_boost_spsc.hpp"
#include "mpkit/ipc/locked_ring.hpp"
#include "mpkit/ipc/mpmc_ring.hpp"
#include "mpkit/ipc/pipe_queue.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/spsc_ring.hpp"
#include "mpkit/ipc/type_list.hpp"

namespace mpkit {

/// What a queue backend is, at run time. Every entry states every field.
struct QueueInfo {
  std::string_view name;  ///< the variant name of `mpkit ipc` rows and queue_bench
  std::string_view type;  ///< the queue type, as the README writes it
  bool multi_producer;    ///< several producers at once
  bool multi_consumer;    ///< several consumers at once
  /// A peer SIGKILLed mid-stream ends the survivors' waits (std::system_error,
  /// or kClosed for a dead producer's consumer): the suite's Killed* cases.
  bool detects_peer_death;
  bool sleeps;          ///< a blocked push / pop parks (futex, kernel, server) instead of spinning
  bool remote;          ///< a server round trip per call; not warmed, runs capped
  bool fixed_capacity;  ///< the capacity is the template argument N: create(capacity) takes N only
  std::size_t
      items_per_call;  ///< > 1: moved through try_push_many / try_pop_many, this many a call
  std::size_t max_item_bytes;  ///< the largest sizeof(T) it carries; 0: any
  std::string_view too_large;  ///< why larger items are not carried ("" if max_item_bytes is 0)

  /// Whether it carries items of `bytes` bytes.
  [[nodiscard]] constexpr bool carries(std::size_t bytes) const noexcept {
    return max_item_bytes == 0 || bytes <= max_item_bytes;
  }
  /// Several producers and several consumers at once.
  [[nodiscard]] constexpr bool many_sided() const noexcept {
    return multi_producer && multi_consumer;
  }
};

/// A registry entry: kInfo, and Queue<T, N> models Queue.
template <class E>
concept QueueBackend = std::convertible_to<decltype(E::kInfo), QueueInfo> &&
    Queue<typename E::template Queue<std::uint64_t, 16>, std::uint64_t>;

// ---- the entries, in row order ---------------------------------------------

/// SpscRing, one push / pop per item: the headline.
struct SpscRingBackend {
  static constexpr QueueInfo kInfo{.name = "lockfree-spsc",
                                   .type = "SpscRing<T>",
                                   .multi_producer = false,
                                   .multi_consumer = false,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = SpscRing<T>;
};

/// SpscRing through try_push_many / try_pop_many, up to 64 items a call.
struct SpscRingBatchBackend {
  static constexpr QueueInfo kInfo{.name = "lockfree-spsc-batch64",
                                   .type = "SpscRing<T>",
                                   .multi_producer = false,
                                   .multi_consumer = false,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 64,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = SpscRing<T>;
};

struct MpmcRingBackend {
  static constexpr QueueInfo kInfo{.name = "lockfree-mpmc",
                                   .type = "MpmcRing<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = MpmcRing<T>;
};

/// Boost.Lockfree's spsc_queue with mpkit's spin-then-park waiting.
struct BoostSpscBackend {
  static constexpr QueueInfo kInfo{.name = "boost-spsc",
                                   .type = "BoostSpscQueue<T, N>",
                                   .multi_producer = false,
                                   .multi_consumer = false,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = true,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = BoostSpscQueue<T, N>;
};

/// Boost's spsc_queue busy-polled, never parking, no peer checks: the
/// yardstick of the lockfree targets, not a transport.
struct SpinningBoostSpscBackend {
  static constexpr QueueInfo kInfo{.name = "boost-spsc-spin",
                                   .type = "detail::SpinningBoostSpsc<T, N>",
                                   .multi_producer = false,
                                   .multi_consumer = false,
                                   .detects_peer_death = false,
                                   .sleeps = false,
                                   .remote = false,
                                   .fixed_capacity = true,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = detail::SpinningBoostSpsc<T, N>;
};

struct LockedRingBackend {
  static constexpr QueueInfo kInfo{.name = "locked",
                                   .type = "LockedRing<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = LockedRing<T>;
};

/// boost::interprocess::message_queue: Boost 1.74's mutex is not robust, so
/// a killed peer is not detected (a kill inside it hangs the others).
struct BoostMessageQueueBackend {
  static constexpr QueueInfo kInfo{.name = "boost-mq",
                                   .type = "BoostMessageQueue<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = false,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = BoostMessageQueue<T>;
};

/// One write(2) / read(2) per item; only writes of at most PIPE_BUF bytes
/// are atomic, so larger items are refused at compile time.
struct PipeQueueBackend {
  static constexpr QueueInfo kInfo{.name = "pipe",
                                   .type = "PipeQueue<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = false,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 4096,
                                   .too_large =
                                       "PipeQueue carries at most PIPE_BUF (4096) bytes per item "
                                       "(larger writes are not atomic)"};
  template <class T, std::size_t N>
  using Queue = PipeQueue<T>;
};

/// Every local queue backend, in row order.
using LocalQueueBackends = TypeList<SpscRingBackend, SpscRingBatchBackend, MpmcRingBackend,
                                    BoostSpscBackend, SpinningBoostSpscBackend, LockedRingBackend,
                                    BoostMessageQueueBackend, PipeQueueBackend>;

// ---- the registry ------------------------------------------------------------

namespace detail {

template <class Q>
concept MovesBatches = requires(Q& queue, std::span<const typename Q::value_type> in,
                                std::span<typename Q::value_type> out) {
  { queue.try_push_many(in) } -> std::convertible_to<std::size_t>;
  { queue.try_pop_many(out) } -> std::convertible_to<std::size_t>;
};

template <class E>
constexpr bool queue_entry_valid() {
  static_assert(QueueBackend<E>, "an entry has kInfo and a Queue<T, N> that models Queue");
  static_assert(
      E::kInfo.items_per_call == 1 || MovesBatches<typename E::template Queue<std::uint64_t, 16>>,
      "an entry that moves several items a call has try_push_many / try_pop_many");
  static_assert((E::kInfo.max_item_bytes == 0) == E::kInfo.too_large.empty(),
                "an item limit comes with its reason");
  return true;
}

template <class... Es>
constexpr bool queue_entries_valid(TypeList<Es...> list) {
  return (queue_entry_valid<Es>() && ...) && names_unique(list);
}

}  // namespace detail

/// Every entry's QueueInfo, in list order.
template <class... Es>
constexpr std::array<QueueInfo, sizeof...(Es)> queue_infos(TypeList<Es...> list) {
  static_assert(detail::queue_entries_valid(TypeList<Es...>{}), "queue backend names are unique");
  return detail::infos_of<QueueInfo>(list);
}

/// Calls fn(std::type_identity<E>{}) for the entry of `list` named `name`.
/// Throws: std::invalid_argument for an unknown name; whatever fn throws.
template <class List, class F>
decltype(auto) visit_queue(List list, std::string_view name, F&& fn) {
  return detail::visit_named("queue backend", list, name, fn);
}

/// E's queue of T with `capacity` slots (N: the capacity of a fixed_capacity
/// backend, which refuses any other). A remote entry needs its servers:
/// make_queue of mpkit/ipc/remote/backends.hpp.
template <QueueBackend E, class T, std::size_t N = 0>
[[nodiscard]] typename E::template Queue<T, N> make_queue(std::size_t capacity) {
  static_assert(!E::kInfo.remote,
                "a remote backend is made with its servers (ipc/remote/backends.hpp)");
  static_assert(!E::kInfo.fixed_capacity || N > 0, "a fixed_capacity backend needs its capacity N");
  return E::template Queue<T, N>::create(capacity);
}

static_assert(queue_infos(LocalQueueBackends{}).size() == LocalQueueBackends::kSize);

}  // namespace mpkit
