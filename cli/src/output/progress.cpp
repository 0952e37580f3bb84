#include "output/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace mpkit::cli {

Progress::Progress(bool forced)
    : enabled_(forced || ::isatty(STDERR_FILENO) == 1),
      in_place_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { clear(); }

void Progress::update(std::string_view text) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = fmt::format("{}{}  [{:.1f} s]", prefix_, text, elapsed);
  if (in_place_) {
    // "\r" + erase-to-end-of-line: a shorter status leaves no tail behind.
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  shown_ = true;
}

void Progress::clear() {
  if (!shown_ || !in_place_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace mpkit::cli
