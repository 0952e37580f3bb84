#pragma once

// The task codec: how arguments and results travel between the parent and a
// worker (as bytes in the pool's shared-memory rings).
//
//   trivially copyable T       memcpy of its bytes (no allocation)
//   std::string                u64 length + bytes
//   std::vector<T>             u64 count + each element through the codec
//                              (one memcpy when T is trivially copyable)
//   std::pair / std::tuple     each member through the codec, in order
//   std::optional<T>           u8 flag + the value
//   anything cereal can save   cereal::BinaryOutputArchive into a u64-length
//                              prefixed block (the customization point: give
//                              your type a `serialize(Archive&)` member or a
//                              free save/load pair, as cereal documents)
//   or specialise mpkit::Codec<T> with static encode(ByteWriter&, const T&)
//   and decode(ByteReader&) -> T.
//
// Layout: no alignment, no padding, native byte order (both ends are the
// same binary on the same host).
//
// Contract
//   Throws: decode: std::length_error on a truncated buffer (a protocol bug,
//     never a user error); encode: std::bad_alloc.
//   Thread safety: ByteWriter/ByteReader are plain values, one thread each.

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <concepts>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/details/traits.hpp>

namespace mpkit {

/// A growable byte buffer that keeps its capacity across clear().
class ByteWriter {
 public:
  void clear() noexcept { size_ = 0; }
  /// Drops what was written after the first `n` bytes.
  void truncate(std::size_t n) noexcept {
    if (n < size_) size_ = n;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const std::byte* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {bytes_.data(), size_}; }
  /// Writable view of bytes already written (until the next write or grow).
  [[nodiscard]] std::byte* mutable_data() noexcept { return bytes_.data(); }

  void write(const void* from, std::size_t n) {
    std::byte* at = grow(n);
    if (n != 0) std::memcpy(at, from, n);
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void write_value(const T& value) {
    write(&value, sizeof(T));
  }
  /// Room for `n` more bytes at the end; returns where they start.
  std::byte* grow(std::size_t n) {
    if (size_ + n > bytes_.size()) bytes_.resize(std::max(bytes_.size() * 2, size_ + n + 64));
    std::byte* at = bytes_.data() + size_;
    size_ += n;
    return at;
  }

 private:
  std::vector<std::byte> bytes_;
  std::size_t size_ = 0;
};

/// Reads what a ByteWriter wrote, checking every length.
class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }

  void read(void* to, std::size_t n) {
    if (n > remaining()) throw std::length_error("mpkit codec: truncated message");
    if (n != 0) std::memcpy(to, bytes_.data() + at_, n);
    at_ += n;
  }
  /// The next `n` bytes, in place.
  [[nodiscard]] std::span<const std::byte> take(std::size_t n) {
    if (n > remaining()) throw std::length_error("mpkit codec: truncated message");
    const std::span<const std::byte> view = bytes_.subspan(at_, n);
    at_ += n;
    return view;
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] T read_value() {
    T value;
    read(&value, sizeof(T));
    return value;
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
};

template <class T, class Enable = void>
struct Codec;  // no codec for this type: see the table above

namespace detail {
template <class T>
struct IsTupleLike : std::false_type {};
template <class A, class B>
struct IsTupleLike<std::pair<A, B>> : std::true_type {};
template <class... Ts>
struct IsTupleLike<std::tuple<Ts...>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
inline constexpr bool kBuiltInCodec =
    std::is_trivially_copyable_v<T> || std::is_same_v<T, std::string> || IsVector<T>::value ||
    IsTupleLike<T>::value || IsOptional<T>::value;
}  // namespace detail

template <class T>
struct Codec<T, std::enable_if_t<std::is_trivially_copyable_v<T>>> {
  static void encode(ByteWriter& out, const T& value) { out.write_value(value); }
  static T decode(ByteReader& in) { return in.read_value<T>(); }
};

template <>
struct Codec<std::string> {
  static void encode(ByteWriter& out, const std::string& value) {
    out.write_value(static_cast<std::uint64_t>(value.size()));
    out.write(value.data(), value.size());
  }
  static std::string decode(ByteReader& in) {
    const auto n = in.read_value<std::uint64_t>();
    if (n > in.remaining()) throw std::length_error("mpkit codec: truncated string");
    std::string value(static_cast<std::size_t>(n), '\0');
    in.read(value.data(), value.size());
    return value;
  }
};

template <class T, class A>
struct Codec<std::vector<T, A>, std::enable_if_t<!std::is_trivially_copyable_v<std::vector<T, A>>>> {
  static void encode(ByteWriter& out, const std::vector<T, A>& value) {
    out.write_value(static_cast<std::uint64_t>(value.size()));
    if constexpr (std::is_trivially_copyable_v<T>) {
      out.write(value.data(), value.size() * sizeof(T));
    } else {
      for (const T& item : value) Codec<T>::encode(out, item);
    }
  }
  static std::vector<T, A> decode(ByteReader& in) {
    const auto n = in.read_value<std::uint64_t>();
    std::vector<T, A> value;
    if constexpr (std::is_trivially_copyable_v<T>) {
      if (n > in.remaining() / (sizeof(T) == 0 ? 1 : sizeof(T))) {
        throw std::length_error("mpkit codec: truncated vector");
      }
      value.resize(static_cast<std::size_t>(n));
      in.read(value.data(), value.size() * sizeof(T));
    } else {
      if (n > in.remaining()) throw std::length_error("mpkit codec: truncated vector");
      value.reserve(static_cast<std::size_t>(n));
      for (std::uint64_t i = 0; i < n; ++i) value.push_back(Codec<T>::decode(in));
    }
    return value;
  }
};

template <class T>
struct Codec<T, std::enable_if_t<!std::is_trivially_copyable_v<T> && detail::IsTupleLike<T>::value>> {
  static void encode(ByteWriter& out, const T& value) {
    std::apply([&](const auto&... member) { (Codec<std::decay_t<decltype(member)>>::encode(out, member), ...); },
               value);
  }
  static T decode(ByteReader& in) { return decode_members(in, std::make_index_sequence<std::tuple_size_v<T>>{}); }

 private:
  template <std::size_t... I>
  static T decode_members(ByteReader& in, std::index_sequence<I...>) {
    // Braced initialisation evaluates left to right: members in order.
    return T{Codec<std::tuple_element_t<I, T>>::decode(in)...};
  }
};

template <class T>
struct Codec<std::optional<T>, std::enable_if_t<!std::is_trivially_copyable_v<std::optional<T>>>> {
  static void encode(ByteWriter& out, const std::optional<T>& value) {
    out.write_value(static_cast<std::uint8_t>(value.has_value()));
    if (value) Codec<T>::encode(out, *value);
  }
  static std::optional<T> decode(ByteReader& in) {
    if (in.read_value<std::uint8_t>() == 0) return std::nullopt;
    return Codec<T>::decode(in);
  }
};

/// The customization point for user types: anything cereal's binary archive
/// can save and load.
template <class T>
struct Codec<T, std::enable_if_t<!detail::kBuiltInCodec<T> &&
                                 cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value &&
                                 cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value>> {
  static void encode(ByteWriter& out, const T& value) {
    std::ostringstream stream;
    {
      cereal::BinaryOutputArchive archive(stream);
      archive(value);
    }
    Codec<std::string>::encode(out, stream.str());
  }
  static T decode(ByteReader& in) {
    std::istringstream stream(Codec<std::string>::decode(in));
    cereal::BinaryInputArchive archive(stream);
    T value{};
    archive(value);
    return value;
  }
};

/// Whether T can travel through a pool.
template <class T>
concept Encodable = requires(ByteWriter& out, ByteReader& in, const T& value) {
  Codec<T>::encode(out, value);
  { Codec<T>::decode(in) } -> std::same_as<T>;
};

}  // namespace mpkit
