// FinalAccuracy: scores a candidate by the accuracy it is predicted to reach in the final training the time left affords.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/history.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/metrics.hpp"

namespace nas {

/// How a cell's error falls with training, relative to where a short training left it:
/// after `images` training images seen, a cell whose error was `error_lo` after
/// `images_lo` has error
///
///     error_lo * (floor + (1 - floor) * (images_lo / images)^exponent).
///
/// The power law is the usual shape of a learning curve in the data seen; the floor, a
/// fixed share of the short training's error, is the plateau a network of the cell
/// reaches however long it trains, so a cell that learns less in a short training also
/// ends lower. Two consequences decide what the job should search for: at a given time,
/// a cell that trains k times faster sees k times the images, which outweighs a slightly
/// worse short-training error while the time is short; and once the time is long enough
/// for both to near their plateaus, the cell with the better short-training error wins.
///
/// The defaults are fit_learning_curve's answer, without a prior, on 22 NB201 cells on
/// Fashion-MNIST, each trained 1 epoch on 2,000 images at C=8 and then 60 or 120 s at
/// C=16 on 50,000 (0.2 to 2.7 epochs; benchmarks/reports/search_fashion_mnist.md; a test
/// refits them). Such short trainings hardly show a plateau, so the floor is the less
/// certain of the two.
struct LearningCurve {
  double exponent = 0.33;  ///< of the power law, in (0, 2]
  double floor = 0.01;     ///< the plateau as a share of the short training's error, in [0, 1)

  void validate(const char* where) const {
    if (!(exponent > 0.0 && exponent <= 2.0))
      throw ConfigError(std::string(where) + ": learning-curve exponent (" + std::to_string(exponent) + ") must be in (0, 2]");
    if (!(floor >= 0.0 && floor < 1.0))
      throw ConfigError(std::string(where) + ": learning-curve floor (" + std::to_string(floor) + ") must be in [0, 1)");
  }
  /// The error after `images` images for a cell with `error_lo` after `images_lo` (both > 0).
  [[nodiscard]] double error_after(double error_lo, double images_lo, double images) const {
    return error_lo * (floor + (1.0 - floor) * std::pow(images_lo / images, exponent));
  }
};

/// One cell measured at two training lengths (images seen), errors in percent.
struct CurvePoint {
  double images_lo = 0.0, error_lo = 0.0;
  double images = 0.0, error = 0.0;
};

/// The learning curve that best fits `points` (least squares on the log of the error
/// ratios), pulled towards `prior` by `prior_weight` (per parameter, squared distance):
/// with points of only one length ratio, the exponent and the floor trade off against
/// each other and the prior decides between equally good fits. Points with a
/// non-positive or non-finite figure are skipped; none left gives `prior`. The search is
/// a grid (exponent 0.02 to 2 by 0.01, floor 0 to 0.95 by 0.01), so the answer is
/// deterministic and the fit never fails.
[[nodiscard]] inline LearningCurve fit_learning_curve(std::span<const CurvePoint> points, const LearningCurve& prior = {},
                                                      double prior_weight = 0.01) {
  prior.validate("fit_learning_curve");
  if (!(prior_weight >= 0.0) || !std::isfinite(prior_weight))
    throw ConfigError("fit_learning_curve: prior_weight (" + std::to_string(prior_weight) + ") must be a finite number >= 0");
  std::vector<std::pair<double, double>> obs;  // (images_lo / images, log(error / error_lo))
  for (const auto& p : points) {
    const bool good = p.images_lo > 0 && p.images > 0 && p.error_lo > 0 && p.error > 0 && std::isfinite(p.images_lo) &&
                      std::isfinite(p.images) && std::isfinite(p.error_lo) && std::isfinite(p.error) && p.images != p.images_lo;
    if (good) obs.emplace_back(p.images_lo / p.images, std::log(p.error / p.error_lo));
  }
  if (obs.empty()) return prior;
  LearningCurve best = prior;
  double best_loss = std::numeric_limits<double>::infinity();
  for (int g = 2; g <= 200; ++g) {
    for (int f = 0; f <= 95; ++f) {
      const LearningCurve c{g / 100.0, f / 100.0};
      double loss = prior_weight * ((c.exponent - prior.exponent) * (c.exponent - prior.exponent) +
                                    (c.floor - prior.floor) * (c.floor - prior.floor));
      for (const auto& [ratio, log_err] : obs) {
        const double d = std::log(c.floor + (1.0 - c.floor) * std::pow(ratio, c.exponent)) - log_err;
        loss += d * d / static_cast<double>(obs.size());
      }
      if (loss < best_loss) best_loss = loss, best = c;
    }
  }
  return best;
}

/// The curve points in a run's history: every successful trial of an architecture at
/// more epochs than its shortest successful one, paired with that shortest (Hyperband
/// and successive halving promote cells, so their histories have them; a single-fidelity
/// search has none). Lengths come from the metric `epochs_total` (the trained
/// estimator's), else the trial's fidelity; errors are 100 - the metric `accuracy` when
/// present (FinalAccuracy and MnasReward keep the raw accuracy there), else 100 - score.
template <class Arch>
std::vector<CurvePoint> curve_points(const History<Arch>& history, double images_per_epoch) {
  if (!(images_per_epoch > 0.0))
    throw ConfigError("curve_points: images_per_epoch (" + std::to_string(images_per_epoch) + ") must be > 0");
  struct Seen {
    double epochs, error;
  };
  std::vector<std::pair<const Arch*, std::vector<Seen>>> by_arch;
  for (const auto& t : history) {
    if (!t.eval.ok()) continue;
    const double epochs = t.eval.metrics.get_or(metric::epochs_total, t.fidelity.is_default() ? 0.0 : t.fidelity.epochs);
    const double error = 100.0 - t.eval.metrics.get_or("accuracy", t.eval.score);
    if (!(epochs > 0.0)) continue;
    auto it = std::find_if(by_arch.begin(), by_arch.end(), [&](const auto& p) { return *p.first == t.arch; });
    if (it == by_arch.end()) {
      by_arch.push_back({&t.arch, {}});
      it = by_arch.end() - 1;
    }
    it->second.push_back({epochs, error});
  }
  std::vector<CurvePoint> out;
  for (const auto& [arch, seen] : by_arch) {
    const auto lo = std::min_element(seen.begin(), seen.end(), [](const Seen& a, const Seen& b) { return a.epochs < b.epochs; });
    for (const auto& s : seen)
      if (s.epochs > lo->epochs)
        out.push_back({lo->epochs * images_per_epoch, lo->error, s.epochs * images_per_epoch, s.error});
  }
  return out;
}

/// What FinalAccuracy predicts for: the final training's length and pace, and the curve.
struct FinalAccuracyOptions {
  /// Seconds of training the final network will get (the job's budget after the search,
  /// less what the test pass and report keep back).
  double final_seconds = 0.0;
  /// Images in one epoch of the candidates' training (the training subset's size): the
  /// images a candidate saw are its `epochs_total` times this.
  double search_images_per_epoch = 0.0;
  /// Seconds per training image of the final recipe over those of the candidates'
  /// (wider network, other batch size): one figure for every cell, e.g. timed on one
  /// typical cell with both recipes. Under a pure power law it does not change the
  /// ranking; with the floor it sets how near the plateau the final training gets.
  double slowdown = 1.0;
  LearningCurve curve{};

  void validate(const char* where) const {
    const auto bad = [where](const char* name, double v, const char* what) {
      throw ConfigError(std::string(where) + ": " + name + " (" + std::to_string(v) + ") " + what);
    };
    if (!(final_seconds > 0.0) || !std::isfinite(final_seconds)) bad("final_seconds", final_seconds, "must be a finite number > 0");
    if (!(search_images_per_epoch > 0.0) || !std::isfinite(search_images_per_epoch))
      bad("search_images_per_epoch", search_images_per_epoch, "must be a finite number > 0");
    if (!(slowdown > 0.0) || !std::isfinite(slowdown)) bad("slowdown", slowdown, "must be a finite number > 0");
    curve.validate(where);
  }
};

/// The accuracy (percent) a cell is predicted to reach in the final training: `accuracy`
/// after `images_lo` images at `seconds_per_image` (the candidates' pace), the final
/// training seeing final_seconds / (seconds_per_image * slowdown) images.
[[nodiscard]] inline double predicted_final_accuracy(double accuracy, double images_lo, double seconds_per_image,
                                                     const FinalAccuracyOptions& o) {
  const double final_images = o.final_seconds / (seconds_per_image * o.slowdown);
  return 100.0 - o.curve.error_after(100.0 - accuracy, images_lo, final_images);
}

/// An estimator whose score is the accuracy the cell is predicted to reach in the final
/// training the time left affords, on this machine: the wrapped estimator's accuracy (a
/// short training's, in percent) and its measured training pace (`train_seconds` over the
/// images of this evaluation's epochs), carried to the final training's length by the
/// learning curve. The evaluation keeps the wrapped one's cost, epochs and metrics, and
/// adds `accuracy` (the wrapped score), `seconds_per_image` and `final_images`. Any
/// strategy searching it optimises what the job delivers rather than the short
/// training's accuracy, which prefers slow cells that the final training then gives
/// fewer epochs.
///
/// The pace is a measurement, so the scores (and a search on them) vary with the
/// machine's load; a cell evaluated again without new training (a cached run) keeps the
/// pace it was first measured at. Est: an Estimator whose score is an accuracy in percent
/// and whose evaluations carry `train_seconds` and `epochs_total` (TrainedEstimator's do).
/// Made from an lvalue it refers to that estimator; from a temporary it owns it (one
/// objective per worker: `per_worker([&](std::size_t) { return FinalAccuracy(
/// TrainedEstimator(...), options); })`).
template <class Est>
class FinalAccuracy {
  using Inner = std::remove_reference_t<Est>;

 public:
  FinalAccuracy(Est&& inner, FinalAccuracyOptions options) : inner_(std::forward<Est>(inner)), opt_(options) {
    opt_.validate("FinalAccuracy");
  }

  template <class Arch>
  Evaluation evaluate(const Arch& arch, Fidelity fidelity) {
    static_assert(check_estimator<Inner, Arch>());
    return score(arch, inner_.evaluate(arch, fidelity));
  }
  template <class Arch>
    requires requires(Inner& e, const Arch& a, Fidelity f, EvalContext& c) { e.evaluate(a, f, c); }
  Evaluation evaluate(const Arch& arch, Fidelity fidelity, EvalContext& context) {
    return score(arch, inner_.evaluate(arch, fidelity, context));
  }

  [[nodiscard]] const FinalAccuracyOptions& options() const noexcept { return opt_; }

 private:
  template <class Arch>
  Evaluation score(const Arch& arch, Evaluation e) {
    if (!e.ok()) return e;
    const auto seconds = e.metrics.get(metric::train_seconds);
    const auto total = e.metrics.get(metric::epochs_total);
    if (!seconds || !total)
      throw ConfigError("FinalAccuracy: the wrapped estimator's evaluation has no 'train_seconds' or 'epochs_total' metric");
    const std::size_t key = std::hash<Arch>{}(arch);
    double pace = 0.0;
    {
      std::lock_guard lock(pace_->mutex);
      if (e.epochs > 0.0 && *seconds > 0.0) pace_->by_arch[key] = *seconds / (e.epochs * opt_.search_images_per_epoch);
      const auto it = pace_->by_arch.find(key);
      if (it == pace_->by_arch.end())
        return Evaluation::failed("FinalAccuracy: no training pace measured for this cell (no epochs trained)", e.cost_seconds);
      pace = it->second;
    }
    const double images_lo = *total * opt_.search_images_per_epoch;
    e.metrics.set("accuracy", e.score);
    e.metrics.set("seconds_per_image", pace);
    e.metrics.set("final_images", opt_.final_seconds / (pace * opt_.slowdown));
    e.score = predicted_final_accuracy(e.score, images_lo, pace, opt_);
    return e;
  }

  struct Paces {
    std::mutex mutex;
    std::unordered_map<std::size_t, double> by_arch;
  };
  Est inner_;
  FinalAccuracyOptions opt_;
  std::shared_ptr<Paces> pace_ = std::make_shared<Paces>();
};

template <class Est>
FinalAccuracy(Est&&, FinalAccuracyOptions) -> FinalAccuracy<Est>;

}  // namespace nas
