#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "mpkit/ipc/remote/redis_server.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// A private scratch directory for files a test makes itself (scripts, a
// socket); removed even when the test fails.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mpkit-redis-test.XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = pattern;
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  // An executable /bin/sh script standing in for redis-server.
  [[nodiscard]] std::string script(const std::string& name,
                                   const std::string& body) const {
    const auto file = path_ / name;
    std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
    std::filesystem::permissions(file, std::filesystem::perms::owner_all);
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

// True once `pid` names no process we could still see or reap.
bool process_gone(pid_t pid) {
  if (::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD) {
    // Reaped (no zombie). The number may since have been reused, so "gone"
    // means: no process, or one that is not a redis-server.
    if (::kill(pid, 0) == -1 && errno == ESRCH) return true;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name != "redis-server" && name != "sleep";
  }
  return false;
}

// ---------------------------------------------------------------- client

TEST(RedisClientTest, SetGetIncrDelRoundTrip) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  redis.ping();
  EXPECT_EQ(redis.get("flag"), std::nullopt);
  redis.set("flag", "1");
  EXPECT_EQ(redis.get("flag"), "1");
  redis.set("flag", "overwritten");
  EXPECT_EQ(redis.get("flag"), "overwritten");

  EXPECT_EQ(redis.incr("counter"), 1);
  EXPECT_EQ(redis.incr("counter"), 2);
  EXPECT_EQ(redis.get("counter"), "2");

  EXPECT_EQ(redis.del("counter"), 1);
  EXPECT_EQ(redis.del("counter"), 0) << "already gone";
  EXPECT_EQ(redis.get("counter"), std::nullopt);
  EXPECT_EQ(redis.incr("counter"), 1) << "INCR restarts from a missing key";
}

TEST(RedisClientTest, KeysAndValuesAreBinarySafe) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  const std::string key = "k\0ey"s;
  const std::string value = "a\0b\r\n\xff%s%b"s;
  ASSERT_EQ(key.size(), 4U);
  redis.set(key, value);
  EXPECT_EQ(redis.get(key), value);
  EXPECT_EQ(redis.get("k"), std::nullopt)
      << "the key must not be cut at its NUL";

  EXPECT_EQ(redis.lpush("queue", value), 1);
  EXPECT_EQ(redis.brpop("queue", 1s), value);

  redis.set("empty", "");
  EXPECT_EQ(redis.get("empty"), "") << "an empty value is not a missing one";
}

TEST(RedisClientTest, LpushBrpopIsFifo) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(redis.lpush("queue", std::to_string(i)), i + 1);
  EXPECT_EQ(redis.llen("queue"), 10);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(redis.brpop("queue", 1s), std::to_string(i));
  EXPECT_EQ(redis.llen("queue"), 0);
  EXPECT_EQ(redis.llen("never-created"), 0);
}

TEST(RedisClientTest, BrpopTimesOutWithNulloptNotBeforeTheTimeout) {
  RedisServer server;
  // The client's own timeout (100 ms) is shorter than the BRPOP wait: the
  // socket timeout must be raised for that call, or it would fail with
  // ETIMEDOUT instead of returning nullopt.
  auto redis = RedisClient::connect(server.url(), 100ms);
  constexpr auto kWait = 300ms;
  const auto start = std::chrono::steady_clock::now();
  const auto popped = redis.brpop("empty-queue", kWait);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(popped, std::nullopt);
  EXPECT_GE(elapsed, kWait);

  // Zero polls once instead of blocking forever (Redis's meaning of 0).
  EXPECT_EQ(redis.brpop("empty-queue", 0ms), std::nullopt);
  redis.lpush("empty-queue", "x");
  EXPECT_EQ(redis.brpop("empty-queue", 0ms), "x");
  EXPECT_THROW((void)redis.brpop("empty-queue", -1ms), std::invalid_argument);

  // Back to the short socket timeout: ordinary commands still work.
  redis.ping();
}

TEST(RedisClientTest, ErrorReplyThrowsRedisErrorAndClientStaysUsable) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  redis.set("text", "not a number");
  try {
    redis.incr("text");
    FAIL() << "INCR on text must throw";
  } catch (const RedisError& error) {
    EXPECT_NE(error.server_message().find("not an integer"), std::string::npos)
        << error.server_message();
    EXPECT_NE(
        std::string(error.what()).find("INCR text: " + error.server_message()),
        std::string::npos)
        << error.what();
  }
  redis.lpush("list", "x");
  EXPECT_THROW((void)redis.get("list"), RedisError) << "WRONGTYPE";
  EXPECT_THROW(redis.command({"NO-SUCH-COMMAND"}), RedisError);
  EXPECT_EQ(redis.get("text"), "not a number")
      << "an error reply does not break the connection";
}

TEST(RedisClientTest, GenericCommandFlattensReplies) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  EXPECT_EQ(redis.command({"MSET", "a", "1", "b", "2"}),
            std::vector<std::string>{"OK"});
  EXPECT_EQ(redis.command({"MGET", "a", "missing", "b"}),
            (std::vector<std::string>{"1", "", "2"}));
  EXPECT_EQ(redis.command({"EXISTS", "a", "b", "missing"}),
            std::vector<std::string>{"2"});
  EXPECT_EQ(redis.command({"GET", "missing"}), std::vector<std::string>{});
  EXPECT_THROW(redis.command(std::initializer_list<std::string_view>{}),
               std::invalid_argument);
}

TEST(RedisClientTest, TwoForkedProcessesIncrExactly2000) {
  RedisServer server;
  constexpr int kPerProcess = 1000;
  const std::string url = server.url();
  // Each child connects its own client and leaves through Process's _exit:
  // it never returns into GoogleTest. Exit 1: INCR went backwards.
  auto worker = [url] {
    auto redis = RedisClient::connect(url);
    long long last = 0;
    for (int i = 0; i < kPerProcess; ++i) {
      const long long now = redis.incr("counter");
      if (now <= last) return 1;
      last = now;
    }
    return 0;
  };
  Process first(worker);
  Process second(worker);
  EXPECT_EQ(first.join(30s), 0);
  EXPECT_EQ(second.join(30s), 0);
  auto redis = RedisClient::connect(url);
  EXPECT_EQ(redis.get("counter"), std::to_string(2 * kPerProcess));
}

TEST(RedisClientTest, ClientInheritedAcrossForkRefusesToRun) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url());
  Process child([&redis] {
    try {
      redis.ping();
      return 1;  // used the parent's socket: replies could interleave
    } catch (const std::logic_error&) {
      return 0;
    } catch (...) {
      return 2;
    }
  });
  EXPECT_EQ(child.join(30s), 0);
  redis.ping();  // the parent's connection was left alone
}

TEST(RedisClientTest, ConnectToMissingSocketThrowsSystemError) {
  ScratchDirectory scratch;
  const std::string url =
      "unix://" + (scratch.path() / "missing" / "redis.sock").string();
  try {
    (void)RedisClient::connect(url, 500ms);
    FAIL() << "connect to a missing socket must throw";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT) << error.what();
    EXPECT_NE(std::string(error.what()).find("redis connect " + url),
              std::string::npos)
        << error.what();
  }
}

TEST(RedisClientTest, ConnectRefusedOverTcpThrowsSystemError) {
  // Port 1 (tcpmux) is not served here: the "host:port" form fails cleanly.
  EXPECT_THROW((void)RedisClient::connect("127.0.0.1:1", 500ms),
               std::system_error);
  EXPECT_THROW((void)RedisClient::connect("redis://127.0.0.1:1", 500ms),
               std::system_error);
}

TEST(RedisClientTest, SilentServerMakesCommandThrowTimedOut) {
  // A listener that accepts nothing and never answers: the kernel completes
  // the connect (backlog), the command's read must time out, not hang.
  ScratchDirectory scratch;
  const std::string path = (scratch.path() / "silent.sock").string();
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  path.copy(address.sun_path, path.size());
  ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&address),
                   sizeof(address)),
            0);
  ASSERT_EQ(::listen(listener, 4), 0);

  auto redis = RedisClient::connect("unix://" + path, 200ms);
  try {
    redis.ping();
    FAIL() << "PING to a silent server must throw";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ETIMEDOUT) << error.what();
  }
  // A late reply could be taken for the next command's: the client is broken.
  EXPECT_THROW(redis.ping(), std::system_error);
  ::close(listener);
}

TEST(RedisClientTest, ServerStoppedUnderClientMakesNextCommandThrow) {
  RedisServer server;
  auto redis = RedisClient::connect(server.url(), 1s);
  redis.set("flag", "1");
  server.stop();
  // Writing to the closed socket raises SIGPIPE inside hiredis; the client
  // must absorb it (this process would die otherwise) and throw.
  EXPECT_THROW((void)redis.get("flag"), std::system_error);
  EXPECT_THROW((void)redis.get("flag"), std::system_error) << "stays broken";
}

TEST(RedisClientTest, MalformedUrlThrowsInvalidArgument) {
  for (const std::string& url : std::vector<std::string>{
           "", "unix://", "unix://relative/redis.sock", "redis://",
           "redis://:6379", "redis://host:", "redis://host:0",
           "redis://host:70000", "redis://host:12x", "host", "http://host:80",
           "redis://user:pw@host:6379", "redis://host:6379/0", "::1:6379",
           "unix:///" + std::string(200, 'x')}) {
    try {
      (void)RedisClient::connect(url, 100ms);
      ADD_FAILURE() << "accepted \"" << url << "\"";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("\"" + url + "\""),
                std::string::npos)
          << error.what();
    }
  }
  EXPECT_THROW((void)RedisClient::connect("unix:///tmp/x.sock", 0ms),
               std::invalid_argument);
}

// ---------------------------------------------------------------- server

TEST(RedisServerTest, StopRemovesDirectoryAndReapsProcess) {
  RedisServer server;
  const std::string directory = server.directory();
  const pid_t pid = server.pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.url(), "unix://" + server.socket_path());
  EXPECT_EQ(std::filesystem::path(server.socket_path()).parent_path(),
            directory);
  EXPECT_TRUE(std::filesystem::exists(server.socket_path()));
  EXPECT_EQ(std::filesystem::status(directory).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_all)
      << "private directory";
  EXPECT_EQ(::kill(pid, 0), 0);

  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_FALSE(std::filesystem::exists(directory));
  EXPECT_TRUE(process_gone(pid));
  server.stop();  // idempotent
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(RedisServerTest, TwoServersRunSideBySide) {
  RedisServer first;
  RedisServer second;
  EXPECT_NE(first.socket_path(), second.socket_path());
  EXPECT_NE(first.pid(), second.pid());
  auto a = RedisClient::connect(first.url());
  auto b = RedisClient::connect(second.url());
  a.set("owner", "first");
  b.set("owner", "second");
  EXPECT_EQ(a.get("owner"), "first");
  EXPECT_EQ(b.get("owner"), "second");
  first.stop();
  EXPECT_EQ(b.get("owner"), "second")
      << "stopping one leaves the other running";
}

TEST(RedisServerTest, MoveTransfersOwnership) {
  RedisServer original;
  const std::string directory = original.directory();
  const pid_t pid = original.pid();
  RedisServer moved(std::move(original));
  // NOLINTNEXTLINE(bugprone-use-after-move): checks the moved-from state.
  EXPECT_FALSE(original.running());
  original.stop();  // a no-op on the moved-from object
  EXPECT_TRUE(std::filesystem::exists(directory));
  EXPECT_EQ(moved.pid(), pid);
  RedisClient::connect(moved.url()).ping();

  RedisServer other;
  const std::string other_directory = other.directory();
  other = std::move(moved);  // stops `other`'s own server first
  EXPECT_FALSE(std::filesystem::exists(other_directory));
  RedisClient::connect(other.url()).ping();
}

TEST(RedisServerTest, MissingExecutableThrowsNamingThePath) {
  RedisServerOptions options;
  options.executable = "/nonexistent/bin/redis-server";
  try {
    RedisServer server(options);
    FAIL() << "must not start";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT);
    EXPECT_NE(std::string(error.what()).find(options.executable),
              std::string::npos)
        << error.what();
  }
}

TEST(RedisServerTest, ServerThatExitsReportsItsLogTail) {
  ScratchDirectory scratch;
  RedisServerOptions options;
  options.executable =
      scratch.script("fake-redis", "echo 'fatal: bad config line' >&2\nexit 3");
  try {
    RedisServer server(options);
    FAIL() << "must not start";
  } catch (const std::runtime_error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("exited with code 3"), std::string::npos) << what;
    EXPECT_NE(what.find("fatal: bad config line"), std::string::npos) << what;
  }
}

TEST(RedisServerTest, ServerThatNeverAnswersIsKilledAfterStartTimeout) {
  ScratchDirectory scratch;
  const auto pid_file = scratch.path() / "pid";
  RedisServerOptions options;
  options.executable = scratch.script(
      "silent-redis", "echo $$ > '" + pid_file.string() + "'\nexec sleep 30");
  options.start_timeout = 300ms;
  try {
    RedisServer server(options);
    FAIL() << "must not start";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(
        std::string(error.what()).find("did not answer PING within 300 ms"),
        std::string::npos)
        << error.what();
  }
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(process_gone(pid)) << "the silent server was killed and reaped";
}

}  // namespace
}  // namespace mpkit
