// Asha: asynchronous successive halving, which promotes as soon as a rung allows and never waits for a rung to fill.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/search/successive_halving.hpp"

namespace nas {

/// Asynchronous successive halving (Li, Jamieson, Rostamizadeh, Gonina, Ben-Tzur, Hardt,
/// Recht & Talwalkar 2020, "A system for massively parallel hyperparameter tuning",
/// Algorithm 2). Rungs as in SuccessiveHalving (`min_fidelity * eta^k` up to
/// `max_fidelity`, or `fidelities`). Whenever a worker is free, `ask` scans the rungs
/// from the second highest down and promotes the best candidate of rung k that is in its
/// top floor(n_k / eta) (n_k = results in rung k so far) and has not been promoted yet;
/// if none can be, it samples a new candidate at the lowest rung. It never waits, so
/// every worker stays busy; the budget ends the run. Failed evaluations are never
/// promoted. The recommendation is the best architecture at the highest fidelity
/// reached. `candidates` is ignored. Serially, ASHA is a successive halving without
/// brackets: it promotes as soon as a rung allows.
///
/// Sampler: see UniformSampler for the requirements.
template <class Sampler = UniformSampler>
class Asha {
 public:
  using Options = SuccessiveHalvingOptions;

  Asha() = default;
  explicit Asha(const Options& options) : options_(options) {}

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  static std::string name() { return "Asha"; }

  /// The ask/tell state of one run (see SearchState in nas/core/ask_tell.hpp).
  template <class Space>
  class State : public detail::StateBase {
   public:
    using Arch = typename Space::Arch;

    State(const Space& space, std::vector<double> ladder, double eta, std::uint64_t seed)
        : space_(&space), ladder_(std::move(ladder)), eta_(eta), rng_(seed), rungs_(ladder_.size()) {}

    std::optional<Proposal<Arch>> ask(const History<Arch>& history) {
      for (std::size_t k = ladder_.size() - 1; k-- > 0;) {
        auto& rung = rungs_[k];
        const auto top = static_cast<std::size_t>(static_cast<double>(rung.size()) / eta_ + 1e-9);
        if (top == 0) continue;
        // The rung's best `top` results (earliest first on ties), best first.
        order_.resize(rung.size());
        for (std::size_t i = 0; i < rung.size(); ++i) order_[i] = i;
        std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return rung[a].score > rung[b].score; });
        for (std::size_t j = 0; j < top; ++j) {
          Entry& e = rung[order_[j]];
          if (e.promoted || !e.ok) continue;
          e.promoted = true;
          return propose(e.arch, k + 1);
        }
      }
      return propose(sampler_(*space_, rng_, history), 0);
    }

    void tell(std::size_t id, const Evaluation& e) {
      mark_told();
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->id == id) {
          const double s = e.ok() ? e.score : -std::numeric_limits<double>::infinity();
          rungs_[it->rung].push_back(Entry{std::move(it->arch), s, e.ok(), false});
          pending_.erase(it);
          return;
        }
      throw ConfigError("Asha::tell: unknown proposal id " + std::to_string(id));
    }

    [[nodiscard]] static std::string name() { return "Asha"; }
    [[nodiscard]] static constexpr bool asynchronous() noexcept { return true; }
    [[nodiscard]] const Trial<Arch>* recommend(const History<Arch>& h) const { return detail::best_at_highest_fidelity(h); }
    /// Results per rung so far.
    [[nodiscard]] std::vector<std::size_t> rung_sizes() const {
      std::vector<std::size_t> n;
      for (const auto& r : rungs_) n.push_back(r.size());
      return n;
    }

   private:
    struct Entry {
      Arch arch;
      double score;
      bool ok;
      bool promoted;
    };
    struct Pending {
      std::size_t id;
      std::size_t rung;
      Arch arch;
    };
    Proposal<Arch> propose(Arch arch, std::size_t rung) {
      Proposal<Arch> p{new_id(), arch, Fidelity{ladder_[rung]}};
      pending_.push_back(Pending{p.id, rung, std::move(arch)});
      return p;
    }

    const Space* space_;
    std::vector<double> ladder_;
    double eta_;
    Rng rng_;
    Sampler sampler_{};
    std::vector<std::vector<Entry>> rungs_;
    std::vector<Pending> pending_;
    std::vector<std::size_t> order_;
  };

  /// A fresh run's state; checks the options. `space` must outlive the state.
  template <class Space>
  [[nodiscard]] State<Space> start(const Space& space) const {
    static_assert(check_search_space<Space>());
    return State<Space>(space, detail::halving_ladder(options_, "Asha::run"), options_.eta, options_.seed);
  }

  /// Runs serially until the budget is spent (run it on a ThreadPool with nas::drive).
  template <class Space, class Est, class... Callbacks>
  Result<typename Space::Arch> run(const Space& space, Est& estimator, const Budget& budget, Callbacks&&... callbacks) const {
    static_assert(check_search_space<Space>());
    static_assert(check_estimator<Est, typename Space::Arch>());
    using Arch = typename Space::Arch;
    (void)detail::halving_ladder(options_, "Asha::run");
    budget.require_bounded("Asha::run");
    auto state = start(space);
    RunContext<Arch, Est, Callbacks...> ctx(name(), estimator, budget, callbacks...);
    drive_serial(state, ctx);
    return ctx.finish(state.recommend(ctx.history()));
  }

 private:
  Options options_;
};

Asha() -> Asha<>;
Asha(const SuccessiveHalvingOptions&) -> Asha<>;

}  // namespace nas
