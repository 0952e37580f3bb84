// The task codec: every built-in encoding and the cereal customization point
// round-trip, and a truncated buffer is refused rather than over-read.

#include "mpkit/pools/codec.hpp"

#include <gtest/gtest.h>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

struct Point {
  double x;
  double y;
  friend bool operator==(const Point&, const Point&) = default;
};

// Not trivially copyable: needs cereal.
struct Named {
  std::string name;
  std::vector<int> values;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, values);
  }
  friend bool operator==(const Named&, const Named&) = default;
};

template <class T>
T round_trip(const T& value) {
  mpkit::ByteWriter out;
  mpkit::Codec<T>::encode(out, value);
  mpkit::ByteReader in(out.bytes());
  T back = mpkit::Codec<T>::decode(in);
  EXPECT_EQ(in.remaining(), 0U) << "every byte written is read back";
  return back;
}

TEST(Codec, TriviallyCopyableIsItsBytes) {
  mpkit::ByteWriter out;
  mpkit::Codec<Point>::encode(out, Point{1.5, -2.0});
  EXPECT_EQ(out.size(), sizeof(Point));
  EXPECT_EQ(round_trip(Point{1.5, -2.0}), (Point{1.5, -2.0}));
  EXPECT_EQ(round_trip(std::int64_t{-7}), -7);
}

TEST(Codec, StringsVectorsPairsTuplesOptionals) {
  EXPECT_EQ(round_trip(std::string("hello\0world", 11)), std::string("hello\0world", 11));
  EXPECT_EQ(round_trip(std::string()), std::string());
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<std::string>{"a", "", "ccc"}), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(round_trip(std::pair<int, std::string>{4, "four"}), (std::pair<int, std::string>{4, "four"}));
  const auto tuple = std::make_tuple(1, std::string("x"), std::vector<double>{0.5}, 'c');
  EXPECT_EQ(round_trip(tuple), tuple);
  EXPECT_EQ(round_trip(std::optional<std::string>("v")), std::optional<std::string>("v"));
  EXPECT_EQ(round_trip(std::optional<std::string>()), std::optional<std::string>());
}

TEST(Codec, UserTypesThroughCereal) {
  const Named value{"squares", {1, 4, 9}};
  EXPECT_EQ(round_trip(value), value);
  EXPECT_EQ(round_trip(std::vector<Named>{value, {"empty", {}}}), (std::vector<Named>{value, {"empty", {}}}));
}

TEST(Codec, TruncatedInputThrowsLengthError) {
  mpkit::ByteWriter out;
  mpkit::Codec<std::string>::encode(out, "abcdef");
  const auto bytes = out.bytes().first(out.size() - 1);
  mpkit::ByteReader in(bytes);
  EXPECT_THROW((void)mpkit::Codec<std::string>::decode(in), std::length_error);
  mpkit::ByteReader empty;
  EXPECT_THROW((void)mpkit::Codec<std::uint64_t>::decode(empty), std::length_error);
}

static_assert(mpkit::Encodable<std::map<int, int>> == false, "no codec for std::map without cereal's map support");

}  // namespace
