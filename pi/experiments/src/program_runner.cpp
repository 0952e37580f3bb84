#include "mpkit/pi/experiments/program_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace mpkit {

ProgramOutput run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (argv.empty()) throw std::invalid_argument("run_program: argv must not be empty");
  ProgramOutput result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.error = "pipe2: " + std::string(std::strerror(errno));
    return result;
  }
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> words = argv;
  std::vector<char*> args;
  for (std::string& word : words) args.push_back(word.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &files, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    result.error = argv[0] + " could not be started: " + std::strerror(rc);
    return result;
  }
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd fd{fds[0], POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready <= 0) continue;  // EINTR or the deadline, checked above
    const ssize_t got = ::read(fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // end of file
    result.out.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) {
    result.error = argv[0] + " did not finish within " + std::to_string(timeout.count()) + " s";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (result.exit_code != 0) {
      result.error = argv[0] + " exited with status " + std::to_string(result.exit_code);
    }
  } else {
    result.error = argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return result;
}

}  // namespace mpkit
