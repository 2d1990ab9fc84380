// Curves across repeated runs: step functions on a common grid, and mean/std/quantile bands.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// `n` evenly spaced points from `lo` to `hi` (both included).
[[nodiscard]] inline std::vector<double> linear_grid(double lo, double hi, std::size_t n) {
  if (n < 2) throw ConfigError("linear_grid: need at least 2 points (got " + std::to_string(n) + ")");
  std::vector<double> g(n);
  for (std::size_t i = 0; i < n; ++i) g[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(n - 1);
  return g;
}

/// `n` logarithmically spaced points from `lo` to `hi` (both > 0, included).
[[nodiscard]] inline std::vector<double> log_grid(double lo, double hi, std::size_t n) {
  if (!(lo > 0.0) || !(hi > 0.0))
    throw ConfigError("log_grid: limits (" + std::to_string(lo) + ", " + std::to_string(hi) + ") must be > 0");
  auto g = linear_grid(std::log10(lo), std::log10(hi), n);
  for (auto& v : g) v = std::pow(10.0, v);
  g.front() = lo;
  g.back() = hi;
  return g;
}

/// Samples the step function through (x[i], y[i]) at each grid point: the y of the last
/// x <= point (x sorted ascending), NaN before the first x. Use it to put best-so-far
/// curves of runs that spent cost at different moments on one cost axis.
[[nodiscard]] inline std::vector<double> step_at(const std::vector<double>& x, const std::vector<double>& y,
                                                 const std::vector<double>& grid) {
  if (x.size() != y.size())
    throw ConfigError("step_at: " + std::to_string(x.size()) + " x values and " + std::to_string(y.size()) + " y values");
  for (std::size_t i = 1; i < x.size(); ++i)
    if (x[i] < x[i - 1]) throw ConfigError("step_at: x is not sorted at index " + std::to_string(i));
  std::vector<double> out(grid.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t g = 0; g < grid.size(); ++g) {
    const auto it = std::upper_bound(x.begin(), x.end(), grid[g]);
    if (it != x.begin()) out[g] = y[static_cast<std::size_t>(it - x.begin()) - 1];
  }
  return out;
}

/// Point-wise statistics of several curves sampled at the same points.
struct CurveSummary {
  std::vector<double> mean{};
  std::vector<double> std{};     ///< sample standard deviation (n - 1), 0 for a single run
  std::vector<double> median{};
  std::vector<double> lower{};   ///< the `lower_q` quantile
  std::vector<double> upper{};   ///< the `upper_q` quantile
  std::vector<std::size_t> count{};  ///< finite values at each point
};

/// Mean, standard deviation, median and a quantile band at each point over `runs`
/// (curves of equal length). Non-finite values (a run not started yet, -inf before its
/// first success) are left out; a point with none gets NaN everywhere. Quantiles
/// interpolate linearly between order statistics (numpy's default).
[[nodiscard]] inline CurveSummary summarize_curves(const std::vector<std::vector<double>>& runs, double lower_q = 0.25,
                                                   double upper_q = 0.75) {
  if (runs.empty()) throw ConfigError("summarize_curves: no curves given");
  if (!(lower_q >= 0.0 && lower_q <= upper_q && upper_q <= 1.0))
    throw ConfigError("summarize_curves: quantiles (" + std::to_string(lower_q) + ", " + std::to_string(upper_q) +
                      ") must satisfy 0 <= lower <= upper <= 1");
  const std::size_t n = runs.front().size();
  for (std::size_t r = 1; r < runs.size(); ++r)
    if (runs[r].size() != n)
      throw ConfigError("summarize_curves: curve " + std::to_string(r) + " has " + std::to_string(runs[r].size()) +
                        " points, curve 0 has " + std::to_string(n));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CurveSummary s;
  s.mean.assign(n, nan);
  s.std.assign(n, nan);
  s.median.assign(n, nan);
  s.lower.assign(n, nan);
  s.upper.assign(n, nan);
  s.count.assign(n, 0);
  std::vector<double> v;
  const auto quantile = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const double f = pos - static_cast<double>(i);
    return i + 1 < v.size() ? v[i] + f * (v[i + 1] - v[i]) : v[i];
  };
  for (std::size_t p = 0; p < n; ++p) {
    v.clear();
    for (const auto& r : runs)
      if (std::isfinite(r[p])) v.push_back(r[p]);
    s.count[p] = v.size();
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    double sum = 0.0;
    for (double x : v) sum += x;
    const double m = sum / static_cast<double>(v.size());
    double sq = 0.0;
    for (double x : v) sq += (x - m) * (x - m);
    s.mean[p] = m;
    s.std[p] = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
    s.median[p] = quantile(0.5);
    s.lower[p] = quantile(lower_q);
    s.upper[p] = quantile(upper_q);
  }
  return s;
}

}  // namespace nas
