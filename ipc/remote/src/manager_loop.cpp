// The Manager server's event loop: one thread, one ppoll() over the
// listening socket and every connection. Runs only in the process
// ManagerServer forks (manager_server.cpp); the frames are documented in
// detail/manager_protocol.hpp.
//
// State
//   - objects_: every queue, flag and counter, by id (index + 1); names_ maps
//     names to ids. Nothing is ever deleted (manager.hpp, Lifecycle).
//   - connections_: per client connection, the bytes read but not handled
//     (`in`), the reply bytes not yet sent (`out`), whether a request is
//     held, and the queues it has pushed to / popped from.
//   - A queue: its messages, the pops held while it is empty, the pushes
//     held (with their message) while it is full, closed, and how many live
//     connections have pushed / popped.
//
// Hand-offs keep FIFO order: a push meeting a held pop gives its message
// straight to the oldest held pop (the queue is empty then); a pop that
// frees a slot admits the oldest held push.
//
// Peer death: a connection that hangs up is dropped with its held request.
// When the last connection that ever popped from a queue is gone, its held
// pushes are answered kNoConsumer (the client raises EPIPE) and so is every
// later blocking push (a push nobody would read). Producers that are gone
// end nothing (more may come): held pops wait for a push, close() or their
// deadline.

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <time.h>

#include "mpkit/ipc/detail/clock.hpp"  // now_ns: the clock the clients' deadlines use
#include "mpkit/ipc/remote/detail/manager_protocol.hpp"
#include "mpkit/ipc/remote/manager.hpp"

namespace mpkit::detail {
namespace {

using namespace manager;

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kReadChunk = 64 * 1024;
// How long the listening socket is left alone after accept4 ran out of
// descriptors or memory (unless a connection closes first).
constexpr std::int64_t kAcceptPauseNs = 100'000'000;
// Exit code when the loop itself fails (EX_SOFTWARE, as Process uses).
constexpr int kLoopFailedExit = 70;

struct Waiter {
  std::uint64_t connection = 0;
  std::int64_t deadline_ns = kNever;
  std::string message;  // held pushes only
};

struct QueueObject {
  std::uint64_t capacity = 0;
  std::uint32_t max_message = 0;
  std::deque<std::string> items;
  std::deque<Waiter> pops;    // held while empty
  std::deque<Waiter> pushes;  // held while full
  bool closed = false;
  std::uint32_t producers = 0;  // live connections that have pushed
  std::uint32_t consumers = 0;  // live connections that have popped
  bool had_producers = false;
  bool had_consumers = false;
};

struct Object {
  Kind kind = Kind::kFlag;
  std::string name;
  bool flag = false;
  std::int64_t counter = 0;
  std::unique_ptr<QueueObject> queue;
};

struct Connection {
  std::uint64_t id = 0;
  int fd = -1;
  std::string in;  // bytes read; [in_begin, size) not handled yet
  std::size_t in_begin = 0;
  std::string out;  // reply bytes; [out_begin, size) not sent yet
  std::size_t out_begin = 0;
  std::uint64_t discard = 0;  // bytes of an oversized frame still to skip
  bool held = false;
  std::uint32_t held_queue = 0;
  bool close_after_flush = false;
  bool dead = false;
  std::vector<std::uint32_t> produces;
  std::vector<std::uint32_t> consumes;

  [[nodiscard]] std::size_t unread() const noexcept { return in.size() - in_begin; }
};

class Server {
 public:
  Server(int listen_fd, std::size_t max_frame_bytes)
      : listen_fd_(listen_fd), max_frame_(max_frame_bytes) {}

  [[noreturn]] void run() {
    std::vector<pollfd> fds;
    std::vector<std::uint64_t> ids;
    for (;;) {
      fds.clear();
      ids.clear();
      // Out of descriptors, the listening socket stays readable: stop
      // watching it until a connection goes, rather than spin.
      fds.push_back({listen_fd_, static_cast<short>(accept_paused_ ? 0 : POLLIN), 0});
      for (auto& [id, c] : connections_) {
        short events = 0;
        // Keep reading while the buffer is bounded; a hang-up (POLLHUP) is
        // reported whatever the events.
        if (c.unread() <= 2 * max_frame_) events |= POLLIN;
        if (c.out.size() > c.out_begin) events |= POLLOUT;
        fds.push_back({c.fd, events, 0});
        ids.push_back(id);
      }
      timespec timeout{};
      timespec* wait = nullptr;
      if (pending_) {
        wait = &timeout;  // zero: frames are waiting in a buffer already
      } else if (const std::int64_t next =
                     std::min(next_deadline(), accept_paused_ ? accept_resume_ns_ : kNever);
                 next != kNever) {
        const std::int64_t left = std::max<std::int64_t>(0, next - now_ns());
        timeout.tv_sec = static_cast<time_t>(left / 1'000'000'000);
        timeout.tv_nsec = static_cast<long>(left % 1'000'000'000);
        wait = &timeout;
      }
      const int n = ::ppoll(fds.data(), fds.size(), wait, nullptr);
      if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "ppoll");
      if (n > 0) {
        if ((fds[0].revents & POLLIN) != 0) accept_all();
        for (std::size_t i = 1; i < fds.size(); ++i) {
          if (fds[i].revents == 0) continue;
          auto found = connections_.find(ids[i - 1]);
          if (found == connections_.end() || found->second.dead) continue;
          Connection& c = found->second;
          if ((fds[i].revents & POLLIN) != 0) read_from(c);
          if (!c.dead && (fds[i].revents & (POLLHUP | POLLERR)) != 0) kill(c);
          if (!c.dead && (fds[i].revents & POLLOUT) != 0) flush(c);
        }
      }
      expire(now_ns());
      if (accept_paused_ && now_ns() >= accept_resume_ns_) accept_paused_ = false;
      pending_ = false;
      for (auto& [id, c] : connections_) {
        if (!c.dead) handle_buffered(c);
      }
      for (auto& [id, c] : connections_) {
        if (!c.dead) flush(c);
      }
      std::erase_if(connections_, [](const auto& entry) { return entry.second.dead; });
    }
  }

 private:
  // ---- connections --------------------------------------------------------

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {  // EMFILE, ENOBUFS...
          accept_paused_ = true;
          accept_resume_ns_ = now_ns() + kAcceptPauseNs;
        }
        return;
      }
      Connection c;
      c.id = next_connection_++;
      c.fd = fd;
      connections_.emplace(c.id, std::move(c));
    }
  }

  void read_from(Connection& c) {
    if (c.in_begin == c.in.size()) {  // everything handled: start over
      c.in.clear();
      c.in_begin = 0;
    } else if (c.in_begin >= c.in.size() / 2) {  // compact, amortised O(1) per byte
      c.in.erase(0, c.in_begin);
      c.in_begin = 0;
    }
    // Into a scratch buffer, then append what came: resizing `in` by a
    // chunk would zero-fill 64 KiB per read.
    ssize_t got = -1;
    do {
      got = ::recv(c.fd, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got > 0) c.in.append(scratch_.data(), static_cast<std::size_t>(got));
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) kill(c);
  }

  void flush(Connection& c) {
    while (c.out.size() > c.out_begin) {
      const ssize_t sent = ::send(c.fd, c.out.data() + c.out_begin, c.out.size() - c.out_begin,
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // POLLOUT will tell
        kill(c);
        return;
      }
      c.out_begin += static_cast<std::size_t>(sent);
    }
    c.out.clear();
    c.out_begin = 0;
    if (c.close_after_flush) {
      kill(c);
    } else if (!c.held && c.unread() > 0) {
      pending_ = true;  // frames held back while replies piled up: handle them next round
    }
  }

  // Drops a connection: its held request goes, and its roles in queues end.
  void kill(Connection& c) {
    if (c.dead) return;
    c.dead = true;
    accept_paused_ = false;  // a descriptor is free again
    (void)::close(c.fd);
    c.fd = -1;
    const std::uint64_t id = c.id;
    if (c.held) {
      QueueObject& q = *objects_[c.held_queue - 1].queue;
      std::erase_if(q.pops, [id](const Waiter& w) { return w.connection == id; });
      std::erase_if(q.pushes, [id](const Waiter& w) { return w.connection == id; });
      c.held = false;
      forget_if_idle(c.held_queue);
    }
    for (const std::uint32_t qid : c.produces) {
      QueueObject& q = *objects_[qid - 1].queue;
      --q.producers;  // held pops wait on: more producers may come
    }
    for (const std::uint32_t qid : c.consumes) {
      QueueObject& q = *objects_[qid - 1].queue;
      if (--q.consumers == 0) answer_all(qid, q.pushes, Status::kNoConsumer);
    }
  }

  Connection* connection(std::uint64_t id) {
    const auto found = connections_.find(id);
    return found == connections_.end() || found->second.dead ? nullptr : &found->second;
  }

  // ---- frames -------------------------------------------------------------

  void handle_buffered(Connection& c) {
    // A client that sends without reading its replies is served no further
    // once a frame's worth of replies waits unsent; its input then stops
    // being read at 2 x max_frame_bytes: both buffers stay bounded.
    while (!c.dead && !c.held && !c.close_after_flush && c.out.size() - c.out_begin <= max_frame_) {
      if (c.discard > 0) {
        const std::size_t skip =
            static_cast<std::size_t>(std::min<std::uint64_t>(c.discard, c.unread()));
        c.in_begin += skip;
        c.discard -= skip;
        if (c.discard > 0) return;
        continue;
      }
      if (c.unread() < kRequestHeaderBytes) return;
      RequestHeader header{};
      std::memcpy(&header, c.in.data() + c.in_begin, sizeof header);
      if (header.magic != kMagic || header.version != kVersion ||
          header.frame_bytes < kRequestHeaderBytes) {
        reply(c, Status::kBadRequest);
        c.close_after_flush = true;  // the framing cannot be trusted any more
        return;
      }
      if (header.frame_bytes > max_frame_) {
        reply(c, Status::kTooLarge, static_cast<std::int64_t>(max_frame_));
        c.discard = header.frame_bytes;
        continue;
      }
      if (c.unread() < header.frame_bytes) return;
      const std::string_view payload(c.in.data() + c.in_begin + kRequestHeaderBytes,
                                     header.frame_bytes - kRequestHeaderBytes);
      try {
        dispatch(c, header, payload);
      } catch (const std::bad_alloc&) {
        reply(c, Status::kServerError);
      }
      c.in_begin += header.frame_bytes;
    }
  }

  void reply(Connection& c, Status status, std::int64_t value = 0, std::string_view payload = {}) {
    ReplyHeader header{};
    header.frame_bytes = static_cast<std::uint32_t>(kReplyHeaderBytes + payload.size());
    header.magic = kMagic;
    header.version = kVersion;
    header.status = static_cast<std::uint8_t>(status);
    header.value = value;
    c.out.append(reinterpret_cast<const char*>(&header), sizeof header);
    c.out.append(payload);
  }

  // Answers a held waiter and lets its connection go on.
  void answer(const Waiter& w, Status status, std::string_view payload = {}) {
    Connection* c = connection(w.connection);
    if (c == nullptr) return;
    reply(*c, status, 0, payload);
    c->held = false;
    // A client that sent more while held (our clients never do) must not
    // wait for some other event before its next frame is read.
    if (c->unread() > 0) pending_ = true;
  }

  void answer_all(std::uint32_t qid, std::deque<Waiter>& waiters, Status status) {
    for (const Waiter& w : waiters) answer(w, status);
    waiters.clear();
    forget_if_idle(qid);
  }

  Object* object(Connection& c, const RequestHeader& h, Kind kind) {
    if (h.object == 0 || h.object > objects_.size()) {
      reply(c, Status::kNoSuchObject);
      return nullptr;
    }
    Object& o = objects_[h.object - 1];
    if (o.kind != kind) {
      reply(c, Status::kWrongKind);
      return nullptr;
    }
    return &o;
  }

  void dispatch(Connection& c, const RequestHeader& h, std::string_view payload) {
    switch (static_cast<Op>(h.op)) {
      case Op::kPing:
        return reply(c, Status::kOk, static_cast<std::int64_t>(max_frame_));
      case Op::kCreateQueue:
        return create(c, h, payload, Kind::kQueue);
      case Op::kCreateFlag:
        return create(c, h, payload, Kind::kFlag);
      case Op::kCreateCounter:
        return create(c, h, payload, Kind::kCounter);
      case Op::kAttach:
        return attach(c, h, payload);
      case Op::kPush:
        if (Object* o = object(c, h, Kind::kQueue))
          push(c, h.object, *o->queue, h.deadline_ns, payload);
        return;
      case Op::kPop:
        if (Object* o = object(c, h, Kind::kQueue)) pop(c, h.object, *o->queue, h.deadline_ns);
        return;
      case Op::kClose:
        if (Object* o = object(c, h, Kind::kQueue)) {
          QueueObject& q = *o->queue;
          q.closed = true;
          answer_all(h.object, q.pops, Status::kClosed);
          answer_all(h.object, q.pushes, Status::kClosed);
          reply(c, Status::kOk);
        }
        return;
      case Op::kIsClosed:
        if (Object* o = object(c, h, Kind::kQueue)) reply(c, Status::kOk, o->queue->closed ? 1 : 0);
        return;
      case Op::kSize:
        if (Object* o = object(c, h, Kind::kQueue)) {
          reply(c, Status::kOk, static_cast<std::int64_t>(o->queue->items.size()));
        }
        return;
      case Op::kFlagSet:
        if (Object* o = object(c, h, Kind::kFlag)) {
          o->flag = h.argument != 0;
          reply(c, Status::kOk, o->flag ? 1 : 0);
        }
        return;
      case Op::kFlagGet:
        if (Object* o = object(c, h, Kind::kFlag)) reply(c, Status::kOk, o->flag ? 1 : 0);
        return;
      case Op::kCounterAdd:
        if (Object* o = object(c, h, Kind::kCounter)) {
          // Two's complement wrap through unsigned arithmetic (counter.hpp).
          o->counter = static_cast<std::int64_t>(static_cast<std::uint64_t>(o->counter) +
                                                 static_cast<std::uint64_t>(h.argument));
          reply(c, Status::kOk, o->counter);
        }
        return;
      case Op::kCounterGet:
        if (Object* o = object(c, h, Kind::kCounter)) reply(c, Status::kOk, o->counter);
        return;
    }
    reply(c, Status::kUnknownOp);
  }

  void create(Connection& c, const RequestHeader& h, std::string_view name, Kind kind) {
    if (name.empty() || name.size() > kMaxNameBytes) return reply(c, Status::kInvalidArgument);
    if (kind == Kind::kQueue &&
        (h.argument < 1 || h.aux < 1 || h.aux > max_message_bytes(max_frame_))) {
      return reply(c, Status::kInvalidArgument);
    }
    if (names_.contains(std::string(name))) return reply(c, Status::kExists);
    if (objects_.size() >= std::numeric_limits<std::uint32_t>::max() - 1)
      return reply(c, Status::kServerError);
    Object o;
    o.kind = kind;
    o.name = std::string(name);
    if (kind == Kind::kQueue) {
      o.queue = std::make_unique<QueueObject>();
      o.queue->capacity = static_cast<std::uint64_t>(h.argument);
      o.queue->max_message = h.aux;
    }
    objects_.push_back(std::move(o));
    const auto id = static_cast<std::uint32_t>(objects_.size());
    names_.emplace(std::string(name), id);
    reply(c, Status::kOk, id);
  }

  void attach(Connection& c, const RequestHeader& h, std::string_view name) {
    const auto found = names_.find(std::string(name));
    if (found == names_.end()) return reply(c, Status::kNoSuchObject);
    const Object& o = objects_[found->second - 1];
    if (static_cast<std::uint32_t>(o.kind) != h.aux) return reply(c, Status::kWrongKind);
    AttachInfo info{};
    info.kind = static_cast<std::uint32_t>(o.kind);
    if (o.kind == Kind::kQueue) {
      info.capacity = o.queue->capacity;
      info.max_message = o.queue->max_message;
    }
    reply(c, Status::kOk, found->second,
          std::string_view(reinterpret_cast<const char*>(&info), sizeof info));
  }

  // ---- queues -------------------------------------------------------------

  static void join_role(std::vector<std::uint32_t>& roles, std::uint32_t qid, std::uint32_t& live,
                        bool& ever) {
    if (std::find(roles.begin(), roles.end(), qid) != roles.end()) return;
    roles.push_back(qid);
    ++live;
    ever = true;
  }

  void hold(Connection& c, std::uint32_t qid, std::deque<Waiter>& waiters, std::int64_t deadline,
            std::string message = {}) {
    waiters.push_back({c.id, deadline, std::move(message)});
    c.held = true;
    c.held_queue = qid;
    waiting_.insert(qid);
  }

  void forget_if_idle(std::uint32_t qid) {
    const QueueObject& q = *objects_[qid - 1].queue;
    if (q.pops.empty() && q.pushes.empty()) waiting_.erase(qid);
  }

  void push(Connection& c, std::uint32_t qid, QueueObject& q, std::int64_t deadline,
            std::string_view message) {
    join_role(c.produces, qid, q.producers, q.had_producers);
    if (message.size() > q.max_message) return reply(c, Status::kBadRequest);
    if (q.closed) return reply(c, Status::kClosed);
    if (deadline != kTryOnly && q.had_consumers && q.consumers == 0) return reply(c, Status::kNoConsumer);
    if (!q.pops.empty()) {  // the queue is empty: straight to the oldest held pop
      const Waiter w = std::move(q.pops.front());
      q.pops.pop_front();
      forget_if_idle(qid);
      answer(w, Status::kOk, message);
      return reply(c, Status::kOk);
    }
    if (q.items.size() < q.capacity) {
      q.items.emplace_back(message);
      return reply(c, Status::kOk);
    }
    if (deadline == kTryOnly) return reply(c, Status::kFull);
    if (deadline <= now_ns()) return reply(c, Status::kTimedOut);
    hold(c, qid, q.pushes, deadline, std::string(message));
  }

  void pop(Connection& c, std::uint32_t qid, QueueObject& q, std::int64_t deadline) {
    join_role(c.consumes, qid, q.consumers, q.had_consumers);
    if (!q.items.empty()) {
      reply(c, Status::kOk, 0, q.items.front());
      q.items.pop_front();
      if (!q.pushes.empty()) {  // a slot is free: admit the oldest held push
        Waiter w = std::move(q.pushes.front());
        q.pushes.pop_front();
        forget_if_idle(qid);
        q.items.push_back(std::move(w.message));
        answer(w, Status::kOk);
      }
      return;
    }
    if (q.closed) return reply(c, Status::kClosed);
    if (deadline == kTryOnly) return reply(c, Status::kEmpty);
    if (deadline <= now_ns()) return reply(c, Status::kTimedOut);
    hold(c, qid, q.pops, deadline);
  }

  void expire(std::int64_t now) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      const std::uint32_t qid = *it++;  // forget_if_idle may erase qid
      QueueObject& q = *objects_[qid - 1].queue;
      for (std::deque<Waiter>* waiters : {&q.pops, &q.pushes}) {
        std::erase_if(*waiters, [&](const Waiter& w) {
          if (w.deadline_ns > now) return false;
          answer(w, Status::kTimedOut);
          return true;
        });
      }
      forget_if_idle(qid);
    }
  }

  [[nodiscard]] std::int64_t next_deadline() const {
    std::int64_t next = kNever;
    for (const std::uint32_t qid : waiting_) {
      const QueueObject& q = *objects_[qid - 1].queue;
      for (const Waiter& w : q.pops) next = std::min(next, w.deadline_ns);
      for (const Waiter& w : q.pushes) next = std::min(next, w.deadline_ns);
    }
    return next;
  }

  int listen_fd_;
  std::size_t max_frame_;
  std::uint64_t next_connection_ = 1;
  std::unordered_map<std::uint64_t, Connection> connections_;
  std::vector<Object> objects_;
  std::unordered_map<std::string, std::uint32_t> names_;
  std::set<std::uint32_t> waiting_;  // queues with held waiters
  std::vector<char> scratch_ = std::vector<char>(kReadChunk);
  bool pending_ = false;               // a released connection has unread frames
  bool accept_paused_ = false;         // accept4 failed for want of resources...
  std::int64_t accept_resume_ns_ = 0;  // ...until a connection goes, or until then
};

}  // namespace

int run_manager_server(int listen_fd, int ready_fd, std::size_t max_frame_bytes) noexcept {
  try {
    // The owner decides when the server stops: Ctrl-C in a terminal reaches
    // the whole process group, and a client's hang-up must not kill it.
    (void)::signal(SIGINT, SIG_IGN);
    (void)::signal(SIGPIPE, SIG_IGN);
    (void)::signal(SIGTERM, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    Server server(listen_fd, max_frame_bytes);
    if (::write(ready_fd, &kReadyByte, 1) != 1) return kLoopFailedExit;
    (void)::close(ready_fd);
    server.run();
  } catch (const std::exception& error) {
    const std::string message = std::string("mpkit ManagerServer: ") + error.what() + "\n";
    (void)!::write(STDERR_FILENO, message.data(), message.size());
  } catch (...) {
  }
  return kLoopFailedExit;
}

}  // namespace mpkit::detail
