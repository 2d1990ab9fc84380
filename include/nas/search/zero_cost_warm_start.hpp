// zero_cost_warm_start(): a WarmStartSpace ranking its candidates by a zero-cost proxy of their untrained networks on a data set's shape.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/estimate/zero_cost_estimator.hpp"
#include "nas/estimate/zero_cost_proxies.hpp"
#include "nas/model/plan.hpp"
#include "nas/search/warm_start.hpp"

namespace nas {

/// What zero_cost_warm_start() scores and how many it keeps.
struct ZeroCostWarmStartOptions {
  ZeroCostProxy proxy = ZeroCostProxy::synflow;
  NetworkOptions network{};   ///< the networks scored: give them the width and depth the job delivers
  std::size_t batch = 64;     ///< images of the minibatch data-dependent proxies read
  WarmStartOptions warm{};    ///< N candidates, the top k kept, and the seed drawing both them and the minibatch
};

/// The zero-cost warm start (Abdelfattah et al. 2021, sec. 5) on a real data set: samples
/// options.warm.candidates architectures of `space`, builds each one's network at
/// initialization for `data`'s image shape and classes, scores it with options.proxy
/// (data-dependent proxies read one minibatch of `data`, drawn with options.warm.seed) and
/// keeps the top k, which the first k sample() calls return. A candidate whose network or
/// score fails ranks last. The scoring happens here, before the search starts, and its
/// wall time is proxy_seconds(): a search whose budget is counted from before this call
/// pays for it. ConfigError for options the estimator or the adapter refuses.
template <class Space>
[[nodiscard]] WarmStartSpace<Space> zero_cost_warm_start(Space space, const Dataset& data, const ZeroCostWarmStartOptions& options) {
  ZeroCostEstimatorOptions eo{.input = NetworkInput::of(data), .network = options.network};
  if (needs_data(options.proxy)) {
    Rng rng(options.warm.seed);
    eo.batch = make_zero_cost_batch(data, eo.input, std::min(options.batch, data.size()), rng);
  }
  ZeroCostEstimator<OneProxy, Space> estimator(OneProxy{options.proxy}, std::move(eo), space);
  auto score = [&estimator](const typename Space::Arch& a) {
    const Evaluation e = estimator.evaluate(a);
    return e.ok() ? e.score : -std::numeric_limits<double>::infinity();
  };
  return WarmStartSpace<Space>(std::move(space), score, options.warm);
}

}  // namespace nas
