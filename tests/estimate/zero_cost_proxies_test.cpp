// Zero-cost proxies on tiny networks against hand computations; the shared pass equals the separate ones; the network is left unchanged.
#include <catch2/catch.hpp>

#include <nas/estimate/zero_cost.hpp>
#include <nas/estimate/zero_cost_proxies.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>

#include <array>
#include <cmath>
#include <vector>

namespace {

using Vec = std::vector<double>;

// conv 1x1 (2 -> 3, no bias) on [N, 2, 1, 1], ReLU, global pooling, linear 3 -> 2: the
// two-layer perceptron a = W1 x, h = relu(a), z = W2 h + b2, in modules the proxies see.
struct Mlp {
  nas::Rng rng{3};
  nas::Sequential net;
  nas::Conv2d* conv;
  nas::Linear* fc;
  std::array<std::array<double, 2>, 3> w1{{{0.5, -1.0}, {1.5, 0.25}, {-0.75, 0.8}}};
  std::array<std::array<double, 3>, 2> w2{{{0.3, -0.6, 0.9}, {-1.2, 0.4, 0.7}}};
  std::array<double, 2> b2{0.1, -0.2};
  Mlp() {
    conv = &net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 1, .padding = 0}, rng);
    net.emplace<nas::ReLU>();
    net.emplace<nas::GlobalAvgPool>();
    fc = &net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 2}, rng);
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 2; ++i) conv->weight().value[static_cast<std::size_t>(o * 2 + i)] = static_cast<float>(w1[o][i]);
    for (int o = 0; o < 2; ++o) {
      for (int i = 0; i < 3; ++i) fc->weight().value[static_cast<std::size_t>(o * 3 + i)] = static_cast<float>(w2[o][i]);
      fc->bias().value[static_cast<std::size_t>(o)] = static_cast<float>(b2[o]);
    }
  }
};

// Four inputs that leave different ReLU units active, and their labels.
const std::array<std::array<double, 2>, 4> xs{{{1.0, -1.0}, {-1.0, 1.0}, {1.0, 1.0}, {-1.0, -0.7}}};
const std::array<int, 4> ys{0, 1, 1, 0};

nas::ZeroCostBatch mlp_batch() {
  nas::ZeroCostBatch b;
  b.images = nas::Tensor(nas::Shape{4, 2, 1, 1});
  for (std::size_t n = 0; n < 4; ++n)
    for (std::size_t i = 0; i < 2; ++i) b.images[n * 2 + i] = static_cast<float>(xs[n][i]);
  b.labels.assign(ys.begin(), ys.end());
  return b;
}

// The perceptron's forward and backward of the mean cross-entropy, by hand.
struct HandPass {
  double a[4][3], h[4][3], z[4][2], dz[4][2], da[4][3];
  double dw1[3][2] = {}, dw2[2][3] = {};
  explicit HandPass(const Mlp& m) {
    for (int n = 0; n < 4; ++n) {
      for (int o = 0; o < 3; ++o) {
        a[n][o] = m.w1[o][0] * xs[n][0] + m.w1[o][1] * xs[n][1];
        h[n][o] = a[n][o] > 0 ? a[n][o] : 0.0;
      }
      double zmax = -1e300, se = 0.0;
      for (int k = 0; k < 2; ++k) {
        z[n][k] = m.b2[k] + m.w2[k][0] * h[n][0] + m.w2[k][1] * h[n][1] + m.w2[k][2] * h[n][2];
        zmax = std::max(zmax, z[n][k]);
      }
      for (int k = 0; k < 2; ++k) se += std::exp(z[n][k] - zmax);
      for (int k = 0; k < 2; ++k) dz[n][k] = (std::exp(z[n][k] - zmax) / se - (k == ys[n] ? 1.0 : 0.0)) / 4.0;
      for (int o = 0; o < 3; ++o) da[n][o] = a[n][o] > 0 ? m.w2[0][o] * dz[n][0] + m.w2[1][o] * dz[n][1] : 0.0;
      for (int k = 0; k < 2; ++k)
        for (int o = 0; o < 3; ++o) dw2[k][o] += dz[n][k] * h[n][o];
      for (int o = 0; o < 3; ++o)
        for (int i = 0; i < 2; ++i) dw1[o][i] += da[n][o] * xs[n][i];
    }
  }
};

double score(nas::Module& net, nas::ZeroCostProxy p, const nas::ZeroCostBatch& b) {
  const auto s = b.images.shape();
  return nas::zero_cost_score(net, nas::Shape{s[1], s[2], s[3]}, p, b);
}

}  // namespace

TEST_CASE("naswot is the log-determinant of the ReLU codes' agreement counts", "[estimate][zero_cost]") {
  Mlp m;
  const HandPass hp(m);
  // K[i][j] = units where images i and j are both active or both inactive.
  double k[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      k[i][j] = 0;
      for (int u = 0; u < 3; ++u) k[i][j] += (hp.a[i][u] > 0) == (hp.a[j][u] > 0) ? 1 : 0;
    }
  // The codes are 110, 001, 011, 101 here, so K = [[3,0,1,1],[0,3,2,2],[1,2,3,1],[1,2,1,3]].
  CHECK(k[0][1] == 0);
  CHECK(k[1][2] == 2);
  CHECK(k[2][3] == 1);
  // det by cofactor expansion along the first row.
  auto det3 = [](double a, double b, double c, double d, double e, double f, double g, double h, double i) {
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  };
  double det = 0;
  for (int c = 0; c < 4; ++c) {
    double minor[9];
    int q = 0;
    for (int r = 1; r < 4; ++r)
      for (int cc = 0; cc < 4; ++cc)
        if (cc != c) minor[q++] = k[r][cc];
    det += (c % 2 ? -1 : 1) * k[0][c] * det3(minor[0], minor[1], minor[2], minor[3], minor[4], minor[5], minor[6], minor[7], minor[8]);
  }
  CHECK(det == Approx(12.0));
  auto b = mlp_batch();
  CHECK(score(m.net, nas::ZeroCostProxy::naswot, b) == Approx(std::log(det)).epsilon(1e-12));
  // Two identical images make K singular: -inf.
  for (std::size_t i = 0; i < 2; ++i) b.images[2 + i] = b.images[i];
  CHECK(score(m.net, nas::ZeroCostProxy::naswot, b) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("grad_norm sums each layer's gradient norm and snip sums |W dL/dW| over conv and linear weights", "[estimate][zero_cost]") {
  Mlp m;
  const HandPass hp(m);
  double n1 = 0, n2 = 0, snip = 0;
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 2; ++i) {
      n1 += hp.dw1[o][i] * hp.dw1[o][i];
      snip += std::abs(m.w1[o][i] * hp.dw1[o][i]);
    }
  for (int k = 0; k < 2; ++k)
    for (int o = 0; o < 3; ++o) {
      n2 += hp.dw2[k][o] * hp.dw2[k][o];
      snip += std::abs(m.w2[k][o] * hp.dw2[k][o]);
    }
  const auto b = mlp_batch();
  // Per-layer norms summed, not the norm of all gradients: sqrt(n1) + sqrt(n2) != sqrt(n1 + n2).
  CHECK(score(m.net, nas::ZeroCostProxy::grad_norm, b) == Approx(std::sqrt(n1) + std::sqrt(n2)).epsilon(1e-5));
  CHECK(score(m.net, nas::ZeroCostProxy::snip, b) == Approx(snip).epsilon(1e-5));
}

TEST_CASE("fisher sums half the batch mean of (activation x its gradient)^2 per layer output channel", "[estimate][zero_cost]") {
  Mlp m;
  const HandPass hp(m);
  double f = 0;
  for (int o = 0; o < 3; ++o) {  // the conv's output a (before the ReLU)
    double ms = 0;
    for (int n = 0; n < 4; ++n) ms += std::pow(hp.a[n][o] * (hp.a[n][o] > 0 ? hp.da[n][o] : 0.0), 2);
    f += 0.5 * ms / 4;
  }
  for (int k = 0; k < 2; ++k) {  // the linear layer's output z
    double ms = 0;
    for (int n = 0; n < 4; ++n) ms += std::pow(hp.z[n][k] * hp.dz[n][k], 2);
    f += 0.5 * ms / 4;
  }
  CHECK(score(m.net, nas::ZeroCostProxy::fisher, mlp_batch()) == Approx(f).epsilon(1e-5));
}

TEST_CASE("grasp is -W (H g) with the exact Hessian of softmax cross-entropy in a linear layer", "[estimate][zero_cost]") {
  // z = W x + b on pooled inputs: dL/dW = 1/N sum (p - y) x^T and, for a direction G,
  // (H G)[k][i] = 1/N sum_n [(diag(p) - p p^T) G x_n]_k x_n[i].
  nas::Rng rng(5);
  nas::Sequential net;
  net.emplace<nas::GlobalAvgPool>();
  auto& fc = net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 2, .out_features = 3}, rng);
  const double w[3][2] = {{0.4, -0.7}, {1.1, 0.3}, {-0.5, 0.9}}, bias[3] = {0.05, -0.1, 0.2};
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < 2; ++i) fc.weight().value[static_cast<std::size_t>(k * 2 + i)] = static_cast<float>(w[k][i]);
    fc.bias().value[static_cast<std::size_t>(k)] = static_cast<float>(bias[k]);
  }
  auto b = mlp_batch();
  b.labels = {0, 2, 1, 2};
  double p[4][3], g[3][2] = {};
  for (int n = 0; n < 4; ++n) {
    double se = 0;
    for (int k = 0; k < 3; ++k) se += std::exp(bias[k] + w[k][0] * xs[n][0] + w[k][1] * xs[n][1]);
    for (int k = 0; k < 3; ++k) p[n][k] = std::exp(bias[k] + w[k][0] * xs[n][0] + w[k][1] * xs[n][1]) / se;
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 2; ++i) g[k][i] += (p[n][k] - (k == b.labels[static_cast<std::size_t>(n)] ? 1.0 : 0.0)) * xs[n][i] / 4;
  }
  double hg[3][2] = {};
  for (int n = 0; n < 4; ++n) {
    double gx[3], s = 0;
    for (int k = 0; k < 3; ++k) gx[k] = g[k][0] * xs[n][0] + g[k][1] * xs[n][1];
    for (int k = 0; k < 3; ++k) s += p[n][k] * gx[k];
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 2; ++i) hg[k][i] += p[n][k] * (gx[k] - s) * xs[n][i] / 4;
  }
  double expected = 0;
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 2; ++i) expected -= w[k][i] * hg[k][i];
  // The default step (1e-5 of ||theta|| / ||g||) leaves the float gradients' difference
  // about three significant digits, and the last one moves with the compiler's rounding
  // (2.6e-3 apart in the -O2 sanitizer build, within 2e-3 at -O3): 1 %, where a wrong term
  // or sign is off by far more.
  CHECK(score(net, nas::ZeroCostProxy::grasp, b) == Approx(expected).epsilon(1e-2));
}

TEST_CASE("grasp holds each ReLU's pattern, as autograd's Hessian does, when a unit sits at its kink", "[estimate][zero_cost]") {
  // The perceptron with a fifth image whose first hidden unit is 2e-5 above zero: GraSP's
  // step along g flips it on one side. Autograd's H g (the reference's double backward)
  // keeps every unit's pattern; here H g is a central difference in double of the hand
  // gradient with the pattern of the unperturbed weights, on a step far below the flip.
  Mlp m;
  const std::array<std::array<double, 2>, 5> x{{{1.0, -1.0}, {-1.0, 1.0}, {1.0, 1.0}, {-1.0, -0.7}, {2.0, 0.99998}}};
  const std::array<int, 5> y{0, 1, 1, 0, 1};
  nas::ZeroCostBatch b;
  b.images = nas::Tensor(nas::Shape{5, 2, 1, 1});
  for (std::size_t n = 0; n < 5; ++n)
    for (std::size_t i = 0; i < 2; ++i) b.images[n * 2 + i] = static_cast<float>(x[n][i]);
  b.labels.assign(y.begin(), y.end());
  using W = std::array<double, 12>;  // w1 (3 x 2) then w2 (2 x 3)
  W theta{};
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 2; ++i) theta[static_cast<std::size_t>(o * 2 + i)] = m.w1[o][i];
  for (int k = 0; k < 2; ++k)
    for (int o = 0; o < 3; ++o) theta[static_cast<std::size_t>(6 + k * 3 + o)] = m.w2[k][o];
  // The gradient of the mean cross-entropy in the weights; `pattern` fixes the units
  // (null: each unit passes where its input is positive).
  auto grad = [&](const W& t, const std::array<std::array<bool, 3>, 5>* pattern) {
    W g{};
    for (std::size_t n = 0; n < 5; ++n) {
      double a[3], h[3], z[2];
      bool on[3];
      for (std::size_t o = 0; o < 3; ++o) {
        a[o] = t[o * 2] * x[n][0] + t[o * 2 + 1] * x[n][1];
        on[o] = pattern ? (*pattern)[n][o] : a[o] > 0;
        h[o] = on[o] ? a[o] : 0.0;
      }
      for (std::size_t k = 0; k < 2; ++k) z[k] = m.b2[k] + t[6 + k * 3] * h[0] + t[6 + k * 3 + 1] * h[1] + t[6 + k * 3 + 2] * h[2];
      const double zmax = std::max(z[0], z[1]);
      const double se = std::exp(z[0] - zmax) + std::exp(z[1] - zmax);
      double dz[2];
      for (std::size_t k = 0; k < 2; ++k) dz[k] = (std::exp(z[k] - zmax) / se - (static_cast<int>(k) == y[n] ? 1.0 : 0.0)) / 5.0;
      for (std::size_t k = 0; k < 2; ++k)
        for (std::size_t o = 0; o < 3; ++o) g[6 + k * 3 + o] += dz[k] * h[o];
      for (std::size_t o = 0; o < 3; ++o) {
        const double da = on[o] ? t[6 + o] * dz[0] + t[9 + o] * dz[1] : 0.0;
        for (std::size_t i = 0; i < 2; ++i) g[o * 2 + i] += da * x[n][i];
      }
    }
    return g;
  };
  std::array<std::array<bool, 3>, 5> pattern{};
  for (std::size_t n = 0; n < 5; ++n)
    for (std::size_t o = 0; o < 3; ++o) pattern[n][o] = theta[o * 2] * x[n][0] + theta[o * 2 + 1] * x[n][1] > 0;
  REQUIRE(pattern[4][0]);
  const W g = grad(theta, &pattern);
  // -theta . (grad(theta + e g) - grad(theta - e g)) / (2 e), with or without the pattern held.
  auto grasp = [&](double e, const std::array<std::array<bool, 3>, 5>* held) {
    W plus = theta, minus = theta;
    for (std::size_t i = 0; i < 12; ++i) {
      plus[i] += e * g[i];
      minus[i] -= e * g[i];
    }
    const W gp = grad(plus, held), gm = grad(minus, held);
    double s = 0.0;
    for (std::size_t i = 0; i < 12; ++i) s -= theta[i] * (gp[i] - gm[i]) / (2.0 * e);
    return s;
  };
  const double expected = grasp(1e-7, &pattern);
  double tn = 0.0, gn = 0.0;
  for (std::size_t i = 0; i < 12; ++i) {
    tn += theta[i] * theta[i];
    gn += g[i] * g[i];
  }
  // A step this network's float32 gradients resolve to 1e-3 (NB201's networks take the default 1e-5).
  nas::ZeroCostOptions options;
  options.grasp_step = 1e-3;
  const double step = options.grasp_step * std::sqrt(tn) / std::sqrt(gn);
  // The test can tell the two apart: letting the unit flip within that step moves the score.
  const double flipped = grasp(step, nullptr);
  REQUIRE(std::abs(flipped - expected) > 0.2 * std::abs(expected));
  CHECK(nas::zero_cost_score(m.net, nas::Shape{2, 1, 1}, nas::ZeroCostProxy::grasp, b, options) == Approx(expected).epsilon(2e-3));
  // And the network's ReLUs are released: a forward after it follows the signs again.
  nas::Tensor probe(nas::Shape{1, 2, 1, 1});
  probe[0] = -2.0f;
  probe[1] = -0.99998f;  // the fifth image negated: the first unit is now off
  m.net.eval();
  const nas::Tensor& out = m.net.forward(probe);
  double z0 = m.b2[0];
  for (std::size_t o = 0; o < 3; ++o) {
    const double a = -(theta[o * 2] * x[4][0] + theta[o * 2 + 1] * x[4][1]);
    z0 += m.w2[0][o] * (a > 0 ? a : 0.0);
  }
  CHECK(out[0] == Approx(z0).epsilon(1e-5));
}

TEST_CASE("jacob_cov scores the correlations of the per-image input gradients", "[estimate][zero_cost]") {
  // y = w2 . relu(W1 x): d y / dx = W1^T (mask * w2), one row per image. The score is
  // -sum(log(l + k) + 1/(l + k)) over the eigenvalues l of their correlation matrix C,
  // i.e. -(log det(C + kI) + trace((C + kI)^-1)).
  nas::Rng rng(7);
  nas::Sequential net;
  auto& conv = net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 3, .out_channels = 3, .kernel = 1, .padding = 0}, rng);
  net.emplace<nas::ReLU>();
  net.emplace<nas::GlobalAvgPool>();
  auto& fc = net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 1}, rng);
  const double w1[3][3] = {{1.0, -0.5, 0.2}, {0.3, 0.8, -1.0}, {-0.6, 0.4, 0.9}}, w2[3] = {0.7, -1.1, 0.5};
  for (int o = 0; o < 3; ++o) {
    for (int i = 0; i < 3; ++i) conv.weight().value[static_cast<std::size_t>(o * 3 + i)] = static_cast<float>(w1[o][i]);
    fc.weight().value[static_cast<std::size_t>(o)] = static_cast<float>(w2[o]);
  }
  const double x[3][3] = {{1.0, 0.5, -0.2}, {-0.3, 1.0, 0.4}, {0.2, -0.8, 1.0}};
  nas::ZeroCostBatch b;
  b.images = nas::Tensor(nas::Shape{3, 3, 1, 1});
  double jac[3][3];
  for (int n = 0; n < 3; ++n) {
    for (int i = 0; i < 3; ++i) b.images[static_cast<std::size_t>(n * 3 + i)] = static_cast<float>(x[n][i]);
    for (int i = 0; i < 3; ++i) {
      jac[n][i] = 0;
      for (int o = 0; o < 3; ++o) {
        const double a = w1[o][0] * x[n][0] + w1[o][1] * x[n][1] + w1[o][2] * x[n][2];
        if (a > 0) jac[n][i] += w1[o][i] * w2[o];
      }
    }
  }
  double c[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const double mi = (jac[i][0] + jac[i][1] + jac[i][2]) / 3, mj = (jac[j][0] + jac[j][1] + jac[j][2]) / 3;
      double sij = 0, sii = 0, sjj = 0;
      for (int d = 0; d < 3; ++d) {
        sij += (jac[i][d] - mi) * (jac[j][d] - mj);
        sii += (jac[i][d] - mi) * (jac[i][d] - mi);
        sjj += (jac[j][d] - mj) * (jac[j][d] - mj);
      }
      c[i][j] = sij / std::sqrt(sii * sjj) + (i == j ? 1e-5 : 0.0);
    }
  const double det = c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1]) - c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0]) +
                     c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0]);
  // trace of the inverse: the diagonal cofactors over the determinant.
  const double tr = ((c[1][1] * c[2][2] - c[1][2] * c[2][1]) + (c[0][0] * c[2][2] - c[0][2] * c[2][0]) +
                     (c[0][0] * c[1][1] - c[0][1] * c[1][0])) / det;
  CHECK(score(net, nas::ZeroCostProxy::jacob_cov, b) == Approx(-(std::log(det) + tr)).epsilon(1e-4));
}

TEST_CASE("params and flops count a small convolutional network by hand", "[estimate][zero_cost]") {
  nas::Rng rng(1);
  nas::Sequential net;
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1}, rng);
  net.emplace<nas::BatchNorm2d>(nas::BatchNorm2d::Options{.channels = 4});
  net.emplace<nas::ReLU>();
  net.emplace<nas::GlobalAvgPool>();
  net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 4, .out_features = 10}, rng);
  const std::array<nas::ZeroCostProxy, 2> ps{nas::ZeroCostProxy::params, nas::ZeroCostProxy::flops};
  const auto s = nas::zero_cost_scores(net, nas::Shape{3, 8, 8}, ps);
  // conv 3*3*3*4 = 108, BN affine 8, linear 40 + 10; MACs 108 * 64 + 40 + 10.
  CHECK(s[nas::ZeroCostProxy::params] == 166.0);
  CHECK(s[nas::ZeroCostProxy::flops] == 108.0 * 64 + 50);
  CHECK_THROWS_WITH(s[nas::ZeroCostProxy::snip], Catch::Contains("'snip' was not computed"));
}

TEST_CASE("all proxies in one call equal each proxy alone and leave the network as it was", "[estimate][zero_cost]") {
  const nas::Nb201Space space;
  nas::CellNetwork<nas::Nb201Space> net(
      space.decode("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"),
      {3, 8, 8, 10}, {.channels = 4, .cells = 1, .seed = 2});
  nas::ZeroCostBatch b;
  b.images = nas::Tensor(nas::Shape{6, 3, 8, 8});
  nas::Rng rng(9);
  b.images.fill_normal(rng);
  b.labels = {0, 3, 5, 1, 9, 3};
  std::vector<nas::Tensor> before;
  for (const auto& p : net.named_state()) before.push_back(p.parameter->value);
  const auto all = nas::zero_cost_scores(net, nas::Shape{3, 8, 8}, nas::all_zero_cost_proxies, b);
  std::size_t k = 0;
  for (const auto& p : net.named_state()) {
    INFO(p.path);
    const nas::Tensor& v = before[k++];
    CHECK(std::equal(v.begin(), v.end(), p.parameter->value.begin()));
  }
  CHECK(net.is_training());
  for (nas::ZeroCostProxy p : nas::all_zero_cost_proxies) {
    INFO(nas::to_string(p));
    CHECK(std::isfinite(all[p]));
    CHECK(nas::zero_cost_score(net, nas::Shape{3, 8, 8}, p, b) == Approx(all[p]).epsilon(1e-6));
  }
}

TEST_CASE("synflow's scaled float path equals the double-precision reference on NAS-Bench-201 networks", "[estimate][zero_cost]") {
  for (std::size_t index : {1ul, 6111ul, 9930ul, 1835ul}) {
    nas::CellNetwork<nas::Nb201Space> net(nas::Nb201Space::arch(index), {3, 32, 32, 10}, {.channels = 16, .cells = 5, .seed = 0});
    const nas::Tensor w0 = net.parameters().front()->value;
    const double fast = nas::synflow(net, nas::Shape{3, 32, 32});
    const double ref = nas::synflow(net, nas::Shape{3, 32, 32}, {.method = nas::SynflowMethod::reference});
    INFO("cell " << index << ": " << fast << " against " << ref);
    CHECK(fast == Approx(ref).epsilon(1e-5));
    CHECK(std::equal(w0.begin(), w0.end(), net.parameters().front()->value.begin()));  // restored bit for bit
  }
}

TEST_CASE("proxy names parse, and bad input names the place and what was expected", "[estimate][zero_cost]") {
  for (nas::ZeroCostProxy p : nas::all_zero_cost_proxies) CHECK(nas::parse_zero_cost_proxy(nas::to_string(p)) == p);
  CHECK_THROWS_WITH(nas::parse_zero_cost_proxy("zen"), Catch::Contains("unknown proxy 'zen' (expected one of synflow, naswot"));
  Mlp m;
  auto b = mlp_batch();
  b.labels.pop_back();
  CHECK_THROWS_WITH(score(m.net, nas::ZeroCostProxy::snip, b), Catch::Contains("3 labels for 4 images"));
  CHECK_NOTHROW(score(m.net, nas::ZeroCostProxy::naswot, b));  // NASWOT reads no labels
}
