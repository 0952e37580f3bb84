// PoolCore: dispatch, collection, worker exits, timeouts and the crash-loop
// breaker (see detail/pool_core.hpp for the protocol).
//
// The state shared with the workers is in pool_shared.hpp, the worker loop
// in worker_loop.cpp, the message framing in framing.hpp.

#include "mpkit/pools/detail/pool_core.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "framing.hpp"
#include "launcher.hpp"
#include "mpkit/ipc/detail/clock.hpp"
#include "pool_shared.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/spsc_ring.hpp"
#include "mpkit/pools/errors.hpp"

namespace mpkit::pools::detail {

namespace {

// Scheduling (see detail/pool_core.hpp, "Scheduling"): each chunk goes to
// the live worker with the fewest items in flight that has room. Room: a
// worker with nothing in flight always has it; otherwise it may hold up to
// kMinQueuedItems items, or as many as take kQueuedWork by the pool's
// running estimate of an item's cost, never more than kMaxQueuedItems (the
// whole bound until a first estimate exists).
constexpr std::size_t kMaxQueuedItems = 1024;
constexpr std::size_t kMinQueuedItems = 2;
constexpr std::uint64_t kQueuedWorkNs = 2'000'000;  // 2 ms: rides out a late parent
// The longest the parent sleeps while results may be waiting unannounced
// (workers wake it only for a refill, when idle, or when their result ring
// fills): bounds how late a result nobody announced is seen.
constexpr auto kResultLatency = std::chrono::milliseconds(1);
// Weight of a new sample in the item-cost estimate.
constexpr double kCostSmoothing = 0.25;

struct Inflight {
  std::shared_ptr<Job> job;
  std::uint64_t chunk = 0;
  std::uint64_t key = 0;
  std::uint64_t start_record = 0;  // pushed_records when its header went in
  std::uint32_t items = 0;
  std::uint32_t records = 0;       // the message's length in the task ring
  std::uint64_t sent_ns = 0;       // when it was dispatched (one clock read per dispatch)
};

struct Worker {
  Worker(std::size_t records)
      : tasks(SpscRing<Record>::create(records)), results(SpscRing<Record>::create(records)) {}

  SpscRing<Record> tasks;
  SpscRing<Record> results;
  // Parent-only state below.
  bool alive = false;  // a spawn was requested and no exit report came yet
  pid_t pid = 0;
  std::uint32_t generation = 0;
  bool kill_sent = false;
  bool timed_out = false;
  std::deque<Inflight> inflight;
  std::uint64_t pushed_records = 0;
  std::size_t inflight_items = 0;
  std::size_t inflight_records = 0;
  std::uint64_t busy_since_ns = 0;  // the last delivery (or dispatch to an idle worker)
  std::size_t batch_items = 0;      // delivered by the current collect(), for the cost estimate
  std::uint64_t batch_sent_ns = 0;  // when the first of them was dispatched
  std::vector<Record> outbox;  // records of a message that did not fit yet
  std::size_t outbox_at = 0;
  bool have_header = false;  // a result message is being read
  MessageHeader header{};
  std::vector<Record> payload;
  std::size_t payload_got = 0;
};

void validate(PoolKind kind, const PoolOptions& options) {
  if (options.workers && *options.workers == 0) {
    throw_invalid_argument("PoolOptions::workers: must be at least 1 (got 0)");
  }
  if (options.workers && *options.workers > 4096) {
    throw_invalid_argument("PoolOptions::workers: at most 4096 (got " + std::to_string(*options.workers) + ")");
  }
  if (options.task_timeout && options.task_timeout->count() <= 0) {
    throw_invalid_argument("PoolOptions::task_timeout: must be positive (got " +
                           std::to_string(options.task_timeout->count()) + " ns)");
  }
  if (options.task_timeout && kind == PoolKind::kThread) {
    throw_invalid_argument("PoolOptions::task_timeout: a ThreadPool cannot kill a running thread; use a ProcessPool");
  }
  if (!(options.max_tasks_jitter >= 0.0 && options.max_tasks_jitter <= 10.0)) {
    throw_invalid_argument("PoolOptions::max_tasks_jitter: must be in [0, 10]");
  }
  if (options.crash_limit == 0) throw_invalid_argument("PoolOptions::crash_limit: must be at least 1");
  if (options.crash_window.count() <= 0) throw_invalid_argument("PoolOptions::crash_window: must be positive");
  if (options.ring_records < 2 || options.ring_records > (std::size_t{1} << 24)) {
    throw_invalid_argument("PoolOptions::ring_records: must be in [2, 2^24] (got " +
                           std::to_string(options.ring_records) + ")");
  }
  // Two rings of ring_records 64-byte records per worker, all mapped at
  // construction: refuse what this machine could never hold (it would be
  // accepted by the lazy mappings, then end in the OOM killer).
  const double workers = static_cast<double>(options.workers.value_or(available_cores()));
  const double ring_bytes = workers * 2.0 * static_cast<double>(options.ring_records) * sizeof(Record);
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    const double memory = static_cast<double>(pages) * static_cast<double>(page_size);
    if (ring_bytes > memory) {
      throw_invalid_argument("PoolOptions::ring_records: " + std::to_string(options.ring_records) + " records x " +
                             std::to_string(static_cast<std::uint64_t>(workers)) +
                             " workers x 2 rings x 64 B = " + std::to_string(static_cast<std::uint64_t>(ring_bytes / (1 << 20))) +
                             " MiB of rings, more than this machine's memory (" +
                             std::to_string(static_cast<std::uint64_t>(memory / (1 << 20))) + " MiB)");
    }
  }
}

const PoolOptions& validated(PoolKind kind, const PoolOptions& options) {
  validate(kind, options);
  return options;
}

}  // namespace

std::size_t available_cores() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

struct PoolCore::Impl {
  Impl(PoolKind kind_in, const PoolOptions& options_in)
      : kind(kind_in),
        options(validated(kind_in, options_in)),
        worker_count(options_in.workers.value_or(available_cores())),
        memory(SharedMemory::anonymous(sizeof(PoolControl) + worker_count * sizeof(SlotShared))) {
    control = new (memory.data()) PoolControl{};
    control->workers = static_cast<std::uint32_t>(worker_count);
    control->timeouts = options.task_timeout ? 1 : 0;
    slots = reinterpret_cast<SlotShared*>(memory.data() + sizeof(PoolControl));
    for (std::size_t i = 0; i < worker_count; ++i) new (&slots[i]) SlotShared{};
    workers.reserve(worker_count);
    for (std::size_t i = 0; i < worker_count; ++i) workers.emplace_back(options.ring_records);
    if (options.task_timeout) timeout_ns = static_cast<std::uint64_t>(options.task_timeout->count());
    rng.seed(std::random_device{}());
    // Everything the workers use exists now: the fork server's copy of this
    // object (and so every worker's) sees it.
    launcher = kind == PoolKind::kProcess ? make_fork_server(&worker_entry, &notify_entry, this)
                                          : make_thread_launcher(&worker_entry, &notify_entry, this);
    for (std::uint32_t i = 0; i < worker_count; ++i) spawn(i);
  }

  ~Impl() { terminate(); }

  // ---- worker side ---------------------------------------------------------

  static int worker_entry(void* context, std::uint32_t slot) noexcept {
    try {
      auto* self = static_cast<Impl*>(context);
      Worker& w = self->workers[slot];
      return run_worker_loop({w.tasks, w.results, self->slots[slot], *self->control,
                              self->options.initializer},
                             slot);
    } catch (...) {
      return kWorkerProtocolExit;  // a broken ring or a parent gone (EPIPE)
    }
  }

  static void notify_entry(void* context) noexcept {
    auto* self = static_cast<Impl*>(context);
    self->control->reports_posted.fetch_add(1, std::memory_order_release);  // release: the report is queued
    mpkit::detail::wake_all_parked(self->control->gate);
  }

  // ---- parent side ---------------------------------------------------------

  void spawn(std::uint32_t slot) {
    Worker& w = workers[slot];
    w.generation += 1;
    w.alive = true;
    w.pid = 0;
    w.kill_sent = false;
    w.timed_out = false;
    slots[slot].started_ns.store(0, std::memory_order_relaxed);  // relaxed: the spawn publishes it
    std::uint64_t limit = 0;
    if (options.max_tasks_per_child != 0) {
      const auto base = static_cast<double>(options.max_tasks_per_child);
      std::uniform_real_distribution<double> jitter(0.0, base * options.max_tasks_jitter);
      limit = options.max_tasks_per_child + static_cast<std::uint64_t>(jitter(rng));
    }
    slots[slot].task_limit.store(limit, std::memory_order_relaxed);  // relaxed: the spawn publishes it
    launcher->spawn(slot, w.generation);
  }

  // A message waits in an outbox and its ring has room for more of it.
  [[nodiscard]] bool outbox_has_room() const noexcept {
    for (const Worker& w : workers) {
      if (!w.outbox.empty() && w.tasks.size_guess() < w.tasks.capacity()) return true;
    }
    return false;
  }

  [[nodiscard]] bool has_work() const noexcept {
    if (!requeue.empty()) return true;
    for (const auto& job : active) {
      if (!job->exhausted()) return true;
    }
    for (const Worker& w : workers) {
      if (!w.inflight.empty()) return true;
    }
    return false;
  }

  [[nodiscard]] bool any_alive() const noexcept {
    return std::any_of(workers.begin(), workers.end(), [](const Worker& w) { return w.alive; });
  }

  bool drive_until(DonePredicate done, std::optional<Deadline> deadline) {
    for (;;) {
      const bool progress = pump();
      if (done()) return true;
      if (progress) continue;
      const Deadline now = Clock::now();
      // A killed fork server posts no report (and its workers die with it,
      // posting none either): read its socket once a slice anyway, so its
      // end of file is seen and the pool breaks instead of waiting for ever.
      if (now - last_launcher_poll >= mpkit::detail::kRingWaitSlice) {
        last_launcher_poll = now;
        if (handle_reports(true)) continue;
      }
      if (deadline && now >= *deadline) return false;
      if (broken && !has_work() && !any_alive()) {
        // Nothing can change any more: done() will never hold.
        throw PoolBroken(broken_message);
      }
      // Sleep until a worker asks (refill, idle, result ring filling), a
      // report comes, or an outbox can move; while chunks are out, at most
      // kResultLatency, so a result nobody announced is still seen soon.
      const bool chunks_out = std::any_of(workers.begin(), workers.end(),
                                          [](const Worker& w) { return !w.inflight.empty(); });
      Deadline wake = now + (chunks_out ? Clock::duration(kResultLatency) : mpkit::detail::kRingWaitSlice);
      if (deadline && *deadline < wake) wake = *deadline;
      const std::uint64_t seen = reports_seen;
      const std::uint64_t asked = wake_requests_seen;
      (void)mpkit::detail::park_until(
          control->gate,
          [&] {
            // acquire: pairs with notify_entry's and the workers' release
            return control->reports_posted.load(std::memory_order_acquire) != seen ||
                   control->wake_requests.load(std::memory_order_acquire) != asked || outbox_has_room();
          },
          wake, [] { return std::optional<QueueStatus>(QueueStatus::kTimedOut); },
          mpkit::detail::ParkSpin::kShort);
    }
  }

  bool pump() {
    bool progress = handle_reports();
    wake_requests_seen = control->wake_requests.load(std::memory_order_acquire);  // see drive_until
    pump_ns = static_cast<std::uint64_t>(mpkit::detail::now_ns());
    for (Worker& w : workers) {
      progress |= collect(w);
      learn_item_cost(w);
    }
    if (timeout_ns != 0) check_timeouts();
    progress |= dispatch();
    return progress;
  }

  // Reads the launcher's reports if some were posted (or, with `force`,
  // whether or not); true if anything was posted or read.
  bool handle_reports(bool force = false) {
    const std::uint64_t posted = control->reports_posted.load(std::memory_order_acquire);  // see notify_entry
    if (posted == reports_seen && !force) return false;
    bool any = posted != reports_seen;
    reports_seen = posted;
    while (std::optional<LaunchReport> report = launcher->poll()) {
      on_report(*report);
      any = true;
    }
    return any;
  }

  void on_report(const LaunchReport& report) {
    if (report.kind == LaunchReport::kLauncherGone) {
      launcher_gone();
      return;
    }
    if (report.slot >= workers.size()) return;
    Worker& w = workers[report.slot];
    if (report.generation != w.generation) return;  // about a worker already handled
    switch (report.kind) {
      case LaunchReport::kSpawned:
        w.pid = report.pid;
        stats.spawned += 1;
        break;
      case LaunchReport::kSpawnFailed:
        worker_gone(report.slot, 0, 0, true);
        break;
      case LaunchReport::kExited:
        w.pid = report.pid;
        worker_gone(report.slot, WIFSIGNALED(report.status) ? WTERMSIG(report.status) : 0,
                    WIFEXITED(report.status) ? WEXITSTATUS(report.status) : 0, false);
        break;
      default:
        break;
    }
  }

  // The worker of `slot` is gone (exit status or signal): recover its tasks.
  void worker_gone(std::uint32_t slot, int signal, int exit_code, bool spawn_failed) {
    Worker& w = workers[slot];
    w.alive = false;
    while (collect(w)) {
    }
    w.have_header = false;  // a half-pushed result message is dropped
    w.payload_got = 0;
    // Take back what it never read (we are the only user of the ring now).
    std::uint64_t remaining = 0;
    Record trash[64];
    while (const std::size_t n = w.tasks.try_pop_many(trash)) remaining += n;
    const std::uint64_t consumed = w.pushed_records - remaining;
    w.outbox.clear();
    w.outbox_at = 0;
    std::deque<Inflight> inflight = std::move(w.inflight);
    w.inflight.clear();
    w.inflight_items = 0;
    w.inflight_records = 0;
    bool held = false;
    std::vector<std::pair<std::shared_ptr<Job>, std::uint64_t>> again;
    for (Inflight& entry : inflight) {
      if (entry.start_record < consumed) {
        held = true;
        std::exception_ptr error;
        const std::size_t first = entry.job->first_index(entry.chunk);
        if (w.timed_out) {
          error = std::make_exception_ptr(TaskTimedOut(
              w.pid, static_cast<double>(timeout_ns) / 1e9, first, entry.items));
        } else {
          error = std::make_exception_ptr(WorkerDied(w.pid, signal, exit_code, first, entry.items));
        }
        entry.job->fail(entry.chunk, error);
      } else {
        again.emplace_back(std::move(entry.job), entry.chunk);
      }
    }
    stats.redispatched += again.size();
    requeue.insert(requeue.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
    const bool abnormal = spawn_failed || signal != 0 || exit_code != 0 || held;
    if (abnormal) {
      stats.crashed += 1;
      if (!w.timed_out) {
        const Deadline now = Clock::now();
        crash_times.push_back(now);
        while (!crash_times.empty() && now - crash_times.front() > options.crash_window) crash_times.pop_front();
        if (crash_times.size() > options.crash_limit) {
          trip("crash loop: " + std::to_string(crash_times.size()) + " workers died within " +
               std::to_string(options.crash_window.count()) + " ms (last: pid " + std::to_string(w.pid) +
               (signal != 0 ? ", signal " + std::to_string(signal) : ", exit code " + std::to_string(exit_code)) +
               "); respawning stopped");
        }
      }
    } else {
      stats.retired += 1;
    }
    if (!closing && !broken) spawn(slot);
  }

  // The fork server died (killed: a clean shutdown is never polled for), and
  // its workers with it (PR_SET_PDEATHSIG), without exit reports. What they
  // finished is delivered; everything else fails with PoolBroken, now
  // (chunks in the rings) or at the next dispatch (the rest); the dead
  // server is reaped.
  void launcher_gone() {
    trip("the pool's fork server died (killed?); its workers died with it and none can be replaced");
    const auto error = std::make_exception_ptr(PoolBroken(broken_message));
    for (Worker& w : workers) {
      while (collect(w)) {
      }
      w.alive = false;
      w.have_header = false;
      w.payload_got = 0;
      w.outbox.clear();
      w.outbox_at = 0;
      for (Inflight& entry : w.inflight) entry.job->fail(entry.chunk, error);
      w.inflight.clear();
      w.inflight_items = 0;
      w.inflight_records = 0;
    }
    launcher->shutdown();
  }

  void trip(std::string message) {
    if (broken) return;
    broken = true;
    broken_message = std::move(message);
  }

  // Reads what the worker's result ring holds; true if anything moved.
  bool collect(Worker& w) {
    bool any = false;
    for (;;) {
      if (!w.have_header) {
        Record record;
        if (w.results.try_pop(record) != QueueStatus::kOk) return any;
        w.header = header_of(record);
        w.have_header = true;
        w.payload.resize(payload_records(w.header));
        w.payload_got = 0;
        any = true;
      }
      if (w.payload_got < w.payload.size()) {
        const std::size_t n = w.results.try_pop_many(std::span<Record>(w.payload).subspan(w.payload_got));
        w.payload_got += n;
        any |= n != 0;
        if (w.payload_got < w.payload.size()) return any;
      }
      w.have_header = false;
      deliver(w);
    }
  }

  void deliver(Worker& w) {
    const MessageHeader& header = w.header;
    if (w.inflight.empty() || w.inflight.front().key != header.key || header.kind != kResultMessage) {
      trip("protocol error: a worker answered a chunk it was not given");
      return;
    }
    Inflight entry = std::move(w.inflight.front());
    w.inflight.pop_front();
    w.inflight_items -= entry.items;
    w.inflight_records -= entry.records;
    if (w.batch_items == 0) w.batch_sent_ns = entry.sent_ns;
    w.batch_items += entry.items;
    ByteReader in(payload_of(header, w.payload));
    try {
      entry.job->deliver(entry.chunk, header.count, in);
    } catch (...) {
      entry.job->fail(entry.chunk, std::current_exception());
    }
  }

  void check_timeouts() {
    const auto now = static_cast<std::uint64_t>(mpkit::detail::now_ns());
    for (std::uint32_t i = 0; i < workers.size(); ++i) {
      Worker& w = workers[i];
      if (!w.alive || w.kill_sent) continue;
      const std::uint64_t started = slots[i].started_ns.load(std::memory_order_relaxed);  // relaxed: a hint
      if (started != 0 && now > started && now - started > timeout_ns) {
        w.timed_out = true;
        w.kill_sent = true;
        launcher->kill(i, w.generation);
      }
    }
  }

  std::optional<std::pair<std::shared_ptr<Job>, std::uint64_t>> next_chunk() {
    if (!requeue.empty()) {
      auto next = std::move(requeue.front());
      requeue.pop_front();
      return next;
    }
    for (std::size_t i = 0; i < active.size();) {
      if (std::optional<std::uint64_t> chunk = active[i]->next_chunk()) return std::pair(active[i], *chunk);
      if (active[i]->exhausted()) {
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;  // a lazy job with a full window
      }
    }
    return std::nullopt;
  }

  bool dispatch() {
    bool any = false;
    if (broken) {  // nothing new runs: every chunk not yet sent fails
      const auto error = std::make_exception_ptr(PoolBroken(broken_message));
      while (auto next = next_chunk()) {
        next->first->fail(next->second, error);
        any = true;
      }
      return any;
    }
    for (Worker& w : workers) {
      if (w.outbox.empty()) continue;
      const std::size_t n = w.tasks.try_push_many(std::span<const Record>(w.outbox).subspan(w.outbox_at));
      w.outbox_at += n;
      w.pushed_records += n;
      any |= n != 0;
      if (w.outbox_at == w.outbox.size()) {
        w.outbox.clear();
        w.outbox_at = 0;
      }
    }
    for (;;) {
      Worker* target = least_loaded_with_room();
      if (target == nullptr) return any;
      auto next = next_chunk();
      if (!next) return any;
      send(*target, std::move(next->first), next->second);
      any = true;
    }
  }

  // How many items a busy worker may hold (see kQueuedWork above).
  [[nodiscard]] std::size_t queue_bound() const noexcept {
    if (ns_per_item <= 0) return kMaxQueuedItems;
    const double items = static_cast<double>(kQueuedWorkNs) / ns_per_item;
    if (items >= static_cast<double>(kMaxQueuedItems)) return kMaxQueuedItems;
    return std::max(kMinQueuedItems, static_cast<std::size_t>(items));
  }

  // The live worker with the fewest items in flight that has room for one
  // more chunk (ties: the fewest chunks, then the lowest slot), or nullptr.
  [[nodiscard]] Worker* least_loaded_with_room() noexcept {
    const std::size_t bound = queue_bound();
    Worker* best = nullptr;
    for (Worker& w : workers) {
      if (!w.alive || !w.outbox.empty()) continue;
      if (!w.inflight.empty() && w.inflight_items >= bound) continue;
      if (best == nullptr || w.inflight_items < best->inflight_items ||
          (w.inflight_items == best->inflight_items && w.inflight.size() < best->inflight.size())) {
        best = &w;
      }
    }
    return best;
  }

  // The chunks one collect() delivered: the worker was busy with them from
  // the later of the first one's dispatch and its previous delivery until
  // now (this pump's clock read). Results collected late (a parent that was
  // elsewhere) overstate the cost, which only shortens the queues until the
  // next samples.
  void learn_item_cost(Worker& w) noexcept {
    if (w.batch_items == 0) return;
    const std::uint64_t began = std::max(w.batch_sent_ns, w.busy_since_ns);
    const std::size_t items = std::exchange(w.batch_items, 0);
    w.busy_since_ns = pump_ns;
    if (pump_ns <= began) return;
    const double sample = static_cast<double>(pump_ns - began) / static_cast<double>(items);
    ns_per_item = ns_per_item <= 0 ? sample : ns_per_item + kCostSmoothing * (sample - ns_per_item);
  }

  void send(Worker& w, std::shared_ptr<Job> job, std::uint64_t chunk) {
    writer.clear();
    std::uint32_t items = 0;
    try {
      items = job->encode_chunk(chunk, writer);
      if (writer.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("a chunk's arguments take more than 4 GiB encoded");
      }
    } catch (...) {
      job->fail(chunk, std::current_exception());
      return;
    }
    const std::uint64_t key = next_key++;
    if (w.inflight.empty()) w.busy_since_ns = pump_ns;
    const auto records = static_cast<std::uint32_t>(message_records(writer.size()));
    w.inflight.push_back({std::move(job), chunk, key, w.pushed_records, items, records, pump_ns});
    w.inflight_items += items;
    w.inflight_records += records;
    // The worker asks for more when half of what it holds is left.
    slots[&w - workers.data()].refill_below.store(w.inflight_records / 2, std::memory_order_relaxed);
    const Job& sent = *w.inflight.back().job;
    frame_message({kTaskMessage, items, key, reinterpret_cast<std::uintptr_t>(sent.entry()), sent.fn(), 0, 0, {}},
                  writer.bytes(), w.outbox);
    const std::size_t n = w.tasks.try_push_many(w.outbox);
    w.pushed_records += n;
    w.outbox_at = n;
    if (n == w.outbox.size()) {
      w.outbox.clear();
      w.outbox_at = 0;
    }
  }

  // ---- lifecycle -----------------------------------------------------------

  bool join(std::optional<std::chrono::nanoseconds> timeout) {
    if (!closed) throw std::logic_error("ProcessPool/ThreadPool::join: call close() (or terminate()) first");
    if (joined) return true;
    // Deadline::max(): no limit (one optional, not two, keeps GCC's
    // maybe-uninitialized analysis quiet).
    const std::optional<Deadline> deadline(timeout ? deadline_after(*timeout) : Deadline::max());
    auto idle = [&] { return !has_work(); };
    if (!drive_until(DonePredicate(idle), deadline)) return false;
    closing = true;
    for (Worker& w : workers) w.tasks.close();  // each worker leaves at its next pop
    auto gone = [&] { return !any_alive(); };
    if (!drive_until(DonePredicate(gone), deadline)) return false;
    launcher->shutdown();
    joined = true;
    return true;
  }

  void terminate() noexcept {
    if (terminated) return;
    terminated = true;
    closed = true;
    closing = true;
    control->stopping.store(1, std::memory_order_release);  // release: pairs with stopping()
    for (Worker& w : workers) {
      w.tasks.close();
      w.results.close();  // a ThreadPool worker blocked on a full result ring leaves too
    }
    launcher->shutdown();
    trip(joined ? "the pool was joined" : "the pool was terminated");
    const auto error = std::make_exception_ptr(PoolBroken(broken_message));
    try {
      for (Worker& w : workers) {
        while (collect(w)) {
        }
        w.alive = false;
        for (Inflight& entry : w.inflight) entry.job->fail(entry.chunk, error);
        w.inflight.clear();
      }
      (void)dispatch();  // fails what was never sent
    } catch (...) {  // a job's fail() cannot throw in practice (it stores an exception_ptr)
    }
  }

  PoolKind kind;
  PoolOptions options;
  std::size_t worker_count;
  SharedMemory memory;
  PoolControl* control = nullptr;
  SlotShared* slots = nullptr;
  std::vector<Worker> workers;
  std::unique_ptr<WorkerLauncher> launcher;
  std::deque<std::shared_ptr<Job>> active;
  std::deque<std::pair<std::shared_ptr<Job>, std::uint64_t>> requeue;
  std::deque<Deadline> crash_times;
  ByteWriter writer;
  std::mt19937_64 rng;
  std::uint64_t timeout_ns = 0;
  std::uint64_t next_key = 1;
  std::uint64_t reports_seen = 0;
  Deadline last_launcher_poll{};
  std::uint64_t wake_requests_seen = 0;
  std::uint64_t pump_ns = 0;  // the clock at the start of the current pump
  double ns_per_item = 0;     // running estimate of an item's cost; 0: none yet
  bool closed = false;
  bool closing = false;
  bool joined = false;
  bool terminated = false;
  bool broken = false;
  std::string broken_message;
  PoolStats stats;
};

PoolCore::PoolCore(PoolKind kind, const PoolOptions& options) : impl_(std::make_unique<Impl>(kind, options)) {}
PoolCore::~PoolCore() = default;

std::size_t PoolCore::workers() const noexcept { return impl_->worker_count; }

// One thread drives a pool: the engine is not synchronised, and two drivers
// would take each other's results. The first thread that submits or waits
// owns it; any other gets a logic_error at its first call instead of a
// corrupted pool later.
void PoolCore::check_thread(const char* what) const {
  const std::thread::id me = std::this_thread::get_id();
  std::thread::id owner = owner_.load(std::memory_order_acquire);
  if (owner == me) return;
  if (owner == std::thread::id() &&
      owner_.compare_exchange_strong(owner, me, std::memory_order_acq_rel)) {
    return;
  }
  if (owner == me) return;
  throw std::logic_error(std::string("ProcessPool/ThreadPool::") + what +
                         ": called from a second thread. A pool is driven by the first thread that "
                         "used it (it is not synchronised); give each thread a pool of its own");
}

void PoolCore::add_job(std::shared_ptr<Job> job) {
  check_thread("submit");
  if (impl_->closed) throw std::logic_error("ProcessPool/ThreadPool: the pool is closed to new tasks");
  if (impl_->broken) throw PoolBroken(impl_->broken_message);
  impl_->active.push_back(std::move(job));
  (void)impl_->pump();  // start at once: the workers run it while the caller does other things
}

bool PoolCore::drive_until(DonePredicate done, std::optional<Deadline> deadline) {
  check_thread("wait");
  return impl_->drive_until(done, deadline);
}

void PoolCore::close() noexcept { impl_->closed = true; }
bool PoolCore::closed() const noexcept { return impl_->closed; }
bool PoolCore::join(std::optional<std::chrono::nanoseconds> timeout) {
  check_thread("join");
  return impl_->join(timeout);
}
void PoolCore::terminate() noexcept { impl_->terminate(); }

std::vector<pid_t> PoolCore::worker_pids() {
  (void)impl_->handle_reports();  // pids of workers spawned since the last drive
  std::vector<pid_t> pids;
  for (const Worker& w : impl_->workers) {
    if (w.alive && w.pid > 0) pids.push_back(w.pid);
  }
  return pids;
}

PoolStats PoolCore::stats() const noexcept { return impl_->stats; }
bool PoolCore::broken() const noexcept { return impl_->broken; }

}  // namespace mpkit::pools::detail
