// SuccessiveHalving: many candidates at low fidelity, the best 1/eta promoted rung by rung.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/history.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"

namespace nas {

/// The default candidate sampler of SuccessiveHalving and Hyperband: `space.sample(rng)`.
///
/// A Sampler is default-constructible (one instance per run, so it may keep state) and
/// callable as `Arch operator()(const Space&, Rng&, const History<Arch>&)`; the history
/// lets model-based samplers (BOHB-style) propose candidates from what was seen.
struct UniformSampler {
  template <class Space>
  typename Space::Arch operator()(const Space& space, Rng& rng, const History<typename Space::Arch>& /*history*/) {
    return space.sample(rng);
  }
};

/// Options shared by SuccessiveHalving and Hyperband.
struct SuccessiveHalvingOptions {
  double eta = 3.0;           ///< keep the top 1/eta of each rung (> 1)
  double min_fidelity = 1.0;  ///< epochs of the first rung
  double max_fidelity = 27.0;  ///< epochs of the last rung
  /// An explicit, strictly increasing rung ladder in epochs (e.g. {12, 200} for a table
  /// that only knows those two); when set it replaces the min/max/eta ladder.
  std::vector<double> fidelities{};
  /// Candidates of the first rung; 0 derives it: from an evaluation budget, the most
  /// that one bracket can afford, otherwise ceil(eta^(rungs-1)), which leaves one
  /// candidate in the last rung. (Hyperband ignores it: its brackets fix their own.)
  std::size_t candidates = 0;
  std::uint64_t seed = 0;
};

namespace detail {

/// Throws ConfigError naming `where` for out-of-range options; returns the rung ladder
/// min*eta^k (k = 0, 1, ...) below max, then max — or the explicit ladder.
inline std::vector<double> halving_ladder(const SuccessiveHalvingOptions& o, const char* where) {
  if (!(o.eta > 1.0)) throw ConfigError(std::string(where) + ": eta (" + detail::num_str(o.eta) + ") must be > 1");
  if (!o.fidelities.empty()) {
    for (std::size_t i = 0; i < o.fidelities.size(); ++i) {
      if (!(o.fidelities[i] > 0.0) || !std::isfinite(o.fidelities[i]))
        throw ConfigError(std::string(where) + ": fidelity " + detail::num_str(o.fidelities[i]) + " must be finite and > 0");
      if (i > 0 && !(o.fidelities[i] > o.fidelities[i - 1]))
        throw ConfigError(std::string(where) + ": fidelities must increase, but " + detail::num_str(o.fidelities[i]) + " follows " +
                          detail::num_str(o.fidelities[i - 1]));
    }
    return o.fidelities;
  }
  if (!(o.min_fidelity > 0.0) || !std::isfinite(o.min_fidelity))
    throw ConfigError(std::string(where) + ": min_fidelity (" + detail::num_str(o.min_fidelity) + ") must be finite and > 0");
  if (!(o.max_fidelity >= o.min_fidelity) || !std::isfinite(o.max_fidelity))
    throw ConfigError(std::string(where) + ": max_fidelity (" + detail::num_str(o.max_fidelity) + ") is below min_fidelity (" +
                      detail::num_str(o.min_fidelity) + ")");
  std::vector<double> ladder;
  for (double r = o.min_fidelity; r < o.max_fidelity * (1.0 - 1e-9); r *= o.eta) ladder.push_back(r);
  ladder.push_back(o.max_fidelity);
  return ladder;
}

/// Candidates promoted out of a rung of n: floor(n / eta), at least 1.
inline std::size_t promoted_count(std::size_t n, double eta) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(static_cast<double>(n) / eta + 1e-9)));
}

/// Evaluations one bracket of n candidates makes over `rungs` rungs.
inline std::size_t bracket_evaluations(std::size_t n, std::size_t rungs, double eta) {
  std::size_t total = 0;
  for (std::size_t k = 0; k < rungs && n > 0; ++k) {
    total += n;
    n = promoted_count(n, eta);
  }
  return total;
}

/// One successive-halving bracket: sample n candidates, evaluate them at ladder[0],
/// keep the best floor(n/eta) ok ones (failed never promoted; ties keep the earlier
/// candidate) for ladder[1], and so on. Tells callbacks a generation per rung.
/// Returns false if the budget or a callback stopped it midway.
template <class Space, class Sampler, class Ctx>
bool halving_bracket(const Space& space, Sampler& sampler, Ctx& ctx, Rng& rng, std::size_t n,
                     const std::vector<double>& ladder, double eta, std::size_t& generation) {
  using Arch = typename Space::Arch;
  std::vector<Arch> rung;
  rung.reserve(n);
  for (std::size_t i = 0; i < n; ++i) rung.push_back(sampler(space, rng, ctx.history()));
  std::vector<std::pair<double, std::size_t>> scored;
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    scored.clear();
    for (std::size_t i = 0; i < rung.size(); ++i) {
      if (ctx.done()) return false;
      const auto& t = ctx.evaluate(rung[i], Fidelity{ladder[k]});
      if (t.eval.ok()) scored.emplace_back(t.eval.score, i);
    }
    ctx.generation(generation++);
    if (k + 1 == ladder.size() || scored.empty()) break;
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    scored.resize(std::min(scored.size(), promoted_count(rung.size(), eta)));
    std::vector<Arch> next;
    next.reserve(scored.size());
    for (const auto& s : scored) next.push_back(rung[s.second]);
    rung = std::move(next);
  }
  return true;
}

/// The recommendation of multi-fidelity strategies: among ok trials, the best score at
/// the highest fidelity reached (scores at different fidelities are not comparable).
template <class Arch>
const Trial<Arch>* best_at_highest_fidelity(const History<Arch>& history) {
  const Trial<Arch>* best = nullptr;
  for (const auto& t : history) {
    if (!t.eval.ok()) continue;
    if (!best || t.fidelity.epochs > best->fidelity.epochs ||
        (t.fidelity.epochs == best->fidelity.epochs && t.eval.score > best->eval.score))
      best = &t;
  }
  return best;
}

}  // namespace detail

/// Successive halving (Jamieson & Talwalkar 2016): sample n candidates, evaluate all at
/// the lowest fidelity, promote the top 1/eta by score to the next rung, and so on up
/// to the highest fidelity; brackets repeat with fresh candidates until the budget is
/// spent. Rungs sit at min_fidelity * eta^k below max_fidelity, then max_fidelity (or
/// at `fidelities`).
///
/// A promoted architecture is evaluated again at the higher fidelity: SH asks the
/// estimator for the same arch at increasing fidelity, and the estimator decides what
/// that costs — a training estimator may resume from a checkpoint and charge only the
/// extra epochs, a tabular one charges what its table says. The cost charged to the
/// budget is what the estimator reports.
///
/// The recommendation is the best architecture at the highest rung reached.
///
/// Sampler: see UniformSampler for the requirements.
template <class Sampler = UniformSampler>
class SuccessiveHalving {
 public:
  using Options = SuccessiveHalvingOptions;

  SuccessiveHalving() = default;
  explicit SuccessiveHalving(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    const std::vector<double> ladder = detail::halving_ladder(options_, "SuccessiveHalving::run");
    budget.require_bounded("SuccessiveHalving::run");
    const std::size_t n = initial_candidates(ladder.size(), budget);

    RunContext<Arch, Est, Callbacks...> ctx("SuccessiveHalving", estimator, budget, callbacks...);
    Rng rng(options_.seed);
    Sampler sampler{};
    std::size_t generation = 0;
    while (!ctx.done())
      if (!detail::halving_bracket(space, sampler, ctx, rng, n, ladder, options_.eta, generation)) break;
    return ctx.finish(detail::best_at_highest_fidelity(ctx.history()));
  }

  /// The first rung's size for a ladder of `rungs` rungs under `budget` (see Options).
  [[nodiscard]] std::size_t initial_candidates(std::size_t rungs, const Budget& budget) const {
    if (options_.candidates > 0) return options_.candidates;
    const auto base = static_cast<std::size_t>(std::ceil(std::pow(options_.eta, static_cast<double>(rungs - 1)) - 1e-9));
    if (!budget.evaluations) return std::max<std::size_t>(1, base);
    std::size_t n = 1;
    while (detail::bracket_evaluations(n + 1, rungs, options_.eta) <= *budget.evaluations) ++n;
    return n;
  }

 private:
  Options options_;
};

SuccessiveHalving() -> SuccessiveHalving<>;
SuccessiveHalving(const SuccessiveHalvingOptions&) -> SuccessiveHalving<>;

}  // namespace nas
