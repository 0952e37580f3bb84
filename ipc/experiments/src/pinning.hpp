#pragma once

// Pinning for the two-sided experiments (transport, flag): the two sides take
// the first two CPUs this process may use; the caller's mask comes back on
// restore() and on destruction. Private to ipc/src.

#include <sched.h>

#include <string>
#include <vector>

namespace mpkit::detail {

class Pinning {
 public:
  Pinning() {
    if (::sched_getaffinity(0, sizeof original_, &original_) != 0) return;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus_.size() < 2; ++cpu) {
      if (CPU_ISSET(cpu, &original_)) cpus_.push_back(cpu);
    }
  }
  Pinning(const Pinning&) = delete;
  Pinning& operator=(const Pinning&) = delete;
  ~Pinning() { restore(); }

  [[nodiscard]] bool possible() const noexcept { return cpus_.size() >= 2; }
  [[nodiscard]] std::string cpus_text() const {
    return possible() ? std::to_string(cpus_[0]) + "," + std::to_string(cpus_[1]) : std::string();
  }

  /// Pins the calling process to the side-th chosen CPU (side 0 or 1).
  void pin(unsigned side) const noexcept {
    if (!possible()) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus_[side % 2], &one);
    ::sched_setaffinity(0, sizeof one, &one);
  }
  void restore() const noexcept {
    if (!cpus_.empty()) ::sched_setaffinity(0, sizeof original_, &original_);
  }

 private:
  cpu_set_t original_{};
  std::vector<int> cpus_;
};

/// Pins for the lifetime of a scope (the parent's side of a run), then restores.
class ScopedPin {
 public:
  ScopedPin(const Pinning* pinning, unsigned side) noexcept : pinning_(pinning) {
    if (pinning_ != nullptr) pinning_->pin(side);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  ~ScopedPin() {
    if (pinning_ != nullptr) pinning_->restore();
  }

 private:
  const Pinning* pinning_;
};

}  // namespace mpkit::detail
