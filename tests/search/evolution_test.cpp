// Evolution: options, the policies and the shape of a run.
#include <catch2/catch.hpp>

#include <nas/search/evolution.hpp>
#include <nas/testing/recorder.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <limits>
#include <vector>

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

TEST_CASE("RegularizedEvolution rejects a sample larger than its population, naming both numbers", "[search][evolution][options]") {
  const OneMaxSpace space(6, 3);
  ToyEstimator<OneMaxSpace> est(space);
  const nas::Budget budget{.evaluations = 10};
  REQUIRE_THROWS_WITH(nas::RegularizedEvolution({.population = 16, .sample = 20}).run(space, est, budget),
                      "RegularizedEvolution::run: sample (20) exceeds population (16)");
  REQUIRE_THROWS_AS(nas::RegularizedEvolution({.population = 0, .sample = 0}).run(space, est, budget), nas::ConfigError);
  REQUIRE_THROWS_WITH(nas::RegularizedEvolution({.population = 4, .sample = 0}).run(space, est, budget),
                      Catch::Contains("sample (0) must be >= 1"));
  REQUIRE_THROWS_WITH((nas::Evolution<nas::Tournament, nas::MutateOne, nas::RemoveWorst>({.population = 2, .sample = 3})
                           .run(space, est, budget)),
                      "Evolution::run: sample (3) exceeds population (2)");
  REQUIRE(est.calls() == 0);
}

TEST_CASE("Evolution starts from P random samples, then evaluates one mutated child per cycle", "[search][evolution]") {
  const OneMaxSpace space(12, 4, 3);
  ToyEstimator<OneMaxSpace> est(space);
  nas::testing::Recorder rec;
  const auto r = nas::RegularizedEvolution({.population = 10, .sample = 3, .seed = 8}).run(space, est, nas::Budget{.evaluations = 50}, rec);
  REQUIRE(r.history.size() == 50);
  // Generation 0 after the population, then one per cycle.
  REQUIRE(rec.generations == 41);
  REQUIRE(rec.generation_ids.front() == 0);
  REQUIRE(rec.generation_ids.back() == 40);
  // Each child differs from some earlier architecture in exactly one decision.
  for (std::size_t i = 10; i < r.history.size(); ++i) {
    bool has_parent = false;
    for (std::size_t j = 0; j < i && !has_parent; ++j) {
      int diff = 0;
      for (std::size_t d = 0; d < 12; ++d) diff += r.history[i].arch.choices[d] != r.history[j].arch.choices[d];
      has_parent = diff == 1;
    }
    REQUIRE(has_parent);
  }
}

TEST_CASE("Tournament picks the fittest of its sample; with sample = population it is the best member", "[search][evolution]") {
  std::vector<nas::Member<int>> pop{{1, 0.5, 0}, {2, -std::numeric_limits<double>::infinity(), 1}, {3, 0.9, 2}, {4, 0.1, 3}};
  nas::Rng rng(1);
  nas::Tournament t;
  // Drawing 64 times with replacement from 4 members all but surely includes the best.
  for (int i = 0; i < 20; ++i) REQUIRE(t.select(std::span<const nas::Member<int>>(pop), 64, rng) == 2);
  // Sample size 1 is a uniform draw: every member appears.
  std::vector<int> seen(4, 0);
  for (int i = 0; i < 400; ++i) ++seen[t.select(std::span<const nas::Member<int>>(pop), 1, rng)];
  for (int s : seen) REQUIRE(s > 50);
}

TEST_CASE("RemoveOldest drops the earliest born; RemoveWorst the least fit, failed first", "[search][evolution]") {
  std::vector<nas::Member<int>> pop{{1, 0.5, 7}, {2, -std::numeric_limits<double>::infinity(), 9}, {3, 0.9, 4}, {4, 0.1, 5}};
  const std::span<const nas::Member<int>> view(pop);
  REQUIRE(nas::RemoveOldest{}.remove(view) == 2);
  REQUIRE(nas::RemoveWorst{}.remove(view) == 1);
  pop[1].fitness = 0.1;  // a tie with member 3 (born 5): the older goes
  REQUIRE(nas::RemoveWorst{}.remove(std::span<const nas::Member<int>>(pop)) == 3);
}

TEST_CASE("Non-aging evolution keeps its best member forever, aging evolution lets it go", "[search][evolution]") {
  // A needle: one arch scores 1, everything else 0 — once found, RemoveWorst never drops it.
  const OneMaxSpace space(3, 3, 1);
  nas::testing::FunctionEstimator est{[&](const nas::testing::ChoiceArch& a, nas::Fidelity) {
    return a == space.optimum() ? 1.0 : space.score(a) * 0.5;
  }};
  const auto worst = nas::Evolution<nas::Tournament, nas::MutateOne, nas::RemoveWorst>({.population = 5, .sample = 2, .seed = 3})
                         .run(space, est, nas::Budget{.evaluations = 300});
  const auto oldest = nas::RegularizedEvolution({.population = 5, .sample = 2, .seed = 3}).run(space, est, nas::Budget{.evaluations = 300});
  REQUIRE(worst.best == space.optimum());
  REQUIRE(oldest.best == space.optimum());
  // Under aging the optimum must be re-discovered again and again; without aging it stays,
  // so tournaments keep producing its neighbours and the optimum is evaluated rarely.
  std::size_t hits_worst = 0, hits_oldest = 0;
  for (const auto& t : worst.history) hits_worst += t.arch == space.optimum();
  for (const auto& t : oldest.history) hits_oldest += t.arch == space.optimum();
  REQUIRE(hits_oldest > hits_worst);
}
