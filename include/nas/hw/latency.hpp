// Measured inference latency of a network on this machine (the hw layer's latency probe).
//
// Layers: the measurement itself lives in nas/tensor/latency.hpp, because final_training
// (estimate) reports the latency of the network it trained and estimate may not include
// hw, which comes after it. Timing a forward pass needs nothing above the tensor layer
// (a module and an input shape), so the function sits there and this header re-exports
// it with the form hw users reach for: a network and its NetworkInput.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/hw/latency_table.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/tensor/latency.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// Median milliseconds per image of `repeats` inference passes of `net` at batch `batch`
/// on random images shaped as `in` says (see inference_latency_ms(net, Shape, ...)).
template <class Net>
double inference_latency_ms(Net& net, const NetworkInput& in, int batch, int repeats, std::uint64_t seed = 0) {
  if (batch < 1 || repeats < 1)
    throw ConfigError("inference_latency_ms: batch (" + std::to_string(batch) + ") and repeats (" + std::to_string(repeats) +
                      ") must be >= 1");
  return inference_latency_ms(net, in.batch(batch), repeats, seed);
}

/// How end-to-end latencies of whole networks are measured (measure_networks_ms): at batch
/// `batch` on `threads` threads (pinned while measuring, restored afterwards), over `rounds`
/// interleaved rounds, each of which builds every network afresh and keeps the fastest of
/// `repeats` passes after `warmup` untimed ones.
struct NetworkTimingOptions {
  int batch = 1;
  int threads = 1;
  int rounds = 1;
  int repeats = 20;
  int warmup = 2;

  void validate(const char* where) const {
    if (batch < 1 || threads < 1 || rounds < 1 || repeats < 1 || warmup < 0)
      throw ConfigError(std::string(where) + ": batch (" + std::to_string(batch) + "), threads (" + std::to_string(threads) +
                        "), rounds (" + std::to_string(rounds) + ") and repeats (" + std::to_string(repeats) +
                        ") must be >= 1 and warmup (" + std::to_string(warmup) + ") >= 0");
  }
};

/// End-to-end milliseconds per pass of each architecture's network: `ms[i]` is the fastest
/// pass of architecture i over all rounds (forward_pass_ms's statistic, which LatencyTable
/// predicts), `spread[i]` the (p90 - p10) of the rounds' fastest passes over `ms[i]` (0 with
/// one round).
struct NetworkTimings {
  std::vector<double> ms, spread;
};

template <class Space>
[[nodiscard]] NetworkTimings measure_networks_ms(const Space& space, const std::vector<typename Space::Arch>& archs,
                                                 const NetworkInput& input, const NetworkOptions& options,
                                                 const NetworkTimingOptions& o = {}) {
  o.validate("measure_networks_ms");
  const int threads_before = num_threads();
  set_num_threads(o.threads);
  std::vector<std::vector<double>> samples(archs.size());
  for (int r = 0; r < o.rounds; ++r)
    for (std::size_t i = 0; i < archs.size(); ++i) {
      CellNetwork<Space> net(plan_network(space, archs[i], input, options));
      samples[i].push_back(forward_pass_ms(net, input.batch(o.batch), o.repeats, o.warmup, i));
    }
  set_num_threads(threads_before);
  NetworkTimings t;
  for (const auto& s : samples) {
    const double fastest = detail::quantile(s, 0.0);
    t.ms.push_back(fastest);
    t.spread.push_back((detail::quantile(s, 0.9) - detail::quantile(s, 0.1)) / fastest);
  }
  return t;
}

/// A latency table of this machine for `space`'s networks of (input, options), ready to
/// predict: every op configuration profiled (LatencyTable::profile with `profile`), then the
/// per-network overhead calibrated (LatencyTable::calibrate) on `networks` random
/// architectures (drawn with `seed`) measured end to end at the table's batch and thread
/// count. This is what a program that prices latency does first (docs/latency.md).
struct CalibratedProfileOptions {
  LatencyProfileOptions profile;
  std::size_t networks = 8;  ///< architectures measured end to end for the overhead (>= 1)
  int rounds = 1;            ///< of measure_networks_ms
  int repeats = 20;
  std::uint64_t seed = 17;  ///< of the calibration architectures
};

template <class Space>
[[nodiscard]] LatencyTable profile_calibrated(const Space& space, const NetworkInput& input, const NetworkOptions& options,
                                              const CalibratedProfileOptions& o = {}) {
  if (o.networks < 1) throw ConfigError("profile_calibrated: networks is 0 (expected at least 1 to calibrate on)");
  LatencyTable table = LatencyTable::profile(space, input, options, o.profile);
  Rng rng(o.seed);
  std::vector<typename Space::Arch> archs;
  for (std::size_t i = 0; i < o.networks; ++i) archs.push_back(space.sample(rng));
  const NetworkTimings measured = measure_networks_ms(
      space, archs, input, options,
      {.batch = o.profile.batch, .threads = o.profile.threads, .rounds = o.rounds, .repeats = o.repeats});
  std::vector<double> ops;
  for (const auto& a : archs) ops.push_back(table.ops_ms(plan_network(space, a, input, options)));
  table.calibrate(ops, measured.ms);
  return table;
}

}  // namespace nas
