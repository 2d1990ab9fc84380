// Budget: when a search must stop (evaluations, charged cost-seconds, wall seconds).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "nas/core/error.hpp"

namespace nas {

/// What happens to the evaluation that takes the charged cost past `cost_seconds`.
enum class Overrun {
  keep,     ///< it is recorded (and may win); the run then stops
  discard,  ///< it is dropped and the run stops: the NAS-Bench-201 baselines' code (AutoDL-Projects' R_EA.py, RANDOM.py) does this
};

/// Any combination of limits; the search stops at the first one reached.
///
///     nas::Budget{.evaluations = 500}
///     nas::Budget{.cost_seconds = 12000}            // simulated training time (NB201 protocol)
///     nas::Budget{.evaluations = 100, .wall_seconds = 60}
///
/// `cost_seconds` counts what estimators charge (simulated for tabular ones, measured
/// for training); `wall_seconds` is the real clock of the whole run.
struct Budget {
  std::optional<std::size_t> evaluations{};
  std::optional<double> cost_seconds{};
  std::optional<double> wall_seconds{};
  Overrun overrun = Overrun::keep;  ///< the evaluation that crosses cost_seconds: kept or discarded

  [[nodiscard]] bool unbounded() const noexcept { return !evaluations && !cost_seconds && !wall_seconds; }

  /// Throws ConfigError naming `where` for negative or zero limits.
  void validate(const char* where) const {
    if (evaluations && *evaluations == 0) throw ConfigError(std::string(where) + ": budget of 0 evaluations");
    if (cost_seconds && !(*cost_seconds > 0.0))
      throw ConfigError(std::string(where) + ": cost budget (" + std::to_string(*cost_seconds) + " s) must be > 0");
    if (wall_seconds && !(*wall_seconds > 0.0))
      throw ConfigError(std::string(where) + ": wall-clock budget (" + std::to_string(*wall_seconds) + " s) must be > 0");
  }
  /// As validate(), and also rejects a budget with no limit at all (for strategies that
  /// would otherwise run forever).
  void require_bounded(const char* where) const {
    validate(where);
    if (unbounded())
      throw ConfigError(std::string(where) + ": the budget sets no limit (give evaluations, cost_seconds or wall_seconds)");
  }
};

}  // namespace nas
