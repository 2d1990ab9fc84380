// A search History as report data: best-so-far curves (by trials, cost or time) and a CSV table.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/history.hpp"
#include "nas/report/csv.hpp"

namespace nas {

/// What the x axis of a curve counts.
enum class CurveAxis { trials, cost_seconds, wall_seconds };

/// Points of a curve, ready for LineChart::add or step_at.
struct Curve {
  std::vector<double> x{};
  std::vector<double> y{};
};

/// The best ok score after each trial against trials (1, 2, ...), the cost-seconds
/// charged so far, or the wall seconds elapsed. Before the first ok trial y is -inf,
/// which charts skip. Draw it with LineStyle{.step = true}.
template <class Arch>
[[nodiscard]] Curve best_so_far_curve(const History<Arch>& h, CurveAxis axis = CurveAxis::trials) {
  Curve c;
  c.x.reserve(h.size());
  c.y.reserve(h.size());
  double best = -std::numeric_limits<double>::infinity();
  for (const auto& t : h) {
    if (t.eval.ok() && t.eval.score > best) best = t.eval.score;
    c.x.push_back(axis == CurveAxis::trials         ? static_cast<double>(t.index + 1)
                  : axis == CurveAxis::cost_seconds ? t.total_cost
                                                    : t.wall_seconds);
    c.y.push_back(best);
  }
  return c;
}

/// Writes every trial as a CSV row: trial, arch (through `encode`), fidelity, epochs,
/// score, cost, total_cost, wall, status, reason, then one column per metric name seen
/// in the history (in order of first appearance; empty where a trial lacks it).
/// Throws DataError naming the path if it cannot be written.
template <class Arch, class Encode>
void write_history_csv(const History<Arch>& h, const std::string& path, Encode&& encode) {
  std::vector<std::string> metric_names;
  for (const auto& t : h)
    for (const auto& m : t.eval.metrics) {
      bool known = false;
      for (const auto& n : metric_names) known |= n == m.name;
      if (!known) metric_names.push_back(m.name);
    }
  std::vector<std::string> header = {"trial", "arch", "fidelity", "epochs", "score", "cost",
                                     "total_cost", "wall", "status", "reason"};
  header.insert(header.end(), metric_names.begin(), metric_names.end());
  CsvWriter csv(path, header);
  std::vector<std::string> row;
  for (const auto& t : h) {
    row = {csv_number(t.index),         std::string(encode(t.arch)), csv_number(t.fidelity.epochs),
           csv_number(t.eval.epochs),   csv_number(t.eval.score),    csv_number(t.eval.cost_seconds),
           csv_number(t.total_cost),    csv_number(t.wall_seconds),  t.eval.ok() ? "ok" : "failed",
           t.eval.reason};
    for (const auto& n : metric_names) {
      const auto v = t.eval.metrics.get(n);
      row.push_back(v ? csv_number(*v) : std::string());
    }
    csv.row(row);
  }
  csv.flush();
}

}  // namespace nas
