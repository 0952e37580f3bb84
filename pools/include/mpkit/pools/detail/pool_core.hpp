#pragma once

// PoolCore: the engine under ProcessPool and ThreadPool, with no types in it
// (the typed front end, pool.hpp, encodes tasks into bytes and decodes the
// results). Everything here is internal.
//
// Who does what
//   - The pool's owner thread adds jobs and drives the engine: drive_until()
//     fills the workers' task rings, collects results, handles worker exits
//     and timeouts, and parks when there is nothing to do. The owner is the
//     first thread that submits or waits; the engine is not synchronised, so
//     any other thread's call throws std::logic_error (a second driver would
//     take the first one's results). Nothing happens in the parent between
//     calls (no background thread), but tasks already dispatched run in the
//     workers meanwhile.
//   - A worker (process or thread, slot i) pops task messages from its task
//     ring, runs them, pushes result messages into its result ring, and wakes
//     the parent through one shared gate.
//
// Scheduling
//   - Placement: each chunk goes to the live worker with the fewest items in
//     flight that has room (ties: fewest chunks, then lowest slot), so work
//     that arrives one chunk at a time (submit, imap) spreads over every
//     worker. A worker with nothing in flight always has room; a busy one
//     holds at most max(2, 2 ms / estimated item cost) items, capped at 1024
//     (the cap alone until a first estimate). The estimate is a running mean
//     of delivery intervals per item, learned as results come back: a queue
//     long enough that a worker never waits for a late parent, short enough
//     that the last chunks go to whoever is free.
//   - Sleeping: a worker does not wake the parent for every result (a parent
//     woken by a stream of short tasks never sleeps and takes a core from
//     the workers). It asks -- wake_requests += 1, then the gate -- when its
//     task ring falls across the refill mark the parent set (half of what it
//     holds), when it runs out of work, or when its result ring is half
//     full. The parent parks on the gate until a request, a launcher report,
//     or room for a waiting outbox, spinning only kSpinLimit pauses first;
//     while chunks are out it sleeps at most 1 ms, which bounds how late a
//     result that nobody announced is collected.
//
// Messages: one header Record (MessageHeader, 24 payload bytes inline), then,
// for a longer payload, ceil(payload / 64) Records holding it. A chunk of
// `count` items is one message each way; the result payload holds per item
// a status byte (0 value, 1 TaskError message) and the encoded value.
//
// Which chunk a dead worker held (ARCHITECTURE.md, peer lesson 1: "never lose a task silently"):
// a worker pushes a chunk's result before it pops the next header, so the
// parent, after draining the dead worker's result ring and taking back the
// records still in its task ring, knows exactly how many records it consumed;
// the first chunk still awaiting a result that it started reading is the one
// it held (it fails with WorkerDied / TaskTimedOut); every chunk behind it is
// dispatched again, to any worker.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/types.h>

#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/pools/codec.hpp"
#include "mpkit/pools/options.hpp"

namespace mpkit::pools::detail {

struct alignas(kCacheLineSize) Record {
  std::byte bytes[kCacheLineSize];
};
static_assert(sizeof(Record) == kCacheLineSize && std::is_trivially_copyable_v<Record>);

inline constexpr std::size_t kInlinePayload = 24;

struct MessageHeader {
  std::uint32_t kind;           // kTaskMessage or kResultMessage
  std::uint32_t count;          // items in the chunk
  std::uint64_t key;            // the parent's dispatch number for the chunk
  std::uint64_t entry;          // task: address of the ChunkEntry (same in every fork)
  std::uint64_t fn;             // task: address of the user's function, 0 for a lambda
  std::uint32_t payload_bytes;  // encoded arguments / results
  std::uint32_t reserved;
  std::byte inline_payload[kInlinePayload];  // the payload, when it fits
};
static_assert(sizeof(MessageHeader) == sizeof(Record) && std::is_trivially_copyable_v<MessageHeader>);
inline constexpr std::uint32_t kTaskMessage = 0x5441534b;    // "TASK"
inline constexpr std::uint32_t kResultMessage = 0x52534c54;  // "RSLT"

/// Records a message with `payload` bytes takes.
[[nodiscard]] constexpr std::size_t message_records(std::size_t payload) noexcept {
  return payload <= kInlinePayload ? 1 : 1 + (payload + sizeof(Record) - 1) / sizeof(Record);
}

/// Runs one chunk in a worker: decodes `count` items from `in`, calls the
/// user's function on each, encodes a status byte and the result of each into
/// `out`. `stamp` (nullptr without task timeouts) gets the start time of each
/// item in steady-clock nanoseconds, 0 once the chunk is done.
using ChunkEntry = void (*)(std::uintptr_t fn, ByteReader& in, std::uint32_t count, ByteWriter& out,
                            std::atomic<std::uint64_t>* stamp);

inline constexpr std::uint8_t kItemValue = 0;
inline constexpr std::uint8_t kItemError = 1;

/// What the parent hands the engine: a source of chunks and a sink for
/// their results. Called only from the owner thread.
class Job {
 public:
  Job(ChunkEntry chunk_entry, std::uintptr_t fn_word) noexcept : entry_(chunk_entry), fn_(fn_word) {}
  virtual ~Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  /// The next chunk to run, or nullopt if none now (all issued, or a lazy
  /// job's window is full).
  virtual std::optional<std::uint64_t> next_chunk() = 0;
  /// Whether next_chunk() can ever return a chunk again.
  [[nodiscard]] virtual bool exhausted() const = 0;
  /// Encodes the chunk's arguments; returns its item count. May be called
  /// again for a chunk dispatched again after a worker death.
  virtual std::uint32_t encode_chunk(std::uint64_t chunk, ByteWriter& out) = 0;
  /// The chunk's results (per item: status byte, then value or message).
  virtual void deliver(std::uint64_t chunk, std::uint32_t count, ByteReader& in) = 0;
  /// The whole chunk failed (worker death, timeout, broken pool).
  virtual void fail(std::uint64_t chunk, const std::exception_ptr& error) = 0;
  /// The call-level index of the chunk's first item (for WorkerDied).
  [[nodiscard]] virtual std::size_t first_index(std::uint64_t chunk) const = 0;

  [[nodiscard]] ChunkEntry entry() const noexcept { return entry_; }
  [[nodiscard]] std::uintptr_t fn() const noexcept { return fn_; }

 private:
  ChunkEntry entry_;
  std::uintptr_t fn_;
};

/// A non-owning reference to a `bool()` callable (no allocation per drive).
class DonePredicate {
 public:
  template <class P>
  DonePredicate(P& p) noexcept  // NOLINT(google-explicit-constructor)
      : object_(&p), call_([](void* o) { return static_cast<bool>((*static_cast<P*>(o))()); }) {}
  bool operator()() const { return call_(object_); }

 private:
  void* object_;
  bool (*call_)(void*);
};

enum class PoolKind { kProcess, kThread };

/// Counters for tests and experiments.
struct PoolStats {
  std::uint64_t spawned = 0;       // workers started, the first ones included
  std::uint64_t retired = 0;       // left after max_tasks_per_child
  std::uint64_t crashed = 0;       // died abnormally (signal, non-zero exit, timeout kill)
  std::uint64_t redispatched = 0;  // chunks sent again after their worker died
};

class PoolCore {
 public:
  PoolCore(PoolKind kind, const PoolOptions& options);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  [[nodiscard]] std::size_t workers() const noexcept;
  /// Throws PoolBroken / std::logic_error (closed) if no new work is accepted.
  void add_job(std::shared_ptr<Job> job);
  /// Drives the engine until done() holds (true) or the deadline passes (false).
  bool drive_until(DonePredicate done, std::optional<Deadline> deadline);
  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept;
  bool join(std::optional<std::chrono::nanoseconds> timeout);
  void terminate() noexcept;
  /// Live worker pids whose spawn was reported (ProcessPool; the parent's
  /// pid for each thread of a ThreadPool). Reads pending reports first.
  [[nodiscard]] std::vector<pid_t> worker_pids();
  [[nodiscard]] PoolStats stats() const noexcept;
  /// The breaker's message once it tripped, else empty.
  [[nodiscard]] bool broken() const noexcept;

 private:
  // Throws std::logic_error when a thread other than the pool's first user calls.
  void check_thread(const char* what) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  mutable std::atomic<std::thread::id> owner_{};
};

/// "<demangled type>: <what()>" of the exception being handled (in a catch).
[[nodiscard]] std::string describe_current_exception();

/// The number of cores this process may run on (sched_getaffinity).
[[nodiscard]] std::size_t available_cores() noexcept;

}  // namespace mpkit::pools::detail
