// Hyperband: successive-halving brackets that trade many cheap candidates against few full ones.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/search/successive_halving.hpp"

namespace nas {

/// Hyperband (Li et al. 2017, JMLR 18(185), Algorithm 1). With R = max/min fidelity,
/// s_max = floor(log_eta R); bracket s (s = s_max, ..., 0) runs successive halving on
/// n = ceil((s_max + 1) / (s + 1) * eta^s) candidates starting at fidelity
/// max * eta^-s, so the most aggressive bracket starts many candidates at min_fidelity
/// and the last one trains a few at max_fidelity only. Brackets loop until the budget
/// is spent. With an explicit ladder (`fidelities`, k rungs) s_max = k - 1 and bracket
/// s uses the top s + 1 rungs. `candidates` is ignored.
///
/// As in SuccessiveHalving, promoted architectures are re-evaluated at higher fidelity
/// (the estimator decides whether training resumes and what it charges), and the
/// recommendation is the best architecture at the highest fidelity reached.
///
/// Sampler: see UniformSampler for the requirements.
template <class Sampler = UniformSampler>
class Hyperband {
 public:
  using Options = SuccessiveHalvingOptions;

  Hyperband() = default;
  explicit Hyperband(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    (void)hyperband_ladder();
    budget.require_bounded("Hyperband::run");
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx("Hyperband", estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

  template <class Space>
  using State = detail::HalvingState<Space, Sampler>;

  /// A fresh run's state (brackets s = s_max, ..., 0, repeated); checks the options.
  /// `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    std::vector<double> ladder = hyperband_ladder();
    const std::size_t s_max = ladder.size() - 1;
    std::vector<typename State<Space>::Bracket> schedule;
    for (std::size_t s = s_max + 1; s-- > 0;) schedule.push_back({bracket_size(s, s_max), s_max - s});
    return State<Space>(space, "Hyperband", std::move(ladder), std::move(schedule), options_.eta, options_.seed);
  }

  /// Candidates of bracket s: ceil((s_max + 1) / (s + 1) * eta^s).
  [[nodiscard]] std::size_t bracket_size(std::size_t s, std::size_t s_max) const {
    const double n = static_cast<double>(s_max + 1) / static_cast<double>(s + 1) * std::pow(options_.eta, static_cast<double>(s));
    return static_cast<std::size_t>(std::ceil(n - 1e-9));
  }

  /// The full ladder max * eta^(i - s_max), i = 0..s_max (or the explicit one).
  [[nodiscard]] std::vector<double> hyperband_ladder() const {
    const std::vector<double> checked = detail::halving_ladder(options_, "Hyperband::run");
    if (!options_.fidelities.empty()) return checked;
    const auto s_max = static_cast<std::size_t>(
        std::floor(std::log(options_.max_fidelity / options_.min_fidelity) / std::log(options_.eta) + 1e-9));
    std::vector<double> ladder(s_max + 1);
    for (std::size_t i = 0; i <= s_max; ++i)
      ladder[i] = options_.max_fidelity * std::pow(options_.eta, static_cast<double>(i) - static_cast<double>(s_max));
    return ladder;
  }

 private:
  Options options_;
};

Hyperband() -> Hyperband<>;
Hyperband(const SuccessiveHalvingOptions&) -> Hyperband<>;

}  // namespace nas
