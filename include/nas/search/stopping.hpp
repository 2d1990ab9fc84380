// Stopping callbacks: EarlyStop (no improvement for `patience` trials) and StopAfter (trials, seconds, cost).
#pragma once

#include <cstddef>
#include <limits>
#include <optional>

#include "nas/core/callbacks.hpp"
#include "nas/core/history.hpp"

namespace nas {

/// Stops a run when the best ok score has not improved by more than `min_delta` for
/// `patience` trials in a row. Reusable: its state resets at each run's on_begin.
///
///     nas::EarlyStop early(50);           // 50 trials without improvement
///     strategy.run(space, est, budget, early);
class EarlyStop {
 public:
  explicit EarlyStop(std::size_t patience, double min_delta = 0.0) : patience_(patience), min_delta_(min_delta) {}

  void on_begin(const RunInfo&) { reset(); }

  template <class Arch>
  bool on_trial(const Trial<Arch>& t, const History<Arch>&) {
    if (t.eval.ok() && (!seen_ok_ || t.eval.score > best_ + min_delta_)) {
      best_ = t.eval.score;
      seen_ok_ = true;
      since_ = 0;
      return false;
    }
    return ++since_ >= patience_;
  }

  void reset() noexcept {
    best_ = -std::numeric_limits<double>::infinity();
    seen_ok_ = false;
    since_ = 0;
  }
  [[nodiscard]] std::size_t trials_without_improvement() const noexcept { return since_; }
  [[nodiscard]] double best() const noexcept { return best_; }

 private:
  std::size_t patience_;
  double min_delta_;
  double best_ = -std::numeric_limits<double>::infinity();
  bool seen_ok_ = false;
  std::size_t since_ = 0;
};

/// Stops a run once any of the limits it sets is reached (counted within the run):
/// trials made, real seconds elapsed, cost-seconds charged. Unlike a Budget, it can be
/// added to any run without changing the strategy's call.
///
///     nas::StopAfter after{.trials = 100};
struct StopAfter {
  std::optional<std::size_t> trials{};
  std::optional<double> wall_seconds{};
  std::optional<double> cost_seconds{};

  template <class Arch>
  bool on_trial(const Trial<Arch>& t, const History<Arch>& h) const {
    return (trials && h.size() >= *trials) || (wall_seconds && t.wall_seconds >= *wall_seconds) ||
           (cost_seconds && t.total_cost >= *cost_seconds);
  }
};

}  // namespace nas
