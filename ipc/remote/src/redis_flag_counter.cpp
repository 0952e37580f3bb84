// RedisFlag, RedisCounter: a key with a lazily connected client per process.
// The protocol is in redis_flag_counter.hpp.

#include "mpkit/ipc/remote/redis_flag_counter.hpp"

#include <sys/types.h>

#include <cerrno>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {
namespace detail {

struct RedisKey::State {
  std::string who;  // "RedisFlag" / "RedisCounter", for messages
  std::string url;
  std::string key;
  std::chrono::milliseconds timeout{0};
  std::mutex mutex;                   // the threads of one process take turns on `client`
  std::optional<RedisClient> client;  // guarded by mutex
  pid_t client_pid = 0;               // guarded by mutex: who connected `client`

  // Requires: mutex held. The client of THIS process, connected if needed.
  RedisClient& client_here() {
    const pid_t self = current_pid();
    if (client.has_value() && client_pid != self) {
      // Inherited across fork: never send on it (the parent owns the
      // conversation on that socket). Destroying it only closes our copy of
      // the descriptor (redis_client.hpp, Thread safety).
      client.reset();
    }
    if (!client.has_value()) {
      client.emplace(RedisClient::connect(url, timeout));
      client_pid = self;
    }
    return *client;
  }

  // Runs `fn(client)` under the mutex; an I/O failure drops the client and
  // is rethrown naming the class and the key.
  template <class Fn>
  auto call(Fn&& fn) {
    std::scoped_lock guard(mutex);
    try {
      return fn(client_here());
    } catch (const std::system_error& error) {
      client.reset();  // broken or never connected: the next call reconnects
      rethrow(error);
    }
  }

  [[noreturn]] void rethrow(const std::system_error& error) const {
    // error.what() already ends with ": <strerror>"; system_error appends it
    // again, so drop the first copy.
    std::string what = error.what();
    const std::string suffix = ": " + error.code().message();
    if (what.size() >= suffix.size() &&
        what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
      what.resize(what.size() - suffix.size());
    }
    throw std::system_error(error.code(), who + " \"" + key + "\" (" + url + "): " + what);
  }
};

RedisKey::RedisKey(std::string who, std::string_view url, std::string_view key,
                   std::chrono::milliseconds timeout)
    : state_(std::make_unique<State>()) {
  if (key.empty()) throw_invalid_argument(who + "::create: key must not be empty");
  if (timeout.count() <= 0) {
    throw_invalid_argument(who + "::create: timeout must be > 0 ms (got " +
                           std::to_string(timeout.count()) + " ms)");
  }
  if (url.empty()) throw_invalid_argument(who + "::create: url must not be empty");
  state_->who = std::move(who);
  state_->url = std::string(url);
  state_->key = std::string(key);
  state_->timeout = timeout;
  try {
    set("0");  // connects in this process; a fresh flag is clear, a counter 0
  } catch (const std::invalid_argument& error) {
    throw_invalid_argument(state_->who + "::create: bad url \"" + state_->url + "\" (" +
                           error.what() + ")");
  }
}

RedisKey::RedisKey(RedisKey&&) noexcept = default;
RedisKey& RedisKey::operator=(RedisKey&&) noexcept = default;
RedisKey::~RedisKey() = default;

std::optional<std::string> RedisKey::get() {
  return state_->call([&](RedisClient& client) { return client.get(state_->key); });
}

void RedisKey::set(std::string_view value) {
  state_->call([&](RedisClient& client) { client.set(state_->key, value); });
}

std::int64_t RedisKey::incr_by(std::int64_t n) {
  return state_->call([&](RedisClient& client) -> std::int64_t {
    if (n == 1) return client.incr(state_->key);
    const std::string amount = std::to_string(n);
    const auto reply = client.command({"INCRBY", state_->key, amount});
    std::int64_t value = 0;
    if (reply.size() != 1 || !parse(reply.front(), value)) {
      throw std::system_error(std::make_error_code(std::errc::bad_message),
                              "redis INCRBY " + state_->key + ": not an integer reply");
    }
    return value;
  });
}

const std::string& RedisKey::url() const noexcept { return state_->url; }
const std::string& RedisKey::key() const noexcept { return state_->key; }

bool RedisKey::parse(std::string_view text, std::int64_t& value) noexcept {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc{} && ptr == end && !text.empty();
}

}  // namespace detail

RedisFlag RedisFlag::create(std::string_view url, std::string_view key,
                            std::chrono::milliseconds timeout) {
  return RedisFlag(detail::RedisKey("RedisFlag", url, key, timeout));
}

void RedisFlag::set() { key_.set("1"); }
void RedisFlag::clear() { key_.set("0"); }
bool RedisFlag::is_set() {
  const std::optional<std::string> value = key_.get();
  return value.has_value() && *value != "0";
}

RedisCounter RedisCounter::create(std::string_view url, std::string_view key,
                                  std::chrono::milliseconds timeout) {
  return RedisCounter(detail::RedisKey("RedisCounter", url, key, timeout));
}

std::int64_t RedisCounter::get() {
  const std::optional<std::string> value = key_.get();
  if (!value.has_value()) return 0;
  std::int64_t number = 0;
  if (!detail::RedisKey::parse(*value, number)) {
    throw std::system_error(std::make_error_code(std::errc::bad_message),
                            "RedisCounter \"" + key() + "\" (" + url() + "): GET returned \"" +
                                *value + "\", not an integer");
  }
  return number;
}

}  // namespace mpkit
