// Nsga2<Crossover, Mutation>: multi-objective evolution (NSGA-II) returning the Pareto front found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
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

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp). Each
  /// generation is one synchronous batch: its N children are proposed before any is told,
  /// and environmental selection runs once all are told.
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, const Nsga2Type& strategy)
        : space_(&space), strategy_(&strategy), options_(strategy.options_), rng_(options_.seed), archive_(options_.objectives),
          worst_(options_.objectives.size(), std::numeric_limits<double>::infinity()) {}

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      if (exhausted()) return std::nullopt;
      if (!initialized_) {
        if (initial_asked_ < options_.population) {
          Arch a;
          if (fresh([&] { return space_->sample(rng_); }, a)) {
            ++initial_asked_;
            return propose(std::move(a));
          }
          initial_asked_ = options_.population;  // the space is (nearly) used up
        }
        if (in_flight_ > 0) return std::nullopt;
        if (population_.empty()) {
          exhaust("finished");
          return std::nullopt;
        }
        assign_ranks(population_);
        initialized_ = true;
        generation(0);
        begin_generation();
      }
      while (true) {
        while (made_ < options_.population) {
          Arch child;
          const bool ok = fresh(
              [&] {
                const Individual& p1 = tournament();
                const Individual& p2 = tournament();
                Arch c = rng_.uniform() < options_.crossover_rate ? crossover_.cross(*space_, p1.arch, p2.arch, rng_) : p1.arch;
                return mutation_.mutate(*space_, c, rng_);
              },
              child);
          ++made_;
          if (ok) {
            ++evaluated_;
            return propose(std::move(child));
          }
        }
        if (in_flight_ > 0) return std::nullopt;
        if (evaluated_ == 0) {  // no unseen child in a whole generation: the space is used up
          exhaust("exhausted");
          return std::nullopt;
        }
        end_generation();
      }
    }

    void tell(std::size_t id, const Evaluation& e) {
      mark_told();
      Arch arch;
      bool found = false;
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->first == id) {
          arch = std::move(it->second);
          pending_.erase(it);
          found = true;
          break;
        }
      if (!found) throw ConfigError("Nsga2::tell: unknown proposal id " + std::to_string(id));
      --in_flight_;
      Individual ind{arch, worst_};
      if (e.ok()) {
        std::vector<double> values = strategy_->objective_values(e, name() + "::run");
        archive_.add(arch, values);
        ind.point = to_minimized(values, options_.objectives);
      }
      (initialized_ ? all_ : population_).push_back(std::move(ind));
      if (initialized_ && made_ == options_.population && in_flight_ == 0) end_generation();
    }

    /// The run ended early: a generation partly made still goes through selection.
    void stopped() {
      if (initialized_ && made_ > 0 && in_flight_ == 0) end_generation();
    }

    [[nodiscard]] static std::string name() { return Nsga2Type::name(); }
    /// The non-dominated set of every architecture evaluated so far.
    [[nodiscard]] const ParetoArchive<Arch>& archive() const noexcept { return archive_; }

   private:
    struct Individual {
      Arch arch;
      std::vector<double> point;  // minimization form; +inf for a failed evaluation
      std::size_t rank = 0;
      double crowding = 0.0;
    };

    Proposal<Arch> propose(Arch arch) {
      seen_.insert(arch);
      ++in_flight_;
      Proposal<Arch> p{new_id(), std::move(arch), options_.fidelity};
      pending_.emplace_back(p.id, p.arch);
      return p;
    }
    // A fresh architecture from `draw`, or none when every draw was seen before.
    template <class Draw>
    bool fresh(Draw&& draw, Arch& out) {
      for (std::size_t k = 0; k < options_.max_redraws; ++k) {
        out = draw();
        if (!seen_.contains(out)) return true;
      }
      return false;
    }
    std::vector<std::vector<std::size_t>> assign_ranks(std::vector<Individual>& pop) {
      std::vector<std::vector<double>> pts;
      for (const auto& ind : pop) pts.push_back(ind.point);
      auto fronts = non_dominated_sort(pts);
      for (std::size_t f = 0; f < fronts.size(); ++f) {
        const auto d = crowding_distance(pts, fronts[f]);
        for (std::size_t i = 0; i < fronts[f].size(); ++i) {
          pop[fronts[f][i]].rank = f;
          pop[fronts[f][i]].crowding = d[i];
        }
      }
      return fronts;
    }
    const Individual& tournament() {
      const Individual& a = population_[rng_.index(population_.size())];
      const Individual& b = population_[rng_.index(population_.size())];
      if (a.rank != b.rank) return a.rank < b.rank ? a : b;
      return b.crowding > a.crowding ? b : a;
    }
    void begin_generation() {
      all_ = population_;
      made_ = evaluated_ = 0;
    }
    // Environmental selection: whole fronts while they fit, then the least crowded.
    void end_generation() {
      const auto fronts = assign_ranks(all_);
      std::vector<Individual> next;
      for (const auto& front : fronts) {
        if (next.size() + front.size() <= options_.population) {
          for (std::size_t i : front) next.push_back(all_[i]);
          continue;
        }
        std::vector<std::size_t> order(front.begin(), front.end());
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all_[a].crowding > all_[b].crowding; });
        for (std::size_t k = 0; next.size() < options_.population; ++k) next.push_back(all_[order[k]]);
        break;
      }
      population_ = std::move(next);
      assign_ranks(population_);
      generation(generation_++);
      begin_generation();
    }

    const Space* space_;
    const Nsga2Type* strategy_;
    Options options_;
    Rng rng_;
    Crossover crossover_{};
    Mutation mutation_{};
    ParetoArchive<Arch> archive_;
    std::unordered_set<Arch> seen_;
    std::vector<double> worst_;
    std::vector<Individual> population_, all_;
    std::vector<std::pair<std::size_t, Arch>> pending_;
    std::size_t initial_asked_ = 0, in_flight_ = 0, made_ = 0, evaluated_ = 0, generation_ = 1;
    bool initialized_ = false;
  };

  /// A fresh run's state; checks the options. `space` and this strategy must outlive it.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    validate(name() + "::run");
    return State<Space>(space, *this);
  }

  template <class Space, class Est, class... Callbacks>
  ParetoResult<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                         Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    const std::string where = name() + "::run";
    validate(where);
    budget.require_bounded(where.c_str());
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx(name(), estimator, budget, callbacks...);
    drive_serial(state, ctx);
    if (state.exhausted() && std::string_view(state.exhausted()) == "exhausted") ctx.stop("exhausted");
    ParetoResult<Arch> out;
    static_cast<Result<Arch>&>(out) = ctx.finish(state.recommend(ctx.history()));
    out.front = state.archive().entries();
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
