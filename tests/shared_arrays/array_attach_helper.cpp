// Started with exec (posix_spawn) by shared_matrix_test: an unrelated
// process that knows only a segment's name. Usage:
//   array_attach_helper <name> <rows> <cols> rw    attach read-write, check
//       cell (r, c) == r * cols + c, then store 2 * value + 1 in every cell
//   array_attach_helper <name> <rows> <cols> ro    attach read-only (const
//       access), check the cells
//   array_attach_helper <name> <rows> <cols> wrong-type    attach as int64:
//       must be refused with LayoutMismatchError naming both element types
// Exit 0 on success; 2 bad usage; 3 attach failed; 4 wrong contents; 5 the
// mismatch was not reported as it should be.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace {

template <class T>
bool cells_are_indices(const mpkit::SharedMatrix<T>& m) {
  for (std::size_t r = 0; r < m.rows(); ++r) {
    for (std::size_t c = 0; c < m.cols(); ++c) {
      if (m(r, c) != static_cast<double>(r * m.cols() + c)) return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  const std::string_view mode = argv[4];
  const std::size_t rows = std::strtoull(argv[2], nullptr, 10);
  const std::size_t cols = std::strtoull(argv[3], nullptr, 10);
  try {
    const auto name = mpkit::SegmentName::parse(argv[1]);
    if (mode == "rw") {
      auto m = mpkit::SharedMatrix<double>::open(name, rows, cols);
      if (!cells_are_indices(m)) return 4;
      for (double& v : m.span()) v = 2 * v + 1;
      return 0;
    }
    if (mode == "ro") {
      auto m = mpkit::SharedMatrix<const double>::open(name, rows, cols);
      return cells_are_indices(m) ? 0 : 4;
    }
    if (mode == "wrong-type") {
      try {
        (void)mpkit::SharedMatrix<std::int64_t>::open(name);
      } catch (const mpkit::LayoutMismatchError& error) {
        const std::string what = error.what();
        const bool names_both = what.find("8-byte floating-point") != std::string::npos &&
                                what.find("8-byte signed-integer") != std::string::npos;
        if (!names_both)
          std::fprintf(stderr, "array_attach_helper: unclear message: %s\n", what.c_str());
        return names_both ? 0 : 5;
      }
      return 5;
    }
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "array_attach_helper: %s\n", error.what());
    return 3;
  }
}
