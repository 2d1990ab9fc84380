// Ranking diagnostics: Kendall's tau-b, Spearman's rho and top-k overlap between two scorings of the same architectures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

namespace detail {
inline void check_pairs(const char* where, std::span<const double> a, std::span<const double> b, std::size_t min) {
  if (a.size() != b.size())
    throw ConfigError(std::string(where) + ": " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                      " scores (need one pair per architecture)");
  if (a.size() < min)
    throw ConfigError(std::string(where) + ": " + std::to_string(a.size()) + " pairs (need at least " + std::to_string(min) + ")");
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      throw ConfigError(std::string(where) + ": pair " + std::to_string(i) + " is not finite (" + std::to_string(a[i]) + ", " +
                        std::to_string(b[i]) + "); drop failed evaluations first");
}
}  // namespace detail

/// Ranks 1..n with ties given the mean of the ranks they span (the convention of
/// scipy.stats.rankdata's "average" method).
[[nodiscard]] inline std::vector<double> average_ranks(std::span<const double> v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (std::size_t k = 0; k < order.size();) {
    std::size_t end = k;
    while (end < order.size() && v[order[end]] == v[order[k]]) ++end;
    const double mean = (static_cast<double>(k + 1) + static_cast<double>(end)) / 2.0;
    for (std::size_t q = k; q < end; ++q) r[order[q]] = mean;
    k = end;
  }
  return r;
}

/// Spearman's rho: Pearson's correlation of the average ranks (ties handled). 0 when
/// either side is constant.
[[nodiscard]] inline double spearman_rho(std::span<const double> a, std::span<const double> b) {
  detail::check_pairs("spearman_rho", a, b, 2);
  const auto ra = average_ranks(a), rb = average_ranks(b);
  const double n = static_cast<double>(a.size()), mean = (n + 1.0) / 2.0;
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  return saa > 0.0 && sbb > 0.0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

/// Kendall's tau-b (Kendall 1945): (concordant - discordant) / sqrt((n0 - t_a)(n0 - t_b))
/// over all pairs, n0 = n(n-1)/2, t_a and t_b the pairs tied in a and in b; equal to
/// scipy.stats.kendalltau's default. O(n^2): fine for the few thousand architectures a
/// ranking study scores. 0 when either side is constant.
[[nodiscard]] inline double kendall_tau(std::span<const double> a, std::span<const double> b) {
  detail::check_pairs("kendall_tau", a, b, 2);
  long long concordant = 0, discordant = 0, tie_a = 0, tie_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0.0) ++tie_a;
      if (db == 0.0) ++tie_b;
      if (da == 0.0 || db == 0.0) continue;
      ((da > 0.0) == (db > 0.0) ? concordant : discordant) += 1;
    }
  const double n0 = static_cast<double>(a.size()) * static_cast<double>(a.size() - 1) / 2.0;
  const double denom = std::sqrt((n0 - static_cast<double>(tie_a)) * (n0 - static_cast<double>(tie_b)));
  return denom > 0.0 ? static_cast<double>(concordant - discordant) / denom : 0.0;
}

/// The share of the k highest-scored architectures under `a` that are also among the k
/// highest under `b` (ties broken by position). 1 for identical top-k sets.
[[nodiscard]] inline double top_k_overlap(std::span<const double> a, std::span<const double> b, std::size_t k) {
  detail::check_pairs("top_k_overlap", a, b, 1);
  if (k < 1 || k > a.size())
    throw ConfigError("top_k_overlap: k (" + std::to_string(k) + ") must be in [1, " + std::to_string(a.size()) + "]");
  const auto top = [k](std::span<const double> v) {
    std::vector<std::size_t> order(v.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return v[i] > v[j]; });
    order.resize(k);
    std::sort(order.begin(), order.end());
    return order;
  };
  const auto ta = top(a), tb = top(b);
  std::vector<std::size_t> both;
  std::set_intersection(ta.begin(), ta.end(), tb.begin(), tb.end(), std::back_inserter(both));
  return static_cast<double>(both.size()) / static_cast<double>(k);
}

}  // namespace nas
