// `mpkit clean`: remove named segments whose creator is dead (ARCHITECTURE.md rule 6).

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "options.hpp"
#include "output/format.hpp"

namespace mpkit::cli {
namespace {

struct CleanOptions {
  bool dry_run = false;
  std::string dir = "/dev/shm";
};

int clean(const CleanOptions& options) {
  const std::vector<StaleSegment> segments =
      options.dry_run ? find_stale_segments(options.dir) : remove_stale_segments(options.dir);
  std::uint64_t bytes = 0;
  for (const StaleSegment& segment : segments) {
    bytes += segment.bytes;
    fmt::print("{} {} (creator {} gone, {})\n", options.dry_run ? "would remove" : "removed",
               segment.name, segment.creator_pid, human_bytes(segment.bytes));
  }
  const std::size_t n = segments.size();
  fmt::print("{} {} stale segment{} ({}) in {}\n", options.dry_run ? "would remove" : "removed", n,
             n == 1 ? "" : "s", human_bytes(bytes), options.dir);
  return 0;
}

}  // namespace

Command clean_command() {
  Command command;
  command.name = "clean";
  command.summary = "Remove shared-memory segments left behind by dead mpkit processes";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<CleanOptions>();
    sub.add_flag("--dry-run", options->dry_run, std::string("list what would be removed, remove nothing"));
    sub.add_option("--dir", options->dir, "where POSIX shared memory lives")
        ->type_name("DIR")
        ->capture_default_str();
    sub.footer(
        "mpkit names every segment /mpkit.<pid>.<n> after the process that created it. A\n"
        "process killed before it could unlink its segments leaves them in /dev/shm, using\n"
        "memory. This removes each one whose creator no longer runs (or is a zombie); the\n"
        "segments of live processes are never touched.\n"
        "\n"
        "Examples:\n"
        "  mpkit clean --dry-run\n"
        "  mpkit clean\n");
    return [options](const std::vector<std::string>& /*argv*/) { return clean(*options); };
  };
  return command;
}

}  // namespace mpkit::cli
