// Optimizers with PyTorch's update rules (SGD, Adam/AdamW), the cosine schedule and gradient clipping.
#pragma once

#include <cmath>
#include <numbers>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/tensor/module.hpp"

namespace nas {

namespace detail {
// The parameters an optimizer may step: learnable ones, each once (a buffer has no
// gradient; a parameter listed twice would be stepped twice).
inline void check_optimizer_parameters(const char* where, const std::vector<Parameter*>& params) {
  std::unordered_map<const Parameter*, std::size_t> first;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const Parameter* p = params[k];
    if (p == nullptr) throw ConfigError(std::string(where) + ": parameter " + std::to_string(k) + " is null");
    if (!p->learnable())
      throw ConfigError(std::string(where) + ": parameter " + std::to_string(k) + " ('" + p->name +
                        "') is a buffer, which has no gradient to step on");
    if (p->grad.shape() != p->value.shape())
      throw ConfigError(std::string(where) + ": parameter " + std::to_string(k) + " ('" + p->name + "') has value " +
                        p->value.shape().str() + " and gradient " + p->grad.shape().str());
    if (const auto [at, fresh] = first.emplace(p, k); !fresh)
      throw ConfigError(std::string(where) + ": parameter " + std::to_string(k) + " ('" + p->name +
                        "') is listed twice (also as " + std::to_string(at->second) + ")");
  }
}
// The shapes of an optimizer state's tensors against the parameters' (load_state).
inline void check_state_tensors(const char* where, const char* what, const std::vector<Parameter*>& params,
                                const std::vector<Tensor>& tensors) {
  if (tensors.size() != params.size())
    throw ConfigError(std::string(where) + ": " + std::to_string(tensors.size()) + " " + what + " tensors for " +
                      std::to_string(params.size()) + " parameters");
  for (std::size_t k = 0; k < params.size(); ++k)
    if (tensors[k].shape() != params[k]->value.shape())
      throw ConfigError(std::string(where) + ": " + what + " of parameter " + std::to_string(k) + " ('" +
                        params[k]->name + "') has shape " + tensors[k].shape().str() + ", the parameter " +
                        params[k]->value.shape().str());
}
}  // namespace detail

/// torch.optim.SGD: g = grad + weight_decay * p; with momentum, buf = g on the parameter's
/// first step and buf = momentum * buf + (1 - dampening) * g after; the step direction is
/// g + momentum * buf with Nesterov, buf without; p -= lr * direction.
///
/// A parameter without a gradient since the last zero_grad (Parameter::has_grad false:
/// no backward reached it, e.g. an op not sampled this step) is skipped: no weight decay,
/// no momentum step, its buffer unchanged, as PyTorch skips parameters whose grad is None.
class SGD {
 public:
  struct Options {
    double lr = 0.1;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
  };
  /// What step() carries from one step to the next, per parameter in the order given:
  /// the momentum buffer (empty tensors without momentum) and whether it has started.
  struct State {
    std::vector<Tensor> momentum;
    std::vector<char> started;
  };

  SGD(std::vector<Parameter*> params, const Options& o) : params_(std::move(params)), opt_(o) {
    if (!(o.lr >= 0.0)) throw ConfigError("SGD: lr (" + std::to_string(o.lr) + ") must be >= 0");
    if (!(o.momentum >= 0.0)) throw ConfigError("SGD: momentum (" + std::to_string(o.momentum) + ") must be >= 0");
    if (!(o.weight_decay >= 0.0)) throw ConfigError("SGD: weight_decay (" + std::to_string(o.weight_decay) + ") must be >= 0");
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
      throw ConfigError("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    detail::check_optimizer_parameters("SGD", params_);
    if (o.momentum > 0.0)
      for (Parameter* p : params_) buf_.emplace_back(p->value.shape());
    started_.assign(params_.size(), 0);
  }

  void step() {
    const auto lr = static_cast<float>(opt_.lr), mu = static_cast<float>(opt_.momentum),
               wd = static_cast<float>(opt_.weight_decay), damp = static_cast<float>(1.0 - opt_.dampening);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      if (!params_[k]->has_grad) continue;
      float* p = params_[k]->value.data();
      const float* g = params_[k]->grad.data();
      const std::size_t n = params_[k]->numel();
      if (mu == 0.0f) {
        for (std::size_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
        continue;
      }
      float* b = buf_[k].data();
      const bool started = started_[k] != 0;
      for (std::size_t i = 0; i < n; ++i) {
        const float d = g[i] + wd * p[i];
        b[i] = started ? mu * b[i] + damp * d : d;
        p[i] -= lr * (opt_.nesterov ? d + mu * b[i] : b[i]);
      }
      started_[k] = 1;
    }
  }
  /// Zeroes the gradients and clears Parameter::has_grad.
  void zero_grad() {
    for (Parameter* p : params_) p->zero_grad();
  }
  void set_lr(double lr) noexcept { opt_.lr = lr; }
  [[nodiscard]] double lr() const noexcept { return opt_.lr; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }
  [[nodiscard]] const std::vector<Parameter*>& parameters() const noexcept { return params_; }

  /// A copy of the momentum buffers and flags (second-order DARTS restores it after a
  /// virtual step; see snapshot() in state.hpp for the weights).
  [[nodiscard]] State state() const { return State{buf_, started_}; }
  /// Restores a state() of an optimizer over parameters of the same shapes; ConfigError
  /// naming the parameter otherwise. Copies into the existing buffers (no allocation).
  void load_state(const State& s) {
    if (s.started.size() != params_.size())
      throw ConfigError("SGD::load_state: a state of " + std::to_string(s.started.size()) + " parameters for " +
                        std::to_string(params_.size()));
    if (opt_.momentum > 0.0) {
      detail::check_state_tensors("SGD::load_state", "momentum", params_, s.momentum);
      for (std::size_t k = 0; k < buf_.size(); ++k) buf_[k].copy_from(s.momentum[k]);
    } else if (!s.momentum.empty()) {
      throw ConfigError("SGD::load_state: the state has momentum buffers, this SGD has momentum 0");
    }
    started_ = s.started;
  }

 private:
  std::vector<Parameter*> params_;
  Options opt_;
  std::vector<Tensor> buf_;
  std::vector<char> started_;  // [k]: parameter k has stepped (its momentum buffer holds a value)
};

/// torch.optim.Adam (Kingma & Ba 2015), weight decay as an L2 term added to the gradient;
/// with `decoupled = true` it is torch.optim.AdamW (Loshchilov & Hutter 2019): p *= 1 - lr * wd
/// before the Adam step. Step t of a parameter: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
///
/// As torch.optim.Adam keeps `state['step']` per parameter, t counts the steps of that
/// parameter: one without a gradient since the last zero_grad (Parameter::has_grad false)
/// is skipped: no decay, m, v and t unchanged; it resumes at t + 1 when it next gets one.
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
  /// What step() carries from one step to the next, per parameter in the order given:
  /// the moment estimates m and v and the step count t; and the number of step() calls.
  struct State {
    std::vector<Tensor> m, v;
    std::vector<long> steps;
    long calls = 0;
  };

  Adam(std::vector<Parameter*> params, const Options& o) : params_(std::move(params)), opt_(o) {
    if (!(o.lr >= 0.0)) throw ConfigError("Adam: lr (" + std::to_string(o.lr) + ") must be >= 0");
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) throw ConfigError("Adam: beta1 (" + std::to_string(o.beta1) + ") must be in [0, 1)");
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) throw ConfigError("Adam: beta2 (" + std::to_string(o.beta2) + ") must be in [0, 1)");
    if (!(o.eps > 0.0)) throw ConfigError("Adam: eps (" + std::to_string(o.eps) + ") must be > 0");
    detail::check_optimizer_parameters("Adam", params_);
    for (Parameter* p : params_) {
      m_.emplace_back(p->value.shape());
      v_.emplace_back(p->value.shape());
    }
    t_.assign(params_.size(), 0);
  }

  void step() {
    ++calls_;
    const auto b1 = static_cast<float>(opt_.beta1), b2 = static_cast<float>(opt_.beta2), eps = static_cast<float>(opt_.eps);
    const auto wd = static_cast<float>(opt_.weight_decay);
    const auto decay = static_cast<float>(1.0 - opt_.lr * opt_.weight_decay);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      if (!params_[k]->has_grad) continue;
      const auto t = static_cast<double>(++t_[k]);
      const double bc1 = 1.0 - std::pow(opt_.beta1, t);
      const double bc2 = 1.0 - std::pow(opt_.beta2, t);
      const auto step_size = static_cast<float>(opt_.lr / bc1);
      const auto inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
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
  /// Zeroes the gradients and clears Parameter::has_grad.
  void zero_grad() {
    for (Parameter* p : params_) p->zero_grad();
  }
  void set_lr(double lr) noexcept { opt_.lr = lr; }
  [[nodiscard]] double lr() const noexcept { return opt_.lr; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }
  /// How many times step() ran.
  [[nodiscard]] long steps() const noexcept { return calls_; }
  /// The step count t of parameter k (the steps in which it had a gradient).
  [[nodiscard]] long steps(std::size_t k) const { return t_.at(k); }
  [[nodiscard]] const std::vector<Parameter*>& parameters() const noexcept { return params_; }

  /// A copy of m, v and the step counts.
  [[nodiscard]] State state() const { return State{m_, v_, t_, calls_}; }
  /// Restores a state() of an Adam over parameters of the same shapes; ConfigError naming
  /// the parameter otherwise. Copies into the existing buffers (no allocation).
  void load_state(const State& s) {
    detail::check_state_tensors("Adam::load_state", "m", params_, s.m);
    detail::check_state_tensors("Adam::load_state", "v", params_, s.v);
    if (s.steps.size() != params_.size())
      throw ConfigError("Adam::load_state: " + std::to_string(s.steps.size()) + " step counts for " +
                        std::to_string(params_.size()) + " parameters");
    for (std::size_t k = 0; k < params_.size(); ++k) {
      m_[k].copy_from(s.m[k]);
      v_[k].copy_from(s.v[k]);
    }
    t_ = s.steps;
    calls_ = s.calls;
  }

 private:
  std::vector<Parameter*> params_;
  Options opt_;
  std::vector<Tensor> m_, v_;
  std::vector<long> t_;  // [k]: steps of parameter k
  long calls_ = 0;
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
/// Parameters without a gradient (has_grad false) are left out, as torch leaves out those
/// whose grad is None.
inline double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  if (!(max_norm > 0.0)) throw ConfigError("clip_grad_norm: max_norm (" + std::to_string(max_norm) + ") must be > 0");
  double ss = 0.0;
  for (const Parameter* p : params)
    if (p->has_grad)
      for (std::size_t i = 0; i < p->grad.numel(); ++i) ss += static_cast<double>(p->grad[i]) * p->grad[i];
  const double norm = std::sqrt(ss);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (Parameter* p : params)
      if (p->has_grad) p->grad.array() *= static_cast<float>(coef);
  return norm;
}

}  // namespace nas
