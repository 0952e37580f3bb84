#pragma once

// A pool message as ring records (the layout is in detail/pool_core.hpp):
// one header Record whose last kInlinePayload bytes carry a short payload,
// or, for a longer one, the header followed by the payload in whole Records.
// The one place that packs and unpacks messages; the worker loop and the
// parent's dispatch and collection move the records.

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "mpkit/pools/detail/pool_core.hpp"

namespace mpkit::pools::detail {

/// Writes `header` (its payload_bytes set from `payload`) and `payload` as
/// the records of one message into `records`, resized to exactly that many
/// (message_records(payload.size())). Requires payload.size() < 2^32.
inline void frame_message(MessageHeader header, std::span<const std::byte> payload,
                          std::vector<Record>& records) {
  header.payload_bytes = static_cast<std::uint32_t>(payload.size());
  records.resize(message_records(payload.size()));
  if (payload.size() <= kInlinePayload) {
    if (!payload.empty()) std::memcpy(header.inline_payload, payload.data(), payload.size());
  } else {
    std::memcpy(reinterpret_cast<std::byte*>(records.data() + 1), payload.data(), payload.size());
  }
  std::memcpy(records.data(), &header, sizeof header);
}

/// The header a message's first record holds.
[[nodiscard]] inline MessageHeader header_of(const Record& record) noexcept {
  MessageHeader header;
  std::memcpy(&header, &record, sizeof header);
  return header;
}

/// How many records follow the header of a message with this header.
[[nodiscard]] inline std::size_t payload_records(const MessageHeader& header) noexcept {
  return message_records(header.payload_bytes) - 1;
}

/// The payload of a message: inline in `header`, or the first payload_bytes
/// of `rest` (the payload_records(header) records that followed it).
[[nodiscard]] inline std::span<const std::byte> payload_of(const MessageHeader& header,
                                                           std::span<const Record> rest) noexcept {
  if (header.payload_bytes <= kInlinePayload) return {header.inline_payload, header.payload_bytes};
  return {reinterpret_cast<const std::byte*>(rest.data()), header.payload_bytes};
}

}  // namespace mpkit::pools::detail
