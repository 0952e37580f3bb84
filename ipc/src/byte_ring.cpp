// ByteRing: creation, the cold paths (repair after a dead lock holder, the
// dead-peer verdicts, error messages) and the observers. The hot paths are
// inline in the header.

#include "mpkit/ipc/byte_ring.hpp"

#include <sys/types.h>

#include <cerrno>
#include <new>
#include <string>
#include <utility>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/segment_name.hpp"

namespace mpkit {

namespace {

// "consumer 12 is" / "consumers 12, 34 are": the registered pids of a role.
std::string describe_role(const detail::PidRegistry& registry, const char* role) {
  std::string pids;
  int count = 0;
  for (const auto& entry : registry.pids) {
    const pid_t pid = entry.load(std::memory_order_relaxed);  // relaxed: a liveness hint
    if (pid == 0) continue;
    if (count++ > 0) pids += ", ";
    pids += std::to_string(pid);
  }
  return std::string(role) + (count > 1 ? "s " : " ") + pids + (count > 1 ? " are" : " is");
}

}  // namespace

ByteRing ByteRing::create(std::size_t capacity_bytes, ByteRingProducers producers, ByteRingConsumers consumers) {
  const std::size_t bytes = detail::ring_capacity("ByteRing", capacity_bytes, kMinCapacityBytes);
  SharedMemory memory = SharedMemory::anonymous(kDataOffset + bytes);
  auto* control = new (memory.data()) detail::ByteRingControl{};
  control->producers_mode = producers;
  control->consumers_mode = consumers;
  control->capacity = bytes;
  control->mask = bytes - 1;
  return ByteRing(std::move(memory));
}

ByteRing::ByteRing(SharedMemory memory) noexcept
    : memory_(std::move(memory)),
      control_(std::launder(reinterpret_cast<detail::ByteRingControl*>(memory_.data()))),
      data_(memory_.data() + kDataOffset),
      capacity_(control_->capacity),
      mask_(control_->mask) {}

ByteRing::ByteRing(ByteRing&& other) noexcept
    : memory_(std::move(other.memory_)),
      control_(std::exchange(other.control_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(other.capacity_),
      mask_(other.mask_) {
  // relaxed: per-handle memos, moved with the handle.
  producer_registered_.store(other.producer_registered_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  consumer_registered_.store(other.consumer_registered_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

ByteRing& ByteRing::operator=(ByteRing&& other) noexcept {
  memory_ = std::move(other.memory_);
  control_ = std::exchange(other.control_, nullptr);
  data_ = std::exchange(other.data_, nullptr);
  capacity_ = other.capacity_;
  mask_ = other.mask_;
  producer_registered_.store(other.producer_registered_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  consumer_registered_.store(other.consumer_registered_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  return *this;
}

void ByteRing::reject_buffer(std::size_t length, std::size_t buffer_size) {
  throw_invalid_argument("ByteRing: buffer of " + std::to_string(buffer_size) +
                         " bytes is shorter than the next message (" + std::to_string(length) +
                         " bytes); the message stays in the ring");
}

void ByteRing::reject_message(std::size_t length) const {
  throw_invalid_argument("ByteRing: message of " + std::to_string(length) +
                         " bytes is longer than max_message_bytes() = " + std::to_string(max_message_bytes()) +
                         " (capacity " + std::to_string(capacity_bytes()) + " bytes); it could never fit");
}

void ByteRing::throw_broken() {
  throw_system_error(ENOTRECOVERABLE,
                     "ByteRing: records found inconsistent after a lock holder died; the ring is broken");
}

bool ByteRing::lock_side(Mutex& lock, std::optional<Deadline> deadline) {
  switch (lock.acquire(deadline)) {
    case LockStatus::kAcquired: return true;
    case LockStatus::kOwnerDied: repair_locked(lock); return true;
    case LockStatus::kTimedOut: return false;
    case LockStatus::kNotRecoverable: break;
  }
  throw_system_error(ENOTRECOVERABLE, "ByteRing: a side's lock is not recoverable");
}

// The repair after a takeover (see "kMany sides"): the lock is held. Records
// in [head, tail) are stable while we walk them: only producers write the
// area, and only beyond tail; consumers only read it.
void ByteRing::repair_locked(Mutex& lock) noexcept {
  auto& c = *control_;
  const std::uint64_t head = c.head.load(std::memory_order_acquire);  // head first: then head <= tail
  const std::uint64_t tail = c.tail.load(std::memory_order_acquire);
  bool intact = c.magic == detail::kByteRingMagic && tail >= head && tail - head <= c.capacity &&
                (head % detail::kByteRecordHeader) == 0 && (tail % detail::kByteRecordHeader) == 0;
  for (std::uint64_t at = head; intact && at != tail;) {
    const std::uint64_t length = record_length(at);
    intact = length <= max_message_bytes() && tail - at >= detail::byte_record_bytes(length);
    if (intact) at += detail::byte_record_bytes(static_cast<std::size_t>(length));
  }
  // Forget the dead holder's view of the other side: reloaded on next use.
  if (&lock == &c.producer_lock) {
    c.cached_head = head;
  } else {
    c.cached_tail = head;
  }
  // release: a kOne side that reads the bit (acquire) sees why.
  if (!intact) c.state.fetch_or(detail::ByteRingControl::kBrokenBit, std::memory_order_release);
  c.owner_deaths.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
  lock.mark_consistent();
  // The dead holder may have owed a wake; a woken waiter re-checks its condition.
  detail::wake_all_parked(c.not_empty);
  detail::wake_all_parked(c.not_full);
}

std::optional<QueueStatus> ByteRing::check_consumers_alive() const {
  if (control_->consumers.all_gone()) {
    throw_system_error(EPIPE, "ByteRing: " + describe_role(control_->consumers, "consumer") +
                                  " gone; nobody will make room");
  }
  return std::nullopt;
}

// A process about to push for the first time: into a ring whose every
// consumer is gone, that push would go where nobody reads.
void ByteRing::check_consumers_before_first_push() const {
  if (!is_closed()) (void)check_consumers_alive();
}

std::optional<std::size_t> ByteRing::next_message_bytes() {
  auto& c = *control_;
  const auto peek = [&]() -> std::optional<std::size_t> {
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);  // relaxed: we own head
    if (c.tail.load(std::memory_order_acquire) == head) return std::nullopt;  // B
    return static_cast<std::size_t>(record_length(head));
  };
  if (c.consumers_mode == ByteRingConsumers::kOne) return peek();
  SideHold hold(*this, c.consumer_lock, std::nullopt);
  return peek();
}

void ByteRing::close() noexcept {
  // release: a consumer that sees closed (acquire) sees every earlier push.
  control_->state.fetch_or(detail::ByteRingControl::kClosedBit, std::memory_order_release);
  detail::wake_all_parked(control_->not_empty);
  detail::wake_all_parked(control_->not_full);
}

std::size_t ByteRing::size_guess() const noexcept {
  const auto& c = *control_;
  // relaxed: a snapshot. pops first, so that pushes >= pops unless a counter
  // drifted after a dead lock holder; an empty ring reports 0 regardless.
  const std::uint64_t pops = c.pops.load(std::memory_order_relaxed);
  const std::uint64_t pushes = c.pushes.load(std::memory_order_relaxed);
  if (bytes_guess() == 0) return 0;
  return pushes > pops ? static_cast<std::size_t>(pushes - pops) : 1;
}

std::size_t ByteRing::bytes_guess() const noexcept {
  // relaxed: a snapshot; head first so that tail >= head holds.
  const std::uint64_t head = control_->head.load(std::memory_order_relaxed);
  const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
  return tail >= head ? static_cast<std::size_t>(tail - head) : 0;
}

}  // namespace mpkit
