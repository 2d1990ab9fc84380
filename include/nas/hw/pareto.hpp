// Pareto tools: dominance, non-dominated sorting, crowding distance, exact 2-D/3-D hypervolume, an archive.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// Whether an objective is to be made small (latency) or large (accuracy).
enum class Sense { minimize, maximize };

/// One objective of a multi-objective search: a metric of an Evaluation ("latency_ms",
/// "test_accuracy_200", ...; "score" means Evaluation::score) and its sense.
struct Objective {
  std::string metric;
  Sense sense = Sense::maximize;
};

// Every function below works on points whose coordinates are all to be MINIMIZED; turn
// an objective to be maximized into one to be minimized by negating it (to_minimized).

/// a dominates b: a is no worse in every coordinate and better in at least one.
[[nodiscard]] inline bool dominates(std::span<const double> a, std::span<const double> b) {
  NAS_ASSERT(a.size() == b.size(), "dominates: points of different dimension");
  bool better = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) better = true;
  }
  return better;
}

/// The point in minimization form: coordinate i negated when objective i is maximized.
[[nodiscard]] inline std::vector<double> to_minimized(std::span<const double> values, std::span<const Objective> objectives) {
  if (values.size() != objectives.size())
    throw ConfigError("to_minimized: " + std::to_string(values.size()) + " values for " +
                      std::to_string(objectives.size()) + " objectives");
  std::vector<double> out(values.begin(), values.end());
  for (std::size_t i = 0; i < out.size(); ++i)
    if (objectives[i].sense == Sense::maximize) out[i] = -out[i];
  return out;
}

namespace detail {
inline void check_points(const char* where, const std::vector<std::vector<double>>& points) {
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].size() != points.front().size())
      throw ConfigError(std::string(where) + ": point " + std::to_string(i) + " has " + std::to_string(points[i].size()) +
                        " coordinates, point 0 has " + std::to_string(points.front().size()));
    for (double v : points[i])
      if (std::isnan(v)) throw ConfigError(std::string(where) + ": point " + std::to_string(i) + " has a NaN coordinate");
  }
}
}  // namespace detail

/// Fast non-dominated sorting (Deb et al. 2002, "A fast and elitist multiobjective genetic
/// algorithm: NSGA-II", sec. III-A): front 0 holds the points no other point dominates,
/// front k those dominated only by points of fronts < k. Indices within a front are in
/// increasing order. O(M N^2) for N points of M objectives.
[[nodiscard]] inline std::vector<std::vector<std::size_t>> non_dominated_sort(const std::vector<std::vector<double>>& points) {
  detail::check_points("non_dominated_sort", points);
  const std::size_t n = points.size();
  std::vector<std::vector<std::size_t>> dominated(n);  // S_p: the points p dominates
  std::vector<std::size_t> count(n, 0);                // n_p: how many dominate p
  std::vector<std::vector<std::size_t>> fronts;
  std::vector<std::size_t> current;
  for (std::size_t p = 0; p < n; ++p) {
    for (std::size_t q = p + 1; q < n; ++q) {
      if (dominates(points[p], points[q])) {
        dominated[p].push_back(q);
        ++count[q];
      } else if (dominates(points[q], points[p])) {
        dominated[q].push_back(p);
        ++count[p];
      }
    }
  }
  for (std::size_t p = 0; p < n; ++p)
    if (count[p] == 0) current.push_back(p);
  while (!current.empty()) {
    std::vector<std::size_t> next;
    for (std::size_t p : current)
      for (std::size_t q : dominated[p])
        if (--count[q] == 0) next.push_back(q);
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

/// The indices of the non-dominated points (front 0), in increasing order. O(N log N) in
/// two dimensions, else through non_dominated_sort's pairwise test.
[[nodiscard]] inline std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& points) {
  detail::check_points("pareto_front", points);
  if (points.empty()) return {};
  if (points.front().size() != 2) return non_dominated_sort(points).front();
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return points[a] < points[b]; });
  std::vector<std::size_t> front;
  double best_y = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < order.size();) {
    // Points with the same x: the smallest y among them (and its copies) may be on the front.
    std::size_t end = k;
    while (end < order.size() && points[order[end]][0] == points[order[k]][0]) ++end;
    const double y = points[order[k]][1];
    if (y < best_y) {
      for (std::size_t j = k; j < end && points[order[j]][1] == y; ++j) front.push_back(order[j]);
      best_y = y;
    }
    k = end;
  }
  std::sort(front.begin(), front.end());
  return front;
}

/// Crowding distance of each point of one front (Deb et al. 2002, sec. III-B): the sum over
/// objectives of the normalized gap between a point's two neighbours along that objective;
/// the extreme points of every objective get +infinity. Returned in the order of `front`.
[[nodiscard]] inline std::vector<double> crowding_distance(const std::vector<std::vector<double>>& points,
                                                          std::span<const std::size_t> front) {
  const std::size_t n = front.size();
  std::vector<double> d(n, 0.0);
  if (n == 0) return d;
  const std::size_t m = points[front[0]].size();
  std::vector<std::size_t> order(n);
  for (std::size_t k = 0; k < m; ++k) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return points[front[a]][k] < points[front[b]][k]; });
    const double lo = points[front[order.front()]][k], hi = points[front[order.back()]][k];
    d[order.front()] = d[order.back()] = std::numeric_limits<double>::infinity();
    if (hi - lo <= 0.0) continue;
    for (std::size_t i = 1; i + 1 < n; ++i)
      d[order[i]] += (points[front[order[i + 1]]][k] - points[front[order[i - 1]]][k]) / (hi - lo);
  }
  return d;
}

namespace detail {
// Area dominated by 2-D points (minimization) and bounded by ref; points not strictly
// better than ref in both coordinates add nothing.
inline double hypervolume_2d(std::vector<std::pair<double, double>> p, double rx, double ry) {
  std::erase_if(p, [&](const auto& q) { return !(q.first < rx && q.second < ry); });
  std::sort(p.begin(), p.end());
  double area = 0.0, y = ry;
  for (const auto& [x, py] : p) {
    if (py >= y) continue;  // dominated by a point with smaller x
    area += (rx - x) * (y - py);
    y = py;
  }
  return area;
}
}  // namespace detail

/// The hypervolume (Lebesgue measure) of the region dominated by `points` and bounded by
/// the reference point `ref`, all coordinates minimized (Zitzler & Thiele 1998). Exact:
/// a sweep in 2-D (O(N log N)) and slices along the third coordinate in 3-D
/// (O(N^2 log N)). Points not strictly better than `ref` in every coordinate add nothing.
/// Throws ConfigError for other dimensions or mismatched sizes.
[[nodiscard]] inline double hypervolume(const std::vector<std::vector<double>>& points, std::span<const double> ref) {
  detail::check_points("hypervolume", points);
  if (ref.size() != 2 && ref.size() != 3)
    throw ConfigError("hypervolume: " + std::to_string(ref.size()) + " objectives (2 or 3 supported)");
  if (!points.empty() && points.front().size() != ref.size())
    throw ConfigError("hypervolume: points have " + std::to_string(points.front().size()) +
                      " coordinates, the reference point " + std::to_string(ref.size()));
  if (ref.size() == 2) {
    std::vector<std::pair<double, double>> p;
    for (const auto& q : points) p.emplace_back(q[0], q[1]);
    return detail::hypervolume_2d(std::move(p), ref[0], ref[1]);
  }
  // 3-D: between consecutive z levels the dominated cross-section is the 2-D hypervolume of
  // the points with z at or below the slab's bottom.
  std::vector<const std::vector<double>*> in;
  for (const auto& q : points)
    if (q[0] < ref[0] && q[1] < ref[1] && q[2] < ref[2]) in.push_back(&q);
  std::sort(in.begin(), in.end(), [](const auto* a, const auto* b) { return (*a)[2] < (*b)[2]; });
  double volume = 0.0;
  std::vector<std::pair<double, double>> slab;
  for (std::size_t i = 0; i < in.size(); ++i) {
    slab.emplace_back((*in[i])[0], (*in[i])[1]);
    const double z_next = i + 1 < in.size() ? (*in[i + 1])[2] : ref[2];
    if (z_next > (*in[i])[2]) volume += detail::hypervolume_2d(slab, ref[0], ref[1]) * (z_next - (*in[i])[2]);
  }
  return volume;
}

/// The non-dominated architectures seen so far, with their objective values (as measured,
/// not negated). Adding an architecture already held does nothing; a point dominated by a
/// member is refused; members the new point dominates leave. Points with equal values all
/// stay (none dominates another).
template <class Arch>
class ParetoArchive {
 public:
  struct Entry {
    Arch arch;
    std::vector<double> values;  ///< one per objective, as measured
  };

  explicit ParetoArchive(std::vector<Objective> objectives) : objectives_(std::move(objectives)) {
    if (objectives_.empty()) throw ConfigError("ParetoArchive: no objectives");
  }

  /// Returns true when the point joined the front.
  bool add(const Arch& arch, std::vector<double> values) {
    if (values.size() != objectives_.size())
      throw ConfigError("ParetoArchive::add: " + std::to_string(values.size()) + " values for " +
                        std::to_string(objectives_.size()) + " objectives");
    for (double v : values)
      if (std::isnan(v)) return false;
    const auto p = to_minimized(values, objectives_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].arch == arch) return false;
      if (dominates(minimized_[i], p)) return false;
    }
    for (std::size_t i = entries_.size(); i-- > 0;)
      if (dominates(p, minimized_[i])) {
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        minimized_.erase(minimized_.begin() + static_cast<std::ptrdiff_t>(i));
      }
    entries_.push_back({arch, std::move(values)});
    minimized_.push_back(p);
    return true;
  }

  [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] const std::vector<Objective>& objectives() const noexcept { return objectives_; }
  /// The points in minimization form, in the order of entries().
  [[nodiscard]] const std::vector<std::vector<double>>& minimized() const noexcept { return minimized_; }
  /// Hypervolume against `ref`, given in the objectives' own senses (as measured).
  [[nodiscard]] double hypervolume(std::span<const double> ref) const {
    return nas::hypervolume(minimized_, to_minimized(ref, objectives_));
  }

 private:
  std::vector<Objective> objectives_;
  std::vector<Entry> entries_;
  std::vector<std::vector<double>> minimized_;
};

/// How a found front compares with the true one (all coordinates minimized).
struct FrontQuality {
  double hypervolume = 0.0;       ///< of the found points
  double true_hypervolume = 0.0;  ///< of the true front
  double ratio = 0.0;             ///< hypervolume / true_hypervolume (1 when the true one is 0)
  std::size_t true_points = 0;    ///< points on the true front
  std::size_t found_points = 0;   ///< true-front points present among the found ones (by value)
  /// Two objectives only (else 0): for each true-front point t, how much worse in the first
  /// coordinate the best found point is that is no worse than t in the second (e.g. the
  /// accuracy given up at t's latency), or ref[0] - t[0] when none is; the mean over t.
  double mean_gap = 0.0;
  double median_gap = 0.0;  ///< their median (robust to one missed point at a cliff of the front)
  double max_gap = 0.0;     ///< the largest of those gaps
};

/// Compares `found` with `true_front` (points in minimization form) against `ref`: the
/// hypervolume ratio, and how many true-front points appear among the found ones (equal
/// coordinates count as found, since ties are indistinguishable by value).
[[nodiscard]] inline FrontQuality compare_fronts(const std::vector<std::vector<double>>& found,
                                                 const std::vector<std::vector<double>>& true_front,
                                                 std::span<const double> ref) {
  FrontQuality q;
  q.hypervolume = hypervolume(found, ref);
  q.true_hypervolume = hypervolume(true_front, ref);
  q.ratio = q.true_hypervolume > 0.0 ? q.hypervolume / q.true_hypervolume : 1.0;
  q.true_points = true_front.size();
  std::vector<std::vector<double>> sorted = found;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& t : true_front) q.found_points += std::binary_search(sorted.begin(), sorted.end(), t) ? 1 : 0;
  if (ref.size() == 2 && !true_front.empty()) {
    std::vector<double> gaps;
    for (const auto& t : true_front) {
      double best = ref[0];
      for (const auto& f : found)
        if (f[1] <= t[1]) best = std::min(best, f[0]);
      gaps.push_back(std::max(0.0, best - t[0]));
    }
    for (double g : gaps) q.mean_gap += g;
    q.mean_gap /= static_cast<double>(gaps.size());
    std::sort(gaps.begin(), gaps.end());
    const std::size_t h = gaps.size() / 2;
    q.median_gap = gaps.size() % 2 ? gaps[h] : (gaps[h - 1] + gaps[h]) / 2;
    q.max_gap = gaps.back();
  }
  return q;
}

}  // namespace nas
