#pragma once

// Line plots as PNG files, drawn by gnuplot (Debian's gnuplot-nox, installed
// by scripts/bootstrap): the pool-size sweep and the lock-contention curves.
// A missing gnuplot is not a failure of the experiment: write_png says why
// no plot was drawn, and the caller puts that in its notes.

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mpkit::cli {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  ///< (x, y), in x order
};

struct LinePlot {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_y = false;
  std::vector<PlotSeries> series;
};

/// Draws `plot` into `path` (PNG, 1000 x 600). Returns nullopt on success,
/// else one line saying why not (no gnuplot, gnuplot failed, timed out after
/// 30 s). Never throws for gnuplot's failures.
[[nodiscard]] std::optional<std::string> write_png(const LinePlot& plot,
                                                   const std::filesystem::path& path);

}  // namespace mpkit::cli
