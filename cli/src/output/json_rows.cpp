#include "output/json_rows.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <variant>

#include "options.hpp"

namespace mpkit::cli {
namespace {

nlohmann::ordered_json number(double value) {
  // JSON has no NaN/Inf; null says "not measured" without breaking parsers.
  if (!std::isfinite(value)) return nullptr;
  return value;
}

nlohmann::ordered_json param_json(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::ordered_json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, double>) {
          return number(v);
        } else {
          return v;
        }
      },
      value);
}

}  // namespace

MachineSummary machine_summary(const MachineInfo& info) {
  return MachineSummary{info.cpu_model, info.cores_available, info.kernel};
}

nlohmann::ordered_json row_json(const Measurement& row, const MachineSummary& machine) {
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const auto& [key, value] : row.params) params[key] = param_json(value);
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const auto& [key, value] : row.metrics) metrics[key] = number(value);

  nlohmann::ordered_json out;
  out["experiment"] = row.experiment;
  out["variant"] = row.variant;
  out["workers"] = row.workers;
  out["params"] = std::move(params);
  out["repeats"] = row.repeats;
  out["seconds"] = {{"min", number(row.seconds.min)},
                    {"median", number(row.seconds.median)},
                    {"max", number(row.seconds.max)}};
  out["metrics"] = std::move(metrics);
  out["correct"] = row.correct;
  out["machine"] = {{"cpu", machine.cpu}, {"cores", machine.cores}, {"kernel", machine.kernel}};
  return out;
}

JsonLinesWriter::JsonLinesWriter(const std::string& path, const std::string& option,
                                 MachineSummary machine)
    : path_(path), option_(option), machine_(std::move(machine)) {
  errno = 0;
  out_.open(path, std::ios::out | std::ios::trunc);
  if (!out_) {
    const int error = errno;
    throw UsageError(option + ": cannot open '" + path + "' for writing" +
                     (error != 0 ? std::string(": ") + std::strerror(error) : std::string()));
  }
}

void JsonLinesWriter::write(const Measurement& row) {
  errno = 0;
  out_ << row_json(row, machine_).dump() << '\n';
  out_.flush();
  if (!out_) {
    const int error = errno;
    throw UsageError(option_ + ": cannot write '" + path_ + "'" +
                     (error != 0 ? std::string(": ") + std::strerror(error) : std::string()));
  }
}

}  // namespace mpkit::cli
