// MaxPool2d, AvgPool2d (padding excluded from the count) and GlobalAvgPool.
#include <catch2/catch.hpp>

#include <nas/tensor/pooling.hpp>
#include <nas/testing/compare.hpp>
#include <nas/testing/gradcheck.hpp>

#include <vector>

namespace {
nas::Tensor iota(const nas::Shape& s) {
  nas::Tensor t(s);
  for (std::size_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i);
  return t;
}
// Distinct values in random order, spaced far wider than the finite-difference step.
nas::Tensor distinct(const nas::Shape& s, nas::Rng& rng) {
  nas::Tensor t(s);
  std::vector<float> v(t.numel());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>(i) - 0.05f * static_cast<float>(v.size());
  rng.shuffle(v);
  for (std::size_t i = 0; i < v.size(); ++i) t[i] = v[i];
  return t;
}
}  // namespace

TEST_CASE("MaxPool2d 3x3 stride 1 padding 1 keeps the size and takes window maxima", "[tensor][pool]") {
  nas::MaxPool2d pool({.kernel = 3, .stride = 1, .padding = 1});
  const nas::Tensor x = iota({1, 1, 3, 3});  // 0..8 row-major
  const nas::Tensor& y = pool.forward(x);
  REQUIRE(y.shape() == nas::Shape{1, 1, 3, 3});
  REQUIRE(y[0] == 4.0f);  // window rows 0-1, cols 0-1
  REQUIRE(y[4] == 8.0f);
  REQUIRE(y[6] == 7.0f);
  nas::Tensor neg({1, 1, 2, 2});
  neg.fill(-5.0f);  // padding must never win
  REQUIRE(pool.forward(neg)[0] == -5.0f);
}

TEST_CASE("AvgPool2d excludes padding from the divisor unless asked to include it", "[tensor][pool]") {
  const nas::Tensor x = iota({1, 1, 3, 3});
  nas::AvgPool2d exclude({.kernel = 3, .stride = 1, .padding = 1});
  const nas::Tensor& y = exclude.forward(x);
  REQUIRE(y[0] == Approx((0 + 1 + 3 + 4) / 4.0));
  REQUIRE(y[4] == Approx(4.0));
  REQUIRE(y[1] == Approx((0 + 1 + 2 + 3 + 4 + 5) / 6.0));
  nas::AvgPool2d include({.kernel = 3, .stride = 1, .padding = 1}, true);
  REQUIRE(include.forward(x)[0] == Approx((0 + 1 + 3 + 4) / 9.0));
  nas::AvgPool2d down({.kernel = 2, .stride = 2});
  const nas::Tensor x4 = iota({1, 1, 4, 4});
  const nas::Tensor& d = down.forward(x4);
  REQUIRE(d.shape() == nas::Shape{1, 1, 2, 2});
  REQUIRE(d[3] == Approx((10 + 11 + 14 + 15) / 4.0));
}

TEST_CASE("Pool output sizes follow PyTorch's floor rule for stride 2 with padding", "[tensor][pool]") {
  nas::MaxPool2d pool({.kernel = 3, .stride = 2, .padding = 1});
  REQUIRE(pool.output_shape({2, 4, 7, 8}) == nas::Shape{2, 4, 4, 4});
  nas::AvgPool2d avg({.kernel = 3, .stride = 2, .padding = 1});
  REQUIRE(avg.output_shape({2, 4, 32, 32}) == nas::Shape{2, 4, 16, 16});
  REQUIRE_THROWS_AS(nas::MaxPool2d({.kernel = 3, .stride = 1, .padding = 2}), nas::ConfigError);
}

TEST_CASE("Pool backward matches finite differences with padding and stride", "[tensor][pool]") {
  nas::Rng rng(3);
  for (int stride : {1, 2}) {
    nas::MaxPool2d maxp({.kernel = 3, .stride = stride, .padding = 1});
    const auto rm = nas::testing::gradcheck(maxp, distinct({2, 2, 5, 5}, rng), {.eps = 1e-2});
    INFO("max stride " << stride << ": " << rm.worst);
    REQUIRE(rm.max_error < 1e-3);
    for (bool inc : {false, true}) {
      nas::AvgPool2d avgp({.kernel = 3, .stride = stride, .padding = 1}, inc);
      nas::Tensor x({2, 2, 5, 6});
      x.fill_normal(rng);
      const auto ra = nas::testing::gradcheck(avgp, x);
      INFO("avg stride " << stride << " include_pad " << inc << ": " << ra.worst);
      REQUIRE(ra.max_error < 1e-3);
    }
  }
}

TEST_CASE("GlobalAvgPool averages each plane into [N, C] and spreads the gradient evenly", "[tensor][pool]") {
  nas::GlobalAvgPool gap;
  const nas::Tensor x = iota({2, 3, 2, 2});
  const nas::Tensor& y = gap.forward(x);
  REQUIRE(y.shape() == nas::Shape{2, 3});
  REQUIRE(y.at(1, 2) == Approx((20 + 21 + 22 + 23) / 4.0));
  nas::Rng rng(4);
  nas::Tensor z({2, 3, 3, 3});
  z.fill_normal(rng);
  const auto r = nas::testing::gradcheck(gap, z);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-3);
}

// The window sums in the order the reference loops take (output row, then kernel row and
// column, then output column): the kernels' faster paths (stride 1 summed over whole
// planes) must give these floats exactly.
TEST_CASE("AvgPool2d forward and backward equal a direct per-window sum bit for bit", "[tensor][pool]") {
  nas::Rng rng(11);
  int cases = 0;
  for (int k : {1, 2, 3, 5})
    for (int p = 0; p <= k / 2; ++p)
      for (int s : {1, 2})
        for (int h : {5, 8, 13})
          for (bool include_pad : {false, true}) {
            const int w = h + 2;
            nas::AvgPool2d pool({.kernel = k, .stride = s, .padding = p}, include_pad);
            nas::Tensor x({2, 3, h, w});
            x.fill_normal(rng);
            const nas::Tensor& y = pool.forward(x);
            const int ho = y.dim(2), wo = y.dim(3);
            nas::Tensor dy(y.shape());
            dy.fill_normal(rng);
            const nas::Tensor& dx = pool.backward(dy);
            nas::Tensor ry(y.shape()), rdx(x.shape());
            rdx.zero();
            auto count = [&](int o, int n) {
              int c = 0;
              for (int j = 0; j < k; ++j) c += (o * s - p + j >= 0 && o * s - p + j < n) ? 1 : 0;
              return c;
            };
            for (int pl = 0; pl < 6; ++pl)
              for (int oh = 0; oh < ho; ++oh) {
                std::vector<float> acc(static_cast<std::size_t>(wo), 0.0f), inv(static_cast<std::size_t>(wo));
                for (int ow = 0; ow < wo; ++ow)
                  inv[ow] = include_pad ? 1.0f / static_cast<float>(k * k) : 1.0f / static_cast<float>(count(oh, h) * count(ow, w));
                // The scaled gradient is rounded before it is added (no fused multiply-add).
                std::vector<float> g(static_cast<std::size_t>(wo));
                for (int ow = 0; ow < wo; ++ow) g[ow] = dy[(static_cast<std::size_t>(pl) * ho + oh) * wo + ow] * inv[ow];
                for (int kh = 0; kh < k; ++kh)
                  for (int kw = 0; kw < k; ++kw)
                    for (int ow = 0; ow < wo; ++ow) {
                      const int ih = oh * s - p + kh, iw = ow * s - p + kw;
                      if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                      const std::size_t at = (static_cast<std::size_t>(pl) * h + ih) * w + iw;
                      acc[ow] += x[at];
                      rdx[at] += g[ow];
                    }
                for (int ow = 0; ow < wo; ++ow) ry[(static_cast<std::size_t>(pl) * ho + oh) * wo + ow] = acc[ow] * inv[ow];
              }
            INFO("k " << k << " stride " << s << " padding " << p << " h " << h << " include_pad " << include_pad);
            CHECK(nas::testing::same_bits(y, ry));
            CHECK(nas::testing::same_bits(dx, rdx));
            ++cases;
          }
  CHECK(cases == 96);
}
