// Modules that move or replace data without arithmetic: Identity, Zero and Flatten.
#pragma once

#include <string>

#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// Passes the input through: forward returns `x` itself and backward returns `dy` itself
/// (no copy), so the references live as long as the caller's tensors.
class Identity final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override { return x; }
  const Tensor& backward(const Tensor& dy) override { return dy; }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "Identity"; }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::identity, x, t.shape(x)); }
};

/// The "none" operation of cell spaces: zeros of the strided shape (PyTorch's
/// x[:, :, ::stride, ::stride] * 0, i.e. ceil(H / stride)), with `out_channels` channels
/// (0 keeps the input's). Its input gradient is zero.
class Zero final : public Module {
 public:
  explicit Zero(int stride = 1, int out_channels = 0) : stride_(stride), out_channels_(out_channels) {
    if (stride < 1) throw ConfigError("Zero: stride (" + std::to_string(stride) + ") must be >= 1");
    if (out_channels < 0) throw ConfigError("Zero: out_channels (" + std::to_string(out_channels) + ") must be >= 0");
  }
  const Tensor& forward(const Tensor& x) override {
    in_shape_ = x.shape();
    const Shape out = output_shape(x.shape());
    if (y_.shape() != out) {
      y_.resize(out);
      y_.zero();
    }
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("Zero::backward", dy, y_.shape());
    if (dx_.shape() != in_shape_) {
      dx_.resize(in_shape_);
      dx_.zero();
    }
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() != 4) throw ConfigError("Zero: input " + in.str() + " is not NCHW");
    return Shape{in[0], out_channels_ ? out_channels_ : in[1], (in[2] + stride_ - 1) / stride_, (in[3] + stride_ - 1) / stride_};
  }
  [[nodiscard]] std::string type_name() const override { return "Zero"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::zero, x, output_shape(t.shape(x))); }

 private:
  int stride_, out_channels_;
  Shape in_shape_;
  Tensor y_, dx_;
};

/// [N, ...] -> [N, prod(...)] as a view of the input (no copy).
class Flatten final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    in_shape_ = x.shape();
    // The view is returned as const, so the input is never written through it.
    y_ = Tensor::view(const_cast<float*>(x.data()), output_shape(x.shape()));
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("Flatten::backward", dy, y_.shape());
    dx_ = Tensor::view(const_cast<float*>(dy.data()), in_shape_);
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() < 1) throw ConfigError("Flatten: empty input shape");
    return Shape{in[0], static_cast<int>(in.per_item())};
  }
  [[nodiscard]] std::string type_name() const override { return "Flatten"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::flatten, x, output_shape(t.shape(x))); }

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace nas
