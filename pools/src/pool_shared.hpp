#pragma once

// The state a pool shares with its workers, in one anonymous mapping made at
// construction, before the fork server, so every worker inherits it:
//   PoolControl   line 0: magic, version, workers, timeouts, stopping
//                 line 1: gate where the parent parks (RingGate)
//                 line 2: reports_posted (launcher -> parent), wake_requests
//                 (workers -> parent)
//   SlotShared[i] one line per worker slot: started_ns (worker: the start of
//                 the item it runs, 0 when idle), task_limit (parent, before
//                 the spawn), tasks_done (worker), refill_below (parent: the
//                 task-ring fill at which the worker asks for more).
// Plus the task and result rings: one SpscRing<Record> each way per slot.
//
// Memory ordering: the rings carry their own (spsc_ring.hpp); reports_posted
// is bumped with release after a report is queued and read with acquire
// before the parent polls the launcher; wake_requests is bumped with release
// after the ring operation that makes the request true and read with acquire
// by the parent's park condition; refill_below is a relaxed hint (a stale
// value moves one refill by one message); started_ns and tasks_done are
// relaxed hints (a timeout decision tolerates a stale read by one check);
// task_limit is published to the worker by the spawn request (a socket
// round or a thread start, both full barriers); stopping is release/acquire.

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/spsc_ring.hpp"
#include "mpkit/pools/detail/pool_core.hpp"

namespace mpkit::pools::detail {

inline constexpr std::uint64_t kPoolMagic = 0x6d706b2d706f6f6cULL;  // "mpk-pool"
inline constexpr std::uint32_t kPoolLayoutVersion = 1;

struct PoolControl {
  std::uint64_t magic = kPoolMagic;
  std::uint32_t layout_version = kPoolLayoutVersion;
  std::uint32_t workers = 0;
  std::uint32_t timeouts = 0;              // 1: workers stamp started_ns
  std::atomic<std::uint32_t> stopping{0};  // 1: workers leave at their next pop
  alignas(kCacheLineSize) mpkit::detail::RingGate gate;
  alignas(kCacheLineSize) std::atomic<std::uint64_t> reports_posted{0};
  std::atomic<std::uint64_t> wake_requests{0};
};
static_assert(sizeof(PoolControl) == 3 * kCacheLineSize, "the layout in the file comment");
static_assert(std::is_trivially_destructible_v<PoolControl>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

struct alignas(kCacheLineSize) SlotShared {
  std::atomic<std::uint64_t> started_ns{0};
  std::atomic<std::uint64_t> task_limit{0};
  std::atomic<std::uint64_t> tasks_done{0};
  std::atomic<std::uint64_t> refill_below{0};
};
static_assert(sizeof(SlotShared) == kCacheLineSize && std::is_trivially_destructible_v<SlotShared>);

/// What one worker slot sees: its two rings, its line of SlotShared, the
/// pool's control block, and the user's initializer.
struct WorkerSide {
  SpscRing<Record>& tasks;
  SpscRing<Record>& results;
  SlotShared& shared;
  PoolControl& control;
  void (*initializer)();
};

/// The worker loop (worker_loop.cpp): runs the initializer, then pops task
/// messages, runs each chunk and pushes its result message, until the task
/// ring closes, the pool stops or the task limit is reached. Returns the
/// worker's exit code: 0, kInitializerFailedExit or kWorkerProtocolExit.
/// Throws what the rings throw when a peer is gone (the caller maps it to
/// kWorkerProtocolExit).
int run_worker_loop(const WorkerSide& side, std::uint32_t slot);

/// Sets what this_worker_index() returns on this thread (worker.cpp).
void set_this_worker_index(int index) noexcept;

}  // namespace mpkit::pools::detail
