// Element-wise activations as Modules: ReLU, SiLU (swish) and Sigmoid.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

namespace detail {
// Element-wise loops as free functions over restrict pointers: the compiler vectorises
// them (branch-free) also when they run inside an OpenMP region, where loops over
// captured pointers are kept scalar and mispredict on the sign of every element.
inline void relu_forward(const float* __restrict x, float* __restrict y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] <= 0.0f ? 0.0f : x[i];  // NaN stays NaN, as in PyTorch
}
inline void relu_backward(const float* __restrict y, const float* __restrict dy, float* __restrict dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] <= 0.0f ? 0.0f : dy[i];
}
}  // namespace detail

/// max(x, 0). The gradient at exactly 0 is taken as 0, and NaN propagates (forward and
/// backward), as in PyTorch: a diverged network is not made to look healthy.
class ReLU final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    y_.resize(x.shape());
    const float* a = x.data();
    float* b = y_.data();
    if (hold_) {
      if (!held_) {  // record the pattern of this input: 1 where the unit passes
        pattern_.resize(x.shape());
        float* m = pattern_.data();
        for (std::size_t i = 0; i < x.numel(); ++i) m[i] = a[i] <= 0.0f ? 0.0f : 1.0f;
        held_ = true;
      }
      check_shape("ReLU::forward (held pattern)", x, pattern_.shape());
      const float* m = pattern_.data();
      for (std::size_t i = 0; i < x.numel(); ++i) b[i] = a[i] * m[i];
      return y_;
    }
    detail::parallel_chunks(x.numel(), [a, b](std::size_t lo, std::size_t hi) { detail::relu_forward(a + lo, b + lo, hi - lo); });
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("ReLU::backward", dy, y_.shape());
    dx_.resize(dy.shape());
    const float* y = hold_ ? pattern_.data() : y_.data();
    const float* g = dy.data();
    float* d = dx_.data();
    detail::parallel_chunks(dy.numel(),
                            [y, g, d](std::size_t lo, std::size_t hi) { detail::relu_backward(y + lo, g + lo, d + lo, hi - lo); });
    return dx_;
  }
  /// While `on`, the first forward records which units pass (input > 0) and every later
  /// forward and backward uses that pattern instead of its input's signs: the network is
  /// then smooth in its parameters around the recorded point, the function whose second
  /// derivative autograd's double backward takes (ReLU'' = 0). Turning it off (or on again)
  /// drops the pattern. A Sequential runs a held ReLU itself instead of inside the following
  /// convolution. GraSP's Hessian-vector product uses it (nas/estimate/zero_cost_proxies.hpp).
  void hold_pattern(bool on) noexcept {
    hold_ = on;
    held_ = false;
    if (!on) pattern_ = Tensor();
  }
  [[nodiscard]] bool holds_pattern() const noexcept { return hold_; }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "ReLU"; }
  void release_buffers() override {
    release(y_, dx_);  // a held pattern stays: it is state until hold_pattern(false)
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::relu, x, t.shape(x)); }

 private:
  Tensor y_, dx_, pattern_;
  bool hold_ = false, held_ = false;
};

/// x * sigmoid(x) (Ramachandran et al. 2017; Elfwing et al. 2018), torch.nn.SiLU.
/// d/dx = s * (1 + x * (1 - s)) with s = sigmoid(x).
class SiLU final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    x_ = &x;
    y_.resize(x.shape());
    const float* __restrict a = x.data();
    float* __restrict b = y_.data();
    const std::size_t n = x.numel();
    for (std::size_t i = 0; i < n; ++i) b[i] = a[i] / (1.0f + std::exp(-a[i]));
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("SiLU::backward", dy, y_.shape());
    dx_.resize(dy.shape());
    const float* __restrict x = x_->data();
    const float* __restrict g = dy.data();
    float* __restrict d = dx_.data();
    const std::size_t n = dy.numel();
    for (std::size_t i = 0; i < n; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-x[i]));
      d[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
    }
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "SiLU"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::silu, x, t.shape(x)); }

 private:
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
};

/// 1 / (1 + exp(-x)), torch.nn.Sigmoid; d/dx = y (1 - y). The gating function of
/// squeeze-and-excitation (Hu et al. 2018).
class Sigmoid final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    y_.resize(x.shape());
    const float* __restrict a = x.data();
    float* __restrict b = y_.data();
    const std::size_t n = x.numel();
    for (std::size_t i = 0; i < n; ++i) b[i] = 1.0f / (1.0f + std::exp(-a[i]));
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("Sigmoid::backward", dy, y_.shape());
    dx_.resize(dy.shape());
    const float* __restrict y = y_.data();
    const float* __restrict g = dy.data();
    float* __restrict d = dx_.data();
    const std::size_t n = dy.numel();
    for (std::size_t i = 0; i < n; ++i) d[i] = g[i] * y[i] * (1.0f - y[i]);
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "Sigmoid"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override { return t.add(NodeKind::sigmoid, x, t.shape(x)); }

 private:
  Tensor y_, dx_;
};

}  // namespace nas
