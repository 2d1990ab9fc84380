// The toy problems of nas/testing: known optima, encodings, neighbourhoods, estimators.
#include <catch2/catch.hpp>

#include <nas/core/concepts.hpp>
#include <nas/search/categorical.hpp>
#include <nas/search/random_search.hpp>
#include <nas/testing/find_optimum.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <cmath>
#include <set>

using nas::testing::ChoiceArch;
using nas::testing::ChoiceSpace;
using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;
using nas::testing::TrapSpace;

static_assert(nas::check_search_space<OneMaxSpace>());
static_assert(nas::testing::ToyProblem<OneMaxSpace>);
static_assert(nas::testing::ToyProblem<TrapSpace>);
static_assert(nas::Estimator<ToyEstimator<OneMaxSpace>, ChoiceArch>);

TEST_CASE("OneMax scores the fraction of decisions equal to its hidden target", "[testing][toy]") {
  const OneMaxSpace space(8, 5, 42);
  const ChoiceArch target = space.optimum();
  REQUIRE(space.score(target) == 1.0);
  REQUIRE(space.optimal_score() == 1.0);
  ChoiceArch a = target;
  a.choices[3] = (a.choices[3] + 1) % 5;
  REQUIRE(space.score(a) == 7.0 / 8);
  // Different seeds hide different targets; the same seed the same one.
  REQUIRE(OneMaxSpace(8, 5, 42).optimum() == target);
  REQUIRE_FALSE(OneMaxSpace(8, 5, 43).optimum() == target);
}

TEST_CASE("Trap blocks lead away from the target until the last step", "[testing][toy]") {
  const TrapSpace space(6, 2, 3, 1);
  const ChoiceArch target = space.optimum();
  REQUIRE(space.score(target) == 1.0);
  ChoiceArch opposite = target;
  for (auto& c : opposite.choices) c = 1 - c;
  REQUIRE(space.score(opposite) == Approx(2.0 / 3));  // the deceptive local optimum
  ChoiceArch one_right = opposite;
  one_right.choices[0] = target.choices[0];
  REQUIRE(space.score(one_right) < space.score(opposite));
  REQUIRE_THROWS_AS(TrapSpace(7, 2, 3), nas::ConfigError);
}

TEST_CASE("ChoiceSpace encodes and decodes round trip and names the bad token", "[testing][toy]") {
  const ChoiceSpace space(4, 12);
  nas::Rng rng(3);
  for (int i = 0; i < 50; ++i) {
    const auto a = space.sample(rng);
    REQUIRE(space.decode(space.encode(a)) == a);
  }
  REQUIRE(space.encode(ChoiceArch{{0, 11, 3, 7}}) == "0-11-3-7");
  REQUIRE_THROWS_WITH(space.decode("0-12-3-7"), Catch::Contains("'12'") && Catch::Contains("position 2"));
  REQUIRE_THROWS_WITH(space.decode("0-x-3-7"), Catch::Contains("'x'"));
  REQUIRE_THROWS_AS(space.decode("0-1-3"), nas::ParseError);
  REQUIRE_THROWS_AS(space.decode(""), nas::ParseError);
}

TEST_CASE("ChoiceSpace neighbours differ in one decision, mutation likewise, size is k^n", "[testing][toy]") {
  const ChoiceSpace space(5, 3);
  REQUIRE(space.size() == nas::SpaceSize(243));
  REQUIRE(ChoiceSpace(30, 10).size().to_string() == "1" + std::string(30, '0'));
  REQUIRE_THROWS_AS(ChoiceSpace(40, 10).size(), nas::ConfigError);  // 10^40 exceeds 2^128
  nas::Rng rng(1);
  const auto a = space.sample(rng);
  const auto around = space.neighbors(a);
  REQUIRE(around.size() == 10);
  std::set<std::vector<int>> distinct;
  for (const auto& n : around) {
    int diff = 0;
    for (std::size_t i = 0; i < 5; ++i) diff += n.choices[i] != a.choices[i];
    REQUIRE(diff == 1);
    distinct.insert(n.choices);
  }
  REQUIRE(distinct.size() == 10);
  for (int i = 0; i < 100; ++i) {
    const auto m = space.mutate(a, rng);
    int diff = 0;
    for (std::size_t d = 0; d < 5; ++d) diff += m.choices[d] != a.choices[d];
    REQUIRE(diff == 1);
  }
  REQUIRE(space.from_choices(space.to_choices(a)) == a);
  const std::vector<int> bad{0, 1, 3, 0, 0};
  REQUIRE_THROWS_WITH(space.from_choices(bad), Catch::Contains("choice 3 of decision 2"));
}

TEST_CASE("ToyEstimator's noise shrinks with epochs and its cost grows with them", "[testing][toy]") {
  const OneMaxSpace space(6, 3, 2);
  ToyEstimator<OneMaxSpace> est(space, {.noise = 0.3, .seconds_per_epoch = 2.0, .seed = 5});
  const auto a = space.optimum();
  const auto spread = [&](double epochs) {
    double s2 = 0;
    for (int i = 0; i < 4000; ++i) {
      const double d = est.evaluate(a, {epochs}).score - 1.0;
      s2 += d * d;
    }
    return std::sqrt(s2 / 4000);
  };
  REQUIRE(spread(1) == Approx(0.3).epsilon(0.05));
  REQUIRE(spread(9) == Approx(0.1).epsilon(0.05));
  const auto e = est.evaluate(a, {4});
  REQUIRE(e.cost_seconds == 8.0);
  REQUIRE(e.epochs == 4.0);
  REQUIRE(e.metrics.get("true_score") == 1.0);
  REQUIRE(est.evaluate(a, {}).epochs == 1.0);  // default fidelity
  REQUIRE_THROWS_AS(ToyEstimator<OneMaxSpace>(space, {.noise = -1}), nas::ConfigError);
}

TEST_CASE("FunctionEstimator wraps a score function or an Evaluation function", "[testing][toy]") {
  nas::testing::FunctionEstimator scores{[](const ChoiceArch& a, nas::Fidelity) { return a.choices[0] * 2.0; }, 3.0};
  const auto e = scores.evaluate(ChoiceArch{{4}}, nas::Fidelity{7});
  REQUIRE(e.score == 8.0);
  REQUIRE(e.cost_seconds == 3.0);
  REQUIRE(e.epochs == 7.0);
  nas::testing::FunctionEstimator evals{[](const ChoiceArch&, nas::Fidelity) { return nas::Evaluation::failed("boom"); }};
  REQUIRE_FALSE(evals.evaluate(ChoiceArch{{4}}, {}).ok());
  REQUIRE(scores.calls() == 1);
}

TEST_CASE("check_finds_optimum reports success, failure and the first optimal trial", "[testing][toy]") {
  const OneMaxSpace space(3, 3, 4);
  ToyEstimator<OneMaxSpace> est(space);
  const auto hit = nas::testing::check_finds_optimum(nas::RandomSearch({.dedup = true}), space, est, nas::Budget{.evaluations = 27});
  REQUIRE(hit.found);
  REQUIRE(hit.first_hit);
  REQUIRE(*hit.first_hit <= 27);
  REQUIRE(hit.evaluations == 27);
  REQUIRE(hit.to_string().find("found optimum") == 0);
  const OneMaxSpace big(30, 4, 4);
  ToyEstimator<OneMaxSpace> est2(big);
  const auto miss = nas::testing::check_finds_optimum(nas::RandomSearch(), big, est2, nas::Budget{.evaluations = 5});
  REQUIRE_FALSE(miss.found);
  REQUIRE_FALSE(miss.first_hit);
  REQUIRE(miss.best_score < 1.0);
  REQUIRE(miss.stop_reason == "evaluations");
}
