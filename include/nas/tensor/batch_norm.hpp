// BatchNorm2d: per-channel batch normalisation with running statistics, as in PyTorch.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "nas/tensor/module.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

namespace detail {
// Reductions over a plane with 16 independent float lanes: vectorisable without
// -ffast-math, and the summation order is fixed (results do not depend on threads).
inline constexpr int bn_lanes = 16;
template <class Term>
float lane_reduce(std::size_t n, Term term) {
  float acc[bn_lanes] = {};
  std::size_t i = 0;
  for (; i + bn_lanes <= n; i += bn_lanes)
    for (int l = 0; l < bn_lanes; ++l) acc[l] += term(i + static_cast<std::size_t>(l));
  float total = 0.0f;
  for (int l = 0; l < bn_lanes; ++l) total += acc[l];
  for (; i < n; ++i) total += term(i);
  return total;
}
// The per-plane loops, over restrict pointers so they vectorise inside OpenMP regions.
// xhat = (x - mean) * inv_std is computed the same way in forward and backward.
inline void bn_normalize(const float* __restrict x, float* __restrict y, std::size_t n, float mean, float inv_std,
                         float g, float b) {
  for (std::size_t i = 0; i < n; ++i) y[i] = ((x[i] - mean) * inv_std) * g + b;
}
inline void bn_affine(const float* __restrict x, float* __restrict y, std::size_t n, float scale, float shift) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}
// The same, added to y (the term is rounded to float first, as a stored output would be).
inline void bn_normalize_add(const float* __restrict x, float* __restrict y, std::size_t n, float mean, float inv_std,
                             float g, float b) {
  for (std::size_t i = 0; i < n; ++i) {
    const float t = ((x[i] - mean) * inv_std) * g + b;
    y[i] += t;
  }
}
inline void bn_affine_add(const float* __restrict x, float* __restrict y, std::size_t n, float scale, float shift) {
  for (std::size_t i = 0; i < n; ++i) {
    const float t = x[i] * scale + shift;
    y[i] += t;
  }
}
inline void bn_input_grad(const float* __restrict x, const float* __restrict dy, float* __restrict dx, std::size_t n,
                          float mean, float inv_std, float k, float m, float s1, float s2) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = k * (m * dy[i] - s1 - ((x[i] - mean) * inv_std) * s2);
}
/// bn_input_grad writing dx over x.
inline void bn_input_grad_in_place(float* __restrict xdx, const float* __restrict dy, std::size_t n, float mean,
                                   float inv_std, float k, float m, float s1, float s2) {
  for (std::size_t i = 0; i < n; ++i) xdx[i] = k * (m * dy[i] - s1 - ((xdx[i] - mean) * inv_std) * s2);
}
}  // namespace detail

/// Batch normalisation over (N, H, W) per channel (Ioffe & Szegedy 2015), matching
/// torch.nn.BatchNorm2d: in training the batch mean and biased variance normalise, and
/// the running estimates move by `momentum` towards the batch mean and the UNBIASED
/// variance; in evaluation the running estimates normalise. With
/// `track_running_stats = false` batch statistics are used in both modes.
/// Parameters (when `affine`): weight (gamma, init 1) and bias (beta, init 0).
class BatchNorm2d final : public Module {
 public:
  struct Options {
    int channels = 1;
    float eps = 1e-5f;
    float momentum = 0.1f;
    bool affine = true;
    bool track_running_stats = true;
  };

  explicit BatchNorm2d(const Options& o) : opt_(o) {
    if (o.channels < 1) throw ConfigError("BatchNorm2d: channels (" + std::to_string(o.channels) + ") must be >= 1");
    if (!(o.eps > 0.0f)) throw ConfigError("BatchNorm2d: eps (" + std::to_string(o.eps) + ") must be > 0");
    if (!(o.momentum >= 0.0f && o.momentum <= 1.0f))
      throw ConfigError("BatchNorm2d: momentum (" + std::to_string(o.momentum) + ") must be in [0, 1]");
    if (o.affine) {
      gamma_ = Parameter("weight", Shape{o.channels});
      gamma_.value.fill(1.0f);
      beta_ = Parameter("bias", Shape{o.channels});
    }
    running_mean_ = Parameter("running_mean", Shape{o.channels}, ParamGroup::buffer);
    running_var_ = Parameter("running_var", Shape{o.channels}, ParamGroup::buffer);
    running_var_.value.fill(1.0f);
    mean_ = Tensor(Shape{o.channels});
    inv_std_ = Tensor(Shape{o.channels});
  }
  explicit BatchNorm2d(int channels) : BatchNorm2d(Options{.channels = channels}) {}

  const Tensor& forward(const Tensor& x) override {
    check_input(x.shape());
    y_.resize(x.shape());
    run(x, y_.data(), false);
    return y_;
  }
  [[nodiscard]] bool forward_into_is_direct() const noexcept override { return true; }
  /// Writes (or adds) the output into `target` without keeping a copy of its own.
  void forward_into(const Tensor& x, Tensor& target, bool accumulate) override {
    check_input(x.shape());
    if (accumulate && target.shape() != x.shape())
      throw ConfigError("BatchNorm2d::forward_into: target " + target.shape().str() + " for an output " + x.shape().str());
    if (!accumulate) target.resize(x.shape());
    NAS_ASSERT(target.data() != x.data(), "BatchNorm2d::forward_into: the target aliases the input");
    run(x, target.data(), accumulate);
  }


  // Training: dx = inv_std / m * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), with
  // dxhat = gamma * dy; evaluation with running statistics is an affine map: dx = gamma * inv_std * dy.
  const Tensor& backward(const Tensor& dy) override {
    NAS_ASSERT(x_ != nullptr, "BatchNorm2d::backward before forward");
    check_shape("BatchNorm2d::backward", dy, out_shape_);
    const int N = dy.dim(0), C = dy.dim(1);
    const std::size_t hw = static_cast<std::size_t>(dy.dim(2)) * static_cast<std::size_t>(dy.dim(3));
    const std::size_t m = static_cast<std::size_t>(N) * hw;
    // In place, dx overwrites x: every value of x is read before (sums) or as (the same
    // index) its dx is written.
    const Tensor& dx = in_place_ ? *x_ : dx_;
    if (!in_place_) dx_.resize(dy.shape());
    const float* dyd = dy.data();
    float* dxd = const_cast<float*>(dx.data());
    const float* xd = x_->data();
    detail::parallel_for(C, m * static_cast<std::size_t>(C), [&](int c) {
      const float g = opt_.affine ? gamma_.value[static_cast<std::size_t>(c)] : 1.0f;
      const float inv_std = inv_std_[static_cast<std::size_t>(c)];
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      if (batch_stats_) {
        for (int n = 0; n < N; ++n) {
          const std::size_t off = (static_cast<std::size_t>(n) * C + c) * hw;
          const float* gy = dyd + off;
          const float* xv = xd + off;
          const float mean = mean_[static_cast<std::size_t>(c)];
          sum_dy += detail::lane_reduce(hw, [gy](std::size_t i) { return gy[i]; });
          sum_dy_xhat +=
              detail::lane_reduce(hw, [gy, xv, mean, inv_std](std::size_t i) { return gy[i] * ((xv[i] - mean) * inv_std); });
        }
        const auto k = static_cast<float>(g * inv_std / static_cast<double>(m));
        const auto fm = static_cast<float>(m);
        const auto s1 = static_cast<float>(sum_dy);
        const auto s2 = static_cast<float>(sum_dy_xhat);
        const float mean = mean_[static_cast<std::size_t>(c)];
        for (int n = 0; n < N; ++n) {
          const std::size_t off = (static_cast<std::size_t>(n) * C + c) * hw;
          if (in_place_)
            detail::bn_input_grad_in_place(dxd + off, dyd + off, hw, mean, inv_std, k, fm, s1, s2);
          else
            detail::bn_input_grad(xd + off, dyd + off, dxd + off, hw, mean, inv_std, k, fm, s1, s2);
        }
      } else {
        const float mean = mean_[static_cast<std::size_t>(c)];
        const float k = g * inv_std;
        if (opt_.affine) {
          // xhat is never stored: recompute it from the input (before dx may overwrite it).
          for (int n = 0; n < N; ++n) {
            const std::size_t off = (static_cast<std::size_t>(n) * C + c) * hw;
            const float* gy = dyd + off;
            const float* xv = xd + off;
            sum_dy += detail::lane_reduce(hw, [gy](std::size_t i) { return gy[i]; });
            sum_dy_xhat += detail::lane_reduce(hw, [gy, xv, mean, inv_std](std::size_t i) { return gy[i] * (xv[i] - mean) * inv_std; });
          }
        }
        for (int n = 0; n < N; ++n) {
          const std::size_t off = (static_cast<std::size_t>(n) * C + c) * hw;
          for (std::size_t i = 0; i < hw; ++i) dxd[off + i] = k * dyd[off + i];
        }
      }
      if (opt_.affine) {  // has_grad is set after the loop
        gamma_.grad[static_cast<std::size_t>(c)] += static_cast<float>(sum_dy_xhat);
        beta_.grad[static_cast<std::size_t>(c)] += static_cast<float>(sum_dy);
      }
    });
    if (opt_.affine) gamma_.has_grad = beta_.has_grad = true;
    return dx;
  }

  /// With `on`, backward() writes dL/dx over the input it was given instead of into a
  /// buffer of its own, and returns that input: one activation-sized buffer less per
  /// BatchNorm during training. Only for an input that nothing reads once this backward
  /// has run. Sequential turns it on for a BatchNorm2d right after a Conv2d of the same
  /// chain, whose output only the BatchNorm reads.
  void overwrite_input_in_backward(bool on) noexcept { in_place_ = on; }
  [[nodiscard]] bool overwrites_input_in_backward() const noexcept { return in_place_; }

  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    check_input(in);
    return in;
  }
  [[nodiscard]] std::string type_name() const override { return "BatchNorm2d"; }
  void release_buffers() override {
    release(y_, dx_);  // mean_ and inv_std_ (C floats each) are sized once
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::batch_norm2d, {x}, output_shape(t.shape(x)));
    n.bn = BatchNormGeometry{opt_.channels, opt_.eps, opt_.momentum, opt_.affine, opt_.track_running_stats,
                             opt_.track_running_stats ? &running_mean_.value : nullptr,
                             opt_.track_running_stats ? &running_var_.value : nullptr};
    n.weight = opt_.affine ? &gamma_ : nullptr;
    n.bias = opt_.affine ? &beta_ : nullptr;
    return t.add(std::move(n));
  }
  /// weight and bias (when affine), then the buffers running_mean and running_var (when
  /// tracked), as torch's state_dict lists them; there is no num_batches_tracked, as the
  /// momentum is fixed.
  void own_parameters(std::vector<Parameter*>& out) override {
    if (opt_.affine) {
      out.push_back(&gamma_);
      out.push_back(&beta_);
    }
    if (opt_.track_running_stats) {
      out.push_back(&running_mean_);
      out.push_back(&running_var_);
    }
  }

  /// Whether evaluation mode is the fixed per-channel map y = scale x + shift (it is when
  /// running statistics are tracked; otherwise evaluation normalises by the batch).
  [[nodiscard]] bool eval_is_affine() const noexcept { return opt_.track_running_stats; }
  /// The evaluation-mode map's scale and shift per channel, computed as forward() does.
  void eval_affine(float* scale, float* shift) const {
    NAS_ASSERT(eval_is_affine(), "BatchNorm2d::eval_affine without running statistics");
    for (int c = 0; c < opt_.channels; ++c) {
      const auto ci = static_cast<std::size_t>(c);
      const float inv_std = 1.0f / std::sqrt(running_var_.value[ci] + opt_.eps);
      const float g = opt_.affine ? gamma_.value[ci] : 1.0f;
      const float b = opt_.affine ? beta_.value[ci] : 0.0f;
      scale[ci] = g * inv_std;
      shift[ci] = b - running_mean_.value[ci] * scale[ci];
    }
  }

  [[nodiscard]] Tensor& running_mean() noexcept { return running_mean_.value; }
  [[nodiscard]] Tensor& running_var() noexcept { return running_var_.value; }
  [[nodiscard]] Parameter& weight() noexcept { return gamma_; }
  [[nodiscard]] Parameter& bias() noexcept { return beta_; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }

 private:
  // The forward pass into `yd` (added to it when `accumulate`); remembers what backward needs.
  void run(const Tensor& x, float* yd, bool accumulate) {
    x_ = &x;
    out_shape_ = x.shape();
    const int N = x.dim(0), C = x.dim(1);
    const std::size_t hw = static_cast<std::size_t>(x.dim(2)) * static_cast<std::size_t>(x.dim(3));
    const std::size_t m = static_cast<std::size_t>(N) * hw;
    batch_stats_ = is_training() || !opt_.track_running_stats;
    if (batch_stats_ && m < 2 && is_training())
      throw ConfigError("BatchNorm2d: training needs more than 1 value per channel (input " + x.shape().str() + ")");
    const float* xd = x.data();
    const bool update = is_training() && opt_.track_running_stats;
    detail::parallel_for(C, m * static_cast<std::size_t>(C), [&](int c) {
      float mean, inv_std;
      if (batch_stats_) {
        double s = 0.0, ss = 0.0;
        for (int n = 0; n < N; ++n) {
          const float* p = xd + (static_cast<std::size_t>(n) * C + c) * hw;
          s += detail::lane_reduce(hw, [p](std::size_t i) { return p[i]; });
        }
        const double mu = s / static_cast<double>(m);
        for (int n = 0; n < N; ++n) {
          const float* p = xd + (static_cast<std::size_t>(n) * C + c) * hw;
          const auto fmu = static_cast<float>(mu);
          ss += detail::lane_reduce(hw, [p, fmu](std::size_t i) {
            const float d = p[i] - fmu;
            return d * d;
          });
        }
        const double var = ss / static_cast<double>(m);
        mean = static_cast<float>(mu);
        inv_std = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(opt_.eps)));
        if (update) {
          const double unbiased = m > 1 ? ss / static_cast<double>(m - 1) : var;
          const double mom = opt_.momentum;
          running_mean_.value[static_cast<std::size_t>(c)] =
              static_cast<float>((1.0 - mom) * running_mean_.value[static_cast<std::size_t>(c)] + mom * mu);
          running_var_.value[static_cast<std::size_t>(c)] =
              static_cast<float>((1.0 - mom) * running_var_.value[static_cast<std::size_t>(c)] + mom * unbiased);
        }
      } else {
        mean = running_mean_.value[static_cast<std::size_t>(c)];
        inv_std = 1.0f / std::sqrt(running_var_.value[static_cast<std::size_t>(c)] + opt_.eps);
      }
      mean_[static_cast<std::size_t>(c)] = mean;
      inv_std_[static_cast<std::size_t>(c)] = inv_std;
      const float g = opt_.affine ? gamma_.value[static_cast<std::size_t>(c)] : 1.0f;
      const float b = opt_.affine ? beta_.value[static_cast<std::size_t>(c)] : 0.0f;
      const float scale = g * inv_std;
      const float shift = b - mean * scale;
      for (int n = 0; n < N; ++n) {
        const std::size_t off = (static_cast<std::size_t>(n) * C + c) * hw;
        if (batch_stats_ && accumulate)
          detail::bn_normalize_add(xd + off, yd + off, hw, mean, inv_std, g, b);
        else if (batch_stats_)
          detail::bn_normalize(xd + off, yd + off, hw, mean, inv_std, g, b);
        else if (accumulate)
          detail::bn_affine_add(xd + off, yd + off, hw, scale, shift);
        else
          detail::bn_affine(xd + off, yd + off, hw, scale, shift);
      }
    });
  }

  void check_input(const Shape& in) const {
    if (in.rank() != 4 || in[1] != opt_.channels)
      throw ConfigError("BatchNorm2d: input " + in.str() + " (expected [N, " + std::to_string(opt_.channels) + ", H, W])");
  }

  Options opt_;
  Parameter gamma_, beta_;
  Parameter running_mean_, running_var_;  // group buffer
  Tensor mean_, inv_std_;  // statistics used by the last forward
  Tensor y_, dx_;  // the normalised input is recomputed from x_ in backward, not stored
  Shape out_shape_;  // of the last forward (y_ stays empty after forward_into)
  bool batch_stats_ = true;
  bool in_place_ = false;  // backward writes dx over *x_
  const Tensor* x_ = nullptr;
};

}  // namespace nas
