#pragma once

// Options every experiment subcommand shares, the validators that word their
// errors the way ARCHITECTURE.md asks ("--repeat: value 0 is out of range (must be
// >= 1)"), and UsageError: bad input found after parsing (exit code 2).

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

namespace mpkit::cli {

/// Bad input to the CLI: main prints "mpkit: <what>" and exits with 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Accepts a whole number in [min, max]; the message names the bad value
/// (cut short if it is long).
[[nodiscard]] CLI::Validator whole_number_in(std::uint64_t min,
                                             std::uint64_t max = std::numeric_limits<unsigned>::max());

/// Rejects an empty value (a FILE, DIR, URL or name given as '').
[[nodiscard]] CLI::Validator non_empty();

/// --redis URL, given: a malformed URL is a UsageError naming the flag
/// (exit 2); a server that cannot be reached (connect or PING fails within
/// 2 s) is a std::runtime_error carrying the connect error (exit 1). Checked
/// before anything is measured, so a bad URL never shows as lost data.
void check_redis_url(const std::string& url);

/// `text` for a message: as is, or its first characters and "...".
[[nodiscard]] std::string shown(const std::string& text);

/// A comma-separated list option: every argument (one per occurrence, or
/// several after one flag) is split on commas; an empty element ("", ",",
/// "a,,b") is an error naming the flag, and so is an element `element`
/// rejects. Elements convert to T (std::string, or an unsigned integer type:
/// give `element` a whole_number_in). The list replaces `into` (its default)
/// when the option is given. CLI11's own delimiter is not used: it drops
/// empty elements, and an argument of separators alone then made it take
/// the next option as the list.
template <class T>
CLI::Option* add_list_option(CLI::App& sub, const std::string& name, std::vector<T>& into,
                             const std::string& help, CLI::Validator element = CLI::Validator());

/// --json FILE, --repeat N, --progress.
struct ExperimentOptions {
  std::string json_path;  ///< empty: no JSON
  unsigned repeat = 5;
  bool progress = false;
};

/// Adds the shared options to `sub`; `options.repeat` holds the default.
void add_experiment_options(CLI::App& sub, ExperimentOptions& options);

/// Adds `--progress` alone (for commands that are not experiments).
void add_progress_option(CLI::App& sub, bool& progress);

/// Joins argv-like words into one shell-ready line (quoting only as needed).
[[nodiscard]] std::string command_line(const std::vector<std::string>& words);

namespace detail {
/// Splits `text` on commas, keeping empty elements.
[[nodiscard]] std::vector<std::string> split_list(const std::string& text);
/// Throws CLI::ValidationError naming `name` for an empty or rejected element.
void check_list_element(const std::string& name, const std::string& argument, std::string& element,
                        CLI::Validator& check);
}  // namespace detail

template <class T>
CLI::Option* add_list_option(CLI::App& sub, const std::string& name, std::vector<T>& into,
                             const std::string& help, CLI::Validator element) {
  return sub
      .add_option_function<std::vector<std::string>>(
          name,
          [&into, name, element](const std::vector<std::string>& arguments) mutable {
            std::vector<T> values;
            for (const std::string& argument : arguments) {
              for (std::string& piece : detail::split_list(argument)) {
                detail::check_list_element(name, argument, piece, element);
                if constexpr (std::is_same_v<T, std::string>) {
                  values.push_back(std::move(piece));
                } else {
                  static_assert(std::is_unsigned_v<T>, "a list of strings or of unsigned integers");
                  T value{};
                  const auto [end, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), value);
                  if (piece.find_first_not_of("0123456789") != std::string::npos || ec != std::errc{} ||
                      end != piece.data() + piece.size()) {
                    throw CLI::ValidationError(name, "value '" + shown(piece) + "' is not a whole number");
                  }
                  values.push_back(value);
                }
              }
            }
            into = std::move(values);
          },
          help)
      ->type_name("LIST");
}

}  // namespace mpkit::cli
