// Samples and Repeats (repeats.hpp): what a row keeps across its runs and how
// that becomes repeats / seconds / correct. Shapes and arithmetic only.

#include <stdexcept>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/repeats.hpp"

namespace {

using mpkit::Measurement;
using mpkit::Repeats;
using mpkit::Samples;

TEST(Samples, SummariseInAnyOrder) {
  Samples s;
  for (const double v : {4.0, 1.0, 3.0, 2.0}) s.add(v);
  EXPECT_EQ(s.size(), 4U);
  EXPECT_EQ(s.min(), 1);
  EXPECT_EQ(s.median(), 2.5);
  EXPECT_EQ(s.max(), 4);
  EXPECT_EQ(s.percentile(0), 1);
  EXPECT_EQ(s.percentile(100), 4);
  EXPECT_EQ(s.percentile(50), s.median());
  ASSERT_EQ(s.values().size(), 4U);
  EXPECT_EQ(s.values()[0], 4) << "kept in the order added";
}

TEST(Samples, EmptyHasNoSummaryButAFallback) {
  const Samples s;
  EXPECT_TRUE(s.empty());
  EXPECT_THROW((void)s.median(), std::invalid_argument);
  EXPECT_THROW((void)s.percentile(50), std::invalid_argument);
  EXPECT_EQ(s.median_or(-1), -1);
}

TEST(Repeats, EveryRunRightIsCorrect) {
  Repeats runs;
  runs.add(0.3);
  runs.add(0.1);
  runs.add(0.2);
  Measurement row;
  runs.fill(row);
  EXPECT_EQ(row.repeats, 3U);
  EXPECT_EQ(row.seconds.min, 0.1);
  EXPECT_EQ(row.seconds.median, 0.2);
  EXPECT_EQ(row.seconds.max, 0.3);
  EXPECT_TRUE(row.correct);
}

TEST(Repeats, AFailedRunIsNotTimedAndMakesTheRowIncorrect) {
  Repeats runs;
  runs.add(0.5);
  runs.fail();
  Measurement row;
  runs.fill(row);
  EXPECT_EQ(row.repeats, 1U);
  EXPECT_EQ(row.seconds.median, 0.5);
  EXPECT_FALSE(row.correct);
  EXPECT_FALSE(runs.all_right());
}

TEST(Repeats, AWrongAnswerIsTimedButIncorrect) {
  Repeats runs;
  runs.add(0.5, /*right=*/false);
  runs.add(0.7);
  EXPECT_EQ(runs.completed(), 2U);
  EXPECT_FALSE(runs.correct());
}

TEST(Repeats, NoCompletedRunLeavesSecondsZeroAndIsIncorrect) {
  Repeats runs;
  EXPECT_TRUE(runs.all_right());
  EXPECT_FALSE(runs.correct()) << "no run at all is not a correct row";
  runs.fail();
  Measurement row;
  runs.fill(row);
  EXPECT_EQ(row.repeats, 0U);
  EXPECT_EQ(row.seconds.median, 0);
  EXPECT_FALSE(row.correct);
}

TEST(Repeats, FiguresAreKeptByNameInTheOrderFirstSeen) {
  Repeats runs;
  runs.add(1.0, {{"p50", 10}, {"p99", 30}});
  runs.add(2.0, {{"p50", 20}, {"p99", 40}});
  runs.note("rare", 5);
  runs.fail();  // a failed run brings no figure
  EXPECT_EQ(runs.figure("p50").size(), 2U);
  EXPECT_EQ(runs.figure("p50").median(), 15);
  EXPECT_EQ(runs.figure("p99").max(), 40);
  EXPECT_EQ(runs.figure("rare").size(), 1U);
  EXPECT_TRUE(runs.figure("never").empty());
  EXPECT_EQ(runs.completed(), 2U);
}

}  // namespace
