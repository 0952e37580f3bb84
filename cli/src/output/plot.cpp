#include "output/plot.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

extern char** environ;

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

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<std::string> write_png(const LinePlot& plot, const std::filesystem::path& path) {
  if (plot.series.empty()) return "nothing to plot";
  int input[2];
  if (::pipe2(input, O_CLOEXEC) != 0) return fmt::format("pipe2: {}", std::strerror(errno));
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, input[0], STDIN_FILENO);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string name = "gnuplot";
  char* argv[] = {name.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "gnuplot", &files, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  ::close(input[0]);
  if (rc != 0) {
    ::close(input[1]);
    return fmt::format("no plot: gnuplot could not be started ({}; scripts/bootstrap installs "
                       "gnuplot-nox)",
                       std::strerror(rc));
  }
  // SIGPIPE would kill us if gnuplot died early: write with it ignored.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);
  const bool written = write_all(input[1], script(plot, path));
  ::close(input[1]);
  ::sigaction(SIGPIPE, &previous, nullptr);

  const auto give_up = std::chrono::steady_clock::now() + kGnuplotTimeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return fmt::format("waitpid gnuplot: {}", std::strerror(errno));
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return "no plot: gnuplot did not finish within 30 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!written || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "no plot: gnuplot failed on the script";
  }
  return std::nullopt;
}

}  // namespace mpkit::cli
