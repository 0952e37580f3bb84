// Four forked processes add to one counter behind mpkit's robust Mutex.
// This file is the README's library example, the examples' smoke test and
// the find_package consumer, so it always compiles against the installed API.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"

struct Tally {
  mpkit::Mutex mutex;
  long count = 0;  // guarded by mutex
};

int main() {
  auto tally = mpkit::SharedObject<Tally>::anonymous();  // inherited by fork
  std::vector<mpkit::Process> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&tally] {
      for (int i = 0; i < 1000; ++i) {
        std::scoped_lock lock(tally->mutex);
        ++tally->count;
      }
    });
  }
  for (auto& worker : workers) {
    if (worker.join(std::chrono::seconds(10)) != 0) return 1;
  }
  std::printf("count = %ld (expected 4000)\n", tally->count);
  return tally->count == 4000 ? 0 : 1;
}
