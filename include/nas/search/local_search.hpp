// LocalSearch: first-improvement hill climbing over the space's neighbourhood, restarting at local optima.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <unordered_map>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"

namespace nas {

/// Local search as in White, Nolen, Neiswanger & Savani 2020 ("Local search is state of
/// the art for neural architecture search benchmarks"): start from a random
/// architecture, evaluate its neighbours (`space.neighbors`) in random order and move
/// to the first one that scores higher; at a local optimum (no neighbour better)
/// restart from a new random architecture. Tells callbacks a generation after each
/// neighbourhood scan (ended by a move or by reaching a local optimum).
///
/// An architecture is evaluated at most once per run: scores are remembered, so
/// climbing back over known ground costs no budget (with a noisy estimator the first
/// draw is kept). The run ends ("finished") when `max_restart_draws` random draws in a
/// row find only architectures already evaluated.
class LocalSearch {
 public:
  struct Options {
    Fidelity fidelity{};                   ///< fidelity of every evaluation
    std::size_t max_restart_draws = 1000;  ///< draws for an unseen restart point before giving up
    std::uint64_t seed = 0;
  };

  LocalSearch() = default;
  explicit LocalSearch(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    if (options_.max_restart_draws == 0) throw ConfigError("LocalSearch::run: max_restart_draws (0) must be >= 1");
    budget.require_bounded("LocalSearch::run");

    RunContext<Arch, Est, Callbacks...> ctx("LocalSearch", estimator, budget, callbacks...);
    Rng rng(options_.seed);
    std::unordered_map<Arch, double> known;
    // The score of `a` (-inf if failed), evaluating it if new; nullopt once the run must stop.
    const auto score_of = [&](const Arch& a) -> std::optional<double> {
      if (auto it = known.find(a); it != known.end()) return it->second;
      if (ctx.done()) return std::nullopt;
      const auto& t = ctx.evaluate(a, options_.fidelity);
      const double s = t.eval.ok() ? t.eval.score : -std::numeric_limits<double>::infinity();
      known.emplace(a, s);
      return s;
    };

    std::size_t scans = 0;
    while (!ctx.done()) {
      Arch current = space.sample(rng);
      for (std::size_t draws = 1; known.contains(current) && draws < options_.max_restart_draws; ++draws)
        current = space.sample(rng);
      if (known.contains(current)) break;  // (nearly) the whole space is known
      auto current_score = score_of(current);
      if (!current_score) break;
      bool stopped = false;
      for (bool improved = true; improved && !stopped;) {
        improved = false;
        std::vector<Arch> around = space.neighbors(current);
        rng.shuffle(around);
        for (auto& n : around) {
          const auto s = score_of(n);
          if (!s) {
            stopped = true;
            break;
          }
          if (*s > *current_score) {
            current = std::move(n);
            current_score = s;
            improved = true;
            break;
          }
        }
        if (!stopped) ctx.generation(scans++);
      }
      if (stopped) break;
    }
    return ctx.finish();
  }

 private:
  Options options_;
};

}  // namespace nas
