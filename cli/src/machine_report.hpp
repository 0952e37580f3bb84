#pragma once

// The machine report of `mpkit info` and `mpkit run`: MachineInfo as a
// two-column table, and as a row of the common JSON shape (experiment
// "info", variant "machine") so results.jsonl holds one shape throughout.

#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/measurement.hpp"
#include "output/table.hpp"

namespace mpkit::cli {

/// "field | value" lines, sizes in KiB/MiB/GiB.
[[nodiscard]] Table machine_table(const MachineInfo& info);

/// The report as a row: text and flags in params, sizes in metrics
/// (`*_bytes`), `seconds` = how long reading it took, correct = true.
[[nodiscard]] Measurement machine_row(const MachineInfo& info, double seconds);

}  // namespace mpkit::cli
