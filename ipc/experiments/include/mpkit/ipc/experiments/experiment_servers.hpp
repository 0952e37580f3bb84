#pragma once

// The servers the remote backends of the two-sided experiments (transport,
// flag, counter) talk to, started on first use and stopped with this object: a
// private redis-server on a Unix socket unless a URL was given, and a
// Manager server. Internal to mpkit's experiments. Constructing either forks, so it runs
// in the experiment's own (single-threaded) process, before any child.

#include <optional>
#include <string>
#include <utility>

#include "mpkit/ipc/remote/manager.hpp"
#include "mpkit/ipc/remote/redis_server.hpp"

namespace mpkit::detail {

class ExperimentServers {
 public:
  explicit ExperimentServers(std::string redis_url) : redis_url_(std::move(redis_url)) {}

  /// The given URL, or a private server's (started now if need be). Throws
  /// what RedisServer throws (no redis-server binary, a failed start).
  const std::string& redis_url() {
    if (!redis_url_.empty()) return redis_url_;
    if (!redis_) redis_.emplace();
    return redis_->url();
  }

  /// The Manager server (started now if need be).
  const ManagerServer& manager() {
    if (!manager_) manager_.emplace();
    return *manager_;
  }

  /// A name no earlier object of this experiment used: "<prefix>.<n>".
  std::string fresh_name(const std::string& prefix) { return prefix + "." + std::to_string(next_++); }

 private:
  std::string redis_url_;
  std::optional<RedisServer> redis_;
  std::optional<ManagerServer> manager_;
  unsigned long next_ = 0;
};

}  // namespace mpkit::detail
