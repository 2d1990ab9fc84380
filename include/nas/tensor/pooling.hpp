// Pooling Modules: MaxPool2d, AvgPool2d (padding excluded from the average) and GlobalAvgPool.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/trace.hpp"

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
// Copies an H x W plane into the middle of a (H + 2p) x (W + 2p) buffer whose border is
// `border`, so the pooling loops run without bounds checks and vectorise along rows.
inline void pad_plane(const float* src, int H, int W, int p, float border, float* dst) {
  const int Wp = W + 2 * p;
  for (int i = 0; i < p * Wp; ++i) dst[i] = border;
  for (int h = 0; h < H; ++h) {
    float* row = dst + (h + p) * Wp;
    for (int w = 0; w < p; ++w) row[w] = border;
    std::copy_n(src + h * W, W, row + p);
    for (int w = W + p; w < Wp; ++w) row[w] = border;
  }
  float* tail = dst + (H + p) * Wp;
  for (int i = 0; i < p * Wp; ++i) tail[i] = border;
}
// Number of input pixels (not padding) under window position o along an axis of size n.
inline int window_count(int o, int stride, int pad, int kernel, int n) {
  return std::min(o * stride - pad + kernel, n) - std::max(o * stride - pad, 0);
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
    const int k = o_.kernel, s = o_.stride, p = o_.padding, Wp = W + 2 * p;
    const std::size_t padded = static_cast<std::size_t>(H + 2 * p) * static_cast<std::size_t>(Wp);
    const float* xd = x.data();
    float* yd = y_.data();
    int* am = argmax_.data();
    // Padded positions hold -infinity and comparisons are strict, so they never win and
    // ties go to the first maximum in scan order, as in PyTorch.
    detail::parallel_for(planes, out.numel(), [&](int pl) {
      float* pad = p > 0 ? thread_workspace().buffer(pool_slot, padded) : nullptr;
      max_plane(xd + static_cast<std::size_t>(pl) * H * W, pad, yd + static_cast<std::size_t>(pl) * Ho * Wo,
                am + static_cast<std::size_t>(pl) * Ho * Wo, H, W, Ho, Wo, k, s, p);
    });
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
    detail::parallel_for(planes, dy.numel(), [&](int pl) {
      float* dp = d + static_cast<std::size_t>(pl) * HW;
      const float* gp = g + static_cast<std::size_t>(pl) * HoWo;
      const int* ap = am + static_cast<std::size_t>(pl) * HoWo;
      for (int i = 0; i < HoWo; ++i) dp[ap[i]] += gp[i];
    });
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return detail::pool_output("MaxPool2d", o_, in); }
  [[nodiscard]] std::string type_name() const override { return "MaxPool2d"; }
  void release_buffers() override {
    release(y_, dx_);
    std::vector<int>().swap(argmax_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::max_pool2d, {x}, output_shape(t.shape(x)));
    n.pool = PoolGeometry{o_.kernel, o_.stride, o_.padding, false};
    return t.add(std::move(n));
  }
  [[nodiscard]] const Pool2dOptions& options() const noexcept { return o_; }

 private:
  static constexpr std::size_t pool_slot = 8;  // thread_workspace() slot for the padded plane

  // One plane. Sizes are by-value parameters so that the int stores into the argmax
  // cannot alias them, which lets the row loops vectorise.
  static void max_plane(const float* xp, float* pad, float* yp, int* ap, int H, int W, int Ho, int Wo, int k, int s,
                        int p) {
    const int Wp = W + 2 * p;
    if (p > 0) detail::pad_plane(xp, H, W, p, -std::numeric_limits<float>::infinity(), pad);
    const float* src = p > 0 ? pad : xp;
    const int sw = p > 0 ? Wp : W;
    for (int oh = 0; oh < Ho; ++oh) {
      float* __restrict best = yp + oh * Wo;
      int* __restrict arg = ap + oh * Wo;
      for (int ow = 0; ow < Wo; ++ow) {
        best[ow] = -std::numeric_limits<float>::infinity();
        arg[ow] = std::max(oh * s - p, 0) * W + std::max(ow * s - p, 0);
      }
      for (int kh = 0; kh < k; ++kh) {
        const float* row = src + (oh * s + kh) * sw;
        const int base = (oh * s + kh - p) * W - p;
        for (int kw = 0; kw < k; ++kw) {
          const float* __restrict in = row + kw;
          if (s == 1) {
            for (int ow = 0; ow < Wo; ++ow) {
              const float v = in[ow], b = best[ow];
              const bool take = v > b || v != v;  // NaN wins and stays, as in PyTorch
              best[ow] = take ? v : b;
              arg[ow] = take ? base + ow + kw : arg[ow];
            }
          } else {
            for (int ow = 0; ow < Wo; ++ow) {
              const float v = in[ow * s], b = best[ow];
              const bool take = v > b || v != v;
              best[ow] = take ? v : b;
              arg[ow] = take ? base + ow * s + kw : arg[ow];
            }
          }
        }
      }
    }
  }
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
    const int k = o_.kernel, s = o_.stride, p = o_.padding, Wp = W + 2 * p;
    const std::size_t padded = static_cast<std::size_t>(H + 2 * p) * static_cast<std::size_t>(Wp);
    // 1 / divisor for every output position (the same for all planes).
    inv_.resize(Shape{Ho, Wo});
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow)
        inv_[static_cast<std::size_t>(oh * Wo + ow)] =
            include_pad_ ? 1.0f / static_cast<float>(k * k)
                         : 1.0f / static_cast<float>(detail::window_count(oh, s, p, k, H) * detail::window_count(ow, s, p, k, W));
    const float* inv = inv_.data();
    const float* xd = x.data();
    float* yd = y_.data();
    detail::parallel_for(planes, out.numel(), [&](int pl) {
      float* pad = p > 0 ? thread_workspace().buffer(pool_slot, padded) : nullptr;
      const float* xp = xd + static_cast<std::size_t>(pl) * H * W;
      if (p > 0) detail::pad_plane(xp, H, W, p, 0.0f, pad);
      const float* src = p > 0 ? pad : xp;
      const int sw = p > 0 ? Wp : W;
      float* yp = yd + static_cast<std::size_t>(pl) * Ho * Wo;
      if (s == 1) {
        // Stride 1: output (oh, ow) is the sum of src[(oh + kh) sw + ow + kw]. Summed over
        // rows sw wide (their last sw - Wo entries are not outputs), each of the k*k passes
        // is one long contiguous loop instead of Ho short ones; every output adds the same
        // floats in the same order, so the result is the same to the bit.
        const std::size_t n = static_cast<std::size_t>(Ho - 1) * static_cast<std::size_t>(sw) + static_cast<std::size_t>(Wo);
        float* __restrict acc = thread_workspace().buffer(pool_slot + 1, n);
        std::fill_n(acc, n, 0.0f);
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const float* __restrict in = src + kh * sw + kw;
            for (std::size_t i = 0; i < n; ++i) acc[i] += in[i];
          }
        for (int oh = 0; oh < Ho; ++oh) {
          const float* __restrict a = acc + static_cast<std::size_t>(oh) * static_cast<std::size_t>(sw);
          const float* __restrict iv = inv + oh * Wo;
          float* __restrict o = yp + oh * Wo;
          for (int ow = 0; ow < Wo; ++ow) o[ow] = a[ow] * iv[ow];
        }
        return;
      }
      for (int oh = 0; oh < Ho; ++oh) {
        float* __restrict acc = yp + oh * Wo;
        for (int ow = 0; ow < Wo; ++ow) acc[ow] = 0.0f;
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const float* __restrict in = src + (oh * s + kh) * sw + kw;
            for (int ow = 0; ow < Wo; ++ow) acc[ow] += in[ow * s];
          }
        const float* __restrict iv = inv + oh * Wo;
        for (int ow = 0; ow < Wo; ++ow) acc[ow] *= iv[ow];
      }
    });
    return y_;
  }

  const Tensor& backward(const Tensor& dy) override {
    check_shape("AvgPool2d::backward", dy, y_.shape());
    dx_.resize(in_shape_);
    const int H = in_shape_[2], W = in_shape_[3], Ho = dy.dim(2), Wo = dy.dim(3);
    const int planes = dy.dim(0) * dy.dim(1);
    const int k = o_.kernel, s = o_.stride, p = o_.padding, Wp = W + 2 * p;
    const std::size_t padded = static_cast<std::size_t>(H + 2 * p) * static_cast<std::size_t>(Wp);
    const float* inv = inv_.data();
    const float* g = dy.data();
    float* d = dx_.data();
    detail::parallel_for(planes, dy.numel(), [&](int pl) {
      Workspace& ws = thread_workspace();
      float* dp = d + static_cast<std::size_t>(pl) * H * W;
      // Accumulate into a padded plane (or straight into dx without padding).
      float* acc = p > 0 ? ws.buffer(pool_slot, padded) : dp;
      const int sw = p > 0 ? Wp : W;
      std::fill_n(acc, p > 0 ? padded : static_cast<std::size_t>(H) * W, 0.0f);
      const float* gp = g + static_cast<std::size_t>(pl) * Ho * Wo;
      if (s == 1) {
        // Stride 1, as in forward: the scaled gradient laid out in rows sw wide (zeros past
        // Wo), then one contiguous pass per (kh, kw). kh runs from k - 1 down, so that every
        // input position takes its terms in the order of the row-by-row loop below (rising
        // oh); adding the zeros changes nothing (a sum that starts at +0 is never -0), so
        // the gradient is the same to the bit.
        const std::size_t n = static_cast<std::size_t>(Ho - 1) * static_cast<std::size_t>(sw) + static_cast<std::size_t>(Wo);
        float* __restrict v = ws.buffer(pool_slot + 1, n);
        for (int oh = 0; oh < Ho; ++oh) {
          float* __restrict vr = v + static_cast<std::size_t>(oh) * static_cast<std::size_t>(sw);
          for (int ow = 0; ow < Wo; ++ow) vr[ow] = gp[oh * Wo + ow] * inv[oh * Wo + ow];
          if (oh + 1 < Ho) std::fill(vr + Wo, vr + sw, 0.0f);
        }
        for (int kh = k - 1; kh >= 0; --kh)
          for (int kw = 0; kw < k; ++kw) {
            float* __restrict out = acc + kh * sw + kw;
            for (std::size_t i = 0; i < n; ++i) out[i] += v[i];
          }
      } else {
        float* row = ws.buffer(pool_slot + 1, static_cast<std::size_t>(Wo));
        for (int oh = 0; oh < Ho; ++oh) {
          for (int ow = 0; ow < Wo; ++ow) row[ow] = gp[oh * Wo + ow] * inv[oh * Wo + ow];
          for (int kh = 0; kh < k; ++kh)
            for (int kw = 0; kw < k; ++kw) {
              float* __restrict out = acc + (oh * s + kh) * sw + kw;
              const float* __restrict v = row;
              for (int ow = 0; ow < Wo; ++ow) out[ow * s] += v[ow];
            }
        }
      }
      if (p > 0)
        for (int h = 0; h < H; ++h) std::copy_n(acc + (h + p) * Wp + p, W, dp + h * W);
    });
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return detail::pool_output("AvgPool2d", o_, in); }
  [[nodiscard]] std::string type_name() const override { return "AvgPool2d"; }
  void release_buffers() override {
    release(inv_, y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::avg_pool2d, {x}, output_shape(t.shape(x)));
    n.pool = PoolGeometry{o_.kernel, o_.stride, o_.padding, include_pad_};
    return t.add(std::move(n));
  }
  [[nodiscard]] const Pool2dOptions& options() const noexcept { return o_; }
  [[nodiscard]] bool count_include_pad() const noexcept { return include_pad_; }

 private:
  static constexpr std::size_t pool_slot = 8;  // thread_workspace() slots 8 and 9

  Pool2dOptions o_;
  bool include_pad_;
  Shape in_shape_;
  Tensor inv_, y_, dx_;
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
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::global_avg_pool, x, output_shape(t.shape(x))); }

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace nas
