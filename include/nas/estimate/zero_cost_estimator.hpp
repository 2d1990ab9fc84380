// ZeroCostEstimator: an Estimator scoring each architecture's untrained network by a zero-cost proxy or a rank vote of several.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <exception>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/ranking.hpp"
#include "nas/estimate/zero_cost_proxies.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/plan.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// A minibatch of `n` images of `d` drawn without replacement from `rng`, resized
/// (bilinear, half-pixel centres as torch's align_corners = false) to `target`'s height
/// and width, with its channels replicated or averaged to `target.channels`, and
/// standardised to mean 0 and variance 1 over the batch. This is how nas feeds
/// data-dependent proxies a benchmark's network shape from another data set: Fashion-MNIST
/// 28x28x1 becomes NAS-Bench-201's 3x32x32 (no CIFAR images are available here).
/// Labels are kept (ConfigError if one exceeds target.classes).
[[nodiscard]] inline ZeroCostBatch make_zero_cost_batch(const Dataset& d, const NetworkInput& target, std::size_t n, Rng& rng) {
  if (n < 2 || n > d.size())
    throw ConfigError("make_zero_cost_batch: batch of " + std::to_string(n) + " from " + std::to_string(d.size()) +
                      " images (expected 2 <= n <= the data set's size)");
  target.validate("make_zero_cost_batch");
  std::vector<std::size_t> pick(d.size());
  for (std::size_t i = 0; i < pick.size(); ++i) pick[i] = i;
  for (std::size_t i = 0; i < n; ++i) std::swap(pick[i], pick[i + rng.index(pick.size() - i)]);
  ZeroCostBatch b;
  const int C = target.channels, H = target.height, W = target.width;
  b.images = Tensor(Shape{static_cast<int>(n), C, H, W});
  const int sc = d.channels, sh = d.height, sw = d.width;
  for (std::size_t k = 0; k < n; ++k) {
    const auto img = d.image(pick[k]);
    const int label = d.label(pick[k]);
    if (label >= target.classes)
      throw ConfigError("make_zero_cost_batch: label " + std::to_string(label) + " for a network of " +
                        std::to_string(target.classes) + " classes");
    b.labels.push_back(label);
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const double fy = std::clamp((y + 0.5) * sh / H - 0.5, 0.0, sh - 1.0);
          const double fx = std::clamp((x + 0.5) * sw / W - 0.5, 0.0, sw - 1.0);
          const int y0 = static_cast<int>(fy), x0 = static_cast<int>(fx);
          const int y1 = std::min(y0 + 1, sh - 1), x1 = std::min(x0 + 1, sw - 1);
          const double wy = fy - y0, wx = fx - x0;
          double v = 0.0;
          // Source channel: the same one when the counts agree, else every target channel reads
          // the mean of the source's (1 -> 3 replicates the grey plane).
          const int c0 = sc == C ? c : 0, c1 = sc == C ? c + 1 : sc;
          for (int s = c0; s < c1; ++s) {
            auto at = [&](int yy, int xx) { return static_cast<double>(img[(static_cast<std::size_t>(s) * sh + yy) * sw + xx]); };
            v += (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
          }
          b.images[((k * C + c) * H + y) * W + x] = static_cast<float>(v / (c1 - c0));
        }
  }
  double mean = 0.0, sq = 0.0;
  for (float v : b.images) mean += v;
  mean /= static_cast<double>(b.images.numel());
  for (float v : b.images) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(b.images.numel()));
  for (float& v : b.images) v = static_cast<float>((v - mean) / (sd > 0 ? sd : 1.0));
  return b;
}

/// The rank vote of several proxies over the same candidates: `scores[p][i]` is proxy p's
/// score of candidate i; the vote of i is the mean over proxies of its rank fraction
/// (average rank - 1) / (n - 1), so 1 = every proxy ranks it first. Abdelfattah et al.
/// 2021 (sec. 5) vote with synflow, jacob_cov and snip. Non-finite scores rank lowest.
[[nodiscard]] inline std::vector<double> rank_vote(const std::vector<std::vector<double>>& scores) {
  if (scores.empty()) throw ConfigError("rank_vote: no proxies");
  const std::size_t n = scores.front().size();
  std::vector<double> vote(n, 0.0);
  for (const auto& s : scores) {
    if (s.size() != n) throw ConfigError("rank_vote: " + std::to_string(s.size()) + " scores, expected " + std::to_string(n));
    std::vector<double> clean(s);
    for (double& v : clean)
      if (!std::isfinite(v)) v = -std::numeric_limits<double>::max();
    const auto r = average_ranks(clean);
    for (std::size_t i = 0; i < n; ++i) vote[i] += n > 1 ? (r[i] - 1.0) / static_cast<double>(n - 1) : 1.0;
  }
  for (double& v : vote) v /= static_cast<double>(scores.size());
  return vote;
}

/// Proxy policy of ZeroCostEstimator: one proxy's score is the estimate.
struct OneProxy {
  ZeroCostProxy proxy = ZeroCostProxy::synflow;
  [[nodiscard]] std::vector<ZeroCostProxy> proxies() const { return {proxy}; }
  [[nodiscard]] double combine(const ZeroCostScores& s) const { return s.values.at(0); }
};

/// Proxy policy of ZeroCostEstimator: a rank vote of several proxies, made against a
/// reference sample (the same proxies' scores of `reference` architectures, one vector per
/// proxy): the estimate is the mean over proxies of the fraction of the reference that the
/// architecture beats, so architectures evaluated one at a time are ordered as rank_vote()
/// orders them among the reference. Fill `reference` with ZeroCostEstimator::calibrate().
struct RankVote {
  std::vector<ZeroCostProxy> members{ZeroCostProxy::synflow, ZeroCostProxy::jacob_cov, ZeroCostProxy::snip};
  std::vector<std::vector<double>> reference{};  ///< reference[p] sorted ascending
  [[nodiscard]] std::vector<ZeroCostProxy> proxies() const { return members; }
  [[nodiscard]] double combine(const ZeroCostScores& s) const {
    if (reference.size() != members.size())
      throw ConfigError("RankVote: no reference scores (call ZeroCostEstimator::calibrate first)");
    double vote = 0.0;
    for (std::size_t p = 0; p < members.size(); ++p) {
      const auto& ref = reference[p];
      const double v = std::isfinite(s.values[p]) ? s.values[p] : -std::numeric_limits<double>::max();
      const auto lo = std::lower_bound(ref.begin(), ref.end(), v) - ref.begin();
      const auto hi = std::upper_bound(ref.begin(), ref.end(), v) - ref.begin();
      vote += (static_cast<double>(lo + hi) / 2.0) / static_cast<double>(ref.empty() ? 1 : ref.size());
    }
    return vote / static_cast<double>(members.size());
  }
};

/// What a ZeroCostEstimator builds and feeds.
struct ZeroCostEstimatorOptions {
  NetworkInput input{3, 32, 32, 10};  ///< NAS-Bench-201's CIFAR-10 shape
  NetworkOptions network{};           ///< C = 16, N = 5, seed 0: the benchmark's network
  ZeroCostBatch batch{};              ///< for data-dependent proxies (make_zero_cost_batch)
  ZeroCostOptions proxy{};
};

/// An Estimator that builds each architecture's network at initialization and scores it
/// with zero-cost proxies; usable by every strategy. The score is Proxy::combine() of the
/// proxies' scores (higher is better); `cost_seconds` is the measured time of building the
/// network and computing them; every proxy's own score is a metric under its name, with
/// "params" and "flops" always present. A proxy that fails or gives a non-finite score
/// makes a failed evaluation. Fidelity is ignored.
/// \tparam Proxy `proxies() -> std::vector<ZeroCostProxy>` and `combine(const ZeroCostScores&)
///   -> double` (OneProxy, RankVote).
/// \tparam Space a space CellNetwork<Space> builds (Nb201Space, CellSpace).
template <class Proxy = OneProxy, class Space = Nb201Space>
class ZeroCostEstimator {
 public:
  using Arch = typename Space::Arch;
  using Options = ZeroCostEstimatorOptions;

  explicit ZeroCostEstimator(Proxy proxy = {}, Options options = {}, Space space = {})
      : proxy_(std::move(proxy)), options_(std::move(options)), space_(std::move(space)) {
    options_.input.validate("ZeroCostEstimator");
    const auto ps = proxy_.proxies();
    if (ps.empty()) throw ConfigError("ZeroCostEstimator: the proxy policy names no proxies");
    // Ask for params and flops too (free), after the policy's own, so combine() sees its own in order.
    proxies_ = ps;
    for (ZeroCostProxy extra : {ZeroCostProxy::params, ZeroCostProxy::flops})
      if (std::find(proxies_.begin(), proxies_.end(), extra) == proxies_.end()) proxies_.push_back(extra);
    for (ZeroCostProxy p : ps)
      if (needs_data(p) && options_.batch.images.empty())
        throw ConfigError(std::string("ZeroCostEstimator: proxy '") + to_string(p) +
                          "' needs a minibatch (options.batch is empty; see make_zero_cost_batch)");
  }

  /// The proxies' scores of `arch`'s network (the policy's proxies first, then params, flops).
  [[nodiscard]] ZeroCostScores scores(const Arch& arch) {
    CellNetwork<Space> net(space_, arch, options_.input, options_.network);
    return zero_cost_scores(net, Shape{options_.input.channels, options_.input.height, options_.input.width}, proxies_,
                            options_.batch, options_.proxy);
  }

  Evaluation evaluate(const Arch& arch, Fidelity = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    Evaluation e;
    try {
      const ZeroCostScores s = scores(arch);
      ZeroCostScores own{proxy_.proxies(), {}};
      own.values.assign(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(own.proxies.size()));
      e.score = proxy_.combine(own);
      for (std::size_t k = 0; k < s.proxies.size(); ++k) e.metrics.set(to_string(s.proxies[k]), s.values[k]);
    } catch (const std::exception& ex) {
      e = Evaluation::failed(std::string("ZeroCostEstimator: ") + ex.what());
    }
    e.cost_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return e.check_finite();
  }

  /// For RankVote: scores `n` architectures sampled from `rng` and keeps them as the
  /// reference the vote ranks against.
  void calibrate(std::size_t n, Rng& rng) requires std::same_as<Proxy, RankVote> {
    if (n < 2) throw ConfigError("ZeroCostEstimator::calibrate: " + std::to_string(n) + " reference architectures (expected >= 2)");
    std::vector<std::vector<double>> ref(proxy_.members.size());
    for (std::size_t i = 0; i < n; ++i) {
      const ZeroCostScores s = scores(space_.sample(rng));
      for (std::size_t p = 0; p < ref.size(); ++p)
        ref[p].push_back(std::isfinite(s.values[p]) ? s.values[p] : -std::numeric_limits<double>::max());
    }
    for (auto& r : ref) std::sort(r.begin(), r.end());
    proxy_.reference = std::move(ref);
  }

  [[nodiscard]] const Proxy& proxy() const noexcept { return proxy_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

 private:
  Proxy proxy_;
  Options options_;
  Space space_;
  std::vector<ZeroCostProxy> proxies_;
};

}  // namespace nas
