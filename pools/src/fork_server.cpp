// ForkServer: the zygote that forks, reaps and reports every ProcessPool
// worker (see launcher.hpp).
//
// Protocol over a SOCK_SEQPACKET socketpair (one datagram per message, so
// nothing is ever split or merged):
//   parent -> zygote  Request {spawn | kill, slot, generation}
//   zygote -> parent  LaunchReport {spawned | exited | spawn failed, ...},
//                     each followed by notify() (a futex wake if the parent
//                     is parked), so the parent reads the socket when told;
//                     and once per wait slice anyway, for the end of file a
//                     killed zygote leaves without any notify().
//   shutdown request, or EOF on the zygote's end (its process died): the
//   zygote SIGKILLs every worker, reaps them all and exits 0.
// The zygote blocks SIGCHLD and reads it from a signalfd next to the socket
// (poll), so reaping never races a handler. It ignores SIGINT, as do the
// workers: Ctrl-C is the parent's to handle (ARCHITECTURE.md, peer lesson 8).
//
// Lifetimes: the zygote has PR_SET_PDEATHSIG(SIGKILL) towards the thread
// that built the pool (mpkit::Process); each worker has it towards the
// zygote. So nothing outlives the pool's process, and a zygote killed by
// anyone takes its workers with it.

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "launcher.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/pools/options.hpp"

namespace mpkit::pools::detail {
namespace {

struct Request {
  enum Op : std::uint32_t { kSpawn = 1, kKill = 2, kShutdown = 3 };
  std::uint32_t op = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
};

struct Child {
  pid_t pid = 0;
  std::uint32_t generation = 0;
};

void send_report(int fd, const LaunchReport& report, Notify notify, void* context) noexcept {
  while (::send(fd, &report, sizeof report, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  notify(context);
}

[[noreturn]] void run_worker(WorkerEntry entry, void* context, std::uint32_t slot, pid_t zygote,
                             const sigset_t& old_mask, int sock, int sfd) noexcept {
  ::close(sock);
  ::close(sfd);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != zygote) ::_exit(kWorkerProtocolExit);  // the zygote died before prctl
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGINT, SIG_IGN);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  const int code = entry(context, slot);  // worker_main catches everything (ARCHITECTURE.md rule 4)
  std::fflush(nullptr);                   // what the tasks printed; _exit skips stdio
  ::_exit(code);
}

// The zygote's loop; returns its exit code.
int zygote_main(int sock, WorkerEntry entry, Notify notify, void* context) noexcept {
  ::signal(SIGINT, SIG_IGN);
  sigset_t chld;
  sigset_t old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old_mask);
  const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  const pid_t self = ::getpid();
  std::vector<Child> children;
  bool running = true;
  while (running) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (::read(sfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      }
      int status = 0;
      pid_t pid = 0;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        for (std::uint32_t slot = 0; slot < children.size(); ++slot) {
          if (children[slot].pid != pid) continue;
          children[slot].pid = 0;
          send_report(sock, {LaunchReport::kExited, slot, children[slot].generation, pid, status}, notify,
                      context);
        }
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      Request request;
      const ssize_t got = ::recv(sock, &request, sizeof request, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got != static_cast<ssize_t>(sizeof request)) {  // EOF: the pool is gone
        running = false;
        break;
      }
      if (request.op == Request::kShutdown) {
        running = false;
        break;
      }
      if (request.slot >= children.size()) children.resize(request.slot + 1);
      Child& child = children[request.slot];
      if (request.op == Request::kSpawn) {
        const pid_t pid = ::fork();
        if (pid == 0) run_worker(entry, context, request.slot, self, old_mask, sock, sfd);
        if (pid < 0) {
          send_report(sock, {LaunchReport::kSpawnFailed, request.slot, request.generation, 0, errno}, notify,
                      context);
        } else {
          child = {pid, request.generation};
          send_report(sock, {LaunchReport::kSpawned, request.slot, request.generation, pid, 0}, notify, context);
        }
      } else if (request.op == Request::kKill && child.pid > 0 && child.generation == request.generation) {
        ::kill(child.pid, SIGKILL);  // not yet reaped: the pid is still ours
      }
    }
  }
  for (const Child& child : children) {
    if (child.pid > 0) ::kill(child.pid, SIGKILL);
  }
  for (const Child& child : children) {
    if (child.pid > 0) {
      while (::waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
  return 0;
}

class ForkServer final : public WorkerLauncher {
 public:
  ForkServer(WorkerEntry entry, Notify notify, void* context) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_errno("socketpair for the pool's fork server");
    }
    const int zygote_end = fds[1];
    sock_ = fds[0];
    try {
      zygote_.emplace([zygote_end, parent_end = fds[0], entry, notify, context] {
        ::close(parent_end);
        return zygote_main(zygote_end, entry, notify, context);
      });
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;
    }
    ::close(zygote_end);
  }
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;
  ~ForkServer() override { shutdown(); }

  void spawn(std::uint32_t slot, std::uint32_t generation) override {
    send({Request::kSpawn, slot, generation}, "send spawn request to the pool's fork server");
  }
  void kill(std::uint32_t slot, std::uint32_t generation) override {
    send({Request::kKill, slot, generation}, "send kill request to the pool's fork server");
  }
  std::optional<LaunchReport> poll() override {
    if (!pending_.empty()) {  // read while a send waited for room
      const LaunchReport report = pending_.front();
      pending_.pop_front();
      return report;
    }
    return receive();
  }
  void shutdown() noexcept override {
    if (sock_ >= 0) {
      // An explicit request: other pools' zygotes and workers may hold a copy
      // of our end (forked while it was open), so EOF alone might not come.
      const Request request{Request::kShutdown, 0, 0};
      (void)::send(sock_, &request, sizeof request, MSG_NOSIGNAL);
      ::close(sock_);  // EOF too: the zygote kills and reaps every worker, then exits
      sock_ = -1;
    }
    if (zygote_) {
      if (!zygote_->join(std::chrono::seconds(5))) zygote_->kill();
      zygote_.reset();
    }
  }

 private:
  // One report from the socket, if one is there (never blocks); the end of
  // file (the zygote is gone) is reported once, as kLauncherGone.
  std::optional<LaunchReport> receive() {
    if (sock_ < 0) return std::nullopt;
    LaunchReport report;
    for (;;) {
      const ssize_t got = ::recv(sock_, &report, sizeof report, MSG_DONTWAIT);
      if (got == static_cast<ssize_t>(sizeof report)) return report;
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
      if (got == 0) {  // the zygote is gone
        ::close(sock_);
        sock_ = -1;
        return LaunchReport{LaunchReport::kLauncherGone, 0, 0, 0, 0};
      }
      throw_errno("recv from the pool's fork server");
    }
  }

  // Sends without ever blocking on a full socket: while the zygote's queue
  // is full, the zygote is (or will be) blocked sending us reports, so we
  // read them into pending_ (poll() hands them out in order) and try again.
  // Without this, a burst of requests (the first spawns of a big pool) filled
  // both directions and neither side read: a deadlock.
  void send(const Request& request, const char* what) {
    for (;;) {
      if (sock_ < 0) return;  // the zygote is gone: pending_ holds kLauncherGone
      if (::send(sock_, &request, sizeof request, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return;
      if (errno == EINTR) continue;
      // The zygote is dead: poll() reads the end of file and reports it.
      if (errno == EPIPE || errno == ECONNRESET) return;
      if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno(what);
      pollfd fd{sock_, POLLIN | POLLOUT, 0};
      if (::poll(&fd, 1, -1) < 0 && errno != EINTR) throw_errno(what);
      while (std::optional<LaunchReport> report = receive()) pending_.push_back(*report);
    }
  }

  int sock_ = -1;
  std::deque<LaunchReport> pending_;
  std::optional<Process> zygote_;
};

}  // namespace

std::unique_ptr<WorkerLauncher> make_fork_server(WorkerEntry entry, Notify notify, void* context) {
  return std::make_unique<ForkServer>(entry, notify, context);
}

}  // namespace mpkit::pools::detail
