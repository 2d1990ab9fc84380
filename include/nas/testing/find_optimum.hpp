// check_finds_optimum: runs a strategy on a toy problem and reports whether it found the optimum.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "nas/core/budget.hpp"
#include "nas/testing/toy_spaces.hpp"

namespace nas::testing {

/// What check_finds_optimum saw.
struct FindReport {
  bool found = false;                   ///< the recommendation's true score is within tolerance of the optimum
  double best_score = 0.0;              ///< true score of the recommended architecture (-inf if none)
  double optimal_score = 0.0;           ///< the problem's optimal score
  std::size_t evaluations = 0;          ///< trials the run made
  std::optional<std::size_t> first_hit;  ///< 1-based trial at which an optimal arch was first evaluated
  std::string stop_reason;              ///< as in nas::Result

  [[nodiscard]] std::string to_string() const {
    std::ostringstream os;
    os << (found ? "found" : "missed") << " optimum: score " << best_score << " / " << optimal_score << " after "
       << evaluations << " evaluations";
    if (first_hit) os << " (first optimal trial: " << *first_hit << ")";
    os << ", stopped by " << stop_reason;
    return os.str();
  }
};

/// Runs `strategy.run(problem, estimator, budget)` and compares the recommended
/// architecture's true score (problem.score, not the possibly noisy estimate) with the
/// problem's optimal score. Like ensmallen's test functions, this lets a test state
/// "strategy X finds the optimum of problem Y within budget Z".
template <class Strategy, ToyProblem P, class Est>
FindReport check_finds_optimum(const Strategy& strategy, const P& problem, Est& estimator, const Budget& budget,
                               double tolerance = 1e-9) {
  auto result = strategy.run(problem, estimator, budget);
  FindReport r;
  r.optimal_score = problem.optimal_score();
  r.best_score = result.found ? problem.score(result.best) : -std::numeric_limits<double>::infinity();
  r.found = result.found && r.best_score >= r.optimal_score - tolerance;
  r.evaluations = result.history.size();
  r.stop_reason = result.stop_reason;
  for (const auto& t : result.history)
    if (problem.score(t.arch) >= r.optimal_score - tolerance) {
      r.first_hit = t.index + 1;
      break;
    }
  return r;
}

}  // namespace nas::testing
