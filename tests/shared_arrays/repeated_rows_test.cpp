// count_repeated_rows: rows equal to an earlier one, counted once each.
#include "mpkit/shared_arrays/experiments/repeated_rows.hpp"

#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace mpkit {
namespace {

TEST(CountRepeatedRowsTest, CountsRowsEqualToAnEarlierOne) {
  std::vector<double> cells = {1, 2, 3, 4, 1, 2, 5, 6, 1, 2};
  EXPECT_EQ(count_repeated_rows(cells.data(), 5, 2), 2u);  // rows 2 and 4 repeat row 0
  cells = {1, 2, 3, 4, 1, 2, 5, 6, 1, 2, 3, 4};
  EXPECT_EQ(count_repeated_rows(cells.data(), 6, 2), 3u);  // rows 2, 4 (= 0) and 5 (= 1)
  EXPECT_EQ(count_repeated_rows(cells.data(), 1, 12), 0u);
  EXPECT_THROW((void)count_repeated_rows(cells.data(), 1, 0), std::invalid_argument);
}

TEST(CountRepeatedRowsTest, RowsThatDifferInOneByteAreNotRepeats) {
  std::vector<double> cells(3 * 512, 7.0);
  cells[512 + 511] = 8.0;  // row 1 differs from row 0 in its last value only
  EXPECT_EQ(count_repeated_rows(cells.data(), 3, 512), 1u);  // row 2 repeats row 0
}

}  // namespace
}  // namespace mpkit
