// TrainedEstimator: scores an architecture by training its network and measuring held-out accuracy.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/batch.hpp"
#include "nas/data/dataset.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/chain_network.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// How TrainedEstimator (and final_training) train a network. The defaults are the
/// NAS-Bench-201 recipe scaled down: SGD with Nesterov momentum 0.9, weight decay 5e-4,
/// learning rate 0.1 annealed by a cosine to 0, batch 64.
struct TrainingOptions {
  NetworkOptions network{};      ///< C, N and initialisation (the seed is replaced per architecture)
  double epochs = 1.0;           ///< default fidelity (Fidelity{} asks for this many epochs)
  /// The cosine schedule's horizon in epochs: lr(t) = eta_min + (lr - eta_min)(1 + cos(pi t / T)) / 2
  /// over T = max_epochs * steps_per_epoch steps. A fixed horizon makes training resumed at a
  /// higher fidelity identical to uninterrupted training. 0 means `epochs`. Fidelities
  /// above it are rejected (ConfigError).
  double max_epochs = 0.0;
  std::size_t batch_size = 64;
  double lr = 0.1;
  double eta_min = 0.0;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 5e-4;
  bool cosine = true;            ///< false: constant learning rate
  double label_smoothing = 0.0;
  double grad_clip = 0.0;        ///< > 0: clip the global gradient norm (DARTS uses 5)
  Augment augment{};             ///< training-set augmentation (random crop / flip)
  int threads = 0;               ///< > 0: nas::set_num_threads(threads) before training
  std::uint64_t seed = 0;        ///< with the architecture, seeds initialisation and batch order
  std::size_t max_train = 0;     ///< > 0: use a seeded, class-balanced subset of the training split
  std::size_t max_valid = 0;     ///< > 0: the same for the validation split
  std::size_t eval_batch_size = 256;
  std::size_t cache_size = 8;    ///< trained networks kept for resuming (0 disables resuming)
  /// Called after each finished epoch (train loss; valid_accuracy NaN: not measured per epoch).
  std::function<void(const EpochInfo&)> on_epoch = nullptr;

  void validate(const char* where) const {
    network.validate(where);
    auto bad = [where](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    if (!(epochs > 0.0) || !std::isfinite(epochs)) bad("epochs (" + std::to_string(epochs) + ") must be finite and > 0");
    if (max_epochs < 0.0 || !std::isfinite(max_epochs)) bad("max_epochs (" + std::to_string(max_epochs) + ") must be >= 0");
    if (max_epochs > 0.0 && max_epochs < epochs)
      bad("max_epochs (" + std::to_string(max_epochs) + ") is below the default epochs (" + std::to_string(epochs) + ")");
    if (batch_size < 2) bad("batch_size (" + std::to_string(batch_size) + ") must be >= 2 (BatchNorm needs a batch)");
    if (!(lr >= 0.0) || !(eta_min >= 0.0)) bad("lr (" + std::to_string(lr) + ") and eta_min must be >= 0");
    if (eval_batch_size < 1) bad("eval_batch_size must be >= 1");
    if (threads < 0) bad("threads (" + std::to_string(threads) + ") must be >= 0");
  }
  [[nodiscard]] double horizon() const noexcept { return max_epochs > 0.0 ? max_epochs : epochs; }
};

/// Accuracy (percent) and mean loss of a network on a data set, in evaluation mode.
struct EvalResult {
  double accuracy = 0.0;
  double loss = 0.0;
};

namespace detail {

inline Dataset capped(const Dataset& d, std::size_t max, std::uint64_t seed) {
  if (max == 0 || max >= d.size()) return d;
  // A class-balanced, seeded subset (classes in turn), as nas::subset_indices does.
  std::vector<std::vector<std::size_t>> by(static_cast<std::size_t>(std::max(d.classes, 1)));
  for (std::size_t i = 0; i < d.size(); ++i) by[static_cast<std::size_t>(d.labels[i])].push_back(i);
  Rng rng(seed);
  for (auto& c : by) rng.shuffle(c);
  std::vector<std::size_t> idx;
  idx.reserve(max);
  for (std::size_t round = 0; idx.size() < max; ++round)
    for (auto& c : by)
      if (round < c.size() && idx.size() < max) idx.push_back(c[round]);
  std::sort(idx.begin(), idx.end());
  return d.select(idx);
}

}  // namespace detail

/// Evaluates `net` on `data` in evaluation mode (running BN statistics), `batch` images at
/// a time; restores the training mode it found. Non-finite logits give a NaN loss.
template <class Net>
EvalResult evaluate_network(Net& net, const Dataset& data, std::size_t batch = 256) {
  if (data.empty()) throw ConfigError("evaluate_network: empty data set");
  const bool was_training = net.is_training();
  net.eval();
  const auto b = static_cast<int>(std::min(batch, data.size()));
  Tensor x(Shape{b, data.channels, data.height, data.width});
  std::vector<int> labels(static_cast<std::size_t>(b));
  SoftmaxCrossEntropy ce;
  double loss = 0.0;
  std::size_t correct = 0;
  const std::size_t per = data.image_size();
  for (std::size_t start = 0; start < data.size(); start += static_cast<std::size_t>(b)) {
    const auto n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(b), data.size() - start));
    x.resize(Shape{n, data.channels, data.height, data.width});
    std::copy_n(data.images.data() + start * per, static_cast<std::size_t>(n) * per, x.data());
    for (int i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = data.labels[start + static_cast<std::size_t>(i)];
    const Tensor& logits = net.forward(x);
    const std::span<const int> lab(labels.data(), static_cast<std::size_t>(n));
    loss += ce.forward(logits, lab) * n;
    correct += static_cast<std::size_t>(count_correct(logits, lab));
  }
  net.train(was_training);
  return {100.0 * static_cast<double>(correct) / static_cast<double>(data.size()), loss / static_cast<double>(data.size())};
}

/// A network in training: weights, BN statistics, optimizer state, batch order and steps
/// done. TrainedEstimator keeps these to resume; final_training uses one directly.
template <class Space>
class TrainingRun {
 public:
  using Arch = typename Space::Arch;

  /// A fresh network for `arch`, initialised and shuffled from `seed`.
  TrainingRun(const Space& space, const Arch& arch, const Dataset& train, const TrainingOptions& o, std::uint64_t seed)
      : arch_(arch), options_(o) {
    NetworkOptions no = o.network;
    no.seed = mix_seed(seed, 1);
    net_ = make_network(space, arch, NetworkInput::of(train), no);
    batch_ = std::min(o.batch_size, train.size());
    if (batch_ < 2) throw ConfigError("TrainingRun: the training set has " + std::to_string(train.size()) + " images (need >= 2)");
    loader_ = std::make_unique<BatchLoader>(
        train, LoaderOptions{.batch_size = batch_, .shuffle = true, .drop_last = true, .seed = mix_seed(seed, 2),
                             .augment = o.augment});
    steps_per_epoch_ = static_cast<long>(loader_->batches_per_epoch());
    opt_ = std::make_unique<SGD>(net_->parameters(), SGD::Options{.lr = o.lr, .momentum = o.momentum,
                                                                  .weight_decay = o.weight_decay, .nesterov = o.nesterov});
    params_ = opt_->parameters();
    x_.resize(Shape{static_cast<int>(batch_), train.channels, train.height, train.width});
    labels_.resize(batch_);
  }

  /// Steps in one epoch (full batches of the training set).
  [[nodiscard]] long steps_per_epoch() const noexcept { return steps_per_epoch_; }
  [[nodiscard]] long steps_done() const noexcept { return steps_; }
  [[nodiscard]] double epochs_done() const noexcept { return static_cast<double>(steps_) / static_cast<double>(steps_per_epoch_); }
  /// Steps for `epochs` epochs (fractions round to the nearest step, at least 1).
  [[nodiscard]] long steps_for(double epochs) const {
    return std::max<long>(1, std::lround(epochs * static_cast<double>(steps_per_epoch_)));
  }
  [[nodiscard]] CellNetwork<Space>& network() noexcept { return *net_; }
  [[nodiscard]] const Arch& arch() const noexcept { return arch_; }
  /// Mean training loss of the steps run by the last train_to().
  [[nodiscard]] double last_train_loss() const noexcept { return last_loss_; }
  /// Why the last train_to() failed ("" if it did not).
  [[nodiscard]] const std::string& failure() const noexcept { return failure_; }
  /// Makes train_to() stop before any step that would start at or after `deadline` (the
  /// schedule's horizon is unchanged, so the learning rate is not annealed to its end).
  void set_deadline(std::chrono::steady_clock::time_point deadline) noexcept { deadline_ = deadline; }
  /// Whether the last train_to() stopped at the deadline before its target.
  [[nodiscard]] bool stopped_at_deadline() const noexcept { return stopped_; }

  /// Trains until `target` steps are done; the learning rate of step t follows the cosine
  /// over `horizon_steps`. Returns false (and sets failure()) when the loss stops being finite.
  bool train_to(long target, long horizon_steps, const std::function<void(const EpochInfo&)>& on_epoch = nullptr) {
    net_->train();
    SoftmaxCrossEntropy ce(options_.label_smoothing);
    const CosineAnnealing cos{.base_lr = options_.lr, .t_max = static_cast<int>(std::max<long>(1, horizon_steps)),
                              .eta_min = options_.eta_min};
    double sum = 0.0;
    long count = 0;
    failure_.clear();
    stopped_ = false;
    while (steps_ < target) {
      if (std::chrono::steady_clock::now() >= deadline_) {
        stopped_ = true;
        break;
      }
      if (epoch_count_ == 0) epoch_start_ = std::chrono::steady_clock::now();
      std::size_t n = loader_->next(x_.data(), labels_.data());
      if (n == 0) n = loader_->next(x_.data(), labels_.data());  // epoch boundary of the loader
      opt_->set_lr(options_.cosine ? cos.lr_at(static_cast<int>(std::min(steps_, horizon_steps))) : options_.lr);
      const Tensor& logits = net_->forward(x_);
      const double loss = ce.forward(logits, std::span<const int>(labels_.data(), n));
      if (!std::isfinite(loss)) {
        failure_ = "loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at epoch " +
                   std::to_string(steps_ / steps_per_epoch_ + 1) + " step " + std::to_string(steps_ % steps_per_epoch_ + 1);
        return false;
      }
      opt_->zero_grad();
      net_->backward(ce.backward());
      if (options_.grad_clip > 0.0) {
        const double norm = clip_grad_norm(params_, options_.grad_clip);
        if (!std::isfinite(norm)) {  // clipping would turn it into NaN weights: stop here, weights intact
          failure_ = "gradient norm became " + std::string(std::isnan(norm) ? "NaN" : "infinite") + " at epoch " +
                     std::to_string(steps_ / steps_per_epoch_ + 1) + " step " + std::to_string(steps_ % steps_per_epoch_ + 1);
          return false;
        }
      }
      opt_->step();
      ++steps_;
      sum += loss;
      ++count;
      epoch_sum_ += loss;
      ++epoch_count_;
      if (steps_ % steps_per_epoch_ == 0) {
        const auto now = std::chrono::steady_clock::now();
        if (on_epoch)
          on_epoch(EpochInfo{.epoch = static_cast<std::size_t>(steps_ / steps_per_epoch_),
                             .epochs = static_cast<std::size_t>(std::ceil(static_cast<double>(target) / steps_per_epoch_)),
                             .train_loss = epoch_sum_ / static_cast<double>(epoch_count_),
                             .valid_accuracy = std::numeric_limits<double>::quiet_NaN(),
                             .seconds = std::chrono::duration<double>(now - epoch_start_).count()});
        epoch_sum_ = 0.0;
        epoch_count_ = 0;
      }
    }
    if (count) last_loss_ = sum / static_cast<double>(count);
    return true;
  }

 private:
  Arch arch_;
  TrainingOptions options_;
  std::unique_ptr<CellNetwork<Space>> net_;
  std::unique_ptr<BatchLoader> loader_;
  std::unique_ptr<SGD> opt_;
  std::vector<Parameter*> params_;
  std::size_t batch_ = 0;
  long steps_per_epoch_ = 1;
  long steps_ = 0;
  // The epoch in progress, across train_to() calls: EpochInfo covers the whole epoch even
  // when it is trained in chunks.
  double epoch_sum_ = 0.0;
  long epoch_count_ = 0;
  std::chrono::steady_clock::time_point epoch_start_{};
  double last_loss_ = std::numeric_limits<double>::quiet_NaN();
  std::string failure_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool stopped_ = false;
  Tensor x_;
  std::vector<int> labels_;
};

/// Scores architectures of `Space` (Nb201Space or CellSpace) by real training: a freshly
/// initialised CellNetwork is trained for the requested fidelity (epochs; a fraction
/// trains that fraction of an epoch's batches) on the training split and scored on the
/// validation split, never on a test set. The score is the validation accuracy in
/// percent; metrics (names in nas/core/metrics.hpp): valid_accuracy, valid_loss,
/// train_loss, train_seconds, params, macs (multiply-accumulates per image),
/// epochs_total, resumed_from_epochs, threads (the count it trained on). cost_seconds is
/// the measured time of the call.
///
/// Resuming: the last `cache_size` trained networks (weights, BN statistics, momentum,
/// batch order, steps done) are kept by architecture. Asked for an architecture it has
/// trained to fewer epochs, the estimator continues from there and charges only the
/// extra time, so successive halving and Hyperband pay once for each epoch. The cosine
/// schedule runs over the fixed horizon `max_epochs`, so resumed training is step for
/// step the training an uninterrupted run would do. Asked for fewer epochs than a cached
/// network has, it trains a fresh one.
///
/// A non-finite training loss ends the evaluation as failed with the reason ("loss
/// became NaN at epoch 2 step 17"); the search goes on. Deterministic for a given seed
/// and thread count: initialisation and batch order depend only on (seed, architecture).
template <class Space>
class TrainedEstimator {
 public:
  using Arch = typename Space::Arch;
  using Options = TrainingOptions;

  /// `train` and `valid` are copied (capped to max_train / max_valid images).
  TrainedEstimator(Space space, const Dataset& train, const Dataset& valid, Options options = {})
      : space_(std::move(space)), options_(std::move(options)) {
    options_.validate("TrainedEstimator");
    train.validate("TrainedEstimator (training split)");
    valid.validate("TrainedEstimator (validation split)");
    if (train.empty() || valid.empty()) throw ConfigError("TrainedEstimator: empty training or validation split");
    if (train.channels != valid.channels || train.height != valid.height || train.width != valid.width ||
        train.classes != valid.classes)
      throw ConfigError("TrainedEstimator: training and validation images differ in shape or classes");
    // Held by pointer: cached training runs keep batch loaders that point at the data,
    // so the data must not move when the estimator does.
    train_ = std::make_unique<const Dataset>(detail::capped(train, options_.max_train, mix_seed(options_.seed, 11)));
    valid_ = std::make_unique<const Dataset>(detail::capped(valid, options_.max_valid, mix_seed(options_.seed, 12)));
  }

  Evaluation evaluate(const Arch& arch, Fidelity fidelity = {}) { return evaluate(arch, fidelity, EpochSink{}); }

  /// As evaluate(arch, fidelity), and tells `on_epoch` (besides TrainingOptions::on_epoch)
  /// each epoch that finishes: a strategy's RunContext passes one that reaches the run's
  /// callbacks.
  Evaluation evaluate(const Arch& arch, Fidelity fidelity, const EpochSink& on_epoch) {
    if (options_.threads > 0) set_num_threads(options_.threads);
    return evaluate_here(arch, fidelity, on_epoch);
  }

  /// As evaluate(arch, fidelity, ctx.epochs), as an executor's driver calls it: with
  /// TrainingOptions::threads at 0 the training uses `ctx.threads`, the worker's share of
  /// the cores (set for the calling thread only, as every thread count is); a fixed
  /// `threads` wins. An evaluation asked after the run has stopped fails at once.
  Evaluation evaluate(const Arch& arch, Fidelity fidelity, EvalContext& ctx) {
    if (ctx.stop.stop_requested()) return Evaluation::failed("stopped: the run no longer wants this evaluation");
    set_num_threads(options_.threads > 0 ? options_.threads : static_cast<int>(std::max(1u, ctx.threads)));
    return evaluate_here(arch, fidelity, ctx.epochs);
  }

  [[nodiscard]] const Space& space() const noexcept { return space_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  /// The training and validation images in use (after the max_train / max_valid caps).
  [[nodiscard]] const Dataset& train_data() const noexcept { return *train_; }
  [[nodiscard]] const Dataset& valid_data() const noexcept { return *valid_; }
  /// Networks currently kept for resuming.
  [[nodiscard]] std::size_t cached() const noexcept { return cache_.size(); }
  /// Epochs a cached network of `arch` has trained (0 if none is cached).
  [[nodiscard]] double cached_epochs(const Arch& arch) const {
    for (const auto& r : cache_)
      if (r->arch() == arch) return r->epochs_done();
    return 0.0;
  }

 private:
  Evaluation evaluate_here(const Arch& arch, Fidelity fidelity, const EpochSink& on_epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double epochs = fidelity.is_default() ? options_.epochs : fidelity.epochs;
    if (epochs > options_.horizon() * (1.0 + 1e-9))
      throw ConfigError("TrainedEstimator::evaluate: fidelity " + std::to_string(epochs) + " epochs exceeds max_epochs (" +
                        std::to_string(options_.horizon()) + "); raise TrainingOptions::max_epochs");

    std::unique_ptr<TrainingRun<Space>> run = take_cached(arch);
    if (!run) run = std::make_unique<TrainingRun<Space>>(space_, arch, *train_, options_, mix_seed(options_.seed, std::hash<Arch>{}(arch)));
    const long target = run->steps_for(epochs);
    if (run->steps_done() > target)
      run = std::make_unique<TrainingRun<Space>>(space_, arch, *train_, options_, mix_seed(options_.seed, std::hash<Arch>{}(arch)));
    const double resumed_from = run->epochs_done();
    const long horizon = run->steps_for(options_.horizon());
    const long steps_before = run->steps_done();

    EpochSink both;
    if (on_epoch && options_.on_epoch)
      both = [&](const EpochInfo& e) {
        options_.on_epoch(e);
        on_epoch(e);
      };
    const bool ok = run->train_to(target, horizon, both ? both : on_epoch ? on_epoch : options_.on_epoch);
    const double train_seconds = seconds_since(t0);
    if (!ok) return Evaluation::failed(run->failure(), train_seconds);

    const EvalResult v = evaluate_network(run->network(), *valid_, options_.eval_batch_size);
    if (!std::isfinite(v.loss)) return Evaluation::failed("validation loss is not finite after " + std::to_string(epochs) + " epochs", seconds_since(t0));
    auto& net = run->network();

    Evaluation e;
    e.score = v.accuracy;
    e.epochs = static_cast<double>(target - steps_before) / static_cast<double>(run->steps_per_epoch());
    e.metrics.reserve(10);
    e.metrics.set(metric::valid_accuracy, v.accuracy)
        .set(metric::valid_loss, v.loss)
        .set(metric::train_loss, run->last_train_loss())
        .set(metric::train_seconds, train_seconds)
        .set(metric::params, static_cast<double>(net.num_parameters()))
        .set(metric::macs, net.macs())
        .set(metric::epochs_total, run->epochs_done())
        .set(metric::resumed_from_epochs, resumed_from)
        .set(metric::threads, static_cast<double>(num_threads()));
    put_cached(std::move(run));
    e.cost_seconds = seconds_since(t0);
    return e;
  }

  static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::unique_ptr<TrainingRun<Space>> take_cached(const Arch& arch) {
    for (auto it = cache_.begin(); it != cache_.end(); ++it)
      if ((*it)->arch() == arch) {
        auto r = std::move(*it);
        cache_.erase(it);
        return r;
      }
    return nullptr;
  }
  void put_cached(std::unique_ptr<TrainingRun<Space>> run) {
    if (options_.cache_size == 0) return;
    cache_.push_back(std::move(run));  // most recent last
    while (cache_.size() > options_.cache_size) cache_.erase(cache_.begin());
  }

  Space space_;
  Options options_;
  std::unique_ptr<const Dataset> train_, valid_;
  std::vector<std::unique_ptr<TrainingRun<Space>>> cache_;
};

}  // namespace nas
