// The registries' run-time half (detail/registry.hpp): the unknown-name error.

#include "mpkit/ipc/detail/registry.hpp"

#include <string>

#include "mpkit/ipc/error.hpp"

namespace mpkit::detail {

void throw_unknown_name(std::string_view family, std::string_view name,
                        std::span<const std::string_view> known) {
  std::string list;
  for (const std::string_view each : known) {
    if (!list.empty()) list += ", ";
    list += each;
  }
  throw_invalid_argument(std::string(family) + ": unknown " + std::string(family) + " \"" +
                         std::string(name) + "\" (known: " + list + ")");
}

}  // namespace mpkit::detail
