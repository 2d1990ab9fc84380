// Reinforce: the categorical contract, options and learning.
#include <catch2/catch.hpp>

#include <nas/search/categorical.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

static_assert(nas::CategoricalSpace<nas::testing::ChoiceSpace>);
static_assert(nas::CategoricalSpace<OneMaxSpace>);
static_assert(nas::CategoricalSpace<nas::testing::TrapSpace>);

TEST_CASE("Reinforce rejects a learning rate or momentum out of range", "[search][reinforce][options]") {
  const OneMaxSpace space(4, 3);
  ToyEstimator<OneMaxSpace> est(space);
  const nas::Budget budget{.evaluations = 10};
  REQUIRE_THROWS_WITH(nas::Reinforce({.learning_rate = 0}).run(space, est, budget),
                      "Reinforce::run: learning_rate (0) must be finite and > 0");
  REQUIRE_THROWS_WITH(nas::Reinforce({.momentum = 1.0}).run(space, est, budget),
                      "Reinforce::run: momentum (1) must lie in [0, 1)");
}

TEST_CASE("Reinforce's policy concentrates on the optimum: late samples score far above early ones", "[search][reinforce]") {
  const OneMaxSpace space(12, 4, 3);
  double early = 0, late = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    ToyEstimator<OneMaxSpace> est(space);
    const auto r = nas::Reinforce({.learning_rate = 0.05, .seed = seed}).run(space, est, nas::Budget{.evaluations = 600});
    for (std::size_t i = 0; i < 50; ++i) early += r.history[i].eval.score;
    for (std::size_t i = 550; i < 600; ++i) late += r.history[i].eval.score;
  }
  early /= 250;
  late /= 250;
  INFO("mean score of the first 50 samples " << early << ", of the last 50 " << late);
  REQUIRE(early < 0.4);  // uniform sampling scores 1/4 on average
  REQUIRE(late > 0.85);
}

TEST_CASE("Reinforce with a tiny learning rate behaves like uniform sampling", "[search][reinforce]") {
  const OneMaxSpace space(12, 4, 3);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = nas::Reinforce({.learning_rate = 1e-9, .seed = 4}).run(space, est, nas::Budget{.evaluations = 800});
  double mean = 0;
  for (const auto& t : r.history) mean += t.eval.score;
  REQUIRE(mean / 800 == Approx(0.25).margin(0.02));
}
