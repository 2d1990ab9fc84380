// final_training: retrain a search's winner from scratch on train+valid, then test it once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/trained.hpp"

namespace nas {

/// Options of final_training beyond the training recipe.
struct FinalTrainingOptions {
  TrainingOptions training{};  ///< recipe; `training.epochs` is the length unless `seconds` is set
  /// > 0: train for about this many seconds. The first plan of epochs comes from the
  /// measured time of a few steps of a throw-away copy of the network; then, every
  /// `replan_every` epochs, the cosine schedule's horizon is set again from the speed
  /// measured so far, so that the learning rate reaches its end when the time is up even
  /// if the machine slows down or speeds up. (Timing makes the length machine-dependent;
  /// leave this 0 for runs that must repeat bit for bit.)
  double seconds = 0.0;
  /// > 0: a hard limit. Training stops once this many seconds have passed since
  /// final_training began (probe included), even if the epochs chosen from `seconds` are
  /// not done; FinalResult::cut_short then says so. The test pass and latency come after.
  double stop_seconds = 0.0;
  double min_epochs = 0.1;       ///< lower bound on the epochs chosen from `seconds`
  double replan_every = 0.25;    ///< epochs between re-plans of the horizon when `seconds` > 0
  /// > 0: seconds per epoch, already measured (probe_epoch_seconds): the first plan uses
  /// it instead of probing again.
  double epoch_seconds = 0.0;
  int probe_steps = 30;          ///< steps run to choose the epochs; the first `probe_warmup` are not timed
  int probe_warmup = 6;          ///< first steps pay for buffers and caches
  int latency_repeats = 20;      ///< forward passes timed per latency (median taken)
};

/// What final_training measured.
struct FinalResult {
  bool ok = false;
  std::string reason;             ///< why training failed, when !ok
  double epochs = 0.0;            ///< epochs trained
  double planned_epochs = 0.0;    ///< epochs the schedule was last set for
  double first_planned_epochs = 0.0;  ///< epochs first planned (from the probe when `seconds` > 0)
  bool cut_short = false;         ///< stopped at `stop_seconds` before planned_epochs
  double train_seconds = 0.0;
  double train_loss = 0.0;        ///< mean loss of the training steps
  double test_accuracy = 0.0;     ///< percent, on the test set, measured once at the end
  double test_loss = 0.0;
  std::size_t params = 0;         ///< learnable scalars (as nas::model_cost counts them)
  double macs = 0.0;              ///< multiply-accumulates per image (NAS-Bench-201's "FLOPs")
  double latency_ms_batch1 = 0.0;   ///< inference time per image at batch 1 (median)
  double latency_ms_batch64 = 0.0;  ///< inference time per image at batch 64 (median / 64)
};

/// Concatenates two data sets of the same image shape and classes (e.g. train and valid).
inline Dataset concat(const Dataset& a, const Dataset& b) {
  if (a.channels != b.channels || a.height != b.height || a.width != b.width || a.classes != b.classes)
    throw ConfigError("concat: data sets differ in image shape or classes");
  Dataset d = a;
  d.images.insert(d.images.end(), b.images.begin(), b.images.end());
  d.labels.insert(d.labels.end(), b.labels.begin(), b.labels.end());
  return d;
}

/// Median milliseconds per image of `repeats` inference passes at batch `batch`.
template <class Net>
double inference_latency_ms(Net& net, const NetworkInput& in, int batch, int repeats, std::uint64_t seed = 0) {
  if (batch < 1 || repeats < 1) throw ConfigError("inference_latency_ms: batch and repeats must be >= 1");
  const bool was_training = net.is_training();
  net.eval();
  Tensor x(in.batch(batch));
  Rng rng(seed);
  x.fill_normal(rng);
  (void)net.forward(x);  // warm-up: buffers and caches
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)net.forward(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  net.train(was_training);
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2] / batch;
}

/// How probe_epoch_seconds times training.
struct ProbeOptions {
  int steps = 30;  ///< steps run (at most one epoch's); the first `warmup` are not timed
  int warmup = 6;  ///< the first steps pay for buffers and caches
  void validate(const char* where) const {
    if (warmup < 1 || steps < warmup + 2)
      throw ConfigError(std::string(where) + ": probe steps (" + std::to_string(steps) + ") must exceed probe warmup (" +
                        std::to_string(warmup) + ") by at least 2, and the warmup must be >= 1");
  }
};

/// Seconds one epoch of training `arch` on `train` with recipe `o` takes on this machine
/// now, from a few timed steps of a throw-away network (its threads as `o.threads` says).
/// final_training plans with it; call it yourself to choose a recipe by the epochs a time
/// allows, then pass the figure as FinalTrainingOptions::epoch_seconds.
template <class Space>
double probe_epoch_seconds(const Space& space, const typename Space::Arch& arch, const TrainingOptions& o,
                           const Dataset& train, const ProbeOptions& probe_options = {}) {
  o.validate("probe_epoch_seconds");
  probe_options.validate("probe_epoch_seconds");
  if (o.threads > 0) set_num_threads(o.threads);
  TrainingOptions once = o;
  once.on_epoch = nullptr;
  const std::uint64_t seed = detail::mix_seed(o.seed, std::hash<typename Space::Arch>{}(arch) ^ 0x9e37ULL);
  TrainingRun<Space> probe(space, arch, train, once, seed);
  const long steps = std::min<long>(probe_options.steps, probe.steps_per_epoch());
  const long warm = std::min<long>(probe_options.warmup, steps - 1);
  probe.train_to(warm, steps);
  const auto t0 = std::chrono::steady_clock::now();
  probe.train_to(steps, steps);
  const double per_step =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(steps - warm);
  return per_step * static_cast<double>(probe.steps_per_epoch());
}

/// Trains `arch` from scratch on `train` (pass train + valid: concat()) with the recipe of
/// `options.training` (its cosine horizon is the training length), then reports the test
/// accuracy once, the cost, and the inference latency per image at batch 1 and 64.
/// The test set is used for nothing else.
template <class Space>
FinalResult final_training(const Space& space, const typename Space::Arch& arch, const FinalTrainingOptions& options,
                           const Dataset& train, const Dataset& test) {
  TrainingOptions o = options.training;
  o.validate("final_training");
  train.validate("final_training (training data)");
  test.validate("final_training (test data)");
  if (options.seconds < 0.0 || !std::isfinite(options.seconds))
    throw ConfigError("final_training: seconds (" + std::to_string(options.seconds) + ") must be >= 0");
  if (options.stop_seconds < 0.0 || !(options.stop_seconds <= 1e9))
    throw ConfigError("final_training: stop_seconds (" + std::to_string(options.stop_seconds) +
                      ") must be in [0, 1e9] (0: no hard stop)");
  const auto started = std::chrono::steady_clock::now();
  if (!(options.replan_every > 0.0) || !std::isfinite(options.replan_every))
    throw ConfigError("final_training: replan_every (" + std::to_string(options.replan_every) + ") must be > 0 epochs");
  if (options.epoch_seconds < 0.0 || !std::isfinite(options.epoch_seconds))
    throw ConfigError("final_training: epoch_seconds (" + std::to_string(options.epoch_seconds) + ") must be >= 0");
  ProbeOptions{.steps = options.probe_steps, .warmup = options.probe_warmup}.validate("final_training");
  if (o.threads > 0) set_num_threads(o.threads);
  const std::uint64_t seed = detail::mix_seed(o.seed, std::hash<typename Space::Arch>{}(arch) ^ 0xf1a1ULL);

  if (options.seconds > 0.0) {
    const double epoch_seconds =
        options.epoch_seconds > 0.0
            ? options.epoch_seconds
            : probe_epoch_seconds(space, arch, o, train, {.steps = options.probe_steps, .warmup = options.probe_warmup});
    o.epochs = std::max(options.min_epochs, options.seconds / std::max(epoch_seconds, 1e-9));
  }
  o.max_epochs = o.epochs;

  FinalResult r;
  const auto t0 = std::chrono::steady_clock::now();
  TrainingRun<Space> run(space, arch, train, o, seed);
  if (options.stop_seconds > 0.0)
    run.set_deadline(started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(options.stop_seconds)));
  long target = run.steps_for(o.epochs);
  r.first_planned_epochs = static_cast<double>(target) / static_cast<double>(run.steps_per_epoch());
  // The epoch callback reports the current plan, not the chunk being trained.
  std::function<void(const EpochInfo&)> on_epoch;
  if (o.on_epoch)
    on_epoch = [&](const EpochInfo& e) {
      EpochInfo shown = e;
      shown.epochs = static_cast<std::size_t>(std::ceil(static_cast<double>(target) / run.steps_per_epoch()));
      o.on_epoch(shown);
    };
  bool ok = true;
  if (options.seconds > 0.0) {
    // Train in chunks; after each, plan the rest from the speed of the steps done so far.
    const long chunk = std::max<long>(1, run.steps_for(options.replan_every));
    const auto end = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(options.seconds));
    double loss_sum = 0.0;
    while (ok && run.steps_done() < target && !run.stopped_at_deadline()) {
      const long before = run.steps_done();
      ok = run.train_to(std::min(target, run.steps_done() + chunk), target, on_epoch);
      if (ok && run.steps_done() > before) loss_sum += run.last_train_loss() * static_cast<double>(run.steps_done() - before);
      r.train_loss = loss_sum / static_cast<double>(std::max<long>(1, run.steps_done()));
      const auto now = std::chrono::steady_clock::now();
      const double per_step =
          std::chrono::duration<double>(now - t0).count() / static_cast<double>(std::max<long>(1, run.steps_done()));
      const double left = std::chrono::duration<double>(end - now).count();
      const long min_target = std::max(run.steps_done() + 1, run.steps_for(options.min_epochs));
      if (run.steps_done() < target)
        target = std::max(min_target, run.steps_done() + std::lround(std::max(0.0, left) / std::max(per_step, 1e-9)));
    }
  } else {
    ok = run.train_to(target, target, on_epoch);
    r.train_loss = run.last_train_loss();
  }
  r.planned_epochs = static_cast<double>(target) / static_cast<double>(run.steps_per_epoch());
  r.cut_short = run.stopped_at_deadline();
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.epochs = run.epochs_done();
  r.params = run.network().num_parameters();
  r.macs = run.network().macs();
  if (!ok) {
    r.reason = run.failure();
    return r;
  }
  const EvalResult t = evaluate_network(run.network(), test, o.eval_batch_size);
  r.test_accuracy = t.accuracy;
  r.test_loss = t.loss;
  r.ok = std::isfinite(t.loss);
  if (!r.ok) r.reason = "test loss is not finite";
  const NetworkInput in = NetworkInput::of(train);
  r.latency_ms_batch1 = inference_latency_ms(run.network(), in, 1, options.latency_repeats);
  r.latency_ms_batch64 = inference_latency_ms(run.network(), in, 64, std::max(3, options.latency_repeats / 4));
  return r;
}

}  // namespace nas
