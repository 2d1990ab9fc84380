// RandomSearch: dedup and the recommendation.
#include <catch2/catch.hpp>

#include <nas/search/random_search.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <unordered_set>

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

TEST_CASE("RandomSearch with dedup never evaluates an architecture twice and ends when the space is exhausted",
          "[search][random]") {
  const OneMaxSpace space(3, 3, 2);  // 27 architectures
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::RandomSearch({.dedup = true, .seed = 1}).run(space, est, nas::Budget{.evaluations = 100});
  REQUIRE(r.history.size() == 27);
  REQUIRE(r.stop_reason == "finished");
  std::unordered_set<nas::testing::ChoiceArch> seen;
  for (const auto& t : r.history) REQUIRE(seen.insert(t.arch).second);
  REQUIRE(r.best == space.optimum());
}

TEST_CASE("RandomSearch without dedup repeats architectures of a small space", "[search][random]") {
  const OneMaxSpace space(3, 3, 2);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::RandomSearch({.seed = 1}).run(space, est, nas::Budget{.evaluations = 100});
  REQUIRE(r.history.size() == 100);
  std::unordered_set<nas::testing::ChoiceArch> seen;
  for (const auto& t : r.history) seen.insert(t.arch);
  REQUIRE(seen.size() <= 27);
}

TEST_CASE("RandomSearch recommends the best score it saw", "[search][random]") {
  const OneMaxSpace space(10, 4, 2);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::RandomSearch({.seed = 3}).run(space, est, nas::Budget{.evaluations = 200});
  double best = -1;
  for (const auto& t : r.history) best = std::max(best, t.eval.score);
  REQUIRE(r.best_eval.score == best);
  REQUIRE(space.score(r.best) == best);
}

TEST_CASE("RandomSearch evaluates at the fidelity of its options", "[search][random]") {
  const OneMaxSpace space(4, 4);
  ToyEstimator<OneMaxSpace> est(space, {.seconds_per_epoch = 2.0});
  const auto r = nas::RandomSearch({.fidelity = {12}}).run(space, est, nas::Budget{.evaluations = 5});
  for (const auto& t : r.history) {
    REQUIRE(t.fidelity.epochs == 12.0);
    REQUIRE(t.eval.cost_seconds == 24.0);
  }
  REQUIRE(r.history.total_cost() == 120.0);
}
