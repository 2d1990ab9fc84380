// Reinforce: a per-decision categorical policy trained by REINFORCE with a moving-average baseline.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/search/categorical.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/softmax.hpp"

namespace nas {

/// REINFORCE (Williams 1992) over a CategoricalSpace, as the NAS-Bench-201 paper's RL
/// baseline (Dong & Yang 2020): the policy is one independent softmax per decision,
/// logits initialized to zero (uniform). Each step samples choices, evaluates the
/// architecture and, with reward R = score and baseline b updated first as
/// b <- momentum * b + (1 - momentum) * R (b = R at the first ok step), takes one Adam
/// step (Kingma & Ba 2015; nas::Adam, so float logits) on the loss
/// -(R - b) * sum_i log p_i(choice_i), whose gradient wrt the logits of decision i is
/// -(R - b) * (onehot(choice_i) - p_i).
/// Failed evaluations give no reward and no update. Tells callbacks a generation per
/// step. Recommends the best architecture evaluated.
///
/// Space: must satisfy CategoricalSpace (nas/search/categorical.hpp).
class Reinforce {
 public:
  struct Options {
    double learning_rate = 0.01;  ///< Adam step size
    double momentum = 0.9;        ///< of the exponential-moving-average baseline, in [0, 1)
    Fidelity fidelity{};          ///< fidelity of every evaluation
    std::uint64_t seed = 0;
  };

  Reinforce() = default;
  explicit Reinforce(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp). Each ask
  /// samples from the current policy; each tell takes one policy-gradient step, so
  /// asynchronous use updates the policy in the order results arrive.
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, const Options& options) : space_(&space), options_(options), rng_(options.seed) {
      const std::size_t decisions = space.num_decisions();
      offset_.assign(decisions + 1, 0);
      for (std::size_t i = 0; i < decisions; ++i) {
        const std::size_t k = space.num_choices(i);
        if (k == 0) throw ConfigError("Reinforce::run: decision " + std::to_string(i) + " has 0 choices");
        offset_[i + 1] = offset_[i] + k;
      }
      // The logits of every decision in one parameter (per-decision offsets), trained by the
      // tensor layer's Adam; held on the heap because Adam keeps a pointer to them.
      policy_ = std::make_unique<Policy>(offset_.back(), options.learning_rate);
      probs_.assign(offset_.back(), 0.0);
    }

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      const std::size_t decisions = offset_.size() - 1;
      std::vector<int> choices(decisions, 0);
      policy_probs();
      for (std::size_t i = 0; i < decisions; ++i) {
        const std::size_t b = offset_[i], n = offset_[i + 1] - b;
        choices[i] = static_cast<int>(draw(std::span<const double>(probs_.data() + b, n), rng_));
      }
      Proposal<Arch> p{new_id(), space_->from_choices(std::span<const int>(choices)), options_.fidelity};
      pending_.emplace_back(p.id, std::move(choices));
      return p;
    }

    void tell(std::size_t id, const Evaluation& e) {
      mark_told();
      std::vector<int> choices;
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->first == id) {
          choices = std::move(it->second);
          pending_.erase(it);
          break;
        }
      if (choices.empty() && offset_.size() > 1)
        throw ConfigError("Reinforce::tell: unknown proposal id " + std::to_string(id));
      if (e.ok()) {
        const double reward = e.score;
        baseline_ = have_baseline_ ? options_.momentum * baseline_ + (1.0 - options_.momentum) * reward : reward;
        have_baseline_ = true;
        const double advantage = reward - baseline_;
        policy_probs();  // the policy the choices were drawn from, when told in order
        float* g = policy_->logits.grad.data();
        for (std::size_t i = 0; i + 1 < offset_.size(); ++i)
          for (std::size_t j = offset_[i]; j < offset_[i + 1]; ++j) {
            const double onehot = static_cast<int>(j - offset_[i]) == choices[i] ? 1.0 : 0.0;
            g[j] = static_cast<float>(-advantage * (onehot - probs_[j]));
          }
        policy_->logits.has_grad = true;  // written by hand: Adam steps only parameters that received a gradient
        policy_->adam.step();
      }
      generation(steps_++);
    }

    [[nodiscard]] static std::string name() { return "Reinforce"; }
    /// The current policy's probabilities, decision after decision.
    [[nodiscard]] std::vector<double> probabilities() {
      policy_probs();
      return probs_;
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

    const Space* space_;
    Options options_;
    Rng rng_;
    std::vector<std::size_t> offset_;
    std::unique_ptr<Policy> policy_;
    std::vector<double> probs_;
    std::vector<std::pair<std::size_t, std::vector<int>>> pending_;
    double baseline_ = 0.0;
    bool have_baseline_ = false;
    std::size_t steps_ = 0;
  };

  /// A fresh run's state; checks the options. `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    static_assert(check_categorical_space<Space>());
    validate();
    return State<Space>(space, options_);
  }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_categorical_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    validate();
    budget.require_bounded("Reinforce::run");
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx("Reinforce", estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

 private:
  void validate() const {
    if (!(options_.learning_rate > 0.0) || !std::isfinite(options_.learning_rate))
      throw ConfigError("Reinforce::run: learning_rate (" + detail::num_str(options_.learning_rate) + ") must be finite and > 0");
    if (!(options_.momentum >= 0.0 && options_.momentum < 1.0))
      throw ConfigError("Reinforce::run: momentum (" + detail::num_str(options_.momentum) + ") must lie in [0, 1)");
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
};

}  // namespace nas
