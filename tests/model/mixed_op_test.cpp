// MixedOp and the relaxations: gradients for the input, every op's weights and alpha against central differences.
#include <catch2/catch.hpp>

#include <nas/model/mixed_op.hpp>
#include <nas/testing/gradcheck.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace {

const std::vector<std::string> kOps{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};

nas::Tensor input(std::uint64_t seed) {
  nas::Tensor x({2, 3, 5, 5});
  nas::Rng rng(seed);
  nas::testing::fill_away_from_zero(x, rng);
  return x;
}

// L(alpha) = <r, MixedOp(x; relaxation(alpha))> with the sample drawn from a fresh Rng(seed),
// so that every evaluation sees the same Gumbel noise.
template <class R>
double mixed_loss(nas::MixedOp& m, const R& relax, const std::vector<float>& alpha, double tau, const nas::Tensor& x,
                  const nas::Tensor& r, nas::EdgeSample& s, std::uint64_t seed) {
  nas::Rng rng(seed);
  relax.sample(alpha, tau, rng, s);
  m.set_active(s.ops, s.weights);
  return nas::dot(m.forward(x), r);
}

// Max relative error of dL/dalpha (MixedOp::weight_grad through relaxation backward)
// against central differences of L(alpha).
template <class R>
double alpha_error(const R& relax, double tau) {
  nas::Rng rng(3);
  nas::CellOpGeometry g{.in_channels = 3, .out_channels = 3};
  nas::MixedOp m(kOps, g, rng);
  m.eval();  // BN with running statistics: L is smooth in w
  const nas::Tensor x = input(4);
  nas::Tensor r(m.output_shape(x.shape()));
  r.fill_normal(rng);
  std::vector<float> alpha{0.3f, -0.2f, 0.5f, 0.1f, -0.4f};
  nas::EdgeSample s;
  (void)mixed_loss(m, relax, alpha, tau, x, r, s, 11);
  m.zero_grad();
  (void)m.backward(r);
  std::vector<double> dw(s.ops.size()), dalpha(alpha.size(), 0.0);
  for (std::size_t i = 0; i < s.ops.size(); ++i) dw[i] = m.weight_grad(s.ops[i]);
  relax.backward(alpha, tau, s, dw, dalpha);
  double worst = 0.0;
  for (std::size_t k = 0; k < alpha.size(); ++k) {
    const double h = 1e-3;
    std::vector<float> ap = alpha, am = alpha;
    ap[k] += static_cast<float>(h);
    am[k] -= static_cast<float>(h);
    const double hp = static_cast<double>(ap[k]) - alpha[k], hm = static_cast<double>(alpha[k]) - am[k];
    nas::EdgeSample t;
    const double num = (mixed_loss(m, relax, ap, tau, x, r, t, 11) - mixed_loss(m, relax, am, tau, x, r, t, 11)) / (hp + hm);
    worst = std::max(worst, std::abs(num - dalpha[k]) / std::max({std::abs(num), std::abs(dalpha[k]), 1e-2}));
  }
  return worst;
}

}  // namespace

TEST_CASE("MixedOp backward matches central differences for the input and every op's weights", "[model][mixed_op]") {
  nas::Rng rng(1);
  nas::MixedOp m(kOps, nas::CellOpGeometry{.in_channels = 3, .out_channels = 3}, rng);
  const std::size_t ops[] = {0, 1, 2, 3, 4};
  const float w[] = {0.1f, 0.3f, 0.7f, 1.4f, 0.5f};
  m.set_active(ops, w);
  for (bool training : {false, true}) {
    m.train(training);
    const auto res = nas::testing::gradcheck(m, input(2), {.eps = 1e-2, .max_checks = 40, .floor = 5e-2, .seed = 7,
                                                           .kink_tolerant = true});
    INFO((training ? "train: " : "eval: ") << res.worst);
    CHECK(res.checked > 100);
    CHECK(res.max_error < 2e-2);
  }
}

TEST_CASE("MixedOp dL/dw is the inner product of dL/dy with each op's output", "[model][mixed_op]") {
  nas::Rng rng(5);
  nas::MixedOp m(kOps, nas::CellOpGeometry{.in_channels = 3, .out_channels = 3}, rng);
  m.eval();
  const nas::Tensor x = input(6);
  const std::size_t ops[] = {0, 1, 3};
  const float w[] = {0.5f, 0.25f, 2.0f};
  m.set_active(ops, w);
  nas::Tensor r(m.output_shape(x.shape()));
  r.fill_normal(rng);
  (void)m.forward(x);
  (void)m.backward(r);
  // L is linear in each w: dL/dw_k = L(w_k + 1) - L(w_k).
  const double base = nas::dot(m.forward(x), r);
  for (std::size_t i = 0; i < 3; ++i) {
    float w2[] = {0.5f, 0.25f, 2.0f};
    w2[i] += 1.0f;
    m.set_active(ops, w2);
    const double bumped = nas::dot(m.forward(x), r);
    m.set_active(ops, w);
    (void)m.forward(x);
    (void)m.backward(r);
    CHECK(m.weight_grad(ops[i]) == Approx(bumped - base).epsilon(1e-4).margin(1e-4));
  }
  CHECK(m.weight_grad(0) == 0.0);  // none
  CHECK(m.weight_grad(2) == 0.0);  // idle
  CHECK(m.weight_grad(1) != 0.0);
}

TEST_CASE("dL/dalpha through softmax, sigmoid and Gumbel relaxations matches central differences", "[model][mixed_op]") {
  CHECK(alpha_error(nas::SoftmaxRelaxation{}, 1.0) < 1e-2);
  CHECK(alpha_error(nas::SigmoidRelaxation{}, 1.0) < 1e-2);
  // GDAS' straight-through estimator: the difference quotient is that of the sampled op
  // weighted by its soft weight s_k(alpha), which is what the estimator differentiates.
  struct SoftGumbel : nas::GumbelRelaxation {
    void sample(std::span<const float> a, double tau, nas::Rng& rng, nas::EdgeSample& s) const {
      GumbelRelaxation::sample(a, tau, rng, s);
      s.weights[0] = static_cast<float>(s.soft[s.index]);
    }
  };
  CHECK(alpha_error(SoftGumbel{}, 2.0) < 1e-2);
  CHECK(alpha_error(SoftGumbel{}, 0.5) < 1e-2);
}

TEST_CASE("Gumbel sampling runs one op with weight 1 and picks op k with probability softmax(alpha)_k",
          "[model][mixed_op]") {
  const nas::GumbelRelaxation g;
  const std::vector<float> alpha{1.0f, 0.0f, -1.0f, 0.5f};
  std::array<double, 4> p{};
  g.relaxed(alpha, p);
  std::array<int, 4> counts{};
  nas::Rng rng(9);
  nas::EdgeSample s;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    g.sample(alpha, 1.0, rng, s);
    REQUIRE(s.ops.size() == 1);
    REQUIRE(s.weights[0] == 1.0f);
    ++counts[s.index];
  }
  for (std::size_t k = 0; k < 4; ++k) CHECK(counts[k] / double(n) == Approx(p[k]).margin(0.015));
  CHECK_THROWS_AS(g.sample(alpha, 0.0, rng, s), nas::ConfigError);
}

TEST_CASE("MixedOp rejects bad candidates and active sets", "[model][mixed_op]") {
  nas::Rng rng(1);
  nas::MixedOp m(kOps, nas::CellOpGeometry{.in_channels = 3, .out_channels = 3}, rng);
  const std::size_t bad[] = {5};
  const std::size_t twice[] = {1, 1};
  const float w1[] = {1.0f};
  const float w2[] = {1.0f, 1.0f};
  CHECK_THROWS_AS(m.set_active(bad, w1), nas::ConfigError);
  CHECK_THROWS_AS(m.set_active(twice, w2), nas::ConfigError);
  CHECK_THROWS_AS(m.set_active(std::span<const std::size_t>(bad, 1), std::span<const float>(w2)), nas::ConfigError);
  CHECK_THROWS_AS(nas::MixedOp({"skip_connect", "skip_connect"}, nas::CellOpGeometry{.in_channels = 3, .out_channels = 3}, rng),
                  nas::ConfigError);
}
