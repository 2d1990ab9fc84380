// Evolution<Selection, Mutation, Removal> and the RegularizedEvolution preset (aging evolution).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <algorithm>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
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
  /// Synchronous: children made from one population before any of them is told (1 is
  /// Real et al.'s steady state; a parallel executor with k workers keeps them busy with
  /// batch = k, and gives the same results as a serial run with the same batch).
  std::size_t batch = 1;
  /// Asynchronous (Real et al. 2019, sec. 3, as run on hundreds of workers): whenever a
  /// worker is free it gets a child of the population as it stands; `batch` is ignored.
  /// Serially it is the same as batch = 1.
  bool asynchronous = false;
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

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp).
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, const Options& options) : space_(&space), options_(options), rng_(options.seed) {
      population_.reserve(options.population + 1);
    }

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      if (initial_asked_ < options_.population) {  // the random initial population
        ++initial_asked_;
        return propose(space_->sample(rng_));
      }
      if (population_.size() < options_.population) return std::nullopt;  // waiting for the initial population
      if (!gen0_) {
        gen0_ = true;
        generation(0);
      }
      if (options_.asynchronous) return propose(child());
      // Synchronous: a batch's children all come from the population as it stood when the
      // batch began, whatever the executor (so a serial run and a pool agree).
      if (batch_.empty()) {
        if (children_in_flight_ > 0) return std::nullopt;  // waiting for the batch's results
        for (std::size_t i = 0; i < options_.batch; ++i) batch_.push_back(child());
      }
      Arch next = std::move(batch_.front());
      batch_.pop_front();
      return propose(std::move(next));
    }

    void tell(std::size_t id, const Evaluation& e) {
      mark_told();
      const double fitness = e.ok() ? e.score : -std::numeric_limits<double>::infinity();
      population_.push_back(Member<Arch>{pending_arch(id), fitness, born_++});
      if (id < options_.population) return;  // ids 0..P-1 are the initial population
      --children_in_flight_;
      const std::size_t gone = removal_.remove(std::span<const Member<Arch>>(population_));
      population_.erase(population_.begin() + static_cast<std::ptrdiff_t>(gone));
      generation(++cycles_);
    }

    [[nodiscard]] static std::string name() { return Evolution::name(); }
    /// Whether results are taken in the order they finish (Options::asynchronous).
    [[nodiscard]] bool asynchronous() const noexcept { return options_.asynchronous; }
    [[nodiscard]] const std::vector<Member<Arch>>& population() const noexcept { return population_; }

   private:
    Arch child() {
      const std::span<const Member<Arch>> view(population_);
      const std::size_t parent = selection_.select(view, options_.sample, rng_);
      return mutation_.mutate(*space_, population_[parent].arch, rng_);
    }
    Proposal<Arch> propose(Arch arch) {
      if (asked() >= options_.population) ++children_in_flight_;
      Proposal<Arch> p{new_id(), std::move(arch), options_.fidelity};
      pending_.emplace_back(p.id, p.arch);
      return p;
    }
    Arch pending_arch(std::size_t id) {
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->first == id) {
          Arch a = std::move(it->second);
          pending_.erase(it);
          return a;
        }
      throw ConfigError(Evolution::name() + "::tell: unknown proposal id " + std::to_string(id));
    }

    const Space* space_;
    Options options_;
    Rng rng_;
    Selection selection_{};
    Mutation mutation_{};
    Removal removal_{};
    std::vector<Member<Arch>> population_;
    std::vector<std::pair<std::size_t, Arch>> pending_;
    std::size_t initial_asked_ = 0, children_in_flight_ = 0, born_ = 0, cycles_ = 0;
    std::deque<Arch> batch_;
    bool gen0_ = false;
  };
  /// A fresh run's state; checks the options. `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    validate(name() + "::run");
    return State<Space>(space, options_);
  }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
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
    return ctx.finish(state.recommend(ctx.history()));
  }

 private:
  void validate(const std::string& where) const {
    if (options_.population == 0) throw ConfigError(where + ": population (0) must be >= 1");
    if (options_.sample == 0) throw ConfigError(where + ": sample (0) must be >= 1");
    if (options_.batch == 0) throw ConfigError(where + ": batch (0) must be >= 1");
    if (options_.sample > options_.population)
      throw ConfigError(where + ": sample (" + std::to_string(options_.sample) + ") exceeds population (" +
                        std::to_string(options_.population) + ")");
  }

  Options options_;
};

/// Aging evolution (Real et al. 2019): tournament selection, one mutation, remove oldest.
using RegularizedEvolution = Evolution<Tournament, MutateOne, RemoveOldest>;

}  // namespace nas
