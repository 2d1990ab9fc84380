// Optimizers with PyTorch's update rules (SGD, Adam/AdamW), the cosine schedule and gradient clipping.
#pragma once

#include <cmath>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "nas/tensor/module.hpp"

namespace nas {

/// torch.optim.SGD: g = grad + weight_decay * p; with momentum, buf = g on the first step
/// and buf = momentum * buf + (1 - dampening) * g after; the step direction is
/// g + momentum * buf with Nesterov, buf without; p -= lr * direction.
class SGD {
 public:
  struct Options {
    double lr = 0.1;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
  };

  SGD(std::vector<Parameter*> params, const Options& o) : params_(std::move(params)), opt_(o) {
    if (!(o.lr >= 0.0)) throw ConfigError("SGD: lr (" + std::to_string(o.lr) + ") must be >= 0");
    if (!(o.momentum >= 0.0)) throw ConfigError("SGD: momentum (" + std::to_string(o.momentum) + ") must be >= 0");
    if (!(o.weight_decay >= 0.0)) throw ConfigError("SGD: weight_decay (" + std::to_string(o.weight_decay) + ") must be >= 0");
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
      throw ConfigError("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    if (o.momentum > 0.0)
      for (Parameter* p : params_) buf_.emplace_back(p->value.shape());
  }

  void step() {
    const auto lr = static_cast<float>(opt_.lr), mu = static_cast<float>(opt_.momentum),
               wd = static_cast<float>(opt_.weight_decay), damp = static_cast<float>(1.0 - opt_.dampening);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      float* p = params_[k]->value.data();
      const float* g = params_[k]->grad.data();
      const std::size_t n = params_[k]->numel();
      if (mu == 0.0f) {
        for (std::size_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
        continue;
      }
      float* b = buf_[k].data();
      for (std::size_t i = 0; i < n; ++i) {
        const float d = g[i] + wd * p[i];
        b[i] = started_ ? mu * b[i] + damp * d : d;
        p[i] -= lr * (opt_.nesterov ? d + mu * b[i] : b[i]);
      }
    }
    started_ = true;
  }
  void zero_grad() {
    for (Parameter* p : params_) p->grad.zero();
  }
  void set_lr(double lr) noexcept { opt_.lr = lr; }
  [[nodiscard]] double lr() const noexcept { return opt_.lr; }
  [[nodiscard]] const std::vector<Parameter*>& parameters() const noexcept { return params_; }

 private:
  std::vector<Parameter*> params_;
  Options opt_;
  std::vector<Tensor> buf_;
  bool started_ = false;
};

/// torch.optim.Adam (Kingma & Ba 2015), weight decay as an L2 term added to the gradient;
/// with `decoupled = true` it is torch.optim.AdamW (Loshchilov & Hutter 2019): p *= 1 - lr * wd
/// before the Adam step. Step t: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class Adam {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool decoupled = false;
  };

  Adam(std::vector<Parameter*> params, const Options& o) : params_(std::move(params)), opt_(o) {
    if (!(o.lr >= 0.0)) throw ConfigError("Adam: lr (" + std::to_string(o.lr) + ") must be >= 0");
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) throw ConfigError("Adam: beta1 (" + std::to_string(o.beta1) + ") must be in [0, 1)");
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) throw ConfigError("Adam: beta2 (" + std::to_string(o.beta2) + ") must be in [0, 1)");
    if (!(o.eps > 0.0)) throw ConfigError("Adam: eps (" + std::to_string(o.eps) + ") must be > 0");
    for (Parameter* p : params_) {
      m_.emplace_back(p->value.shape());
      v_.emplace_back(p->value.shape());
    }
  }

  void step() {
    ++t_;
    const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t_));
    const auto step_size = static_cast<float>(opt_.lr / bc1);
    const auto inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    const auto b1 = static_cast<float>(opt_.beta1), b2 = static_cast<float>(opt_.beta2), eps = static_cast<float>(opt_.eps);
    const auto wd = static_cast<float>(opt_.weight_decay);
    const auto decay = static_cast<float>(1.0 - opt_.lr * opt_.weight_decay);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      float* p = params_[k]->value.data();
      const float* g = params_[k]->grad.data();
      float* m = m_[k].data();
      float* v = v_[k].data();
      const std::size_t n = params_[k]->numel();
      for (std::size_t i = 0; i < n; ++i) {
        float d = g[i];
        if (opt_.decoupled)
          p[i] *= decay;
        else
          d += wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
      }
    }
  }
  void zero_grad() {
    for (Parameter* p : params_) p->grad.zero();
  }
  void set_lr(double lr) noexcept { opt_.lr = lr; }
  [[nodiscard]] double lr() const noexcept { return opt_.lr; }
  [[nodiscard]] long steps() const noexcept { return t_; }
  [[nodiscard]] const std::vector<Parameter*>& parameters() const noexcept { return params_; }

 private:
  std::vector<Parameter*> params_;
  Options opt_;
  std::vector<Tensor> m_, v_;
  long t_ = 0;
};

/// torch.optim.lr_scheduler.CosineAnnealingLR in closed form (Loshchilov & Hutter 2017,
/// SGDR eq. 5 without restarts): lr(t) = eta_min + (base - eta_min) * (1 + cos(pi t / T)) / 2.
struct CosineAnnealing {
  double base_lr = 0.1;
  int t_max = 1;  ///< T: the epoch (or step) count of one half cosine
  double eta_min = 0.0;

  [[nodiscard]] double lr_at(int t) const {
    if (t_max < 1) throw ConfigError("CosineAnnealing: t_max (" + std::to_string(t_max) + ") must be >= 1");
    return eta_min + (base_lr - eta_min) * (1.0 + std::cos(std::numbers::pi * t / t_max)) / 2.0;
  }
};

/// Scales all gradients so that their global L2 norm is at most `max_norm`, as
/// torch.nn.utils.clip_grad_norm_ does (factor max_norm / (norm + 1e-6) when below 1).
/// Returns the norm before clipping.
inline double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  if (!(max_norm > 0.0)) throw ConfigError("clip_grad_norm: max_norm (" + std::to_string(max_norm) + ") must be > 0");
  double ss = 0.0;
  for (const Parameter* p : params)
    for (std::size_t i = 0; i < p->grad.numel(); ++i) ss += static_cast<double>(p->grad[i]) * p->grad[i];
  const double norm = std::sqrt(ss);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (Parameter* p : params) p->grad.array() *= static_cast<float>(coef);
  return norm;
}

}  // namespace nas
