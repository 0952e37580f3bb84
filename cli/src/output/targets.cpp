#include "output/targets.hpp"

namespace mpkit::cli {

std::string_view verdict(bool met) noexcept { return met ? "met" : "MISSED"; }

}  // namespace mpkit::cli
