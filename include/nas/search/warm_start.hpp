// WarmStartSpace: a search space whose first k samples are a proxy's top k of N sampled candidates (zero-cost warm start).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"

namespace nas {

struct WarmStartOptions {
  std::size_t candidates = 3000;  ///< N: architectures sampled and scored by the proxy
  std::size_t top = 10;           ///< k: how many of the best the first sample() calls return
  std::uint64_t seed = 0;         ///< draws the N candidates
  bool distinct = true;           ///< resample duplicates (up to 10 N draws) so the N are distinct
};

/// The warm start of Abdelfattah et al. 2021 (sec. 5, "zero-cost warmup"), as a space
/// adapter that needs no change in any strategy: at construction it samples N candidates
/// from `space`, scores each with `score` (a zero-cost proxy: higher is better) and keeps
/// the k best; the first k sample() calls (over all strategies and Rngs using this object)
/// return them, best first, and later calls sample `space` uniformly. Everything else
/// (mutate, neighbors, encode, decode, size) is `space`'s. Regularized evolution thus
/// starts from the proxy's top k as its initial population and random search evaluates
/// them first; the strategy's estimator trains only what it is handed.
///
/// The proxy's time is measured (proxy_seconds()) so that a comparison at equal cost can
/// charge it. Not thread-safe: one instance per search.
/// \tparam Space a SearchSpace. \tparam Score `double(const Space::Arch&)`.
template <class Space>
class WarmStartSpace {
 public:
  using Arch = typename Space::Arch;

  template <class Score>
  WarmStartSpace(Space space, Score&& score, const WarmStartOptions& options) : space_(std::move(space)), options_(options) {
    static_assert(check_search_space<Space>());
    static_assert(requires(const Arch& a) { { score(a) } -> std::convertible_to<double>; },
                  "nas: WarmStartSpace's score must be callable as double(const Arch&).");
    if (options.candidates == 0 || options.top == 0 || options.top > options.candidates)
      throw ConfigError("WarmStartSpace: top (" + std::to_string(options.top) + ") must be in [1, candidates (" +
                        std::to_string(options.candidates) + ")]");
    Rng rng(options.seed);
    std::unordered_set<Arch> seen;
    std::vector<Arch> pool;
    for (std::size_t draws = 0; pool.size() < options.candidates && draws < 10 * options.candidates; ++draws) {
      Arch a = space_.sample(rng);
      if (options.distinct && !seen.insert(a).second) continue;
      pool.push_back(std::move(a));
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> s(pool.size());
    for (std::size_t i = 0; i < pool.size(); ++i) {
      const double v = static_cast<double>(score(pool[i]));
      s[i] = std::isfinite(v) ? v : -std::numeric_limits<double>::infinity();
    }
    proxy_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    scored_ = pool.size();
    std::vector<std::size_t> order(pool.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Best first; ties keep sampling order, so the result depends only on the seed.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
    for (std::size_t i = 0; i < std::min(options.top, order.size()); ++i) {
      top_.push_back(pool[order[i]]);
      top_scores_.push_back(s[order[i]]);
    }
  }

  /// The next of the proxy's top k, then uniform samples of the space.
  [[nodiscard]] Arch sample(Rng& rng) const {
    if (next_ < top_.size()) return top_[next_++];
    return space_.sample(rng);
  }
  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const { return space_.mutate(a, rng); }
  [[nodiscard]] auto neighbors(const Arch& a) const { return space_.neighbors(a); }
  [[nodiscard]] std::string encode(const Arch& a) const { return space_.encode(a); }
  [[nodiscard]] Arch decode(std::string_view s) const { return space_.decode(s); }
  [[nodiscard]] auto size() const { return space_.size(); }

  /// The proxy's top k, best first, and their scores.
  [[nodiscard]] const std::vector<Arch>& top() const noexcept { return top_; }
  [[nodiscard]] const std::vector<double>& top_scores() const noexcept { return top_scores_; }
  /// Candidates scored (N, or fewer when the space has fewer distinct architectures).
  [[nodiscard]] std::size_t scored() const noexcept { return scored_; }
  /// Wall time the N proxy evaluations took.
  [[nodiscard]] double proxy_seconds() const noexcept { return proxy_seconds_; }
  /// How many of the top k sample() has handed out.
  [[nodiscard]] std::size_t handed_out() const noexcept { return next_; }
  [[nodiscard]] const Space& base() const noexcept { return space_; }

 private:
  Space space_;
  WarmStartOptions options_;
  std::vector<Arch> top_;
  std::vector<double> top_scores_;
  std::size_t scored_ = 0;
  double proxy_seconds_ = 0.0;
  mutable std::size_t next_ = 0;
};

template <class Space, class Score>
WarmStartSpace(Space, Score&&, const WarmStartOptions&) -> WarmStartSpace<Space>;

}  // namespace nas
