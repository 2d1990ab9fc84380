// Each strategy finds the known optimum of toy problems within a stated budget, over several seeds.
#include <catch2/catch.hpp>

#include <nas/search/evolution.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/search/local_search.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/testing/find_optimum.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

namespace {

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;
using nas::testing::TrapSpace;

// Runs `make(seed)` on `problem` for seeds 1..seeds; every seed must find the optimum.
// Prints one line per strategy: how many seeds found it, and the mean evaluations to the first optimal trial.
template <class Problem, class Make>
void require_finds_everywhere(const char* label, const Problem& problem, Make make, nas::Budget budget, int seeds,
                              double noise = 0.0) {
  int found = 0;
  double first_hits = 0.0;
  for (int seed = 1; seed <= seeds; ++seed) {
    ToyEstimator<Problem> est(problem, {.noise = noise, .seed = static_cast<std::uint64_t>(seed) + 100});
    const auto report = nas::testing::check_finds_optimum(make(static_cast<std::uint64_t>(seed)), problem, est, budget);
    INFO(label << " seed " << seed << ": " << report.to_string());
    CHECK(report.found);
    found += report.found;
    if (report.first_hit) first_hits += static_cast<double>(*report.first_hit);
  }
  std::printf("%-44s found the optimum in %d/%d seeds, first optimal trial after %.0f evaluations on average\n", label,
              found, seeds, found ? first_hits / found : 0.0);
}

}  // namespace

TEST_CASE("RandomSearch with dedup finds the optimum of a 256-arch OneMax within 256 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(4, 4, 7);
  require_finds_everywhere(
      "RandomSearch dedup, OneMax 4x4, 256 evals", problem,
      [](std::uint64_t s) { return nas::RandomSearch({.dedup = true, .seed = s}); }, nas::Budget{.evaluations = 256}, 10);
}

TEST_CASE("RegularizedEvolution finds the optimum of OneMax 10x4 (10^6 archs) within 1500 evaluations",
          "[search][optimum]") {
  const OneMaxSpace problem(10, 4, 7);
  require_finds_everywhere(
      "RegularizedEvolution P20 S5, OneMax 10x4", problem,
      [](std::uint64_t s) { return nas::RegularizedEvolution({.population = 20, .sample = 5, .seed = s}); },
      nas::Budget{.evaluations = 1500}, 10);
}

TEST_CASE("RegularizedEvolution finds the optimum of a noisy OneMax 10x4 within 3000 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(10, 4, 7);
  require_finds_everywhere(
      "RegularizedEvolution P20 S5, noisy OneMax", problem,
      [](std::uint64_t s) { return nas::RegularizedEvolution({.population = 20, .sample = 5, .seed = s}); },
      nas::Budget{.evaluations = 3000}, 10, 0.02);
}

TEST_CASE("LocalSearch finds the optimum of OneMax 10x4 within 400 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(10, 4, 7);
  require_finds_everywhere(
      "LocalSearch, OneMax 10x4", problem, [](std::uint64_t s) { return nas::LocalSearch({.seed = s}); },
      nas::Budget{.evaluations = 400}, 10);
}

TEST_CASE("LocalSearch with restarts escapes the traps of a deceptive 6x2 space within 300 evaluations",
          "[search][optimum]") {
  const TrapSpace problem(6, 2, 3, 7);
  require_finds_everywhere(
      "LocalSearch, Trap 6x2 blocks of 3", problem, [](std::uint64_t s) { return nas::LocalSearch({.seed = s}); },
      nas::Budget{.evaluations = 300}, 10);
}

TEST_CASE("Reinforce finds the optimum of OneMax 8x4 within 1500 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(8, 4, 7);
  require_finds_everywhere(
      "Reinforce lr 0.05, OneMax 8x4", problem,
      [](std::uint64_t s) { return nas::Reinforce({.learning_rate = 0.05, .seed = s}); }, nas::Budget{.evaluations = 1500},
      10);
}

TEST_CASE("SuccessiveHalving finds the optimum of a noisy OneMax 4x3 within 800 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(4, 3, 7);
  // Noise 0.3 at 1 epoch hides the ranking; at 27 epochs it is small enough to keep it.
  require_finds_everywhere(
      "SuccessiveHalving eta 3 1..27, noisy OneMax", problem,
      [](std::uint64_t s) { return nas::SuccessiveHalving<>({.eta = 3, .min_fidelity = 1, .max_fidelity = 27, .seed = s}); },
      nas::Budget{.evaluations = 800}, 10, 0.3);
}

TEST_CASE("Hyperband finds the optimum of a noisy OneMax 4x3 within 800 evaluations", "[search][optimum]") {
  const OneMaxSpace problem(4, 3, 7);
  require_finds_everywhere(
      "Hyperband eta 3 1..27, noisy OneMax", problem,
      [](std::uint64_t s) { return nas::Hyperband<>({.eta = 3, .min_fidelity = 1, .max_fidelity = 27, .seed = s}); },
      nas::Budget{.evaluations = 800}, 10, 0.3);
}

TEST_CASE("RegularizedEvolution beats RandomSearch on a separable space on average over 20 seeds", "[search][optimum]") {
  const OneMaxSpace problem(16, 4, 11);
  double rea = 0.0, rs = 0.0;
  int rea_wins = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ToyEstimator<OneMaxSpace> e1(problem), e2(problem);
    const auto a = nas::RegularizedEvolution({.population = 20, .sample = 5, .seed = seed}).run(problem, e1, nas::Budget{.evaluations = 300});
    const auto b = nas::RandomSearch({.seed = seed}).run(problem, e2, nas::Budget{.evaluations = 300});
    rea += problem.score(a.best);
    rs += problem.score(b.best);
    rea_wins += problem.score(a.best) > problem.score(b.best);
  }
  std::printf("OneMax 16x4, 300 evaluations, 20 seeds: RegularizedEvolution %.3f vs RandomSearch %.3f (REA better in %d)\n",
              rea / 20, rs / 20, rea_wins);
  REQUIRE(rea / 20 > rs / 20 + 0.1);
  REQUIRE(rea_wins >= 18);
}
