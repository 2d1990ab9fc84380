// Sigmoid, channel_scale, SqueezeExcite, InvertedResidual: values, parameter counts, gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/mobile_blocks.hpp>
#include <nas/testing/gradcheck.hpp>

#include <cmath>

namespace {
double check(nas::Module& m, const nas::Shape& in, std::uint64_t seed, double eps = 1e-3) {
  nas::Rng rng(seed);
  nas::Tensor x(in);
  x.fill_normal(rng);
  // The blocks checked here have ReLUs (after BatchNorm, inside SE): kinks that a step may
  // cross, so one-sided differences count too.
  const auto r = nas::testing::gradcheck(m, x, {.eps = eps, .max_checks = 32, .floor = 0.2, .kink_tolerant = true});
  INFO(m.type_name() << " " << in.str() << ": " << r.worst);
  CHECK(r.checked > 0);
  return r.max_error;
}
}  // namespace

TEST_CASE("Sigmoid computes 1 / (1 + exp(-x)) and its derivative", "[tensor][sigmoid]") {
  nas::Sigmoid sig;
  nas::Tensor x({1, 3});
  x[0] = -2.0f;
  x[1] = 0.0f;
  x[2] = 3.0f;
  const nas::Tensor& y = sig.forward(x);
  REQUIRE(y[0] == Approx(1.0 / (1.0 + std::exp(2.0))));
  REQUIRE(y[1] == 0.5f);
  REQUIRE(y[2] == Approx(1.0 / (1.0 + std::exp(-3.0))));
  nas::Tensor dy({1, 3});
  dy.fill(2.0f);
  REQUIRE(sig.backward(dy)[1] == Approx(2.0 * 0.25));
  nas::Rng rng(2);
  nas::Tensor big({2, 3, 3, 3});
  big.fill_normal(rng, 0.0f, 2.0f);
  const auto r = nas::testing::gradcheck(sig, big, {.eps = 1e-2});
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-3);
}

TEST_CASE("channel_scale multiplies each channel by its scale; its gradients match central differences",
          "[tensor][channel_scale]") {
  nas::Rng rng(5);
  nas::Tensor x({2, 3, 2, 2}), s({2, 3}), r({2, 3, 2, 2});
  x.fill_normal(rng);
  s.fill_normal(rng);
  r.fill_normal(rng);
  nas::Tensor y;
  nas::channel_scale(x, s, y);
  REQUIRE(y.shape() == x.shape());
  REQUIRE(y[0] == x[0] * s[0]);
  REQUIRE(y[4 * 4 + 3] == x[4 * 4 + 3] * s[4]);  // image 1, channel 1, last pixel
  nas::Tensor dx, ds;
  nas::channel_scale_backward(x, s, r, dx, ds);
  // L = sum(channel_scale(x, s) * r), differentiated numerically in double.
  auto loss = [&](const nas::Tensor& xx, const nas::Tensor& ss) {
    nas::Tensor yy;
    nas::channel_scale(xx, ss, yy);
    double l = 0.0;
    for (std::size_t i = 0; i < yy.numel(); ++i) l += static_cast<double>(yy[i]) * r[i];
    return l;
  };
  const float h = 1e-2f;
  for (std::size_t i = 0; i < x.numel(); ++i) {
    nas::Tensor a = x, b = x;
    a[i] += h;
    b[i] -= h;
    const double numeric = (loss(a, s) - loss(b, s)) / (2.0 * h);
    REQUIRE(dx[i] == Approx(numeric).epsilon(1e-3).margin(1e-4));
  }
  for (std::size_t i = 0; i < s.numel(); ++i) {
    nas::Tensor a = s, b = s;
    a[i] += h;
    b[i] -= h;
    const double numeric = (loss(x, a) - loss(x, b)) / (2.0 * h);
    REQUIRE(ds[i] == Approx(numeric).epsilon(1e-3).margin(1e-4));
  }
  nas::Tensor wrong({2, 4});
  REQUIRE_THROWS_AS(nas::channel_scale(x, wrong, y), nas::ConfigError);
}

TEST_CASE("SqueezeExcite gates channels by a learned sigmoid; backward matches finite differences", "[tensor][se]") {
  nas::Rng rng(7);
  nas::SqueezeExcite se(6, 2, rng);
  REQUIRE(se.num_parameters() == 6 * 2 + 2 + 2 * 6 + 6);
  const auto names = se.named_parameters();
  REQUIRE(names.size() == 4);
  REQUIRE(names[0].path == "fc1.weight");
  REQUIRE(names[3].path == "fc2.bias");
  REQUIRE(se.macs({1, 6, 5, 5}) == 6 * 2 + 2 + 2 * 6 + 6);
  REQUIRE(se.output_shape({3, 6, 5, 5}) == nas::Shape{3, 6, 5, 5});
  // Each output channel is its input channel times one factor in (0, 1).
  nas::Tensor x({2, 6, 3, 3});
  x.fill_normal(rng);
  const nas::Tensor& y = se.forward(x);
  for (int c = 0; c < 6; ++c) {
    const std::size_t at = static_cast<std::size_t>(9 * c);
    const float k = y[at] / x[at];
    REQUIRE(k > 0.0f);
    REQUIRE(k < 1.0f);
    REQUIRE(y[at + 5] == Approx(x[at + 5] * k).epsilon(1e-5));
  }
  REQUIRE(check(se, {3, 6, 4, 4}, 8, 1e-2) < 1e-2);
  REQUIRE_THROWS_AS(se.forward(nas::Tensor({1, 5, 2, 2})), nas::ConfigError);
}

TEST_CASE("InvertedResidual has MobileNetV2's structure and parameter count", "[tensor][inverted_residual]") {
  nas::Rng rng(9);
  // 8 -> 8, expansion 3 (24 mid), kernel 5, SE to max(1, 8 / 4) = 2 channels.
  nas::InvertedResidual b({.in_channels = 8, .out_channels = 8, .kernel = 5, .stride = 1, .expansion = 3, .squeeze_excite = true},
                          rng);
  const std::size_t expand = 8 * 24 + 2 * 24, dw = 24 * 25 + 2 * 24, se = 24 * 2 + 2 + 2 * 24 + 24, project = 24 * 8 + 2 * 8;
  REQUIRE(b.num_parameters() == expand + dw + se + project);
  REQUIRE(b.options().residual());
  REQUIRE(b.output_shape({2, 8, 7, 7}) == nas::Shape{2, 8, 7, 7});
  REQUIRE(b.macs({1, 8, 7, 7}) == 49.0 * (8 * 24 + 24 * 25 + 24 * 8) + (24 * 2 + 2 + 2 * 24 + 24));
  // Stride 2 and expansion 1: no expansion layer, no residual; padding k / 2 halves 7 -> 4.
  nas::InvertedResidual d({.in_channels = 4, .out_channels = 6, .kernel = 3, .stride = 2, .expansion = 1}, rng);
  REQUIRE(d.num_parameters() == 4 * 9 + 2 * 4 + 4 * 6 + 2 * 6);
  REQUIRE_FALSE(d.options().residual());
  REQUIRE(d.output_shape({1, 4, 7, 7}) == nas::Shape{1, 6, 4, 4});
  REQUIRE_THROWS_AS(nas::InvertedResidual({.kernel = 4}, rng), nas::ConfigError);
}

TEST_CASE("InvertedResidual backward matches finite differences with and without residual and SE",
          "[tensor][inverted_residual]") {
  nas::Rng rng(11);
  nas::InvertedResidual res({.in_channels = 3, .out_channels = 3, .kernel = 3, .expansion = 2, .squeeze_excite = true}, rng);
  REQUIRE(check(res, {4, 3, 5, 5}, 12) < 3e-2);
  nas::InvertedResidual plain({.in_channels = 3, .out_channels = 4, .kernel = 5, .stride = 2, .expansion = 3}, rng);
  REQUIRE(check(plain, {4, 3, 6, 6}, 13) < 3e-2);
}

TEST_CASE("InvertedResidual adds its input when the shapes allow", "[tensor][inverted_residual]") {
  nas::Rng rng(14);
  nas::InvertedResidual b({.in_channels = 4, .out_channels = 4, .kernel = 3, .expansion = 3}, rng);
  nas::Tensor x({2, 4, 5, 5});
  x.fill_normal(rng);
  // The body alone: zero the last BatchNorm's scale and shift, and the block is the identity.
  for (auto& p : b.named_parameters())
    if (p.path == "body.7.weight" || p.path == "body.7.bias") p.parameter->value.zero();
  const nas::Tensor& y = b.forward(x);
  for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(y[i] == x[i]);
  b.eval();
  const nas::Tensor& ye = b.forward(x);
  for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(ye[i] == Approx(x[i]).margin(1e-6));
}
