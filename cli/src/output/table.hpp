#pragma once

// Table: columns of text, rendered aligned for a terminal or as a Markdown
// pipe table (which still reads aligned in a terminal: `mpkit run` prints the
// same report.md it writes).
//
// Example
//   Table t({{"variant"}, {"median", Align::kRight}});
//   t.add_row({"spin-handoff", "1.23 ms"});
//   std::fputs(t.render(TableStyle::kPlain).c_str(), stdout);

#include <string>
#include <vector>

namespace mpkit::cli {

enum class Align { kLeft, kRight };
enum class TableStyle { kPlain, kMarkdown };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns);

  /// Adds a row; missing cells are blank, extra cells are an error
  /// (std::invalid_argument).
  void add_row(std::vector<std::string> cells);

  [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }
  [[nodiscard]] std::size_t column_count() const noexcept { return columns_.size(); }

  /// Every line ends with '\n'.
  [[nodiscard]] std::string render(TableStyle style) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace mpkit::cli
