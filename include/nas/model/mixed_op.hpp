// MixedOp (DARTS' weighted sum of candidate ops) and the relaxations from architecture weights alpha to op weights.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/model/ops.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// The ops one edge runs in one step and their weights: what a relaxation makes of the
/// edge's alpha (a row of the architecture parameter), and what it needs to send
/// dL/dw back to dL/dalpha.
struct EdgeSample {
  std::vector<std::size_t> ops;  ///< the ops that run, in increasing order
  std::vector<float> weights;    ///< their weights w (the value the forward uses)
  std::vector<double> soft;      ///< the relaxed weights of every op (the softmax or sigmoid of the row)
  std::size_t index = 0;         ///< the sampled op of a single-path relaxation
};

/// Relaxations: how a row alpha of the architecture parameter (one entry per candidate
/// op of an edge) becomes the op weights w. Each provides
///
///     static constexpr std::string_view name;
///     void relaxed(std::span<const float> alpha, std::span<double> w) const;   // deterministic w (logging, discretizing)
///     void sample(std::span<const float> alpha, double tau, Rng&, EdgeSample&) const;  // w for one step
///     void backward(std::span<const float> alpha, double tau, const EdgeSample&,
///                   std::span<const double> dw, std::span<double> dalpha) const;  // dalpha += J^T dw
///
/// where `dw[i]` is dL/dw of the sample's op i (the order of EdgeSample::ops) and `tau`
/// a temperature that only the Gumbel relaxation uses.

/// DARTS (Liu et al. 2019, eq. 2): w = softmax(alpha), every op runs.
struct SoftmaxRelaxation {
  static constexpr std::string_view name = "softmax";
  void relaxed(std::span<const float> alpha, std::span<double> w) const { softmax(alpha, 1.0, w); }
  void sample(std::span<const float> alpha, double, Rng&, EdgeSample& s) const {
    const std::size_t n = alpha.size();
    s.soft.resize(n);
    softmax(alpha, 1.0, s.soft);
    s.ops.resize(n);
    s.weights.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      s.ops[k] = k;
      s.weights[k] = static_cast<float>(s.soft[k]);
    }
    s.index = 0;
  }
  // dL/dalpha_k = w_k (dL/dw_k - sum_j w_j dL/dw_j)
  void backward(std::span<const float>, double, const EdgeSample& s, std::span<const double> dw, std::span<double> dalpha) const {
    double mean = 0.0;
    for (std::size_t i = 0; i < s.ops.size(); ++i) mean += s.soft[s.ops[i]] * dw[i];
    for (std::size_t i = 0; i < s.ops.size(); ++i) dalpha[s.ops[i]] += s.soft[s.ops[i]] * (dw[i] - mean);
  }

  /// softmax(alpha / tau) into w, in double, shifted by the maximum.
  static void softmax(std::span<const float> alpha, double tau, std::span<double> w) {
    double m = -std::numeric_limits<double>::infinity();
    for (float a : alpha) m = std::max(m, static_cast<double>(a) / tau);
    double z = 0.0;
    for (std::size_t k = 0; k < alpha.size(); ++k) z += (w[k] = std::exp(static_cast<double>(alpha[k]) / tau - m));
    for (std::size_t k = 0; k < alpha.size(); ++k) w[k] /= z;
  }
};

/// Fair DARTS (Chu et al. 2020, eq. 3): w = sigmoid(alpha), every op runs, each op's
/// weight independent of the others' (no exclusive competition). The zero-one loss that
/// pushes each w towards 0 or 1 is the search's (Darts adds it to the alpha gradient).
struct SigmoidRelaxation {
  static constexpr std::string_view name = "sigmoid";
  void relaxed(std::span<const float> alpha, std::span<double> w) const {
    for (std::size_t k = 0; k < alpha.size(); ++k) w[k] = sigmoid(alpha[k]);
  }
  void sample(std::span<const float> alpha, double, Rng&, EdgeSample& s) const {
    const std::size_t n = alpha.size();
    s.soft.resize(n);
    relaxed(alpha, s.soft);
    s.ops.resize(n);
    s.weights.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      s.ops[k] = k;
      s.weights[k] = static_cast<float>(s.soft[k]);
    }
    s.index = 0;
  }
  // dL/dalpha_k = w_k (1 - w_k) dL/dw_k
  void backward(std::span<const float>, double, const EdgeSample& s, std::span<const double> dw, std::span<double> dalpha) const {
    for (std::size_t i = 0; i < s.ops.size(); ++i) {
      const double w = s.soft[s.ops[i]];
      dalpha[s.ops[i]] += w * (1.0 - w) * dw[i];
    }
  }
  /// Adds `weight` times the gradient of Fair DARTS' zero-one loss (eq. 5) of the row,
  /// -sum_k (sigmoid(alpha_k) - 1/2)^2, which pushes every weight towards 0 or 1 (the
  /// search divides the paper's w01 by the number of alphas, the loss being their mean).
  void regularize(std::span<const float> alpha, double weight, std::span<double> dalpha) const {
    for (std::size_t k = 0; k < alpha.size(); ++k) {
      const double w = sigmoid(alpha[k]);
      dalpha[k] += weight * -2.0 * (w - 0.5) * w * (1.0 - w);
    }
  }
  static double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }
};

/// GDAS (Dong & Yang 2019, eq. 3-5): one op per step, k = argmax(alpha + g) with Gumbel
/// noise g; it runs with the straight-through weight h_k = 1 - s_k + s_k (value 1), where
/// s = softmax((alpha + g) / tau), so that dL/dalpha = J_s^T e_k dL/dh_k. Only the sampled
/// op runs, so only its dL/dh is known; the other ops' terms (which AutoDL-Projects'
/// GDAS adds as bare scalars h_j = 0) are left out. relaxed() is softmax(alpha), the
/// distribution the Gumbel-max trick samples from.
struct GumbelRelaxation {
  static constexpr std::string_view name = "gumbel";
  void relaxed(std::span<const float> alpha, std::span<double> w) const { SoftmaxRelaxation::softmax(alpha, 1.0, w); }
  void sample(std::span<const float> alpha, double tau, Rng& rng, EdgeSample& s) const {
    if (!(tau > 0.0)) throw ConfigError("GumbelRelaxation::sample: temperature (" + std::to_string(tau) + ") must be > 0");
    const std::size_t n = alpha.size();
    s.soft.resize(n);
    // The Gumbel-perturbed logits alpha_k - log(-log u_k).
    std::vector<float>& g = scratch();
    g.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      double u = rng.uniform();
      u = std::clamp(u, 1e-12, 1.0 - 1e-12);
      g[k] = static_cast<float>(static_cast<double>(alpha[k]) - std::log(-std::log(u)));
    }
    SoftmaxRelaxation::softmax(g, tau, s.soft);
    std::size_t best = 0;
    for (std::size_t k = 1; k < n; ++k)
      if (s.soft[k] > s.soft[best]) best = k;
    s.index = best;
    s.ops.assign(1, best);
    s.weights.assign(1, static_cast<float>(1.0 - s.soft[best] + s.soft[best]));
  }
  // ds_k/dalpha_j = s_k (delta_kj - s_j) / tau
  void backward(std::span<const float> alpha, double tau, const EdgeSample& s, std::span<const double> dw,
                std::span<double> dalpha) const {
    const std::size_t k = s.index;
    for (std::size_t j = 0; j < alpha.size(); ++j)
      dalpha[j] += dw[0] * s.soft[k] * ((j == k ? 1.0 : 0.0) - s.soft[j]) / tau;
  }

 private:
  static std::vector<float>& scratch() {
    thread_local std::vector<float> v;
    return v;
  }
};

/// The mixed operation of DARTS (Liu et al. 2019, eq. 1) on its own: y = sum_k w_k op_k(x)
/// over the active candidates, with backward giving dL/dx, every op's parameter
/// gradients and dL/dw_k = <dL/dy, op_k(x)> (weight_grad()). The relaxation from alpha
/// to w is a relaxation policy's (SoftmaxRelaxation, ...). A cell of a supernet runs the
/// same mixture inside its CellDag (which writes into the node sums directly); this
/// module is the single-edge form, for building blocks and for checking gradients.
///
/// `none` candidates contribute nothing (and their dL/dw is 0); inactive candidates do
/// not run.
class MixedOp final : public Module {
 public:
  /// Candidates with their names (unique); all start active with weight 1 / count.
  MixedOp(std::vector<std::string> names, std::vector<CellOp> ops) : names_(std::move(names)), ops_(std::move(ops)) {
    if (ops_.empty() || names_.size() != ops_.size())
      throw ConfigError("MixedOp: " + std::to_string(ops_.size()) + " ops and " + std::to_string(names_.size()) +
                        " names (need at least one op, one name each)");
    for (std::size_t k = 0; k < names_.size(); ++k)
      for (std::size_t j = 0; j < k; ++j)
        if (names_[j] == names_[k]) throw ConfigError("MixedOp: two ops named '" + names_[k] + "'");
    std::vector<std::size_t> all(ops_.size());
    std::vector<float> w(ops_.size(), 1.0f / static_cast<float>(ops_.size()));
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    set_active(all, w);
  }
  /// One op per name of `names` (make_cell_op), all of `geometry`.
  MixedOp(const std::vector<std::string>& names, const CellOpGeometry& geometry, Rng& rng)
      : MixedOp(names, build(names, geometry, rng)) {}

  /// Runs `ops` (each at most once) with weights[i] on ops[i]; the others are idle.
  void set_active(std::span<const std::size_t> ops, std::span<const float> weights) {
    if (ops.empty() || weights.size() != ops.size())
      throw ConfigError("MixedOp::set_active: " + std::to_string(weights.size()) + " weights for " +
                        std::to_string(ops.size()) + " ops (need at least one op)");
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i] >= ops_.size())
        throw ConfigError("MixedOp::set_active: op " + std::to_string(ops[i]) + " (the edge has " +
                          std::to_string(ops_.size()) + ")");
      for (std::size_t j = 0; j < i; ++j)
        if (ops[j] == ops[i]) throw ConfigError("MixedOp::set_active: op " + std::to_string(ops[i]) + " twice");
    }
    active_.assign(ops.begin(), ops.end());
    weights_.assign(weights.begin(), weights.end());
    grads_.assign(ops_.size(), 0.0);
    outs_.assign(ops_.size(), nullptr);
  }
  /// dL/dw of candidate k after backward (0 for one that did not run or is `none`).
  [[nodiscard]] double weight_grad(std::size_t k) const {
    if (k >= grads_.size())
      throw ConfigError("MixedOp::weight_grad: op " + std::to_string(k) + " (the edge has " + std::to_string(ops_.size()) + ")");
    return grads_[k];
  }
  [[nodiscard]] std::size_t num_ops() const noexcept { return ops_.size(); }
  [[nodiscard]] const std::vector<std::string>& names() const noexcept { return names_; }
  [[nodiscard]] Module& op(std::size_t k) { return *ops_.at(k).module; }

  const Tensor& forward(const Tensor& x) override {
    in_shape_ = x.shape();
    out_.resize(output_shape(x.shape()));
    out_.zero();
    for (std::size_t i = 0; i < active_.size(); ++i) {
      const std::size_t k = active_[i];
      if (ops_[k].is_none) continue;
      const Tensor& y = ops_[k].module->forward(x);
      outs_[k] = &y;
      axpy_into(out_, weights_[i], y);
    }
    return out_;
  }
  const Tensor& backward(const Tensor& dy) override {
    dx_.resize(in_shape_);
    dx_.zero();
    for (std::size_t i = 0; i < active_.size(); ++i) {
      const std::size_t k = active_[i];
      if (ops_[k].is_none) {
        grads_[k] = 0.0;
        continue;
      }
      grads_[k] = dot(dy, *outs_[k]);  // d(w y)/dw = y
      scaled_.resize(dy.shape());
      for (std::size_t j = 0; j < dy.numel(); ++j) scaled_[j] = weights_[i] * dy[j];
      add_into(dx_, ops_[k].module->backward(scaled_));
    }
    return dx_;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    for (const auto& op : ops_)
      if (!op.is_none) return op.module->output_shape(in);
    return ops_.front().module->output_shape(in);
  }
  [[nodiscard]] double macs(const Shape& in) const override {
    double m = 0.0;
    for (const auto& op : ops_) m += op.module->macs(in);
    return m;
  }
  [[nodiscard]] std::string type_name() const override { return "MixedOp"; }
  void release_buffers() override {
    release(out_, dx_, scaled_);
    Module::release_buffers();
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    for (std::size_t k = 0; k < ops_.size(); ++k) f(names_[k], *ops_[k].module);
  }

 private:
  static std::vector<CellOp> build(const std::vector<std::string>& names, const CellOpGeometry& g, Rng& rng) {
    std::vector<CellOp> ops;
    for (const auto& n : names) ops.push_back(make_cell_op(n, g, rng));
    return ops;
  }

  std::vector<std::string> names_;
  std::vector<CellOp> ops_;
  std::vector<std::size_t> active_;
  std::vector<float> weights_;
  std::vector<double> grads_;
  std::vector<const Tensor*> outs_;
  Shape in_shape_;
  Tensor out_, dx_, scaled_;
};

}  // namespace nas
