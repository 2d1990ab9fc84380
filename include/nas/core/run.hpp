// RunContext: the bookkeeping every strategy shares (evaluate, record, charge, notify, stop).
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "nas/core/budget.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/history.hpp"

namespace nas {

/// What a strategy's run() returns.
template <class Arch>
struct Result {
  Arch best{};                 ///< the architecture the strategy recommends
  Evaluation best_eval{};      ///< its evaluation as the search saw it
  bool found = false;          ///< false if no evaluation succeeded
  History<Arch> history;       ///< every trial, in order
  std::string stop_reason;     ///< "evaluations", "cost", "wall", "callback", "finished"
};

/// Evaluates architectures for a strategy: calls the estimator (an exception or a
/// non-finite score becomes a failed trial, never a crash; ConfigError and DataError
/// still propagate because every later evaluation would fail the same way), records
/// the trial, charges the budget and tells the callbacks.
///
/// Callbacks may be lvalue references or values (a strategy's `run(..., Callbacks&&...)`
/// deduces `T&` for a named callback and `T` for a temporary); the context refers to
/// them, so they must outlive it, as the arguments of run() do. When some callback has
/// `on_epoch` and the estimator offers `evaluate(arch, fidelity, EpochSink)`, each
/// evaluation gets a sink that forwards the estimator's epochs to the callbacks (a hook
/// returning true stops the run after that evaluation).
template <class Arch, class Est, class... Callbacks>
class RunContext {
 public:
  using clock = std::chrono::steady_clock;

  RunContext(std::string strategy, Est& estimator, const Budget& budget, Callbacks&... callbacks)
      : estimator_(estimator), budget_(budget), callbacks_(callbacks...), start_(clock::now()) {
    budget_.validate(strategy.c_str());
    if (notify_begin(RunInfo{std::move(strategy), budget_}, callbacks...)) stop("callback");
  }

  /// Evaluates one architecture at one fidelity and records it.
  const Trial<Arch>& evaluate(const Arch& arch, Fidelity fidelity = {}) {
    return record(arch, fidelity, measure(arch, fidelity));
  }

  /// Calls the estimator (the first half of evaluate): an exception other than
  /// ConfigError and DataError becomes a failed evaluation.
  Evaluation measure(const Arch& arch, Fidelity fidelity) {
    Evaluation e;
    try {
      if constexpr (wants_epochs && requires(const EpochSink& sink) { estimator_.evaluate(arch, fidelity, sink); }) {
        const EpochSink sink = [this](const EpochInfo& info) { epoch(info); };
        e = estimator_.evaluate(arch, fidelity, sink);
      } else {
        e = estimator_.evaluate(arch, fidelity);
      }
    } catch (const ConfigError&) {
      throw;
    } catch (const DataError&) {
      throw;
    } catch (const std::exception& ex) {
      e = Evaluation::failed(std::string("exception: ") + ex.what());
    }
    return e;
  }

  /// True when the budget discards overruns (Overrun::discard) and recording `e` would
  /// take the charged cost past cost_seconds.
  [[nodiscard]] bool overruns(const Evaluation& e) const noexcept {
    return budget_.overrun == Overrun::discard && budget_.cost_seconds && total_cost_ + e.cost_seconds > *budget_.cost_seconds;
  }
  /// Records `e` unless it overruns a discarding budget; then stops the run ("cost") and
  /// returns nullptr.
  const Trial<Arch>* offer(const Arch& arch, Fidelity fidelity, Evaluation e, std::size_t id, std::size_t asked) {
    if (overruns(e)) {
      stop("cost");
      return nullptr;
    }
    return &record(arch, fidelity, std::move(e), id, asked);
  }

  /// Records an evaluation made elsewhere (an executor, a shared-weights supernet).
  const Trial<Arch>& record(const Arch& arch, Fidelity fidelity, Evaluation e) {
    return record(arch, fidelity, std::move(e), history_.size(), history_.size() + 1);
  }
  /// As record(arch, fidelity, e), for the proposal `id` of a state that had made `asked`
  /// proposals when the result came back (what a journal needs to replay the run).
  const Trial<Arch>& record(const Arch& arch, Fidelity fidelity, Evaluation e, std::size_t id, std::size_t asked) {
    e.check_finite();
    total_cost_ += e.cost_seconds;
    Trial<Arch> t;
    t.arch = arch;
    t.fidelity = fidelity;
    t.eval = std::move(e);
    t.total_cost = total_cost_;
    t.wall_seconds = elapsed();
    t.id = id;
    t.asked = asked;
    const auto& stored = history_.push(std::move(t));
    if (std::apply([&](auto&... cs) { return notify_trial(stored, history_, cs...); }, callbacks_)) stop("callback");
    return stored;
  }

  /// Puts a trial of an earlier, interrupted run back into the history without telling
  /// the callbacks (they, and the journal, saw it then): the cost it charged counts again.
  const Trial<Arch>& restore(const Arch& arch, Fidelity fidelity, Evaluation e, std::size_t id, std::size_t asked,
                             double wall_seconds) {
    e.check_finite();
    total_cost_ += e.cost_seconds;
    Trial<Arch> t;
    t.arch = arch;
    t.fidelity = fidelity;
    t.eval = std::move(e);
    t.total_cost = total_cost_;
    t.wall_seconds = wall_seconds;
    t.id = id;
    t.asked = asked;
    return history_.push(std::move(t));
  }

  /// Tells callbacks a generation (evolution), rung (successive halving) or iteration ended.
  void generation(std::size_t g) {
    if (std::apply([&](auto&... cs) { return notify_generation(g, history_, cs...); }, callbacks_)) stop("callback");
  }
  /// Tells callbacks an epoch of training ended (for strategies that train).
  void epoch(const EpochInfo& info) {
    if (std::apply([&](auto&... cs) { return notify_epoch(info, cs...); }, callbacks_)) stop("callback");
  }

  /// True once any budget limit is reached or a callback asked to stop.
  [[nodiscard]] bool done() {
    if (stop_reason_) return true;
    if (budget_.evaluations && history_.size() >= *budget_.evaluations) return stop("evaluations");
    if (budget_.cost_seconds && total_cost_ >= *budget_.cost_seconds) return stop("cost");
    if (budget_.wall_seconds && elapsed() >= *budget_.wall_seconds) return stop("wall");
    return false;
  }
  /// Asks the run to stop; the first reason given is kept.
  bool stop(const char* reason) {
    if (!stop_reason_) stop_reason_ = reason;
    return true;
  }

  [[nodiscard]] double elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
  [[nodiscard]] double total_cost() const noexcept { return total_cost_; }
  [[nodiscard]] const Budget& budget() const noexcept { return budget_; }
  [[nodiscard]] const History<Arch>& history() const noexcept { return history_; }
  [[nodiscard]] Est& estimator() noexcept { return estimator_; }

  /// Ends the run: tells callbacks and packages the history with the recommendation.
  /// `best`, when given, overrides the history's best (e.g. successive halving
  /// recommends the winner of its last rung, not the best low-fidelity score).
  Result<Arch> finish(const Trial<Arch>* best = nullptr) {
    std::apply([&](auto&... cs) { notify_end(history_, cs...); }, callbacks_);
    Result<Arch> r;
    if (!best) best = history_.best();
    if (best) {
      r.best = best->arch;
      r.best_eval = best->eval;
      r.found = true;
    }
    r.stop_reason = stop_reason_.value_or("finished");
    r.history = std::move(history_);
    return r;
  }

 private:
  static constexpr bool wants_epochs = (detail::has_on_epoch<std::remove_reference_t<Callbacks>> || ...);

  Est& estimator_;
  Budget budget_;
  std::tuple<Callbacks&...> callbacks_;
  clock::time_point start_;
  History<Arch> history_;
  double total_cost_ = 0.0;
  std::optional<const char*> stop_reason_;
};

}  // namespace nas
