#pragma once

// The CPUs this process may use, and pinning within them, for every
// experiment (ARCHITECTURE.md, peer lesson 10: pin and say where).
//
// allowed_cpus() reads this process's affinity mask (sched_getaffinity):
// the CPUs `nproc` counts, which inside a container or under taskset are
// fewer than the machine's. A Pinning takes a set of them when it is made
// -- all of them, or the first `most` -- and pins the calling process (a
// forked child, or the parent for one side of a run) to the slot-th of that
// set, wrapping around when there are more slots than CPUs. restore(), and
// the destructor, put back the mask read at construction. A Pinning made
// with `enabled` false, or where the mask cannot be read, holds no CPU:
// pin() and restore() do nothing.
//
// Example
//   const mpkit::Pinning pinning(/*enabled=*/true, /*most=*/2);  // the two sides of a run
//   if (pinning.size() >= 2) {
//     mpkit::Process child([&] { pinning.pin(1); return echo(); });
//     const mpkit::ScopedPin parent(&pinning, 0);                 // restored at scope end
//   }
//   row.params.emplace_back("cpus", pinning.cpus_text());          // "0,1"

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace mpkit {

/// The CPUs this process may run on, ascending; empty if the mask cannot be read.
[[nodiscard]] std::vector<int> allowed_cpus();

class Pinning {
 public:
  /// Takes the allowed CPUs (the first `most` of them) when `enabled`.
  explicit Pinning(bool enabled = true, std::size_t most = std::numeric_limits<std::size_t>::max());
  Pinning(const Pinning&) = delete;
  Pinning& operator=(const Pinning&) = delete;
  Pinning(Pinning&&) = delete;
  Pinning& operator=(Pinning&&) = delete;
  /// Restores the mask read at construction.
  ~Pinning() { restore(); }

  /// The CPUs taken, ascending (empty: pinning is off).
  [[nodiscard]] std::span<const int> cpus() const noexcept { return cpus_; }
  [[nodiscard]] std::size_t size() const noexcept { return cpus_.size(); }
  /// The CPUs taken, comma-separated ("0,1"; "" when none).
  [[nodiscard]] std::string cpus_text() const;

  /// Pins the calling process to cpus()[slot % size()]; a no-op when none.
  void pin(std::size_t slot) const noexcept;
  /// Gives the calling process back the mask read at construction.
  void restore() const noexcept;

 private:
  std::vector<int> allowed_;  // the mask at construction (empty: pinning is off)
  std::vector<int> cpus_;     // the ones taken
};

/// Pins for the lifetime of a scope (the parent's side of a run), then
/// restores; a null Pinning does nothing.
class ScopedPin {
 public:
  ScopedPin(const Pinning* pinning, std::size_t slot) noexcept : pinning_(pinning) {
    if (pinning_ != nullptr) pinning_->pin(slot);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  ~ScopedPin() {
    if (pinning_ != nullptr) pinning_->restore();
  }

 private:
  const Pinning* pinning_;
};

}  // namespace mpkit
