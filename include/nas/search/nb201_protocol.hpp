// The NAS-Bench-201 search protocol: many independent seeded searches of one strategy on one data set under a simulated time budget.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nas/core/budget.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/estimate/tabular.hpp"
#include "nas/search/factory.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

// Dong & Yang 2020, sec. 5: each search sees the 12-epoch validation accuracy (here the
// mean over the table's seeds: the shipped data has no per-seed 12-epoch values, where the
// paper's code drew one seed's), is charged the table's simulated training time (the
// evaluation that would exceed the budget is discarded, as in the paper's code), and is
// scored by the 200-epoch accuracies of the cell it recommends. run_nb201_protocol runs `runs` such searches (run r seeded by
// run_seed(seed, r), so results do not depend on the thread count) and summarizes them;
// nb201_search and the reports are built on it.

// Hyper-parameters of the baselines (see benchmarks/reports/nb201.md for their sources).
struct Nb201ProtocolSettings {
  std::size_t rea_population = 10;
  std::size_t rea_sample = 3;
  double reinforce_lr = 0.01;
  double reinforce_momentum = 0.9;
  double eta = 3.0;
  /// The evaluation that would exceed the time budget: discarded, as the benchmark's
  /// baseline code does (AutoDL-Projects, exps/algos/R_EA.py and RANDOM.py), or kept.
  Overrun overrun = Overrun::discard;
};

// What one search returned: the recommended cell's 200-epoch accuracies, the evaluations
// it made, and the test accuracy of its recommendation at each point of the time grid.
struct Nb201RunOutcome {
  double valid = 0.0;
  double test = 0.0;
  std::size_t evaluations = 0;
  std::vector<double> curve;
};

struct Nb201ProtocolSummary {
  std::string strategy, dataset;
  std::size_t runs = 0;
  double budget = 0.0;
  double valid_mean = 0.0, valid_std = 0.0, test_mean = 0.0, test_std = 0.0;
  double optimum_valid = 0.0, optimum_test = 0.0;
  double evaluations_mean = 0.0;
  double wall_s = 0.0;
  std::vector<double> grid, curve;  // mean test accuracy of the recommendation vs simulated seconds
};

inline void mean_std(const std::vector<double>& v, double& mean, double& stddev) {
  mean = 0.0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double s2 = 0.0;
  for (double x : v) s2 += (x - mean) * (x - mean);
  stddev = std::sqrt(s2 / static_cast<double>(v.size()));  // population std, as numpy's default
}

/// Replays a history to find, after each trial, what the strategy would recommend: the
/// best score (single fidelity) or the best score at the highest fidelity (SH, Hyperband).
template <class History>
std::vector<std::size_t> recommendations(const History& h, bool by_fidelity) {
  std::vector<std::size_t> rec(h.size(), static_cast<std::size_t>(-1));
  std::size_t best = static_cast<std::size_t>(-1);
  for (std::size_t i = 0; i < h.size(); ++i) {
    const auto& t = h[i];
    if (t.eval.ok()) {
      if (best == static_cast<std::size_t>(-1)) {
        best = i;
      } else {
        const auto& b = h[best];
        const bool higher = by_fidelity && t.fidelity.epochs > b.fidelity.epochs;
        const bool same = !by_fidelity || t.fidelity.epochs == b.fidelity.epochs;
        if (higher || (same && t.eval.score > b.eval.score)) best = i;
      }
    }
    rec[i] = best;
  }
  return rec;
}

inline Nb201RunOutcome nb201_protocol_run(const std::string& name, const Nb201ProtocolSettings& s, std::uint64_t seed, const Nb201Space& space,
                        const TabularEstimator& table_est, double budget, const std::vector<double>& grid) {
  // The benchmark's search-time signal is the 12-epoch validation accuracy; the table
  // knows two schedules only, so the multi-fidelity strategies get a two-rung ladder.
  const auto strategy = make_strategy(name, {.seed = seed,
                                                  .fidelity = Fidelity{12},
                                                  .population = s.rea_population,
                                                  .sample = s.rea_sample,
                                                  .learning_rate = s.reinforce_lr,
                                                  .momentum = s.reinforce_momentum,
                                                  .eta = s.eta,
                                                  .fidelities = {12, 200}});
  TabularEstimator est = table_est;  // copies share the table
  const auto result = strategy.run(space, est, Budget{.cost_seconds = budget, .overrun = s.overrun});
  const auto d = static_cast<std::size_t>(est.options().dataset);
  Nb201RunOutcome out;
  out.evaluations = result.history.size();
  if (result.found) {
    const auto& r = est.record(result.best);
    out.valid = r.valid[d];
    out.test = r.test[d];
  } else {
    out.valid = out.test = std::numeric_limits<double>::quiet_NaN();
  }
  const auto rec = recommendations(result.history, strategy.multi_fidelity());
  out.curve.assign(grid.size(), std::numeric_limits<double>::quiet_NaN());
  std::size_t i = 0;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    while (i < result.history.size() && result.history[i].total_cost <= grid[g]) ++i;
    if (i > 0 && rec[i - 1] != static_cast<std::size_t>(-1))
      out.curve[g] = est.record(result.history[rec[i - 1]].arch).test[d];
  }
  return out;
}

/// Runs the protocol's searches as tasks of `executor` (nas::ThreadPool, nas::Serial:
/// anything with `workers()` and `post(task(worker))`), one task per search.
template <class Executor>
  requires requires(Executor& e) { e.workers(); }
Nb201ProtocolSummary run_nb201_protocol(const std::string& strategy, const std::string& dataset, const Nb201ProtocolSettings& settings,
                                        const std::shared_ptr<const Nb201Table>& table, std::size_t runs, double budget,
                                        std::uint64_t seed, Executor& executor) {
  const Nb201Space space;
  const TabularEstimator est(table, {.dataset = parse_nb201_dataset(dataset), .metrics = false});
  std::vector<double> grid(101);
  for (std::size_t g = 0; g < grid.size(); ++g) grid[g] = budget * static_cast<double>(g) / 100.0;

  std::vector<Nb201RunOutcome> outcomes(runs);
  const auto start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::condition_variable finished;
  std::size_t left = runs;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  for (std::size_t r = 0; r < runs; ++r)
    executor.post([&, r](std::size_t) {
      try {
        // Run r's seed depends only on (seed, r): results do not depend on the worker count.
        if (!failed) outcomes[r] = nb201_protocol_run(strategy, settings, run_seed(seed, r), space, est, budget, grid);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failed.exchange(true)) error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      if (--left == 0) finished.notify_all();
    });
  if constexpr (requires { executor.drain(); }) executor.drain();  // an executor that runs its tasks when asked
  {
    std::unique_lock lock(mutex);
    finished.wait(lock, [&] { return left == 0; });
  }
  if (error) std::rethrow_exception(error);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  Nb201ProtocolSummary s;
  s.strategy = strategy;
  s.dataset = dataset;
  s.runs = runs;
  s.budget = budget;
  s.wall_s = wall;
  std::vector<double> valid, test;
  for (const auto& o : outcomes) {
    if (!std::isnan(o.valid)) valid.push_back(o.valid), test.push_back(o.test);
    s.evaluations_mean += static_cast<double>(o.evaluations) / static_cast<double>(runs);
  }
  if (valid.empty()) throw DataError("run_nb201_protocol: no run of " + strategy + " found any architecture");
  mean_std(valid, s.valid_mean, s.valid_std);
  mean_std(test, s.test_mean, s.test_std);
  const auto oracle = est.oracle();
  s.optimum_valid = oracle.best_valid;
  s.optimum_test = oracle.best_test;
  s.grid = grid;
  s.curve.assign(grid.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t g = 0; g < grid.size(); ++g) {
    double sum = 0.0;
    std::size_t n = 0;
    for (const auto& o : outcomes)
      if (!std::isnan(o.curve[g])) sum += o.curve[g], ++n;
    if (n * 2 >= runs) s.curve[g] = sum / static_cast<double>(n);  // plotted once most runs recommend something
  }
  return s;
}

namespace detail {
// The smallest executor, for callers without nas/exec: post() collects the tasks and
// drain() runs them on `threads` threads started for the purpose.
class SpawnExecutor {
 public:
  explicit SpawnExecutor(unsigned threads) : threads_(threads ? threads : 1) {}
  [[nodiscard]] std::size_t workers() const noexcept { return threads_; }
  void post(std::function<void(std::size_t)> task) { tasks_.push_back(std::move(task)); }
  void drain() {
    std::atomic<std::size_t> next{0};
    const auto work = [&](std::size_t w) {
      for (std::size_t i = next++; i < tasks_.size(); i = next++) tasks_[i](w);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads_; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& t : pool) t.join();
    tasks_.clear();
  }

 private:
  unsigned threads_;
  std::vector<std::function<void(std::size_t)>> tasks_;
};
}  // namespace detail

/// As the executor overload, on `threads` threads of its own.
inline Nb201ProtocolSummary run_nb201_protocol(const std::string& strategy, const std::string& dataset,
                                              const Nb201ProtocolSettings& settings, const std::shared_ptr<const Nb201Table>& table,
                                              std::size_t runs, double budget, std::uint64_t seed, unsigned threads) {
  detail::SpawnExecutor spawn(threads);
  return run_nb201_protocol(strategy, dataset, settings, table, runs, budget, seed, spawn);
}

}  // namespace nas
