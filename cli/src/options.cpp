#include "options.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

namespace mpkit::cli {

CLI::Validator whole_number_in(std::uint64_t min, std::uint64_t max) {
  const bool unbounded = max == std::numeric_limits<unsigned>::max() ||
                         max == std::numeric_limits<std::uint64_t>::max();
  // Shown in --help after the type: "UINT:>= 1" or "UINT:1..1000000".
  const std::string description = unbounded ? fmt::format(">= {}", min) : fmt::format("{}..{}", min, max);
  // CLI11 prefixes the option name: "--repeat: value 0 is out of range (must be >= 1)".
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const bool negative = text.starts_with('-');
        const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
          return fmt::format("value '{}' is not a whole number", text);
        }
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (negative || (ec == std::errc{} && value < min)) {
          return fmt::format("value {} is out of range (must be >= {})", text, min);
        }
        if (ec != std::errc{} || value > max) {
          return fmt::format("value {} is out of range (must be <= {})", text, max);
        }
        return {};
      },
      description, "whole_number_in");
}

void add_progress_option(CLI::App& sub, bool& progress) {
  sub.add_flag("--progress", progress,
               std::string("show a progress line on stderr even when it is not a terminal "
                           "(on a terminal it is always shown)"));
}

void add_experiment_options(CLI::App& sub, ExperimentOptions& options) {
  sub.add_option("--repeat", options.repeat,
                 "timed runs per configuration; tables and JSON report min/median/max over them")
      ->check(whole_number_in(1, 1'000'000))
      ->capture_default_str();
  sub.add_option("--json", options.json_path,
                 "also write one JSON object per measured configuration to FILE "
                 "(JSON Lines; FILE is created or truncated, never appended to)")
      ->type_name("FILE");
  add_progress_option(sub, options.progress);
}

std::string command_line(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) {
    if (!line.empty()) line += ' ';
    const bool plain = !word.empty() && word.find_first_not_of(
                                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      line += word;
    } else {
      line += '\'';
      for (char c : word) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
      line += '\'';
    }
  }
  return line;
}

}  // namespace mpkit::cli
