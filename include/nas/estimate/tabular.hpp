// TabularEstimator: NAS-Bench-201 lookups with the benchmark's search protocol (12-epoch score, simulated cost).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"
#include "nas/core/rng.hpp"
#include "nas/estimate/nb201_table.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// How a TabularEstimator treats fidelities other than the table's two schedules.
enum class Nb201FidelityRule {
  round_up,  ///< epochs <= 12 -> the 12-epoch run, 12 < epochs <= 200 -> the 200-epoch run
  exact,     ///< only 12 and 200 are allowed; anything else is a ConfigError
};

/// The best cells of the table for one data set (for regret curves).
struct Nb201Oracle {
  std::size_t best_valid_index = 0;  ///< highest 200-epoch validation accuracy
  double best_valid = 0.0;
  double test_of_best_valid = 0.0;   ///< its 200-epoch test accuracy
  std::size_t best_test_index = 0;   ///< highest 200-epoch test accuracy
  double best_test = 0.0;
};

/// Evaluates NAS-Bench-201 cells by table lookup, as the benchmark's protocol prescribes
/// (Dong & Yang 2020, sec. 5): the search sees the validation accuracy after the 12-epoch
/// schedule and is charged the simulated training time of those 12 epochs; the final
/// 200-epoch validation and test accuracies are reported as metrics only.
///
/// Fidelity (epochs): 12 -> `*_valid_12ep` as score, cost 12/200 x `train_time_s`;
/// 200 -> 200-epoch valid accuracy as score, the full `train_time_s` as cost. The default
/// fidelity (`Fidelity{}`) is `Options::default_epochs` (12). Other values follow
/// `Options::fidelity_rule`: by default they round up to the next schedule, and
/// `Evaluation::epochs` says which one was charged (the table has no other curve points).
///
/// Scores and accuracies are percent. For cifar10 the validation columns are the
/// benchmark's `cifar10-valid` runs (trained on 25k images, scored on the 25k held out),
/// and the test accuracy the `cifar10` runs (all 50k, test set). Metrics (when
/// `Options::metrics` is true): `test_accuracy` (same schedule as the score),
/// `valid_accuracy_200`, `test_accuracy_200`, `params` and `macs` (counts, from the
/// table's `params_m` and `flops_m` in millions; the table's "FLOPs" are multiply-
/// accumulates), named as every estimator names them (nas/core/metrics.hpp).
///
/// Per-seed mode (`Options::per_seed`, NATS-Bench's `is_random=True`): a 200-epoch
/// evaluation scores the validation accuracy of one training run drawn at random (from
/// the estimator's Rng, seeded by `Options::seed`) instead of the mean over runs, and
/// reports its seed in the metric `seed`. It needs `Nb201Table::load_seeds()`, and is
/// offered for cifar10 only: the per-seed file holds cifar10 validation accuracies, but
/// for cifar100 and imagenet16 only whole-test-set accuracies, which must not steer a
/// search. 12-epoch evaluations stay means (the table has no 12-epoch runs per seed).
///
/// Copies share the table. Queries do no allocation beyond the Metrics entries; with
/// `metrics = false` none at all. Per-seed mode draws from a mutable Rng: one estimator
/// per thread there.
class TabularEstimator {
 public:
  using Arch = Nb201Arch;

  struct Options {
    Nb201Dataset dataset = Nb201Dataset::cifar10;
    double default_epochs = 12.0;
    Nb201FidelityRule fidelity_rule = Nb201FidelityRule::round_up;
    bool metrics = true;
    bool per_seed = false;    ///< 200 epochs: one random run instead of the mean (cifar10 only)
    std::uint64_t seed = 0;   ///< seeds the per-seed draws
  };

  explicit TabularEstimator(std::shared_ptr<const Nb201Table> table) : TabularEstimator(std::move(table), Options{}) {}
  TabularEstimator(std::shared_ptr<const Nb201Table> table, Options options)
      : table_(std::move(table)), opt_(options), rng_(options.seed) {
    if (!table_) throw ConfigError("TabularEstimator: no table given");
    if (opt_.per_seed && opt_.dataset != Nb201Dataset::cifar10)
      throw ConfigError("TabularEstimator: per_seed is offered for cifar10 only (dataset " +
                        std::string(to_string(opt_.dataset)) +
                        " has per-seed accuracies on the whole test set alone, not on a validation split)");
    if (opt_.per_seed && !table_->has_seeds())
      throw ConfigError("TabularEstimator: per_seed needs the per-seed results (Nb201Table::load_seeds)");
    if (!(opt_.default_epochs > 0.0) || opt_.default_epochs > 200.0)
      throw ConfigError("TabularEstimator: default_epochs (" + std::to_string(opt_.default_epochs) +
                        ") must be in (0, 200]");
    (void)resolve(opt_.default_epochs);
    build();
  }
  explicit TabularEstimator(Nb201Table table) : TabularEstimator(std::move(table), Options{}) {}
  TabularEstimator(Nb201Table table, Options options)
      : TabularEstimator(std::make_shared<const Nb201Table>(std::move(table)), options) {}

  /// Loads the shipped table (default_nb201_path()) for one data set given by name.
  [[nodiscard]] static TabularEstimator from_default_table(std::string_view dataset = "cifar10") {
    return TabularEstimator(Nb201Table::load_default(), Options{.dataset = parse_nb201_dataset(dataset)});
  }

  [[nodiscard]] Evaluation evaluate(const Arch& a, Fidelity f = {}) const {
    const bool full = resolve(f.is_default() ? opt_.default_epochs : f.epochs);
    const Entry& c = (*entries_)[a.code()];
    Evaluation e;
    e.score = full ? c.valid_200 : c.valid_12;
    e.cost_seconds = full ? c.time_200 : c.time_200 * (12.0 / 200.0);
    e.epochs = full ? 200.0 : 12.0;
    if (opt_.per_seed && full) {
      const auto runs = table_->seeds(c.index);
      const Nb201SeedResult& run = runs[rng_.index(runs.size())];
      e.score = run.cifar10_valid;
      e.metrics.set(metric::seed, run.seed);
    }
    if (opt_.metrics) {
      const Nb201Record& r = (*table_)[c.index];
      const auto d = static_cast<std::size_t>(opt_.dataset);
      e.metrics.reserve(5);
      e.metrics.set(metric::test_accuracy, full ? r.test[d] : r.test_12ep[d]);
      e.metrics.set(metric::valid_accuracy_200, r.valid[d]);
      e.metrics.set(metric::test_accuracy_200, r.test[d]);
      e.metrics.set(metric::params, r.params_m[d] * 1e6);
      e.metrics.set(metric::macs, r.flops_m[d] * 1e6);
    }
    return e.check_finite();
  }

  /// The score alone (no Evaluation): the fastest query.
  [[nodiscard]] double score(const Arch& a, Fidelity f = {}) const {
    const bool full = resolve(f.is_default() ? opt_.default_epochs : f.epochs);
    const Entry& c = (*entries_)[a.code()];
    return full ? c.valid_200 : c.valid_12;
  }

  /// The whole table row of a cell.
  [[nodiscard]] const Nb201Record& record(const Arch& a) const { return (*table_)[(*entries_)[a.code()].index]; }

  [[nodiscard]] const Nb201Table& table() const noexcept { return *table_; }
  [[nodiscard]] const std::shared_ptr<const Nb201Table>& shared_table() const noexcept { return table_; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }

  /// The best cells for this estimator's data set (200-epoch accuracies).
  [[nodiscard]] Nb201Oracle oracle() const {
    Nb201Oracle o;
    const auto d = static_cast<std::size_t>(opt_.dataset);
    o.best_valid = o.best_test = -1.0;
    for (const auto& r : table_->records()) {
      if (r.valid[d] > o.best_valid) {
        o.best_valid = r.valid[d];
        o.best_valid_index = r.index;
        o.test_of_best_valid = r.test[d];
      }
      if (r.test[d] > o.best_test) {
        o.best_test = r.test[d];
        o.best_test_index = r.index;
      }
    }
    return o;
  }

 private:
  // Per cell (by Nb201Arch::code), what a query needs, packed for cache efficiency.
  struct Entry {
    double valid_12;
    double valid_200;
    double time_200;
    std::size_t index;
  };

  // True for the 200-epoch schedule, false for the 12-epoch one.
  bool resolve(double epochs) const {
    if (epochs == 12.0) return false;
    if (epochs == 200.0) return true;
    if (opt_.fidelity_rule == Nb201FidelityRule::round_up && epochs > 0.0 && epochs <= 200.0) return epochs > 12.0;
    throw ConfigError("TabularEstimator::evaluate: fidelity of " + std::to_string(epochs) +
                      " epochs; the NAS-Bench-201 table has 12 and 200" +
                      (opt_.fidelity_rule == Nb201FidelityRule::exact ? std::string(" (fidelity_rule = exact)")
                                                                      : std::string(" (at most 200)")));
  }

  void build() {
    if (table_->size() != Nb201Table::num_rows)
      throw ConfigError("TabularEstimator: the table has " + std::to_string(table_->size()) + " rows, expected 15625");
    const auto d = static_cast<std::size_t>(opt_.dataset);
    auto entries = std::make_shared<std::vector<Entry>>(Nb201Table::num_rows);
    for (const auto& r : table_->records())
      (*entries)[r.arch.code()] = Entry{r.valid_12ep[d], r.valid[d], r.train_time_s[d], r.index};
    entries_ = std::move(entries);
  }

  std::shared_ptr<const Nb201Table> table_;
  Options opt_;
  mutable Rng rng_;  // per-seed draws only
  std::shared_ptr<const std::vector<Entry>> entries_;  // shared by copies
};

}  // namespace nas
