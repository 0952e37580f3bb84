#include "mpkit/ipc/experiments/parallel_ceiling.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"

namespace mpkit {
namespace {

// Each child's finish time; child i writes slot i before it exits, the
// parent reads them after reaping it (waitpid orders those plain accesses).
struct Finishes {
  std::array<std::int64_t, kMaxCeilingProcesses> ns{};
};

}  // namespace

std::optional<double> ceiling_once(unsigned processes, const std::function<bool()>& work,
                                   const Pinning* pinning, std::chrono::seconds budget) {
  if (processes == 0 || processes > kMaxCeilingProcesses) {
    throw_invalid_argument("ceiling_once: processes must lie in [1, " +
                           std::to_string(kMaxCeilingProcesses) + "] (got " +
                           std::to_string(processes) + ")");
  }
  SharedBox<Finishes> finishes;
  ForkedChildren children;  // after `finishes`: reaped before it goes
  for (unsigned i = 0; i < processes; ++i) {
    children.spawn(
        [pinning, i] {
          if (pinning != nullptr) pinning->pin(i);
        },
        [&work, &finishes, i] {
          const bool right = work();
          finishes->ns[i] = detail::now_ns();
          return right ? ChildExit::kOk : ChildExit::kCorrupt;
        });
  }
  const std::optional<std::int64_t> start_ns = children.start_timed();
  if (!start_ns || !children.join_within(budget).ok()) return std::nullopt;
  const std::int64_t end_ns =
      *std::max_element(finishes->ns.begin(), finishes->ns.begin() + processes);
  return static_cast<double>(end_ns - *start_ns) / 1e9;
}

std::vector<Measurement> measure_parallel_ceiling(
    const CeilingConfig& config, const std::function<void(std::string_view)>& progress) {
  if (!config.work) throw_invalid_argument("CeilingConfig: work is empty");
  if (config.repeats == 0) throw_invalid_argument("CeilingConfig: repeats must be >= 1 (got 0)");
  if (config.max_processes > kMaxCeilingProcesses) {
    throw_invalid_argument("CeilingConfig: max_processes must be <= " +
                           std::to_string(kMaxCeilingProcesses) + " (got " +
                           std::to_string(config.max_processes) + ")");
  }
  const unsigned most = config.max_processes != 0
                            ? config.max_processes
                            : std::clamp<unsigned>(static_cast<unsigned>(allowed_cpus().size()), 1,
                                                   kMaxCeilingProcesses);
  const Pinning pinning(config.pin);
  std::vector<Repeats> runs(most);
  // Round robin: every N once per repeat, so drift in the background load
  // spreads over all of them.
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (unsigned n = 1; n <= most; ++n) {
      if (progress) {
        progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) +
                 ": parallel ceiling, " + std::to_string(n) + " processes");
      }
      const auto seconds =
          ceiling_once(n, config.work, config.pin ? &pinning : nullptr, config.budget);
      if (seconds) {
        runs[n - 1].add(*seconds);
      } else {
        runs[n - 1].fail();
      }
    }
  }

  std::vector<Measurement> rows;
  rows.reserve(most);
  const Samples& one = runs[0].seconds();
  for (unsigned n = 1; n <= most; ++n) {
    Measurement row;
    row.experiment = config.experiment;
    row.variant = "ceiling";
    row.workers = n;
    row.params = {{"processes", static_cast<std::int64_t>(n)}, {"pinned", config.pin}};
    runs[n - 1].fill(row);
    if (!one.empty() && row.repeats > 0 && row.seconds.median > 0) {
      const double speedup = n * one.median() / row.seconds.median;
      row.metrics = {{"speedup", speedup}, {"efficiency", speedup / n}};
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace mpkit
