#include "commands/commands.hpp"

namespace mpkit::cli {

// The order here is the order of `mpkit --help` and of `mpkit run`. A new
// experiment: write commands/<name>.cpp returning a Command with `quick`
// set, declare it in commands.hpp, add one line here (and its file to
// cli/CMakeLists.txt).
const std::vector<Command>& all_commands() {
  static const std::vector<Command> kCommands = {
      info_command(),
      clean_command(),
      sync_command(),
      ipc_command(),
      counter_command(),
      contention_command(),
      pool_command(),
      array_command(),
      pi_command(),
      run_command(),
  };
  return kCommands;
}

}  // namespace mpkit::cli
