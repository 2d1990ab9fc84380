// drive(): runs any ask/tell search state over an executor (Serial, ThreadPool) under a budget, resumable by replay.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/error.hpp"
#include "nas/core/run.hpp"

namespace nas {

/// Options of drive().
struct DriveOptions {
  std::string strategy = "search";  ///< the name the callbacks hear in on_begin
  std::uint64_t seed = 0;           ///< seeds each trial's EvalContext::rng (with the trial id)
  /// Cores shared by the workers (0: all of the machine's); each evaluation gets
  /// max(1, threads / workers) as EvalContext::threads.
  unsigned threads = 0;
  /// Record and tell results in proposal order, whatever order they finish in. The
  /// default (unset) is in order unless the state says it is asynchronous: synchronous
  /// strategies then give the same history on any executor for a deterministic estimator.
  std::optional<bool> ordered{};
};

/// Makes one estimator per worker, so that workers never share a stateful estimator
/// (the trained estimator's resumable runs, caches): `make(worker)` returns it.
template <class Make>
struct PerWorker {
  Make make;
};
template <class Make>
[[nodiscard]] PerWorker<Make> per_worker(Make make) {
  return PerWorker<Make>{std::move(make)};
}

namespace detail {

template <class T>
inline constexpr bool is_per_worker = false;
template <class M>
inline constexpr bool is_per_worker<PerWorker<M>> = true;

template <class State>
bool state_is_asynchronous(const State& s) {
  if constexpr (requires { s.asynchronous(); })
    return s.asynchronous();
  else
    return false;
}

// One evaluation on a worker: an exception other than ConfigError/DataError becomes a
// failed trial, as in RunContext::evaluate; those two stop the run (every later
// evaluation would fail the same way) and are handed back as `fatal`.
template <class Est, class Arch>
Evaluation evaluate_in_context(Est& est, const Proposal<Arch>& p, EvalContext& c, std::exception_ptr& fatal) {
  try {
    if constexpr (requires { est.evaluate(p.arch, p.fidelity, c); }) {
      return est.evaluate(p.arch, p.fidelity, c);
    } else if constexpr (requires { est.evaluate(p.arch, p.fidelity, c.epochs); }) {
      if (c.epochs) return est.evaluate(p.arch, p.fidelity, c.epochs);
      return est.evaluate(p.arch, p.fidelity);
    } else {
      return est.evaluate(p.arch, p.fidelity);
    }
  } catch (const ConfigError&) {
    fatal = std::current_exception();
  } catch (const DataError&) {
    fatal = std::current_exception();
  } catch (const std::exception& ex) {
    return Evaluation::failed(std::string("exception: ") + ex.what());
  } catch (...) {
    return Evaluation::failed("exception: of unknown type");
  }
  return Evaluation::failed("stopped: the run ended on an error");
}

}  // namespace detail

/// Runs `state` (any SearchState, from `strategy.start(space)`) to the end of `budget`
/// on `executor`, and returns what the strategy's run() would: the history and the
/// state's recommendation. `estimator` is an estimator (used as is with one worker,
/// copied per worker otherwise) or per_worker(make).
///
/// Each finished trial is recorded (callbacks, the journal among them, see it and may
/// flush it) before the state is told, so a journal always holds every trial the state
/// has learnt from. `replay` (a journal read back, see nas/report/journal_reader.hpp)
/// first rebuilds the state and the history without calling the estimator or the
/// callbacks; the proposals it shows in flight are evaluated first. For a deterministic
/// estimator and a serial (or in-order) run, a run killed at any point and resumed this
/// way ends with the same history as one never interrupted.
///
/// Budget: nothing is proposed once the budget is reached; evaluations already running
/// then finish and are recorded (their stop token is set). An evaluations budget counts
/// the ones running, so it is never exceeded.
template <class State, class Est, class Executor, class... Callbacks>
Result<typename State::Arch> resume(State& state, Est&& estimator, Executor& executor, const Budget& budget,
                                    const DriveOptions& options, std::span<const ReplayTrial<typename State::Arch>> replay,
                                    Callbacks&&... callbacks) {
  static_assert(SearchState<State>, "nas::drive: the state needs ask(history), tell(id, evaluation), exhausted(), "
                                    "take_generations(f), recommend(history) and name() (see nas/core/ask_tell.hpp)");
  using Arch = typename State::Arch;
  using E = std::remove_cvref_t<Est>;
  budget.require_bounded("drive");
  const std::size_t workers = executor.workers();
  if (workers == 0) throw ConfigError("drive: the executor has 0 workers");

  // One estimator per worker: a non-const estimator given by reference serves worker 0
  // itself (its state after the run is the caller's to read); the others get copies.
  constexpr bool use_given = !detail::is_per_worker<E> && std::is_lvalue_reference_v<Est> &&
                             !std::is_const_v<std::remove_reference_t<Est>>;
  auto make_estimators = [&] {
    if constexpr (detail::is_per_worker<E>) {
      using W = std::remove_cvref_t<decltype(estimator.make(std::size_t{0}))>;
      std::vector<std::unique_ptr<W>> v;
      for (std::size_t w = 0; w < workers; ++w) v.push_back(std::make_unique<W>(estimator.make(w)));
      return v;
    } else {
      static_assert(std::is_copy_constructible_v<E>,
                    "nas::drive: an estimator that cannot be copied needs per_worker(make) to run on several workers");
      std::vector<std::unique_ptr<E>> v;
      for (std::size_t w = use_given ? 1 : 0; w < workers; ++w) v.push_back(std::make_unique<E>(estimator));
      return v;
    }
  };
  auto owned = make_estimators();
  using W = typename decltype(owned)::value_type::element_type;
  std::vector<W*> ests;
  if constexpr (use_given) ests.push_back(&estimator);
  for (auto& p : owned) ests.push_back(p.get());

  RunContext<Arch, W, Callbacks...> ctx(options.strategy, *ests.front(), budget, callbacks...);
  const auto generations = [&] { state.take_generations([&](std::size_t g) { ctx.generation(g); }); };
  const bool ordered = options.ordered.value_or(!detail::state_is_asynchronous(state));

  // Replay: the same asks and tells as the interrupted run, in the same order.
  std::map<std::size_t, Proposal<Arch>> asked_not_told;
  for (std::size_t i = 0; i < replay.size(); ++i) {
    const auto& r = replay[i];
    while (state.asked() < r.asked) {
      auto p = state.ask(ctx.history());
      if (!p)
        throw DataError("resume: journal trial " + std::to_string(i) + " (id " + std::to_string(r.id) + ") was told after " +
                        std::to_string(r.asked) + " proposals, but the state stops proposing at " +
                        std::to_string(state.asked()) + " (different options or seed?)");
      asked_not_told.emplace(p->id, std::move(*p));
    }
    const auto it = asked_not_told.find(r.id);
    if (it == asked_not_told.end() || !(it->second.arch == r.arch) || !(it->second.fidelity == r.fidelity))
      throw DataError("resume: journal trial " + std::to_string(i) + " (id " + std::to_string(r.id) +
                      ") is not what the state proposes under that id (different options or seed?)");
    asked_not_told.erase(it);
    const auto& t = ctx.restore(r.arch, r.fidelity, r.eval, r.id, r.asked, r.wall_seconds);
    state.tell(r.id, t.eval);
    state.take_generations([](std::size_t) {});
  }
  std::deque<Proposal<Arch>> requeue;
  for (auto& [id, p] : asked_not_told) requeue.push_back(std::move(p));

  // Results come back through this mailbox, from whichever thread ran the evaluation.
  struct Done {
    Proposal<Arch> proposal;
    Evaluation eval;
  };
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Done> done;
    std::deque<EpochInfo> epochs;
    std::exception_ptr fatal;
  } box;
  std::stop_source stop;
  constexpr bool wants_epochs = (detail::has_on_epoch<std::remove_reference_t<Callbacks>> || ...);
  const unsigned cores = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const unsigned share = std::max(1u, cores / static_cast<unsigned>(workers));

  std::size_t in_flight = 0;
  std::deque<std::size_t> order;              // ids in flight, in proposal order
  std::map<std::size_t, Done> finished_early;  // ordered: results waiting for an earlier one
  bool stopping = false;

  const auto submit = [&](Proposal<Arch> p) {
    ++in_flight;
    order.push_back(p.id);
    executor.post([&, p = std::move(p)](std::size_t worker) {
      EvalContext c{.trial_id = p.id, .worker = worker, .threads = share, .rng = trial_rng(options.seed, p.id), .stop = stop.get_token()};
      if constexpr (wants_epochs)
        c.epochs = [&box](const EpochInfo& info) {
          std::lock_guard lock(box.mutex);
          box.epochs.push_back(info);
          box.ready.notify_one();
        };
      std::exception_ptr fatal;
      Evaluation e = detail::evaluate_in_context(*ests[worker], p, c, fatal);
      // Notified under the lock: once the driver can see the last result it may return
      // and destroy the mailbox, so this thread must be done with it by then.
      std::lock_guard lock(box.mutex);
      if (fatal && !box.fatal) box.fatal = fatal;
      box.done.push_back(Done{p, std::move(e)});
      box.ready.notify_one();
    });
  };
  bool discarded = false;
  const auto commit = [&](Done& d) {
    if (discarded) return;  // after a discarded overrun nothing more is recorded
    const auto* t = ctx.offer(d.proposal.arch, d.proposal.fidelity, std::move(d.eval), d.proposal.id, state.asked());
    if (!t) {  // discarded (Overrun::discard): nothing more is proposed
      stopping = discarded = true;
      return;
    }
    state.tell(d.proposal.id, t->eval);
    generations();
  };

  bool fatal = false;
  try {
    for (;;) {
      while (!stopping && in_flight < workers) {
        if (ctx.done()) {
          stopping = true;
          break;
        }
        if (budget.evaluations && ctx.history().size() + order.size() >= *budget.evaluations) break;
        std::optional<Proposal<Arch>> p;
        if (!requeue.empty()) {
          p = std::move(requeue.front());
          requeue.pop_front();
        } else {
          p = state.ask(ctx.history());
          generations();
          if (!p) break;
          if (ctx.done()) {
            stopping = true;
            break;
          }
        }
        submit(std::move(*p));
      }
      if (in_flight == 0) break;
      if (stopping) stop.request_stop();

      std::deque<Done> done;
      std::deque<EpochInfo> epochs;
      {
        std::unique_lock lock(box.mutex);
        box.ready.wait(lock, [&] { return !box.done.empty() || !box.epochs.empty(); });
        done.swap(box.done);
        epochs.swap(box.epochs);
        if (box.fatal) stopping = fatal = true;
      }
      in_flight -= done.size();
      for (const auto& info : epochs) ctx.epoch(info);
      for (auto& d : done) {
        if (fatal) continue;  // the run ends on the error once nothing is running
        if (!ordered) {
          order.erase(std::find(order.begin(), order.end(), d.proposal.id));
          commit(d);
          continue;
        }
        finished_early.emplace(d.proposal.id, std::move(d));
        while (!order.empty()) {
          const auto it = finished_early.find(order.front());
          if (it == finished_early.end()) break;
          order.pop_front();
          commit(it->second);
          finished_early.erase(it);
        }
      }
    }
  } catch (...) {
    // Evaluations still running refer to this frame: let them finish before leaving.
    stop.request_stop();
    std::unique_lock lock(box.mutex);
    while (in_flight > 0) {
      box.ready.wait(lock, [&] { return !box.done.empty(); });
      in_flight -= box.done.size();
      box.done.clear();
    }
    throw;
  }
  if (box.fatal) std::rethrow_exception(box.fatal);
  stopped(state, ctx.done());
  generations();
  return ctx.finish(state.recommend(ctx.history()));
}

/// resume() with nothing to replay: a fresh run of `state` on `executor`.
template <class State, class Est, class Executor, class... Callbacks>
Result<typename State::Arch> drive(State& state, Est&& estimator, Executor& executor, const Budget& budget,
                                   const DriveOptions& options, Callbacks&&... callbacks) {
  return resume(state, std::forward<Est>(estimator), executor, budget, options, std::span<const ReplayTrial<typename State::Arch>>{},
                std::forward<Callbacks>(callbacks)...);
}

}  // namespace nas
