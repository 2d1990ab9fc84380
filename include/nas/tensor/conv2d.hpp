// Conv2d: 2-D convolution (any kernel, stride, padding, dilation, groups) as a Module.
#pragma once

#include <string>
#include <vector>

#include "nas/core/rng.hpp"
#include "nas/tensor/conv_kernels.hpp"
#include "nas/tensor/dnnl_backend.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// 2-D convolution over NCHW input, like torch.nn.Conv2d. Weight [C_out, C_in/groups,
/// k_h, k_w], optional bias [C_out]. The arithmetic runs in nas::kernels (conv_kernels.hpp);
/// scratch space comes from the thread's shared Workspace.
class Conv2d final : public Module {
 public:
  struct Options {
    int in_channels = 1;
    int out_channels = 1;
    int kernel = 3;            ///< square kernel; set kernel_h/kernel_w (> 0) for non-square
    int stride = 1;
    int padding = 0;
    int dilation = 1;
    int groups = 1;            ///< groups == in_channels == out_channels is depthwise
    bool bias = false;
    int kernel_h = 0, kernel_w = 0;
    int stride_h = 0, stride_w = 0;
    int padding_h = -1, padding_w = -1;
    Init init = Init::torch_default;
  };

  Conv2d(const Options& o, Rng& rng) : opt_(o) {
    s_.in_channels = o.in_channels;
    s_.out_channels = o.out_channels;
    s_.kernel_h = o.kernel_h > 0 ? o.kernel_h : o.kernel;
    s_.kernel_w = o.kernel_w > 0 ? o.kernel_w : o.kernel;
    s_.stride_h = o.stride_h > 0 ? o.stride_h : o.stride;
    s_.stride_w = o.stride_w > 0 ? o.stride_w : o.stride;
    s_.pad_h = o.padding_h >= 0 ? o.padding_h : o.padding;
    s_.pad_w = o.padding_w >= 0 ? o.padding_w : o.padding;
    s_.dilation_h = s_.dilation_w = o.dilation;
    s_.groups = o.groups;
    s_.batch = 1;
    // A placeholder input just large enough for one output pixel, until the first forward.
    s_.in_h = 1 + s_.dilation_h * (s_.kernel_h - 1);
    s_.in_w = 1 + s_.dilation_w * (s_.kernel_w - 1);
    s_.validate("Conv2d");
    weight_ = Parameter("weight", Shape{o.out_channels, o.in_channels / o.groups, s_.kernel_h, s_.kernel_w});
    if (o.bias) bias_ = Parameter("bias", Shape{o.out_channels});
    const auto fan_in = static_cast<std::size_t>(o.in_channels / o.groups) * static_cast<std::size_t>(s_.kernel_h * s_.kernel_w);
    init_weights(o.init, fan_in, weight_.value, o.bias ? &bias_.value : nullptr, rng);
  }

  const Tensor& forward(const Tensor& x) override { return forward(x, kernels::ConvInput::as_is); }

  /// The convolution of x read as `input` says: ConvInput::relu convolves max(x, 0), so a
  /// ReLU before the convolution needs neither its own pass nor its own buffers, and the
  /// following backward() returns the gradient through the ReLU.
  const Tensor& forward(const Tensor& x, kernels::ConvInput input) {
    set_input(x.shape());
    x_ = &x;
    input_ = input;
    y_.resize(Shape{s_.batch, s_.out_channels, s_.out_h(), s_.out_w()});
#if defined(NAS_HAVE_DNNL)
    // Built with oneDNN: the shapes where it measured faster run on it (dnnl_backend.hpp).
    if (dnnl_forward())
      if (const ConvBackend b = measured_forward_backend(s_); b != ConvBackend::own) {
        dnnl_conv2d_forward(s_, x.data(), w_->value.data(), opt_.bias ? bias_.value.data() : nullptr, y_.data(), b, input);
        return y_;
      }
#endif
    kernels::conv2d_forward(s_, x.data(), w_->value.data(), opt_.bias ? bias_.value.data() : nullptr, y_.data(),
                            thread_workspace(), input);
    return y_;
  }

  /// Inference form of [ReLU ->] Conv2d [-> eval-mode BatchNorm2d] in one pass: the input
  /// is read as max(x, 0) when `relu_input`, and when `scale` and `shift` are given (one
  /// per output channel, BatchNorm's y = scale x + shift) they are folded into the weights
  /// and bias. The result goes to a buffer of its own, so a later forward() or backward()
  /// does not overwrite it; backward() needs a forward() first.
  const Tensor& forward_fused(const Tensor& x, bool relu_input, const float* scale, const float* shift) {
    set_input(x.shape());
    fused_y_.resize(Shape{s_.batch, s_.out_channels, s_.out_h(), s_.out_w()});
    run_fused(x, relu_input, scale, shift, fused_y_.data(), false);
    return fused_y_;
  }

  /// forward_fused() written into `target` (resized) or, with `accumulate`, added to it
  /// (target + output, the same floats as adding forward_fused()'s result), without a
  /// buffer of its own: a cell node's sum takes its edges' outputs this way in evaluation.
  void forward_fused_into(const Tensor& x, bool relu_input, const float* scale, const float* shift, Tensor& target,
                          bool accumulate) {
    set_input(x.shape());
    const Shape out{s_.batch, s_.out_channels, s_.out_h(), s_.out_w()};
    if (accumulate && target.shape() != out)
      throw ConfigError("Conv2d::forward_fused_into: target " + target.shape().str() + " for an output " + out.str());
    if (!accumulate) target.resize(out);
    NAS_ASSERT(target.data() != x.data(), "Conv2d::forward_fused_into: the target aliases the input");
    run_fused(x, relu_input, scale, shift, target.data(), accumulate);
  }

  const Tensor& backward(const Tensor& dy) override {
    NAS_ASSERT(x_ != nullptr, "Conv2d::backward before forward (forward_fused does not keep what backward needs)");
    check_shape("Conv2d::backward", dy, y_.shape());
    dx_.resize(x_->shape());
    kernels::conv2d_backward(s_, x_->data(), w_->value.data(), dy.data(), dx_.data(), w_->grad.data(),
                             opt_.bias ? bias_.grad.data() : nullptr, thread_workspace(), input_);
    w_->has_grad = true;
    bias_.has_grad = opt_.bias;
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    kernels::Conv2dShape s = shape_for(in);
    return Shape{in[0], s.out_channels, s.out_h(), s.out_w()};
  }

  [[nodiscard]] double macs(const Shape& in) const override {
    const kernels::Conv2dShape s = shape_for(in);
    const double out_pixels = static_cast<double>(s.out_h()) * static_cast<double>(s.out_w());
    double m = static_cast<double>(s.kernel_h * s.kernel_w) * static_cast<double>(s.in_channels / s.groups) *
               static_cast<double>(s.out_channels) * out_pixels;
    if (opt_.bias) m += static_cast<double>(s.out_channels) * out_pixels;
    return m;
  }

  [[nodiscard]] std::string type_name() const override { return "Conv2d"; }
  void release_buffers() override {
    release(y_, dx_, fused_y_, fused_w_, fused_b_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::conv2d, {x}, output_shape(t.shape(x)));
    n.conv = ConvGeometry{s_.in_channels, s_.out_channels, s_.kernel_h,   s_.kernel_w,   s_.stride_h, s_.stride_w,
                          s_.pad_h,       s_.pad_w,        s_.dilation_h, s_.dilation_w, s_.groups,   opt_.bias};
    n.weight = &weight_;
    n.bias = opt_.bias ? &bias_ : nullptr;
    return t.add(std::move(n));
  }
  void own_parameters(std::vector<Parameter*>& out) override {
    out.push_back(w_);
    if (opt_.bias) out.push_back(&bias_);
  }

  /// Uses `w` (owned elsewhere, alive as long as this layer, of this layer's weight shape)
  /// as the weight from now on, so that several layers apply one tensor and their
  /// gradients add up in it; listings name it once (see Module::own_parameters).
  void share_weight(Parameter& w) {
    if (w.value.shape() != w_->value.shape() || w.grad.shape() != w_->value.shape())
      throw ConfigError("Conv2d::share_weight: weight '" + w.name + "' of shape " + w.value.shape().str() +
                        " (with a gradient " + w.grad.shape().str() + ") for this layer's " + w_->value.shape().str());
    w_ = &w;
    if (w_ != &weight_) weight_ = Parameter();  // the own weight is no longer used
  }
  [[nodiscard]] Parameter& weight() noexcept { return *w_; }
  [[nodiscard]] Parameter& bias() noexcept { return bias_; }
  [[nodiscard]] bool has_bias() const noexcept { return opt_.bias; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }
  /// The kernel geometry of the last forward (or of a 1-pixel-output input before one).
  [[nodiscard]] const kernels::Conv2dShape& conv_shape() const noexcept { return s_; }

 private:
  [[nodiscard]] kernels::Conv2dShape shape_for(const Shape& in) const {
    if (in.rank() != 4 || in[1] != s_.in_channels)
      throw ConfigError("Conv2d: input " + in.str() + " (expected [N, " + std::to_string(s_.in_channels) + ", H, W])");
    kernels::Conv2dShape s = s_;
    s.batch = in[0];
    s.in_h = in[2];
    s.in_w = in[3];
    if (s.out_h() < 1 || s.out_w() < 1)
      throw ConfigError("Conv2d: input " + in.str() + " is smaller than the " + std::to_string(s.kernel_h) + "x" +
                        std::to_string(s.kernel_w) + " kernel (dilation " + std::to_string(s.dilation_h) + ", padding " +
                        std::to_string(s.pad_h) + ")");
    return s;
  }
  // The fused inference convolution into y (see forward_fused).
  void run_fused(const Tensor& x, bool relu_input, const float* scale, const float* shift, float* y, bool accumulate) {
    x_ = nullptr;
    const float* w = w_->value.data();
    const float* b = opt_.bias ? bias_.value.data() : nullptr;
    if (scale) {
      fused_w_.resize(w_->value.shape());
      fused_b_.resize(Shape{s_.out_channels});
      const std::size_t per_out = w_->value.numel() / static_cast<std::size_t>(s_.out_channels);
      for (int o = 0; o < s_.out_channels; ++o) {
        const auto oi = static_cast<std::size_t>(o);
        for (std::size_t k = 0; k < per_out; ++k) fused_w_[oi * per_out + k] = w[oi * per_out + k] * scale[oi];
        fused_b_[oi] = (b ? b[oi] * scale[oi] : 0.0f) + shift[oi];
      }
      w = fused_w_.data();
      b = fused_b_.data();
    }
    kernels::conv2d_forward(s_, x.data(), w, b, y, thread_workspace(),
                            relu_input ? kernels::ConvInput::relu : kernels::ConvInput::as_is, accumulate);
  }
  void set_input(const Shape& in) {
    if (in.rank() == 4 && in[0] == s_.batch && in[1] == s_.in_channels && in[2] == s_.in_h && in[3] == s_.in_w) return;
    s_ = shape_for(in);
  }

  Options opt_;
  kernels::Conv2dShape s_;
  Parameter weight_;
  Parameter bias_;
  Parameter* w_ = &weight_;  // the weight in use: weight_, or one shared by share_weight
  const Tensor* x_ = nullptr;
  kernels::ConvInput input_ = kernels::ConvInput::as_is;  // how the last forward read x_
  Tensor y_, dx_;
  Tensor fused_y_, fused_w_, fused_b_;  // forward_fused's output and folded weights
};

}  // namespace nas
