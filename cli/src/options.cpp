#include "options.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "mpkit/ipc/remote/redis_client.hpp"

namespace mpkit::cli {

std::string shown(const std::string& text) {
  constexpr std::size_t kShown = 40;
  return text.size() <= kShown ? text : text.substr(0, kShown) + "... (" + std::to_string(text.size()) + " characters)";
}

void check_redis_url(const std::string& url) {
  try {
    RedisClient client = RedisClient::connect(url, std::chrono::seconds(2));
    client.ping();
  } catch (const std::invalid_argument& error) {
    throw UsageError("--redis: " + std::string(error.what()) +
                     "; give unix:///path, redis://host:port or host:port");
  } catch (const std::exception& error) {
    throw std::runtime_error("--redis " + shown(url) + ": cannot reach the server: " + error.what());
  }
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "value must not be empty" : std::string(); },
      "", "non_empty");
}

namespace detail {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> pieces;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = text.find(',', begin);
    pieces.push_back(text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
    if (comma == std::string::npos) return pieces;
    begin = comma + 1;
  }
}

void check_list_element(const std::string& name, const std::string& argument, std::string& element,
                        CLI::Validator& check) {
  if (element.empty()) {
    throw CLI::ValidationError(name, "empty element in the list '" + shown(argument) + "'");
  }
  if (const std::string error = check(element); !error.empty()) throw CLI::ValidationError(name, error);
}

}  // namespace detail

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
          return fmt::format("value '{}' is not a whole number", shown(text));
        }
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (negative || (ec == std::errc{} && value < min)) {
          return fmt::format("value {} is out of range (must be >= {})", shown(text), min);
        }
        if (ec != std::errc{} || value > max) {
          return fmt::format("value {} is out of range (must be <= {})", shown(text), max);
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
      ->check(non_empty())
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
