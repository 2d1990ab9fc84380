// Behaviour every discrete strategy shares: determinism, budgets, callbacks, failures.
#include <catch2/catch.hpp>

#include <nas/search/evolution.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/search/local_search.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/testing/recorder.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace {

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

template <class S>
S make(std::uint64_t seed);
template <>
nas::RandomSearch make(std::uint64_t seed) {
  return nas::RandomSearch({.seed = seed});
}
template <>
nas::RegularizedEvolution make(std::uint64_t seed) {
  return nas::RegularizedEvolution({.population = 10, .sample = 3, .seed = seed});
}
template <>
nas::Evolution<nas::Tournament, nas::MutateOne, nas::RemoveWorst> make(std::uint64_t seed) {
  return nas::Evolution<nas::Tournament, nas::MutateOne, nas::RemoveWorst>({.population = 10, .sample = 3, .seed = seed});
}
template <>
nas::LocalSearch make(std::uint64_t seed) {
  return nas::LocalSearch({.seed = seed});
}
template <>
nas::Reinforce make(std::uint64_t seed) {
  return nas::Reinforce({.learning_rate = 0.05, .seed = seed});
}
template <>
nas::SuccessiveHalving<> make(std::uint64_t seed) {
  return nas::SuccessiveHalving<>({.eta = 3, .fidelities = {1, 3, 9}, .seed = seed});
}
template <>
nas::Hyperband<> make(std::uint64_t seed) {
  return nas::Hyperband<>({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = seed});
}

using AgingFree = nas::Evolution<nas::Tournament, nas::MutateOne, nas::RemoveWorst>;

}  // namespace

#define NAS_ALL_STRATEGIES                                                                                           \
  nas::RandomSearch, nas::RegularizedEvolution, AgingFree, nas::LocalSearch, nas::Reinforce, nas::SuccessiveHalving<>, \
      nas::Hyperband<>

TEMPLATE_TEST_CASE("A strategy run twice with the same seed repeats its history exactly", "[search]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(12, 4, 5);
  const auto run = [&](std::uint64_t seed) {
    ToyEstimator<OneMaxSpace> est(space, {.noise = 0.1, .seed = 3});
    return make<TestType>(seed).run(space, est, nas::Budget{.evaluations = 120});
  };
  const auto a = run(42), b = run(42), c = run(43);
  REQUIRE(a.history.size() == 120);
  REQUIRE(b.history.size() == a.history.size());
  bool differs = false;
  for (std::size_t i = 0; i < a.history.size(); ++i) {
    REQUIRE(a.history[i].arch == b.history[i].arch);
    REQUIRE(a.history[i].eval.score == b.history[i].eval.score);
    REQUIRE(a.history[i].fidelity == b.history[i].fidelity);
    differs = differs || !(a.history[i].arch == c.history[i].arch);
  }
  REQUIRE(a.best == b.best);
  REQUIRE(differs);  // another seed gives another run
}

TEMPLATE_TEST_CASE("A strategy makes exactly the number of evaluations the budget allows", "[search]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(12, 4, 1);
  for (std::size_t limit : {1u, 7u, 37u, 150u}) {
    ToyEstimator<OneMaxSpace> est(space);
    const auto r = make<TestType>(9).run(space, est, nas::Budget{.evaluations = limit});
    INFO("limit " << limit);
    REQUIRE(r.history.size() == limit);
    REQUIRE(est.calls() == limit);
    REQUIRE(r.stop_reason == "evaluations");
    REQUIRE(r.found);
  }
}

TEMPLATE_TEST_CASE("A strategy stops at the first evaluation that reaches the cost budget", "[search]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(12, 4, 1);
  ToyEstimator<OneMaxSpace> est(space, {.default_epochs = 1, .seconds_per_epoch = 0.5});
  const auto r = make<TestType>(4).run(space, est, nas::Budget{.cost_seconds = 40.2});
  REQUIRE(r.stop_reason == "cost");
  REQUIRE(r.history.total_cost() >= 40.2);
  // The last evaluation is the one that crossed the limit.
  REQUIRE(r.history.total_cost() - r.history.back().eval.cost_seconds < 40.2);
}

TEMPLATE_TEST_CASE("Every callback hook fires and a hook returning true stops the run", "[search][callbacks]",
                   NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(12, 4, 2);
  {
    ToyEstimator<OneMaxSpace> est(space);
    nas::testing::Recorder rec;
    const auto r = make<TestType>(1).run(space, est, nas::Budget{.evaluations = 60}, rec);
    REQUIRE(rec.begins == 1);
    REQUIRE(rec.trials == 60);
    REQUIRE(rec.ends == 1);
    REQUIRE(rec.history_size_at_end == 60);
    REQUIRE(r.history.size() == 60);
    if constexpr (!std::is_same_v<TestType, nas::RandomSearch>) REQUIRE(rec.generations >= 1);
    for (std::size_t i = 0; i < r.history.size(); ++i) REQUIRE(rec.scores[i] == r.history[i].eval.score);
  }
  {
    ToyEstimator<OneMaxSpace> est(space);
    nas::testing::Recorder rec{.stop_after_trials = 7};
    nas::testing::Recorder second;  // every callback of the pack is told, even after one asks to stop
    const auto r = make<TestType>(1).run(space, est, nas::Budget{.evaluations = 60}, rec, second);
    REQUIRE(r.history.size() == 7);
    REQUIRE(r.stop_reason == "callback");
    REQUIRE(second.trials == 7);
    REQUIRE(second.ends == 1);
  }
}

TEMPLATE_TEST_CASE("Failed evaluations neither crash a strategy nor win", "[search][failures]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(6, 3, 8);
  // Architectures whose first decision matches the optimum fail; they would otherwise
  // include the best scores of the space.
  const int bad = space.optimum().choices[0];
  nas::testing::FunctionEstimator est{[&](const nas::testing::ChoiceArch& a, nas::Fidelity) {
    return a.choices[0] == bad ? std::numeric_limits<double>::quiet_NaN() : space.score(a);
  }};
  const auto r = make<TestType>(6).run(space, est, nas::Budget{.evaluations = 200});
  REQUIRE(r.history.failures() > 0);
  REQUIRE(r.found);
  REQUIRE(r.best_eval.ok());
  REQUIRE(r.best.choices[0] != bad);
  REQUIRE(std::isfinite(r.best_eval.score));
  for (const auto& t : r.history)
    if (t.arch.choices[0] == bad) REQUIRE_FALSE(t.eval.ok());
}

TEMPLATE_TEST_CASE("A strategy whose every evaluation fails reports nothing found", "[search][failures]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(6, 3, 8);
  nas::testing::FunctionEstimator est{[](const nas::testing::ChoiceArch&, nas::Fidelity) -> nas::Evaluation {
    return nas::Evaluation::failed("diverged", 1.0);
  }};
  const auto r = make<TestType>(6).run(space, est, nas::Budget{.evaluations = 50});
  REQUIRE(r.history.size() == 50);
  REQUIRE(r.history.failures() == 50);
  REQUIRE_FALSE(r.found);
}

TEMPLATE_TEST_CASE("A strategy refuses a budget without limits", "[search][options]", NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(6, 3);
  ToyEstimator<OneMaxSpace> est(space);
  REQUIRE_THROWS_AS(make<TestType>(0).run(space, est, nas::Budget{}), nas::ConfigError);
  REQUIRE_THROWS_AS(make<TestType>(0).run(space, est, nas::Budget{.cost_seconds = -1.0}), nas::ConfigError);
}

TEMPLATE_TEST_CASE("A callback stopping at on_begin prevents any evaluation", "[search][callbacks]", NAS_ALL_STRATEGIES) {
  struct StopAtBegin {
    bool on_begin(const nas::RunInfo&) { return true; }
  } stop;
  const OneMaxSpace space(6, 3);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = make<TestType>(0).run(space, est, nas::Budget{.evaluations = 10}, stop);
  REQUIRE(r.history.empty());
  REQUIRE(est.calls() == 0);
  REQUIRE(r.stop_reason == "callback");
  REQUIRE_FALSE(r.found);
}

TEMPLATE_TEST_CASE("A strategy stops on the wall-clock budget", "[search]", NAS_ALL_STRATEGIES) {
  // A microsecond is over long before a hundred thousand evaluations are made.
  const OneMaxSpace space(12, 4, 1);
  ToyEstimator<OneMaxSpace> est(space);
  const auto r = make<TestType>(4).run(space, est, nas::Budget{.evaluations = 100000, .wall_seconds = 1e-6});
  REQUIRE(r.stop_reason == "wall");
  REQUIRE(r.history.size() < 100000);
}

namespace {
// A callback that reports into counters it does not own, so that a temporary copy works.
struct CountInto {
  std::size_t* trials;
  std::size_t* ends;
  template <class Arch>
  void on_trial(const nas::Trial<Arch>&, const nas::History<Arch>&) {
    ++*trials;
  }
  template <class Arch>
  void on_end(const nas::History<Arch>&) {
    ++*ends;
  }
};
}  // namespace

TEMPLATE_TEST_CASE("A strategy takes callbacks made in the call (temporaries) beside named ones", "[search][callbacks]",
                   NAS_ALL_STRATEGIES) {
  const OneMaxSpace space(12, 4, 2);
  ToyEstimator<OneMaxSpace> est(space);
  std::size_t trials = 0, ends = 0;
  nas::testing::Recorder named;
  const auto r = make<TestType>(1).run(space, est, nas::Budget{.evaluations = 20}, CountInto{&trials, &ends}, named,
                                       nas::testing::Recorder{});
  REQUIRE(r.history.size() == 20);
  REQUIRE(trials == 20);
  REQUIRE(ends == 1);
  REQUIRE(named.trials == 20);
}
