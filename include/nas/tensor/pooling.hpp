// Pooling Modules: MaxPool2d, AvgPool2d (padding excluded from the average) and GlobalAvgPool.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// Geometry shared by the 2-D pools (square windows, floor rounding like PyTorch's
/// default ceil_mode = false).
struct Pool2dOptions {
  int kernel = 3;
  int stride = 0;  ///< 0 means stride = kernel (PyTorch's default)
  int padding = 0;
};

namespace detail {
inline Pool2dOptions checked_pool(const char* where, Pool2dOptions o) {
  if (o.stride == 0) o.stride = o.kernel;
  if (o.kernel < 1) throw ConfigError(std::string(where) + ": kernel (" + std::to_string(o.kernel) + ") must be >= 1");
  if (o.stride < 1) throw ConfigError(std::string(where) + ": stride (" + std::to_string(o.stride) + ") must be >= 1");
  if (o.padding < 0 || 2 * o.padding > o.kernel)
    throw ConfigError(std::string(where) + ": padding (" + std::to_string(o.padding) + ") must be in [0, kernel/2 = " +
                      std::to_string(o.kernel / 2) + "]");
  return o;
}
inline Shape pool_output(const char* where, const Pool2dOptions& o, const Shape& in) {
  if (in.rank() != 4) throw ConfigError(std::string(where) + ": input " + in.str() + " is not NCHW");
  const int ho = (in[2] + 2 * o.padding - o.kernel) / o.stride + 1;
  const int wo = (in[3] + 2 * o.padding - o.kernel) / o.stride + 1;
  if (in[2] + 2 * o.padding < o.kernel || in[3] + 2 * o.padding < o.kernel)
    throw ConfigError(std::string(where) + ": input " + in.str() + " is smaller than the kernel " + std::to_string(o.kernel));
  return Shape{in[0], in[1], ho, wo};
}
}  // namespace detail

/// Maximum over each window; padded positions never win (they act as -infinity).
class MaxPool2d final : public Module {
 public:
  explicit MaxPool2d(const Pool2dOptions& o) : o_(detail::checked_pool("MaxPool2d", o)) {}

  const Tensor& forward(const Tensor& x) override {
    const Shape out = detail::pool_output("MaxPool2d", o_, x.shape());
    in_shape_ = x.shape();
    y_.resize(out);
    argmax_.resize(out.numel());
    const int H = x.dim(2), W = x.dim(3), Ho = out[2], Wo = out[3];
    const int planes = out[0] * out[1];
    const int k = o_.kernel, s = o_.stride, p = o_.padding;
    const float* xd = x.data();
    float* yd = y_.data();
    int* am = argmax_.data();
    const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && out.numel() > detail_grain)
    for (int pl = 0; pl < planes; ++pl) {
      const float* xp = xd + static_cast<std::size_t>(pl) * H * W;
      float* yp = yd + static_cast<std::size_t>(pl) * Ho * Wo;
      int* ap = am + static_cast<std::size_t>(pl) * Ho * Wo;
      for (int oh = 0; oh < Ho; ++oh) {
        const int h0 = std::max(oh * s - p, 0), h1 = std::min(oh * s - p + k, H);
        for (int ow = 0; ow < Wo; ++ow) {
          const int w0 = std::max(ow * s - p, 0), w1 = std::min(ow * s - p + k, W);
          float best = -std::numeric_limits<float>::infinity();
          int arg = h0 * W + w0;
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) {
              const float v = xp[h * W + w];
              if (v > best) {
                best = v;
                arg = h * W + w;
              }
            }
          yp[oh * Wo + ow] = best;
          ap[oh * Wo + ow] = arg;
        }
      }
    }
    return y_;
  }

  const Tensor& backward(const Tensor& dy) override {
    check_shape("MaxPool2d::backward", dy, y_.shape());
    dx_.resize(in_shape_);
    dx_.zero();
    const int HW = in_shape_[2] * in_shape_[3], HoWo = dy.dim(2) * dy.dim(3);
    const int planes = dy.dim(0) * dy.dim(1);
    const float* g = dy.data();
    float* d = dx_.data();
    const int* am = argmax_.data();
    const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && dy.numel() > detail_grain)
    for (int pl = 0; pl < planes; ++pl) {
      float* dp = d + static_cast<std::size_t>(pl) * HW;
      const float* gp = g + static_cast<std::size_t>(pl) * HoWo;
      const int* ap = am + static_cast<std::size_t>(pl) * HoWo;
      for (int i = 0; i < HoWo; ++i) dp[ap[i]] += gp[i];
    }
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return detail::pool_output("MaxPool2d", o_, in); }
  [[nodiscard]] std::string type_name() const override { return "MaxPool2d"; }
  [[nodiscard]] const Pool2dOptions& options() const noexcept { return o_; }

 private:
  static constexpr std::size_t detail_grain = 16384;
  Pool2dOptions o_;
  Shape in_shape_;
  std::vector<int> argmax_;
  Tensor y_, dx_;
};

/// Mean over each window. With `count_include_pad = false` (the default, as NAS-Bench-201
/// and DARTS configure torch.nn.AvgPool2d) the divisor is the number of input pixels
/// inside the window; with true it is kernel*kernel.
class AvgPool2d final : public Module {
 public:
  explicit AvgPool2d(const Pool2dOptions& o, bool count_include_pad = false)
      : o_(detail::checked_pool("AvgPool2d", o)), include_pad_(count_include_pad) {}

  const Tensor& forward(const Tensor& x) override {
    const Shape out = detail::pool_output("AvgPool2d", o_, x.shape());
    in_shape_ = x.shape();
    y_.resize(out);
    const int H = x.dim(2), W = x.dim(3), Ho = out[2], Wo = out[3];
    const int planes = out[0] * out[1];
    const float* xd = x.data();
    float* yd = y_.data();
    const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && out.numel() > grain)
    for (int pl = 0; pl < planes; ++pl) {
      const float* xp = xd + static_cast<std::size_t>(pl) * H * W;
      float* yp = yd + static_cast<std::size_t>(pl) * Ho * Wo;
      for (int oh = 0; oh < Ho; ++oh) {
        int h0, h1;
        rows(oh, H, h0, h1);
        for (int ow = 0; ow < Wo; ++ow) {
          int w0, w1;
          rows(ow, W, w0, w1);
          float sum = 0.0f;
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) sum += xp[h * W + w];
          yp[oh * Wo + ow] = sum / divisor(h0, h1, w0, w1);
        }
      }
    }
    return y_;
  }

  const Tensor& backward(const Tensor& dy) override {
    check_shape("AvgPool2d::backward", dy, y_.shape());
    dx_.resize(in_shape_);
    dx_.zero();
    const int H = in_shape_[2], W = in_shape_[3], Ho = dy.dim(2), Wo = dy.dim(3);
    const int planes = dy.dim(0) * dy.dim(1);
    const float* g = dy.data();
    float* d = dx_.data();
    const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && dy.numel() > grain)
    for (int pl = 0; pl < planes; ++pl) {
      float* dp = d + static_cast<std::size_t>(pl) * H * W;
      const float* gp = g + static_cast<std::size_t>(pl) * Ho * Wo;
      for (int oh = 0; oh < Ho; ++oh) {
        int h0, h1;
        rows(oh, H, h0, h1);
        for (int ow = 0; ow < Wo; ++ow) {
          int w0, w1;
          rows(ow, W, w0, w1);
          const float v = gp[oh * Wo + ow] / divisor(h0, h1, w0, w1);
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) dp[h * W + w] += v;
        }
      }
    }
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return detail::pool_output("AvgPool2d", o_, in); }
  [[nodiscard]] std::string type_name() const override { return "AvgPool2d"; }
  [[nodiscard]] const Pool2dOptions& options() const noexcept { return o_; }
  [[nodiscard]] bool count_include_pad() const noexcept { return include_pad_; }

 private:
  static constexpr std::size_t grain = 16384;
  void rows(int o, int n, int& lo, int& hi) const noexcept {
    lo = std::max(o * o_.stride - o_.padding, 0);
    hi = std::min(o * o_.stride - o_.padding + o_.kernel, n);
  }
  float divisor(int h0, int h1, int w0, int w1) const noexcept {
    return include_pad_ ? static_cast<float>(o_.kernel * o_.kernel) : static_cast<float>((h1 - h0) * (w1 - w0));
  }

  Pool2dOptions o_;
  bool include_pad_;
  Shape in_shape_;
  Tensor y_, dx_;
};

/// Mean over H and W: [N, C, H, W] -> [N, C] (AdaptiveAvgPool2d(1) followed by a flatten).
class GlobalAvgPool final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    if (x.rank() != 4) throw ConfigError("GlobalAvgPool: input " + x.shape().str() + " is not NCHW");
    in_shape_ = x.shape();
    const int planes = x.dim(0) * x.dim(1);
    const std::size_t hw = static_cast<std::size_t>(x.dim(2)) * static_cast<std::size_t>(x.dim(3));
    y_.resize(Shape{x.dim(0), x.dim(1)});
    const float* xd = x.data();
    const float inv = 1.0f / static_cast<float>(hw);
    for (int pl = 0; pl < planes; ++pl) {
      const float* p = xd + static_cast<std::size_t>(pl) * hw;
      float s = 0.0f;
      for (std::size_t i = 0; i < hw; ++i) s += p[i];
      y_[static_cast<std::size_t>(pl)] = s * inv;
    }
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("GlobalAvgPool::backward", dy, y_.shape());
    dx_.resize(in_shape_);
    const int planes = in_shape_[0] * in_shape_[1];
    const std::size_t hw = static_cast<std::size_t>(in_shape_[2]) * static_cast<std::size_t>(in_shape_[3]);
    const float inv = 1.0f / static_cast<float>(hw);
    float* d = dx_.data();
    for (int pl = 0; pl < planes; ++pl) {
      const float v = dy[static_cast<std::size_t>(pl)] * inv;
      float* p = d + static_cast<std::size_t>(pl) * hw;
      for (std::size_t i = 0; i < hw; ++i) p[i] = v;
    }
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4) throw ConfigError("GlobalAvgPool: input " + in.str() + " is not NCHW");
    return Shape{in[0], in[1]};
  }
  [[nodiscard]] std::string type_name() const override { return "GlobalAvgPool"; }

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace nas
