// SyntheticEstimator: a toy training simulator for CellSpace cells (per-op quality plus noise that shrinks with epochs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/rng.hpp"
#include "nas/space/cell_space.hpp"

namespace nas {

/// Simulates training a cell without any network: the cell's quality is the mean of its
/// ops' scores over all picks (2 per node, both cells when the space has a reduction
/// cell), and an evaluation at `e` epochs returns quality + N(0, (noise / sqrt(e))^2),
/// clipped to [0, 1]. With the default scores (conv3x3 0.8, conv5x5 0.7, maxpool 0.3,
/// skip 0.5, none 0.0) and noise 0.15 this is the toy fitness of the seed article, whose
/// best cell is all conv3x3 (quality 0.8).
///
/// The score is a fraction in [0, 1]; the cost is `epochs x seconds_per_epoch` simulated
/// seconds; the metric `quality` is the noiseless value. Draws come from the estimator's
/// own Rng (seeded by `Options::seed`), so a run is reproducible for a given order of
/// calls. Spaces with other op lists give a score per op name in `op_scores`.
class SyntheticEstimator {
 public:
  using Arch = CellArch;

  struct Options {
    std::vector<std::pair<std::string, double>> op_scores{
        {"conv3x3", 0.8}, {"conv5x5", 0.7}, {"maxpool", 0.3}, {"skip", 0.5}, {"none", 0.0}};
    double noise = 0.15;            ///< standard deviation of the noise after one epoch
    double default_epochs = 50.0;   ///< epochs of `Fidelity{}` (the seed's evolution uses 50)
    double seconds_per_epoch = 1.0; ///< simulated cost of one epoch
    std::uint64_t seed = 0;
  };

  /// Throws ConfigError naming an op of `space` that has no score, or bad options.
  explicit SyntheticEstimator(const CellSpace& space) : SyntheticEstimator(space, Options{}) {}
  SyntheticEstimator(const CellSpace& space, Options options)
      : opt_(std::move(options)), rng_(opt_.seed) {
    if (!(opt_.noise >= 0.0)) throw ConfigError("SyntheticEstimator: noise (" + std::to_string(opt_.noise) + ") must be >= 0");
    if (!(opt_.default_epochs > 0.0))
      throw ConfigError("SyntheticEstimator: default_epochs (" + std::to_string(opt_.default_epochs) + ") must be > 0");
    if (!(opt_.seconds_per_epoch >= 0.0))
      throw ConfigError("SyntheticEstimator: seconds_per_epoch (" + std::to_string(opt_.seconds_per_epoch) +
                        ") must be >= 0");
    for (const auto& name : space.ops()) {
      const auto it = std::find_if(opt_.op_scores.begin(), opt_.op_scores.end(),
                                   [&](const auto& kv) { return kv.first == name; });
      if (it == opt_.op_scores.end())
        throw ConfigError("SyntheticEstimator: the space's op '" + name + "' has no score in op_scores");
      score_of_op_.push_back(it->second);
    }
  }

  /// The noiseless quality: the mean op score over all picks.
  [[nodiscard]] double quality(const Arch& a) const {
    double sum = 0.0;
    std::size_t n = 0;
    for (const auto* cell : {&a.normal, &a.reduce})
      for (const auto& p : *cell) {
        if (p.op >= score_of_op_.size())
          throw ConfigError("SyntheticEstimator::quality: op code " + std::to_string(p.op) + " outside the space's " +
                            std::to_string(score_of_op_.size()) + " ops");
        sum += score_of_op_[p.op];
        ++n;
      }
    if (n == 0) throw ConfigError("SyntheticEstimator::quality: empty architecture");
    return sum / static_cast<double>(n);
  }

  [[nodiscard]] Evaluation evaluate(const Arch& a, Fidelity f = {}) {
    const double epochs = f.is_default() ? opt_.default_epochs : f.epochs;
    const double q = quality(a);
    Evaluation e;
    e.score = std::clamp(q + rng_.normal(0.0, opt_.noise / std::sqrt(epochs)), 0.0, 1.0);
    e.epochs = epochs;
    e.cost_seconds = epochs * opt_.seconds_per_epoch;
    e.metrics.set("quality", q);
    return e;
  }

  [[nodiscard]] const Options& options() const noexcept { return opt_; }
  /// Score of each op code of the space.
  [[nodiscard]] const std::vector<double>& op_scores() const noexcept { return score_of_op_; }

 private:
  Options opt_;
  Rng rng_;
  std::vector<double> score_of_op_;
};

}  // namespace nas
