// Reinforce: a per-decision categorical policy trained by REINFORCE with a moving-average baseline.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

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

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_categorical_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    if (!(options_.learning_rate > 0.0) || !std::isfinite(options_.learning_rate))
      throw ConfigError("Reinforce::run: learning_rate (" + detail::num_str(options_.learning_rate) + ") must be finite and > 0");
    if (!(options_.momentum >= 0.0 && options_.momentum < 1.0))
      throw ConfigError("Reinforce::run: momentum (" + detail::num_str(options_.momentum) + ") must lie in [0, 1)");
    budget.require_bounded("Reinforce::run");

    // The logits of every decision in one parameter (per-decision offsets), trained by
    // the tensor layer's Adam.
    const std::size_t decisions = space.num_decisions();
    std::vector<std::size_t> offset(decisions + 1, 0);
    for (std::size_t i = 0; i < decisions; ++i) {
      const std::size_t k = space.num_choices(i);
      if (k == 0) throw ConfigError("Reinforce::run: decision " + std::to_string(i) + " has 0 choices");
      offset[i + 1] = offset[i] + k;
    }
    Parameter logits("logits", Shape{static_cast<int>(offset.back())});  // zero: the uniform policy
    Adam adam({&logits}, {.lr = options_.learning_rate});
    std::vector<double> probs(offset.back(), 0.0);
    std::vector<int> choices(decisions, 0);

    RunContext<Arch, Est, Callbacks...> ctx("Reinforce", estimator, budget, callbacks...);
    Rng rng(options_.seed);
    double baseline = 0.0;
    bool have_baseline = false;
    const std::span<const float> z(logits.value.data(), offset.back());
    for (std::size_t step = 0; !ctx.done(); ++step) {
      for (std::size_t i = 0; i < decisions; ++i) {
        const std::size_t b = offset[i], n = offset[i + 1] - b;
        softmax(z.subspan(b, n), std::span<double>(probs).subspan(b, n));
        choices[i] = static_cast<int>(draw(std::span<const double>(probs.data() + b, n), rng));
      }
      const auto& t = ctx.evaluate(space.from_choices(std::span<const int>(choices)), options_.fidelity);
      if (t.eval.ok()) {
        const double reward = t.eval.score;
        baseline = have_baseline ? options_.momentum * baseline + (1.0 - options_.momentum) * reward : reward;
        have_baseline = true;
        const double advantage = reward - baseline;
        float* g = logits.grad.data();
        for (std::size_t i = 0; i < decisions; ++i)
          for (std::size_t j = offset[i]; j < offset[i + 1]; ++j) {
            const double onehot = static_cast<int>(j - offset[i]) == choices[i] ? 1.0 : 0.0;
            g[j] = static_cast<float>(-advantage * (onehot - probs[j]));
          }
        logits.has_grad = true;  // written by hand: Adam steps only parameters that received a gradient
        adam.step();
      }
      ctx.generation(step);
    }
    return ctx.finish();
  }

 private:
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
