// A tour of the library along the seed article: the size of a cell search space, random
// search with successive halving, regularized evolution — first on the article's toy
// fitness (SyntheticEstimator), then on the real NAS-Bench-201 table.
#include <nas/estimate/synthetic.hpp>
#include <nas/estimate/tabular.hpp>
#include <nas/report/program.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/local_search.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/space/cell_space.hpp>
#include <nas/space/nb201_space.hpp>

#include <cstdio>
#include <string>

namespace {

// Prints each successive-halving rung as it ends: how many were evaluated, the best
// score, how many go on.
struct RungPrinter {
  double eta = 2.0;
  std::size_t seen = 0;
  template <class Arch>
  void on_generation(std::size_t rung, const nas::History<Arch>& h) {
    const double fidelity = h.back().fidelity.epochs;
    std::size_t n = 0;
    double best = -1.0;
    for (std::size_t i = seen; i < h.size(); ++i) {
      ++n;
      if (h[i].eval.ok() && h[i].eval.score > best) best = h[i].eval.score;
    }
    seen = h.size();
    std::printf("  rung %zu: %zu cells at %g epochs, best %.3f, kept top %zu\n", rung, n, fidelity, best,
                n > 1 ? static_cast<std::size_t>(static_cast<double>(n) / eta) : std::size_t{0});
  }
};

void section(const char* title) { std::printf("\n== %s ==\n", title); }

}  // namespace

int tour() {
  // 1. The architecture design problem: how big is the seed's cell space?
  section("1. The search space");
  const nas::CellSpace space = nas::CellSpace::seed();
  const auto per_node = space.choices_per_node();
  for (std::size_t k = 0; k < per_node.size(); ++k)
    std::printf("  node %zu: %zu inputs x %zu ops, two picks: %s combinations\n", k, space.num_inputs() + k,
                space.ops().size(), per_node[k].to_string(true).c_str());
  std::printf("  cells in the space: %s\n", space.size().to_string(true).c_str());

  // 2. Random search, then successive halving, on the article's toy fitness (per-op
  // quality plus noise that shrinks with epochs). Both get the same simulated budget.
  section("2. Random search and successive halving (synthetic fitness)");
  const nas::Budget budget{.cost_seconds = 16 * 20 + 8 * 40 + 4 * 60 + 2 * 80};  // what one halving bracket spends
  {
    nas::SyntheticEstimator est(space, {.seed = 1});
    const auto r = nas::RandomSearch({.fidelity = {20}, .seed = 42}).run(space, est, budget);
    std::printf("  random search: %zu cells at 20 epochs, best score %.3f, true quality %.3f\n", r.history.size(),
                r.best_eval.score, est.quality(r.best));
  }
  {
    nas::SyntheticEstimator est(space, {.seed = 1});
    RungPrinter rungs;
    const nas::SuccessiveHalving sh({.eta = 2, .fidelities = {20, 40, 60, 80}, .candidates = 16, .seed = 42});
    const auto r = sh.run(space, est, budget, rungs);
    std::printf("  successive halving winner (quality %.3f): %s\n", est.quality(r.best), space.encode(r.best).c_str());
  }

  // 3. Regularized evolution: population 20, tournaments of 5, 100 children at 50 epochs.
  section("3. Regularized evolution (synthetic fitness)");
  {
    nas::SyntheticEstimator est(space, {.seed = 1});
    const auto r = nas::RegularizedEvolution({.population = 20, .sample = 5, .seed = 42})
                       .run(space, est, nas::Budget{.evaluations = 120});
    double initial = -1.0;
    for (std::size_t i = 0; i < 20; ++i) initial = std::max(initial, r.history[i].eval.score);
    std::printf("  best fitness %.3f (quality %.3f); best of the initial population %.3f\n", r.best_eval.score,
                est.quality(r.best), initial);
    std::printf("  the all-conv3x3 cell has quality 0.800, the best possible\n");
  }

  // 4. The same strategies on the NAS-Bench-201 table (Dong & Yang 2020): 12000 simulated
  // seconds, the search sees 12-epoch validation accuracy, we report the 200-epoch test.
  section("4. The same strategies on NAS-Bench-201 (CIFAR-10, 12000 simulated seconds)");
  try {
    const nas::Nb201Space nb201;
    const nas::TabularEstimator est = nas::TabularEstimator::from_default_table("cifar10");
    const auto oracle = est.oracle();
    const nas::Budget protocol{.cost_seconds = 12000};
    const auto report = [&](const char* name, const auto& result) {
      const auto& rec = est.record(result.best);
      std::printf("  %-22s %3zu evaluations, test %.2f%% (optimum %.2f%%): %s\n", name, result.history.size(), rec.test[0],
                  oracle.best_test, nb201.encode(result.best).c_str());
    };
    nas::TabularEstimator e1 = est, e2 = est, e3 = est, e4 = est;
    report("random search", nas::RandomSearch({.fidelity = {12}, .seed = 7}).run(nb201, e1, protocol));
    report("successive halving", nas::SuccessiveHalving({.eta = 3, .fidelities = {12, 200}, .seed = 7}).run(nb201, e2, protocol));
    report("regularized evolution",
           nas::RegularizedEvolution({.population = 10, .sample = 3, .fidelity = {12}, .seed = 7}).run(nb201, e3, protocol));
    report("local search", nas::LocalSearch({.fidelity = {12}, .seed = 7}).run(nb201, e4, protocol));
    std::printf("  one run each; examples/nb201_search averages 500 runs per strategy\n");
  } catch (const nas::DataError& e) {
    std::printf("  skipped: %s\n", e.what());
  }
  return 0;
}

// Any error ends the tour with its message and a non-zero status, never an uncaught exception.
int main() { return nas::run_program("tour", tour); }
