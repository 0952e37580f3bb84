#include "mpkit/pools/errors.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

#include "mpkit/pools/detail/pool_core.hpp"

#include <cstring>
#include <string>

namespace mpkit {

namespace {
std::string describe(pid_t pid, int signal, int exit_code, std::size_t task_index, std::size_t chunk_items) {
  std::string what = "worker " + std::to_string(pid);
  if (signal > 0) {
    what += " was killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  } else {
    what += " exited with code " + std::to_string(exit_code);
  }
  what += " while running task " + std::to_string(task_index);
  if (chunk_items > 1) what += " (a chunk of " + std::to_string(chunk_items) + " items from there)";
  return what;
}
}  // namespace

WorkerDied::WorkerDied(pid_t pid, int signal, int exit_code, std::size_t task_index, std::size_t chunk_items)
    : WorkerDied(describe(pid, signal, exit_code, task_index, chunk_items), pid, signal, exit_code, task_index,
                 chunk_items) {}

WorkerDied::WorkerDied(std::string what, pid_t pid, int signal, int exit_code, std::size_t task_index,
                       std::size_t chunk_items)
    : PoolError(what),
      pid_(pid),
      signal_(signal),
      exit_code_(exit_code),
      task_index_(task_index),
      chunk_items_(chunk_items) {}

TaskTimedOut::TaskTimedOut(pid_t pid, double timeout_seconds, std::size_t task_index, std::size_t chunk_items)
    : WorkerDied("task " + std::to_string(task_index) + " ran longer than the pool's task_timeout (" +
                     std::to_string(timeout_seconds) + " s); worker " + std::to_string(pid) +
                     " was killed and replaced",
                 pid, 9, 0, task_index, chunk_items) {}

}  // namespace mpkit

namespace mpkit::pools::detail {

std::string describe_current_exception() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  std::string name = "unknown exception";
  if (type != nullptr) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(type->name(), nullptr, nullptr, &status),
                                                     std::free);
    name = status == 0 && demangled ? demangled.get() : type->name();
  }
  try {
    throw;
  } catch (const std::exception& e) {
    return name + ": " + e.what();
  } catch (...) {
    return name;
  }
}

}  // namespace mpkit::pools::detail
