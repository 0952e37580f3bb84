// Four forked processes add to one counter behind mpkit's robust Mutex.
// This file is the README's library example, the examples' smoke test and
// the find_package consumer, so it always compiles against the installed API.
#include <chrono>
#include <cstdio>
#include <vector>

#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"

struct Tally {
  mpkit::Mutex mutex;  // robust: a killed holder is reported, not a hang
  long count MPKIT_GUARDED_BY(mutex) = 0;
};

int main() {
  auto tally = mpkit::SharedObject<Tally>::anonymous();  // inherited by fork
  std::vector<mpkit::Process> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&tally] {
      for (int i = 0; i < 1000; ++i) {
        mpkit::MutexLock lock(tally->mutex);  // or std::scoped_lock
        ++tally->count;
      }
    });
  }
  for (auto& worker : workers) {
    if (worker.join(std::chrono::seconds(10)) != 0) return 1;
  }
  mpkit::MutexLock lock(tally->mutex);
  std::printf("count = %ld (expected 4000)\n", tally->count);
  return tally->count == 4000 ? 0 : 1;
}
