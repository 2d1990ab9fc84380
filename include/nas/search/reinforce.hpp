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
#include "nas/search/categorical_policy.hpp"

namespace nas {

/// REINFORCE (Williams 1992) over a CategoricalSpace, as the NAS-Bench-201 paper's RL
/// baseline (Dong & Yang 2020): the policy is a CategoricalPolicy (one independent
/// softmax per decision, logits initialized to zero: uniform). Each step samples choices,
/// evaluates the architecture and, with reward R = score and baseline b updated first as
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
    double entropy_weight = 0.0;  ///< entropy bonus, score per nat (CategoricalPolicy; 0: none)
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

    State(const Space& space, const Options& options)
        : space_(&space),
          options_(options),
          rng_(options.seed),
          policy_(num_choices_of(space), policy_options(options), "Reinforce::run") {}

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      std::vector<int> choices(policy_.num_decisions(), 0);
      policy_.sample(choices, rng_);
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
      if (choices.empty() && policy_.num_decisions() > 0)
        throw ConfigError("Reinforce::tell: unknown proposal id " + std::to_string(id));
      if (e.ok()) policy_.update(choices, e.score);
      generation(steps_++);
    }

    [[nodiscard]] static std::string name() { return "Reinforce"; }
    /// The current policy's probabilities, decision after decision.
    [[nodiscard]] std::vector<double> probabilities() { return policy_.probabilities(); }

   private:
    static std::vector<std::size_t> num_choices_of(const Space& space) {
      std::vector<std::size_t> k(space.num_decisions());
      for (std::size_t i = 0; i < k.size(); ++i) k[i] = space.num_choices(i);
      return k;
    }
    static CategoricalPolicy::Options policy_options(const Options& o) {
      return {.learning_rate = o.learning_rate, .momentum = o.momentum, .entropy_weight = o.entropy_weight};
    }

    const Space* space_;
    Options options_;
    Rng rng_;
    CategoricalPolicy policy_;
    std::vector<std::pair<std::size_t, std::vector<int>>> pending_;
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

  Options options_;
};

}  // namespace nas
