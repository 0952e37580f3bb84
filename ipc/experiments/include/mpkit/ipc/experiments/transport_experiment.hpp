#pragma once

// The cost of moving messages between two processes through every queue
// backend of ipc/, as Measurement rows with experiment = "ipc" (the data
// behind `mpkit ipc`; EXPERIMENTS.md section 7).
//
// What one row measures
//   mode = "throughput": a producer process pushes `messages` payloads of
//     `bytes` bytes through one queue to a consumer process (both forked;
//     the parent only coordinates). Timed from the start barrier (the parent
//     releases both children) to the consumer's check of the last item.
//     metrics messages_per_s, bytes_per_s (from the median seconds).
//   With sides = k > 1 (multi-producer/consumer backends only): k producer
//     processes and k consumer processes share one queue; the last producer
//     to finish closes it, consumers pop until kClosed; timed from the start
//     barrier to the last consumer's end. Every item is checked whole, in
//     order per producer, and counted and summed per producer, so loss,
//     duplication and reordering mark the row incorrect. params producers,
//     consumers; workers = 2k. With pinning, producers share the first CPU
//     and consumers the second.
//   mode = "round-trip": two queues, one each way; the parent sends a payload,
//     a child echoes it back. One clock read per round trip (its end is the
//     next one's start). metrics rtt_ns_p50, rtt_ns_p99 (each the median over
//     repeats of that repeat's percentile), one_way_ns = rtt_ns_p50 / 2.
//   Payloads are Payload<N> (N in transport_payload_sizes()): N / 8 words,
//   word i of message k holding k + i. The producer writes every word, the
//   receiver checks every word, so order, loss, duplication and torn copies
//   all make the row correct = false (the figures therefore include writing
//   and reading each payload once, as any real use of a transport does).
//
// Variants (the backends, in this order; names as in `backends`): the entries
// of the queue registry, AllQueueBackends of mpkit/ipc/remote/backends.hpp,
// whose traits decide which rows a backend gets
//   lockfree-spsc          SpscRing, one push / pop per item (the headline)
//   lockfree-spsc-batch64  SpscRing through try_push_many / try_pop_many, up
//                          to 64 items per call (throughput only)
//   lockfree-mpmc          MpmcRing
//   boost-spsc             BoostSpscQueue (Boost.Lockfree, compile-time size)
//   boost-spsc-spin        boost::lockfree::spsc_queue in shared memory, busy-
//                          polled, never parking: the baseline of the targets
//                          (detail/spinning_boost_spsc.hpp)
//   locked                 LockedRing (robust mutex + condition variables)
//   boost-mq               BoostMessageQueue (boost::interprocess)
//   pipe                   PipeQueue: one write(2) / read(2) per item; cannot
//                          carry more than PIPE_BUF (4096) bytes per item, so
//                          65536-byte payloads are skipped (no row;
//                          transport_skip_reason() says why, and the CLI
//                          prints it in the table).
//   manager                ManagerQueue: every push / pop a request to a Manager
//                          server process over a Unix socket (mp.Manager().Queue)
//   redis                  RedisQueue: LPUSH / BRPOP on a real redis-server, a
//                          private one on a Unix socket unless redis_url is set
//   (manager and redis move at most remote_messages / remote_round_trips per
//   run, params messages / round_trips say how many, and are not warmed.)
//   Queue capacity: clamp(256 KiB / bytes, 16, 4096) items (params capacity;
//   the pipe's actual capacity may differ, see PipeQueue). Every queue is
//   filled and drained once by the parent before the children start, so no
//   first-touch page fault lands inside a timed run.
//
// Messages per throughput run: `messages`, capped so that one run moves at
// most kMaxTransportBytesPerRun bytes (64 KiB payloads: 4096 messages); the
// count used is in params messages.
//
// Pinning: with `pin` (and at least 2 CPUs allowed), the two sides run on the
// first two allowed CPUs (producer / parent on the first, consumer / echo on
// the second), params pinned = true; with `unpinned_too` as well, every
// configuration is also run unpinned (pinned = false), side by side. The
// caller's CPU affinity is restored before returning.
//
// Every repeat runs every configuration once, round-robin (pinning, size,
// backend), so the variants are compared under the same background load.
//
// Contract
//   Requires: the calling process has no threads of its own (children are
//             forked, ARCHITECTURE.md rule 3).
//   Guarantees: children always leave with _exit; every wait is bounded
//             (push_until / pop_until deadlines, bounded joins): a stuck or
//             dead peer makes that run fail, its row gets correct = false,
//             and the experiment carries on. Nothing is printed.
//   Throws: std::invalid_argument naming the field for zero repeats /
//             messages / round_trips (or round_trips above
//             kMaxTransportRoundTrips), an empty or unsupported
//             payload_bytes entry, an unknown backend name. A system failure
//             inside one run (fork, mmap, a backend that cannot be created
//             here) fails that run only: its row gets correct = false and
//             `progress` receives the error text.
//
// Example
//   mpkit::TransportConfig config;
//   config.backends = {"lockfree-spsc", "pipe"};
//   config.payload_bytes = {64};
//   for (const mpkit::Measurement& row : mpkit::run_transport_experiment(config)) use(row);

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

/// Round-trip samples are kept in memory (8 bytes each): this bounds them.
inline constexpr std::uint64_t kMaxTransportRoundTrips = 100'000'000;
/// One throughput run moves at most this many payload bytes (messages are
/// capped accordingly for large payloads).
inline constexpr std::uint64_t kMaxTransportBytesPerRun = std::uint64_t{256} << 20;
/// At most this many producers (and as many consumers) in one throughput run.
inline constexpr unsigned kMaxTransportSides = 4;

struct TransportConfig {
  unsigned repeats = 5;
  std::uint64_t messages = 200000;    ///< per throughput run (capped, see above)
  std::uint64_t round_trips = 20000;  ///< timed round trips per run
  std::vector<std::size_t> payload_bytes = {8, 64, 1024, 65536};
  std::vector<std::string> backends;  ///< variant names; empty = all
  bool pin = false;                   ///< pin the two sides to two CPUs
  bool unpinned_too = false;          ///< with pin: also run every configuration unpinned
  /// Throughput with k producers and k consumers, for each k listed
  /// (multi-producer/consumer backends only for k > 1); round trips use 1.
  std::vector<unsigned> sides = {1, 2};
  /// The remote backends (manager, redis) cost a server round trip per call:
  /// their runs move at most this many messages / round trips.
  std::uint64_t remote_messages = 5000;
  std::uint64_t remote_round_trips = 2000;
  std::string redis_url;  ///< empty: a private redis-server on a Unix socket
};

/// Every variant name, in row order.
[[nodiscard]] std::span<const std::string_view> transport_backends() noexcept;

/// The payload sizes that can be measured (payloads are compile-time types).
[[nodiscard]] std::span<const std::size_t> transport_payload_sizes() noexcept;

/// Why `backend` cannot carry `bytes`-byte payloads with `sides` producers
/// and `sides` consumers, or nullopt if it can.
[[nodiscard]] std::optional<std::string> transport_skip_reason(std::string_view backend,
                                                               std::size_t bytes,
                                                               unsigned sides = 1);

/// The messages one throughput run of `bytes`-byte payloads moves.
[[nodiscard]] std::uint64_t transport_messages_per_run(const TransportConfig& config,
                                                       std::size_t bytes) noexcept;

/// Throws std::invalid_argument naming the field if `config` is not valid.
void validate_transport_config(const TransportConfig& config);

/// Runs every configuration `repeats` times; `progress` (if set) receives one
/// short line per step ("repeat 2/5: pinned 64 B pipe throughput").
[[nodiscard]] std::vector<Measurement> run_transport_experiment(
    const TransportConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
