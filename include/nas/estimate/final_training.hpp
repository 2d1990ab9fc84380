// final_training: retrain a search's winner from scratch on train+valid, then test it once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/trained.hpp"
#include "nas/model/save.hpp"
#include "nas/tensor/latency.hpp"
#include "nas/tensor/softmax.hpp"

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
  int latency_repeats = 20;      ///< forward passes timed per latency (median taken); 0: not measured
  /// Keep the test set's class probabilities in FinalResult::test_probabilities (for
  /// ensembles: ensemble_scores averages them).
  bool keep_test_probabilities = false;
  /// Not empty: the trained network is saved there (nas::save_network: architecture,
  /// options, weights and BatchNorm statistics; load it with nas::load_network), with its
  /// test accuracy and epochs in the file's metadata. For ensemble_final_training, member
  /// k goes to `<stem>_<k><extension>`. A network whose training failed is not saved.
  std::string save_path{};
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
  /// With FinalTrainingOptions::keep_test_probabilities: softmax outputs on the test set,
  /// row-major [test images, classes].
  std::vector<float> test_probabilities;
  std::string saved_path{};  ///< where the network was saved (FinalTrainingOptions::save_path), if it was
  std::string save_error{};  ///< why saving failed, if it did (the other results stand)
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

/// The softmax probabilities of `net` on `data` in evaluation mode, row-major [images,
/// classes], `batch` images at a time; restores the training mode it found.
template <class Net>
std::vector<float> predict_probabilities(Net& net, const Dataset& data, std::size_t batch = 256) {
  if (data.empty()) throw ConfigError("predict_probabilities: empty data set");
  if (batch < 1) throw ConfigError("predict_probabilities: batch must be >= 1");
  const bool was_training = net.is_training();
  net.eval();
  const auto b = static_cast<int>(std::min(batch, data.size()));
  const auto K = static_cast<std::size_t>(data.classes);
  Tensor x(Shape{b, data.channels, data.height, data.width});
  std::vector<float> probs(data.size() * K);
  const std::size_t per = data.image_size();
  for (std::size_t start = 0; start < data.size(); start += static_cast<std::size_t>(b)) {
    const auto n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(b), data.size() - start));
    x.resize(Shape{n, data.channels, data.height, data.width});
    std::copy_n(data.images.data() + start * per, static_cast<std::size_t>(n) * per, x.data());
    const Tensor& logits = net.forward(x);
    if (logits.rank() != 2 || static_cast<std::size_t>(logits.dim(1)) != K)
      throw ConfigError("predict_probabilities: the network outputs " + logits.shape().str() + ", expected [" +
                        std::to_string(n) + ", " + std::to_string(K) + "] for a data set of " + std::to_string(K) +
                        " classes");
    for (int i = 0; i < n; ++i) {
      softmax(std::span<const float>(logits.data() + static_cast<std::size_t>(i) * K, K),
              std::span<float>(probs.data() + (start + static_cast<std::size_t>(i)) * K, K));
    }
  }
  net.train(was_training);
  return probs;
}

/// Accuracy (percent) and mean negative log-likelihood of the average of several models'
/// class probabilities (each as predict_probabilities returns them) on `data`'s labels.
/// Ties go to the lowest class index. Throws ConfigError when a set does not fit `data`.
inline EvalResult ensemble_scores(const std::vector<const std::vector<float>*>& probabilities, const Dataset& data) {
  if (probabilities.empty()) throw ConfigError("ensemble_scores: no models");
  if (data.empty()) throw ConfigError("ensemble_scores: empty data set");
  const auto K = static_cast<std::size_t>(data.classes);
  for (std::size_t m = 0; m < probabilities.size(); ++m)
    if (!probabilities[m] || probabilities[m]->size() != data.size() * K)
      throw ConfigError("ensemble_scores: model " + std::to_string(m) + " has " +
                        std::to_string(probabilities[m] ? probabilities[m]->size() : 0) + " probabilities, expected " +
                        std::to_string(data.size()) + " images x " + std::to_string(K) + " classes");
  std::size_t correct = 0;
  double nll = 0.0;
  std::vector<double> mean(K);
  for (std::size_t i = 0; i < data.size(); ++i) {
    std::fill(mean.begin(), mean.end(), 0.0);
    for (const auto* p : probabilities)
      for (std::size_t k = 0; k < K; ++k) mean[k] += (*p)[i * K + k];
    const auto arg = static_cast<std::size_t>(std::max_element(mean.begin(), mean.end()) - mean.begin());
    const auto label = static_cast<std::size_t>(data.labels[i]);
    correct += arg == label;
    nll -= std::log(std::max(mean[label] / static_cast<double>(probabilities.size()), 1e-30));
  }
  return {100.0 * static_cast<double>(correct) / static_cast<double>(data.size()), nll / static_cast<double>(data.size())};
}

/// How probe_epoch_seconds times training.
struct ProbeOptions {
  int steps = 30;  ///< steps run (at most one epoch's); the first `warmup` are not timed
  int warmup = 6;  ///< the first steps pay for buffers and caches
  /// The timed steps are split into this many rounds and the median round's pace kept,
  /// so that one round slowed by another process does not set the plan (fewer when there
  /// are fewer timed steps).
  int rounds = 3;
  void validate(const char* where) const {
    if (warmup < 1 || steps < warmup + 2)
      throw ConfigError(std::string(where) + ": probe steps (" + std::to_string(steps) + ") must exceed probe warmup (" +
                        std::to_string(warmup) + ") by at least 2, and the warmup must be >= 1");
    if (rounds < 1) throw ConfigError(std::string(where) + ": probe rounds (" + std::to_string(rounds) + ") must be >= 1");
  }
};

/// Seconds one epoch of training `arch` on `train` with recipe `o` takes on this machine
/// now, from a few timed steps of a throw-away network (its threads as `o.threads` says):
/// the median of the probe's rounds.
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
  const std::uint64_t seed = mix_seed(o.seed, std::hash<typename Space::Arch>{}(arch) ^ 0x9e37ULL);
  TrainingRun<Space> probe(space, arch, train, once, seed);
  const long steps = std::min<long>(probe_options.steps, probe.steps_per_epoch());
  const long warm = std::min<long>(probe_options.warmup, steps - 1);
  const long rounds = std::clamp<long>(probe_options.rounds, 1, steps - warm);
  probe.train_to(warm, steps);
  std::vector<double> per_step;
  for (long r = 0; r < rounds; ++r) {
    const long from = probe.steps_done(), to = warm + (steps - warm) * (r + 1) / rounds;
    const auto t0 = std::chrono::steady_clock::now();
    probe.train_to(to, steps);
    per_step.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(to - from));
  }
  std::nth_element(per_step.begin(), per_step.begin() + static_cast<long>(per_step.size() / 2), per_step.end());
  return per_step[per_step.size() / 2] * static_cast<double>(probe.steps_per_epoch());
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
  if (options.latency_repeats < 0)
    throw ConfigError("final_training: latency_repeats (" + std::to_string(options.latency_repeats) +
                      ") must be >= 0 (0: no latency measurement)");
  if (options.epoch_seconds < 0.0 || !std::isfinite(options.epoch_seconds))
    throw ConfigError("final_training: epoch_seconds (" + std::to_string(options.epoch_seconds) + ") must be >= 0");
  ProbeOptions{.steps = options.probe_steps, .warmup = options.probe_warmup}.validate("final_training");
  if (o.threads > 0) set_num_threads(o.threads);
  const std::uint64_t seed = mix_seed(o.seed, std::hash<typename Space::Arch>{}(arch) ^ 0xf1a1ULL);

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
  // One pass over the test set: with the probabilities kept, accuracy and loss come from them.
  if (options.keep_test_probabilities)
    r.test_probabilities = predict_probabilities(run.network(), test, o.eval_batch_size);
  const EvalResult t = options.keep_test_probabilities ? ensemble_scores({&r.test_probabilities}, test)
                                                       : evaluate_network(run.network(), test, o.eval_batch_size);
  r.test_accuracy = t.accuracy;
  r.test_loss = t.loss;
  r.ok = std::isfinite(t.loss);
  if (!r.ok) {
    r.reason = "test loss is not finite";
    r.test_probabilities.clear();
  }
  if (r.ok && !options.save_path.empty()) {
    // A file that cannot be written must not cost the measured result: it is reported.
    try {
      save_network(options.save_path, space, run.network(),
                   {{"test_accuracy", std::to_string(r.test_accuracy)}, {"epochs", std::to_string(r.epochs)},
                    {"train_seconds", std::to_string(r.train_seconds)}});
      r.saved_path = options.save_path;
    } catch (const Error& e) {
      r.save_error = e.what();
    }
  }
  if (options.latency_repeats > 0) {
    const NetworkInput in = NetworkInput::of(train);
    r.latency_ms_batch1 = inference_latency_ms(run.network(), in.batch(1), options.latency_repeats);
    r.latency_ms_batch64 = inference_latency_ms(run.network(), in.batch(64), std::max(3, options.latency_repeats / 4));
  }
  return r;
}

/// What ensemble_final_training measured.
struct EnsembleResult {
  bool ok = false;                  ///< at least one member trained and tested
  std::string reason;               ///< why no member succeeded, when !ok
  std::vector<FinalResult> members;  ///< in training order, failed ones included (their `ok` is false)
  std::size_t members_used = 0;     ///< members whose probabilities were averaged
  double test_accuracy = 0.0;       ///< percent, of the averaged probabilities
  double test_loss = 0.0;           ///< mean negative log-likelihood of the averaged probabilities
};

/// Trains `members` copies of `arch` from scratch, each as final_training does (member k
/// with seed `training.seed + k`, so member 0 is exactly the network final_training
/// trains), and tests the average of their class probabilities: a deep ensemble
/// (Lakshminarayanan et al. 2017). With `options.seconds` > 0 the time is shared out as
/// the members go: member k gets the seconds left divided by the members left, so a slow
/// member does not take its successors' time; `stop_seconds` is shared the same way. The
/// latency is measured on member 0 only (every member has the same architecture: an
/// ensemble's inference costs `members` times one network's). A member whose training
/// fails is reported and left out of the average; members that no time is left for are
/// not started (`members.size()` says how many were).
template <class Space>
EnsembleResult ensemble_final_training(const Space& space, const typename Space::Arch& arch,
                                       const FinalTrainingOptions& options, int members, const Dataset& train,
                                       const Dataset& test) {
  if (members < 1) throw ConfigError("ensemble_final_training: members (" + std::to_string(members) + ") must be >= 1");
  const auto started = std::chrono::steady_clock::now();
  EnsembleResult r;
  std::vector<const std::vector<float>*> used;
  for (int k = 0; k < members; ++k) {
    FinalTrainingOptions m = options;
    m.training.seed = options.training.seed + static_cast<std::uint64_t>(k);
    m.keep_test_probabilities = true;
    if (k > 0) m.latency_repeats = 0;
    if (!options.save_path.empty()) {
      const std::filesystem::path p(options.save_path);
      m.save_path = (p.parent_path() / (p.stem().string() + "_" + std::to_string(k) + p.extension().string())).string();
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double share = 1.0 / static_cast<double>(members - k);
    if (k > 0 && ((options.seconds > 0.0 && elapsed >= options.seconds) ||
                  (options.stop_seconds > 0.0 && elapsed >= options.stop_seconds)))
      break;  // no time left for this member
    if (options.seconds > 0.0) m.seconds = (options.seconds - elapsed) * share;
    if (options.stop_seconds > 0.0) m.stop_seconds = (options.stop_seconds - elapsed) * share;
    r.members.push_back(final_training(space, arch, m, train, test));
  }
  for (const FinalResult& f : r.members)
    if (f.ok) used.push_back(&f.test_probabilities);
  r.members_used = used.size();
  if (used.empty()) {
    r.reason = "every member failed; the first: " + r.members.front().reason;
    return r;
  }
  const EvalResult e = ensemble_scores(used, test);
  r.test_accuracy = e.accuracy;
  r.test_loss = e.loss;
  r.ok = true;
  return r;
}

}  // namespace nas
