#include "report.hpp"

#include <variant>

#include <fmt/format.h>

#include "output/format.hpp"

namespace mpkit::cli {

std::string param_text(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "yes" : "no";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{:.4g}", v);
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

Table rows_table(const std::vector<Measurement>& rows, const RowColumns& columns) {
  std::vector<Column> header{{"variant"}};
  for (const auto& [key, title] : columns.params) header.push_back({title});
  header.push_back({"workers", Align::kRight});
  header.push_back({"median", Align::kRight});
  header.push_back({"min", Align::kRight});
  header.push_back({"max", Align::kRight});
  for (const auto& [key, title] : columns.metrics) header.push_back({title, Align::kRight});
  header.push_back({"ok"});

  Table table(std::move(header));
  for (const Measurement& row : rows) {
    std::vector<std::string> cells{row.variant};
    for (const auto& [key, title] : columns.params) {
      const ParamValue* value = find_param(row, key);
      cells.push_back(value != nullptr ? param_text(*value) : "");
    }
    cells.push_back(std::to_string(row.workers));
    const bool timed = row.repeats > 0;
    cells.push_back(timed ? human_seconds(row.seconds.median) : "-");
    cells.push_back(timed ? human_seconds(row.seconds.min) : "-");
    cells.push_back(timed ? human_seconds(row.seconds.max) : "-");
    for (const auto& [key, title] : columns.metrics) {
      const auto value = find_metric(row, key);
      cells.push_back(value ? format_metric(key, *value) : "");
    }
    cells.push_back(row.correct ? "yes" : "NO");
    table.add_row(std::move(cells));
  }
  return table;
}

std::string render_body(const ExperimentReport& report, TableStyle style) {
  const bool markdown = style == TableStyle::kMarkdown;
  std::string out;
  for (const auto& [title, table] : report.tables) {
    if (!out.empty()) out += '\n';
    if (!title.empty()) out += markdown ? "**" + title + "**\n\n" : title + ":\n";
    out += table.render(style);
  }
  if (!report.notes.empty()) {
    out += '\n';
    for (const auto& note : report.notes) out += (markdown ? "- " : "") + note + "\n";
  }
  return out;
}

}  // namespace mpkit::cli
