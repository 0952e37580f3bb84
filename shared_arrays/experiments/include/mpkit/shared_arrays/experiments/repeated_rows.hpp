#pragma once

// Detects rows that repeat an earlier row byte for byte: the symptom of the
// chapter's classic bug, parallel random fills whose workers all continue the
// generator state they inherited by fork (ARCHITECTURE.md rule 7).
//
// Contract
//   Requires: `cells` holds rows x cols values, row-major.
//   Throws: std::invalid_argument for cols 0.
//   Cost: one hash per row; rows with a matching hash are compared with
//     memcmp, so a hash collision is never counted as a repeat.
//
// Example
//   if (mpkit::count_repeated_rows(m.data(), m.rows(), m.cols()) != 0) warn("reseed!");

#include <cstddef>
#include <cstdint>

namespace mpkit {

/// How many of the `rows` rows of `cells` (row-major, `cols` wide) equal an
/// earlier row.
[[nodiscard]] std::uint64_t count_repeated_rows(const double* cells, std::size_t rows,
                                                std::size_t cols);

}  // namespace mpkit
