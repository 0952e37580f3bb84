// `mpkit info`: the machine report.

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "machine_report.hpp"
#include "options.hpp"
#include "output/json_rows.hpp"

namespace mpkit::cli {

Command info_command() {
  Command command;
  command.name = "info";
  command.summary = "Report this machine: CPU, cores, caches, memory, /dev/shm, huge pages, perf";
  command.setup = [](CLI::App& sub) -> Action {
    auto json_path = std::make_shared<std::string>();
    sub.add_option("--json", *json_path,
                   "also write the report as one JSON row to FILE (created or truncated)")
        ->check(non_empty())
        ->type_name("FILE");
    sub.footer(
        "What it reports: the CPU model, how many cores this process may use (nproc, the\n"
        "figure every result row records), cpu0's caches, kernel, memory and /dev/shm\n"
        "space, transparent-huge-page modes, and whether hardware perf counters work.\n"
        "Every figure is best-effort: an unreadable source shows as unknown or 0.\n"
        "\n"
        "Example:\n"
        "  mpkit info --json machine.jsonl\n");
    return [json_path](const std::vector<std::string>& /*argv*/) {
      const auto start = std::chrono::steady_clock::now();
      const MachineInfo info = machine_info();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!json_path->empty()) {
        JsonLinesWriter writer(*json_path, "--json", machine_summary(info));
        writer.write(machine_row(info, seconds));
      }
      std::fputs(machine_table(info).render(TableStyle::kPlain).c_str(), stdout);
      return 0;
    };
  };
  return command;
}

}  // namespace mpkit::cli
