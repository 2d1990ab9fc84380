// RandomSearch: evaluate uniform samples of the space until the budget is spent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"

namespace nas {

/// Random search (Li & Talwalkar 2019, "Random search and reproducibility for NAS"):
/// the baseline every other strategy must beat. Samples with `space.sample`, evaluates
/// each at `fidelity`, recommends the best score seen.
///
/// With `dedup`, an architecture is never evaluated twice: a repeat draw is redrawn, and
/// the run ends ("finished") once the whole space has been evaluated or
/// `max_resamples` draws in a row gave only architectures already seen.
class RandomSearch {
 public:
  struct Options {
    bool dedup = false;
    std::size_t max_resamples = 1000;  ///< with dedup: repeat draws in a row before giving up
    Fidelity fidelity{};               ///< fidelity of every evaluation (estimator default if unset)
    std::uint64_t seed = 0;
  };

  RandomSearch() = default;
  explicit RandomSearch(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp).
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, const Options& options) : space_(&space), options_(options), rng_(options.seed), size_(space.size()) {}

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      if (exhausted()) return std::nullopt;
      Arch arch = space_->sample(rng_);
      if (options_.dedup) {
        if (size_.fits_u64() && seen_.size() >= size_.to_u64()) {  // every architecture evaluated
          exhaust("finished");
          return std::nullopt;
        }
        std::size_t draws = 0;
        while (seen_.contains(arch) && ++draws <= options_.max_resamples) arch = space_->sample(rng_);
        if (seen_.contains(arch)) {
          exhaust("finished");
          return std::nullopt;
        }
        seen_.insert(arch);
      }
      return Proposal<Arch>{new_id(), std::move(arch), options_.fidelity};
    }
    void tell(std::size_t /*id*/, const Evaluation& /*e*/) { mark_told(); }
    [[nodiscard]] static std::string name() { return "RandomSearch"; }

   private:
    const Space* space_;
    Options options_;
    Rng rng_;
    SpaceSize size_;
    std::unordered_set<Arch> seen_;
  };

  /// A fresh run's state; checks the options. `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    if (options_.dedup && options_.max_resamples == 0)
      throw ConfigError("RandomSearch::run: max_resamples (0) must be >= 1 when dedup is on");
    return State<Space>(space, options_);
  }

  /// Runs until the budget (which must set some limit) is spent or a callback stops it.
  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    budget.require_bounded("RandomSearch::run");
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx("RandomSearch", estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

 private:
  Options options_;
};

}  // namespace nas
