// NaN propagates through ReLU, max pooling and the fused ReLU-into-convolution paths, as in
// PyTorch: a diverged network must not look healthy because an op swallowed its NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>

namespace {
constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();

nas::Tensor ramp(const nas::Shape& s) {
  nas::Tensor t(s);
  for (std::size_t i = 0; i < t.numel(); ++i) t[i] = 0.01f * static_cast<float>(static_cast<int>(i % 37) - 18);
  return t;
}

// Output pixels (per image and channel) whose window, for a kernel k / stride s / padding p,
// covers input pixel (r, c) of a plane of width w.
bool covers(int oh, int ow, int r, int c, int k, int s, int p) {
  return oh * s - p <= r && r < oh * s - p + k && ow * s - p <= c && c < ow * s - p + k;
}
}  // namespace

TEST_CASE("ReLU passes NaN forward and its gradient backward, as PyTorch does", "[tensor][nan]") {
  nas::ReLU relu;
  nas::Tensor x({1, 1, 1, 4});
  x[0] = -1.0f;
  x[1] = nan_f;
  x[2] = 2.0f;
  x[3] = std::numeric_limits<float>::infinity();
  const nas::Tensor& y = relu.forward(x);
  CHECK(y[0] == 0.0f);
  CHECK(std::isnan(y[1]));
  CHECK(y[2] == 2.0f);
  CHECK(std::isinf(y[3]));
  nas::Tensor dy({1, 1, 1, 4});
  dy.fill(3.0f);
  const nas::Tensor& dx = relu.backward(dy);
  CHECK(dx[0] == 0.0f);
  CHECK(dx[1] == 3.0f);  // torch: threshold_backward passes the gradient where the input is NaN
  CHECK(dx[2] == 3.0f);
}

TEST_CASE("max pooling takes a NaN in its window, and sends its gradient there", "[tensor][nan]") {
  for (int s : {1, 2}) {
    nas::MaxPool2d pool({.kernel = 3, .stride = s, .padding = 1});
    nas::Tensor x = ramp({1, 2, 6, 6});
    x[2 * 6 + 3] = nan_f;  // channel 0, row 2, column 3
    const nas::Tensor& y = pool.forward(x);
    const int ho = y.shape()[2], wo = y.shape()[3];
    int nans = 0;
    for (int oh = 0; oh < ho; ++oh)
      for (int ow = 0; ow < wo; ++ow) {
        const bool expect = covers(oh, ow, 2, 3, 3, s, 1);
        INFO("stride " << s << " output " << oh << "," << ow);
        CHECK(std::isnan(y[static_cast<std::size_t>(oh * wo + ow)]) == expect);
        CHECK_FALSE(std::isnan(y[static_cast<std::size_t>(ho * wo + oh * wo + ow)]));  // channel 1 is clean
        nans += expect;
      }
    REQUIRE(nans > 0);
    nas::Tensor dy(y.shape());
    dy.fill(1.0f);
    const nas::Tensor& dx = pool.backward(dy);
    CHECK(dx[2 * 6 + 3] == static_cast<float>(nans));  // every window holding the NaN picked it
  }
}

TEST_CASE("a ReLU fused into the next convolution keeps NaN, in training and in inference", "[tensor][nan]") {
  // 1x1 (pointwise), 3x3 stride 1 (direct kernels) and 3x3 stride 2 (im2col): the paths
  // that read max(x, 0) while they copy the input.
  struct Geometry {
    int kernel, stride, padding;
  };
  for (const Geometry g : {Geometry{1, 1, 0}, Geometry{3, 1, 1}, Geometry{3, 2, 1}, Geometry{5, 1, 2}}) {
    INFO("kernel " << g.kernel << " stride " << g.stride);
    nas::Rng rng(3);
    nas::Sequential seq;
    seq.emplace<nas::ReLU>();
    seq.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 4, .out_channels = 8, .kernel = g.kernel, .stride = g.stride,
                                                  .padding = g.padding},
                             rng);
    nas::Tensor x = ramp({2, 4, 12, 12});
    x[(1 * 4 + 2) * 144 + 5 * 12 + 7] = nan_f;  // image 1, channel 2, row 5, column 7
    for (bool training : {true, false}) {
      INFO((training ? "training" : "inference"));
      seq.train(training);
      const nas::Tensor& y = seq.forward(x);
      const int ho = y.shape()[2], wo = y.shape()[3];
      int nans = 0;
      for (int c = 0; c < 8; ++c)
        for (int oh = 0; oh < ho; ++oh)
          for (int ow = 0; ow < wo; ++ow) {
            const bool expect = covers(oh, ow, 5, 7, g.kernel, g.stride, g.padding);
            const auto at = [&](int n) { return y[static_cast<std::size_t>(((n * 8 + c) * ho + oh) * wo + ow)]; };
            CHECK(std::isnan(at(1)) == expect);
            CHECK_FALSE(std::isnan(at(0)));
            nans += expect;
          }
      CHECK(nans == 8 * (g.kernel == 1 ? 1 : (g.stride == 1 ? g.kernel * g.kernel : 4)));
    }
  }
}

TEST_CASE("BatchNorm in training spreads a NaN over its channel, so the loss sees it", "[tensor][nan]") {
  nas::BatchNorm2d bn({.channels = 2});
  nas::Tensor x = ramp({2, 2, 3, 3});
  x[4] = nan_f;  // channel 0 of image 0
  const nas::Tensor& y = bn.forward(x);
  CHECK(std::isnan(y[0]));
  CHECK(std::isnan(y[2 * 9 + 1]));       // channel 0 of image 1: the batch statistics are NaN
  CHECK_FALSE(std::isnan(y[9 + 1]));     // channel 1 is clean
}
