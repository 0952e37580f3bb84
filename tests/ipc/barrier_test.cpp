// Barrier: lifecycle, phases in lockstep (threads and processes), a missing
// party breaking it, reset, signals.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mpkit/ipc/barrier.hpp"
#include "signal_survival.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

// ---- lifecycle --------------------------------------------------------------

TEST(BarrierTest, ZeroPartiesIsRejectedNamingTheArgument) {
  try {
    Barrier barrier(0);
    FAIL() << "Barrier(0) was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("parties"), std::string::npos) << error.what();
  }
}

TEST(BarrierTest, OnePartyPassesAtOnceEveryPhase) {
  Shared<Barrier> barrier(1U);
  EXPECT_EQ(barrier->parties(), 1U);
  for (int phase = 0; phase < 5; ++phase) {
    EXPECT_EQ(barrier->arrive_and_wait_for(0s), BarrierResult::kPassed);
    barrier->arrive_and_wait();
  }
  EXPECT_FALSE(barrier->is_broken());
}

// ---- lockstep: nobody starts phase k+1 before everybody finished phase k ------

constexpr std::uint32_t kParties = 4;
constexpr std::uint32_t kPhases = 1'000;

struct Lockstep {
  Barrier barrier{kParties};
  std::uint32_t slots[kParties] = {};  // slot i written by party i, read by all
};

// Each phase: write my slot, barrier, read every slot, barrier (so nobody
// overwrites a slot before everybody read it). Returns 0, 1 on a barrier that
// did not pass, 2 on a slot from the wrong phase.
int run_phases(Lockstep& state, std::uint32_t party) {
  for (std::uint32_t phase = 1; phase <= kPhases; ++phase) {
    state.slots[party] = phase;
    if (state.barrier.arrive_and_wait_for(10s) != BarrierResult::kPassed) return 1;
    for (std::uint32_t other = 0; other < kParties; ++other) {
      if (state.slots[other] != phase) return 2;
    }
    if (state.barrier.arrive_and_wait_for(10s) != BarrierResult::kPassed) return 1;
  }
  return 0;
}

TEST(BarrierThreads, PhasesAdvanceInLockstep) {
  test::Watchdog watchdog;
  Shared<Lockstep> state;
  std::atomic<int> failures{0};
  std::vector<std::thread> parties;
  for (std::uint32_t p = 0; p < kParties; ++p) {
    parties.emplace_back([&, p] { failures += run_phases(*state, p); });
  }
  for (auto& t : parties) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_FALSE(state->barrier.is_broken());
}

TEST(BarrierProcesses, PhasesAdvanceInLockstep) {
  Shared<Lockstep> state;
  std::vector<std::unique_ptr<Child>> parties;
  for (std::uint32_t p = 0; p < kParties; ++p) {
    parties.push_back(std::make_unique<Child>([&, p] { return run_phases(*state, p); }));
  }
  for (auto& child : parties) EXPECT_EQ(child->join(), ExitStatus::exited(0));
  EXPECT_FALSE(state->barrier.is_broken());
}

// ---- a missing party: one waiter times out, the others see kBroken ------------

struct Outcome {
  BarrierResult result = BarrierResult::kPassed;
  double seconds = 0;
};

Outcome arrive_timed(Barrier& barrier, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  Outcome outcome;
  outcome.result = barrier.arrive_and_wait_for(timeout);
  outcome.seconds = test::seconds_since(start);
  return outcome;
}

void expect_broken_then_reusable_after_reset(Barrier& barrier) {
  EXPECT_TRUE(barrier.is_broken());
  EXPECT_EQ(barrier.arrive_and_wait_for(10s), BarrierResult::kBroken);  // at once
  EXPECT_THROW(barrier.arrive_and_wait(), BrokenBarrierError);
  barrier.reset();
  EXPECT_FALSE(barrier.is_broken());
  std::thread second([&] { EXPECT_EQ(barrier.arrive_and_wait_for(10s), BarrierResult::kPassed); });
  std::thread third([&] { EXPECT_EQ(barrier.arrive_and_wait_for(10s), BarrierResult::kPassed); });
  EXPECT_EQ(barrier.arrive_and_wait_for(10s), BarrierResult::kPassed);
  second.join();
  third.join();
}

TEST(BarrierThreads, MissingPartyTimesOutThenTheOthersSeeBroken) {
  test::Watchdog watchdog;
  Shared<Barrier> barrier(3U);  // the third party never comes
  Outcome impatient;
  Outcome patient;
  std::thread a([&] { impatient = arrive_timed(*barrier, 100ms); });
  std::thread b([&] { patient = arrive_timed(*barrier, 10s); });
  a.join();
  b.join();
  EXPECT_EQ(impatient.result, BarrierResult::kTimedOut);
  EXPECT_GE(impatient.seconds, 0.1);
  EXPECT_EQ(patient.result, BarrierResult::kBroken);
  EXPECT_LT(patient.seconds, 5.0);  // released by the break, not by its own 10 s
  expect_broken_then_reusable_after_reset(*barrier);
}

TEST(BarrierProcesses, MissingPartyTimesOutThenTheOthersSeeBroken) {
  Shared<Barrier> barrier(3U);
  Child impatient([&] {
    const Outcome outcome = arrive_timed(*barrier, 100ms);
    return outcome.result == BarrierResult::kTimedOut && outcome.seconds >= 0.1 ? 0 : 1;
  });
  Child patient([&] {
    const Outcome outcome = arrive_timed(*barrier, 10s);
    return outcome.result == BarrierResult::kBroken && outcome.seconds < 5.0 ? 0 : 1;
  });
  EXPECT_EQ(impatient.join(), ExitStatus::exited(0));
  EXPECT_EQ(patient.join(), ExitStatus::exited(0));
  expect_broken_then_reusable_after_reset(*barrier);
}

TEST(BarrierThreads, ResetReleasesWaitersAsBroken) {
  test::Watchdog watchdog;
  Shared<Barrier> barrier(3U);
  std::atomic<pid_t> tids[2] = {};
  BarrierResult results[2] = {BarrierResult::kPassed, BarrierResult::kPassed};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&, i] {
      tids[i] = test::this_tid();
      results[i] = barrier->arrive_and_wait_for(10s);
    });
  }
  for (auto& tid : tids) {
    ASSERT_TRUE(test::eventually([&] { return tid.load() != 0; }));
    ASSERT_TRUE(test::wait_until_asleep(tid));
  }
  barrier->reset();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(results[0], BarrierResult::kBroken);
  EXPECT_EQ(results[1], BarrierResult::kBroken);
  EXPECT_FALSE(barrier->is_broken());
  barrier->reset();  // and the empty barrier is whole again:
  std::thread other([&] { EXPECT_EQ(barrier->arrive_and_wait_for(10s), BarrierResult::kPassed); });
  std::thread another([&] { EXPECT_EQ(barrier->arrive_and_wait_for(10s), BarrierResult::kPassed); });
  EXPECT_EQ(barrier->arrive_and_wait_for(10s), BarrierResult::kPassed);
  other.join();
  another.join();
}

// ---- signals ------------------------------------------------------------------

TEST(BarrierThreads, WaiterSurvivesSignalsThenPassesWhenTheLastPartyArrives) {
  Shared<Barrier> barrier(2U);
  BarrierResult last_party = BarrierResult::kBroken;
  test::expect_thread_wait_survives_signals(
      [&] { return barrier->arrive_and_wait_for(10s) == BarrierResult::kPassed; },
      [&] { last_party = barrier->arrive_and_wait_for(10s); });
  EXPECT_EQ(last_party, BarrierResult::kPassed);
}

TEST(BarrierProcesses, WaiterInAChildTimesOutAtItsDeadlineUnderSignals) {
  Shared<Barrier> barrier(2U);
  test::expect_child_timed_wait_survives_signals([&] {
    return barrier->arrive_and_wait_for(test::kSignalledTimeout) != BarrierResult::kTimedOut;
  });
  EXPECT_TRUE(barrier->is_broken());
}

}  // namespace
}  // namespace mpkit
