// plan_final_training: how a search's winner is retrained in the time left (networks, width, augmentation, threads).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/augment.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/final_accuracy.hpp"
#include "nas/estimate/final_training.hpp"
#include "nas/estimate/trained.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/tensor/thread_probe.hpp"

namespace nas {

/// A rule that is on, off, or decided from the time available.
enum class Rule { off, on, automatic };

/// What plan_final_training decides, and from what. The defaults are the rules measured
/// on Fashion-MNIST with NB201 cells (docs/training.md):
/// - Networks: one network's test accuracy reaches its plateau within 6 to 10 epochs, so
///   a longer budget is better spent on several networks of the winner, each trained for
///   at least `member_epochs`, whose probabilities are averaged (a deep ensemble).
/// - Width: a wider network learns more per epoch but needs epochs to do it, so C grows
///   only while the time left still trains it for `widen_from` epochs. Wider networks'
///   epoch times are the base width's measured one scaled by multiply-accumulates (wider
///   layers run at least as efficiently); the chosen one is then measured.
/// - Augmentation slows learning at first and pays once training is long enough to
///   overfit without it, so `Rule::automatic` turns it on from `augment_from` epochs.
/// The rules apply to each network's share of the time.
struct FinalPlanOptions {
  int channels = 0;                 ///< C of the final network; 0: the widest that `widen_from` allows
  int base_channels = 16;           ///< C when no wider one qualifies, and the one timed first
  std::vector<int> widths{24, 32, 48, 64};  ///< wider candidates, tried in order
  double widen_from = 8.0;          ///< epochs a wider network must get
  int members = 0;                  ///< networks averaged; 0: as many as `member_epochs` allows
  double member_epochs = 7.0;       ///< epochs each network must get when members is 0
  int max_members = 5;              ///< most networks when members is 0
  Rule augment = Rule::automatic;
  double augment_from = 12.0;       ///< epochs per network from which Rule::automatic augments
  Augment augmentation{.pad = 2, .flip = true};  ///< what augmenting means: 2-pixel crops and flips
  double reserve_seconds = 25.0;    ///< kept back from training: test pass, latency, report
  double test_reserve_seconds = 12.0;  ///< the hard stop leaves at least this much
  double min_seconds = 30.0;        ///< train at least this long, whatever the time left says

  void validate(const char* where) const {
    const auto bad = [where](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    if (channels < 0) bad("channels (" + std::to_string(channels) + ") must be >= 0 (0: chosen from the time)");
    if (base_channels < 1) bad("base_channels (" + std::to_string(base_channels) + ") must be >= 1");
    if (members < 0) bad("members (" + std::to_string(members) + ") must be >= 0 (0: chosen from the time)");
    if (max_members < 1) bad("max_members (" + std::to_string(max_members) + ") must be >= 1");
    if (!(widen_from > 0.0) || !(member_epochs > 0.0) || !(augment_from >= 0.0))
      bad("widen_from and member_epochs must be > 0 and augment_from >= 0");
    if (!(reserve_seconds >= 0.0) || !(test_reserve_seconds >= 0.0) || !(min_seconds > 0.0))
      bad("reserve_seconds and test_reserve_seconds must be >= 0 and min_seconds > 0");
  }
};

/// Networks of `member_epochs` epochs each that `epochs` epochs of time allow, between 1
/// and `max_members`: floor(epochs / member_epochs) clamped.
[[nodiscard]] inline int ensemble_size(double epochs, double member_epochs, int max_members) {
  if (!(member_epochs > 0.0) || max_members < 1)
    throw ConfigError("ensemble_size: member_epochs (" + std::to_string(member_epochs) + ") must be > 0 and max_members (" +
                      std::to_string(max_members) + ") >= 1");
  const double n = std::floor(std::max(0.0, epochs) / member_epochs);
  return static_cast<int>(std::clamp(n, 1.0, static_cast<double>(max_members)));
}

/// Epochs `seconds` train a network of `macs` multiply-accumulates when one of
/// `base_macs` takes `base_epoch_seconds` an epoch (time scaled by work).
[[nodiscard]] inline double epochs_at_width(double seconds, double base_epoch_seconds, double base_macs, double macs) {
  return seconds / (base_epoch_seconds * macs / base_macs);
}

/// Whether training of `epochs` epochs per network augments under `rule`.
[[nodiscard]] inline bool augments(Rule rule, double epochs, double augment_from) {
  return rule == Rule::on || (rule == Rule::automatic && epochs >= augment_from);
}

/// The training time and the hard stop for `seconds_left` of budget: train for
/// max(min, left - reserve), stop no later than max(that, left - test_reserve).
struct FinalTime {
  double seconds = 0.0;
  double stop_seconds = 0.0;
};
[[nodiscard]] inline FinalTime final_time(double seconds_left, const FinalPlanOptions& o) {
  const double seconds = std::max(o.min_seconds, seconds_left - o.reserve_seconds);
  return {seconds, std::max(seconds, seconds_left - o.test_reserve_seconds)};
}

/// A plan for ensemble_final_training, with the figures it was made from.
struct FinalPlan {
  FinalTrainingOptions options;  ///< channels, augmentation, epoch_seconds, seconds, stop_seconds set
  int members = 1;
  bool augment = false;
  double epochs_per_network = 0.0;  ///< epochs each network gets at the measured speed
  /// With members chosen from the time: the epochs the time left trains one network.
  double epochs_in_time_left = 0.0;
  /// With the width chosen from the time: each wider candidate and the epochs it would get.
  std::vector<std::pair<int, double>> width_epochs;
};

/// Plans the final training of `arch` on `train` (train + valid) so that it ends, test
/// pass included, by `deadline`: the recipe is `training` with the channels, members and
/// augmentation `o` chooses from the time left and epoch times measured now
/// (probe_epoch_seconds). Timing makes the plan machine-dependent; with `o.channels` and
/// `o.members` fixed, only the epochs depend on the speed.
template <class Space>
FinalPlan plan_final_training(const Space& space, const typename Space::Arch& arch, const TrainingOptions& training,
                              const Dataset& train, const FinalPlanOptions& o,
                              std::chrono::steady_clock::time_point deadline) {
  o.validate("plan_final_training");
  const auto left = [&] { return std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count(); };
  FinalPlan p;
  p.options.training = training;
  TrainingOptions& t = p.options.training;
  t.network.channels = o.channels > 0 ? o.channels : o.base_channels;
  p.options.epoch_seconds = probe_epoch_seconds(space, arch, t, train);
  p.members = o.members;
  if (o.members == 0) {
    p.epochs_in_time_left = (left() - o.reserve_seconds) / p.options.epoch_seconds;
    p.members = ensemble_size(p.epochs_in_time_left, o.member_epochs, o.max_members);
  }
  if (o.channels == 0) {
    const auto macs_at = [&](int channels) {
      NetworkOptions n = t.network;
      n.channels = channels;
      return make_network(space, arch, NetworkInput::of(train), n)->macs();
    };
    const double base_macs = macs_at(o.base_channels), per_network = (left() - o.reserve_seconds) / p.members;
    int chosen = o.base_channels;
    for (int width : o.widths) {
      const double epochs = epochs_at_width(per_network, p.options.epoch_seconds, base_macs, macs_at(width));
      p.width_epochs.emplace_back(width, epochs);
      if (epochs >= o.widen_from) chosen = width;
    }
    if (chosen != o.base_channels) {
      t.network.channels = chosen;
      p.options.epoch_seconds = probe_epoch_seconds(space, arch, t, train);
    }
  }
  const FinalTime time = final_time(left(), o);
  p.options.seconds = time.seconds;
  p.options.stop_seconds = time.stop_seconds;
  p.epochs_per_network = time.seconds / p.members / p.options.epoch_seconds;
  p.augment = augments(o.augment, p.epochs_per_network, o.augment_from);
  if (p.augment) t.augment = o.augmentation;
  return p;
}

/// A plan for `epochs` epochs per network, made without timing anything, so that it is
/// the same on every machine: the width is `o.channels` (or `o.base_channels` when 0),
/// the networks are `o.members` (or 1 when 0), and Rule::automatic augments from
/// `o.augment_from` epochs. No time limit: FinalTrainingOptions::seconds and
/// stop_seconds stay 0, so the networks train exactly `epochs` epochs.
[[nodiscard]] inline FinalPlan plan_final_epochs(const TrainingOptions& training, const FinalPlanOptions& o, double epochs) {
  o.validate("plan_final_epochs");
  if (!(epochs > 0.0) || !std::isfinite(epochs))
    throw ConfigError("plan_final_epochs: epochs (" + std::to_string(epochs) + ") must be a finite number > 0");
  FinalPlan p;
  p.options.training = training;
  TrainingOptions& t = p.options.training;
  t.network.channels = o.channels > 0 ? o.channels : o.base_channels;
  t.epochs = epochs;
  p.members = o.members > 0 ? o.members : 1;
  p.epochs_per_network = epochs;
  p.augment = augments(o.augment, epochs, o.augment_from);
  if (p.augment) t.augment = o.augmentation;
  return p;
}

/// The options of FinalAccuracy (--objective final) for a search with `search` whose
/// winner then trains for `seconds` under `rules` at width `final_channels`: the final
/// training lasts `seconds` less what the plan keeps back, and runs at the candidates'
/// pace times the multiply-accumulates of `typical` at the final width over those at the
/// search width (wider layers run at least as efficiently, as plan_final_training assumes).
template <class Space>
FinalAccuracyOptions final_accuracy_options(const TrainedEstimator<Space>& search, const typename Space::Arch& typical,
                                            int final_channels, double seconds, const FinalPlanOptions& rules = {}) {
  if (final_channels < 1)
    throw ConfigError("final_accuracy_options: final_channels (" + std::to_string(final_channels) + ") must be at least 1");
  if (!(seconds > 0.0))
    throw ConfigError("final_accuracy_options: seconds (" + std::to_string(seconds) + ") must be positive");
  const NetworkOptions& candidates = search.options().network;
  const auto macs = [&](int channels) {
    NetworkOptions net = candidates;
    net.channels = channels;
    return static_cast<double>(make_network(search.space(), typical, NetworkInput::of(search.train_data()), net)->macs());
  };
  return {.final_seconds = std::max(1.0, seconds - rules.reserve_seconds),
          .search_images_per_epoch = static_cast<double>(search.train_data().size()),
          .slowdown = macs(final_channels) / macs(candidates.channels)};
}

/// Times training of `arch` on `data` with recipe `o` at each count of `probe` and
/// returns the fastest (probe_thread_counts; rates in training images per second).
/// Each count trains its own network seeded from `o.seed`; the probe's cosine horizon is
/// 100 steps, so that its learning rate stays that of early training.
template <class Space>
ThreadProbeResult probe_training_threads(const Space& space, const typename Space::Arch& arch, const Dataset& data,
                                         const TrainingOptions& o, const ThreadProbeOptions& probe = {}) {
  TrainingOptions once = o;
  once.threads = 0;  // the probe sets the count
  once.on_epoch = nullptr;
  ThreadProbeResult r = probe_thread_counts(
      [&](int) {
        return [run = std::make_shared<TrainingRun<Space>>(space, arch, data, once, o.seed), done = 0L](long steps) mutable {
          done += steps;
          run->train_to(done, 100);
        };
      },
      probe);
  for (double& rate : r.rates) rate *= static_cast<double>(std::min(o.batch_size, data.size()));
  return r;
}

}  // namespace nas
