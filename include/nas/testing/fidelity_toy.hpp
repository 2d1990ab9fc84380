// What the executors' tests share: a toy's deterministic score at a fidelity, and where two histories first differ.
#pragma once

#include <cstddef>
#include <sstream>
#include <string>

#include "nas/core/evaluation.hpp"
#include "nas/core/history.hpp"

namespace nas::testing {

/// A deterministic evaluation of `arch` on a toy problem P at `fidelity`: the true score
/// less 0.1 / epochs (more training scores higher, the ranking unchanged), charged one
/// cost-second per epoch (`Fidelity{}` is one epoch), with the noiseless score as the
/// metric "true_score". It depends on the arch and the fidelity only, so a serial run,
/// a thread pool and MPI ranks must agree on it bit for bit.
template <class P>
[[nodiscard]] Evaluation fidelity_evaluation(const P& problem, const typename P::Arch& arch, Fidelity fidelity) {
  const double epochs = fidelity.is_default() ? 1.0 : fidelity.epochs;
  const double truth = problem.score(arch);
  Evaluation e;
  e.score = truth - 0.1 / epochs;
  e.cost_seconds = epochs;
  e.epochs = epochs;
  e.metrics.set("true_score", truth);
  return e;
}

/// What to compare in history_difference.
struct HistoryComparison {
  bool total_cost = true;  ///< the cost charged up to each trial (false: runs whose costs are wall-clock)
};

/// Empty when `a` and `b` hold the same trials in the same order: the same arch,
/// fidelity, status and score bit for bit (a failed trial's score is not compared), and
/// the total cost unless switched off; otherwise
/// where they first differ, for a test's failure message:
///
///     CHECK(nas::testing::history_difference(a, b).empty());
template <class Arch>
[[nodiscard]] std::string history_difference(const History<Arch>& a, const History<Arch>& b, HistoryComparison what = {}) {
  std::ostringstream out;
  out.precision(17);
  if (a.size() != b.size()) {
    out << a.size() << " trials against " << b.size();
    return out.str();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].arch == b[i].arch)) out << "trial " << i << ": the archs differ";
    else if (!(a[i].fidelity == b[i].fidelity))
      out << "trial " << i << ": fidelity " << a[i].fidelity.epochs << " against " << b[i].fidelity.epochs << " epochs";
    else if (a[i].eval.status != b[i].eval.status) out << "trial " << i << ": failed in one history only";
    else if (a[i].eval.status == Status::ok && !(a[i].eval.score == b[i].eval.score))
      out << "trial " << i << ": score " << a[i].eval.score << " against " << b[i].eval.score;
    else if (what.total_cost && !(a[i].total_cost == b[i].total_cost))
      out << "trial " << i << ": total cost " << a[i].total_cost << " against " << b[i].total_cost;
    if (out.tellp() > 0) return out.str();
  }
  return {};
}

}  // namespace nas::testing
