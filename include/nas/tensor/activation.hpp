// Element-wise activations as Modules: ReLU and SiLU (swish).
#pragma once

#include <cmath>
#include <string>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

namespace detail {
/// Element-wise loops split across threads only when the tensor is large enough to pay.
inline constexpr std::size_t parallel_grain = std::size_t{1} << 16;
}  // namespace detail

/// max(x, 0). The gradient at exactly 0 is taken as 0, as in PyTorch.
class ReLU final : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    y_.resize(x.shape());
    const float* __restrict a = x.data();
    float* __restrict b = y_.data();
    const auto n = static_cast<std::ptrdiff_t>(x.numel());
    const int threads = num_threads();
#pragma omp parallel for simd num_threads(threads) schedule(static) if (threads > 1 && n > static_cast<std::ptrdiff_t>(detail::parallel_grain))
    for (std::ptrdiff_t i = 0; i < n; ++i) b[i] = a[i] > 0.0f ? a[i] : 0.0f;
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    check_shape("ReLU::backward", dy, y_.shape());
    dx_.resize(dy.shape());
    const float* __restrict y = y_.data();
    const float* __restrict g = dy.data();
    float* __restrict d = dx_.data();
    const auto n = static_cast<std::ptrdiff_t>(dy.numel());
    const int threads = num_threads();
#pragma omp parallel for simd num_threads(threads) schedule(static) if (threads > 1 && n > static_cast<std::ptrdiff_t>(detail::parallel_grain))
    for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = y[i] > 0.0f ? g[i] : 0.0f;
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
