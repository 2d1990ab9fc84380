// WarmStartSpace: a perfect proxy hands strategies the optimum first; later samples are uniform; bad options are refused; zero_cost_warm_start keeps its proxy's best.
#include <catch2/catch.hpp>

#include <nas/search/evolution.hpp>
#include <nas/search/random_search.hpp>
#include <nas/data/synthetic.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/search/warm_start.hpp>
#include <nas/search/zero_cost_warm_start.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <utility>
#include <vector>

TEST_CASE("With a perfect proxy over the whole space, the first sample is the known optimum", "[search][warm_start]") {
  const nas::testing::OneMaxSpace problem(4, 2, 7);  // 16 architectures, one optimum
  auto score = [&](const nas::testing::ChoiceArch& a) { return problem.score(a); };
  nas::WarmStartSpace space(problem, score, {.candidates = 16, .top = 3, .seed = 1});
  REQUIRE(space.scored() == 16);
  CHECK(space.top().front() == problem.optimum());
  CHECK(space.top_scores() == std::vector<double>{1.0, 0.75, 0.75});
  nas::testing::ToyEstimator est(problem);
  // Random search trains one architecture and has the optimum.
  const auto r = nas::RandomSearch({.seed = 5}).run(space, est, nas::Budget{.evaluations = 1});
  CHECK(r.best == problem.optimum());
  CHECK(space.handed_out() == 1);
}

TEST_CASE("Regularized evolution starts from the proxy's top k; without the warm start it misses the optimum at that cost",
          "[search][warm_start]") {
  const nas::testing::OneMaxSpace problem(10, 4, 3);  // about a million architectures
  auto score = [&](const nas::testing::ChoiceArch& a) { return problem.score(a); };
  const nas::RegularizedEvolution rea({.population = 5, .sample = 2, .seed = 2});
  nas::testing::ToyEstimator est(problem);
  nas::WarmStartSpace warm(problem, score, {.candidates = 2000, .top = 5, .seed = 11});
  const auto w = rea.run(warm, est, nas::Budget{.evaluations = 5});
  // The initial population is exactly the top 5 of the 2,000 candidates.
  REQUIRE(w.history.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(w.history[i].arch == warm.top()[i]);
  CHECK(w.best_eval.score == warm.top_scores().front());
  nas::testing::ToyEstimator est2(problem);
  const auto plain = rea.run(problem, est2, nas::Budget{.evaluations = 5});
  CHECK(w.best_eval.score > plain.best_eval.score);
}

TEST_CASE("After the top k, WarmStartSpace samples uniformly and forwards everything else", "[search][warm_start]") {
  const nas::testing::OneMaxSpace problem(3, 3, 1);
  auto score = [&](const nas::testing::ChoiceArch& a) { return -problem.score(a); };  // an adversarial proxy: the worst first
  nas::WarmStartSpace space(problem, score, {.candidates = 27, .top = 1, .seed = 4});
  nas::Rng rng(8);
  CHECK(problem.score(space.sample(rng)) == 0.0);
  nas::Rng a(9), b(9);
  for (int i = 0; i < 20; ++i) CHECK(space.sample(a) == problem.sample(b));  // the base space's draws from then on
  const auto x = problem.sample(rng);
  CHECK(space.encode(x) == problem.encode(x));
  CHECK(space.size() == problem.size());
  CHECK_THROWS_WITH(nas::WarmStartSpace(problem, score, {.candidates = 4, .top = 5}),
                    Catch::Contains("top (5) must be in [1, candidates (4)]"));
}

TEST_CASE("zero_cost_warm_start keeps the candidates its proxy ranks highest, on the data set's network shape",
          "[search][warm_start][zero_cost]") {
  const auto data = nas::make_synthetic({.classes = 3, .channels = 1, .height = 8, .width = 8, .train = 24, .test = 6}).train;
  const nas::Nb201Space space;
  const nas::ZeroCostWarmStartOptions o{.proxy = nas::ZeroCostProxy::params,
                                        .network = {.channels = 4, .cells = 1, .seed = 0},
                                        .warm = {.candidates = 12, .top = 3, .seed = 9}};
  const auto warm = nas::zero_cost_warm_start(space, data, o);
  REQUIRE(warm.scored() == 12);
  // The same 12 candidates (WarmStartOptions::distinct draws them as the adapter does), each
  // network's parameter count at 1x8x8 with 3 classes: the top 3 are the largest.
  nas::Rng rng(9);
  std::vector<std::pair<double, nas::Nb201Arch>> scored;
  std::unordered_set<nas::Nb201Arch> seen;
  while (scored.size() < 12) {
    const auto a = space.sample(rng);
    if (!seen.insert(a).second) continue;
    nas::CellNetwork<nas::Nb201Space> net(a, {1, 8, 8, 3}, o.network);
    scored.emplace_back(static_cast<double>(net.num_parameters()), a);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(warm.top_scores()[i] == scored[i].first);
    CHECK(warm.top()[i] == scored[i].second);
  }
  // A data-dependent proxy reads a minibatch of the data set; its scores are finite.
  const auto naswot = nas::zero_cost_warm_start(space, data, {.proxy = nas::ZeroCostProxy::naswot, .network = o.network,
                                                              .batch = 8, .warm = {.candidates = 4, .top = 2, .seed = 1}});
  CHECK(std::isfinite(naswot.top_scores().front()));
  CHECK_THROWS_AS(nas::zero_cost_warm_start(space, data, {.warm = {.candidates = 2, .top = 3}}), nas::ConfigError);
}
