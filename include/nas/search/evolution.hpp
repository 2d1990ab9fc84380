// Evolution<Selection, Mutation, Removal> and the RegularizedEvolution preset (aging evolution).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"

namespace nas {

/// One member of an evolving population. `fitness` is the score, -inf for a failed
/// evaluation (it can still be removed, but never wins a tournament against an ok one).
template <class Arch>
struct Member {
  Arch arch{};
  double fitness = -std::numeric_limits<double>::infinity();
  std::size_t born = 0;  ///< order of creation (0 = first); smaller is older
};

/// Selection policy: tournament of `sample` members drawn uniformly with replacement
/// (as in Real et al. 2019, Algorithm 1); the fittest wins, the first drawn on ties.
struct Tournament {
  template <class Arch>
  std::size_t select(std::span<const Member<Arch>> population, std::size_t sample, Rng& rng) const {
    std::size_t best = rng.index(population.size());
    for (std::size_t i = 1; i < sample; ++i) {
      const std::size_t j = rng.index(population.size());
      if (population[j].fitness > population[best].fitness) best = j;
    }
    return best;
  }
};

/// Mutation policy: one `space.mutate` step.
struct MutateOne {
  template <class Space>
  typename Space::Arch mutate(const Space& space, const typename Space::Arch& parent, Rng& rng) const {
    return space.mutate(parent, rng);
  }
};

/// Removal policy of regularized (aging) evolution: the oldest member goes.
struct RemoveOldest {
  template <class Arch>
  std::size_t remove(std::span<const Member<Arch>> population) const {
    std::size_t oldest = 0;
    for (std::size_t i = 1; i < population.size(); ++i)
      if (population[i].born < population[oldest].born) oldest = i;
    return oldest;
  }
};

/// Removal policy of non-aging evolution: the least fit member goes (the oldest on ties).
struct RemoveWorst {
  template <class Arch>
  std::size_t remove(std::span<const Member<Arch>> population) const {
    std::size_t worst = 0;
    for (std::size_t i = 1; i < population.size(); ++i) {
      const auto& m = population[i];
      const auto& w = population[worst];
      if (m.fitness < w.fitness || (m.fitness == w.fitness && m.born < w.born)) worst = i;
    }
    return worst;
  }
};

/// Options of Evolution.
struct EvolutionOptions {
  std::size_t population = 20;  ///< P: members kept
  std::size_t sample = 5;       ///< S: tournament size (1 <= S <= P)
  Fidelity fidelity{};          ///< fidelity of every evaluation
  std::uint64_t seed = 0;
};

/// Steady-state evolution (Real et al. 2019, "Regularized evolution for image
/// classifier architecture search", Algorithm 1): the population is initialized with
/// P random architectures; then each cycle selects a parent, mutates it, evaluates the
/// child, adds it and removes one member. The number of cycles is set by the budget.
/// Tells callbacks generation 0 after the initial population and generation g after
/// cycle g. Recommends the best architecture ever evaluated.
///
/// Template parameters (default-constructed once per run; may keep state):
/// - Selection: `std::size_t select(std::span<const Member<Arch>>, std::size_t sample, Rng&)`
///   returns the parent's index.
/// - Mutation: `Arch mutate(const Space&, const Arch& parent, Rng&)` returns the child.
/// - Removal: `std::size_t remove(std::span<const Member<Arch>>)` returns the index of
///   the member to drop from the population of P + 1 (the child included).
template <class Selection, class Mutation, class Removal>
class Evolution {
 public:
  using Options = EvolutionOptions;

  Evolution() = default;
  explicit Evolution(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// "RegularizedEvolution" for the aging preset, "Evolution" otherwise.
  static std::string name() {
    if constexpr (std::is_same_v<Selection, Tournament> && std::is_same_v<Mutation, MutateOne> &&
                  std::is_same_v<Removal, RemoveOldest>)
      return "RegularizedEvolution";
    else
      return "Evolution";
  }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    const std::string where = name() + "::run";
    if (options_.population == 0) throw ConfigError(where + ": population (0) must be >= 1");
    if (options_.sample == 0) throw ConfigError(where + ": sample (0) must be >= 1");
    if (options_.sample > options_.population)
      throw ConfigError(where + ": sample (" + std::to_string(options_.sample) + ") exceeds population (" +
                        std::to_string(options_.population) + ")");
    budget.require_bounded(where.c_str());

    RunContext<Arch, Est, Callbacks...> ctx(name(), estimator, budget, callbacks...);
    Rng rng(options_.seed);
    Selection selection{};
    Mutation mutation{};
    Removal removal{};
    std::vector<Member<Arch>> population;
    population.reserve(options_.population + 1);
    std::size_t born = 0;
    const auto add = [&](Arch arch) {
      const auto& t = ctx.evaluate(arch, options_.fidelity);
      const double fitness = t.eval.ok() ? t.eval.score : -std::numeric_limits<double>::infinity();
      population.push_back(Member<Arch>{std::move(arch), fitness, born++});
    };

    while (population.size() < options_.population && !ctx.done()) add(space.sample(rng));
    if (!ctx.done()) ctx.generation(0);
    for (std::size_t cycle = 1; !ctx.done(); ++cycle) {
      const std::span<const Member<Arch>> view(population);
      const std::size_t parent = selection.select(view, options_.sample, rng);
      add(mutation.mutate(space, population[parent].arch, rng));
      const std::size_t gone = removal.remove(std::span<const Member<Arch>>(population));
      population.erase(population.begin() + static_cast<std::ptrdiff_t>(gone));
      ctx.generation(cycle);
    }
    return ctx.finish();
  }

 private:
  Options options_;
};

/// Aging evolution (Real et al. 2019): tournament selection, one mutation, remove oldest.
using RegularizedEvolution = Evolution<Tournament, MutateOne, RemoveOldest>;

}  // namespace nas
