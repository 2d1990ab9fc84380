// Composite blocks of the DARTS and NAS-Bench-201 cell spaces: ReLUConvBN, SepConv, DilConv,
// FactorizedReduce and NB201's ResNetBasicBlock, defined as in the reference code.
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"

namespace nas {

/// The geometry of a convolutional block. Every convolution in these blocks has no bias
/// (the BatchNorm that follows makes it redundant), as in DARTS and NAS-Bench-201.
struct ConvBlockOptions {
  int in_channels = 1;
  int out_channels = 1;
  int kernel = 3;
  int stride = 1;
  int padding = 1;
  int dilation = 1;
  bool affine = true;               ///< BatchNorm weight/bias (DARTS search uses false)
  bool track_running_stats = true;  ///< BatchNorm running estimates
  Init init = Init::torch_default;
};

namespace detail {
inline BatchNorm2d::Options bn_options(int channels, const ConvBlockOptions& o) {
  return BatchNorm2d::Options{.channels = channels, .affine = o.affine, .track_running_stats = o.track_running_stats};
}
}  // namespace detail

/// ReLU -> Conv2d(k, stride, padding, dilation, bias = false) -> BatchNorm2d: NB201's
/// nor_conv_kxk and DARTS' ReLUConvBN. Parameter paths "1.weight", "2.weight", "2.bias".
class ReLUConvBN final : public Sequential {
 public:
  ReLUConvBN(const ConvBlockOptions& o, Rng& rng) {
    emplace<ReLU>();
    emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = o.out_channels, .kernel = o.kernel,
                                    .stride = o.stride, .padding = o.padding, .dilation = o.dilation, .init = o.init},
                    rng);
    emplace<BatchNorm2d>(detail::bn_options(o.out_channels, o));
  }
  [[nodiscard]] std::string type_name() const override { return "ReLUConvBN"; }
};

/// DARTS' dilated separable convolution (Liu et al. 2019, operations.py DilConv):
/// ReLU -> depthwise k x k conv (stride, padding, dilation, groups = C_in) -> 1x1 conv
/// C_in -> C_out -> BatchNorm2d(C_out). NB201's dil_sepc_kxk is the same block.
class DilConv final : public Sequential {
 public:
  DilConv(const ConvBlockOptions& o, Rng& rng) {
    emplace<ReLU>();
    emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = o.in_channels, .kernel = o.kernel,
                                    .stride = o.stride, .padding = o.padding, .dilation = o.dilation,
                                    .groups = o.in_channels, .init = o.init},
                    rng);
    emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = o.out_channels, .kernel = 1,
                                    .padding = 0, .init = o.init},
                    rng);
    emplace<BatchNorm2d>(detail::bn_options(o.out_channels, o));
  }
  [[nodiscard]] std::string type_name() const override { return "DilConv"; }
};

/// DARTS' separable convolution (operations.py SepConv): the dilated separable block
/// applied twice, [ReLU, depthwise kxk (stride), 1x1 C_in -> C_in, BN(C_in)] then
/// [ReLU, depthwise kxk (stride 1), 1x1 C_in -> C_out, BN(C_out)]. `dilation` is 1 in
/// DARTS. NB201's dua_sepc_kxk is the same block.
class SepConv final : public Sequential {
 public:
  SepConv(const ConvBlockOptions& o, Rng& rng) {
    for (int half = 0; half < 2; ++half) {
      const int c_out = half == 0 ? o.in_channels : o.out_channels;
      emplace<ReLU>();
      emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = o.in_channels, .kernel = o.kernel,
                                      .stride = half == 0 ? o.stride : 1, .padding = o.padding, .dilation = o.dilation,
                                      .groups = o.in_channels, .init = o.init},
                      rng);
      emplace<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = c_out, .kernel = 1, .padding = 0,
                                      .init = o.init},
                      rng);
      emplace<BatchNorm2d>(detail::bn_options(c_out, o));
    }
  }
  [[nodiscard]] std::string type_name() const override { return "SepConv"; }
};

/// The skip connection of a reducing edge (DARTS operations.py / NB201 cell_operations.py
/// FactorizedReduce). Stride 2: ReLU, then two 1x1 stride-2 convolutions with C_out/2 and
/// C_out - C_out/2 outputs, the second applied to the input shifted by one pixel
/// (x[:, :, 1:, 1:], zero-padded at the far edge as NB201 does so odd sizes work; for even
/// sizes this equals DARTS), concatenated along channels, then BatchNorm2d(C_out).
/// Stride 1 (NB201 only): 1x1 conv C_in -> C_out then BatchNorm2d, without the ReLU.
/// The `kernel`, `padding` and `dilation` of the options are ignored.
class FactorizedReduce final : public Module {
 public:
  FactorizedReduce(const ConvBlockOptions& o, Rng& rng)
      : stride_(o.stride), c_out_(o.out_channels), bn_(detail::bn_options(o.out_channels, o)) {
    bn_.overwrite_input_in_backward(true);  // its input (the concatenation or conv output) is private
    if (o.stride != 1 && o.stride != 2)
      throw ConfigError("FactorizedReduce: stride (" + std::to_string(o.stride) + ") must be 1 or 2");
    if (o.stride == 2 && o.out_channels < 2)
      throw ConfigError("FactorizedReduce: out_channels (" + std::to_string(o.out_channels) + ") must be >= 2 for stride 2");
    const int ca = o.stride == 2 ? o.out_channels / 2 : o.out_channels;
    conv_a_ = std::make_unique<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = ca, .kernel = 1,
                                                       .stride = o.stride, .padding = 0, .init = o.init},
                                       rng);
    if (o.stride == 2)
      conv_b_ = std::make_unique<Conv2d>(Conv2d::Options{.in_channels = o.in_channels, .out_channels = o.out_channels - ca,
                                                         .kernel = 1, .stride = 2, .padding = 0, .init = o.init},
                                         rng);
  }

  const Tensor& forward(const Tensor& x) override {
    if (stride_ == 1) {
      const Tensor& a = conv_a_->forward(x);
      report_forward(*conv_a_, a);
      return reported(bn_, bn_.forward(a));
    }
    const Tensor& r = reported(relu_, relu_.forward(x));
    const Tensor& a = reported(*conv_a_, conv_a_->forward(r));
    shifted_.resize(r.shape());
    shift(r, shifted_);
    const Tensor& b = reported(*conv_b_, conv_b_->forward(shifted_));
    const Tensor* parts[] = {&a, &b};
    concat_channels(cat_, parts);
    return reported(bn_, bn_.forward(cat_));
  }

  const Tensor& backward(const Tensor& dy) override {
    if (stride_ == 1) return observed_backward(*conv_a_, observed_backward(bn_, dy));
    const Tensor& g = observed_backward(bn_, dy);
    const int ca = conv_a_->options().out_channels;
    ga_.resize(g.shape().with(1, ca));
    gb_.resize(g.shape().with(1, c_out_ - ca));
    slice_channels(g, 0, ga_);
    slice_channels(g, ca, gb_);
    const Tensor& da = observed_backward(*conv_a_, ga_);
    dr_.copy_from(da);
    const Tensor& db = observed_backward(*conv_b_, gb_);
    unshift_add(db, dr_);
    return observed_backward(relu_, dr_);
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return bn_.output_shape(conv_a_->output_shape(in).with(1, c_out_)); }
  [[nodiscard]] double macs(const Shape& in) const override {
    double m = conv_a_->macs(in);
    if (conv_b_) m += conv_b_->macs(in);
    return m;
  }
  [[nodiscard]] std::string type_name() const override { return "FactorizedReduce"; }
  void release_buffers() override {
    release(shifted_, cat_, ga_, gb_, dr_);
    Module::release_buffers();
  }
  /// Stride 2: relu, convs.0 on it, shift, convs.1 on the shifted input, concat, bn.
  int trace(Tracer& t, int x) override {
    if (stride_ == 1) return t.child("bn", bn_, t.child("conv", *conv_a_, x));
    const int r = t.add(NodeKind::relu, x, t.shape(x));
    const int a = t.child("convs.0", *conv_a_, r);
    const int s = t.add(NodeKind::shift, r, t.shape(r));
    const int b = t.child("convs.1", *conv_b_, s);
    const int cat = t.add(t.node(NodeKind::concat, {a, b}, t.shape(a).with(1, c_out_)));
    return t.child("bn", bn_, cat);
  }
  /// Children named as in NB201: "relu", "convs.0", "convs.1" (stride 2) or "conv"
  /// (stride 1), then "bn".
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    if (stride_ == 2) {
      f("relu", relu_);
      f("convs.0", *conv_a_);
      f("convs.1", *conv_b_);
    } else {
      f("conv", *conv_a_);
    }
    f("bn", bn_);
  }

 private:
  static const Tensor& reported(const Module& m, const Tensor& y) {
    report_forward(m, y);
    return y;
  }
  // s[n, c, h, w] = r[n, c, h + 1, w + 1], zero past the edge.
  static void shift(const Tensor& r, Tensor& s) {
    const int planes = r.dim(0) * r.dim(1), H = r.dim(2), W = r.dim(3);
    for (int p = 0; p < planes; ++p) {
      const float* src = r.data() + static_cast<std::size_t>(p) * H * W;
      float* dst = s.data() + static_cast<std::size_t>(p) * H * W;
      for (int h = 0; h < H; ++h) {
        float* row = dst + h * W;
        if (h + 1 < H) {
          const float* in = src + (h + 1) * W + 1;
          for (int w = 0; w + 1 < W; ++w) row[w] = in[w];
          row[W - 1] = 0.0f;
        } else {
          for (int w = 0; w < W; ++w) row[w] = 0.0f;
        }
      }
    }
  }
  // d[n, c, h + 1, w + 1] += g[n, c, h, w].
  static void unshift_add(const Tensor& g, Tensor& d) {
    const int planes = g.dim(0) * g.dim(1), H = g.dim(2), W = g.dim(3);
    for (int p = 0; p < planes; ++p) {
      const float* src = g.data() + static_cast<std::size_t>(p) * H * W;
      float* dst = d.data() + static_cast<std::size_t>(p) * H * W;
      for (int h = 0; h + 1 < H; ++h)
        for (int w = 0; w + 1 < W; ++w) dst[(h + 1) * W + w + 1] += src[h * W + w];
    }
  }
  int stride_, c_out_;
  ReLU relu_;
  std::unique_ptr<Conv2d> conv_a_, conv_b_;
  BatchNorm2d bn_;
  Tensor shifted_, cat_, ga_, gb_, dr_;
};

/// NAS-Bench-201's residual block between stages (cell_operations.py ResNetBasicblock):
/// conv_a = ReLUConvBN(3x3, stride), conv_b = ReLUConvBN(3x3, 1), and a shortcut that is
/// AvgPool2d(2, 2) followed by a 1x1 conv without bias or BN when stride is 2, a 1x1
/// ReLUConvBN when only the channels change, the identity otherwise. Output = conv_b(conv_a(x)) + shortcut(x).
class ResNetBasicBlock final : public Module {
 public:
  ResNetBasicBlock(int in_channels, int out_channels, int stride, Rng& rng, bool affine = true) {
    if (stride != 1 && stride != 2)
      throw ConfigError("ResNetBasicBlock: stride (" + std::to_string(stride) + ") must be 1 or 2");
    const ConvBlockOptions a{.in_channels = in_channels, .out_channels = out_channels, .kernel = 3, .stride = stride,
                             .padding = 1, .affine = affine};
    const ConvBlockOptions b{.in_channels = out_channels, .out_channels = out_channels, .kernel = 3, .stride = 1,
                             .padding = 1, .affine = affine};
    conv_a_ = std::make_unique<ReLUConvBN>(a, rng);
    conv_b_ = std::make_unique<ReLUConvBN>(b, rng);
    if (stride == 2) {
      auto ds = std::make_unique<Sequential>();
      ds->emplace<AvgPool2d>(Pool2dOptions{.kernel = 2, .stride = 2, .padding = 0});
      ds->emplace<Conv2d>(Conv2d::Options{.in_channels = in_channels, .out_channels = out_channels, .kernel = 1, .padding = 0},
                          rng);
      downsample_ = std::move(ds);
    } else if (in_channels != out_channels) {
      downsample_ = std::make_unique<ReLUConvBN>(
          ConvBlockOptions{.in_channels = in_channels, .out_channels = out_channels, .kernel = 1, .padding = 0, .affine = affine},
          rng);
    }
  }

  const Tensor& forward(const Tensor& x) override {
    const Tensor& a = conv_a_->forward(x);
    report_forward(*conv_a_, a);
    conv_b_->forward_into(a, y_, false);  // conv_b's BatchNorm writes into y_
    report_forward(*conv_b_, y_);
    if (!downsample_) {
      add_into(y_, x);
    } else if (!hooks_active()) {
      downsample_->forward_into(x, y_, true);  // directly, when the downsample can
    } else {  // observed: the downsample's output of its own, then the sum
      const Tensor& d = downsample_->forward(x);
      report_forward(*downsample_, d);
      add_into(y_, d);
    }
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    dx_.copy_from(observed_backward(*conv_a_, observed_backward(*conv_b_, dy)));
    add_into(dx_, downsample_ ? observed_backward(*downsample_, dy) : dy);
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return conv_b_->output_shape(conv_a_->output_shape(in)); }
  [[nodiscard]] double macs(const Shape& in) const override {
    double m = conv_a_->macs(in) + conv_b_->macs(conv_a_->output_shape(in));
    if (downsample_) m += downsample_->macs(in);
    return m;
  }
  [[nodiscard]] std::string type_name() const override { return "ResNetBasicBlock"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    const int b = t.child("conv_b", *conv_b_, t.child("conv_a", *conv_a_, x));
    const int shortcut = downsample_ ? t.child("downsample", *downsample_, x) : x;
    return t.add(t.node(NodeKind::add, {b, shortcut}, t.shape(b)));
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    f("conv_a", *conv_a_);
    f("conv_b", *conv_b_);
    if (downsample_) f("downsample", *downsample_);
  }

 private:
  std::unique_ptr<Module> conv_a_, conv_b_, downsample_;
  Tensor y_, dx_;
};

}  // namespace nas
