// The oneDNN backend of Conv2d's forward: equal to nas's kernels, deterministic, gradients
// still right. Compiled into tests only when nas is built with oneDNN (NAS_WITH_DNNL).
#include <catch2/catch.hpp>

#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/dnnl_backend.hpp>
#include <nas/testing/gradcheck.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

TEST_CASE("The measured backend rule keeps nas's kernels for the shapes where oneDNN was not faster", "[tensor][dnnl]") {
  nas::kernels::Conv2dShape s;
  s.batch = 64, s.in_channels = 16, s.out_channels = 16, s.in_h = s.in_w = 28, s.kernel_h = s.kernel_w = 3;
  s.pad_h = s.pad_w = 1;
  CHECK(nas::measured_forward_backend(s) == nas::ConvBackend::own);  // NB201's 3x3 at C, 28x28
  s.groups = 16;
  CHECK(nas::measured_forward_backend(s) == nas::ConvBackend::own);  // depthwise
  s.groups = 1, s.in_channels = s.out_channels = 64, s.in_h = s.in_w = 7;
  CHECK(nas::measured_forward_backend(s) ==
        (nas::dnnl_available ? nas::ConvBackend::dnnl_blocked : nas::ConvBackend::own));  // 3x3 at 4C, 7x7
  s.kernel_h = s.kernel_w = 1, s.pad_h = s.pad_w = 0;
  CHECK(nas::measured_forward_backend(s) ==
        (nas::dnnl_available ? nas::ConvBackend::dnnl_nchw : nas::ConvBackend::own));  // 1x1 at 4C
}

#if defined(NAS_HAVE_DNNL)

namespace {

struct Case {
  int n, c_in, c_out, h, w, k, stride, pad, dil, groups;
  bool bias;
};
// The shapes the rule sends to oneDNN and others oneDNN must also get right.
const Case cases[] = {
    {3, 32, 32, 14, 14, 3, 1, 1, 1, 1, false},  // NB201 cell 3x3 at 2C
    {2, 16, 32, 28, 28, 3, 2, 1, 1, 1, true},   // stride-2 reduction, bias
    {2, 32, 64, 7, 6, 1, 1, 0, 1, 1, true},     // 1x1, rectangular
    {2, 8, 8, 9, 9, 3, 1, 2, 2, 8, false},      // depthwise dilated
    {1, 6, 4, 7, 7, 5, 2, 2, 1, 2, true},       // groups 2, 5x5 stride 2
};

nas::kernels::Conv2dShape shape_of(const Case& c) {
  nas::kernels::Conv2dShape s;
  s.batch = c.n, s.in_channels = c.c_in, s.out_channels = c.c_out, s.in_h = c.h, s.in_w = c.w;
  s.kernel_h = s.kernel_w = c.k, s.stride_h = s.stride_w = c.stride, s.pad_h = s.pad_w = c.pad;
  s.dilation_h = s.dilation_w = c.dil, s.groups = c.groups;
  return s;
}

std::vector<float> normal(std::size_t n, nas::Rng& rng) {
  nas::Tensor t({static_cast<int>(n)});
  t.fill_normal(rng);
  return {t.data(), t.data() + n};
}

}  // namespace

TEST_CASE("oneDNN's forward equals nas's kernels in NCHW and blocked layout, with and without an input ReLU",
          "[tensor][dnnl]") {
  nas::Rng rng(21);
  for (const Case& c : cases)
    for (int threads : {1, 2})
      for (auto input : {nas::kernels::ConvInput::as_is, nas::kernels::ConvInput::relu})
        for (auto backend : {nas::ConvBackend::dnnl_nchw, nas::ConvBackend::dnnl_blocked}) {
          nas::set_num_threads(threads);
          const nas::kernels::Conv2dShape s = shape_of(c);
          const auto x = normal(static_cast<std::size_t>(c.n) * c.c_in * c.h * c.w, rng);
          const auto w = normal(static_cast<std::size_t>(c.c_out) * (c.c_in / c.groups) * c.k * c.k, rng);
          const auto b = normal(static_cast<std::size_t>(c.c_out), rng);
          const std::size_t y_n = static_cast<std::size_t>(c.n) * c.c_out * s.out_h() * s.out_w();
          std::vector<float> own(y_n), got(y_n, NAN);
          nas::Workspace ws;
          nas::kernels::conv2d_forward(s, x.data(), w.data(), c.bias ? b.data() : nullptr, own.data(), ws, input);
          nas::dnnl_conv2d_forward(s, x.data(), w.data(), c.bias ? b.data() : nullptr, got.data(), backend, input);
          double worst = 0;
          for (std::size_t i = 0; i < y_n; ++i) worst = std::max(worst, std::abs(static_cast<double>(own[i]) - got[i]));
          INFO("case " << c.c_in << ">" << c.c_out << " k" << c.k << " s" << c.stride << " g" << c.groups << ", "
                       << threads << " threads, backend " << static_cast<int>(backend) << ", relu "
                       << (input == nas::kernels::ConvInput::relu));
          REQUIRE(worst < 1e-4);  // also false for a NaN left in `got`
        }
  nas::set_num_threads(1);
}

TEST_CASE("Conv2d's forward through oneDNN is bit-identical from call to call and close to nas's kernels",
          "[tensor][dnnl]") {
  nas::Rng rng(22);
  for (int threads : {1, 2}) {
    nas::set_num_threads(threads);
    nas::Conv2d conv({.in_channels = 32, .out_channels = 32, .kernel = 3, .padding = 1, .bias = true}, rng);
    nas::Tensor x({4, 32, 14, 14});
    x.fill_normal(rng);
    REQUIRE(nas::measured_forward_backend([&] {
              nas::kernels::Conv2dShape s = conv.conv_shape();
              s.batch = 4, s.in_h = s.in_w = 14;
              return s;
            }()) != nas::ConvBackend::own);
    const nas::Tensor first = conv.forward(x);
    const nas::Tensor again = conv.forward(x);
    nas::set_dnnl_forward(false);
    const nas::Tensor own = conv.forward(x);
    nas::set_dnnl_forward(true);
    for (std::size_t i = 0; i < first.numel(); ++i) {
      REQUIRE(first[i] == again[i]);
      REQUIRE(first[i] == Approx(own[i]).margin(1e-4));
    }
  }
  nas::set_num_threads(1);
}

TEST_CASE("Conv2d's backward after a oneDNN forward matches finite differences", "[tensor][dnnl]") {
  nas::Rng rng(23);
  const Case grad_cases[] = {
      {2, 16, 16, 6, 6, 3, 1, 1, 1, 1, true},   // 3x3, small: sent to the blocked kernel
      {2, 16, 32, 5, 5, 1, 1, 0, 1, 1, false},  // 1x1: sent to NCHW
      {2, 16, 32, 8, 8, 3, 2, 1, 1, 1, false},  // stride-2 3x3
  };
  for (const Case& c : grad_cases) {
    nas::Conv2d conv({.in_channels = c.c_in, .out_channels = c.c_out, .kernel = c.k, .stride = c.stride, .padding = c.pad,
                      .bias = c.bias},
                     rng);
    nas::Tensor x({c.n, c.c_in, c.h, c.w});
    x.fill_normal(rng);
    REQUIRE(nas::measured_forward_backend(shape_of(c)) != nas::ConvBackend::own);
    const auto r = nas::testing::gradcheck(conv, x, {.eps = 1e-2});
    INFO(r.worst);
    REQUIRE(r.checked > 0);
    REQUIRE(r.max_error < 1e-2);
  }
}

TEST_CASE("dnnl_conv2d_forward rejects the own backend with ConfigError", "[tensor][dnnl]") {
  const nas::kernels::Conv2dShape s;
  float x = 1, w = 1, y = 0;
  REQUIRE_THROWS_AS(nas::dnnl_conv2d_forward(s, &x, &w, nullptr, &y, nas::ConvBackend::own), nas::ConfigError);
}

#endif
