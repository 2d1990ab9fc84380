// Ask/tell vocabulary: Proposal, EvalContext, the SearchState contract and the serial driver every run() uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nas/core/callbacks.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/history.hpp"
#include "nas/core/rng.hpp"

namespace nas {

/// One unit of work a search state asks for: evaluate `arch` at `fidelity`. Ids are
/// 0, 1, 2, ... in the order the state proposed them; `tell` names the proposal by id.
template <class Arch>
struct Proposal {
  std::size_t id = 0;
  Arch arch{};
  Fidelity fidelity{};
};

/// A finished trial read back from a journal, to rebuild a state by replay: the proposal
/// id, how many proposals the state had made when it was told, and what was evaluated.
template <class Arch>
struct ReplayTrial {
  std::size_t id = 0;
  std::size_t asked = 0;
  Arch arch{};
  Fidelity fidelity{};
  Evaluation eval{};
  double wall_seconds = 0.0;
};

/// What an estimator may use for one evaluation, handed to estimators that offer
/// `evaluate(arch, fidelity, const EvalContext&)`:
/// - `threads`: its share of the machine's cores (an executor with k workers on n cores
///   gives each n / k); an estimator sets its own thread use from it and never changes a
///   process-wide setting that other concurrent evaluations would see;
/// - `rng`: a stream that depends only on the run's seed and the trial id, so a trial
///   draws the same numbers whichever worker runs it and whenever;
/// - `stop`: requested when the run is stopping and the evaluation's result is no longer
///   wanted (an estimator that trains may check it between epochs);
/// - `epochs`: where to report each finished epoch; the driver forwards them to the
///   callbacks' `on_epoch` (empty when no callback listens).
struct EvalContext {
  std::size_t trial_id = 0;
  std::size_t worker = 0;
  unsigned threads = 1;
  Rng rng{};
  std::stop_token stop{};
  EpochSink epochs{};
};

/// The Rng stream of trial `id` in a run seeded `seed` (EvalContext::rng).
[[nodiscard]] inline Rng trial_rng(std::uint64_t seed, std::size_t id) noexcept {
  return Rng(run_seed(seed ^ 0x7f4a7c159e3779b9ULL, id));
}

/// A search strategy's state as an ask/tell machine (DESIGN.md, "Strategies are ask/tell
/// state machines"). `ask` proposes the next evaluation, or nothing while it waits for
/// results (or when it has nothing left: then `exhausted()` is non-null and names why);
/// `tell` takes the evaluation of an earlier proposal. The state owns its Rng, so the
/// same sequence of asks and tells always gives the same proposals: replaying a journal
/// of tells into a fresh state rebuilds it. `take_generations` hands the driver the
/// generations (rungs, steps, scans) that ended since it was last called, for the
/// callbacks' `on_generation`; `recommend` picks the architecture the run returns.
template <class S>
concept SearchState = requires { typename S::Arch; } &&
    requires(S& s, const S& cs, const History<typename S::Arch>& h, std::size_t id, const Evaluation& e,
             void (*f)(std::size_t)) {
      { s.ask(h) } -> std::same_as<std::optional<Proposal<typename S::Arch>>>;
      s.tell(id, e);
      { cs.exhausted() } -> std::convertible_to<const char*>;
      s.take_generations(f);
      { cs.recommend(h) } -> std::convertible_to<const Trial<typename S::Arch>*>;
      { cs.name() } -> std::convertible_to<std::string>;
    };

namespace detail {

/// Generations that ended and ids handed out: the bookkeeping every state shares.
class StateBase {
 public:
  template <class F>
  void take_generations(F&& f) {
    if (generations_.empty()) return;
    for (std::size_t g : generations_) f(g);
    generations_.clear();
  }
  /// Proposals made so far (the next proposal's id).
  [[nodiscard]] std::size_t asked() const noexcept { return next_id_; }
  /// Proposals told so far.
  [[nodiscard]] std::size_t told() const noexcept { return told_; }
  /// Non-null once the state will propose nothing more: why ("finished", "exhausted").
  [[nodiscard]] const char* exhausted() const noexcept { return exhausted_; }

  /// The best ok trial of the history (single-fidelity strategies).
  template <class Arch>
  [[nodiscard]] const Trial<Arch>* recommend(const History<Arch>& h) const noexcept {
    return h.best();
  }

 protected:
  std::size_t new_id() noexcept { return next_id_++; }
  void generation(std::size_t g) { generations_.push_back(g); }
  void mark_told() noexcept { ++told_; }
  void exhaust(const char* why) noexcept {
    if (!exhausted_) exhausted_ = why;
  }

 private:
  std::vector<std::size_t> generations_;
  std::size_t next_id_ = 0;
  std::size_t told_ = 0;
  const char* exhausted_ = nullptr;
};

}  // namespace detail

/// Tells a state that has an optional `stopped()` hook that the run ended early (budget or
/// callback) with nothing in flight, so it can close a partly made generation.
template <class State>
void stopped(State& state, bool early) {
  if constexpr (requires { state.stopped(); })
    if (early) state.stopped();
}

/// Runs a state serially inside a RunContext: ask, evaluate, record (the callbacks and
/// the journal see the trial), tell; until the budget is spent, a callback stops the run
/// or the state has nothing left. This is what every strategy's `run()` does; the
/// parallel driver in nas/exec/ does the same over an executor.
template <class State, class Ctx>
void drive_serial(State& state, Ctx& ctx) {
  const auto generations = [&] { state.take_generations([&](std::size_t g) { ctx.generation(g); }); };
  while (!ctx.done()) {
    auto p = state.ask(ctx.history());
    generations();
    if (!p || ctx.done()) break;
    const auto* t = ctx.offer(p->arch, p->fidelity, ctx.measure(p->arch, p->fidelity), p->id, p->id + 1);
    if (!t) break;  // discarded: it would have overrun the cost budget
    state.tell(p->id, t->eval);
    generations();
  }
  stopped(state, ctx.done());
  generations();
}

}  // namespace nas
