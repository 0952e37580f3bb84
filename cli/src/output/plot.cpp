#include "output/plot.hpp"

#include <chrono>
#include <string>

#include <fmt/format.h>

#include "mpkit/ipc/experiments/program.hpp"

namespace mpkit::cli {
namespace {

constexpr auto kGnuplotTimeout = std::chrono::seconds(30);

// gnuplot strings are single-quoted: a quote inside is doubled.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The whole script, data inline ($series<i> blocks), so no temporary files.
std::string script(const LinePlot& plot, const std::filesystem::path& path) {
  std::string out;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    out += fmt::format("$series{} << EOD\n", i);
    for (const auto& [x, y] : plot.series[i].points) out += fmt::format("{} {}\n", x, y);
    out += "EOD\n";
  }
  out += "set terminal pngcairo size 1000,600 noenhanced\n";
  out += "set output " + quoted(path.string()) + "\n";
  out += "set title " + quoted(plot.title) + "\n";
  out += "set xlabel " + quoted(plot.x_label) + "\nset ylabel " + quoted(plot.y_label) + "\n";
  out += "set key outside right\nset grid\n";
  if (plot.log_y) out += "set logscale y\n";
  out += "plot ";
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    out += fmt::format("{}$series{} using 1:2 with linespoints title {}", i == 0 ? "" : ", ", i,
                       quoted(plot.series[i].name));
  }
  return out + "\n";
}

}  // namespace

std::optional<std::string> write_png(const LinePlot& plot, const std::filesystem::path& path) {
  if (plot.series.empty()) return "nothing to plot";
  const ProgramResult gnuplot = run_program({"gnuplot"}, script(plot, path), kGnuplotTimeout);
  if (!gnuplot.started) {
    return fmt::format("no plot: gnuplot could not be started ({}; scripts/bootstrap installs "
                       "gnuplot-nox)",
                       gnuplot.error);
  }
  if (gnuplot.timed_out) return "no plot: gnuplot did not finish within 30 s";
  if (!gnuplot.input_written || !gnuplot.exited_ok()) {
    return "no plot: gnuplot failed on the script";
  }
  return std::nullopt;
}

}  // namespace mpkit::cli
