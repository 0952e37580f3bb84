// FramePipe: the system calls behind PipeQueue<T>. The protocol is in
// pipe_queue.hpp.

#include "mpkit/ipc/pipe_queue.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <new>
#include <string>

#include "mpkit/ipc/detail/ring_registry.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {

static_assert(PIPE_BUF == 4096, "PipeQueue's static_assert spells PIPE_BUF as 4096");

/// "mpkitpip": the first word of a PipeQueue's control mapping.
inline constexpr std::uint64_t kPipeMagic = 0x6d706b69'74706970;

struct PipeControl {
  static constexpr std::uint32_t kLayoutVersion = 1;

  // line 0: written once at creation, except closed
  std::uint64_t magic = kPipeMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t frame_size = 0;
  std::uint64_t capacity = 0;
  std::atomic<std::uint32_t> closed{0};

  // line 1: frames that may still be pushed
  alignas(kCacheLineSize) std::atomic<std::uint64_t> room{0};

  RingGate not_full;      // line 2: pushers park here
  PidRegistry producers;  // lines 3-4
  PidRegistry consumers;  // lines 5-6
};
static_assert(std::is_standard_layout_v<PipeControl> && std::is_trivially_destructible_v<PipeControl>);
static_assert(offsetof(PipeControl, room) == kCacheLineSize && offsetof(PipeControl, not_full) == 2 * kCacheLineSize &&
                  sizeof(PipeControl) == 7 * kCacheLineSize,
              "room and the gate each own a line");

namespace {

void close_fd(int& fd) noexcept {
  if (fd >= 0) {
    (void)::close(fd);  // Linux closes the descriptor even on EINTR: never retry
    fd = -1;
  }
}

std::size_t max_pipe_bytes() {
  std::ifstream file("/proc/sys/fs/pipe-max-size");
  std::size_t bytes = 0;
  if (!(file >> bytes) || bytes == 0) bytes = 1 << 20;
  return bytes;
}

// Writes without SIGPIPE killing the process: in a process that holds no read
// end, EPIPE is possible, so SIGPIPE is blocked around the write and a
// SIGPIPE it raised is consumed before the mask is restored.
ssize_t write_no_sigpipe(int fd, const void* data, std::size_t size, bool may_break) noexcept {
  if (!may_break) return ::write(fd, data, size);
  sigset_t pipe_only;
  sigset_t old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  (void)::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  (void)::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const ssize_t n = ::write(fd, data, size);
  const int saved = errno;
  if (n < 0 && saved == EPIPE && !was_pending) {
    const timespec zero{};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  (void)::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

}  // namespace

FramePipe::FramePipe(std::size_t frame_size, std::size_t capacity, const char* type)
    : memory_(SharedMemory::anonymous(sizeof(PipeControl))), frame_size_(frame_size), type_(type) {
  if (capacity == 0) {
    throw_invalid_argument(std::string(type) + ": capacity must be > 0 (got 0)");
  }
  if (frame_size == 0 || frame_size > PIPE_BUF) {
    throw_invalid_argument(std::string(type) + ": frame size must be in [1, PIPE_BUF] (got " +
                           std::to_string(frame_size) + ")");
  }
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno(std::string(type) + ": pipe2");
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    const int saved = errno;
    release();
    throw_system_error(saved, std::string(type) + ": pipe2 (wake pipe)");
  }
  wake_read_fd_ = fds[0];
  wake_write_fd_ = fds[1];

  // Size the pipe: see "Capacity" in the header.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t per_page = page / frame_size;
  const std::size_t max_bytes = max_pipe_bytes();
  const std::size_t max_pages = std::max<std::size_t>(max_bytes / page, 2);
  const std::size_t wanted_pages = std::min(capacity / per_page + (capacity % per_page != 0 ? 1 : 0) + 1, max_pages);
  int got = ::fcntl(write_fd_, F_SETPIPE_SZ, static_cast<int>(wanted_pages * page));
  if (got < 0 && errno == EPERM) got = ::fcntl(write_fd_, F_SETPIPE_SZ, static_cast<int>(max_bytes));
  if (got < 0) {
    const int saved = errno;
    release();
    throw_system_error(saved, std::string(type) + ": fcntl F_SETPIPE_SZ " + std::to_string(wanted_pages * page));
  }
  const std::size_t pages = static_cast<std::size_t>(got) / page;
  if (pages < 2) {
    release();
    throw_system_error(ENOMEM, std::string(type) + ": the pipe got fewer than two pages");
  }
  capacity_ = (pages - 1) * per_page;

  control_ = new (memory_.data()) PipeControl{};
  control_->frame_size = static_cast<std::uint32_t>(frame_size);
  control_->capacity = capacity_;
  control_->room.store(capacity_, std::memory_order_relaxed);  // relaxed: published by fork()
}

FramePipe::FramePipe(FramePipe&& other) noexcept
    : memory_(std::move(other.memory_)),
      control_(std::exchange(other.control_, nullptr)),
      read_fd_(std::exchange(other.read_fd_, -1)),
      write_fd_(std::exchange(other.write_fd_, -1)),
      wake_read_fd_(std::exchange(other.wake_read_fd_, -1)),
      wake_write_fd_(std::exchange(other.wake_write_fd_, -1)),
      frame_size_(other.frame_size_),
      capacity_(other.capacity_),
      type_(other.type_) {}

FramePipe& FramePipe::operator=(FramePipe&& other) noexcept {
  if (this != &other) {
    release();
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    read_fd_ = std::exchange(other.read_fd_, -1);
    write_fd_ = std::exchange(other.write_fd_, -1);
    wake_read_fd_ = std::exchange(other.wake_read_fd_, -1);
    wake_write_fd_ = std::exchange(other.wake_write_fd_, -1);
    frame_size_ = other.frame_size_;
    capacity_ = other.capacity_;
    type_ = other.type_;
    registered_producer_.store(0, std::memory_order_relaxed);  // relaxed: a memo
    registered_consumer_.store(0, std::memory_order_relaxed);
  }
  return *this;
}

FramePipe::~FramePipe() { release(); }

void FramePipe::release() noexcept {
  close_fd(read_fd_);
  close_fd(write_fd_);
  close_fd(wake_read_fd_);
  close_fd(wake_write_fd_);
}

void FramePipe::register_producer() noexcept {
  const pid_t self = current_pid();
  // relaxed: a per-handle memo of "this process is in the registry".
  if (registered_producer_.load(std::memory_order_relaxed) != self) [[unlikely]] {
    control_->producers.add(self);
    registered_producer_.store(self, std::memory_order_relaxed);
  }
}

void FramePipe::register_consumer() noexcept {
  const pid_t self = current_pid();
  // relaxed: as in register_producer.
  if (registered_consumer_.load(std::memory_order_relaxed) != self) [[unlikely]] {
    control_->consumers.add(self);
    registered_consumer_.store(self, std::memory_order_relaxed);
  }
}

bool FramePipe::wait(int fd, short events, Deadline until) const {
  for (;;) {
    pollfd fds[2] = {{fd, events, 0}, {wake_read_fd_, POLLIN, 0}};
    const Deadline now = Clock::now();
    if (now >= until) return false;
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - now);
    const timespec timeout{static_cast<time_t>(left.count() / 1'000'000'000),
                           static_cast<long>(left.count() % 1'000'000'000)};
    const int ready = ::ppoll(fds, 2, &timeout, nullptr);
    if (ready > 0) return true;
    if (ready == 0) {
      if (Clock::now() >= until) return false;
      continue;  // woke a hair early (clock granularity): the deadline is absolute
    }
    if (errno == EINTR) continue;  // same absolute deadline
    throw_errno(std::string(type_) + ": ppoll");
  }
}

QueueStatus FramePipe::push(const void* frame, std::optional<Deadline> deadline, bool try_only) {
  if (write_fd_ < 0) throw_system_error(EBADF, std::string(type_) + ": push after consumer_only()");
  auto& c = *control_;
  const auto consumers_gone = [&]() -> std::optional<QueueStatus> {
    if (c.consumers.all_gone()) {
      throw_system_error(EPIPE, std::string(type_) + ": every consumer is gone; nobody will make room");
    }
    return std::nullopt;
  };
  // A process's first blocking push into a pipe whose every consumer is gone
  // would go where nobody reads. relaxed: a per-handle memo.
  if (!try_only && registered_producer_.load(std::memory_order_relaxed) != current_pid() && !is_closed()) {
    (void)consumers_gone();
  }
  register_producer();
  // 1. take one unit of room (or wait for it)
  for (;;) {
    if (is_closed()) return QueueStatus::kClosed;
    // relaxed: a count that publishes no data (see "Memory ordering").
    std::uint64_t room = c.room.load(std::memory_order_relaxed);
    while (room > 0 &&
           !c.room.compare_exchange_weak(room, room - 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
    if (room > 0) break;
    if (try_only) return QueueStatus::kFull;
    const auto verdict = park_until(
        c.not_full,
        [&] { return c.room.load(std::memory_order_relaxed) > 0 || is_closed(); },  // relaxed: a count
        deadline, consumers_gone);
    if (verdict) return *verdict;
  }
  // 2. write the frame: the pipe has room for it (see "Capacity"); EAGAIN is
  // handled all the same, by waiting for POLLOUT.
  for (;;) {
    const ssize_t n = write_no_sigpipe(write_fd_, frame, frame_size_, read_fd_ < 0);
    if (n == static_cast<ssize_t>(frame_size_)) return QueueStatus::kOk;
    const int error = n < 0 ? errno : EIO;
    if (error == EINTR) continue;
    if (error == EAGAIN) {
      if (!wait(write_fd_, POLLOUT, Clock::now() + kWaitSlice) && c.consumers.all_gone()) {
        c.room.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
        (void)consumers_gone();
      }
      continue;
    }
    c.room.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count; give the unit back
    if (error == EPIPE) {
      throw_system_error(EPIPE, std::string(type_) + ": every consumer is gone (no read end is open)");
    }
    throw_system_error(error, std::string(type_) + ": write of a " + std::to_string(frame_size_) + "-byte frame");
  }
}

QueueStatus FramePipe::pop(void* frame, std::optional<Deadline> deadline, bool try_only) {
  if (read_fd_ < 0) throw_system_error(EBADF, std::string(type_) + ": pop after producer_only()");
  register_consumer();
  auto& c = *control_;
  for (;;) {
    // Closed first, then the read: a pop that saw closed and then found the
    // pipe empty has seen every push made before close().
    const bool closed = is_closed();
    const ssize_t n = ::read(read_fd_, frame, frame_size_);
    if (n == static_cast<ssize_t>(frame_size_)) {
      c.room.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count; the gate's fence orders it
      wake_parked(c.not_full);
      return QueueStatus::kOk;
    }
    if (n == 0) return QueueStatus::kClosed;  // end of file: no write end is open anywhere
    if (n > 0) {
      throw_system_error(EPROTO, std::string(type_) + ": read a torn frame of " + std::to_string(n) + " bytes");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(std::string(type_) + ": read");
    if (closed) return QueueStatus::kClosed;
    if (try_only) return QueueStatus::kEmpty;
    const Deadline now = Clock::now();
    if (deadline && now >= *deadline) return QueueStatus::kTimedOut;
    Deadline until = now + kWaitSlice;
    if (deadline && *deadline < until) until = *deadline;
    // Producers gone (the registry) end nothing: more may come. Only the
    // kernel's end of file (no write end open anywhere) does, above.
    (void)wait(read_fd_, POLLIN, until);
  }
}

void FramePipe::close() noexcept {
  if (control_ == nullptr) return;
  // release: a pop that sees closed (acquire) sees every push made before.
  control_->closed.store(1, std::memory_order_release);
  if (wake_write_fd_ >= 0) {
    const char byte = 1;
    while (::write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
    }  // EAGAIN (a full wake pipe after many closes) is fine: it is readable already
  }
  wake_all_parked(control_->not_full);
}

bool FramePipe::is_closed() const noexcept {
  return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: pairs with close()
}

std::size_t FramePipe::size_guess() const noexcept {
  // relaxed: a snapshot. Counts frames pushed (or being pushed) and not yet popped.
  const std::uint64_t room = control_->room.load(std::memory_order_relaxed);
  return room >= capacity_ ? 0 : static_cast<std::size_t>(capacity_ - room);
}

void FramePipe::producer_only() noexcept { close_fd(read_fd_); }

void FramePipe::consumer_only() noexcept { close_fd(write_fd_); }

}  // namespace mpkit::detail
