// OneShot: single-path supernet training with a path-sampling policy (SPOS, FairNAS, ENAS) and few-shot splitting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/callbacks.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/augment.hpp"
#include "nas/data/batch.hpp"
#include "nas/data/dataset.hpp"
#include "nas/model/supernet.hpp"
#include "nas/search/categorical_policy.hpp"
#include "nas/search/categorical_view.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// How OneShot trains a supernet's shared weights. The defaults follow the NB201 supernet
/// recipes (SPOS/ENAS in AutoDL-Projects) scaled down: SGD with Nesterov momentum 0.9,
/// weight decay 5e-4, learning rate 0.05 annealed by a cosine to 0 over all steps, batch 64,
/// gradient norm clipped to 5. The optimizer skips the parameters a step did not reach, so
/// momentum and weight decay never move the ops of paths not sampled.
struct OneShotOptions {
  double epochs = 1.0;          ///< passes over the training split (fractions train that share of its batches)
  std::size_t batch_size = 64;
  /// Paths trained on each batch before one optimizer step on their summed gradients.
  /// FairNAS (Chu et al. 2021, Alg. 1) uses num_ops with FairPaths: every op of every edge
  /// gets exactly one gradient per step. 1 is SPOS / ENAS.
  std::size_t paths_per_batch = 1;
  double lr = 0.05;
  double eta_min = 0.0;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 5e-4;
  bool cosine = true;           ///< false: constant learning rate
  double grad_clip = 5.0;       ///< > 0: clip the global norm of the gradients a step received
  Augment augment{};            ///< training-set augmentation
  int threads = 0;              ///< > 0: nas::set_num_threads(threads) before training
  std::uint64_t seed = 0;       ///< batch order and path sampling
  long max_steps = 0;           ///< > 0: stop after this many optimizer steps (the schedule is unchanged)
  /// Ops off the sampled path free their buffers while training (Supernet::release_inactive_ops),
  /// so that the supernet holds the memory of one path, not of every op that ran once;
  /// false keeps them (no allocation when an op is sampled again). Restored after train().
  bool release_unsampled = true;
  /// Decisions held at one choice whatever the sampler draws, as (decision, choice) pairs
  /// of the space's categorical view (nas::categorical): a few-shot sub-supernet trains
  /// only the architectures with its op on the split edge.
  std::vector<std::pair<std::size_t, int>> fixed{};
  /// Called after each epoch (mean training loss, seconds; valid_accuracy is the mean
  /// controller reward in percent for a learning sampler, NaN otherwise).
  std::function<void(const EpochInfo&)> on_epoch = nullptr;

  void validate(const char* where) const {
    auto bad = [where](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    if (!(epochs > 0.0) || !std::isfinite(epochs)) bad("epochs (" + std::to_string(epochs) + ") must be finite and > 0");
    if (batch_size < 2) bad("batch_size (" + std::to_string(batch_size) + ") must be >= 2 (BatchNorm needs a batch)");
    if (paths_per_batch < 1) bad("paths_per_batch (0) must be >= 1");
    if (!(lr >= 0.0) || !std::isfinite(lr)) bad("lr (" + std::to_string(lr) + ") must be finite and >= 0");
    if (!(eta_min >= 0.0) || eta_min > lr) bad("eta_min (" + std::to_string(eta_min) + ") must lie in [0, lr]");
    if (!(momentum >= 0.0 && momentum < 1.0)) bad("momentum (" + std::to_string(momentum) + ") must lie in [0, 1)");
    if (!(weight_decay >= 0.0)) bad("weight_decay (" + std::to_string(weight_decay) + ") must be >= 0");
    if (!(grad_clip >= 0.0)) bad("grad_clip (" + std::to_string(grad_clip) + ") must be >= 0");
    if (threads < 0) bad("threads (" + std::to_string(threads) + ") must be >= 0");
    if (max_steps < 0) bad("max_steps (" + std::to_string(max_steps) + ") must be >= 0");
  }
};

/// What a OneShot::train call did.
struct OneShotStats {
  long steps = 0;                     ///< optimizer steps
  long paths = 0;                     ///< paths trained (steps * paths_per_batch)
  double seconds = 0.0;               ///< wall time of the call
  std::vector<double> epoch_seconds;  ///< per epoch (a partial last epoch included), controller phase included
  std::vector<double> epoch_loss;     ///< mean training loss per epoch
  std::vector<double> controller_reward;  ///< mean controller reward per epoch (learning samplers only)
  /// counts[d][c]: paths trained with choice c at decision d of the categorical view.
  std::vector<std::vector<long>> counts;
};

// ---------------------------------------------------------------------------------------
// Path samplers: the policies of OneShot<PathSampler>.
//
// A PathSampler is told the decisions of the space's categorical view once per training
// call (`start(num_choices)`) and then draws one choice per decision per path
// (`next(choices, rng)`). A sampler that also has `controller_steps()` and
// `learn(choices, reward)` is a learned controller: after each epoch of shared-weight
// training, OneShot draws controller_steps() paths from it, scores each on one validation
// batch with the shared weights (accuracy in [0, 1]) and calls learn() (ENAS's
// alternating phases, Pham et al. 2018, sec. 2.2).
// ---------------------------------------------------------------------------------------

/// A path sampler: start(num_choices), then next(choices, rng) per path.
template <class S>
concept PathSampler = requires(S& s, std::span<const std::size_t> k, std::span<int> c, Rng& rng) {
  s.start(k);
  s.next(c, rng);
};

/// A path sampler that learns from rewards: controller_steps() and learn(choices, reward).
template <class S>
concept LearnedPathSampler = PathSampler<S> && requires(S& s, std::span<const int> c, double r) {
  { s.controller_steps() } -> std::convertible_to<std::size_t>;
  s.learn(c, r);
};

/// Single-path one-shot (Guo et al. 2020, SPOS): every choice drawn uniformly and
/// independently; for Nb201Space, every architecture equally likely.
class UniformPaths {
 public:
  void start(std::span<const std::size_t> num_choices) { k_.assign(num_choices.begin(), num_choices.end()); }
  void next(std::span<int> choices, Rng& rng) {
    for (std::size_t i = 0; i < k_.size(); ++i) choices[i] = static_cast<int>(rng.index(k_[i]));
  }

 private:
  std::vector<std::size_t> k_;
};

/// FairNAS's strict fairness (Chu et al. 2021): decision i takes its num_choices(i)
/// choices in a fresh random order each round of num_choices(i) paths, so over every
/// round each choice is trained exactly once (for NB201: each of the 5 ops of every edge
/// once per 5 paths). Rounds start with the first path of each training call.
class FairPaths {
 public:
  void start(std::span<const std::size_t> num_choices) {
    order_.assign(num_choices.size(), {});
    for (std::size_t i = 0; i < num_choices.size(); ++i) order_[i].resize(num_choices[i]);
    t_ = 0;
  }
  void next(std::span<int> choices, Rng& rng) {
    for (std::size_t i = 0; i < order_.size(); ++i) {
      auto& o = order_[i];
      const std::size_t pos = t_ % o.size();
      if (pos == 0) {
        std::iota(o.begin(), o.end(), 0);
        rng.shuffle(o);
      }
      choices[i] = o[pos];
    }
    ++t_;
  }

 private:
  std::vector<std::vector<int>> order_;
  std::size_t t_ = 0;
};

/// The ENAS controller (Pham et al. 2018) as a CategoricalPolicy per decision (the
/// Reinforce strategy's policy, here in place of ENAS's LSTM, as NB201's ENAS baseline
/// keeps the decisions' distributions independent in effect): paths for shared-weight
/// training are drawn from the policy; after each epoch the policy takes
/// `steps` REINFORCE steps rewarded with the sampled path's validation-batch accuracy.
class EnasController {
 public:
  struct Options {
    double learning_rate = 0.05;  ///< Adam step size of the logits
    double momentum = 0.9;        ///< of the reward baseline
    double entropy_weight = 0.0;  ///< entropy bonus, reward (percent) per nat (CategoricalPolicy; 0: none)
    std::size_t steps = 50;       ///< controller steps after each epoch
  };

  EnasController() = default;
  explicit EnasController(const Options& options) : options_(options) {}

  void start(std::span<const std::size_t> num_choices) {
    if (!policy_ || !same_decisions(num_choices))
      policy_ = std::make_unique<CategoricalPolicy>(
          num_choices,
          CategoricalPolicy::Options{
              .learning_rate = options_.learning_rate, .momentum = options_.momentum, .entropy_weight = options_.entropy_weight},
          "EnasController");
  }
  void next(std::span<int> choices, Rng& rng) { policy().sample(choices, rng); }
  [[nodiscard]] std::size_t controller_steps() const noexcept { return options_.steps; }
  void learn(std::span<const int> choices, double reward) { policy().update(choices, reward); }

  /// The policy learned so far (ConfigError before the first start()).
  [[nodiscard]] CategoricalPolicy& policy() {
    if (!policy_) throw ConfigError("EnasController: no policy yet (train a supernet with it first)");
    return *policy_;
  }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

 private:
  [[nodiscard]] bool same_decisions(std::span<const std::size_t> k) const {
    if (policy_->num_decisions() != k.size()) return false;
    for (std::size_t i = 0; i < k.size(); ++i)
      if (policy_->num_choices(i) != k[i]) return false;
    return true;
  }
  Options options_;
  std::unique_ptr<CategoricalPolicy> policy_;
};

/// Trains the shared weights of a Supernet (nas/model/supernet.hpp) one sampled path at
/// a time: each step draws a path from `PathSampler` (UniformPaths: SPOS; FairPaths:
/// FairNAS; EnasController: ENAS), selects it (only its ops run and allocate), and takes
/// one SGD step on its loss. Parameters the path did not reach receive no gradient and
/// the optimizer leaves them, their momentum and their weight decay alone. Afterwards
/// SupernetEstimator (nas/estimate/supernet_estimator.hpp) scores any architecture with
/// the shared weights. Deterministic for a given seed and thread count.
///
/// PathSampler: see the PathSampler concept above; LearnedPathSampler ones also get a
/// controller phase after each epoch (needs a validation split).
template <class Sampler = UniformPaths>
class OneShot {
 public:
  using Options = OneShotOptions;

  explicit OneShot(Options options = {}, Sampler sampler = {}) : options_(std::move(options)), sampler_(std::move(sampler)) {
    static_assert(PathSampler<Sampler>,
                  "nas: OneShot's sampler needs `void start(std::span<const std::size_t>)` and "
                  "`void next(std::span<int>, nas::Rng&)`.");
  }

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] Options& options() noexcept { return options_; }
  [[nodiscard]] Sampler& sampler() noexcept { return sampler_; }

  /// Trains `net` (a supernet of `space`) on `train`; `valid` is read only by a learned
  /// controller. The optimizer's state starts afresh with each call.
  template <class Space>
  OneShotStats train(Supernet<Space>& net, const Space& space, const Dataset& train, const Dataset* valid = nullptr) {
    const char* where = "OneShot::train";
    options_.validate(where);
    train.validate("OneShot::train (training split)");
    check_input(net, train, "training");
    struct KeepRelease {  // the caller's setting comes back however train() ends
      Supernet<Space>& net;
      bool before;
      ~KeepRelease() { net.release_inactive_ops(before); }
    } keep{net, net.releases_inactive_ops()};
    net.release_inactive_ops(options_.release_unsampled);
    if constexpr (LearnedPathSampler<Sampler>) {
      if (valid == nullptr || valid->empty())
        throw ConfigError("OneShot::train: the sampler learns from validation accuracy; give a validation split");
      check_input(net, *valid, "validation");
    }
    if (options_.threads > 0) set_num_threads(options_.threads);
    const auto view = categorical(space);
    const std::size_t decisions = view.num_decisions();
    std::vector<std::size_t> k(decisions);
    for (std::size_t i = 0; i < decisions; ++i) k[i] = view.num_choices(i);
    for (const auto& [d, c] : options_.fixed)
      if (d >= decisions || c < 0 || static_cast<std::size_t>(c) >= k[d])
        throw ConfigError("OneShot::train: fixed choice " + std::to_string(c) + " of decision " + std::to_string(d) +
                          " (the space has " + std::to_string(decisions) + " decisions" +
                          (d < decisions ? ", this one with " + std::to_string(k[d]) + " choices)" : ")"));
    sampler_.start(k);

    const auto t0 = std::chrono::steady_clock::now();
    Rng rng(mix_seed(options_.seed, 3));
    const std::size_t batch = std::min(options_.batch_size, train.size());
    if (batch < 2)
      throw ConfigError("OneShot::train: the training set has " + std::to_string(train.size()) + " images (need >= 2)");
    BatchLoader loader(train, LoaderOptions{.batch_size = batch, .shuffle = true, .drop_last = true,
                                            .seed = mix_seed(options_.seed, 2), .augment = options_.augment});
    const long per_epoch = static_cast<long>(loader.batches_per_epoch());
    long total = std::max<long>(1, std::lround(options_.epochs * static_cast<double>(per_epoch)));
    const long horizon = total;
    if (options_.max_steps > 0) total = std::min(total, options_.max_steps);

    std::vector<Parameter*> params = net.parameters();
    SGD opt(params, SGD::Options{.lr = options_.lr, .momentum = options_.momentum, .weight_decay = options_.weight_decay,
                                 .nesterov = options_.nesterov});
    const CosineAnnealing cos{.base_lr = options_.lr, .t_max = static_cast<int>(horizon), .eta_min = options_.eta_min};
    SoftmaxCrossEntropy ce;
    Tensor x(Shape{static_cast<int>(batch), train.channels, train.height, train.width});
    std::vector<int> labels(batch);
    std::vector<int> choices(decisions, 0);

    OneShotStats stats;
    stats.counts.resize(decisions);
    for (std::size_t i = 0; i < decisions; ++i) stats.counts[i].assign(k[i], 0);
    for (Parameter* p : params) p->zero_grad();
    double epoch_sum = 0.0;
    long epoch_paths = 0;
    auto epoch_start = std::chrono::steady_clock::now();
    net.train();

    for (long step = 0; step < total; ++step) {
      std::size_t n = loader.next(x.data(), labels.data());
      if (n == 0) n = loader.next(x.data(), labels.data());  // the loader's epoch boundary
      opt.set_lr(options_.cosine ? cos.lr_at(static_cast<int>(step)) : options_.lr);
      const std::span<const int> lab(labels.data(), n);
      for (std::size_t q = 0; q < options_.paths_per_batch; ++q) {
        draw(choices, rng);
        for (std::size_t i = 0; i < decisions; ++i) ++stats.counts[i][static_cast<std::size_t>(choices[i])];
        net.select(view.from_choices(choices));
        const Tensor& logits = net.forward(x);
        const double loss = ce.forward(logits, lab);
        if (!std::isfinite(loss))
          throw Error("OneShot::train: the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                      " at epoch " + std::to_string(step / per_epoch + 1) + " step " + std::to_string(step % per_epoch + 1) +
                      " on path " + space.encode(view.from_choices(choices)));
        net.backward(ce.backward());
        epoch_sum += loss;
        ++epoch_paths;
        ++stats.paths;
      }
      if (options_.grad_clip > 0.0) {
        const double norm = clip_grad_norm(params, options_.grad_clip);
        if (!std::isfinite(norm))
          throw Error("OneShot::train: the gradient norm became " + std::string(std::isnan(norm) ? "NaN" : "infinite") +
                      " at epoch " + std::to_string(step / per_epoch + 1) + " step " + std::to_string(step % per_epoch + 1));
      }
      opt.step();
      // Only the parameters this step reached hold a gradient: zero those (the others are zero).
      for (Parameter* p : params)
        if (p->has_grad) p->zero_grad();
      ++stats.steps;
      if ((step + 1) % per_epoch == 0 || step + 1 == total) {
        double reward = std::numeric_limits<double>::quiet_NaN();
        if constexpr (LearnedPathSampler<Sampler>) {
          reward = controller_phase(net, view, *valid, rng, choices);
          stats.controller_reward.push_back(reward);
          net.train();
        }
        const auto now = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(now - epoch_start).count();
        stats.epoch_seconds.push_back(secs);
        stats.epoch_loss.push_back(epoch_sum / static_cast<double>(std::max<long>(1, epoch_paths)));
        if (options_.on_epoch)
          options_.on_epoch(EpochInfo{.epoch = stats.epoch_seconds.size(),
                                      .epochs = static_cast<std::size_t>((total + per_epoch - 1) / per_epoch),
                                      .train_loss = stats.epoch_loss.back(),
                                      .valid_accuracy = 100.0 * reward,
                                      .seconds = secs});
        epoch_sum = 0.0;
        epoch_paths = 0;
        epoch_start = std::chrono::steady_clock::now();
      }
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return stats;
  }

 private:
  template <class Space>
  static void check_input(const Supernet<Space>& net, const Dataset& d, const char* split) {
    const NetworkInput& in = net.input();
    if (d.channels != in.channels || d.height != in.height || d.width != in.width || d.classes != in.classes)
      throw ConfigError("OneShot::train: the " + std::string(split) + " images are " + std::to_string(d.channels) + "x" +
                        std::to_string(d.height) + "x" + std::to_string(d.width) + " with " + std::to_string(d.classes) +
                        " classes; the supernet was built for " + std::to_string(in.channels) + "x" +
                        std::to_string(in.height) + "x" + std::to_string(in.width) + " with " +
                        std::to_string(in.classes));
  }

  // Draws the next path into `choices`, fixed decisions held.
  void draw(std::vector<int>& choices, Rng& rng) {
    sampler_.next(std::span<int>(choices), rng);
    for (const auto& [d, c] : options_.fixed) choices[d] = c;
  }

  // ENAS's controller phase: paths from the controller, each scored by its accuracy on
  // one validation batch with the shared weights, in training mode (batch statistics, as
  // ENAS's valid_rl does: the shared running statistics belong to no single path); the
  // running statistics move as in a training forward. Returns the mean reward.
  template <class Space, class View>
  double controller_phase(Supernet<Space>& net, const View& view, const Dataset& valid, Rng& rng, std::vector<int>& choices)
    requires LearnedPathSampler<Sampler>
  {
    const std::size_t steps = sampler_.controller_steps();
    if (steps == 0) return std::numeric_limits<double>::quiet_NaN();
    if (!valid_loader_ || valid_data_ != &valid) {
      const std::size_t b = std::min(options_.batch_size, valid.size());
      if (b < 2)
        throw ConfigError("OneShot::train: the validation split has " + std::to_string(valid.size()) +
                          " images (the controller needs >= 2)");
      valid_loader_ = std::make_unique<BatchLoader>(
          valid, LoaderOptions{.batch_size = b, .shuffle = true, .drop_last = true, .seed = mix_seed(options_.seed, 4)});
      valid_data_ = &valid;
      vx_ = Tensor(Shape{static_cast<int>(b), valid.channels, valid.height, valid.width});
      vlabels_.resize(b);
    }
    double sum = 0.0;
    net.train();
    for (std::size_t s = 0; s < steps; ++s) {
      std::size_t n = valid_loader_->next(vx_.data(), vlabels_.data());
      if (n == 0) n = valid_loader_->next(vx_.data(), vlabels_.data());
      draw(choices, rng);
      net.select(view.from_choices(choices));
      const Tensor& logits = net.forward(vx_);
      const double reward =
          static_cast<double>(count_correct(logits, std::span<const int>(vlabels_.data(), n))) / static_cast<double>(n);
      sampler_.learn(std::span<const int>(choices), reward);
      sum += reward;
    }
    return sum / static_cast<double>(steps);
  }

  Options options_;
  Sampler sampler_;
  std::unique_ptr<BatchLoader> valid_loader_;
  const Dataset* valid_data_ = nullptr;
  Tensor vx_;
  std::vector<int> vlabels_;
};

/// Few-shot NAS (Zhao et al. 2021): the supernet split on one decision of the space's
/// categorical view (for Nb201Space, decision e is edge e's op) into one sub-supernet per
/// choice, each starting from the trained supernet's weights and BN statistics and then
/// trained only on the architectures that make that choice, so that the ops of the split
/// edge no longer share the rest of the network. for_arch(arch) is the sub-supernet that
/// owns an architecture; SupernetEstimator scores each architecture with it.
template <class Space>
class FewShotSupernet {
 public:
  using Arch = typename Space::Arch;

  /// Copies `trained` into one sub-supernet per choice of `decision`. `space` must outlive this.
  FewShotSupernet(const Space& space, Supernet<Space>& trained, std::size_t decision) : space_(&space), decision_(decision) {
    const auto view = categorical(space);
    if (decision >= view.num_decisions())
      throw ConfigError("FewShotSupernet: decision " + std::to_string(decision) + " (the space has " +
                        std::to_string(view.num_decisions()) + ")");
    const std::vector<NamedParameter> from = trained.named_state();
    for (std::size_t c = 0; c < view.num_choices(decision); ++c) {
      auto sub = std::make_unique<Supernet<Space>>(space, trained.input(), trained.options());
      const std::vector<NamedParameter> to = sub->named_state();
      for (std::size_t i = 0; i < to.size(); ++i) {
        if (i >= from.size() || from[i].path != to[i].path || from[i].parameter->value.shape() != to[i].parameter->value.shape())
          throw ConfigError("FewShotSupernet: the trained supernet's state differs from a fresh one's at '" + to[i].path + "'");
        to[i].parameter->value.copy_from(from[i].parameter->value);
      }
      subs_.push_back(std::move(sub));
    }
  }

  [[nodiscard]] std::size_t decision() const noexcept { return decision_; }
  [[nodiscard]] std::size_t size() const noexcept { return subs_.size(); }
  /// The sub-supernet of choice `c` of the split decision.
  [[nodiscard]] Supernet<Space>& sub(std::size_t c) {
    if (c >= subs_.size())
      throw ConfigError("FewShotSupernet::sub: choice " + std::to_string(c) + " (the split has " + std::to_string(subs_.size()) + ")");
    return *subs_[c];
  }
  /// The sub-supernet that owns `arch`.
  [[nodiscard]] Supernet<Space>& for_arch(const Arch& arch) {
    return sub(static_cast<std::size_t>(categorical(*space_).to_choices(arch).at(decision_)));
  }

  /// for_arch as a SupernetEstimator router; this object must outlive it.
  [[nodiscard]] std::function<Supernet<Space>&(const Arch&)> router() {
    return [this](const Arch& a) -> Supernet<Space>& { return for_arch(a); };
  }

  /// Trains every sub-supernet with `trainer` (its options, the split decision held at
  /// the sub-supernet's choice); one OneShotStats per sub-supernet.
  template <class Sampler>
  std::vector<OneShotStats> train(OneShot<Sampler>& trainer, const Dataset& train, const Dataset* valid = nullptr) {
    const auto fixed = trainer.options().fixed;
    for (const auto& f : fixed)
      if (f.first == decision_)
        throw ConfigError("FewShotSupernet::train: the trainer already holds decision " + std::to_string(decision_) + " fixed");
    std::vector<OneShotStats> out;
    try {
      for (std::size_t c = 0; c < subs_.size(); ++c) {
        trainer.options().fixed = fixed;
        trainer.options().fixed.emplace_back(decision_, static_cast<int>(c));
        out.push_back(trainer.train(*subs_[c], *space_, train, valid));
      }
    } catch (...) {
      trainer.options().fixed = fixed;
      throw;
    }
    trainer.options().fixed = fixed;
    return out;
  }

 private:
  const Space* space_;
  std::size_t decision_;
  std::vector<std::unique_ptr<Supernet<Space>>> subs_;
};

}  // namespace nas
