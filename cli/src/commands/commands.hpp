#pragma once

// One factory per file in commands/; registry.cpp lists them.

#include "command.hpp"

namespace mpkit::cli {

[[nodiscard]] Command info_command();
[[nodiscard]] Command clean_command();
[[nodiscard]] Command sync_command();
[[nodiscard]] Command ipc_command();
[[nodiscard]] Command counter_command();
[[nodiscard]] Command contention_command();
[[nodiscard]] Command array_command();
[[nodiscard]] Command pi_command();
[[nodiscard]] Command pool_command();
[[nodiscard]] Command run_command();

}  // namespace mpkit::cli
