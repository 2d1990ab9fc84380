// ToyEstimator (a toy problem's score, optionally noisy, with simulated cost) and FunctionEstimator.
#pragma once

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/rng.hpp"

namespace nas::testing {

/// Scores architectures of a toy problem P (see ToyProblem): the true score plus, when
/// `noise > 0`, Gaussian noise whose standard deviation shrinks with training as
/// noise / sqrt(epochs) — the way a short training run ranks architectures less
/// reliably than a long one. With noise the same arch gets a fresh draw each call
/// (from the estimator's own seeded stream, so a run is still reproducible).
///
/// Each evaluation is charged `seconds_per_epoch * epochs` cost-seconds; `Fidelity{}`
/// means `default_epochs`. The metric "true_score" carries the noiseless score.
template <class P>
class ToyEstimator {
 public:
  struct Options {
    double noise = 0.0;              ///< standard deviation of the score at 1 epoch
    double default_epochs = 1.0;     ///< fidelity used for Fidelity{}
    double seconds_per_epoch = 1.0;  ///< simulated cost of one epoch
    std::uint64_t seed = 0;
  };

  explicit ToyEstimator(const P& problem, Options options = {})
      : problem_(&problem), options_(options), rng_(options.seed) {
    if (!(options_.noise >= 0.0))
      throw ConfigError("ToyEstimator: noise (" + std::to_string(options_.noise) + ") must be >= 0");
    if (!(options_.default_epochs > 0.0))
      throw ConfigError("ToyEstimator: default_epochs (" + std::to_string(options_.default_epochs) + ") must be > 0");
    if (!(options_.seconds_per_epoch >= 0.0))
      throw ConfigError("ToyEstimator: seconds_per_epoch (" + std::to_string(options_.seconds_per_epoch) + ") must be >= 0");
  }

  Evaluation evaluate(const typename P::Arch& arch, Fidelity fidelity) {
    ++calls_;
    const double epochs = fidelity.is_default() ? options_.default_epochs : fidelity.epochs;
    const double truth = problem_->score(arch);
    Evaluation e;
    e.score = options_.noise > 0.0 ? truth + rng_.normal(0.0, options_.noise / std::sqrt(epochs)) : truth;
    e.epochs = epochs;
    e.cost_seconds = epochs * options_.seconds_per_epoch;
    e.metrics.set("true_score", truth);
    return e;
  }

  /// How many evaluations were asked for.
  [[nodiscard]] std::size_t calls() const noexcept { return calls_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

 private:
  const P* problem_;
  Options options_;
  Rng rng_;
  std::size_t calls_ = 0;
};

/// Turns a function into an estimator for any Arch. The function takes
/// `(const Arch&, nas::Fidelity)` and returns either a score (a `double`; charged
/// `cost_per_call` seconds) or a whole nas::Evaluation. A NaN score becomes a failed
/// evaluation in the run (RunContext checks it), which is how tests make failures.
///
///     nas::testing::FunctionEstimator est{[](const auto& a, nas::Fidelity) { return f(a); }};
template <class F>
class FunctionEstimator {
 public:
  explicit FunctionEstimator(F f, double cost_per_call = 1.0) : f_(std::move(f)), cost_(cost_per_call) {}

  template <class Arch>
    requires std::invocable<F&, const Arch&, Fidelity>
  Evaluation evaluate(const Arch& arch, Fidelity fidelity) {
    ++calls_;
    using R = std::invoke_result_t<F&, const Arch&, Fidelity>;
    if constexpr (std::is_convertible_v<R, Evaluation> && !std::is_arithmetic_v<std::remove_cvref_t<R>>) {
      return f_(arch, fidelity);
    } else {
      Evaluation e;
      e.score = static_cast<double>(f_(arch, fidelity));
      e.cost_seconds = cost_;
      e.epochs = fidelity.epochs;
      return e;
    }
  }

  [[nodiscard]] std::size_t calls() const noexcept { return calls_; }

 private:
  F f_;
  double cost_;
  std::size_t calls_ = 0;
};

template <class F>
FunctionEstimator(F) -> FunctionEstimator<F>;
template <class F>
FunctionEstimator(F, double) -> FunctionEstimator<F>;

}  // namespace nas::testing
