// SyntheticEstimator: the seed's toy fitness over CellSpace cells.
#include <catch2/catch.hpp>

#include <nas/estimate/synthetic.hpp>

#include <cmath>

static_assert(nas::check_estimator<nas::SyntheticEstimator, nas::CellArch>());

namespace {
nas::CellArch uniform_cell(const nas::CellSpace& s, std::uint8_t op) {
  nas::CellArch a;
  for (std::size_t k = 0; k < 2 * s.num_nodes(); ++k) a.normal.push_back({0, op});
  if (s.has_reduction()) a.reduce = a.normal;
  return a;
}
double stddev_of_scores(nas::SyntheticEstimator& est, const nas::CellArch& a, double epochs, int n) {
  double sum = 0.0, sq = 0.0;
  for (int i = 0; i < n; ++i) {
    const double v = est.evaluate(a, nas::Fidelity{epochs}).score;
    sum += v;
    sq += v * v;
  }
  const double mean = sum / n;
  return std::sqrt(sq / n - mean * mean);
}
}  // namespace

TEST_CASE("SyntheticEstimator quality is the mean op score over all picks", "[estimate][synthetic]") {
  const auto s = nas::CellSpace::seed();
  const nas::SyntheticEstimator est(s);
  REQUIRE(est.quality(uniform_cell(s, 0)) == Approx(0.8));  // conv3x3
  REQUIRE(est.quality(uniform_cell(s, 4)) == Approx(0.0));  // none
  auto a = uniform_cell(s, 0);
  a.normal[0].op = 3;  // one skip (0.5) among 8 picks
  REQUIRE(est.quality(a) == Approx((7 * 0.8 + 0.5) / 8));
}

TEST_CASE("SyntheticEstimator noise has std 0.15/sqrt(epochs) and scores stay in [0, 1]", "[estimate][synthetic]") {
  const auto s = nas::CellSpace::seed();
  nas::SyntheticEstimator est(s, {.seed = 42});
  const auto mid = [&] {
    auto a = uniform_cell(s, 3);  // skip: quality 0.5, far from the clipping bounds
    return a;
  }();
  REQUIRE(stddev_of_scores(est, mid, 1.0, 4000) == Approx(0.15).epsilon(0.08));
  REQUIRE(stddev_of_scores(est, mid, 100.0, 4000) == Approx(0.015).epsilon(0.08));
  for (int i = 0; i < 2000; ++i) {
    const auto e = est.evaluate(uniform_cell(s, 4), nas::Fidelity{1});
    REQUIRE(e.score >= 0.0);
    REQUIRE(e.score <= 1.0);
  }
}

TEST_CASE("SyntheticEstimator charges epochs x seconds_per_epoch and reports quality", "[estimate][synthetic]") {
  const auto s = nas::CellSpace::seed();
  nas::SyntheticEstimator est(s, {.default_epochs = 20, .seconds_per_epoch = 3.0});
  const auto a = uniform_cell(s, 1);
  const auto e = est.evaluate(a);
  REQUIRE(e.epochs == 20.0);
  REQUIRE(e.cost_seconds == 60.0);
  REQUIRE(e.metrics.get("quality") == Approx(0.7));
  REQUIRE(est.evaluate(a, nas::Fidelity{5}).cost_seconds == 15.0);
}

TEST_CASE("SyntheticEstimator repeats itself for the same seed", "[estimate][synthetic]") {
  const auto s = nas::CellSpace::seed();
  nas::SyntheticEstimator a(s, {.seed = 7}), b(s, {.seed = 7}), c(s, {.seed = 8});
  nas::Rng rng(1);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const auto arch = s.sample(rng);
    const double x = a.evaluate(arch).score;
    REQUIRE(x == b.evaluate(arch).score);
    differ += x != c.evaluate(arch).score;
  }
  REQUIRE(differ > 90);
}

TEST_CASE("SyntheticEstimator takes op scores by name and rejects unscored ops", "[estimate][synthetic]") {
  const auto darts = nas::CellSpace::darts();
  REQUIRE_THROWS_WITH(nas::SyntheticEstimator(darts), Catch::Contains("'max_pool_3x3'"));
  nas::SyntheticEstimator est(darts, {.op_scores = {{"none", 0.0}, {"max_pool_3x3", 0.2}, {"avg_pool_3x3", 0.2},
                                                    {"skip_connect", 0.4}, {"sep_conv_3x3", 0.9}, {"sep_conv_5x5", 0.8},
                                                    {"dil_conv_3x3", 0.6}, {"dil_conv_5x5", 0.5}},
                                      .noise = 0.0});
  nas::CellArch a = uniform_cell(darts, 4);
  for (std::size_t k = 0; k < a.normal.size(); ++k) a.normal[k].input = static_cast<std::uint8_t>(k % 2);
  a.reduce = a.normal;
  for (auto& p : a.reduce) p.op = 0;  // reduction cell all `none`: the mean covers both cells
  REQUIRE(est.evaluate(a).score == Approx(0.45));
  REQUIRE_THROWS_AS(nas::SyntheticEstimator(darts, {.noise = -1}), nas::ConfigError);
}
