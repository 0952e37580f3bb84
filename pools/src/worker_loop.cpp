// The worker side of a pool: one loop per worker process (or thread), over
// the slot's task and result rings (the protocol is in detail/pool_core.hpp).
//
// When a worker wakes the parent. Not after every result: a parent woken for
// each of a stream of short tasks never sleeps and takes a core from the
// workers. It asks (wake_requests += 1, then the gate) only when the parent
// has something to do at once:
//   (a) refill: the message it just took brought its task ring down across
//       the parent's refill_below mark -- the parent tops it up while the
//       queued work runs;
//   (b) idle: its task ring is empty after a result -- it is out of work,
//       and the parent may be waiting for that very result;
//   (c) room: its result ring is half full -- the parent should collect
//       before the worker blocks on a full ring.
// Everything else the parent collects when it wakes for one of these, or at
// the latest after its own bounded park (kResultLatency in pool_core.cpp).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "framing.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "pool_shared.hpp"

namespace mpkit::pools::detail {

int run_worker_loop(const WorkerSide& side, std::uint32_t slot) {
  set_this_worker_index(static_cast<int>(slot));
  if (side.initializer != nullptr) {
    try {
      side.initializer();
    } catch (...) {
      return kInitializerFailedExit;
    }
  }
  const auto stopping = [&] {
    return side.control.stopping.load(std::memory_order_acquire) != 0;  // acquire: pairs with terminate()
  };
  const std::uint64_t limit = side.shared.task_limit.load(std::memory_order_relaxed);  // see pool_shared.hpp
  std::atomic<std::uint64_t>* stamp = side.control.timeouts != 0 ? &side.shared.started_ns : nullptr;
  // release: the ring operation that makes the request true comes first.
  const auto request_wake = [&] {
    side.control.wake_requests.fetch_add(1, std::memory_order_release);
    mpkit::detail::wake_parked(side.control.gate);
  };
  ByteWriter out;
  std::vector<Record> payload;
  std::vector<Record> reply;
  std::uint64_t done = 0;
  Record record;
  for (;;) {
    if (side.tasks.pop(record) != QueueStatus::kOk || stopping()) return 0;
    const MessageHeader header = header_of(record);
    if (header.kind != kTaskMessage) return kWorkerProtocolExit;
    payload.resize(payload_records(header));
    std::size_t got = 0;
    while (got < payload.size()) {
      got += side.tasks.try_pop_many(std::span<Record>(payload).subspan(got));
      // The parent may be parked with the rest of this message in its
      // outbox, waiting for the room we just made (one fence and one load
      // unless it is parked).
      mpkit::detail::wake_parked(side.control.gate);
      if (got < payload.size()) {
        if (side.tasks.pop(payload[got]) != QueueStatus::kOk) return 0;
        ++got;
      }
    }
    // (a) refill: this message took the ring's fill across the mark.
    const std::size_t queued = side.tasks.size_guess();
    const std::uint64_t mark = side.shared.refill_below.load(std::memory_order_relaxed);  // relaxed: a hint
    if (queued <= mark && queued + 1 + payload.size() > mark) request_wake();
    ByteReader in(payload_of(header, payload));
    out.clear();
    const auto entry = reinterpret_cast<ChunkEntry>(static_cast<std::uintptr_t>(header.entry));
    entry(static_cast<std::uintptr_t>(header.fn), in, header.count, out, stamp);
    if (out.size() > std::numeric_limits<std::uint32_t>::max()) return kWorkerProtocolExit;
    frame_message({kResultMessage, header.count, header.key, 0, 0, 0, 0, {}},
                  out.bytes(), reply);
    std::size_t sent = 0;
    while (sent < reply.size()) {
      sent += side.results.try_push_many(std::span<const Record>(reply).subspan(sent));
      if (sent < reply.size()) {
        if (side.results.push(reply[sent]) != QueueStatus::kOk) return 0;
        ++sent;
      }
    }
    // (b) idle, (c) room.
    if (side.tasks.size_guess() == 0 || 2 * side.results.size_guess() >= side.results.capacity()) {
      request_wake();
    }
    done += header.count;
    side.shared.tasks_done.store(done, std::memory_order_relaxed);  // relaxed: statistics
    if (limit != 0 && done >= limit) return 0;                       // retire; the parent replaces us
  }
}

}  // namespace mpkit::pools::detail
