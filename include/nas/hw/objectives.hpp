// Objectives that wrap estimators: MnasNet's latency-aware reward, a hard latency limit, and merged metrics.
#pragma once

#include <cmath>
#include <string>
#include <utility>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"

namespace nas {

/// MnasNet's reward (Tan et al. 2019, "MnasNet: Platform-aware neural architecture search
/// for mobile", eq. 2): ACC(m) x [LAT(m) / T]^w with w = alpha when LAT(m) <= T, beta
/// otherwise. The paper's soft constraint is alpha = beta = -0.07 (a network twice as fast
/// earns about 5% more reward); its hard constraint alpha = 0, beta = -1.
struct MnasRewardOptions {
  double target_ms = 0.0;  ///< T: the latency target
  double alpha = -0.07;    ///< exponent when the latency meets the target
  double beta = -0.07;     ///< exponent when it does not

  [[nodiscard]] static MnasRewardOptions soft(double target_ms) { return {target_ms, -0.07, -0.07}; }
  [[nodiscard]] static MnasRewardOptions hard(double target_ms) { return {target_ms, 0.0, -1.0}; }

  void validate(const char* where) const {
    if (!(target_ms > 0.0) || !std::isfinite(target_ms))
      throw ConfigError(std::string(where) + ": target_ms (" + std::to_string(target_ms) + ") must be a finite number > 0");
    if (!std::isfinite(alpha) || !std::isfinite(beta) || alpha > 0.0 || beta > 0.0)
      throw ConfigError(std::string(where) + ": alpha (" + std::to_string(alpha) + ") and beta (" + std::to_string(beta) +
                        ") must be finite and <= 0");
  }
};

/// The reward of one network: accuracy x (latency / target)^w.
[[nodiscard]] inline double mnas_reward(double accuracy, double latency_ms, const MnasRewardOptions& o) {
  o.validate("mnas_reward");
  if (!(latency_ms > 0.0)) throw ConfigError("mnas_reward: latency_ms (" + std::to_string(latency_ms) + ") must be > 0");
  const double w = latency_ms <= o.target_ms ? o.alpha : o.beta;
  return accuracy * std::pow(latency_ms / o.target_ms, w);
}

namespace detail {
template <class Est, class Arch>
Evaluation latency_of(Est& latency, const Arch& arch, const char* where) {
  Evaluation l = latency.evaluate(arch, Fidelity{});
  if (!l.ok()) return l;
  if (!l.metrics.contains(metric::latency_ms))
    throw ConfigError(std::string(where) + ": the latency estimator's evaluation has no 'latency_ms' metric");
  return l;
}
// a's metrics plus b's (b's win on a name both have).
inline void merge_metrics(Evaluation& a, const Evaluation& b) {
  for (const auto& m : b.metrics) a.metrics.set(m.name, m.value);
}
}  // namespace detail

/// An estimator whose score is MnasNet's reward of `accuracy`'s score and `latency`'s
/// `latency_ms` metric. The evaluation keeps the accuracy estimator's cost, epochs and
/// metrics, adds the latency estimator's metrics, and sets `accuracy` (the wrapped score)
/// and `reward`. Any strategy searching this estimator becomes latency-aware.
///
/// Acc: an Estimator whose score is an accuracy; Lat: an Estimator (for the same Arch)
/// whose evaluation has the metric `latency_ms` (TableLatency, a measured table, ...).
template <class Acc, class Lat>
class MnasReward {
 public:
  MnasReward(Acc& accuracy, Lat& latency, MnasRewardOptions options)
      : acc_(accuracy), lat_(latency), opt_(options) {
    opt_.validate("MnasReward");
  }

  template <class Arch>
  Evaluation evaluate(const Arch& arch, Fidelity fidelity) {
    static_assert(check_estimator<Acc, Arch>());
    static_assert(check_estimator<Lat, Arch>());
    Evaluation l = detail::latency_of(lat_, arch, "MnasReward");
    if (!l.ok()) return l;
    Evaluation e = acc_.evaluate(arch, fidelity);
    if (!e.ok()) return e;
    detail::merge_metrics(e, l);
    const double ms = *l.metrics.get(metric::latency_ms);
    e.metrics.set("accuracy", e.score);
    e.score = mnas_reward(e.score, ms, opt_);
    e.metrics.set("reward", e.score);
    return e;
  }
  [[nodiscard]] const MnasRewardOptions& options() const noexcept { return opt_; }

 private:
  Acc& acc_;
  Lat& lat_;
  MnasRewardOptions opt_;
};

/// A hard latency limit: an architecture whose `latency_ms` exceeds `max_ms` is a failed
/// evaluation ("latency 12.3 ms above the limit of 10 ms") and costs nothing, because the
/// accuracy estimator (the expensive part) is not called for it; otherwise the accuracy
/// estimator's evaluation with the latency metrics added.
template <class Acc, class Lat>
class LatencyConstraint {
 public:
  LatencyConstraint(Acc& accuracy, Lat& latency, double max_ms) : acc_(accuracy), lat_(latency), max_ms_(max_ms) {
    if (!(max_ms > 0.0) || !std::isfinite(max_ms))
      throw ConfigError("LatencyConstraint: max_ms (" + std::to_string(max_ms) + ") must be a finite number > 0");
  }

  template <class Arch>
  Evaluation evaluate(const Arch& arch, Fidelity fidelity) {
    Evaluation l = detail::latency_of(lat_, arch, "LatencyConstraint");
    if (!l.ok()) return l;
    const double ms = *l.metrics.get(metric::latency_ms);
    if (ms > max_ms_) {
      Evaluation f = Evaluation::failed("latency " + std::to_string(ms) + " ms above the limit of " +
                                        std::to_string(max_ms_) + " ms");
      f.metrics.set(metric::latency_ms, ms);
      return f;
    }
    Evaluation e = acc_.evaluate(arch, fidelity);
    detail::merge_metrics(e, l);
    return e;
  }

 private:
  Acc& acc_;
  Lat& lat_;
  double max_ms_;
};

/// The evaluation of `primary` (its score, cost and metrics) with the metrics of `extra`
/// added, e.g. an accuracy estimator and a latency estimator for a multi-objective search
/// that reads both `test_accuracy_200` and `latency_ms`. A failed `extra` fails the whole.
template <class Primary, class Extra>
class WithMetrics {
 public:
  WithMetrics(Primary& primary, Extra& extra) : primary_(primary), extra_(extra) {}

  template <class Arch>
  Evaluation evaluate(const Arch& arch, Fidelity fidelity) {
    Evaluation x = extra_.evaluate(arch, Fidelity{});
    if (!x.ok()) return x;
    Evaluation e = primary_.evaluate(arch, fidelity);
    detail::merge_metrics(e, x);
    e.cost_seconds += x.cost_seconds;
    return e;
  }

 private:
  Primary& primary_;
  Extra& extra_;
};

}  // namespace nas
