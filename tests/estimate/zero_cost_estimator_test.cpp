// ZeroCostEstimator as an ordinary Estimator, the rank vote of several proxies, and the Fashion-MNIST minibatch at a benchmark's shape.
#include <catch2/catch.hpp>

#include <nas/data/dataset.hpp>
#include <nas/estimate/zero_cost_estimator.hpp>
#include <nas/search/random_search.hpp>

#include <cmath>
#include <vector>

namespace {
const nas::ZeroCostEstimatorOptions small{.input = {3, 8, 8, 10}, .network = {.channels = 4, .cells = 1, .seed = 1}};
}

TEST_CASE("ZeroCostEstimator scores the architecture's own network and reports params and flops", "[estimate][zero_cost]") {
  nas::ZeroCostEstimator<> est(nas::OneProxy{nas::ZeroCostProxy::synflow}, small);
  const auto arch = nas::Nb201Space{}.decode("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|");
  const auto e = est.evaluate(arch, nas::Fidelity{});
  REQUIRE(e.ok());
  nas::CellNetwork<nas::Nb201Space> net(arch, small.input, small.network);
  CHECK(e.score == Approx(nas::synflow(net, nas::Shape{3, 8, 8})).epsilon(1e-12));
  CHECK(*e.metrics.get("params") == static_cast<double>(net.num_parameters()));
  CHECK(*e.metrics.get("flops") == net.macs());
  CHECK(e.cost_seconds > 0.0);
  // It is an Estimator: a strategy runs on it unchanged.
  const auto r = nas::RandomSearch({.seed = 3}).run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 4});
  REQUIRE(r.history.size() == 4);
  for (const auto& t : r.history.trials()) CHECK(t.eval.score <= r.best_eval.score);
}

TEST_CASE("ZeroCostEstimator refuses a data-dependent proxy without a minibatch", "[estimate][zero_cost]") {
  CHECK_THROWS_WITH(nas::ZeroCostEstimator<>(nas::OneProxy{nas::ZeroCostProxy::snip}, small),
                    Catch::Contains("proxy 'snip' needs a minibatch"));
  CHECK_THROWS_WITH(nas::ZeroCostEstimator<nas::RankVote>(nas::RankVote{}, small), Catch::Contains("needs a minibatch"));
}

TEST_CASE("rank_vote averages each candidate's rank fraction over the proxies", "[estimate][zero_cost]") {
  // Proxy 1 ranks c > a > b, proxy 2 ranks a > b > c: fractions a (0.5, 1), b (0, 0.5), c (1, 0).
  const auto v = nas::rank_vote({{2.0, 1.0, 3.0}, {30.0, 20.0, 10.0}});
  REQUIRE(v.size() == 3);
  CHECK(v[0] == Approx(0.75));
  CHECK(v[1] == Approx(0.25));
  CHECK(v[2] == Approx(0.5));
  // A non-finite score ranks lowest.
  const auto w = nas::rank_vote({{1.0, std::nan(""), 0.5}});
  CHECK(w[1] == 0.0);
  CHECK(w[0] == 1.0);
  CHECK_THROWS_WITH(nas::rank_vote({{1.0, 2.0}, {1.0}}), Catch::Contains("1 scores, expected 2"));
}

TEST_CASE("RankVote places an architecture by the share of the reference each proxy says it beats", "[estimate][zero_cost]") {
  nas::RankVote vote{.members = {nas::ZeroCostProxy::synflow, nas::ZeroCostProxy::params},
                     .reference = {{1.0, 2.0, 3.0, 4.0}, {10.0, 20.0, 30.0, 40.0}}};
  nas::ZeroCostScores s{vote.members, {5.0, 25.0}};  // beats all 4 on synflow, 2 of 4 on params
  CHECK(vote.combine(s) == Approx((1.0 + 0.5) / 2));
  s.values = {2.0, 0.0};  // ties one (counted half) and beats one on synflow; beats none on params
  CHECK(vote.combine(s) == Approx((1.5 / 4 + 0.0) / 2));
  // Calibrated on sampled cells, the vote of data-free proxies runs as an estimator.
  nas::ZeroCostEstimator<nas::RankVote> est(nas::RankVote{.members = {nas::ZeroCostProxy::synflow, nas::ZeroCostProxy::flops}},
                                            small);
  nas::Rng rng(4);
  est.calibrate(6, rng);
  REQUIRE(est.proxy().reference.size() == 2);
  const auto e = est.evaluate(nas::Nb201Space::arch(15624), {});
  REQUIRE(e.ok());
  CHECK(e.score >= 0.0);
  CHECK(e.score <= 1.0);
}

TEST_CASE("make_zero_cost_batch resizes and replicates grey images to the network's shape, standardised", "[estimate][zero_cost]") {
  nas::Dataset d;
  d.channels = 1, d.height = 2, d.width = 2, d.classes = 10;
  d.images = {0, 1, 2, 3, 4, 4, 4, 4, 9, 9, 9, 9};
  d.labels = {1, 2, 3};
  nas::Rng rng(0);
  const auto b = nas::make_zero_cost_batch(d, {3, 4, 4, 10}, 3, rng);
  REQUIRE(b.images.shape() == nas::Shape{3, 3, 4, 4});
  double mean = 0, sq = 0;
  for (float v : b.images) mean += v;
  mean /= static_cast<double>(b.images.numel());
  for (float v : b.images) sq += (v - mean) * (v - mean);
  CHECK(mean == Approx(0.0).margin(1e-6));
  CHECK(sq / static_cast<double>(b.images.numel()) == Approx(1.0).epsilon(1e-5));
  // Find the image of label 1 (0 1 / 2 3): bilinear 2 -> 4 with half-pixel centres puts the
  // source pixels at the corners and 0.75 * 0 + 0.25 * 1 = 0.25 next to the first one, and
  // the three channels are equal.
  for (int n = 0; n < 3; ++n) {
    if (b.labels[static_cast<std::size_t>(n)] != 1) continue;
    auto at = [&](int c, int y, int x) { return b.images.at(n, c, y, x); };
    const float lo = at(0, 0, 0), hi = at(0, 3, 3);
    CHECK((at(0, 0, 1) - lo) / (hi - lo) == Approx(0.25 / 3.0).epsilon(1e-5));
    CHECK(at(1, 2, 1) == at(0, 2, 1));
    CHECK(at(2, 2, 1) == at(0, 2, 1));
  }
  CHECK_THROWS_WITH(nas::make_zero_cost_batch(d, {3, 4, 4, 10}, 4, rng), Catch::Contains("batch of 4 from 3 images"));
}
