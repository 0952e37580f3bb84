#pragma once

// Human-friendly numbers for tables and reports. Three significant digits,
// ASCII units ("us", not "µs") so column widths count bytes.

#include <cstdint>
#include <string>
#include <string_view>

namespace mpkit::cli {

/// 512 -> "512 B", 4096 -> "4.0 KiB", 3 << 30 -> "3.0 GiB".
[[nodiscard]] std::string human_bytes(std::uint64_t bytes);

/// 0.8123 -> "812 ms", 4.2e-9 -> "4.20 ns", 12.5 -> "12.5 s".
[[nodiscard]] std::string human_seconds(double seconds);

/// 5.1e7 -> "51.0 M", 1234 -> "1.23 k", 12 -> "12.0".
[[nodiscard]] std::string human_count(double value);

/// A metric by the unit in its key (ARCHITECTURE.md): "*_ns", "*_ns_*" and "ns_*"
/// as a duration, "*_per_s" as a rate ("51.0 M/s"), "*_bytes" as a size, anything
/// else with 4 significant digits.
[[nodiscard]] std::string format_metric(std::string_view key, double value);

}  // namespace mpkit::cli
