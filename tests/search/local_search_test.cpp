// LocalSearch: first-improvement moves, no repeated evaluations, restarts.
#include <catch2/catch.hpp>

#include <nas/search/local_search.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <unordered_set>

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;
using nas::testing::TrapSpace;

TEST_CASE("LocalSearch never evaluates an architecture twice", "[search][local]") {
  const TrapSpace space(6, 2, 3, 4);  // 64 architectures, many local optima
  ToyEstimator<TrapSpace> est(space);
  const auto r = nas::LocalSearch({.seed = 2}).run(space, est, nas::Budget{.evaluations = 64});
  std::unordered_set<nas::testing::ChoiceArch> seen;
  for (const auto& t : r.history) REQUIRE(seen.insert(t.arch).second);
}

TEST_CASE("LocalSearch ends when random restarts find only known architectures", "[search][local]") {
  const OneMaxSpace space(2, 3, 4);  // 9 architectures
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::LocalSearch({.seed = 2}).run(space, est, nas::Budget{.evaluations = 1000});
  REQUIRE(r.history.size() <= 9);
  REQUIRE(r.stop_reason == "finished");
  REQUIRE(r.best == space.optimum());
}

TEST_CASE("LocalSearch moves to the first better neighbour it evaluates", "[search][local]") {
  const OneMaxSpace space(10, 4, 6);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::LocalSearch({.seed = 9}).run(space, est, nas::Budget{.evaluations = 60});
  // Between the start and the end of the first climb the current score only rises: each
  // evaluation is a neighbour of the best architecture evaluated before it.
  double current = r.history[0].eval.score;
  nas::testing::ChoiceArch at = r.history[0].arch;
  for (std::size_t i = 1; i < r.history.size(); ++i) {
    int diff = 0;
    for (std::size_t d = 0; d < 10; ++d) diff += r.history[i].arch.choices[d] != at.choices[d];
    REQUIRE(diff == 1);
    if (r.history[i].eval.score > current) {
      current = r.history[i].eval.score;
      at = r.history[i].arch;
    }
  }
  REQUIRE(current > r.history[0].eval.score);
}
