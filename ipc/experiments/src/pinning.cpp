#include "mpkit/ipc/experiments/pinning.hpp"

#include <sched.h>

#include <algorithm>

namespace mpkit {
namespace {

void set_affinity(std::span<const int> cpus) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int cpu : cpus) CPU_SET(cpu, &set);
  (void)::sched_setaffinity(0, sizeof set, &set);  // best effort: an unpinned run still measures
}

}  // namespace

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

Pinning::Pinning(bool enabled, std::size_t most) {
  if (!enabled) return;
  allowed_ = allowed_cpus();
  cpus_.assign(allowed_.begin(),
               allowed_.begin() + static_cast<std::ptrdiff_t>(std::min(most, allowed_.size())));
  if (cpus_.empty()) allowed_.clear();
}

std::string Pinning::cpus_text() const {
  std::string out;
  for (const int cpu : cpus_) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

void Pinning::pin(std::size_t slot) const noexcept {
  if (cpus_.empty()) return;
  const int one[] = {cpus_[slot % cpus_.size()]};
  set_affinity(one);
}

void Pinning::restore() const noexcept {
  if (!allowed_.empty()) set_affinity(allowed_);
}

}  // namespace mpkit
