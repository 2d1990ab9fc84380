// Element-wise activations as Modules: ReLU and SiLU (swish).
#pragma once

#include <cmath>
#include <string>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {


/// max(x, 0). The gradient at exactly 0 is taken as 0, as in PyTorch.
class ReLU final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    y_.resize(x.shape());
    const float* a = x.data();
    float* b = y_.data();
    detail::parallel_chunks(x.numel(), [a, b](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) b[i] = a[i] > 0.0f ? a[i] : 0.0f;
    });
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("ReLU::backward", dy, y_.shape());
    dx_.resize(dy.shape());
    const float* y = y_.data();
    const float* g = dy.data();
    float* d = dx_.data();
    detail::parallel_chunks(dy.numel(), [y, g, d](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) d[i] = y[i] > 0.0f ? g[i] : 0.0f;
    });
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "ReLU"; }

 private:
  Tensor y_, dx_;
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

 private:
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
};

}  // namespace nas
