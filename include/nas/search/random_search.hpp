// RandomSearch: evaluate uniform samples of the space until the budget is spent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>

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

  /// Runs until the budget (which must set some limit) is spent or a callback stops it.
  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    budget.require_bounded("RandomSearch::run");
    if (options_.dedup && options_.max_resamples == 0)
      throw ConfigError("RandomSearch::run: max_resamples (0) must be >= 1 when dedup is on");

    RunContext<Arch, Est, Callbacks...> ctx("RandomSearch", estimator, budget, callbacks...);
    Rng rng(options_.seed);
    std::unordered_set<Arch> seen;
    const SpaceSize size = space.size();
    while (!ctx.done()) {
      Arch arch = space.sample(rng);
      if (options_.dedup) {
        if (size.fits_u64() && seen.size() >= size.to_u64()) break;  // every architecture evaluated
        std::size_t draws = 0;
        while (seen.contains(arch) && ++draws <= options_.max_resamples) arch = space.sample(rng);
        if (seen.contains(arch)) break;
        seen.insert(arch);
      }
      ctx.evaluate(arch, options_.fidelity);
    }
    return ctx.finish();
  }

 private:
  Options options_;
};

}  // namespace nas
