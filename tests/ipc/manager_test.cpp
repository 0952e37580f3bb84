// ManagerServer and its proxies: the queue conformance suite for
// ManagerQueue, plus what is particular to a server process -- its
// lifecycle and private folder, a killed or stopped server (every call
// throws within its timeout), a killed client (the others carry on),
// malformed frames (an error reply, and the server survives), close()
// waking a pop the server holds for another process, exact counting by many
// processes, and argument checks. ManagerFlag / ManagerCounter also run the
// Flag and Counter suites (flag_counter_test.cpp).
//
// Children speak through their exit status only (test::Child, _exit); every
// wait is bounded; no case asserts a speed.

#include "mpkit/ipc/remote/manager.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "queue_conformance.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>

#include "mpkit/ipc/remote/backends.hpp"
#include "mpkit/ipc/remote/detail/manager_protocol.hpp"
#include "mpkit/ipc/remote/manager_flag_counter.hpp"
#include "mpkit/ipc/remote/manager_queue.hpp"

namespace mpkit {
namespace {

using mpkit::test::invalid_argument_message;

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;
namespace proto = detail::manager;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

/// One server for the conformance cases, started on first use from the
/// main thread (no test thread runs then), stopped at exit.
ManagerServer& shared_server() {
  static ManagerServer server;
  return server;
}

std::string unique_name(const std::string& prefix) {
  static int next = 0;
  return prefix + "." + std::to_string(next++);
}

}  // namespace

namespace test {

// The answers are the registry's: peer death is detected, because the server
// sees every consumer / producer hang up.
template <>
struct QueueFactory<ManagerQueue<std::uint64_t>>
    : IntegerItems<std::uint64_t>, TraitsOf<ManagerQueueBackend> {
  static ManagerQueue<std::uint64_t> make(std::size_t capacity) {
    return ManagerQueue<std::uint64_t>::create(shared_server(), unique_name("conformance"),
                                               capacity);
  }
  static std::string name() { return "ManagerQueueU64"; }
  // Two round trips per item (~20-50 µs each here): 10^6 would take minutes.
  static constexpr std::uint64_t kStressItems = kSanitized ? 5'000 : 100'000;
};

using ManagerQueues = ::testing::Types<ManagerQueue<std::uint64_t>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Manager, QueueConformance, ManagerQueues, QueueNames);

}  // namespace test

namespace {

// ---------------------------------------------------------------- helpers

/// A raw client that speaks the wire protocol by hand, for malformed frames.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const int error = errno;
      ::close(fd_);
      throw std::system_error(error, std::generic_category(), "connect " + path);
    }
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() { close(); }

  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Ends both directions without closing the descriptor (safe while
  /// another thread is inside send on it).
  void shutdown() const noexcept { (void)::shutdown(fd_, SHUT_RDWR); }

  void send_bytes(const void* data, std::size_t size) const {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::system_error(errno, std::generic_category(), "send");
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  static proto::RequestHeader header(proto::Op op, std::uint32_t payload_bytes = 0) {
    proto::RequestHeader h{};
    h.frame_bytes = static_cast<std::uint32_t>(proto::kRequestHeaderBytes + payload_bytes);
    h.magic = proto::kMagic;
    h.version = proto::kVersion;
    h.op = static_cast<std::uint8_t>(op);
    h.deadline_ns = proto::kTryOnly;
    return h;
  }

  void send_header(const proto::RequestHeader& h) const { send_bytes(&h, sizeof h); }

  /// The next reply header (its payload is skipped); nullopt on end of
  /// file; throws after `timeout`.
  std::optional<proto::ReplyHeader> reply(std::chrono::milliseconds timeout = 5s) const {
    proto::ReplyHeader h{};
    if (!read_exact(&h, sizeof h, timeout)) return std::nullopt;
    std::vector<char> payload(h.frame_bytes - sizeof h);
    if (!payload.empty() && !read_exact(payload.data(), payload.size(), timeout))
      return std::nullopt;
    return h;
  }

  /// True once the server has closed the connection (end of file).
  [[nodiscard]] bool closed_by_server(std::chrono::milliseconds timeout = 5s) const {
    char byte = 0;
    return !read_exact(&byte, 1, timeout);
  }

 private:
  bool read_exact(void* data, std::size_t size, std::chrono::milliseconds timeout) const {
    auto* p = static_cast<char*>(data);
    while (size > 0) {
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
      if (ready == 0) throw std::runtime_error("no reply from the server within the timeout");
      if (ready < 0 && errno == EINTR) continue;
      const ssize_t n = ::recv(fd_, p, size, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  int fd_ = -1;
};

/// Waits (bounded) until process `pid` sleeps in poll(2) -- a client whose
/// request the server holds -- so a test can act exactly then.
bool wait_until_polling(pid_t pid, std::chrono::milliseconds timeout = 10s) {
  return test::eventually(
      [&] {
        std::ifstream file("/proc/" + std::to_string(pid) + "/syscall");
        long number = -1;
        return static_cast<bool>(file >> number) && (number == SYS_poll || number == SYS_ppoll);
      },
      timeout);
}

template <class Fn>
std::system_error expect_system_error(Fn&& fn) {
  try {
    fn();
  } catch (const std::system_error& error) {
    return error;
  }
  ADD_FAILURE() << "no std::system_error was thrown";
  return std::system_error(std::error_code());
}

// ================================================================ lifecycle

TEST(ManagerServerTest, ServesFromAPrivateFolderAndStopRemovesIt) {
  ManagerServer server;
  ASSERT_TRUE(server.running());
  struct stat info {};
  ASSERT_EQ(::stat(server.directory().c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0700U) << "only this user may reach the socket";
  ASSERT_EQ(::stat(server.socket_path().c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_GT(server.pid(), 0);

  auto counter = ManagerCounter::create(server, "hits");
  EXPECT_EQ(counter.increment(), 1);

  const std::string directory = server.directory();
  const pid_t pid = server.pid();
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_FALSE(std::filesystem::exists(directory)) << "leftover " << directory;
  EXPECT_NE(::kill(pid, 0), 0) << "the server was reaped";  // (pid reuse within ms is unlikely)
  server.stop();                                            // idempotent
}

TEST(ManagerServerTest, DestructorAndMoveLeaveNoFolderBehind) {
  std::string first;
  std::string second;
  {
    ManagerServer a;
    first = a.directory();
    ManagerServer b(std::move(a));
    EXPECT_FALSE(
        a.running());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    EXPECT_TRUE(b.running());
    ManagerServer c;
    second = c.directory();
    c = std::move(b);  // stops c's own server first
    EXPECT_FALSE(std::filesystem::exists(second));
    EXPECT_EQ(c.directory(), first);
    auto flag = ManagerFlag::create(c, "f");
    flag.set();
    EXPECT_TRUE(flag.is_set());
  }
  EXPECT_FALSE(std::filesystem::exists(first));
}

TEST(ManagerServerTest, RejectsBadOptionsNamingThem) {
  ManagerServerOptions options;
  options.start_timeout = 0ms;
  EXPECT_NE(invalid_argument_message([&] { ManagerServer s(options); }).find("start_timeout"),
            std::string::npos);
  options = {};
  options.max_frame_bytes = 16;
  EXPECT_NE(invalid_argument_message([&] { ManagerServer s(options); }).find("max_frame_bytes"),
            std::string::npos);
}

TEST(ManagerServerTest, AStoppedServerMakesProxyCreationFailNamingIt) {
  ManagerServer server;
  server.stop();
  EXPECT_NE(
      invalid_argument_message([&] { (void)ManagerFlag::create(server, "f"); }).find("server"),
      std::string::npos);
}

// ============================================================ argument checks

TEST(ManagerProxyTest, CreateRejectsBadArgumentsNamingThem) {
  ManagerServer& server = shared_server();
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerQueue<int>::create(server, unique_name("z"), 0);
            }).find("capacity"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] { (void)ManagerFlag::create(server, ""); }).find("name"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerCounter::create(server, std::string(300, 'x'));
            }).find("name"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerFlag::create(server, unique_name("t"), 0ms);
            }).find("timeout"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerByteQueue::create(server, unique_name("b"), 4, 0);
            }).find("max_message_bytes"),
            std::string::npos);
}

TEST(ManagerProxyTest, AnItemLargerThanTheServersFrameLimitIsRejectedAtCreate) {
  ManagerServerOptions options;
  options.max_frame_bytes = 1024;
  ManagerServer server(options);
  EXPECT_EQ(server.max_message_bytes(), 1024U - proto::kRequestHeaderBytes);
  using Big = std::array<char, 2000>;
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerQueue<Big>::create(server, "big", 4);
            }).find("sizeof(T)"),
            std::string::npos);
  using Fits = std::array<char, 900>;
  auto q = ManagerQueue<Fits>::create(server, "fits", 2);
  Fits in{};
  in.fill('a');
  ASSERT_EQ(q.push(in), QueueStatus::kOk);
  Fits out{};
  ASSERT_EQ(q.pop(out), QueueStatus::kOk);
  EXPECT_EQ(out, in);
}

TEST(ManagerProxyTest, ATakenNameIsEEXIST) {
  ManagerServer& server = shared_server();
  const std::string name = unique_name("taken");
  auto flag = ManagerFlag::create(server, name);
  const std::system_error error =
      expect_system_error([&] { (void)ManagerCounter::create(server, name); });
  EXPECT_EQ(error.code().value(), EEXIST) << error.what();
  EXPECT_NE(std::string(error.what()).find(name), std::string::npos) << error.what();
}

TEST(ManagerProxyTest, AttachFindsObjectsByNameFromAProcessWithoutAProxy) {
  ManagerServer& server = shared_server();
  const std::string queue_name = unique_name("attach.q");
  const std::string counter_name = unique_name("attach.c");
  const std::string flag_name = unique_name("attach.f");
  auto q = ManagerQueue<std::uint64_t>::create(server, queue_name, 8);
  auto counter = ManagerCounter::create(server, counter_name);
  auto flag = ManagerFlag::create(server, flag_name);
  const std::string path = server.socket_path();
  Child child([&] {  // uses only the path and the names, as an exec'd program would
    auto q2 = ManagerQueue<std::uint64_t>::attach(path, queue_name);
    if (q2.capacity() != 8) return 1;
    if (q2.push(77) != QueueStatus::kOk) return 2;
    ManagerCounter::attach(path, counter_name).add(5);
    ManagerFlag::attach(path, flag_name).set();
    return 0;
  });
  EXPECT_EQ(child.join(20s), ExitStatus::exited(0));
  std::uint64_t v = 0;
  ASSERT_EQ(q.try_pop(v), QueueStatus::kOk);
  EXPECT_EQ(v, 77U);
  EXPECT_EQ(counter.get(), 5);
  EXPECT_TRUE(flag.is_set());

  EXPECT_EQ(ManagerByteQueue::attach(path, queue_name).max_message_bytes(), sizeof(std::uint64_t));
  EXPECT_NE(invalid_argument_message([&] {
              (void)ManagerQueue<std::uint32_t>::attach(path, queue_name);
            }).find("sizeof(T)"),
            std::string::npos);
  const std::system_error missing =
      expect_system_error([&] { (void)ManagerFlag::attach(path, unique_name("missing")); });
  EXPECT_EQ(missing.code().value(), ENOENT) << missing.what();
  const std::system_error wrong_kind =
      expect_system_error([&] { (void)ManagerFlag::attach(path, counter_name); });
  EXPECT_EQ(wrong_kind.code().value(), EPROTOTYPE) << wrong_kind.what();
}

TEST(ManagerProxyTest, ByteQueueCarriesMessagesOfEverySizeUpToItsLimit) {
  auto q = ManagerByteQueue::create(shared_server(), unique_name("bytes"), 64, 5000);
  EXPECT_EQ(q.max_message_bytes(), 5000U);
  std::vector<std::size_t> sizes = {0, 1, 7, 8, 100, 4096, 4999, 5000};
  for (const std::size_t size : sizes) {
    std::vector<std::byte> message(size);
    for (std::size_t i = 0; i < size; ++i)
      message[i] = static_cast<std::byte>((i * 31 + size) & 0xFF);
    ASSERT_EQ(q.push(message), QueueStatus::kOk) << size;
  }
  for (const std::size_t size : sizes) {
    std::vector<std::byte> out;
    ASSERT_EQ(q.pop(out), QueueStatus::kOk);
    ASSERT_EQ(out.size(), size);
    for (std::size_t i = 0; i < size; ++i)
      ASSERT_EQ(out[i], static_cast<std::byte>((i * 31 + size) & 0xFF));
  }
  std::vector<std::byte> too_long(5001);
  EXPECT_NE(invalid_argument_message([&] { (void)q.push(too_long); }).find("max_message_bytes"),
            std::string::npos);
  std::vector<std::byte> out;
  EXPECT_EQ(q.try_pop(out), QueueStatus::kEmpty);
}

// ============================================================== a dead server

TEST(ManagerFailureTest, AKilledServerMakesEveryCallThrowWithinTheTimeout) {
  ManagerServer server;
  auto q = ManagerQueue<std::uint64_t>::create(server, "q", 4, 500ms);
  auto flag = ManagerFlag::create(server, "f", 500ms);
  auto counter = ManagerCounter::create(server, "c", 500ms);
  counter.add(3);
  // A child whose pop the server holds: the kill must end it with an error.
  Child waiter([&] {
    std::uint64_t v = 0;
    try {
      (void)q.pop(v);
    } catch (const std::system_error&) {
      return 0;
    }
    return 1;
  });
  ASSERT_TRUE(wait_until_polling(waiter.pid()));
  ASSERT_EQ(::kill(server.pid(), SIGKILL), 0);
  const auto start = Clock::now();
  EXPECT_EQ(waiter.join(20s), ExitStatus::exited(0));
  const std::system_error e1 = expect_system_error([&] { flag.set(); });
  EXPECT_NE(std::string(e1.what()).find("ManagerFlag \"f\""), std::string::npos) << e1.what();
  (void)expect_system_error([&] { (void)counter.get(); });
  std::uint64_t v = 0;
  (void)expect_system_error([&] { (void)q.try_pop(v); });
  (void)expect_system_error([&] { (void)q.push(1); });
  EXPECT_LT(test::seconds_since(start), 15.0);  // bounded, not a speed check
  const std::string directory = server.directory();
  server.stop();  // reaps the killed server, removes the folder
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(ManagerFailureTest, AStuckServerIsETIMEDOUTWithinTheTimeoutNotAHang) {
  ManagerServer server;
  auto flag = ManagerFlag::create(server, "f", 300ms);
  auto q = ManagerQueue<std::uint64_t>::create(server, "q", 4, 300ms);
  flag.set();
  ASSERT_EQ(::kill(server.pid(), SIGSTOP), 0);
  const auto start = Clock::now();
  const std::system_error e1 = expect_system_error([&] { (void)flag.is_set(); });
  EXPECT_EQ(e1.code().value(), ETIMEDOUT) << e1.what();
  std::uint64_t v = 0;
  const std::system_error e2 =
      expect_system_error([&] { (void)q.pop(v); });  // no deadline: rounds of 300 ms
  EXPECT_EQ(e2.code().value(), ETIMEDOUT) << e2.what();
  EXPECT_LT(test::seconds_since(start), 10.0);  // bounded, not a speed check
  ASSERT_EQ(::kill(server.pid(), SIGCONT), 0);
  EXPECT_TRUE(flag.is_set()) << "the server carries on once it runs again";
}

// ============================================================= a dead client

TEST(ManagerFailureTest, AClientKilledWhileItsPopIsHeldDoesNotSwallowTheNextItem) {
  ManagerServer server;
  auto q = ManagerQueue<std::uint64_t>::create(server, "q", 4);
  auto counter = ManagerCounter::create(server, "c");
  Child doomed([&] {
    std::uint64_t v = 0;
    (void)q.pop(v);  // held by the server until the kill
    return 1;
  });
  ASSERT_TRUE(wait_until_polling(doomed.pid()));
  doomed.send(SIGKILL);
  EXPECT_EQ(doomed.join(10s), ExitStatus::killed_by(SIGKILL));
  // try_push: a blocking push into a queue whose every consumer is gone is
  // refused (EPIPE); the consumer comes after.
  ASSERT_EQ(q.try_push(42), QueueStatus::kOk);
  Child survivor([&] {
    std::uint64_t v = 0;
    if (pop_for(q, v, 10s) != QueueStatus::kOk) return 1;
    counter.increment();
    return v == 42 ? 0 : 2;
  });
  EXPECT_EQ(survivor.join(20s), ExitStatus::exited(0));
  EXPECT_EQ(counter.get(), 1);
}

TEST(ManagerFailureTest, AClientKilledMidFrameLeavesTheOthersServed) {
  ManagerServer server;
  auto counter = ManagerCounter::create(server, "c");
  Child doomed([&] {
    RawClient raw(server.socket_path());
    const proto::RequestHeader h = RawClient::header(proto::Op::kCounterAdd);
    raw.send_bytes(&h, 10);  // a third of a header, then death
    ::raise(SIGKILL);
    return 1;
  });
  EXPECT_EQ(doomed.join(10s), ExitStatus::killed_by(SIGKILL));
  std::vector<std::unique_ptr<Child>> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(std::make_unique<Child>([&] {
      for (int k = 0; k < 100; ++k) counter.increment();
      return 0;
    }));
  }
  for (auto& child : others) EXPECT_EQ(child->join(30s), ExitStatus::exited(0));
  EXPECT_EQ(counter.get(), 300);
}

// CPU seconds process `pid` has used (utime + stime from /proc/<pid>/stat).
double cpu_seconds(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(file, text);                                     // one line
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TEST(ManagerFailureTest, AServerOutOfDescriptorsNeitherSpinsNorDies) {
  ManagerServer server;
  auto counter = ManagerCounter::create(server, "c", 300ms);
  int highest = 0;
  int open_fds = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(server.pid()) + "/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
    ++open_fds;
  }
  const rlimit limit{static_cast<rlim_t>(highest + 1), static_cast<rlim_t>(highest + 1)};
  ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &limit, nullptr), 0) << std::strerror(errno);
  std::vector<std::unique_ptr<RawClient>> hogs;  // every free number, and a few for the backlog
  for (int i = 0; i < highest + 1 - open_fds + 3; ++i) {
    hogs.push_back(std::make_unique<RawClient>(server.socket_path()));
  }
  const double cpu_before = cpu_seconds(server.pid());
  const auto start = Clock::now();
  std::this_thread::sleep_for(500ms);
  const double cpu_used = cpu_seconds(server.pid()) - cpu_before;
  // Idle, it uses no CPU at all; spinning on EMFILE it used 20-100 % of a
  // core here even on a loaded machine. 10 % is far from both.
  EXPECT_LT(cpu_used, 0.1 * test::seconds_since(start)) << "the server spins on EMFILE";
  hogs.clear();  // hang-ups free descriptors
  EXPECT_TRUE(test::eventually(
      [&] {
        try {
          return counter.increment() > 0;
        } catch (const std::system_error&) {
          return false;  // a call queued behind the hogs may time out
        }
      },
      10s));
}

// ============================================================ bad frames

TEST(ManagerFrameTest, OversizedFrameGetsTooLargeAndTheConnectionStaysUsable) {
  ManagerServerOptions options;
  options.max_frame_bytes = 4096;
  ManagerServer server(options);
  RawClient raw(server.socket_path());
  proto::RequestHeader h = RawClient::header(proto::Op::kPing, 10'000);
  raw.send_header(h);
  const auto reply = raw.reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kTooLarge));
  EXPECT_EQ(reply->value, 4096);
  const std::vector<char> payload(10'000, 'x');  // thrown away by the server
  raw.send_bytes(payload.data(), payload.size());
  raw.send_header(RawClient::header(proto::Op::kPing));
  const auto pong = raw.reply();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->status, static_cast<std::uint8_t>(proto::Status::kOk));
}

TEST(ManagerFrameTest, AClientThatPipelinesWithoutReadingIsServedInOrderWithBoundedBuffers) {
  ManagerServerOptions options;
  options.max_frame_bytes = 4096;  // the server buffers about 3 frames' worth per connection
  ManagerServer server(options);
  auto counter = ManagerCounter::create(server, "c");
  RawClient raw(server.socket_path());
  constexpr int kRequests = 20'000;  // 640 KB of requests: more than every buffer on the way
  std::thread sender([&] {
    proto::RequestHeader h = RawClient::header(proto::Op::kCounterAdd);
    h.object = 1;  // the first object of this server: "c"
    h.argument = 1;
    try {
      for (int i = 0; i < kRequests; ++i) raw.send_header(h);  // blocks while nothing is read
    } catch (const std::system_error&) {
      // the reader gave up and shut the socket down
    }
  });
  std::int64_t expected = 0;
  bool in_order = true;
  try {
    for (int i = 0; i < kRequests; ++i) {
      const auto reply = raw.reply(10s);
      if (!reply.has_value() || reply->status != static_cast<std::uint8_t>(proto::Status::kOk))
        break;
      in_order = in_order && reply->value == ++expected;
    }
  } catch (const std::runtime_error& error) {
    ADD_FAILURE() << error.what() << " after " << expected << " replies: the server stalled";
  }
  raw.shutdown();  // unblocks the sender if the server stalled
  sender.join();
  EXPECT_EQ(expected, kRequests);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(counter.get(), kRequests);
}

TEST(ManagerFrameTest, GarbageGetsBadRequestAndTheServerSurvives) {
  ManagerServer server;
  auto counter = ManagerCounter::create(server, "c");
  {
    RawClient raw(server.socket_path());
    std::array<unsigned char, 64> garbage{};
    for (std::size_t i = 0; i < garbage.size(); ++i)
      garbage[i] = static_cast<unsigned char>(i * 37 + 11);
    raw.send_bytes(garbage.data(), garbage.size());
    const auto reply = raw.reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kBadRequest));
    EXPECT_TRUE(raw.closed_by_server()) << "framing lost: the server hangs up";
  }
  {
    RawClient raw(server.socket_path());  // a frame shorter than its own header
    proto::RequestHeader h = RawClient::header(proto::Op::kPing);
    h.frame_bytes = 8;
    raw.send_header(h);
    const auto reply = raw.reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kBadRequest));
  }
  {
    RawClient raw(server.socket_path());
    raw.send_header(RawClient::header(static_cast<proto::Op>(200)));
    auto reply = raw.reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kUnknownOp));
    proto::RequestHeader h = RawClient::header(proto::Op::kCounterGet);
    h.object = 999;  // no such object
    raw.send_header(h);
    reply = raw.reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kNoSuchObject));
    raw.send_header(RawClient::header(proto::Op::kPing));  // still usable
    reply = raw.reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, static_cast<std::uint8_t>(proto::Status::kOk));
  }
  EXPECT_EQ(counter.increment(), 1) << "the server survived";
}

// ============================================================ blocking, held

TEST(ManagerQueueTest, SignalsInterruptingAWaitingClientChangeNothing) {
  test::Sigusr1Handler handler;  // no SA_RESTART: the client's poll() sees EINTR
  auto q = ManagerQueue<std::uint64_t>::create(shared_server(), unique_name("eintr"), 4);
  Child consumer([&] {
    std::uint64_t v = 0;
    const auto start = Clock::now();
    if (pop_for(q, v, 200ms) != QueueStatus::kTimedOut) return 1;  // pestered meanwhile
    if (Clock::now() - start < 200ms) return 2;                    // never early
    for (std::uint64_t expected = 0; expected < 5; ++expected) {
      if (q.pop(v) != QueueStatus::kOk || v != expected) return 3;
    }
    return test::g_sigusr1_count.load() > 0 ? 0 : 4;
  });
  ASSERT_TRUE(wait_until_polling(consumer.pid()));
  test::pester_process(consumer.pid(), 100,
                       2ms);  // through the timed pop and into the blocking one
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_EQ(q.push(i), QueueStatus::kOk);
  EXPECT_EQ(consumer.join(20s), ExitStatus::exited(0));
}

TEST(ManagerQueueTest, CloseWakesAPopHeldForAnotherProcess) {
  auto q = ManagerQueue<std::uint64_t>::create(shared_server(), unique_name("close"), 4);
  Child waiter([&] {
    std::uint64_t v = 0;
    return q.pop(v) == QueueStatus::kClosed ? 0 : 1;
  });
  ASSERT_TRUE(wait_until_polling(waiter.pid()));
  q.close();
  EXPECT_EQ(waiter.join(20s), ExitStatus::exited(0));
  EXPECT_TRUE(q.is_closed());
}

TEST(ManagerQueueTest, APushHeldOnAFullQueueCompletesWhenAnotherProcessPops) {
  auto q = ManagerQueue<std::uint64_t>::create(shared_server(), unique_name("full"), 1);
  ASSERT_EQ(q.push(1), QueueStatus::kOk);
  Child pusher([&] { return q.push(2) == QueueStatus::kOk ? 0 : 1; });
  ASSERT_TRUE(wait_until_polling(pusher.pid()));
  std::uint64_t v = 0;
  ASSERT_EQ(q.pop(v), QueueStatus::kOk);
  EXPECT_EQ(v, 1U);
  EXPECT_EQ(pusher.join(20s), ExitStatus::exited(0));
  ASSERT_EQ(pop_for(q, v, 10s), QueueStatus::kOk);
  EXPECT_EQ(v, 2U);
}

// Producers that are gone end nothing (more may come): a held pop waits on
// and gets the next producer's push; close() ends the stream.
TEST(ManagerQueueTest, EveryProducerGoneIsNoEndOfFile) {
  auto q = ManagerQueue<std::uint64_t>::create(shared_server(), unique_name("eof"), 4);
  Child producer([&] { return q.push(7) == QueueStatus::kOk ? 0 : 1; });
  EXPECT_EQ(producer.join(20s), ExitStatus::exited(0));
  std::uint64_t v = 0;
  ASSERT_EQ(pop_for(q, v, 10s), QueueStatus::kOk);
  EXPECT_EQ(v, 7U);
  EXPECT_EQ(pop_for(q, v, 50ms), QueueStatus::kTimedOut);
  Child next([&] { return q.push(8) == QueueStatus::kOk ? 0 : 1; });
  EXPECT_EQ(next.join(20s), ExitStatus::exited(0));
  ASSERT_EQ(pop_for(q, v, 10s), QueueStatus::kOk);
  EXPECT_EQ(v, 8U);
  q.close();
  EXPECT_EQ(pop_for(q, v, 10s), QueueStatus::kClosed);
}

// ============================================================ counting

TEST(ManagerCounterTest, ManyProcessesIncrementExactly) {
  auto counter = ManagerCounter::create(shared_server(), unique_name("many"));
  constexpr int kProcesses = 8;
  const int per_process = kSanitized ? 200 : 2000;
  Shared<std::atomic<std::uint32_t>> go(0U);
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < kProcesses; ++i) {
    children.push_back(std::make_unique<Child>([&] {
      while (go->load() == 0) std::this_thread::yield();
      std::int64_t previous = 0;
      for (int k = 0; k < per_process; ++k) {
        const std::int64_t now = counter.increment();
        if (now <= previous) return 1;  // add returns the value right after this add
        previous = now;
      }
      return 0;
    }));
  }
  go->store(1);
  for (auto& child : children) EXPECT_EQ(child->join(60s), ExitStatus::exited(0));
  EXPECT_EQ(counter.get(), std::int64_t{kProcesses} * per_process);
}

TEST(ManagerCounterTest, OverflowWrapsAsTheSharedMemoryCountersDo) {
  auto counter = ManagerCounter::create(shared_server(), unique_name("wrap"));
  EXPECT_EQ(counter.add(INT64_MAX), INT64_MAX);
  EXPECT_EQ(counter.increment(), INT64_MIN);
}

}  // namespace
}  // namespace mpkit
