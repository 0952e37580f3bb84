#include "mpkit/ipc/experiments/transport_experiment.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/experiment_servers.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "mpkit/ipc/remote/backends.hpp"
#include "mpkit/ipc/experiments/experiment_servers.hpp"

namespace mpkit {
namespace {

using detail::now_ns;
using std::chrono::steady_clock;

// Bounds on every wait. None is a timing assertion: a healthy peer answers in
// microseconds; these only stop a dead or stuck one from hanging the run.
constexpr auto kStallTimeout = std::chrono::seconds(5);       // one push / pop making no progress
constexpr auto kStartTimeout = std::chrono::seconds(10);      // children checking in, or exiting
constexpr auto kRoundTripBudget = std::chrono::seconds(120);  // one round-trip run in all

constexpr std::size_t kBatch = 64;                // items per call of the batch variant
constexpr std::uint64_t kWarmupRoundTrips = 100;  // untimed, before the timed ones

// The backends, in row order: the queue registry's (mpkit/ipc/remote/backends.hpp).
// many_sided(): several producers and consumers at once; remote: a server
// round trip per call (remote_messages / remote_round_trips).
using Backends = AllQueueBackends;
constexpr std::array<QueueInfo, Backends::kSize> kBackends = queue_infos(Backends{});
constexpr std::array<std::string_view, kBackends.size()> kBackendNames = [] {
  std::array<std::string_view, kBackends.size()> names{};
  for (std::size_t i = 0; i < kBackends.size(); ++i) names[i] = kBackends[i].name;
  return names;
}();
constexpr std::array<std::size_t, 4> kPayloadSizes = {8, 64, 1024, 65536};

// 256 KiB of slots, but at least 16 and at most 4096 items.
constexpr std::size_t queue_capacity(std::size_t bytes) noexcept {
  return std::clamp<std::size_t>((std::size_t{256} << 10) / bytes, 16, 4096);
}

// ---------------------------------------------------------------------------
// Payloads: word i of message k holds k + i. Writing and checking every word
// catches loss, duplication, reordering and torn copies alike.

template <std::size_t N>
struct Payload {
  static_assert(N >= 8 && N % 8 == 0, "a payload is whole 64-bit words");
  std::array<std::uint64_t, N / 8> words;
};
static_assert(sizeof(Payload<8>) == 8 && sizeof(Payload<65536>) == 65536,
              "payload size is N bytes");
static_assert(std::is_trivially_copyable_v<Payload<64>>,
              "payloads are copied as bytes between processes");

template <std::size_t N>
void fill(Payload<N>& payload, std::uint64_t seq) noexcept {
  for (std::size_t i = 0; i < payload.words.size(); ++i) payload.words[i] = seq + i;
}

template <std::size_t N>
[[nodiscard]] bool holds(const Payload<N>& payload, std::uint64_t seq) noexcept {
  std::uint64_t diff = 0;  // branch-free: the loop vectorises
  for (std::size_t i = 0; i < payload.words.size(); ++i) diff |= payload.words[i] ^ (seq + i);
  return diff == 0;
}

// When a throughput run gives up: 10 s plus 20 us and 5 ns per byte for
// every message; healthy runs take from a nanosecond to a few microseconds
// per message.
template <class T>
Deadline throughput_deadline(std::uint64_t messages) noexcept {
  const auto per_message =
      std::chrono::nanoseconds(20'000 + 5 * static_cast<std::int64_t>(sizeof(T)));
  return deadline_after(kStartTimeout + per_message * static_cast<std::int64_t>(messages));
}

// What one timed run needs to know besides the queue.
struct RunSpec {
  std::uint64_t count = 0;           // messages (throughput) or timed round trips
  const Pinning* pinning = nullptr;  // null: unpinned
  unsigned sides = 1;                // producers = consumers (throughput)
  detail::ExperimentServers* servers = nullptr;  // for the remote backends
  bool warm = true;                  // fill and drain the queue once before timing
};

// ---------------------------------------------------------------------------
// Results, in an anonymous shared mapping (SharedBox).
//
// The children pass the start gate together (ForkedChildren). The consumer
// writes end_ns, received and mismatches before it exits; the parent reads
// them only after reaping it, so waitpid orders those plain accesses.

struct RunResults {
  std::int64_t end_ns = 0;       // consumer: last item checked
  std::uint64_t received = 0;    // consumer: items popped
  std::uint64_t mismatches = 0;  // consumer: items not as expected
};
static_assert(std::is_trivially_destructible_v<RunResults>, "vanishes with its mapping");

// ---------------------------------------------------------------------------
// Queue operations, bounded: the fast path is the try_ form (no clock read);
// only when it would block does a deadline get computed.

template <class T, class Q>
[[nodiscard]] bool send(Q& queue, const T& value) {
  QueueStatus status = queue.try_push(value);
  if (status == QueueStatus::kFull) status = queue.push_until(value, deadline_after(kStallTimeout));
  return status == QueueStatus::kOk;
}

template <class T, class Q>
[[nodiscard]] bool receive(Q& queue, T& out) {
  QueueStatus status = queue.try_pop(out);
  if (status == QueueStatus::kEmpty) status = queue.pop_until(out, deadline_after(kStallTimeout));
  return status == QueueStatus::kOk;
}

// PipeQueue: a process that only pushes (pops) closes the end it never uses.
template <class Q>
void as_producer(Q& queue) noexcept {
  if constexpr (requires { queue.producer_only(); }) queue.producer_only();
}
template <class Q>
void as_consumer(Q& queue) noexcept {
  if constexpr (requires { queue.consumer_only(); }) queue.consumer_only();
}

// A child's preparation before the start gate: its CPU (producers take the
// first, consumers the second), then the pipe end it never uses goes.
template <class Q>
void producer_side(Q& queue, const RunSpec& spec) noexcept {
  if (spec.pinning != nullptr) spec.pinning->pin(0);
  as_producer(queue);
}
template <class Q>
void consumer_side(Q& queue, const RunSpec& spec) noexcept {
  if (spec.pinning != nullptr) spec.pinning->pin(1);
  as_consumer(queue);
}

// Fills the queue once and drains it, in the parent, before any child runs:
// every slot's page is faulted in outside the timed runs.
template <class T, class Q>
[[nodiscard]] bool prime(Q& queue, const RunSpec& spec) {
  if (!spec.warm) return true;  // a server's queue has no pages of ours to fault in
  T item{};
  std::size_t pushed = 0;
  const std::size_t limit = queue.capacity();
  while (pushed < limit && queue.try_push(item) == QueueStatus::kOk) ++pushed;
  for (std::size_t i = 0; i < pushed; ++i) {
    if (queue.try_pop(item) != QueueStatus::kOk) return false;
  }
  return pushed > 0;
}

struct Sample {
  bool ok = false;
  double seconds = 0;
  double rtt_ns_p50 = 0;
  double rtt_ns_p99 = 0;
};

// ---------------------------------------------------------------------------
// Throughput: a producer child and a consumer child; the parent coordinates.

template <class T, bool Batched, class Q>
ChildExit produce(Q& queue, const RunSpec& spec) {
  if constexpr (Batched) {
    std::vector<T> batch(kBatch);
    for (std::uint64_t seq = 0; seq < spec.count;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kBatch, spec.count - seq));
      for (std::size_t i = 0; i < n; ++i) fill(batch[i], seq + i);
      for (std::size_t done = 0; done < n;) {
        std::size_t pushed = queue.try_push_many(std::span<const T>(batch.data() + done, n - done));
        if (pushed == 0) {  // full: wait (bounded) by pushing one item the blocking way
          if (!send(queue, batch[done])) return ChildExit::kStalled;
          pushed = 1;
        }
        done += pushed;
      }
      seq += n;
    }
  } else {
    T item{};
    for (std::uint64_t seq = 0; seq < spec.count; ++seq) {
      fill(item, seq);
      if (!send(queue, item)) return ChildExit::kStalled;
    }
  }
  return ChildExit::kOk;
}

template <class T, bool Batched, class Q>
ChildExit consume(Q& queue, RunResults& results, const RunSpec& spec) {
  std::uint64_t got = 0;
  std::uint64_t bad = 0;
  if constexpr (Batched) {
    std::vector<T> batch(kBatch);
    while (got < spec.count) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kBatch, spec.count - got));
      std::size_t n = queue.try_pop_many(std::span<T>(batch.data(), want));
      if (n == 0) {  // empty: wait (bounded) by popping one item the blocking way
        if (!receive(queue, batch[0])) break;
        n = 1;
      }
      for (std::size_t i = 0; i < n; ++i) bad += holds(batch[i], got + i) ? 0 : 1;
      got += n;
    }
  } else {
    T item{};
    for (; got < spec.count; ++got) {
      if (!receive(queue, item)) break;
      bad += holds(item, got) ? 0 : 1;
    }
  }
  results.end_ns = now_ns();
  results.received = got;
  results.mismatches = bad;
  return got < spec.count ? ChildExit::kStalled : bad != 0 ? ChildExit::kCorrupt : ChildExit::kOk;
}

template <class T, bool Batched, class Q>
Sample throughput_once(Q queue, const RunSpec& spec) {
  if (!prime<T>(queue, spec)) return {};
  SharedBox<RunResults> results;
  // Declared after `queue` and `results`: killed and reaped before them on
  // every early return.
  ForkedChildren children(kStartTimeout);
  children.spawn([&] { consumer_side(queue, spec); },
                 [&] { return consume<T, Batched>(queue, *results, spec); });
  children.spawn([&] { producer_side(queue, spec); },
                 [&] { return produce<T, Batched>(queue, spec); });
  const std::optional<std::int64_t> start_ns = children.start_timed();
  if (!start_ns) return {};
  if (!children.join(throughput_deadline<T>(spec.count)).ok() || results->received != spec.count ||
      results->mismatches != 0) {
    return {};
  }
  return {true, static_cast<double>(results->end_ns - *start_ns) / 1e9, 0, 0};
}

// ---------------------------------------------------------------------------
// Throughput with several producers and several consumers (sides > 1).
//
// Producer p sends its share of the messages with seq = (p << kSeqShift) | i;
// the last producer to finish closes the queue (no wait for the parent to
// notice), so each consumer pops until kClosed and reads the clock then.
// Each consumer checks every payload whole and each producer's items in
// increasing order, and tallies count and seq sum per producer; the parent
// adds the tallies up after reaping everyone (waitpid orders those plain
// accesses): every item seen once, none torn, none reordered. With pinning,
// producers share the first CPU and consumers the second.

constexpr unsigned kMaxSides = kMaxTransportSides;
constexpr unsigned kSeqShift = 40;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqShift) - 1;

struct SideTally {
  std::int64_t end_ns = 0;
  std::uint64_t received = 0;
  std::uint64_t mismatches = 0;  // torn, out of order, or from no producer
  std::array<std::uint64_t, kMaxSides> count{};
  std::array<std::uint64_t, kMaxSides> seq_sum{};
};
struct ManyControl {
  alignas(kCacheLineSize) std::atomic<std::uint32_t> producers_done{0};
  std::array<SideTally, kMaxSides> tally{};
};
static_assert(std::is_trivially_destructible_v<ManyControl>, "vanishes with its mapping");

constexpr std::uint64_t share_of(std::uint64_t count, unsigned sides, unsigned p) noexcept {
  return count / sides + (p < count % sides ? 1 : 0);
}

template <class T, class Q>
ChildExit produce_share(Q& queue, ManyControl& control, const RunSpec& spec, unsigned p) {
  T item{};
  const std::uint64_t base = std::uint64_t{p} << kSeqShift;
  const std::uint64_t n = share_of(spec.count, spec.sides, p);
  for (std::uint64_t i = 0; i < n; ++i) {
    fill(item, base | i);
    if (!send(queue, item)) return ChildExit::kStalled;
  }
  // acq_rel: the last one out sees every other producer's pushes as done.
  if (control.producers_done.fetch_add(1, std::memory_order_acq_rel) + 1 == spec.sides) queue.close();
  return ChildExit::kOk;
}

template <class T, class Q>
ChildExit consume_share(Q& queue, ManyControl& control, const RunSpec& spec, unsigned c) {
  SideTally& tally = control.tally[c];
  std::array<std::uint64_t, kMaxSides> next{};  // the least acceptable i per producer
  T item{};
  for (;;) {
    QueueStatus status = queue.try_pop(item);
    if (status == QueueStatus::kEmpty) status = queue.pop_until(item, deadline_after(kStallTimeout));
    if (status == QueueStatus::kClosed) break;
    if (status != QueueStatus::kOk) return ChildExit::kStalled;
    const std::uint64_t seq = item.words[0];
    const auto p = static_cast<unsigned>(seq >> kSeqShift);
    const std::uint64_t i = seq & kSeqMask;
    if (p >= spec.sides || i < next[p] || !holds(item, seq)) {
      ++tally.mismatches;
      continue;
    }
    next[p] = i + 1;
    ++tally.count[p];
    tally.seq_sum[p] += i;
    ++tally.received;
  }
  tally.end_ns = now_ns();
  return tally.mismatches != 0 ? ChildExit::kCorrupt : ChildExit::kOk;
}

template <class T, class Q>
Sample throughput_many_once(Q queue, const RunSpec& spec) {
  if (!prime<T>(queue, spec)) return {};
  SharedBox<ManyControl> control;
  ForkedChildren children(kStartTimeout);  // declared after queue and control: reaped first
  for (unsigned c = 0; c < spec.sides; ++c) {
    children.spawn([&] { consumer_side(queue, spec); },
                   [&, c] { return consume_share<T>(queue, *control, spec, c); });
  }
  for (unsigned p = 0; p < spec.sides; ++p) {
    children.spawn([&] { producer_side(queue, spec); },
                   [&, p] { return produce_share<T>(queue, *control, spec, p); });
  }
  const std::optional<std::int64_t> start_ns = children.start_timed();
  if (!start_ns || !children.join(throughput_deadline<T>(spec.count)).ok()) return {};
  std::int64_t end_ns = *start_ns;
  for (unsigned p = 0; p < spec.sides; ++p) {
    const std::uint64_t n = share_of(spec.count, spec.sides, p);
    std::uint64_t count = 0;
    std::uint64_t seq_sum = 0;
    for (unsigned c = 0; c < spec.sides; ++c) {
      count += control->tally[c].count[p];
      seq_sum += control->tally[c].seq_sum[p];
    }
    if (count != n || seq_sum != (n == 0 ? 0 : n * (n - 1) / 2)) return {};
  }
  for (unsigned c = 0; c < spec.sides; ++c) end_ns = std::max(end_ns, control->tally[c].end_ns);
  return {true, static_cast<double>(end_ns - *start_ns) / 1e9, 0, 0};
}

// ---------------------------------------------------------------------------
// Round trips: the parent sends on `ping`, an echo child sends every item
// back on `pong`; the parent checks each reply.

template <class T, class Q>
ChildExit echo(Q& ping, Q& pong, const RunSpec& spec) {
  T item{};
  for (std::uint64_t k = 0; k < kWarmupRoundTrips + spec.count; ++k) {
    if (!receive(ping, item) || !send(pong, item)) return ChildExit::kStalled;
  }
  return ChildExit::kOk;
}

template <class T, class Q>
Sample round_trip_once(Q ping, Q pong, const RunSpec& spec) {
  if (!prime<T>(ping, spec) || !prime<T>(pong, spec)) return {};
  ForkedChildren child(kStartTimeout);
  child.spawn(
      [&] {
        consumer_side(ping, spec);
        as_producer(pong);
      },
      [&] { return echo<T>(ping, pong, spec); });
  const ScopedPin pin(spec.pinning, 0);  // the parent is the other side, for this run only
  as_producer(ping);
  as_consumer(pong);
  if (!child.start()) return {};

  std::vector<double> rtt_ns(spec.count);
  T out{};
  T in{};
  auto first = steady_clock::now();
  auto last = first;
  for (std::uint64_t k = 0; k < kWarmupRoundTrips + spec.count; ++k) {
    fill(out, k);
    if (!send(ping, out) || !receive(pong, in) || !holds(in, k)) return {};
    // One clock read per round trip: its end is the next one's start.
    const auto now = steady_clock::now();
    if (k >= kWarmupRoundTrips) {
      rtt_ns[k - kWarmupRoundTrips] = std::chrono::duration<double, std::nano>(now - last).count();
    } else {
      first = now;
    }
    last = now;
    if (now - first > kRoundTripBudget) return {};
  }
  if (!child.join_within(kStartTimeout).ok()) return {};
  return {true, std::chrono::duration<double>(last - first).count(), percentile(rtt_ns, 50),
          percentile(rtt_ns, 99)};
}

// ---------------------------------------------------------------------------
// Dispatch: payload sizes are types, so one instantiation per supported size.

// One producer and one consumer, or several of each (single-sided backends
// are skipped before dispatch when sides > 1).
template <class T, bool Batched, class Q>
Sample throughput_run(Q queue, const RunSpec& spec) {
  if constexpr (!Batched) {
    if (spec.sides > 1) return throughput_many_once<T>(std::move(queue), spec);
  }
  return throughput_once<T, Batched>(std::move(queue), spec);
}

template <std::size_t N>
Sample throughput_for(const QueueInfo& backend, const RunSpec& spec) {
  using T = Payload<N>;
  constexpr std::size_t kCapacity = queue_capacity(N);
  return visit_queue(Backends{}, backend.name, [&]<class E>(std::type_identity<E>) -> Sample {
    if constexpr (!E::kInfo.carries(N)) {
      return {};  // not carried: skipped before dispatch
    } else {
      constexpr bool kBatched = E::kInfo.items_per_call > 1;
      static_assert(!kBatched || E::kInfo.items_per_call == kBatch,
                    "the batch variant moves kBatch items a call");
      return throughput_run<T, kBatched>(make_queue<E, T, kCapacity>(kCapacity, *spec.servers),
                                         spec);
    }
  });
}

template <std::size_t N>
Sample round_trip_for(const QueueInfo& backend, const RunSpec& spec) {
  using T = Payload<N>;
  constexpr std::size_t kCapacity = queue_capacity(N);
  return visit_queue(Backends{}, backend.name, [&]<class E>(std::type_identity<E>) -> Sample {
    if constexpr (!E::kInfo.carries(N) || E::kInfo.items_per_call > 1) {
      return {};  // not carried, or a batch entry (nothing to batch in a ping-pong): no such row
    } else {
      return round_trip_once<T>(make_queue<E, T, kCapacity>(kCapacity, *spec.servers),
                                make_queue<E, T, kCapacity>(kCapacity, *spec.servers), spec);
    }
  });
}

struct SizeEntry {
  std::size_t bytes;
  Sample (*throughput)(const QueueInfo&, const RunSpec&);
  Sample (*round_trip)(const QueueInfo&, const RunSpec&);
};
constexpr std::array<SizeEntry, kPayloadSizes.size()> kSizeTable = {{
    {8, &throughput_for<8>, &round_trip_for<8>},
    {64, &throughput_for<64>, &round_trip_for<64>},
    {1024, &throughput_for<1024>, &round_trip_for<1024>},
    {65536, &throughput_for<65536>, &round_trip_for<65536>},
}};
static_assert(kSizeTable[0].bytes == kPayloadSizes[0] && kSizeTable[1].bytes == kPayloadSizes[1] &&
                  kSizeTable[2].bytes == kPayloadSizes[2] &&
                  kSizeTable[3].bytes == kPayloadSizes[3],
              "one table entry per supported payload size, in the same order");

// ---------------------------------------------------------------------------
// The cells (one per row) and their samples across repeats.

struct Cell {
  const QueueInfo* backend;
  const SizeEntry* size;
  bool pinned;
  bool round_trip;
  unsigned sides;       // producers = consumers
  std::uint64_t count;  // messages or round trips per run
  Repeats runs;  // figures rtt_ns_p50, rtt_ns_p99 (zero for throughput runs)

  void add(const Sample& s) {
    if (!s.ok) return runs.fail();
    runs.add(s.seconds, {{"rtt_ns_p50", s.rtt_ns_p50}, {"rtt_ns_p99", s.rtt_ns_p99}});
  }
};

std::string join_names(std::span<const std::string_view> names) {
  std::string out;
  for (const std::string_view name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::string join_sizes() {
  std::string out;
  for (const std::size_t bytes : kPayloadSizes)
    out += (out.empty() ? "" : ", ") + std::to_string(bytes);
  return out;
}

Measurement to_row(const Cell& cell, const std::string& cpus) {
  Measurement row;
  row.experiment = "ipc";
  row.variant = std::string(cell.backend->name);
  row.workers = 2 * cell.sides;
  row.params = {
      {"mode", std::string(cell.round_trip ? "round-trip" : "throughput")},
      {"bytes", static_cast<std::int64_t>(cell.size->bytes)},
      {"producers", static_cast<std::int64_t>(cell.sides)},
      {"consumers", static_cast<std::int64_t>(cell.sides)},
      {cell.round_trip ? "round_trips" : "messages", static_cast<std::int64_t>(cell.count)},
      {"capacity", static_cast<std::int64_t>(queue_capacity(cell.size->bytes))},
      {"pinned", cell.pinned}};
  if (cell.pinned) row.params.emplace_back("cpus", cpus);
  cell.runs.fill(row);
  if (row.repeats == 0) return row;
  if (cell.round_trip) {
    const double p50 = cell.runs.figure("rtt_ns_p50").median();
    row.metrics = {{"rtt_ns_p50", p50},
                   {"rtt_ns_p99", cell.runs.figure("rtt_ns_p99").median()},
                   {"one_way_ns", p50 / 2}};
  } else if (row.seconds.median > 0) {
    const double messages = static_cast<double>(cell.count);
    row.metrics = {
        {"messages_per_s", messages / row.seconds.median},
        {"bytes_per_s", messages * static_cast<double>(cell.size->bytes) / row.seconds.median}};
  }
  return row;
}

}  // namespace

std::span<const std::string_view> transport_backends() noexcept { return kBackendNames; }

std::span<const std::size_t> transport_payload_sizes() noexcept { return kPayloadSizes; }

std::optional<std::string> transport_skip_reason(std::string_view backend, std::size_t bytes,
                                                 unsigned sides) {
  const QueueInfo* info = detail::find_named(kBackends, backend);
  if (info == nullptr) return std::nullopt;
  if (sides > 1 && !info->many_sided()) {
    return std::string(backend) + " takes one producer and one consumer only";
  }
  if (!info->carries(bytes)) return std::string(info->too_large);
  return std::nullopt;
}

std::uint64_t transport_messages_per_run(const TransportConfig& config,
                                         std::size_t bytes) noexcept {
  if (bytes == 0) return config.messages;
  return std::max<std::uint64_t>(
      1, std::min<std::uint64_t>(config.messages, kMaxTransportBytesPerRun / bytes));
}

void validate_transport_config(const TransportConfig& config) {
  if (config.repeats == 0) throw_invalid_argument("TransportConfig: repeats must be >= 1 (got 0)");
  if (config.messages == 0)
    throw_invalid_argument("TransportConfig: messages must be >= 1 (got 0)");
  if (config.remote_messages == 0)
    throw_invalid_argument("TransportConfig: remote_messages must be >= 1 (got 0)");
  if (config.remote_round_trips == 0)
    throw_invalid_argument("TransportConfig: remote_round_trips must be >= 1 (got 0)");
  if (config.round_trips == 0 || config.round_trips > kMaxTransportRoundTrips) {
    throw_invalid_argument("TransportConfig: round_trips must lie in [1, " +
                           std::to_string(kMaxTransportRoundTrips) + "] (got " +
                           std::to_string(config.round_trips) + ")");
  }
  if (config.payload_bytes.empty()) {
    throw_invalid_argument("TransportConfig: payload_bytes is empty (supported: " + join_sizes() +
                           ")");
  }
  for (const std::size_t bytes : config.payload_bytes) {
    if (std::find(kPayloadSizes.begin(), kPayloadSizes.end(), bytes) == kPayloadSizes.end()) {
      throw_invalid_argument("TransportConfig: payload_bytes: " + std::to_string(bytes) +
                             " is not supported (supported: " + join_sizes() + ")");
    }
  }
  if (config.sides.empty()) throw_invalid_argument("TransportConfig: sides is empty");
  for (const unsigned sides : config.sides) {
    if (sides == 0 || sides > kMaxTransportSides) {
      throw_invalid_argument("TransportConfig: sides: " + std::to_string(sides) +
                             " is out of range [1, " + std::to_string(kMaxTransportSides) + "]");
    }
  }
  for (const std::string& name : config.backends) {
    if (std::find(kBackendNames.begin(), kBackendNames.end(), name) == kBackendNames.end()) {
      throw_invalid_argument("TransportConfig: backends: unknown backend '" + name +
                             "' (known: " + join_names(kBackendNames) + ")");
    }
  }
}

std::vector<Measurement> run_transport_experiment(
    const TransportConfig& config, const std::function<void(std::string_view)>& progress) {
  validate_transport_config(config);
  const Pinning pinning(/*enabled=*/true, /*most=*/2);  // the two sides of every run
  detail::ExperimentServers servers(config.redis_url);
  std::vector<bool> modes;
  if (config.pin && pinning.size() >= 2) {
    modes.push_back(true);
    if (config.unpinned_too) modes.push_back(false);
  } else {
    modes.push_back(false);
  }

  // Canonical order, duplicates dropped: sizes ascending, backends as listed.
  const auto chosen = [&](const QueueInfo& b) {
    return config.backends.empty() || std::find(config.backends.begin(), config.backends.end(),
                                                b.name) != config.backends.end();
  };
  const auto sized = [&](const SizeEntry& s) {
    return std::find(config.payload_bytes.begin(), config.payload_bytes.end(), s.bytes) !=
           config.payload_bytes.end();
  };
  std::vector<unsigned> sides = config.sides;
  std::sort(sides.begin(), sides.end());
  sides.erase(std::unique(sides.begin(), sides.end()), sides.end());
  std::vector<Cell> cells;
  for (const bool round_trip : {false, true}) {
    for (const unsigned side : sides) {
      if (round_trip && side != 1) continue;  // a ping-pong has one of each
      for (const bool pinned : modes) {
        for (const SizeEntry& size : kSizeTable) {
          if (!sized(size)) continue;
          for (const QueueInfo& backend : kBackends) {
            if (!chosen(backend) || transport_skip_reason(backend.name, size.bytes, side)) continue;
            if (round_trip && backend.items_per_call > 1) continue;
            std::uint64_t count =
                round_trip ? config.round_trips : transport_messages_per_run(config, size.bytes);
            if (backend.remote) {
              count = std::min(count, round_trip ? config.remote_round_trips : config.remote_messages);
            }
            cells.push_back(
                Cell{&backend, &size, pinned, round_trip, side, count, {}});
          }
        }
      }
    }
  }

  // Round-robin: every cell once per repeat, so drift in the background load
  // spreads over all of them instead of biasing whichever ran last.
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (Cell& cell : cells) {
      if (progress) {
        progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) +
                 ": " + (cell.pinned ? "pinned " : "unpinned ") + std::to_string(cell.size->bytes) +
                 " B " + std::string(cell.backend->name) +
                 (cell.sides > 1 ? " " + std::to_string(cell.sides) + "x" + std::to_string(cell.sides) : "") +
                 (cell.round_trip ? " round trips" : " throughput"));
      }
      const RunSpec spec{cell.count, cell.pinned ? &pinning : nullptr, cell.sides, &servers,
                         !cell.backend->remote};
      try {
        cell.add(cell.round_trip ? cell.size->round_trip(*cell.backend, spec)
                                 : cell.size->throughput(*cell.backend, spec));
      } catch (const std::exception& error) {
        // A backend that cannot be set up here (no redis-server, a failed
        // fork) fails this run, not the experiment.
        cell.add(Sample{});
        if (progress) progress(std::string(cell.backend->name) + " failed: " + error.what());
      }
    }
  }

  std::vector<Measurement> rows;
  rows.reserve(cells.size());
  const std::string cpus = pinning.cpus_text();
  for (const Cell& cell : cells) rows.push_back(to_row(cell, cpus));
  return rows;
}

}  // namespace mpkit
