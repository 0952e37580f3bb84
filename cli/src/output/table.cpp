#include "output/table.hpp"

#include <algorithm>
#include <stdexcept>

namespace mpkit::cli {
namespace {

// Display width: UTF-8 continuation bytes take no column.
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

void pad(std::string& out, const std::string& cell, std::size_t width, Align align) {
  const std::size_t fill = width - std::min(width, display_width(cell));
  if (align == Align::kRight) out.append(fill, ' ');
  out += cell;
  if (align == Align::kLeft) out.append(fill, ' ');
}

// Plain tables end rows without trailing blanks.
void trim_right(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size()) {
    throw std::invalid_argument("Table::add_row: " + std::to_string(cells.size()) +
                                " cells for " + std::to_string(columns_.size()) + " columns");
  }
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render(TableStyle style) const {
  std::vector<std::size_t> widths(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = display_width(columns_[c].header);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], display_width(row[c]));
    // Markdown needs at least "---" (or "--:") under every header.
    if (style == TableStyle::kMarkdown) widths[c] = std::max<std::size_t>(widths[c], 3);
  }
  const bool markdown = style == TableStyle::kMarkdown;
  const auto line = [&](const std::vector<std::string>& cells, bool is_header) {
    std::string out = markdown ? "| " : "";
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out += markdown ? " | " : "  ";
      // Headers follow their column's alignment so numbers line up under them.
      pad(out, cells[c], widths[c], is_header && markdown ? Align::kLeft : columns_[c].align);
    }
    out += markdown ? " |" : "";
    trim_right(out);
    return out + "\n";
  };

  std::vector<std::string> headers;
  std::vector<std::string> rules;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    headers.push_back(columns_[c].header);
    std::string rule(widths[c], '-');
    if (markdown && columns_[c].align == Align::kRight) rule.back() = ':';
    rules.push_back(std::move(rule));
  }
  std::string out = line(headers, true) + line(rules, false);
  for (const auto& row : rows_) out += line(row, false);
  return out;
}

}  // namespace mpkit::cli
