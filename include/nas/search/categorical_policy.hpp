// CategoricalPolicy: one softmax per decision, trained by REINFORCE with a moving-average baseline (Reinforce, ENAS).
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/softmax.hpp"

namespace nas {

/// A policy over `num_choices.size()` independent categorical decisions, decision i
/// with num_choices[i] options: one softmax per decision over logits initialised to zero
/// (the uniform policy). update(choices, R) takes one REINFORCE step (Williams 1992):
/// the baseline is updated first, b <- momentum * b + (1 - momentum) * R (b = R on the
/// first update), then one Adam step (Kingma & Ba 2015; nas::Adam on float logits) on the
/// loss -(R - b) * sum_i log p_i(choice_i) - beta * sum_i H(p_i), whose gradient wrt the
/// logit j of decision i is -(R - b) * (onehot(choice_i) - p_ij) + beta * p_ij * (log p_ij + H(p_i)).
/// The entropy bonus beta (`entropy_weight`, in units of the reward per nat; 0: none) is the
/// entropy regularisation of ENAS (Pham et al. 2018) and of A3C (Mnih et al. 2016): it keeps
/// the policy from collapsing onto the first paths it likes. As in ENAS's code the baseline
/// takes in R before the advantage is formed, so R - b = momentum * (R - b_before): for one
/// decision with expected rewards r_k the stationary policy is softmax(momentum * r / beta)
/// (a test checks it). The Reinforce strategy and the ENAS controller of OneShot share it.
class CategoricalPolicy {
 public:
  struct Options {
    double learning_rate = 0.01;  ///< Adam step size
    double momentum = 0.9;        ///< of the exponential-moving-average baseline, in [0, 1)
    double entropy_weight = 0.0;  ///< beta: reward per nat of entropy, >= 0 (0: no bonus)
  };

  /// `where` names the caller in error messages.
  CategoricalPolicy(std::span<const std::size_t> num_choices, const Options& options, const char* where = "CategoricalPolicy")
      : options_(options) {
    if (!(options.learning_rate > 0.0) || !std::isfinite(options.learning_rate))
      throw ConfigError(std::string(where) + ": learning_rate (" + std::to_string(options.learning_rate) +
                        ") must be finite and > 0");
    if (!(options.momentum >= 0.0 && options.momentum < 1.0))
      throw ConfigError(std::string(where) + ": momentum (" + std::to_string(options.momentum) + ") must lie in [0, 1)");
    if (!(options.entropy_weight >= 0.0) || !std::isfinite(options.entropy_weight))
      throw ConfigError(std::string(where) + ": entropy_weight (" + std::to_string(options.entropy_weight) +
                        ") must be finite and >= 0");
    offset_.assign(num_choices.size() + 1, 0);
    for (std::size_t i = 0; i < num_choices.size(); ++i) {
      if (num_choices[i] == 0) throw ConfigError(std::string(where) + ": decision " + std::to_string(i) + " has 0 choices");
      offset_[i + 1] = offset_[i] + num_choices[i];
    }
    // The logits of every decision in one parameter (per-decision offsets), trained by the
    // tensor layer's Adam; held on the heap because Adam keeps a pointer to them.
    policy_ = std::make_unique<Policy>(offset_.back(), options.learning_rate);
    probs_.assign(offset_.back(), 0.0);
  }

  [[nodiscard]] std::size_t num_decisions() const noexcept { return offset_.size() - 1; }
  [[nodiscard]] std::size_t num_choices(std::size_t i) const { return offset_.at(i + 1) - offset_.at(i); }

  /// Draws one choice per decision from the current policy into `choices`.
  void sample(std::span<int> choices, Rng& rng) {
    policy_probs();
    for (std::size_t i = 0; i + 1 < offset_.size(); ++i) {
      const std::size_t b = offset_[i], n = offset_[i + 1] - b;
      choices[i] = static_cast<int>(draw(std::span<const double>(probs_.data() + b, n), rng));
    }
  }
  [[nodiscard]] std::vector<int> sample(Rng& rng) {
    std::vector<int> c(num_decisions(), 0);
    sample(c, rng);
    return c;
  }

  /// One policy-gradient step for `choices` with reward `reward` (see the class comment).
  void update(std::span<const int> choices, double reward) {
    baseline_ = have_baseline_ ? options_.momentum * baseline_ + (1.0 - options_.momentum) * reward : reward;
    have_baseline_ = true;
    const double advantage = reward - baseline_;
    policy_probs();  // the policy the choices were drawn from, when updated in order
    float* g = policy_->logits.grad.data();
    const double beta = options_.entropy_weight;
    for (std::size_t i = 0; i + 1 < offset_.size(); ++i) {
      const double h = beta > 0.0 ? entropy_of_probs(i) : 0.0;
      for (std::size_t j = offset_[i]; j < offset_[i + 1]; ++j) {
        const double onehot = static_cast<int>(j - offset_[i]) == choices[i] ? 1.0 : 0.0;
        const double p = probs_[j];
        const double bonus = beta > 0.0 && p > 0.0 ? beta * p * (std::log(p) + h) : 0.0;  // d(-beta H)/dz_j
        g[j] = static_cast<float>(-advantage * (onehot - p) + bonus);
      }
    }
    policy_->logits.has_grad = true;  // written by hand: Adam steps only parameters that received a gradient
    policy_->adam.step();
  }

  /// The current policy's probabilities, decision after decision.
  [[nodiscard]] std::vector<double> probabilities() {
    policy_probs();
    return probs_;
  }
  /// The most probable choice of every decision (the first of equals).
  [[nodiscard]] std::vector<int> mode() {
    policy_probs();
    std::vector<int> c(num_decisions(), 0);
    for (std::size_t i = 0; i + 1 < offset_.size(); ++i)
      for (std::size_t j = offset_[i]; j < offset_[i + 1]; ++j)
        if (probs_[j] > probs_[offset_[i] + static_cast<std::size_t>(c[i])]) c[i] = static_cast<int>(j - offset_[i]);
    return c;
  }
  [[nodiscard]] double baseline() const noexcept { return baseline_; }
  /// The entropy of decision i's current distribution, in nats (log num_choices(i) when uniform).
  [[nodiscard]] double entropy(std::size_t i) {
    if (i + 1 >= offset_.size()) throw ConfigError("CategoricalPolicy: decision " + std::to_string(i) + " of " +
                                                   std::to_string(num_decisions()));
    policy_probs();
    return entropy_of_probs(i);
  }
  /// The mean entropy over the decisions, in nats.
  [[nodiscard]] double mean_entropy() {
    policy_probs();
    double h = 0.0;
    for (std::size_t i = 0; i < num_decisions(); ++i) h += entropy_of_probs(i);
    return num_decisions() ? h / static_cast<double>(num_decisions()) : 0.0;
  }

 private:
  struct Policy {
    Parameter logits;  // zero: the uniform policy
    Adam adam;
    Policy(std::size_t n, double lr) : logits("logits", Shape{static_cast<int>(n)}), adam({&logits}, {.lr = lr}) {}
  };
  void policy_probs() {
    const std::span<const float> z(policy_->logits.value.data(), offset_.back());
    for (std::size_t i = 0; i + 1 < offset_.size(); ++i) {
      const std::size_t b = offset_[i], n = offset_[i + 1] - b;
      softmax(z.subspan(b, n), std::span<double>(probs_).subspan(b, n));
    }
  }
  // Decision i's entropy from probs_ as they stand (policy_probs() called before).
  [[nodiscard]] double entropy_of_probs(std::size_t i) const {
    double h = 0.0;
    for (std::size_t j = offset_[i]; j < offset_[i + 1]; ++j)
      if (probs_[j] > 0.0) h -= probs_[j] * std::log(probs_[j]);
    return h;
  }
  // Inverse-CDF draw from normalized probabilities (no validation in the hot loop).
  static std::size_t draw(std::span<const double> p, Rng& rng) {
    double r = rng.uniform();
    for (std::size_t j = 0; j < p.size(); ++j) {
      r -= p[j];
      if (r < 0.0) return j;
    }
    return p.size() - 1;
  }

  Options options_;
  std::vector<std::size_t> offset_;
  std::unique_ptr<Policy> policy_;
  std::vector<double> probs_;
  double baseline_ = 0.0;
  bool have_baseline_ = false;
};

}  // namespace nas
