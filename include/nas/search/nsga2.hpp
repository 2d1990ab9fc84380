// Nsga2<Crossover, Mutation>: multi-objective evolution (NSGA-II) returning the Pareto front found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/hw/pareto.hpp"
#include "nas/search/categorical.hpp"
#include "nas/search/evolution.hpp"

namespace nas {

/// Crossover policy that copies the first parent (mutation-only NSGA-II).
struct NoCrossover {
  template <class Space>
  typename Space::Arch cross(const Space&, const typename Space::Arch& a, const typename Space::Arch&, Rng&) const {
    return a;
  }
};

/// Uniform crossover for categorical spaces (`nas::categorical(space)`): each decision
/// comes from either parent with probability 1/2.
struct UniformCrossover {
  template <class Space>
  typename Space::Arch cross(const Space& space, const typename Space::Arch& a, const typename Space::Arch& b,
                             Rng& rng) const {
    static_assert(check_categorical_space<Space>(), "nas: UniformCrossover needs a categorical space: wrap it in nas::categorical(space)");
    std::vector<int> ca = space.to_choices(a);
    const std::vector<int> cb = space.to_choices(b);
    for (std::size_t i = 0; i < ca.size(); ++i)
      if (rng.uniform() < 0.5) ca[i] = cb[i];
    return space.from_choices(ca);
  }
};

/// Options of Nsga2.
struct Nsga2Options {
  std::size_t population = 50;        ///< N: parents kept; N offspring per generation
  std::vector<Objective> objectives;  ///< metrics of the evaluations, each with its sense (>= 2)
  double crossover_rate = 0.9;        ///< probability that a child is a crossover of two parents
  /// Draws per child (or initial member) to find an architecture not evaluated before; the
  /// last draw is kept even if seen, but then not evaluated again.
  std::size_t max_redraws = 50;
  Fidelity fidelity{};
  std::uint64_t seed = 0;
};

/// What a multi-objective search returns: the usual Result (its `best` is the highest
/// score, for strategies and reports that need one) and the non-dominated set of every
/// architecture evaluated, with its objective values.
template <class Arch>
struct ParetoResult : Result<Arch> {
  std::vector<typename ParetoArchive<Arch>::Entry> front;
};

/// NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002, "A fast and elitist multiobjective
/// genetic algorithm"): N random parents; each generation makes N children by binary
/// tournament on (non-domination rank, crowding distance), crossover with probability
/// `crossover_rate` and one mutation, then keeps the best N of parents and children by
/// rank, breaking the last front by crowding distance (elitism). Objectives are read from
/// each evaluation's metrics ("score" is Evaluation::score); a failed evaluation ranks
/// below every ok one. An architecture already evaluated is redrawn rather than paid for
/// twice. The budget (evaluations, cost or wall time) ends the run; callbacks hear
/// generation g after each environmental selection.
///
/// Template parameters: Crossover with `Arch cross(const Space&, const Arch&, const Arch&,
/// Rng&) const` (NoCrossover, UniformCrossover), Mutation as in Evolution (MutateOne).
template <class Crossover = NoCrossover, class Mutation = MutateOne>
class Nsga2Type {
 public:
  using Options = Nsga2Options;

  explicit Nsga2Type(Options options) : options_(std::move(options)) {}
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  static std::string name() { return "Nsga2"; }

  template <class Space, class Est, class... Callbacks>
  ParetoResult<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                         Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    const std::string where = name() + "::run";
    validate(where);
    budget.require_bounded(where.c_str());

    RunContext<Arch, Est, Callbacks...> ctx(name(), estimator, budget, callbacks...);
    Rng rng(options_.seed);
    Crossover crossover{};
    Mutation mutation{};
    ParetoArchive<Arch> archive(options_.objectives);
    std::unordered_set<Arch> seen;
    const std::size_t m = options_.objectives.size();
    const std::vector<double> worst(m, std::numeric_limits<double>::infinity());

    struct Individual {
      Arch arch;
      std::vector<double> point;  // minimization form; +inf for a failed evaluation
      std::size_t rank = 0;
      double crowding = 0.0;
    };
    std::vector<Individual> population;

    const auto evaluate = [&](const Arch& arch) {
      const auto& t = ctx.evaluate(arch, options_.fidelity);
      seen.insert(arch);
      if (!t.eval.ok()) return Individual{arch, worst};
      std::vector<double> values = objective_values(t.eval, where);
      archive.add(arch, values);
      return Individual{arch, to_minimized(values, options_.objectives)};
    };
    // A fresh architecture from `draw`, or none when every draw was seen before.
    const auto fresh = [&](auto&& draw, Arch& out) {
      for (std::size_t k = 0; k < options_.max_redraws; ++k) {
        out = draw();
        if (!seen.contains(out)) return true;
      }
      return false;
    };
    const auto assign_ranks = [&](std::vector<Individual>& pop) {
      std::vector<std::vector<double>> pts;
      for (const auto& ind : pop) pts.push_back(ind.point);
      const auto fronts = non_dominated_sort(pts);
      for (std::size_t f = 0; f < fronts.size(); ++f) {
        const auto d = crowding_distance(pts, fronts[f]);
        for (std::size_t i = 0; i < fronts[f].size(); ++i) {
          pop[fronts[f][i]].rank = f;
          pop[fronts[f][i]].crowding = d[i];
        }
      }
      return fronts;
    };
    const auto tournament = [&]() -> const Individual& {
      const Individual& a = population[rng.index(population.size())];
      const Individual& b = population[rng.index(population.size())];
      if (a.rank != b.rank) return a.rank < b.rank ? a : b;
      return b.crowding > a.crowding ? b : a;
    };

    while (population.size() < options_.population && !ctx.done()) {
      Arch a;
      if (!fresh([&] { return space.sample(rng); }, a)) break;  // the space is (nearly) used up
      population.push_back(evaluate(a));
    }
    if (!population.empty() && !ctx.done()) {
      assign_ranks(population);
      ctx.generation(0);
    }
    for (std::size_t gen = 1; !population.empty() && !ctx.done(); ++gen) {
      std::vector<Individual> all = population;
      std::size_t made = 0, evaluated = 0;
      while (made < options_.population && !ctx.done()) {
        Arch child;
        const bool ok = fresh(
            [&] {
              const Individual& p1 = tournament();
              const Individual& p2 = tournament();
              Arch c = rng.uniform() < options_.crossover_rate ? crossover.cross(space, p1.arch, p2.arch, rng) : p1.arch;
              return mutation.mutate(space, c, rng);
            },
            child);
        ++made;
        if (ok) {
          all.push_back(evaluate(child));
          ++evaluated;
        }
      }
      if (evaluated == 0 && !ctx.done()) {  // no unseen child in a whole generation: the space is used up
        ctx.stop("exhausted");
        break;
      }
      // Environmental selection: whole fronts while they fit, then the least crowded.
      const auto fronts = assign_ranks(all);
      std::vector<Individual> next;
      for (const auto& front : fronts) {
        if (next.size() + front.size() <= options_.population) {
          for (std::size_t i : front) next.push_back(all[i]);
          continue;
        }
        std::vector<std::size_t> order(front.begin(), front.end());
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all[a].crowding > all[b].crowding; });
        for (std::size_t k = 0; next.size() < options_.population; ++k) next.push_back(all[order[k]]);
        break;
      }
      population = std::move(next);
      assign_ranks(population);
      ctx.generation(gen);
    }
    ParetoResult<Arch> out;
    static_cast<Result<Arch>&>(out) = ctx.finish();
    out.front = archive.entries();
    return out;
  }

 private:
  void validate(const std::string& where) const {
    if (options_.population < 2)
      throw ConfigError(where + ": population (" + std::to_string(options_.population) + ") must be >= 2");
    if (options_.objectives.size() < 2)
      throw ConfigError(where + ": " + std::to_string(options_.objectives.size()) + " objectives (need at least 2)");
    if (!(options_.crossover_rate >= 0.0 && options_.crossover_rate <= 1.0))
      throw ConfigError(where + ": crossover_rate (" + std::to_string(options_.crossover_rate) + ") must be in [0, 1]");
    if (options_.max_redraws < 1) throw ConfigError(where + ": max_redraws (0) must be >= 1");
    for (const auto& o : options_.objectives)
      if (o.metric.empty()) throw ConfigError(where + ": an objective has an empty metric name");
  }

  std::vector<double> objective_values(const Evaluation& e, const std::string& where) const {
    std::vector<double> v;
    for (const auto& o : options_.objectives) {
      if (o.metric == "score") {
        v.push_back(e.score);
        continue;
      }
      const auto x = e.metrics.get(o.metric);
      if (!x) {
        std::string have;
        for (const auto& mt : e.metrics) have += (have.empty() ? "" : ", ") + mt.name;
        throw ConfigError(where + ": objective '" + o.metric + "' is not a metric of the evaluation (it has: " +
                          (have.empty() ? std::string("none") : have) + ")");
      }
      v.push_back(*x);
    }
    return v;
  }

  Options options_;
};

/// NSGA-II with mutation only (works on any space).
using Nsga2 = Nsga2Type<NoCrossover, MutateOne>;

}  // namespace nas
