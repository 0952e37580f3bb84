#include "server_process.hpp"

#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "mpkit/ipc/error.hpp"

namespace mpkit::detail {

void FileDescriptor::reset(int fd) noexcept {
  if (fd_ >= 0) (void)::close(fd_);
  fd_ = fd;
}

std::string make_private_directory(std::string_view who, std::string_view name_template,
                                   std::string_view socket_name) {
  std::string base = "/tmp";
  if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir != nullptr && tmpdir[0] == '/') {
    base = tmpdir;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    if (base == "/") base.clear();
  }
  if (base.size() + name_template.size() + socket_name.size() >= sizeof(sockaddr_un::sun_path)) {
    base = "/tmp";
  }
  const std::string pattern = base + std::string(name_template);
  std::string path = pattern;
  if (::mkdtemp(path.data()) == nullptr) throw_errno(std::string(who) + ": mkdtemp " + pattern);
  return path;
}

std::string describe_exit(int exitcode) {
  // 127: the shell's "command not found", what a child whose exec failed exits with.
  constexpr int kExecFailedExit = 127;
  if (exitcode < 0) return "was killed by signal " + std::to_string(-exitcode);
  if (exitcode == kExecFailedExit) return "could not be executed (exit code 127)";
  return "exited with code " + std::to_string(exitcode);
}

void kill_and_reap(Process& process) noexcept {
  process.kill();
  try {
    process.join();
  } catch (...) {
    // join() without a timeout only throws for a moved-from Process; the
    // Process destructor reaps in any case.
  }
}

namespace {

void remove_directory(const std::string& directory) noexcept {
  if (directory.empty()) return;
  std::error_code ignored;  // best effort: a file someone else put there stays
  std::filesystem::remove_all(directory, ignored);
}

}  // namespace

void stop_server(std::optional<Process>& process, std::chrono::milliseconds grace,
                 bool already_asked, const std::string& directory) noexcept {
  if (!process) return;
  if (!already_asked) process->terminate();
  try {
    if (!process->join(grace)) kill_and_reap(*process);
  } catch (...) {
    kill_and_reap(*process);  // pidfd_open failed: no timed wait, so no grace
  }
  process.reset();
  remove_directory(directory);
}

void abandon_start(std::optional<Process>& process, const std::string& directory) noexcept {
  if (process) {
    kill_and_reap(*process);
    process.reset();
  }
  remove_directory(directory);
}

}  // namespace mpkit::detail
