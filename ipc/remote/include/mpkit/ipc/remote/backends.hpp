#pragma once

// The remote entries of the queue and flag registries (queue_registry.hpp,
// flag_registry.hpp), and the full lists: what `mpkit ipc` measures.
//
//   ManagerQueueBackend, RedisQueueBackend   the `manager` and `redis` queues
//   RedisFlagBackend, ManagerFlagBackend     the `redis` and `manager` flags
//   AllQueueBackends   LocalQueueBackends, then the remote queues (row order)
//   AllFlagBackends    LocalFlagBackends, then the remote flags (row order)
//   RemoteServers      what a remote entry's create() needs: a Manager server,
//                      a Redis URL and fresh names (the experiments'
//                      detail::ExperimentServers is one)
//   make_queue<E, T, N>(capacity, servers), make_flag<E>(servers)
//                      any entry's queue or flag; a local entry ignores
//                      `servers`
//
// A remote entry is a local one (kInfo, Queue<T, N> or Flag) plus a static
// create that takes the servers. Adding a remote backend is its entry here
// and one line in AllQueueBackends or AllFlagBackends.
//
// Example
//   mpkit::visit_queue(mpkit::AllQueueBackends{}, name, [&]<class E>(std::type_identity<E>) {
//     auto queue = mpkit::make_queue<E, Item, 1024>(1024, servers);
//     return measure(queue);
//   });

#include <concepts>
#include <cstddef>
#include <string>

#include "mpkit/ipc/flag_registry.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "mpkit/ipc/remote/manager.hpp"
#include "mpkit/ipc/remote/manager_flag_counter.hpp"
#include "mpkit/ipc/remote/manager_queue.hpp"
#include "mpkit/ipc/remote/redis_flag_counter.hpp"
#include "mpkit/ipc/remote/redis_queue.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "mpkit/ipc/type_list.hpp"

namespace mpkit {

/// The servers a remote entry creates its queue or flag on: manager() (a
/// running ManagerServer), redis_url(), and fresh_name(prefix), a name no
/// earlier call returned.
template <class S>
concept RemoteServers = requires(S& servers, const std::string& prefix) {
  { servers.manager() } -> std::convertible_to<const ManagerServer&>;
  { servers.redis_url() } -> std::convertible_to<std::string>;
  { servers.fresh_name(prefix) } -> std::convertible_to<std::string>;
};

// ---- queues ------------------------------------------------------------------

/// Every push / pop a request to a Manager server process (mp.Manager().Queue).
struct ManagerQueueBackend {
  static constexpr QueueInfo kInfo{.name = "manager",
                                   .type = "ManagerQueue<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = true,
                                   .sleeps = true,
                                   .remote = true,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = ManagerQueue<T>;

  template <class T, std::size_t N, RemoteServers S>
  [[nodiscard]] static Queue<T, N> create(std::size_t capacity, S& servers) {
    return ManagerQueue<T>::create(servers.manager(), servers.fresh_name("queue"), capacity);
  }
};

/// LPUSH through a capacity script / BRPOP on a Redis server. Redis cannot
/// tell a quiet client from a dead one: a killed peer is not detected.
struct RedisQueueBackend {
  static constexpr QueueInfo kInfo{.name = "redis",
                                   .type = "RedisQueue<T>",
                                   .multi_producer = true,
                                   .multi_consumer = true,
                                   .detects_peer_death = false,
                                   .sleeps = true,
                                   .remote = true,
                                   .fixed_capacity = false,
                                   .items_per_call = 1,
                                   .max_item_bytes = 0,
                                   .too_large = ""};
  template <class T, std::size_t N>
  using Queue = RedisQueue<T>;

  template <class T, std::size_t N, RemoteServers S>
  [[nodiscard]] static Queue<T, N> create(std::size_t capacity, S& servers) {
    return RedisQueue<T>::create(servers.redis_url(),
                                 servers.fresh_name("mpkit.queue." + std::to_string(current_pid())),
                                 capacity);
  }
};

/// Every queue backend, in row order: the local ones, then the remote ones.
using AllQueueBackends =
    ConcatTypeLists<LocalQueueBackends, TypeList<ManagerQueueBackend, RedisQueueBackend>>;

// ---- flags -------------------------------------------------------------------

/// GET per poll, SET to signal, on a Redis server.
struct RedisFlagBackend {
  static constexpr FlagInfo kInfo{
      .name = "redis", .type = "RedisFlag", .poll = FlagPoll::kRoundTrip, .watcher_sleeps = false};
  using Flag = RedisFlag;

  template <RemoteServers S>
  [[nodiscard]] static Flag create(S& servers) {
    return RedisFlag::create(servers.redis_url(),
                             servers.fresh_name("mpkit.flag." + std::to_string(current_pid())));
  }
};

/// A request / response per call to a Manager server process.
struct ManagerFlagBackend {
  static constexpr FlagInfo kInfo{.name = "manager",
                                  .type = "ManagerFlag",
                                  .poll = FlagPoll::kRoundTrip,
                                  .watcher_sleeps = false};
  using Flag = ManagerFlag;

  template <RemoteServers S>
  [[nodiscard]] static Flag create(S& servers) {
    return ManagerFlag::create(servers.manager(), servers.fresh_name("flag"));
  }
};

/// Every flag backend, in row order: the local ones, then the remote ones.
using AllFlagBackends =
    ConcatTypeLists<LocalFlagBackends, TypeList<RedisFlagBackend, ManagerFlagBackend>>;

// ---- making any entry's queue or flag ------------------------------------------

/// E's queue of T: E::create(capacity, servers) for a remote entry,
/// make_queue<E, T, N>(capacity) for a local one.
template <QueueBackend E, class T, std::size_t N = 0, RemoteServers S>
[[nodiscard]] typename E::template Queue<T, N> make_queue(std::size_t capacity, S& servers) {
  if constexpr (E::kInfo.remote) {
    return E::template create<T, N>(capacity, servers);
  } else {
    return make_queue<E, T, N>(capacity);
  }
}

/// E's flag: E::create(servers) for a remote entry, make_flag<E>() for a local one.
template <FlagBackend E, RemoteServers S>
[[nodiscard]] typename E::Flag make_flag(S& servers) {
  if constexpr (E::kInfo.remote()) {
    return E::create(servers);
  } else {
    return make_flag<E>();
  }
}

static_assert(queue_infos(AllQueueBackends{}).size() == AllQueueBackends::kSize,
              "queue names are unique");
static_assert(flag_infos(AllFlagBackends{}).size() == AllFlagBackends::kSize,
              "flag names are unique");

}  // namespace mpkit
