// Conv2d: forward against direct loops, backward against finite differences, MACs and parameters.
#include <catch2/catch.hpp>

#include <nas/tensor/conv2d.hpp>
#include <nas/testing/gradcheck.hpp>

namespace {
// Direct definition of the convolution, in double.
nas::Tensor reference_conv(const nas::Tensor& x, nas::Conv2d& conv) {
  const auto& o = conv.options();
  const auto& w = conv.weight().value;
  const int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int K = o.kernel, s = o.stride, p = o.padding, d = o.dilation, g = o.groups;
  const int Ho = (H + 2 * p - d * (K - 1) - 1) / s + 1, Wo = (W + 2 * p - d * (K - 1) - 1) / s + 1;
  const int cig = C / g, cog = o.out_channels / g;
  nas::Tensor y({N, o.out_channels, Ho, Wo});
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < o.out_channels; ++co)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          double acc = o.bias ? conv.bias().value[static_cast<std::size_t>(co)] : 0.0;
          for (int ci = 0; ci < cig; ++ci)
            for (int kh = 0; kh < K; ++kh)
              for (int kw = 0; kw < K; ++kw) {
                const int ih = oh * s - p + kh * d, iw = ow * s - p + kw * d;
                if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;
                acc += static_cast<double>(x.at(n, (co / cog) * cig + ci, ih, iw)) * w.at(co, ci, kh, kw);
              }
          y.at(n, co, oh, ow) = static_cast<float>(acc);
        }
  return y;
}

struct Case {
  int n, c_in, c_out, h, w, k, stride, pad, dil, groups;
  bool bias;
};
const Case cases[] = {
    {2, 3, 4, 5, 5, 3, 1, 1, 1, 1, false},  // 3x3 same padding
    {2, 3, 5, 7, 6, 3, 2, 1, 1, 1, true},   // stride 2, odd size, bias
    {1, 4, 4, 7, 7, 3, 1, 2, 2, 4, false},  // depthwise dilated (DARTS dil_conv_3x3)
    {2, 4, 6, 6, 6, 5, 2, 2, 1, 2, true},   // groups 2, 5x5 stride 2
    {2, 3, 2, 4, 4, 1, 2, 0, 1, 1, false},  // 1x1 stride 2 (FactorizedReduce)
    {1, 2, 3, 6, 5, 3, 1, 0, 1, 1, true},   // no padding, rectangular input
};
}  // namespace

TEST_CASE("Conv2d forward equals the direct definition over strides, padding, dilation and groups", "[tensor][conv2d]") {
  nas::Rng rng(11);
  for (const Case& c : cases) {
    nas::Conv2d conv({.in_channels = c.c_in, .out_channels = c.c_out, .kernel = c.k, .stride = c.stride, .padding = c.pad,
                      .dilation = c.dil, .groups = c.groups, .bias = c.bias},
                     rng);
    nas::Tensor x({c.n, c.c_in, c.h, c.w});
    x.fill_normal(rng);
    const nas::Tensor& y = conv.forward(x);
    const nas::Tensor ref = reference_conv(x, conv);
    REQUIRE(y.shape() == ref.shape());
    REQUIRE(conv.output_shape(x.shape()) == ref.shape());
    for (std::size_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == Approx(ref[i]).margin(1e-4));
  }
}

TEST_CASE("Conv2d backward matches finite differences for input, weight and bias", "[tensor][conv2d]") {
  nas::Rng rng(12);
  for (const Case& c : cases) {
    nas::Conv2d conv({.in_channels = c.c_in, .out_channels = c.c_out, .kernel = c.k, .stride = c.stride, .padding = c.pad,
                      .dilation = c.dil, .groups = c.groups, .bias = c.bias},
                     rng);
    nas::Tensor x({c.n, c.c_in, c.h, c.w});
    x.fill_normal(rng);
    const auto r = nas::testing::gradcheck(conv, x, {.eps = 1e-2});
    INFO(r.worst);
    REQUIRE(r.checked > 0);
    REQUIRE(r.max_error < 1e-2);
  }
}

TEST_CASE("Conv2d accumulates weight gradients across backward calls", "[tensor][conv2d]") {
  nas::Rng rng(13);
  nas::Conv2d conv({.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1, .bias = true}, rng);
  nas::Tensor x({1, 2, 4, 4}), dy({1, 3, 4, 4});
  x.fill_normal(rng);
  dy.fill_normal(rng);
  conv.zero_grad();
  conv.forward(x);
  conv.backward(dy);
  const nas::Tensor once = conv.weight().grad;
  conv.forward(x);
  conv.backward(dy);
  for (std::size_t i = 0; i < once.numel(); ++i) REQUIRE(conv.weight().grad[i] == Approx(2.0f * once[i]));
}

TEST_CASE("Conv2d counts parameters and MACs as AutoDL's get_model_infos does", "[tensor][conv2d]") {
  nas::Rng rng(14);
  nas::Conv2d plain({.in_channels = 16, .out_channels = 32, .kernel = 3, .stride = 2, .padding = 1}, rng);
  REQUIRE(plain.num_parameters() == 16 * 32 * 9);
  // 32x32 input, stride 2 -> 16x16 output.
  REQUIRE(plain.macs({1, 16, 32, 32}) == 9.0 * 16 * 32 * 16 * 16);
  nas::Conv2d dw({.in_channels = 8, .out_channels = 8, .kernel = 3, .padding = 1, .groups = 8, .bias = true}, rng);
  REQUIRE(dw.num_parameters() == 8 * 9 + 8);
  REQUIRE(dw.macs({4, 8, 10, 10}) == 9.0 * 1 * 8 * 100 + 8 * 100);
}

TEST_CASE("Conv2d default init is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in))", "[tensor][conv2d]") {
  nas::Rng rng(15);
  nas::Conv2d conv({.in_channels = 4, .out_channels = 64, .kernel = 3, .bias = true}, rng);
  const float bound = 1.0f / 6.0f;  // fan_in = 4 * 9 = 36
  float lo = 1, hi = -1;
  for (float v : conv.weight().value) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  REQUIRE(lo >= -bound);
  REQUIRE(hi <= bound);
  REQUIRE(hi - lo > 1.8f * bound);  // spread over the interval
}

TEST_CASE("Conv2d rejects inconsistent options and inputs with ConfigError", "[tensor][conv2d]") {
  nas::Rng rng(16);
  REQUIRE_THROWS_AS(nas::Conv2d({.in_channels = 3, .out_channels = 4, .groups = 2}, rng), nas::ConfigError);
  nas::Conv2d conv({.in_channels = 3, .out_channels = 4, .kernel = 3}, rng);
  nas::Tensor wrong({1, 2, 5, 5});
  REQUIRE_THROWS_AS(conv.forward(wrong), nas::ConfigError);
  nas::Tensor tiny({1, 3, 2, 2});
  REQUIRE_THROWS_AS(conv.forward(tiny), nas::ConfigError);
}
