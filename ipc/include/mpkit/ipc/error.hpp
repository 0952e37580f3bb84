#pragma once

// Errors shared by every mpkit folder (ARCHITECTURE.md, "Errors").
//
// - Acquiring an OS resource throws std::system_error whose code is the errno
//   and whose what() names the attempt: "shm_open /mpkit.123.4: File exists".
// - Bad arguments to the library throw std::invalid_argument naming the
//   argument: "SharedMemory: size must be > 0 (got 0)".
// - Expected outcomes on hot paths are return values, never exceptions.

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace mpkit {

/// Throws std::system_error for `errno_value`, what() = "<what>: <strerror>".
[[noreturn]] void throw_system_error(int errno_value, std::string_view what);

/// Same with the calling thread's current errno.
[[noreturn]] void throw_errno(std::string_view what);

/// Throws std::invalid_argument with `message`; used for contract violations
/// on public entry points (never on hot paths).
[[noreturn]] void throw_invalid_argument(std::string message);

}  // namespace mpkit
