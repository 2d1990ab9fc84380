// The executors' shared toy evaluation, and history_difference finding the first trial where two runs part.
#include <catch2/catch.hpp>

#include <nas/core/history.hpp>
#include <nas/testing/fidelity_toy.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <cmath>

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

TEST_CASE("fidelity_evaluation scores higher with more training and charges one second per epoch", "[testing][toy]") {
  const OneMaxSpace space(6, 3, 7);
  const ChoiceArch best = space.optimum();
  const nas::Evaluation one = nas::testing::fidelity_evaluation(space, best, nas::Fidelity{});
  const nas::Evaluation four = nas::testing::fidelity_evaluation(space, best, nas::Fidelity{4.0});
  CHECK(one.score == Approx(0.9));
  CHECK(four.score == Approx(0.975));
  CHECK(one.cost_seconds == 1.0);
  CHECK(four.cost_seconds == 4.0);
  CHECK(four.epochs == 4.0);
  REQUIRE(four.metrics.get("true_score").has_value());
  CHECK(*four.metrics.get("true_score") == 1.0);
}

TEST_CASE("history_difference names the first trial where two histories part, and nothing when they agree", "[testing]") {
  const OneMaxSpace space(6, 3, 7);
  nas::Rng rng(1);
  nas::History<ChoiceArch> a, b;
  double cost = 0.0;
  for (std::size_t i = 0; i < 5; ++i) {
    nas::Trial<ChoiceArch> t;
    t.index = i;
    t.arch = space.sample(rng);
    t.fidelity = nas::Fidelity{static_cast<double>(i + 1)};
    t.eval = nas::testing::fidelity_evaluation(space, t.arch, t.fidelity);
    t.total_cost = (cost += t.eval.cost_seconds);
    a.push(t);
    b.push(t);
  }
  CHECK(nas::testing::history_difference(a, b).empty());

  SECTION("a different length") {
    nas::History<ChoiceArch> shorter;
    for (std::size_t i = 0; i < 4; ++i) shorter.push(a[i]);
    CHECK(nas::testing::history_difference(a, shorter) == "5 trials against 4");
  }
  SECTION("a score in its last bit") {
    nas::History<ChoiceArch> c;
    for (std::size_t i = 0; i < 5; ++i) {
      nas::Trial<ChoiceArch> t = a[i];
      if (i == 3) t.eval.score = std::nextafter(t.eval.score, 2.0);
      c.push(t);
    }
    CHECK_THAT(nas::testing::history_difference(a, c), Catch::StartsWith("trial 3: score "));
  }
  SECTION("the total cost, unless switched off") {
    nas::History<ChoiceArch> c;
    for (std::size_t i = 0; i < 5; ++i) {
      nas::Trial<ChoiceArch> t = a[i];
      t.total_cost += 0.5;
      c.push(t);
    }
    CHECK_THAT(nas::testing::history_difference(a, c), Catch::StartsWith("trial 0: total cost "));
    CHECK(nas::testing::history_difference(a, c, {.total_cost = false}).empty());
  }
  SECTION("a trial failed in one history only; two failed trials' scores are not compared") {
    nas::History<ChoiceArch> c, d;
    for (std::size_t i = 0; i < 5; ++i) {
      nas::Trial<ChoiceArch> t = a[i];
      if (i == 2) {
        t.eval.status = nas::Status::failed;
        t.eval.score = std::nan("");
      }
      c.push(t);
      d.push(t);
    }
    CHECK(nas::testing::history_difference(a, c) == "trial 2: failed in one history only");
    CHECK(nas::testing::history_difference(c, d).empty());
  }
}
