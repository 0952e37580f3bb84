// mpkit: the command-line lab. Parses with CLI11, dispatches to one Command,
// and maps every failure to one line on stderr and an exit code:
//   0  success (and --help, --version)
//   1  a runtime failure (a system call failed, a write failed)
//   2  bad input: an unknown command or option, a bad value (ARCHITECTURE.md, "Errors")
// CLI11's own failure output (message + "Run with --help", its own exit
// codes 101-120) is replaced: scripts can rely on 2 for "you called it wrong".

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "command.hpp"
#include "options.hpp"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Prints "mpkit: <message>" as exactly one line and returns `exit_code`.
int fail(const std::string& message, int exit_code) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n') c = ' ';  // one line, whatever the source
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::fprintf(stderr, "mpkit: %s\n", line.c_str());
  return exit_code;
}

int usage_error(const std::string& message) { return fail(message, kExitUsage); }

std::string command_names() {
  std::string names;
  for (const auto& command : mpkit::cli::all_commands()) names += (names.empty() ? "" : ", ") + command.name;
  return names;
}

// Words CLI11 could not place: an unknown option or a stray argument.
int extras_error(const std::vector<std::string>& extras, const CLI::App* sub) {
  const std::string& word = extras.front();
  const std::string where = sub != nullptr ? "mpkit " + sub->get_name() : "mpkit";
  if (sub == nullptr && !word.starts_with('-')) {
    return usage_error(fmt::format("unknown command '{}' (commands: {}; see mpkit --help)", word,
                                   command_names()));
  }
  const char* kind = word.starts_with('-') ? "unknown option" : "unexpected argument";
  return usage_error(fmt::format("{} '{}' (see {} --help)", kind, word, where));
}

// CLI11's words, except where they read like internals.
std::string parse_error_message(const CLI::ParseError& error) {
  const std::string what = error.what();
  // "--repeat: 1 required UINT:1..1000000 missing" -> "--repeat: needs a value"
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr && what.ends_with(" missing")) {
    return what.substr(0, what.find(':')) + ": needs a value";
  }
  return what;
}

CLI::App* chosen_subcommand(const CLI::App& app) {
  const auto subs = app.get_subcommands();
  return subs.empty() ? nullptr : subs.front();
}

int run(int argc, char** argv) {
  using mpkit::cli::Action;

  CLI::App app("mpkit: multiprocessing and shared memory on one host, and the lab to measure it",
               "mpkit");
  app.set_version_flag("--version", std::string("mpkit ") + MPKIT_VERSION);
  // Unknown words are collected and reported by us, in one line, exit 2.
  app.allow_extras();
  app.footer(
      "Every experiment prints a table and takes --json FILE (one JSON row per measured\n"
      "configuration) and --repeat N (min/median/max over N runs). Exit codes: 0 ok,\n"
      "1 runtime failure, 2 bad input.\n"
      "\n"
      "Examples:\n"
      "  mpkit info                       # what this machine can do\n"
      "  mpkit sync --json sync.jsonl     # futex wake-ups and lock costs across processes\n"
      "  mpkit run                        # the whole suite -> results/<timestamp>/report.md\n"
      "  mpkit clean --dry-run            # segments left by killed processes\n"
      "  mpkit <command> --help           # what a command measures, its defaults, examples\n");

  std::vector<std::pair<CLI::App*, Action>> actions;
  for (const auto& command : mpkit::cli::all_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.summary);
    actions.emplace_back(sub, command.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help, --help-all, --version: CLI11 prints them, exit 0.
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
    return usage_error(parse_error_message(error));
  }

  CLI::App* sub = chosen_subcommand(app);
  if (!app.remaining().empty()) return extras_error(app.remaining(), nullptr);
  if (sub == nullptr) return usage_error("no command given (see mpkit --help)");
  if (!sub->remaining().empty()) return extras_error(sub->remaining(), sub);

  const std::vector<std::string> words(argv, argv + argc);
  try {
    for (const auto& [app_of, action] : actions) {
      if (app_of == sub) return action(words);
    }
    return usage_error("no command given (see mpkit --help)");
  } catch (const mpkit::cli::UsageError& error) {
    return usage_error(error.what());
  } catch (const std::exception& error) {
    return fail(error.what(), kExitFailure);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Building the command table can only fail by running out of memory; even
  // then the user gets one line and exit code 1, not std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    return fail(error.what(), kExitFailure);
  }
}
