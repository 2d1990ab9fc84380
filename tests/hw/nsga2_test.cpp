// Nsga2: finds a known Pareto front with a budget far below the space size; options and objectives checked.
#include <catch2/catch.hpp>

#include <nas/hw/pareto.hpp>
#include <nas/search/nsga2.hpp>
#include <nas/search/random_search.hpp>
#include <nas/testing/choice_space.hpp>
#include <nas/testing/recorder.hpp>

#include <set>
#include <vector>

namespace {

using nas::testing::ChoiceSpace;
using Arch = ChoiceSpace::Arch;

// Three decisions of 32 choices (32,768 cells). Minimize f1 = x + y + z and
// f2 = (31 - x) + y + z: for any x, y = z = 0 is best in both, so the front is exactly
// {(x, 0, 0)}: 32 points with f1 + f2 = 31.
struct TwoObjectives {
  int calls = 0;
  nas::Evaluation evaluate(const Arch& a, nas::Fidelity) {
    ++calls;
    const int x = a.choices[0], y = a.choices[1], z = a.choices[2];
    nas::Evaluation e;
    e.score = -(x + y + z);
    e.metrics.set("f1", x + y + z);
    e.metrics.set("f2", (31 - x) + y + z);
    return e;
  }
};

const std::vector<nas::Objective> objectives{{"f1", nas::Sense::minimize}, {"f2", nas::Sense::minimize}};

std::size_t true_front_points(const std::vector<nas::ParetoArchive<Arch>::Entry>& front) {
  std::set<int> xs;
  for (const auto& e : front)
    if (e.arch.choices[1] == 0 && e.arch.choices[2] == 0) xs.insert(e.arch.choices[0]);
  return xs.size();
}

}  // namespace

TEST_CASE("Nsga2 finds nearly all of a known 32-point front with 1,000 of 32,768 cells", "[search][nsga2]") {
  const ChoiceSpace space(3, 32);
  const std::vector<double> ref{62, 62};  // worst f1 and f2 over the space are 93; 62 keeps the region tight
  const double true_hv = [&] {
    std::vector<std::vector<double>> front;
    for (int x = 0; x < 32; ++x) front.push_back({double(x), double(31 - x)});
    return nas::hypervolume(front, ref);
  }();
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    TwoObjectives est;
    const auto r = nas::Nsga2({.population = 40, .objectives = objectives, .seed = seed}).run(space, est, {.evaluations = 1000});
    INFO("seed " << seed);
    CHECK(r.history.size() == 1000);
    CHECK(est.calls == 1000);
    std::vector<std::vector<double>> pts;
    for (const auto& e : r.front) pts.push_back(e.values);
    const double hv = nas::hypervolume(pts, ref);
    CHECK(hv / true_hv > 0.97);
    CHECK(true_front_points(r.front) >= 26);
    // Every front member is non-dominated among all evaluated points.
    std::vector<std::vector<double>> all;
    for (const auto& t : r.history.trials()) all.push_back({*t.eval.metrics.get("f1"), *t.eval.metrics.get("f2")});
    for (const auto& e : r.front)
      for (const auto& q : all) CHECK_FALSE(nas::dominates(q, e.values));
  }
}

TEST_CASE("Random search with the same budget finds few points of that front, so the test above can fail", "[search][nsga2]") {
  const ChoiceSpace space(3, 32);
  TwoObjectives est;
  nas::ParetoArchive<Arch> archive(objectives);
  nas::Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const Arch a = space.sample(rng);
    const auto e = est.evaluate(a, {});
    archive.add(a, {*e.metrics.get("f1"), *e.metrics.get("f2")});
  }
  CHECK(true_front_points(archive.entries()) < 10);
}

TEST_CASE("Nsga2 never pays twice for an architecture, stops when the space is exhausted, and tells callbacks each generation", "[search][nsga2]") {
  const ChoiceSpace space(3, 4);  // 64 cells, fewer than the budget
  TwoObjectives est;
  nas::testing::Recorder rec;
  const auto r = nas::Nsga2({.population = 8, .objectives = objectives, .seed = 5}).run(space, est, {.evaluations = 500}, rec);
  std::set<std::vector<int>> distinct;
  for (const auto& t : r.history.trials()) distinct.insert(t.arch.choices);
  CHECK(distinct.size() == r.history.size());
  CHECK(r.history.size() <= 64);
  CHECK(r.stop_reason == "exhausted");
  CHECK(rec.generations >= 2);
  CHECK(rec.generation_ids.front() == 0);
  CHECK(rec.ends == 1);
}

TEST_CASE("Nsga2 checks its options and names a missing objective metric", "[search][nsga2][options]") {
  const ChoiceSpace space(3, 4);
  TwoObjectives est;
  const nas::Budget b{.evaluations = 10};
  CHECK_THROWS_WITH(nas::Nsga2({.population = 1, .objectives = objectives}).run(space, est, b),
                    "Nsga2::run: population (1) must be >= 2");
  CHECK_THROWS_WITH(nas::Nsga2({.population = 4, .objectives = {{"f1", nas::Sense::minimize}}}).run(space, est, b),
                    "Nsga2::run: 1 objectives (need at least 2)");
  CHECK_THROWS_WITH(nas::Nsga2({.population = 4, .objectives = objectives, .crossover_rate = 1.5}).run(space, est, b),
                    Catch::Contains("crossover_rate (1.500000) must be in [0, 1]"));
  CHECK(est.calls == 0);
  CHECK_THROWS_WITH(nas::Nsga2({.population = 4, .objectives = {{"f1", nas::Sense::minimize}, {"latency_ms", nas::Sense::minimize}}})
                        .run(space, est, b),
                    "Nsga2::run: objective 'latency_ms' is not a metric of the evaluation (it has: f1, f2)");
}
