// SupernetEstimator: scores an architecture with a trained supernet's shared weights, after recalibrating its BatchNorm statistics.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/trained.hpp"
#include "nas/model/supernet.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// Every BatchNorm2d in `net` that keeps running statistics, depth first.
[[nodiscard]] inline std::vector<BatchNorm2d*> batch_norms(Module& net) {
  std::vector<BatchNorm2d*> out;
  std::function<void(Module&)> walk = [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m); bn && bn->options().track_running_stats) out.push_back(bn);
    m.for_each_child([&](const std::string&, Module& c) { walk(c); });
  };
  walk(net);
  return out;
}

/// Batch-norm recalibration (the "BN recalibration" of SPOS, Guo et al. 2020, sec. 3.3;
/// PyTorch's BatchNorm with momentum=None): sets the running statistics of the BatchNorms
/// that `net` runs to the equal-weight mean, over `batches`, of each batch's mean and
/// unbiased variance, from forwards in training mode (so every BatchNorm sees inputs
/// normalised by the batch statistics of those before it). Weights are not touched and no
/// backward runs; BatchNorms that do not run on these inputs (ops off the selected path)
/// end with zero statistics, so save them first if they matter (SupernetEstimator does).
/// Restores the training mode it found. `bns` is batch_norms(net) (pass it to save the walk).
inline void recalibrate_batch_norm(Module& net, std::span<const Tensor> batches, std::span<BatchNorm2d* const> bns) {
  if (batches.empty()) throw ConfigError("recalibrate_batch_norm: no calibration batches");
  std::vector<std::vector<double>> sum_mean(bns.size()), sum_var(bns.size());
  for (std::size_t i = 0; i < bns.size(); ++i) {
    if (!(bns[i]->options().momentum > 0.0f))
      throw ConfigError("recalibrate_batch_norm: a BatchNorm with momentum 0 never takes batch statistics");
    sum_mean[i].assign(static_cast<std::size_t>(bns[i]->options().channels), 0.0);
    sum_var[i].assign(static_cast<std::size_t>(bns[i]->options().channels), 0.0);
  }
  const bool was_training = net.is_training();
  net.train();
  // With the running statistics zeroed before a forward, the update r = (1 - m) r + m s
  // leaves r = m s: the batch statistic s, read back as r / m.
  for (const Tensor& x : batches) {
    for (BatchNorm2d* bn : bns) {
      bn->running_mean().zero();
      bn->running_var().zero();
    }
    (void)net.forward(x);
    for (std::size_t i = 0; i < bns.size(); ++i) {
      const double m = bns[i]->options().momentum;
      const Tensor& rm = bns[i]->running_mean();
      const Tensor& rv = bns[i]->running_var();
      for (std::size_t c = 0; c < sum_mean[i].size(); ++c) {
        sum_mean[i][c] += static_cast<double>(rm[c]) / m;
        sum_var[i][c] += static_cast<double>(rv[c]) / m;
      }
    }
  }
  const double n = static_cast<double>(batches.size());
  for (std::size_t i = 0; i < bns.size(); ++i)
    for (std::size_t c = 0; c < sum_mean[i].size(); ++c) {
      bns[i]->running_mean()[c] = static_cast<float>(sum_mean[i][c] / n);
      bns[i]->running_var()[c] = static_cast<float>(sum_var[i][c] / n);
    }
  net.train(was_training);
}
inline void recalibrate_batch_norm(Module& net, std::span<const Tensor> batches) {
  const std::vector<BatchNorm2d*> bns = batch_norms(net);
  recalibrate_batch_norm(net, batches, bns);
}

/// How SupernetEstimator scores a path.
struct SupernetEstimatorOptions {
  /// Training batches whose statistics replace the BatchNorm running statistics before
  /// each evaluation (the same batches for every architecture); 0 scores with the
  /// statistics the supernet accumulated in training, shared by all paths.
  std::size_t calibration_batches = 8;
  std::size_t batch_size = 64;       ///< images per calibration batch
  std::size_t eval_batch_size = 256;
  std::size_t max_valid = 0;         ///< > 0: score on a seeded, class-balanced subset of the validation split
  int threads = 0;                   ///< > 0: nas::set_num_threads(threads) before each evaluation
  std::uint64_t seed = 0;            ///< which training images calibrate, which validation images score

  void validate(const char* where) const {
    if (batch_size < 2)
      throw ConfigError(std::string(where) + ": batch_size (" + std::to_string(batch_size) +
                        ") must be >= 2 (BatchNorm needs a batch)");
    if (eval_batch_size < 1) throw ConfigError(std::string(where) + ": eval_batch_size must be >= 1");
    if (threads < 0) throw ConfigError(std::string(where) + ": threads (" + std::to_string(threads) + ") must be >= 0");
  }
};

/// An Estimator that scores an architecture of `Space` (Nb201Space or CellSpace) with the
/// shared weights of a trained Supernet: it selects the architecture's path, recalibrates
/// the BatchNorm statistics on a few training batches (recalibrate_batch_norm), and
/// measures accuracy on the validation split in evaluation mode. The score is the
/// validation accuracy in percent; metrics valid_accuracy, valid_loss; cost_seconds is
/// the measured time. The supernet's weights are never changed and its running
/// statistics are restored after each evaluation, so evaluations do not depend on each
/// other or on their order, and training can resume afterwards. Because it is an ordinary
/// Estimator, every discrete strategy (random search, evolution, local search, Reinforce
/// on categorical(space)) searches on it unchanged. Fidelity is ignored.
///
/// The supernet(s) must outlive the estimator. With several supernets (few-shot
/// splitting: FewShotSupernet::router() in nas/search/oneshot.hpp), `route` says which
/// one owns an architecture.
template <class Space>
class SupernetEstimator {
 public:
  using Arch = typename Space::Arch;
  using Options = SupernetEstimatorOptions;
  using Router = std::function<Supernet<Space>&(const Arch&)>;

  SupernetEstimator(Supernet<Space>& supernet, const Dataset& train, const Dataset& valid, Options options = {})
      : SupernetEstimator([s = &supernet](const Arch&) -> Supernet<Space>& { return *s; }, train, valid, options) {}

  SupernetEstimator(Router route, const Dataset& train, const Dataset& valid, Options options = {})
      : route_(std::move(route)), options_(options) {
    options_.validate("SupernetEstimator");
    train.validate("SupernetEstimator (training split)");
    valid.validate("SupernetEstimator (validation split)");
    if (valid.empty()) throw ConfigError("SupernetEstimator: empty validation split");
    if (!route_) throw ConfigError("SupernetEstimator: no supernet router");
    valid_ = detail::capped(valid, options_.max_valid, mix_seed(options_.seed, 12));
    if (options_.calibration_batches > 0) {
      const std::size_t b = std::min(options_.batch_size, train.size());
      if (b < 2) throw ConfigError("SupernetEstimator: the training split has " + std::to_string(train.size()) + " images (need >= 2)");
      // Fixed calibration batches: consecutive slices of one seeded permutation (wrapping).
      std::vector<std::size_t> order(train.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      Rng rng(mix_seed(options_.seed, 13));
      rng.shuffle(order);
      const std::size_t per = train.image_size();
      std::size_t cursor = 0;
      for (std::size_t k = 0; k < options_.calibration_batches; ++k) {
        Tensor x(Shape{static_cast<int>(b), train.channels, train.height, train.width});
        for (std::size_t i = 0; i < b; ++i, ++cursor)
          std::copy_n(train.images.data() + order[cursor % order.size()] * per, per, x.data() + i * per);
        calibration_.push_back(std::move(x));
      }
    }
  }

  Evaluation evaluate(const Arch& arch, Fidelity = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    if (options_.threads > 0) set_num_threads(options_.threads);
    Supernet<Space>& net = route_(arch);
    const NetworkInput& in = net.input();
    if (in.channels != valid_.channels || in.height != valid_.height || in.width != valid_.width || in.classes != valid_.classes)
      throw ConfigError("SupernetEstimator::evaluate: the supernet takes " + std::to_string(in.channels) + "x" +
                        std::to_string(in.height) + "x" + std::to_string(in.width) + " images of " +
                        std::to_string(in.classes) + " classes, the data differ");
    net.select(arch);
    EvalResult r;
    if (calibration_.empty()) {
      r = evaluate_network(net, valid_, options_.eval_batch_size);
    } else {
      Saved& s = saved_for(net);
      for (std::size_t i = 0; i < s.bns.size(); ++i) {
        s.mean[i].copy_from(s.bns[i]->running_mean());
        s.var[i].copy_from(s.bns[i]->running_var());
      }
      auto restore = [&s] {
        for (std::size_t i = 0; i < s.bns.size(); ++i) {
          s.bns[i]->running_mean().copy_from(s.mean[i]);
          s.bns[i]->running_var().copy_from(s.var[i]);
        }
      };
      try {
        recalibrate_batch_norm(net, calibration_, s.bns);
        r = evaluate_network(net, valid_, options_.eval_batch_size);
      } catch (...) {
        restore();
        throw;
      }
      restore();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!std::isfinite(r.loss)) return Evaluation::failed("validation loss is not finite with the shared weights", secs);
    Evaluation e;
    e.score = r.accuracy;
    e.metrics.set(metric::valid_accuracy, r.accuracy).set(metric::valid_loss, r.loss);
    e.cost_seconds = secs;
    return e;
  }

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  /// The validation images scored (after max_valid).
  [[nodiscard]] const Dataset& valid_data() const noexcept { return valid_; }
  /// The calibration batches (empty without recalibration).
  [[nodiscard]] const std::vector<Tensor>& calibration_batches() const noexcept { return calibration_; }

 private:
  struct Saved {
    std::vector<BatchNorm2d*> bns;
    std::vector<Tensor> mean, var;
  };
  Saved& saved_for(Supernet<Space>& net) {
    auto it = saved_.find(&net);
    if (it != saved_.end()) return it->second;
    Saved s;
    s.bns = batch_norms(net);
    for (BatchNorm2d* bn : s.bns) {
      s.mean.push_back(bn->running_mean());
      s.var.push_back(bn->running_var());
    }
    return saved_.emplace(&net, std::move(s)).first->second;
  }

  Router route_;
  Options options_;
  Dataset valid_;
  std::vector<Tensor> calibration_;
  std::unordered_map<const Supernet<Space>*, Saved> saved_;
};

}  // namespace nas
