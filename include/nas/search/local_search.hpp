// LocalSearch: first-improvement hill climbing over the space's neighbourhood, restarting at local optima.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
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

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp). Hill
  /// climbing is sequential: one proposal at a time.
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, const Options& options) : space_(&space), options_(options), rng_(options.seed) {}

    std::optional<Proposal<Arch>> ask(const History<Arch>& /*history*/) {
      if (exhausted() || waiting_) return std::nullopt;
      if (phase_ == Phase::restart) {
        current_ = space_->sample(rng_);
        for (std::size_t draws = 1; known_.contains(current_) && draws < options_.max_restart_draws; ++draws)
          current_ = space_->sample(rng_);
        if (known_.contains(current_)) {  // (nearly) the whole space is known
          exhaust("finished");
          return std::nullopt;
        }
        waiting_ = true;
        return Proposal<Arch>{new_id(), current_, options_.fidelity};
      }
      waiting_ = true;  // Phase::neighbour: around_[pos_] is not known yet
      return Proposal<Arch>{new_id(), around_[pos_], options_.fidelity};
    }

    void tell(std::size_t /*id*/, const Evaluation& e) {
      if (!waiting_) throw ConfigError("LocalSearch::tell: no proposal is waiting for a result");
      mark_told();
      waiting_ = false;
      const double s = e.ok() ? e.score : -std::numeric_limits<double>::infinity();
      if (phase_ == Phase::restart) {
        known_.emplace(current_, s);
        current_score_ = s;
        start_scan();
      } else {
        known_.emplace(around_[pos_], s);
        if (s > current_score_) {
          move_to(pos_, s);
        } else {
          ++pos_;
        }
      }
      advance();
    }

    [[nodiscard]] static std::string name() { return "LocalSearch"; }

   private:
    enum class Phase { restart, neighbour };

    void start_scan() {
      around_ = space_->neighbors(current_);
      rng_.shuffle(around_);
      pos_ = 0;
      phase_ = Phase::neighbour;
    }
    void move_to(std::size_t i, double score) {
      current_ = std::move(around_[i]);
      current_score_ = score;
      generation(scans_++);
      start_scan();
    }
    // Walks the scan over neighbours already known (they cost nothing) until one needs an
    // evaluation, or the scan ends at a local optimum (then the next ask restarts).
    void advance() {
      while (pos_ < around_.size()) {
        const auto it = known_.find(around_[pos_]);
        if (it == known_.end()) return;
        if (it->second > current_score_)
          move_to(pos_, it->second);
        else
          ++pos_;
      }
      generation(scans_++);
      phase_ = Phase::restart;
    }

    const Space* space_;
    Options options_;
    Rng rng_;
    std::unordered_map<Arch, double> known_;
    Arch current_{};
    double current_score_ = 0.0;
    std::vector<Arch> around_;
    std::size_t pos_ = 0, scans_ = 0;
    Phase phase_ = Phase::restart;
    bool waiting_ = false;
  };

  /// A fresh run's state; checks the options. `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    if (options_.max_restart_draws == 0) throw ConfigError("LocalSearch::run: max_restart_draws (0) must be >= 1");
    return State<Space>(space, options_);
  }

  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget,
                                   Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    if (options_.max_restart_draws == 0) throw ConfigError("LocalSearch::run: max_restart_draws (0) must be >= 1");
    budget.require_bounded("LocalSearch::run");
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx("LocalSearch", estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

 private:
  Options options_;
};

}  // namespace nas
