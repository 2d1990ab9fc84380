// Trial (one evaluation in a search) and History (all of them, in order).
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

#include "nas/core/evaluation.hpp"

namespace nas {

/// One evaluation made by a search, with its place in time and budget.
template <class Arch>
struct Trial {
  std::size_t index = 0;      ///< 0-based position in the history
  Arch arch{};
  Fidelity fidelity{};
  Evaluation eval{};
  double total_cost = 0.0;    ///< cost-seconds charged so far, this trial included
  double wall_seconds = 0.0;  ///< real seconds since the run began, when this trial ended
  std::size_t id = 0;         ///< the id of the proposal it answers (= index in a serial run)
  std::size_t asked = 0;      ///< proposals the strategy had made when it was told (for replay)
};

/// Every trial of a run in the order they finished.
template <class Arch>
class History {
 public:
  using trial_type = Trial<Arch>;

  const trial_type& push(trial_type t) {
    t.index = trials_.size();
    if (t.eval.ok() && (best_ == npos || t.eval.score > trials_[best_].eval.score)) best_ = t.index;
    trials_.push_back(std::move(t));
    return trials_.back();
  }
  void reserve(std::size_t n) { trials_.reserve(n); }

  [[nodiscard]] std::size_t size() const noexcept { return trials_.size(); }
  [[nodiscard]] bool empty() const noexcept { return trials_.empty(); }
  [[nodiscard]] const trial_type& operator[](std::size_t i) const { return trials_[i]; }
  [[nodiscard]] const trial_type& back() const { return trials_.back(); }
  [[nodiscard]] auto begin() const noexcept { return trials_.begin(); }
  [[nodiscard]] auto end() const noexcept { return trials_.end(); }
  [[nodiscard]] const std::vector<trial_type>& trials() const noexcept { return trials_; }

  /// The ok trial with the highest score (earliest on ties), or nullptr if none is ok.
  [[nodiscard]] const trial_type* best() const noexcept { return best_ == npos ? nullptr : &trials_[best_]; }

  /// Cost-seconds charged over the whole run.
  [[nodiscard]] double total_cost() const noexcept { return trials_.empty() ? 0.0 : trials_.back().total_cost; }

  [[nodiscard]] std::size_t failures() const noexcept {
    std::size_t n = 0;
    for (const auto& t : trials_) n += !t.eval.ok();
    return n;
  }

  /// Best score seen after each trial (-inf until the first ok trial).
  [[nodiscard]] std::vector<double> best_so_far() const {
    std::vector<double> curve;
    curve.reserve(trials_.size());
    double best = -std::numeric_limits<double>::infinity();
    for (const auto& t : trials_) {
      if (t.eval.ok() && t.eval.score > best) best = t.eval.score;
      curve.push_back(best);
    }
    return curve;
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<trial_type> trials_;
  std::size_t best_ = npos;
};

}  // namespace nas
