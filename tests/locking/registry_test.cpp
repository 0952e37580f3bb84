// The lock registry: names, look-up by name, traits -- and that the
// owner-death table in locking/README.md says what the traits say.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "markdown_table.hpp"
#include "mpkit/locking/registry.hpp"

namespace mpkit::locking {
namespace {

TEST(LockRegistryTest, NamesEveryLockOnceInRegistryOrder) {
  const std::vector<std::string_view> expected = {"tas",         "ttas",      "ticket",  "mcs",
                                                  "pthread",     "pthread-robust", "mpkit-mutex",
                                                  "boost-ipc",   "semaphore", "flock",   "fcntl",
                                                  "ofd"};
  EXPECT_EQ(lock_names(), expected);
}

TEST(LockRegistryTest, VisitLockInstantiatesTheLockOfThatName) {
  for (const std::string_view name : lock_names()) {
    const std::string_view visited =
        visit_lock(name, []<class L>(std::type_identity<L>) { return L::kName; });
    EXPECT_EQ(visited, name);
  }
  const bool is_ticket = visit_lock("ticket", []<class L>(std::type_identity<L>) {
    return std::is_same_v<L, TicketLock>;
  });
  EXPECT_TRUE(is_ticket);
}

TEST(LockRegistryTest, UnknownNameIsRejectedNamingItAndTheKnownOnes) {
  try {
    (void)visit_lock("spinny", [](auto) { return 0; });
    FAIL() << "an unknown name was accepted";
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("\"spinny\""), std::string::npos) << what;
    EXPECT_NE(what.find("known: tas, ttas"), std::string::npos) << what;
  }
  EXPECT_THROW((void)lock_info("TAS"), std::invalid_argument);  // names are exact
}

TEST(LockRegistryTest, InfoMatchesEachTypesTraits) {
  std::size_t seen = 0;
  for_each_lock([&]<class L>(std::type_identity<L>) {
    const LockInfo& info = lock_info(L::kName);
    EXPECT_EQ(info.survives_owner_death, L::kSurvivesOwnerDeath) << L::kName;
    EXPECT_EQ(info.reports_owner_death, L::kReportsOwnerDeath) << L::kName;
    EXPECT_EQ(info.excludes_threads, L::kExcludesThreads) << L::kName;
    EXPECT_EQ(info.valid_as_zero_bytes, L::kValidAsZeroBytes) << L::kName;
    EXPECT_EQ(info.sleeps, L::kSleeps) << L::kName;
    EXPECT_EQ(info.survives_waiter_death, L::kSurvivesWaiterDeath) << L::kName;
    if (info.reports_owner_death) {
      EXPECT_TRUE(info.survives_owner_death) << L::kName;
    }
    ++seen;
  });
  EXPECT_EQ(seen, lock_infos().size());
  // The robust set, from the traits.
  std::vector<std::string_view> robust;
  for (const LockInfo& info : lock_infos()) {
    if (info.survives_owner_death) robust.push_back(info.name);
  }
  EXPECT_EQ(robust, (std::vector<std::string_view>{"pthread-robust", "mpkit-mutex", "flock", "fcntl", "ofd"}));
  // A waiter killed inside lock() wedges only the FIFO spin locks.
  std::vector<std::string_view> wedged_by_a_waiter;
  for (const LockInfo& info : lock_infos()) {
    if (!info.survives_waiter_death) wedged_by_a_waiter.push_back(info.name);
  }
  EXPECT_EQ(wedged_by_a_waiter, (std::vector<std::string_view>{"ticket", "mcs"}));
}

// locking/README.md, section "Owner death": one row per lock,
// | `name` | survives | reports | excludes threads | zero bytes | sleeps |
// survives a waiter's death | ... | with yes/no cells. The table and the
// traits must agree.
TEST(LockRegistryTest, ReadmeOwnerDeathTableAgreesWithTheTraits) {
  std::ifstream readme(MPKIT_LOCKING_README);
  ASSERT_TRUE(readme) << "cannot read " << MPKIT_LOCKING_README;
  std::map<std::string, std::vector<std::string>> rows;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::vector<std::string> cells = mpkit::test::markdown_cells(line);
    if (cells.size() < 7 || cells[0].size() < 3) continue;
    const std::string name = cells[0].substr(1, cells[0].size() - 2);
    if (lock_names().end() == std::find(lock_names().begin(), lock_names().end(), name)) continue;
    rows[name] = cells;
  }
  const auto yes = [](bool b) { return std::string(b ? "yes" : "no"); };
  for (const LockInfo& info : lock_infos()) {
    const std::string name(info.name);
    ASSERT_TRUE(rows.contains(name)) << "README has no owner-death row for " << name;
    const auto& cells = rows[name];
    EXPECT_EQ(cells[1], yes(info.survives_owner_death)) << name << ": survives owner death";
    EXPECT_EQ(cells[2], yes(info.reports_owner_death)) << name << ": reports owner death";
    EXPECT_EQ(cells[3], yes(info.excludes_threads)) << name << ": excludes threads";
    EXPECT_EQ(cells[4], yes(info.valid_as_zero_bytes)) << name << ": valid as zero bytes";
    EXPECT_EQ(cells[5], yes(info.sleeps)) << name << ": sleeps";
    EXPECT_EQ(cells[6], yes(info.survives_waiter_death)) << name << ": survives a waiter's death";
  }
}

}  // namespace
}  // namespace mpkit::locking
