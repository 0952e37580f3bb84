#pragma once

// The Manager's wire protocol: length-prefixed binary frames over a Unix
// stream socket, one request answered by one reply.
//
// Who sends what
//   A client (a pooled connection of ManagerQueue / ManagerFlag /
//   ManagerCounter, manager_client.cpp) writes one request frame and reads
//   one reply frame before it writes the next request: no pipelining. The
//   server (manager_loop.cpp) answers requests of one connection in order;
//   it may HOLD a blocking push/pop (no reply yet) until it completes, its
//   deadline passes or the queue closes, and handles nothing more from that
//   connection meanwhile (a client that sends anyway is buffered up to
//   2 x max_frame_bytes, then left unread until the held request is
//   answered). It still watches the connection for a hang-up. Likewise a
//   client that sends without reading its replies is served no further
//   while a frame's worth of replies waits unsent: both buffers of a
//   connection stay bounded. The server never sends a frame nobody asked for.
//
// Request frame (native byte order: both ends run on one host)
//   offset size  field
//        0    4  frame_bytes  whole frame, this header included
//        4    2  magic        kMagic ("MK"): garbage is told from a frame
//        6    1  version      kVersion
//        7    1  op           Op
//        8    4  object       the id a create reply gave; 0 for creates
//       12    4  aux          create queue: largest message in bytes;
//                             attach: the Kind expected
//       16    8  deadline_ns  CLOCK_MONOTONIC ns (steady_clock, one clock for
//                             every process of the host); kTryOnly: never wait
//       24    8  argument     create queue: capacity; flag set: 0/1;
//                             counter add: the amount
//       32    -  payload      create / attach: the name; push: the message
//
// Reply frame
//        0    4  frame_bytes  whole frame, this header included
//        4    2  magic        kMagic
//        6    1  version      kVersion
//        7    1  status       Status
//        8    8  value        create: object id; get/add/size/is_closed: value
//       16    -  payload      pop: the message; attach: an AttachInfo
//
// What the server does with a bad frame
//   - frame_bytes < header, wrong magic or version: kBadRequest, then it
//     closes the connection (the framing can no longer be trusted).
//   - frame_bytes > the server's max_frame_bytes: kTooLarge; the payload is
//     read and thrown away, and the connection stays usable.
//   - an op it does not know: kUnknownOp; unknown object id: kNoSuchObject;
//     an op for another kind of object: kWrongKind. The connection stays.
//
// Memory ordering: not applicable -- nothing is shared but the socket; the
// server is single-threaded and applies requests one at a time, so every
// operation is linearizable at the moment the server handles it.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace mpkit::detail::manager {

inline constexpr std::uint16_t kMagic = 0x4B4D;  // "MK" in memory on little-endian
inline constexpr std::uint8_t kVersion = 1;

/// deadline_ns meaning "try once, never wait" (try_push / try_pop).
inline constexpr std::int64_t kTryOnly = std::numeric_limits<std::int64_t>::min();

/// The byte the server writes to its ready pipe once it serves.
inline constexpr char kReadyByte = 'R';

/// Longest object name, in bytes.
inline constexpr std::size_t kMaxNameBytes = 255;

enum class Op : std::uint8_t {
  kPing = 1,
  kCreateQueue = 2,
  kCreateFlag = 3,
  kCreateCounter = 4,
  kAttach = 5,  // an existing object by name: id and, for a queue, its limits
  kPush = 10,
  kPop = 11,
  kClose = 12,
  kIsClosed = 13,
  kSize = 14,
  kFlagSet = 20,
  kFlagGet = 21,
  kCounterAdd = 30,
  kCounterGet = 31,
};

enum class Status : std::uint8_t {
  kOk = 0,
  kFull = 1,              // try push: no room
  kEmpty = 2,             // try pop: nothing there
  kTimedOut = 3,          // the request's deadline passed
  kClosed = 4,            // closed (push), or closed and drained (pop)
  kNoConsumer = 5,        // blocking push on a queue whose every consumer has disconnected
  kExists = 10,           // create: the name is taken
  kInvalidArgument = 11,  // create: capacity 0, message size out of range, bad name
  kNoSuchObject = 12,
  kWrongKind = 13,
  kTooLarge = 14,    // the frame exceeds max_frame_bytes
  kBadRequest = 15,  // malformed frame (size, magic, version, payload size)
  kUnknownOp = 16,
  kServerError = 17,  // the server could not allocate
};

/// What kind of object a name holds (attach's aux, AttachInfo::kind).
enum class Kind : std::uint32_t { kQueue = 1, kFlag = 2, kCounter = 3 };

/// The payload of an attach reply.
struct AttachInfo {
  std::uint64_t capacity;     // queues: capacity; otherwise 0
  std::uint32_t max_message;  // queues: largest message; otherwise 0
  std::uint32_t kind;         // Kind
};
static_assert(sizeof(AttachInfo) == 16 && std::is_trivially_copyable_v<AttachInfo>);

struct RequestHeader {
  std::uint32_t frame_bytes;
  std::uint16_t magic;
  std::uint8_t version;
  std::uint8_t op;
  std::uint32_t object;
  std::uint32_t aux;
  std::int64_t deadline_ns;
  std::int64_t argument;
};

struct ReplyHeader {
  std::uint32_t frame_bytes;
  std::uint16_t magic;
  std::uint8_t version;
  std::uint8_t status;
  std::int64_t value;
};

static_assert(std::is_trivially_copyable_v<RequestHeader> &&
              std::is_standard_layout_v<RequestHeader>);
static_assert(sizeof(RequestHeader) == 32 && offsetof(RequestHeader, deadline_ns) == 16 &&
                  offsetof(RequestHeader, argument) == 24,
              "the request layout is the one the protocol comment documents");
static_assert(std::is_trivially_copyable_v<ReplyHeader> && std::is_standard_layout_v<ReplyHeader>);
static_assert(sizeof(ReplyHeader) == 16 && offsetof(ReplyHeader, value) == 8,
              "the reply layout is the one the protocol comment documents");

inline constexpr std::size_t kRequestHeaderBytes = sizeof(RequestHeader);
inline constexpr std::size_t kReplyHeaderBytes = sizeof(ReplyHeader);

/// The smallest max_frame_bytes a server accepts: room for a full-length name.
inline constexpr std::size_t kMinFrameBytes = kRequestHeaderBytes + kMaxNameBytes;

/// The largest message a server with `max_frame_bytes` can carry both ways.
[[nodiscard]] constexpr std::size_t max_message_bytes(std::size_t max_frame_bytes) noexcept {
  return max_frame_bytes - kRequestHeaderBytes;  // requests have the larger header
}

}  // namespace mpkit::detail::manager
