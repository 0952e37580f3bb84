// MessageQueueChannel: boost::interprocess::message_queue behind
// BoostMessageQueue<T>. The protocol is in boost_message_queue.hpp.

#include "mpkit/ipc/boost_message_queue.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>

#include "mpkit/ipc/detail/ring_common.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {

/// "mpkitbmq": the first word of the control mapping.
inline constexpr std::uint64_t kMessageQueueMagic = 0x6d706b69'74626d71;

struct MessageQueueControl {
  static constexpr std::uint32_t kLayoutVersion = 1;
  std::uint64_t magic = kMessageQueueMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t message_size = 0;
  std::uint64_t capacity = 0;
  std::atomic<std::uint32_t> closed{0};
};
static_assert(std::is_standard_layout_v<MessageQueueControl> && std::is_trivially_destructible_v<MessageQueueControl>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

struct MessageQueueChannel::Impl {
  std::string name;
  pid_t creator = 0;
  boost::interprocess::message_queue queue;

  Impl(std::string n, std::size_t capacity, std::size_t message_size)
      : name(std::move(n)),
        creator(current_pid()),
        queue(boost::interprocess::create_only, name.c_str(), capacity, message_size) {}
};

namespace {

[[noreturn]] void rethrow_boost(const boost::interprocess::interprocess_exception& error, const std::string& what) {
  const int native = error.get_native_error();
  throw_system_error(native != 0 ? native : EIO, what + " (" + error.what() + ")");
}

// The end of a slice as Boost 1.74 wants it: a ptime in universal time.
boost::posix_time::ptime to_universal(Deadline until) {
  const auto left = std::chrono::ceil<std::chrono::microseconds>(until - Clock::now());
  const auto micros = left.count() > 0 ? left.count() : 0;
  return boost::posix_time::microsec_clock::universal_time() + boost::posix_time::microseconds(micros);
}

Deadline slice_end(std::optional<Deadline> deadline, Deadline now) {
  Deadline until = now + MessageQueueChannel::kWaitSlice;
  if (deadline && *deadline < until) until = *deadline;
  return until;
}

}  // namespace

MessageQueueChannel::MessageQueueChannel(std::size_t message_size, std::size_t capacity)
    : memory_(SharedMemory::anonymous(sizeof(MessageQueueControl))), message_size_(message_size), capacity_(capacity) {
  if (capacity == 0) throw_invalid_argument("BoostMessageQueue: capacity must be > 0 (got 0)");
  // Refused before anything is created: Boost sizes the segment for every
  // message and initialises its index at once, so an oversize queue would
  // fill /dev/shm page by page (SIGBUS or the OOM killer), not fail.
  if (capacity > detail::kMaxRingCapacity) {
    throw_invalid_argument("BoostMessageQueue: capacity must be <= " + std::to_string(detail::kMaxRingCapacity) +
                           " (got " + std::to_string(capacity) + ")");
  }
  // At least one index pointer beside each message's bytes (a lower bound of
  // Boost's layout, which adds a header per message): capacity <= 2^31 and
  // a message of a trivially copyable T keep the product far from 2^64.
  const std::uint64_t bytes = std::uint64_t{capacity} * (std::uint64_t{message_size} + sizeof(void*));
  struct statvfs shm {};
  if (::statvfs("/dev/shm", &shm) == 0) {
    const std::uint64_t free_bytes = std::uint64_t{shm.f_bavail} * shm.f_frsize;
    if (bytes > free_bytes) {
      throw_system_error(ENOSPC, "BoostMessageQueue: capacity " + std::to_string(capacity) + " x " +
                                     std::to_string(message_size) + " B needs more than " +
                                     std::to_string(bytes) + " bytes of /dev/shm, " +
                                     std::to_string(free_bytes) + " free");
    }
  }
  const std::string name = SegmentName::unique().str();
  try {
    impl_ = std::make_unique<Impl>(name, capacity, message_size);
  } catch (const boost::interprocess::interprocess_exception& error) {
    rethrow_boost(error, "BoostMessageQueue: message_queue create_only " + name);
  }
  control_ = new (memory_.data()) MessageQueueControl{};
  control_->message_size = static_cast<std::uint32_t>(message_size);
  control_->capacity = capacity;
}

MessageQueueChannel::MessageQueueChannel(MessageQueueChannel&& other) noexcept
    : impl_(std::move(other.impl_)),
      memory_(std::move(other.memory_)),
      control_(std::exchange(other.control_, nullptr)),
      message_size_(other.message_size_),
      capacity_(other.capacity_) {}

MessageQueueChannel& MessageQueueChannel::operator=(MessageQueueChannel&& other) noexcept {
  if (this != &other) {
    release();
    impl_ = std::move(other.impl_);
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    message_size_ = other.message_size_;
    capacity_ = other.capacity_;
  }
  return *this;
}

MessageQueueChannel::~MessageQueueChannel() { release(); }

void MessageQueueChannel::release() noexcept {
  if (!impl_) return;
  const bool creator = impl_->creator == current_pid();
  const std::string name = impl_->name;
  impl_.reset();  // unmaps
  if (creator) (void)boost::interprocess::message_queue::remove(name.c_str());  // noexcept: returns false on error
}

QueueStatus MessageQueueChannel::send(const void* message, std::optional<Deadline> deadline, bool try_only) {
  auto& queue = impl_->queue;
  try {
    for (;;) {
      if (is_closed()) return QueueStatus::kClosed;
      if (try_only) return queue.try_send(message, message_size_, 0) ? QueueStatus::kOk : QueueStatus::kFull;
      const Deadline now = Clock::now();
      if (deadline && now >= *deadline) {
        // One last try: a deadline already past still succeeds if there is room.
        return queue.try_send(message, message_size_, 0) ? QueueStatus::kOk : QueueStatus::kTimedOut;
      }
      if (queue.timed_send(message, message_size_, 0, to_universal(slice_end(deadline, now)))) {
        return QueueStatus::kOk;
      }
    }
  } catch (const boost::interprocess::interprocess_exception& error) {
    rethrow_boost(error, "BoostMessageQueue: send on " + impl_->name);
  }
}

QueueStatus MessageQueueChannel::receive(void* message, std::optional<Deadline> deadline, bool try_only) {
  auto& queue = impl_->queue;
  using size_type = boost::interprocess::message_queue::size_type;
  size_type received = 0;
  unsigned int priority = 0;
  const auto check = [&] {
    if (received != message_size_) {
      throw_system_error(EPROTO, "BoostMessageQueue: received " + std::to_string(received) + " bytes from " +
                                     impl_->name + ", expected " + std::to_string(message_size_));
    }
    return QueueStatus::kOk;
  };
  try {
    for (;;) {
      // Closed first, then the receive: see "Protocol".
      const bool closed = is_closed();
      if (queue.try_receive(message, message_size_, received, priority)) return check();
      if (closed) return QueueStatus::kClosed;
      if (try_only) return QueueStatus::kEmpty;
      const Deadline now = Clock::now();
      if (deadline && now >= *deadline) return QueueStatus::kTimedOut;
      if (queue.timed_receive(message, message_size_, received, priority,
                              to_universal(slice_end(deadline, now)))) {
        return check();
      }
    }
  } catch (const boost::interprocess::interprocess_exception& error) {
    rethrow_boost(error, "BoostMessageQueue: receive on " + impl_->name);
  }
}

void MessageQueueChannel::close() noexcept {
  // release: a receiver that sees closed (acquire) sees every earlier send.
  control_->closed.store(1, std::memory_order_release);
}

bool MessageQueueChannel::is_closed() const noexcept {
  return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: pairs with close()
}

std::size_t MessageQueueChannel::size_guess() const noexcept {
  try {
    return static_cast<std::size_t>(impl_->queue.get_num_msg());
  } catch (...) {
    return 0;
  }
}

const std::string& MessageQueueChannel::name() const noexcept { return impl_->name; }

}  // namespace mpkit::detail
