// The lock registry's run-time look-ups (registry.hpp).

#include "mpkit/locking/registry.hpp"

namespace mpkit::locking {

std::vector<std::string_view> lock_names() {
  std::vector<std::string_view> names;
  names.reserve(lock_infos().size());
  for (const LockInfo& info : lock_infos()) names.push_back(info.name);
  return names;
}

const LockInfo& lock_info(std::string_view name) {
  for (const LockInfo& info : lock_infos()) {
    if (info.name == name) return info;
  }
  detail::throw_unknown_lock(name);
}

namespace detail {

void throw_unknown_lock(std::string_view name) {
  std::string known;
  for (const LockInfo& info : lock_infos()) {
    if (!known.empty()) known += ", ";
    known += info.name;
  }
  throw_invalid_argument("lock name: unknown lock \"" + std::string(name) + "\" (known: " + known + ")");
}

}  // namespace detail
}  // namespace mpkit::locking
