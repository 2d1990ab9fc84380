// SuccessiveHalving: many candidates at low fidelity, the best 1/eta promoted rung by rung.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
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

/// The ask/tell state of SuccessiveHalving and Hyperband: brackets taken in turn from
/// `schedule` (candidates, index of the bracket's first rung in `ladder`), cycled until
/// the run ends. Each rung is one synchronous batch: all its candidates are proposed at
/// once, and the next rung is formed when all are told (scores kept per candidate, so
/// the order of the tells does not matter). Tells a generation per finished rung.
template <class Space, class Sampler>
class HalvingState : public StateBase {
 public:
  using Arch = typename Space::Arch;
  struct Bracket {
    std::size_t candidates = 0;
    std::size_t first_rung = 0;
  };

  HalvingState(const Space& space, std::string name, std::vector<double> ladder, std::vector<Bracket> schedule, double eta,
               std::uint64_t seed)
      : space_(&space), name_(std::move(name)), ladder_(std::move(ladder)), schedule_(std::move(schedule)), eta_(eta), rng_(seed) {}

  std::optional<Proposal<Arch>> ask(const History<Arch>& history) {
    if (!in_bracket_) {
      const Bracket& b = schedule_[bracket_];
      rung_.clear();
      rung_.reserve(b.candidates);
      for (std::size_t i = 0; i < b.candidates; ++i) rung_.push_back(sampler_(*space_, rng_, history));
      k_ = b.first_rung;
      begin_rung();
      in_bracket_ = true;
    }
    if (next_slot_ == rung_.size()) return std::nullopt;  // waiting for this rung's results
    if (next_slot_ == 0) first_id_ = asked();
    return Proposal<Arch>{new_id(), rung_[next_slot_++], Fidelity{ladder_[k_]}};
  }

  void tell(std::size_t id, const Evaluation& e) {
    mark_told();
    const std::size_t slot = id - first_id_;
    if (slot >= rung_.size() || done_[slot])
      throw ConfigError(name_ + "::tell: proposal id " + std::to_string(id) + " is not one of the current rung's");
    done_[slot] = 1;
    if (e.ok()) score_[slot] = e.score;
    if (++told_in_rung_ < rung_.size()) return;
    generation(generation_++);
    std::vector<std::pair<double, std::size_t>> scored;
    for (std::size_t i = 0; i < rung_.size(); ++i)
      if (!std::isnan(score_[i])) scored.emplace_back(score_[i], i);
    if (k_ + 1 == ladder_.size() || scored.empty()) {
      in_bracket_ = false;
      bracket_ = (bracket_ + 1) % schedule_.size();
      return;
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    scored.resize(std::min(scored.size(), promoted_count(rung_.size(), eta_)));
    std::vector<Arch> next;
    next.reserve(scored.size());
    for (const auto& s : scored) next.push_back(rung_[s.second]);
    rung_ = std::move(next);
    ++k_;
    begin_rung();
  }

  [[nodiscard]] std::string name() const { return name_; }
  [[nodiscard]] const Trial<Arch>* recommend(const History<Arch>& h) const { return best_at_highest_fidelity(h); }

 private:
  void begin_rung() {
    next_slot_ = told_in_rung_ = 0;
    score_.assign(rung_.size(), std::numeric_limits<double>::quiet_NaN());
    done_.assign(rung_.size(), 0);
  }

  const Space* space_;
  std::string name_;
  std::vector<double> ladder_;
  std::vector<Bracket> schedule_;
  double eta_;
  Rng rng_;
  Sampler sampler_{};
  std::vector<Arch> rung_;
  std::vector<double> score_;
  std::vector<unsigned char> done_;
  std::size_t bracket_ = 0, k_ = 0, next_slot_ = 0, told_in_rung_ = 0, first_id_ = 0, generation_ = 0;
  bool in_bracket_ = false;
};

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
    (void)detail::halving_ladder(options_, "SuccessiveHalving::run");
    budget.require_bounded("SuccessiveHalving::run");

    auto state = start(space, budget);
    RunContext<Arch, Est, Callbacks...> ctx("SuccessiveHalving", estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

  template <class Space>
  using State = detail::HalvingState<Space, Sampler>;

  /// A fresh run's state; checks the options. The budget sets the first rung's size when
  /// `candidates` is 0 (see Options). `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space, const Budget& budget = {}) const {
    static_assert(check_search_space<Space>());
    std::vector<double> ladder = detail::halving_ladder(options_, "SuccessiveHalving::run");
    const std::size_t n = initial_candidates(ladder.size(), budget);
    return State<Space>(space, "SuccessiveHalving", std::move(ladder), {{n, 0}}, options_.eta, options_.seed);
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
