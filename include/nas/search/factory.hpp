// make_strategy: a strategy chosen by name at run time (a command line's --strategy), with its options.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/error.hpp"
#include "nas/core/run.hpp"
#include "nas/search/categorical.hpp"
#include "nas/search/categorical_view.hpp"
#include "nas/search/evolution.hpp"
#include "nas/search/hyperband.hpp"
#include "nas/search/local_search.hpp"
#include "nas/search/random_search.hpp"
#include "nas/search/reinforce.hpp"
#include "nas/search/successive_halving.hpp"

namespace nas {

/// The names make_strategy knows, in the order its error message lists them:
/// rs (RandomSearch), rea (RegularizedEvolution), reinforce (Reinforce), ls
/// (LocalSearch), sh (SuccessiveHalving), hyperband (Hyperband).
inline constexpr std::array<std::string_view, 6> strategy_names{"rs", "rea", "reinforce", "ls", "sh", "hyperband"};

/// The options of every strategy make_strategy builds, flat so that one command line
/// can set them; each strategy reads its own (the comments say whose) and the seed.
struct StrategyOptions {
  std::uint64_t seed = 0;
  Fidelity fidelity{};            ///< rs, rea, reinforce, ls: fidelity of every evaluation
  bool dedup = false;             ///< rs: never evaluate an architecture twice
  std::size_t population = 10;    ///< rea: population (NAS-Bench-201's baseline value)
  std::size_t sample = 3;         ///< rea: tournament size
  bool asynchronous = false;      ///< rea: a free worker gets a child at once (parallel executors)
  double learning_rate = 0.01;    ///< reinforce: Adam step size
  double momentum = 0.9;          ///< reinforce: of the moving-average baseline
  double eta = 3.0;               ///< sh, hyperband: keep the top 1/eta of each rung
  double min_fidelity = 1.0;      ///< sh, hyperband: epochs of the first rung
  double max_fidelity = 27.0;     ///< sh, hyperband: epochs of the last rung
  std::vector<double> fidelities{};  ///< sh, hyperband: an explicit rung ladder (replaces min/max)
};

/// One of the strategies of strategy_names, chosen at run time; `run` has the signature
/// of every strategy's. Reinforce needs a CategoricalSpace: given another space it runs
/// over `categorical(space)` when that view exists (Nb201Space, CellSpace), and
/// otherwise throws ConfigError.
class AnyStrategy {
 public:
  using Variant = std::variant<RandomSearch, RegularizedEvolution, Reinforce, LocalSearch, SuccessiveHalving<>, Hyperband<>>;

  AnyStrategy(std::string name, Variant strategy) : name_(std::move(name)), strategy_(std::move(strategy)) {}

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget, Callbacks&&... callbacks) const {
    return std::visit(
        [&](const auto& s) -> Result<typename Space::Arch> {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, Reinforce> || CategoricalSpace<Space>) {
            return s.run(space, estimator, budget, callbacks...);
          } else if constexpr (requires { categorical(space); }) {
            return s.run(categorical(space), estimator, budget, callbacks...);
          } else {
            throw ConfigError("AnyStrategy::run: reinforce needs a categorical space (num_decisions, num_choices, "
                              "from_choices, to_choices) or a categorical(space) view of it");
          }
        },
        strategy_);
  }

  /// The name it was made from ("rea", ...).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Whether it evaluates at several fidelities and recommends the best at the highest
  /// one reached (sh, hyperband): scores at different fidelities do not compare.
  [[nodiscard]] bool multi_fidelity() const noexcept {
    return std::holds_alternative<SuccessiveHalving<>>(strategy_) || std::holds_alternative<Hyperband<>>(strategy_);
  }
  /// The strategy itself, for its options.
  [[nodiscard]] const Variant& variant() const noexcept { return strategy_; }

 private:
  std::string name_;
  Variant strategy_;
};

/// The strategy called `name` (one of strategy_names) with the options that concern it.
/// An unknown name throws ConfigError listing the known ones; the options themselves are
/// checked by the strategy's run(), as when it is built directly.
[[nodiscard]] inline AnyStrategy make_strategy(std::string_view name, const StrategyOptions& o = {}) {
  const SuccessiveHalvingOptions halving{
      .eta = o.eta, .min_fidelity = o.min_fidelity, .max_fidelity = o.max_fidelity, .fidelities = o.fidelities, .seed = o.seed};
  const std::string n(name);
  if (name == "rs") return {n, RandomSearch({.dedup = o.dedup, .fidelity = o.fidelity, .seed = o.seed})};
  if (name == "rea")
    return {n, RegularizedEvolution({.population = o.population,
                                     .sample = o.sample,
                                     .fidelity = o.fidelity,
                                     .seed = o.seed,
                                     .asynchronous = o.asynchronous})};
  if (name == "reinforce")
    return {n, Reinforce({.learning_rate = o.learning_rate, .momentum = o.momentum, .fidelity = o.fidelity, .seed = o.seed})};
  if (name == "ls") return {n, LocalSearch({.fidelity = o.fidelity, .seed = o.seed})};
  if (name == "sh") return {n, SuccessiveHalving<>(halving)};
  if (name == "hyperband") return {n, Hyperband<>(halving)};
  std::string known;
  for (const auto k : strategy_names) known += (known.empty() ? "" : ", ") + std::string(k);
  throw ConfigError("make_strategy: unknown strategy '" + n + "' (known: " + known + ")");
}

}  // namespace nas
