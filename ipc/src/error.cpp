#include "mpkit/ipc/error.hpp"

#include <cerrno>

namespace mpkit {

void throw_system_error(int errno_value, std::string_view what) {
  throw std::system_error(errno_value, std::system_category(), std::string(what));
}

void throw_errno(std::string_view what) { throw_system_error(errno, what); }

void throw_invalid_argument(std::string message) {
  throw std::invalid_argument(std::move(message));
}

}  // namespace mpkit
