// Started with exec by segment_sweep_test: attaches to the named segment given
// as argv[1], reads word 0, writes 2 * word0 + 2 into word 1. Exit 0 on
// success, 2 on bad usage, 3 if attaching failed.
#include <cstdint>
#include <cstdio>
#include <exception>

#include "mpkit/ipc/shared_memory.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    auto segment = mpkit::SharedMemory::named(mpkit::open_only, mpkit::SegmentName::parse(argv[1]));
    auto* words = segment.as<std::uint64_t>();
    words[1] = 2 * words[0] + 2;
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "attach_helper: %s\n", error.what());
    return 3;
  }
}
