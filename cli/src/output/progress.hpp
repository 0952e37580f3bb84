#pragma once

// Progress: one status line on stderr during long runs, so a user knows the
// tool is alive ("sync: repeat 2/5: pthread-robust contended  [6.1 s]").
//
// Shown when stderr is a terminal (redrawn in place with "\r", erased at the
// end), or when forced with --progress (then one line per update, since "\r"
// would garble a log file). Otherwise silent: stdout stays the result alone.

#include <chrono>
#include <string>
#include <string_view>

namespace mpkit::cli {

class Progress {
 public:
  /// `forced`: the user passed --progress.
  explicit Progress(bool forced);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// Erases the line (terminal mode).
  ~Progress();

  /// Replaces the status with "<prefix><text>  [elapsed]".
  void update(std::string_view text);

  /// The text before every update ("sync: "); empty by default.
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  /// Erases the status line so normal output can follow (terminal mode).
  void clear();

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }

 private:
  bool enabled_;
  bool in_place_;  // terminal: redraw with "\r"
  bool shown_ = false;
  std::string prefix_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace mpkit::cli
