// The queue and flag registries: names in row order, look-up by name, that
// every registered queue backend runs the conformance suite, that `mpkit ipc`
// measures exactly the registered backends -- and that the backend tables of
// ipc/README.md say what the traits say.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <vector>

#include "markdown_table.hpp"
#include "queue_conformance.hpp"
#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/flag_experiment.hpp"
#include "mpkit/ipc/experiments/transport_experiment.hpp"
#include "mpkit/ipc/flag_registry.hpp"
#include "mpkit/ipc/queue_registry.hpp"
#include "mpkit/ipc/remote/backends.hpp"
#include "mpkit/ipc/type_list.hpp"

namespace mpkit {
namespace {

template <std::size_t N>
std::vector<std::string_view> names(const std::array<QueueInfo, N>& infos) {
  std::vector<std::string_view> out;
  for (const QueueInfo& info : infos) out.push_back(info.name);
  return out;
}
template <std::size_t N>
std::vector<std::string_view> names(const std::array<FlagInfo, N>& infos) {
  std::vector<std::string_view> out;
  for (const FlagInfo& info : infos) out.push_back(info.name);
  return out;
}
std::vector<std::string_view> as_vector(std::span<const std::string_view> names) {
  return {names.begin(), names.end()};
}

// ---- type lists --------------------------------------------------------------

static_assert(std::is_same_v<ConcatTypeLists<TypeList<int>, TypeList<>, TypeList<long, int>>,
                             TypeList<int, long, int>>);
static_assert(
    std::is_same_v<DistinctTypes<TypeList<int, long, int, char, long>>, TypeList<int, long, char>>);
static_assert(
    std::is_same_v<FlagTypes<TypeList<FutexFlagBackend, AtomicFlagBackend, FutexWaitFlagBackend>>,
                   TypeList<FutexFlag, AtomicFlag>>);

// ---- queues ------------------------------------------------------------------

constexpr auto kQueues = queue_infos(AllQueueBackends{});

TEST(QueueRegistryTest, NamesEveryBackendOnceInRowOrder) {
  const std::vector<std::string_view> expected = {"lockfree-spsc",   "lockfree-spsc-batch64",
                                                  "lockfree-mpmc",   "boost-spsc",
                                                  "boost-spsc-spin", "locked",
                                                  "boost-mq",        "pipe",
                                                  "manager",         "redis"};
  EXPECT_EQ(names(kQueues), expected);
  // The local list is the front of the full one; the rest is remote.
  const auto local = queue_infos(LocalQueueBackends{});
  ASSERT_LT(local.size(), kQueues.size());
  for (std::size_t i = 0; i < kQueues.size(); ++i) {
    if (i < local.size()) {
      EXPECT_EQ(kQueues[i].name, local[i].name);
      EXPECT_FALSE(kQueues[i].remote) << kQueues[i].name;
    } else {
      EXPECT_TRUE(kQueues[i].remote) << kQueues[i].name;
    }
  }
}

TEST(QueueRegistryTest, TheTransportExperimentMeasuresExactlyTheRegisteredBackends) {
  EXPECT_EQ(as_vector(transport_backends()), names(kQueues));
}

TEST(QueueRegistryTest, VisitQueueInstantiatesTheEntryOfThatName) {
  for (const QueueInfo& info : kQueues) {
    const std::string_view visited =
        visit_queue(AllQueueBackends{}, info.name,
                    []<class E>(std::type_identity<E>) { return E::kInfo.name; });
    EXPECT_EQ(visited, info.name);
  }
  const bool is_locked_ring =
      visit_queue(LocalQueueBackends{}, "locked", []<class E>(std::type_identity<E>) {
        return std::is_same_v<typename E::template Queue<std::uint64_t, 16>,
                              LockedRing<std::uint64_t>>;
      });
  EXPECT_TRUE(is_locked_ring);
}

TEST(QueueRegistryTest, UnknownNameIsRejectedNamingItAndTheKnownOnes) {
  try {
    (void)visit_queue(AllQueueBackends{}, "carrier-pigeon", [](auto) { return 0; });
    FAIL() << "an unknown name was accepted";
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("\"carrier-pigeon\""), std::string::npos) << what;
    EXPECT_NE(what.find("known: lockfree-spsc, lockfree-spsc-batch64"), std::string::npos) << what;
  }
  // The remote names are not in the local list.
  EXPECT_THROW((void)visit_queue(LocalQueueBackends{}, "redis", [](auto) { return 0; }),
               std::invalid_argument);
}

TEST(QueueRegistryTest, MakeQueueGivesTheEntrysQueue) {
  auto ring = make_queue<MpmcRingBackend, std::uint64_t>(8);
  static_assert(std::is_same_v<decltype(ring), MpmcRing<std::uint64_t>>);
  EXPECT_GE(ring.capacity(), 8U);
  auto boost = make_queue<BoostSpscBackend, std::uint64_t, 16>(16);
  EXPECT_EQ(boost.capacity(), 16U);
  EXPECT_THROW((void)(make_queue<BoostSpscBackend, std::uint64_t, 16>(8)), std::invalid_argument);
}

// The conformance suite checks each backend against its entry's answers
// (Registered / TraitsOf); here: that no registered backend is left out.
TEST(QueueRegistryTest, EveryBackendRunsTheConformanceSuite) {
  const auto& types = test::conformance_types();
  ASSERT_FALSE(types.empty());
  for_each_type(AllQueueBackends{}, [&]<class E>(std::type_identity<E>) {
    using Q = typename E::template Queue<std::uint64_t, test::kFixedTestCapacity>;
    EXPECT_TRUE(types.contains(typeid(Q)))
        << E::kInfo.name << ": no QueueConformance instantiation for its queue of std::uint64_t";
  });
}

TEST(QueueRegistryTest, TransportSkipReasonsComeFromTheTraits) {
  for (const QueueInfo& info : kQueues) {
    for (const std::size_t bytes : transport_payload_sizes()) {
      EXPECT_EQ(transport_skip_reason(info.name, bytes, 1).has_value(), !info.carries(bytes))
          << info.name << " at " << bytes << " B";
      EXPECT_EQ(transport_skip_reason(info.name, bytes, 2).has_value(),
                !info.carries(bytes) || !info.many_sided())
          << info.name << " at " << bytes << " B, 2 x 2";
    }
  }
  EXPECT_EQ(
      transport_skip_reason("pipe", 65536).value_or(""),
      "PipeQueue carries at most PIPE_BUF (4096) bytes per item (larger writes are not atomic)");
  EXPECT_EQ(transport_skip_reason("boost-spsc", 8, 2).value_or(""),
            "boost-spsc takes one producer and one consumer only");
  EXPECT_FALSE(transport_skip_reason("pipe", 4096).has_value());
}

// ---- flags -------------------------------------------------------------------

constexpr auto kFlags = flag_infos(AllFlagBackends{});

TEST(FlagRegistryTest, NamesEveryBackendOnceInRowOrder) {
  const std::vector<std::string_view> expected = {"atomic",     "rawvalue", "value",  "futex",
                                                  "futex-wait", "redis",    "manager"};
  EXPECT_EQ(names(kFlags), expected);
  const auto local = flag_infos(LocalFlagBackends{});
  for (std::size_t i = 0; i < kFlags.size(); ++i) {
    EXPECT_EQ(kFlags[i].remote(), i >= local.size()) << kFlags[i].name;
  }
}

TEST(FlagRegistryTest, TheFlagExperimentMeasuresExactlyTheRegisteredBackends) {
  EXPECT_EQ(as_vector(flag_experiment_backends()), names(kFlags));
}

TEST(FlagRegistryTest, VisitFlagAndTypeLookUp) {
  for (const FlagInfo& info : kFlags) {
    const std::string_view visited = visit_flag(
        AllFlagBackends{}, info.name, []<class E>(std::type_identity<E>) { return E::kInfo.name; });
    EXPECT_EQ(visited, info.name);
  }
  EXPECT_EQ(flag_info_for<FutexFlag>(AllFlagBackends{}).name, "futex");  // the first of its type
  EXPECT_TRUE(flag_info_for<RedisFlag>(AllFlagBackends{}).remote());
  auto flag = make_flag<FutexWaitFlagBackend>();
  static_assert(std::is_same_v<decltype(flag), FutexFlag>);
  EXPECT_FALSE(flag.is_set());
  try {
    (void)visit_flag(LocalFlagBackends{}, "semaphore", [](auto) { return 0; });
    FAIL() << "an unknown name was accepted";
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    EXPECT_NE(
        what.find("flag backend: unknown flag backend \"semaphore\" (known: atomic, rawvalue"),
        std::string::npos)
        << what;
  }
}

// ---- the README's tables -------------------------------------------------------

// The rows "| `name` | cell | ... |" of the table under the heading `heading`
// of ipc/README.md, by name (cells trimmed; the first is the name).
std::map<std::string, std::vector<std::string>> readme_rows(const std::string& heading) {
  std::ifstream readme(MPKIT_IPC_README);
  EXPECT_TRUE(readme) << "cannot read " << MPKIT_IPC_README;
  std::map<std::string, std::vector<std::string>> rows;
  bool inside = false;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind('#', 0) == 0) {
      inside = line == heading;
      continue;
    }
    if (!inside || line.rfind("| `", 0) != 0) continue;
    const std::vector<std::string> cells = mpkit::test::markdown_cells(line);
    if (cells.size() < 2 || cells[0].size() < 3) continue;
    rows[cells[0].substr(1, cells[0].size() - 2)] = cells;
  }
  return rows;
}

std::string yes(bool b) { return b ? "yes" : "no"; }
std::string quoted(std::string_view text) { return "`" + std::string(text) + "`"; }

// | `name` | `type` | producers | consumers | detects peer death | sleeps | remote |
// fixed capacity | items per call | largest item | ...
TEST(QueueRegistryTest, ReadmeTableAgreesWithTheTraits) {
  auto rows = readme_rows("#### Queue backends");
  EXPECT_EQ(rows.size(), kQueues.size()) << "one row per registered backend, no other";
  for (const QueueInfo& info : kQueues) {
    const std::string name(info.name);
    ASSERT_TRUE(rows.contains(name)) << "README has no queue backend row for " << name;
    const auto& cells = rows[name];
    ASSERT_GE(cells.size(), 10U) << name;
    EXPECT_EQ(cells[1], quoted(info.type)) << name << ": type";
    EXPECT_EQ(cells[2], info.multi_producer ? "many" : "1") << name << ": producers";
    EXPECT_EQ(cells[3], info.multi_consumer ? "many" : "1") << name << ": consumers";
    EXPECT_EQ(cells[4], yes(info.detects_peer_death)) << name << ": detects peer death";
    EXPECT_EQ(cells[5], yes(info.sleeps)) << name << ": sleeps";
    EXPECT_EQ(cells[6], yes(info.remote)) << name << ": remote";
    EXPECT_EQ(cells[7], yes(info.fixed_capacity)) << name << ": fixed capacity";
    EXPECT_EQ(cells[8], std::to_string(info.items_per_call)) << name << ": items per call";
    EXPECT_EQ(cells[9],
              info.max_item_bytes == 0 ? "any" : std::to_string(info.max_item_bytes) + " B")
        << name << ": largest item";
  }
}

// | `name` | `type` | is_set() costs | remote | watcher sleeps | ...
TEST(FlagRegistryTest, ReadmeTableAgreesWithTheTraits) {
  auto rows = readme_rows("#### Flag backends");
  EXPECT_EQ(rows.size(), kFlags.size()) << "one row per registered backend, no other";
  for (const FlagInfo& info : kFlags) {
    const std::string name(info.name);
    ASSERT_TRUE(rows.contains(name)) << "README has no flag backend row for " << name;
    const auto& cells = rows[name];
    ASSERT_GE(cells.size(), 5U) << name;
    EXPECT_EQ(cells[1], quoted(info.type)) << name << ": type";
    EXPECT_EQ(cells[2], to_string(info.poll)) << name << ": is_set() costs";
    EXPECT_EQ(cells[3], yes(info.remote())) << name << ": remote";
    EXPECT_EQ(cells[4], yes(info.watcher_sleeps)) << name << ": watcher sleeps";
  }
}

}  // namespace
}  // namespace mpkit
