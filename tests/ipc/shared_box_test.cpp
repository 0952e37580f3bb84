// SharedBox<T> (shared_box.hpp): one T in an anonymous shared mapping,
// destroyed once by its maker. Lifecycle and visibility, no timing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/process.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::Process;
using mpkit::SharedBox;

// Counts constructions and destructions in a box of its own, so a child's
// activity would show too.
struct Tally {
  std::atomic<int> constructed{0};
  std::atomic<int> destroyed{0};
};

struct Counted {
  explicit Counted(Tally* t, int v) : tally(t), value(v) { tally->constructed.fetch_add(1); }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { tally->destroyed.fetch_add(1); }
  Tally* tally;
  int value;
};

TEST(SharedBox, ConstructsOnceAndDestroysOnceInTheMaker) {
  SharedBox<Tally> tally;
  {
    SharedBox<Counted> box(tally.get(), 7);
    EXPECT_EQ(box->value, 7);
    EXPECT_EQ(tally->constructed.load(), 1);
    Process child([&] { return box->value == 7 ? 0 : 1; });  // leaves by _exit: no destructor
    EXPECT_EQ(child.join(10s), 0);
    EXPECT_EQ(tally->destroyed.load(), 0);
  }
  EXPECT_EQ(tally->constructed.load(), 1);
  EXPECT_EQ(tally->destroyed.load(), 1);
}

TEST(SharedBox, ChildrenWriteTheSameObject) {
  SharedBox<std::atomic<std::uint64_t>> hits(0U);
  Process a([&] { hits->fetch_add(1); });
  Process b([&] { hits->fetch_add(2); });
  EXPECT_EQ(a.join(10s), 0);
  EXPECT_EQ(b.join(10s), 0);
  EXPECT_EQ(hits->load(), 3U);
}

TEST(SharedBox, ZeroFilledRunsNoConstructor) {
  struct Words {
    std::uint64_t a;
    std::uint64_t b;
  };
  static_assert(std::is_trivially_destructible_v<Words>);
  SharedBox<Words> zero(mpkit::kZeroFilled);
  EXPECT_EQ(zero->a, 0U);
  EXPECT_EQ((*zero).b, 0U);
}

TEST(SharedBox, AThrowingConstructorReleasesTheMapping) {
  struct Refuses {
    Refuses() { throw std::runtime_error("no"); }
  };
  EXPECT_THROW(SharedBox<Refuses>{}, std::runtime_error);
}

TEST(SharedBox, IsPageAligned) {
  SharedBox<std::uint64_t> box(1U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(box.get()) % 4096, 0U);
}

}  // namespace
