#pragma once

// The cells of one Markdown table row ("| a | `b` | c |" -> {"a", "`b`", "c"}),
// trimmed: what the registry tests read from the folder READMEs to check
// their tables against the traits.

#include <sstream>
#include <string>
#include <vector>

namespace mpkit::test {

inline std::vector<std::string> markdown_cells(const std::string& row) {
  std::vector<std::string> cells;
  std::stringstream stream(row.substr(row.rfind('|', 0) == 0 ? 1 : 0));
  for (std::string cell; std::getline(stream, cell, '|');) {
    const auto first = cell.find_first_not_of(' ');
    const auto last = cell.find_last_not_of(' ');
    cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
  }
  return cells;
}

}  // namespace mpkit::test
