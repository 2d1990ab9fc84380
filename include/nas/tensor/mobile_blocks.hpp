// Blocks of mobile networks: channel-wise scaling, squeeze-and-excitation, the inverted residual block, Conv-BN-ReLU.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/linear.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// y[n, c, h, w] = x[n, c, h, w] * s[n, c]: x is [N, C, H, W], s is [N, C] (or [N, C, 1, 1]).
/// `y` is resized to x's shape.
inline void channel_scale(const Tensor& x, const Tensor& s, Tensor& y) {
  if (x.rank() != 4 || s.numel() != static_cast<std::size_t>(x.dim(0)) * static_cast<std::size_t>(x.dim(1)))
    throw ConfigError("channel_scale: input " + x.shape().str() + " and scale " + s.shape().str() +
                      " (expected [N, C, H, W] and [N, C])");
  y.resize(x.shape());
  const std::size_t hw = static_cast<std::size_t>(x.dim(2)) * static_cast<std::size_t>(x.dim(3));
  const float* xd = x.data();
  const float* sd = s.data();
  float* yd = y.data();
  detail::parallel_for(x.dim(0) * x.dim(1), x.numel(), [=](int pl) {
    const float* __restrict a = xd + static_cast<std::size_t>(pl) * hw;
    float* __restrict b = yd + static_cast<std::size_t>(pl) * hw;
    const float k = sd[pl];
    for (std::size_t i = 0; i < hw; ++i) b[i] = a[i] * k;
  });
}

/// The gradients of channel_scale: dx = dy * s (per channel), ds[n, c] = sum over h, w of
/// dy * x. `dx` is resized to x's shape and `ds` to [N, C]; both are overwritten.
inline void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor& dx, Tensor& ds) {
  check_shape("channel_scale_backward", dy, x.shape());
  dx.resize(x.shape());
  ds.resize(Shape{x.dim(0), x.dim(1)});
  const std::size_t hw = static_cast<std::size_t>(x.dim(2)) * static_cast<std::size_t>(x.dim(3));
  const float* xd = x.data();
  const float* sd = s.data();
  const float* gd = dy.data();
  float* dxd = dx.data();
  float* dsd = ds.data();
  detail::parallel_for(x.dim(0) * x.dim(1), x.numel(), [=](int pl) {
    const std::size_t off = static_cast<std::size_t>(pl) * hw;
    const float* __restrict a = xd + off;
    const float* __restrict g = gd + off;
    float* __restrict d = dxd + off;
    const float k = sd[pl];
    float acc = 0.0f;
    for (std::size_t i = 0; i < hw; ++i) {
      d[i] = g[i] * k;
      acc += g[i] * a[i];
    }
    dsd[pl] = acc;
  });
}

/// Squeeze-and-excitation (Hu et al. 2018), as MnasNet and EfficientNet place it inside
/// the inverted residual block: s = sigmoid(fc2(relu(fc1(global_avg_pool(x))))), y = x * s
/// per channel. fc1 maps C to `reduced` channels and fc2 back, both with a bias (the 1x1
/// convolutions of the reference code on a 1x1 map are these linear layers). Parameter
/// paths "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias".
class SqueezeExcite final : public Module {
 public:
  SqueezeExcite(int channels, int reduced, Rng& rng, Init init = Init::torch_default)
      : fc1_(checked({.in_features = channels, .out_features = reduced, .init = init}), rng),
        fc2_({.in_features = reduced, .out_features = channels, .init = init}, rng) {}

  const Tensor& forward(const Tensor& x) override {
    if (x.rank() != 4 || x.dim(1) != channels())
      throw ConfigError("SqueezeExcite: input " + x.shape().str() + " (expected [N, " + std::to_string(channels()) + ", H, W])");
    x_ = &x;
    const Tensor& p = reported(pool_, pool_.forward(x));
    const Tensor& h = reported(fc1_, fc1_.forward(p));
    const Tensor& r = reported(relu_, relu_.forward(h));
    const Tensor& z = reported(fc2_, fc2_.forward(r));
    s_ = &reported(gate_, gate_.forward(z));
    channel_scale(x, *s_, y_);
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    NAS_ASSERT(x_ != nullptr, "SqueezeExcite::backward before forward");
    channel_scale_backward(*x_, *s_, dy, dx_, ds_);
    const Tensor& dz = observed_backward(gate_, ds_);
    const Tensor& dr = observed_backward(fc2_, dz);
    const Tensor& dh = observed_backward(relu_, dr);
    const Tensor& dp = observed_backward(fc1_, dh);
    add_into(dx_, observed_backward(pool_, dp));
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[1] != channels())
      throw ConfigError("SqueezeExcite: input " + in.str() + " (expected [N, " + std::to_string(channels()) + ", H, W])");
    return in;
  }
  /// The two linear layers' multiply-accumulates (Module::macs' rule: in * out + out each).
  [[nodiscard]] double macs(const Shape& in) const override {
    const Shape p{1, in[1]};
    return fc1_.macs(p) + fc2_.macs(fc1_.output_shape(p));
  }
  [[nodiscard]] std::string type_name() const override { return "SqueezeExcite"; }
  void release_buffers() override {
    release(y_, dx_, ds_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    int s = t.child("pool", pool_, x);
    s = t.child("fc1", fc1_, s);
    s = t.child("relu", relu_, s);
    s = t.child("fc2", fc2_, s);
    s = t.child("gate", gate_, s);
    return t.add(t.node(NodeKind::channel_scale, {x, s}, t.shape(x)));
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    f("pool", pool_);
    f("fc1", fc1_);
    f("relu", relu_);
    f("fc2", fc2_);
    f("gate", gate_);
  }

  [[nodiscard]] int channels() const noexcept { return fc1_.options().in_features; }
  [[nodiscard]] int reduced() const noexcept { return fc1_.options().out_features; }

 private:
  static Linear::Options checked(Linear::Options o) {
    if (o.in_features < 1 || o.out_features < 1)
      throw ConfigError("SqueezeExcite: channels (" + std::to_string(o.in_features) + ") and reduced channels (" +
                        std::to_string(o.out_features) + ") must be >= 1");
    return o;
  }
  static const Tensor& reported(const Module& m, const Tensor& y) {
    report_forward(m, y);
    return y;
  }

  GlobalAvgPool pool_;
  Linear fc1_;
  ReLU relu_;
  Linear fc2_;
  Sigmoid gate_;
  const Tensor* x_ = nullptr;
  const Tensor* s_ = nullptr;
  Tensor y_, dx_, ds_;
};

/// Conv2d (k x k, stride, padding k / 2, no bias) -> BatchNorm2d -> ReLU: the head
/// convolution of MobileNetV2-style networks. Parameter paths "0.weight", "1.weight", "1.bias".
class ConvBNReLU final : public Sequential {
 public:
  ConvBNReLU(int in_channels, int out_channels, int kernel, int stride, Rng& rng, Init init = Init::torch_default) {
    emplace<Conv2d>(Conv2d::Options{.in_channels = in_channels, .out_channels = out_channels, .kernel = kernel,
                                    .stride = stride, .padding = kernel / 2, .init = init},
                    rng);
    emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = out_channels});
    emplace<ReLU>();
  }
  [[nodiscard]] std::string type_name() const override { return "ConvBNReLU"; }
};

/// MobileNetV2's inverted residual block (Sandler et al. 2018), MnasNet's MBConv (Tan et
/// al. 2019): a 1x1 expansion to C_mid = expansion * C_in channels with BN and ReLU
/// (left out when expansion is 1), a depthwise k x k convolution (stride, padding k / 2)
/// with BN and ReLU, squeeze-and-excitation on the C_mid channels when asked (reduced to
/// max(1, C_in * se_ratio) channels, as EfficientNet does), and a linear 1x1 projection to
/// C_out with BN. When stride is 1 and C_in = C_out, the input is added to the output.
/// Convolutions have no bias. Parameter paths "body.<k>...." (body is the Sequential of
/// those layers).
struct InvertedResidualOptions {
  int in_channels = 16;
  int out_channels = 16;
  int kernel = 3;
  int stride = 1;
  int expansion = 6;
  bool squeeze_excite = false;
  double se_ratio = 0.25;
  Init init = Init::torch_default;

  /// C_mid = expansion * C_in.
  [[nodiscard]] int mid_channels() const noexcept { return expansion * in_channels; }
  /// SE's reduced channels: max(1, floor(C_in * se_ratio)).
  [[nodiscard]] int se_channels() const noexcept { return std::max(1, static_cast<int>(in_channels * se_ratio)); }
  /// Whether the input is added to the output.
  [[nodiscard]] bool residual() const noexcept { return stride == 1 && in_channels == out_channels; }
};

class InvertedResidual final : public Module {
 public:
  InvertedResidual(const InvertedResidualOptions& o, Rng& rng) : o_(o) {
    if (o.in_channels < 1 || o.out_channels < 1 || o.kernel < 1 || o.kernel % 2 == 0 || o.stride < 1 || o.expansion < 1 ||
        !(o.se_ratio > 0.0))
      throw ConfigError("InvertedResidual: channels " + std::to_string(o.in_channels) + " -> " + std::to_string(o.out_channels) +
                        ", kernel " + std::to_string(o.kernel) + ", stride " + std::to_string(o.stride) + ", expansion " +
                        std::to_string(o.expansion) +
                        " (need channels, stride and expansion >= 1, an odd kernel and se_ratio > 0)");
    const int mid = o.mid_channels();
    if (o.expansion != 1) {
      body_.emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = mid, .kernel = 1, .init = o.init}, rng);
      body_.emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = mid});
      body_.emplace<ReLU>();
    }
    body_.emplace<Conv2d>(Conv2d::Options{.in_channels = mid, .out_channels = mid, .kernel = o.kernel, .stride = o.stride,
                                          .padding = o.kernel / 2, .groups = mid, .init = o.init},
                          rng);
    body_.emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = mid});
    body_.emplace<ReLU>();
    if (o.squeeze_excite) body_.emplace<SqueezeExcite>(mid, o.se_channels(), rng, o.init);
    body_.emplace<Conv2d>(Conv2d::Options{.in_channels = mid, .out_channels = o.out_channels, .kernel = 1, .init = o.init}, rng);
    body_.emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = o.out_channels});
  }

  const Tensor& forward(const Tensor& x) override {
    if (!o_.residual()) {
      const Tensor& y = body_.forward(x);
      report_forward(body_, y);
      return y;
    }
    // The body writes straight into the sum's buffer when it can (a chain ending in a
    // BatchNorm in training), then the input is added.
    body_.forward_into(x, y_, false);
    report_forward(body_, y_);
    add_into(y_, x);
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    const Tensor& g = observed_backward(body_, dy);
    if (!o_.residual()) return g;
    dx_.copy_from(g);
    add_into(dx_, dy);
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4 || in[1] != o_.in_channels)
      throw ConfigError("InvertedResidual: input " + in.str() + " (expected [N, " + std::to_string(o_.in_channels) + ", H, W])");
    return body_.output_shape(in);
  }
  [[nodiscard]] double macs(const Shape& in) const override { return body_.macs(in); }
  [[nodiscard]] std::string type_name() const override { return "InvertedResidual"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    const int y = t.child("body", body_, x);
    return o_.residual() ? t.add(t.node(NodeKind::add, {y, x}, t.shape(y))) : y;
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { f("body", body_); }

  [[nodiscard]] const InvertedResidualOptions& options() const noexcept { return o_; }

 private:
  InvertedResidualOptions o_;
  Sequential body_;
  Tensor y_, dx_;
};

}  // namespace nas
