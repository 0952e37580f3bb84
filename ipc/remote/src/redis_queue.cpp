// RedisQueue: a Redis list with a server-side capacity check, a close
// sentinel and a per-process connection pool. The protocol is in
// redis_queue.hpp.

#include "mpkit/ipc/remote/redis_queue.hpp"

#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {
namespace {

using std::chrono::milliseconds;

// KEYS[1] = items, KEYS[2] = closed; ARGV[1] = item, ARGV[2] = capacity.
// Returns 0 pushed, 1 full, 2 closed.
constexpr std::string_view kPushScript =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end\n"
    "if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end\n"
    "redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "return 0\n";

// Returns {0, item}, {1} empty, or {2} closed (the sentinel is put back).
constexpr std::string_view kPopScript =
    "local v = redis.call('RPOP', KEYS[1])\n"
    "if v then\n"
    "  if v == '' then redis.call('RPUSH', KEYS[1], v) return {2} end\n"
    "  return {0, v}\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {2} end\n"
    "return {1}\n";

// Returns 1 if this call closed the queue, 0 if it was closed already.
constexpr std::string_view kCloseScript =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
    "redis.call('SET', KEYS[2], '1')\n"
    "redis.call('LPUSH', KEYS[1], '')\n"
    "return 1\n";

// LLEN without the sentinel (which, when present, is the head element).
constexpr std::string_view kSizeScript =
    "local n = redis.call('LLEN', KEYS[1])\n"
    "if n > 0 and redis.call('LINDEX', KEYS[1], 0) == '' then n = n - 1 end\n"
    "return n\n";

enum Script : std::size_t { kPush, kPop, kClose, kSize, kScriptCount };
constexpr std::array<std::string_view, kScriptCount> kScripts{kPushScript, kPopScript, kCloseScript,
                                                             kSizeScript};

// Used when the server refuses CONFIG (managed services rename it): Redis's
// default hz is 10.
constexpr milliseconds kDefaultTick{100};

bool parse_integer(std::string_view text, long long& value) noexcept {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc{} && ptr == end;
}

}  // namespace

struct RedisList::State {
  std::string type;  // "RedisQueue", for messages
  std::string url;
  std::string name;
  std::string items_key;
  std::string closed_key;
  std::string capacity_text;
  std::size_t item_size = 0;
  milliseconds timeout{0};
  milliseconds tick{kDefaultTick};
  std::array<std::string, kScriptCount> sha;  // SCRIPT LOAD results

  std::mutex mutex;               // guards idle and pool_pid, never held for a round trip
  std::vector<RedisClient> idle;  // connected clients of pool_pid, not in use
  pid_t pool_pid = 0;

  // Takes an idle client of THIS process, or connects one (outside the lock).
  RedisClient take() {
    {
      std::scoped_lock guard(mutex);
      const pid_t self = current_pid();
      if (pool_pid != self) {
        // Inherited across fork: never send on them (the parent owns those
        // conversations). Destroying them only closes our copies of the
        // descriptors (redis_client.hpp, Thread safety).
        idle.clear();
        pool_pid = self;
      }
      if (!idle.empty()) {
        RedisClient client = std::move(idle.back());
        idle.pop_back();
        return client;
      }
    }
    return RedisClient::connect(url, timeout);
  }

  void give_back(RedisClient&& client) {
    std::scoped_lock guard(mutex);
    if (pool_pid == current_pid()) idle.push_back(std::move(client));
  }

  // Runs fn(client) on a pooled client. An I/O failure (std::system_error)
  // drops the client and is rethrown naming the queue; anything else (an
  // error reply, EBADMSG from us) leaves the client usable.
  template <class Fn>
  auto with_client(Fn&& fn) {
    std::optional<RedisClient> client;
    try {
      client.emplace(take());
    } catch (const std::system_error& error) {
      rethrow(error);
    }
    try {
      if constexpr (std::is_void_v<decltype(fn(*client))>) {
        fn(*client);
        give_back(std::move(*client));
      } else {
        auto result = fn(*client);
        give_back(std::move(*client));
        return result;
      }
    } catch (const std::system_error& error) {
      if (error.code() == std::errc::bad_message) {
        give_back(std::move(*client));
        throw;
      }
      rethrow(error);  // the client is dropped with `client`
    } catch (const RedisError&) {
      give_back(std::move(*client));
      throw;
    }
  }

  [[noreturn]] void rethrow(const std::system_error& error) const {
    // error.what() already ends with ": <strerror>"; system_error appends it
    // again, so drop the first copy.
    std::string what = error.what();
    const std::string suffix = ": " + error.code().message();
    if (what.size() >= suffix.size() && what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
      what.resize(what.size() - suffix.size());
    }
    throw std::system_error(error.code(), type + " \"" + name + "\" (" + url + "): " + what);
  }

  // EVALSHA, or EVAL if the server lost its script cache (restart, SCRIPT
  // FLUSH), which also reloads it.
  std::vector<std::string> eval(RedisClient& client, Script script, std::string_view arg1 = {},
                                std::string_view arg2 = {}, std::size_t extra = 0) const {
    std::array<std::string_view, 7> args{"EVALSHA", sha[script], "2", items_key, closed_key, arg1, arg2};
    const std::span<const std::string_view> used(args.data(), 5 + extra);
    try {
      return client.command(used);
    } catch (const RedisError& error) {
      if (!error.server_message().starts_with("NOSCRIPT")) throw;
      args[0] = "EVAL";
      args[1] = kScripts[script];
      return client.command(used);
    }
  }

  [[noreturn]] void bad_reply(std::string_view what) const {
    throw std::system_error(std::make_error_code(std::errc::bad_message),
                            type + " \"" + name + "\" (" + url + "): " + std::string(what));
  }

  // Copies one list element into `out`: kOk, or kClosed for the sentinel
  // (pushed back first, so that the next blocked consumer is served it).
  QueueStatus take_element(RedisClient& client, const std::string& element, void* out) const {
    if (element.empty()) {
      client.command({"RPUSH", items_key, ""});
      return QueueStatus::kClosed;
    }
    if (element.size() != item_size) {
      bad_reply("list element of " + std::to_string(element.size()) + " bytes, expected " +
                std::to_string(item_size) + " (another writer uses the key?)");
    }
    std::memcpy(out, element.data(), item_size);
    return QueueStatus::kOk;
  }

  QueueStatus push_once(RedisClient& client, const void* item) const {
    const std::string_view bytes(static_cast<const char*>(item), item_size);
    const std::vector<std::string> reply = eval(client, kPush, bytes, capacity_text, 2);
    if (reply.size() == 1 && reply[0] == "0") return QueueStatus::kOk;
    if (reply.size() == 1 && reply[0] == "1") return QueueStatus::kFull;
    if (reply.size() == 1 && reply[0] == "2") return QueueStatus::kClosed;
    bad_reply("unexpected reply to the push script");
  }

  QueueStatus pop_once(RedisClient& client, void* out) const {
    const std::vector<std::string> reply = eval(client, kPop);
    if (reply.size() == 2 && reply[0] == "0") return take_element(client, reply[1], out);
    if (reply.size() == 1 && reply[0] == "1") return QueueStatus::kEmpty;
    if (reply.size() == 1 && reply[0] == "2") return QueueStatus::kClosed;
    bad_reply("unexpected reply to the pop script");
  }
};

namespace {

// Sleeps `pause`, but never past `deadline`; doubles `pause` up to the cap.
// false: the deadline has passed (checked before sleeping).
bool pause_before_retry(std::chrono::microseconds& pause, const std::optional<Deadline>& deadline) {
  Clock::duration wait = pause;
  if (deadline.has_value()) {
    const Clock::duration remaining = *deadline - Clock::now();
    if (remaining <= Clock::duration::zero()) return false;
    wait = std::min(wait, remaining);
  }
  std::this_thread::sleep_for(wait);
  pause = std::min<std::chrono::microseconds>(pause * 2, RedisList::kPollMax);
  return true;
}

}  // namespace

RedisList::RedisList(const char* type, std::string_view url, std::string_view name, std::size_t capacity,
                     std::size_t item_size, milliseconds timeout, bool reset)
    : state_(std::make_unique<State>()), capacity_(capacity) {
  const std::string who = std::string(type) + "::" + (reset ? "create" : "attach");
  if (url.empty()) throw_invalid_argument(who + ": url must not be empty");
  if (name.empty()) throw_invalid_argument(who + ": name must not be empty");
  if (capacity == 0 || capacity > kMaxCapacity) {
    throw_invalid_argument(who + ": capacity must be in [1, " + std::to_string(kMaxCapacity) + "] (got " +
                           std::to_string(capacity) + ")");
  }
  if (timeout.count() <= 0) {
    throw_invalid_argument(who + ": timeout must be > 0 ms (got " + std::to_string(timeout.count()) + " ms)");
  }
  State& s = *state_;
  s.type = type;
  s.url = std::string(url);
  s.name = std::string(name);
  s.items_key = s.name + ":items";
  s.closed_key = s.name + ":closed";
  s.capacity_text = std::to_string(capacity);
  s.item_size = item_size;
  s.timeout = timeout;
  try {
    s.with_client([&](RedisClient& client) {
      try {
        const std::vector<std::string> hz = client.command({"CONFIG", "GET", "hz"});
        long long value = 0;
        if (hz.size() == 2 && parse_integer(hz[1], value) && value > 0) {
          s.tick = milliseconds((1000 + value - 1) / value);
        }
      } catch (const RedisError&) {
        // CONFIG refused or renamed: assume the default hz.
      }
      if (timeout <= s.tick) return;  // refused below, before touching any key
      for (std::size_t i = 0; i < kScriptCount; ++i) {
        const std::vector<std::string> reply = client.command({"SCRIPT", "LOAD", kScripts[i]});
        if (reply.size() != 1) s.bad_reply("unexpected reply to SCRIPT LOAD");
        s.sha[i] = reply[0];
      }
      if (reset) client.command({"DEL", s.items_key, s.closed_key});
    });
  } catch (const std::invalid_argument& error) {
    throw_invalid_argument(who + ": bad url \"" + s.url + "\" (" + error.what() + ")");
  }
  if (timeout <= s.tick) {
    throw_invalid_argument(who + ": timeout must exceed the server's timer tick of " +
                           std::to_string(s.tick.count()) + " ms (hz) so that a BRPOP the server ends late is "
                           "not taken for a dead server (got " + std::to_string(timeout.count()) + " ms)");
  }
}

RedisList::RedisList(RedisList&& other) noexcept = default;
RedisList& RedisList::operator=(RedisList&& other) noexcept = default;
RedisList::~RedisList() = default;

QueueStatus RedisList::push(const void* item, std::optional<Deadline> deadline, bool try_only) {
  State& s = *state_;
  return s.with_client([&](RedisClient& client) {
    std::chrono::microseconds pause = kPollMin;
    for (;;) {
      const QueueStatus status = s.push_once(client, item);
      if (status != QueueStatus::kFull) return status;
      if (try_only) return QueueStatus::kFull;
      if (!pause_before_retry(pause, deadline)) return QueueStatus::kTimedOut;
    }
  });
}

QueueStatus RedisList::pop(void* item, std::optional<Deadline> deadline, bool try_only) {
  State& s = *state_;
  return s.with_client([&](RedisClient& client) {
    if (try_only) return s.pop_once(client, item);
    std::chrono::microseconds pause = kPollMin;
    for (;;) {
      // How long the server may block: a slice without a deadline; with one,
      // up to a tick before it (the server may answer a tick late), or not
      // at all in the last tick, which is polled.
      milliseconds block{0};
      if (!deadline.has_value()) {
        block = kPopSlice;
      } else {
        const auto slack = std::chrono::floor<milliseconds>(*deadline - Clock::now() - s.tick);
        if (slack >= milliseconds(1)) block = std::min(slack, kPopSlice);
      }
      if (block > milliseconds::zero()) {
        const std::optional<std::string> element = client.brpop(s.items_key, block);
        if (element.has_value()) return s.take_element(client, *element, item);
        // The slice ended empty: the script below sees a closed queue whose
        // sentinel is in flight (or lost with a killed consumer).
      }
      const QueueStatus status = s.pop_once(client, item);
      if (status != QueueStatus::kEmpty) return status;
      if (block == milliseconds::zero() && !pause_before_retry(pause, deadline)) return QueueStatus::kTimedOut;
    }
  });
}

void RedisList::close() {
  State& s = *state_;
  s.with_client([&](RedisClient& client) { (void)s.eval(client, kClose); });
}

bool RedisList::is_closed() const {
  State& s = *state_;
  return s.with_client([&](RedisClient& client) {
    const std::vector<std::string> reply = client.command({"EXISTS", s.closed_key});
    return reply.size() == 1 && reply[0] == "1";
  });
}

std::size_t RedisList::size_guess() const {
  State& s = *state_;
  return s.with_client([&](RedisClient& client) {
    const std::vector<std::string> reply = s.eval(client, kSize);
    long long n = 0;
    if (reply.size() != 1 || !parse_integer(reply[0], n) || n < 0) s.bad_reply("unexpected reply to the size script");
    return static_cast<std::size_t>(n);
  });
}

const std::string& RedisList::url() const noexcept { return state_->url; }
const std::string& RedisList::name() const noexcept { return state_->name; }
milliseconds RedisList::server_tick() const noexcept { return state_->tick; }

}  // namespace mpkit::detail
