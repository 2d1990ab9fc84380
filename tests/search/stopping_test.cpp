// EarlyStop and StopAfter.
#include <catch2/catch.hpp>

#include <nas/search/random_search.hpp>
#include <nas/search/stopping.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <vector>

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

TEST_CASE("EarlyStop stops after `patience` trials without improvement", "[search][stopping]") {
  const OneMaxSpace space(2, 2);  // 4 architectures: the best is found quickly, then nothing improves
  ToyEstimator<OneMaxSpace> est(space);
  nas::EarlyStop early(10);
  const auto r = nas::RandomSearch({.seed = 1}).run(space, est, nas::Budget{.evaluations = 1000}, early);
  REQUIRE(r.stop_reason == "callback");
  const auto curve = r.history.best_so_far();
  // The last 10 trials did not improve on the trial before them, and that one did improve.
  const std::size_t n = curve.size();
  REQUIRE(n > 10);
  REQUIRE(curve[n - 1] == curve[n - 11]);
  REQUIRE((n == 11 || curve[n - 11] > curve[n - 12]));
  REQUIRE(early.trials_without_improvement() == 10);
}

TEST_CASE("EarlyStop counts an improvement only above min_delta and resets between runs", "[search][stopping]") {
  nas::EarlyStop early(2, 0.5);
  nas::History<int> h;
  const auto trial = [](double s) {
    nas::Trial<int> t;
    t.eval.score = s;
    return t;
  };
  early.on_begin(nas::RunInfo{});
  REQUIRE_FALSE(early.on_trial(trial(1.0), h));
  REQUIRE_FALSE(early.on_trial(trial(1.4), h));  // +0.4 is not enough
  REQUIRE(early.on_trial(trial(1.45), h));
  early.on_begin(nas::RunInfo{});
  REQUIRE(early.trials_without_improvement() == 0);
  REQUIRE_FALSE(early.on_trial(nas::Trial<int>{.eval = nas::Evaluation::failed("x")}, h));
  REQUIRE(early.on_trial(nas::Trial<int>{.eval = nas::Evaluation::failed("x")}, h));
}

TEST_CASE("StopAfter stops at a number of trials or a charged cost", "[search][stopping]") {
  const OneMaxSpace space(8, 4);
  {
    ToyEstimator<OneMaxSpace> est(space);
    nas::StopAfter after{.trials = 17};
    const auto r = nas::RandomSearch().run(space, est, nas::Budget{.evaluations = 1000}, after);
    REQUIRE(r.history.size() == 17);
    REQUIRE(r.stop_reason == "callback");
  }
  {
    ToyEstimator<OneMaxSpace> est(space, {.seconds_per_epoch = 3.0});
    nas::StopAfter after{.cost_seconds = 30.0};
    const auto r = nas::RandomSearch().run(space, est, nas::Budget{.evaluations = 1000}, after);
    REQUIRE(r.history.size() == 10);
  }
  {
    ToyEstimator<OneMaxSpace> est(space);
    nas::StopAfter after{.wall_seconds = 1e9};
    const auto r = nas::RandomSearch().run(space, est, nas::Budget{.evaluations = 30}, after);
    REQUIRE(r.history.size() == 30);
    REQUIRE(r.stop_reason == "evaluations");
  }
}
