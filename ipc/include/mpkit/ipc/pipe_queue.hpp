#pragma once

// PipeQueue<T>: Python's mp.Queue transport -- a pipe carrying fixed-size
// frames of sizeof(T) bytes -- for trivially copyable T, across processes.
//
// Who may call what
//   Any number of threads of any processes that hold the queue (create()
//   before fork(); children inherit the descriptors and the control mapping)
//   may push, pop, close and observe, concurrently.
//
// Protocol
//   - One pipe (pipe2 with O_CLOEXEC | O_NONBLOCK: an exec'd program never
//     inherits it, and waiting is done with poll(), so every wait has a
//     deadline). A frame is one write(2) of exactly sizeof(T) bytes.
//   - Many producers: POSIX makes a write of at most PIPE_BUF (4096) bytes
//     atomic: it is never interleaved with another writer's bytes, and a
//     non-blocking one either writes the whole frame or fails with EAGAIN.
//     Hence the static_assert sizeof(T) <= PIPE_BUF (a larger T is refused at
//     compile time, whatever the number of producers).
//   - Many consumers: the pipe always holds a whole number of frames (every
//     write is a whole frame), and Linux's pipe_read holds the pipe's mutex
//     for the whole read, so a read(2) of sizeof(T) bytes takes exactly one
//     frame, never half of two. (Linux behaviour, not POSIX; SOCK_SEQPACKET
//     would give the same through message boundaries, at a higher cost per
//     item and with a buffer counted in kernel skbs, not items.)
//   - Waiting: poll() on the pipe end plus a wake pipe, in slices of
//     kWaitSlice (10 ms); EINTR re-polls with the same absolute deadline.
//   - close(): closed = 1 in a small anonymous mapping (release), then one
//     byte is written to the wake pipe and never read: from then on every
//     poll() returns at once, so blocked pushers and poppers wake and stay
//     awake. push checks the flag before every write; pop reads the flag
//     (acquire) BEFORE it tries to read, so kClosed is reported only when
//     the pipe was empty after everything pushed before close().
//   - Capacity is counted, not left to the kernel: `room` (shared, starts at
//     capacity) is taken by a push before its write (CAS room > 0 -> room-1)
//     and given back by a pop after its read (room + 1, then a wake of a
//     parked pusher through a RingGate, detail/ring_wait.hpp). The kernel's
//     own "full" depends on how frames fall on pages -- a small write is
//     merged into the last page only if it fits there, and a page is reused
//     only once wholly read, so after one pop a full pipe may still refuse a
//     write -- hence the count (Python's mp.Queue counts with a semaphore).
//     The pipe is sized so that the count is the only limit: with P pages
//     of F = floor(page / sizeof(T)) frames and capacity (P - 1) * F, any
//     (capacity - 1) frames, however they sit, leave room for one more write
//     on the tail page or a free page. F_SETPIPE_SZ asks for
//     ceil(requested / F) + 1 pages (the kernel rounds up to a power of
//     two); above /proc/sys/fs/pipe-max-size the request falls back to that
//     maximum. capacity() reports the actual (P - 1) * F: at least what was
//     asked, except at the maximum.
//   - Ends: every process keeps both ends open by default (many producers and
//     consumers per process). The consequence: the kernel's own end-of-file
//     and EPIPE never fire while any process holds the other end, so death is
//     detected through the registries below and close() through the flag.
//     A process that is ONLY a producer may call producer_only() (closes its
//     read end); ONLY a consumer, consumer_only() (closes its write end).
//     Once every process has done so, the kernel's signals apply directly:
//     no reader left -> write fails with EPIPE (SIGPIPE is blocked around the
//     write in a process without a read end); no writer left -> read
//     returns 0 -> kClosed.
//
// What a SIGKILL of a peer does
//   - A frame is written by one system call: a killed producer has written a
//     whole frame or nothing; a killed consumer has taken a whole frame (it
//     goes with it) or nothing. The pipe is never corrupted and nothing is
//     duplicated. A producer killed between taking room and its write, or a
//     consumer killed between its read and giving room back, leaks one unit
//     of capacity for good (two instructions' window; as with Python's
//     mp.Queue semaphore).
//   - Every consumer gone while a producer is blocked on a full pipe:
//     std::system_error(EPIPE, "PipeQueue: every consumer is gone ..."),
//     found after one idle slice (PidRegistry, a /proc read per registered
//     pid) or at once through EPIPE if the read ends are closed; a
//     process's first push (push/push_until) into a pipe whose every
//     consumer is gone fails the same way.
//   - Every producer gone while a consumer is blocked on an empty pipe:
//     nothing ends (more producers may come, from any process that holds the
//     write end); the consumer drains and waits until close(), its deadline
//     or the next frame. Only the kernel's own end of file (no write end open
//     anywhere: nobody can ever push again) returns kClosed.
//   - Processes register on their first push / pop; an unregistered peer is
//     waited for; more than 31 processes per role switch detection off.
//
// Layout of the control mapping: line 0 magic, version, frame size,
// capacity, closed; line 1 room (producers and consumers); line 2 the
// not_full gate; lines 3-4 producer registry; lines 5-6 consumer registry.
// The items themselves live in the kernel's pipe buffer.
//
// Memory ordering: the pipe orders the frames (a write happens before the
// read that returns it); room is a counter that publishes no data (relaxed
// CAS/add; the gate's fences order it against parking); closed is stored
// with release after the closer's last push and loaded with acquire; the
// registries are hints.
//
// Contract
//   Requires: sizeof(T) <= PIPE_BUF (static_assert); capacity >= 1.
//   Guarantees: FIFO per producer as seen by each consumer; exactly-once;
//     push/pop block until done or closed; push also until every consumer is
//     found gone, pop until no write end is open anywhere.
//   Throws: create(): std::invalid_argument naming `capacity`;
//     std::system_error for pipe2/fcntl/mmap failures. push/_until:
//     std::system_error(EPIPE) when every consumer is gone; any operation:
//     std::system_error for an unexpected read/write/poll error. try_* never
//     block (beyond the kernel's pipe mutex).
//   Thread safety: any thread of any process; producer_only()/consumer_only()
//     must not race with operations of the same handle.
//
// Example
//   auto q = mpkit::PipeQueue<std::uint64_t>::create(1024);
//   mpkit::Process child([&] { q.consumer_only(); std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   q.producer_only(); for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);  q.close();

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {

namespace detail {

struct PipeControl;

/// The untyped pipe behind PipeQueue<T>: frames of a fixed size. The system
/// calls live in ipc/src/pipe_queue.cpp.
class FramePipe {
 public:
  /// How long a waiter polls before it re-checks closed and its peers.
  static constexpr std::chrono::milliseconds kWaitSlice{10};

  FramePipe(std::size_t frame_size, std::size_t capacity, const char* type);
  FramePipe(FramePipe&& other) noexcept;
  FramePipe& operator=(FramePipe&& other) noexcept;
  FramePipe(const FramePipe&) = delete;
  FramePipe& operator=(const FramePipe&) = delete;
  ~FramePipe();

  /// try_only: one attempt. deadline nullopt: no deadline.
  QueueStatus push(const void* frame, std::optional<Deadline> deadline, bool try_only);
  QueueStatus pop(void* frame, std::optional<Deadline> deadline, bool try_only);
  void close() noexcept;
  [[nodiscard]] bool is_closed() const noexcept;
  [[nodiscard]] std::size_t size_guess() const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  void producer_only() noexcept;
  void consumer_only() noexcept;

 private:
  void release() noexcept;
  void register_producer() noexcept;
  void register_consumer() noexcept;
  // Polls `fd` for `events` plus the wake pipe, until `until`. true: ready
  // (or woken by close); false: the slice passed.
  bool wait(int fd, short events, Deadline until) const;

  SharedMemory memory_;
  PipeControl* control_ = nullptr;
  int read_fd_ = -1;
  int write_fd_ = -1;
  int wake_read_fd_ = -1;   // readable once close() has run
  int wake_write_fd_ = -1;  // close() writes one byte here
  std::size_t frame_size_ = 0;
  std::size_t capacity_ = 0;
  const char* type_ = "PipeQueue";
  std::atomic<pid_t> registered_producer_{0};  // this process is in the producer registry
  std::atomic<pid_t> registered_consumer_{0};  // this process is in the consumer registry
};

}  // namespace detail

template <class T>
class PipeQueue {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  static_assert(sizeof(T) <= 4096,
                "PipeQueue: sizeof(T) must be <= PIPE_BUF (4096): only such writes are atomic, so "
                "only such frames survive several producers and consumers untorn");

 public:
  using value_type = T;

  /// A pipe for at least `capacity` items where the kernel allows (see
  /// capacity()), with both ends open in this process and its future children.
  [[nodiscard]] static PipeQueue create(std::size_t capacity) { return PipeQueue(capacity); }

  PipeQueue(PipeQueue&&) noexcept = default;
  PipeQueue& operator=(PipeQueue&&) noexcept = default;
  PipeQueue(const PipeQueue&) = delete;
  PipeQueue& operator=(const PipeQueue&) = delete;
  ~PipeQueue() = default;

  [[nodiscard]] QueueStatus try_push(const T& value) { return pipe_.push(&value, std::nullopt, true); }
  [[nodiscard]] QueueStatus push(const T& value) { return pipe_.push(&value, std::nullopt, false); }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return pipe_.push(&value, deadline, false);
  }

  [[nodiscard]] QueueStatus try_pop(T& out) { return pipe_.pop(&out, std::nullopt, true); }
  [[nodiscard]] QueueStatus pop(T& out) { return pipe_.pop(&out, std::nullopt, false); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) { return pipe_.pop(&out, deadline, false); }

  void close() noexcept { pipe_.close(); }
  [[nodiscard]] bool is_closed() const noexcept { return pipe_.is_closed(); }
  /// Frames in the pipe now (FIONREAD / sizeof(T)); approximate.
  [[nodiscard]] std::size_t size_guess() const noexcept { return pipe_.size_guess(); }
  /// The actual capacity in items (see the file comment).
  [[nodiscard]] std::size_t capacity() const noexcept { return pipe_.capacity(); }

  /// This process only pushes from now on: closes its read end.
  void producer_only() noexcept { pipe_.producer_only(); }
  /// This process only pops from now on: closes its write end.
  void consumer_only() noexcept { pipe_.consumer_only(); }

 private:
  explicit PipeQueue(std::size_t capacity) : pipe_(sizeof(T), capacity, "PipeQueue") {}

  detail::FramePipe pipe_;
};

static_assert(Queue<PipeQueue<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
