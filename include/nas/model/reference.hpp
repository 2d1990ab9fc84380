// GraphExecutor: a NetworkGraph run forward and backward in a chosen precision (double by default).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// What BatchNorm2d nodes compute in a GraphExecutor.
enum class BatchNormMode {
  /// Normalise by the batch's mean and biased variance, as in training (the running
  /// statistics are read, never updated).
  batch_statistics,
  /// Normalise by the running statistics, as in evaluation (nodes without running
  /// statistics use the batch's, as the module does).
  running_statistics,
  /// The identity: the network without its BatchNorms (SynFlow's default, bn=False in
  /// Abdelfattah et al.'s zero-cost-nas).
  bypass,
};

struct ExecutorOptions {
  BatchNormMode batch_norm = BatchNormMode::batch_statistics;
  /// Run with |theta| for every parameter and running mean (SynFlow's linearised network,
  /// Tanaka et al. 2020: the reference linearize() takes abs_() of the whole state_dict).
  /// Gradients are then with respect to the |theta| values.
  bool abs_parameters = false;
};

/// Runs a NetworkGraph forward and backward with scalars of type T, on its own copies of
/// the network's parameters (taken by load_parameters()). Every op is written out
/// directly, with no fusion or reordering, so with T = double it is a reference for the
/// float network's results and gradients, and it does not overflow where float does
/// (SynFlow multiplies |theta| through every layer). Dropout nodes are the identity.
///
/// Use: forward(x), then backward(dL/dy); input_grad() and grad(parameter) give dL/dx and
/// dL/dtheta. value(parameter) is the executor's copy of a parameter, which a finite
/// difference may perturb; load_parameters() re-reads the network's.
/// \tparam T float or double.
template <class T>
class GraphExecutor {
 public:
  using Array = std::vector<T>;

  explicit GraphExecutor(const NetworkGraph& g, const ExecutorOptions& o = {}) : g_(g), o_(o) {
    if (g.nodes.empty() || g.nodes[0].kind != NodeKind::input) throw ConfigError("GraphExecutor: the graph has no input node");
    const std::size_t n = g.nodes.size();
    for (std::size_t i = 0; i < n; ++i) {
      const GraphNode& node = g.nodes[i];
      for (int in : node.inputs)
        if (in < 0 || static_cast<std::size_t>(in) >= i)
          throw ConfigError("GraphExecutor: node " + std::to_string(i) + " reads node " + std::to_string(in) +
                            " (inputs must be earlier nodes)");
      for (Parameter* p : {node.weight, node.bias})
        if (p && !index_.count(p)) {
          index_[p] = params_.size();
          params_.push_back(p);
        }
    }
    vals_.resize(n);
    grads_.resize(n);
    stats_.resize(n);
    argmax_.resize(n);
    values_.resize(params_.size());
    pgrads_.resize(params_.size());
    load_parameters();
  }

  /// Copies the network's current parameter values and running statistics (|.| of them
  /// with abs_parameters).
  void load_parameters() {
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const Tensor& v = params_[k]->value;
      values_[k].assign(v.numel(), T(0));
      for (std::size_t i = 0; i < v.numel(); ++i) values_[k][i] = from_float(v[i]);
      pgrads_[k].assign(v.numel(), T(0));
    }
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const GraphNode& node = g_.nodes[i];
      if (node.kind != NodeKind::batch_norm2d || !node.bn.running_mean) continue;
      Stats& s = stats_[i];
      s.running_mean.resize(node.bn.running_mean->numel());
      s.running_var.resize(node.bn.running_var->numel());
      for (std::size_t c = 0; c < s.running_mean.size(); ++c) {
        s.running_mean[c] = from_float((*node.bn.running_mean)[c]);
        s.running_var[c] = static_cast<T>((*node.bn.running_var)[c]);
      }
    }
  }

  /// The output for input `x` (of the graph's input shape).
  const Array& forward(const Tensor& x) {
    check_shape("GraphExecutor::forward", x, g_.input_shape());
    vals_[0].assign(x.begin(), x.end());
    return run_forward();
  }
  const Array& forward(const Array& x) {
    if (x.size() != g_.input_shape().numel())
      throw ConfigError("GraphExecutor::forward: " + std::to_string(x.size()) + " values for the input " +
                        g_.input_shape().str());
    vals_[0] = x;
    return run_forward();
  }

  /// Back-propagates dL/d(output) (flat, the output's shape); parameter gradients are
  /// overwritten, not accumulated.
  void backward(const Array& dy) {
    if (vals_[0].empty()) throw ConfigError("GraphExecutor::backward before forward");
    if (dy.size() != g_.output_shape().numel())
      throw ConfigError("GraphExecutor::backward: " + std::to_string(dy.size()) + " values for the output " +
                        g_.output_shape().str());
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) grads_[i].assign(g_.nodes[i].shape.numel(), T(0));
    for (auto& pg : pgrads_) std::fill(pg.begin(), pg.end(), T(0));
    auto& go = grads_[static_cast<std::size_t>(g_.output)];
    for (std::size_t i = 0; i < dy.size(); ++i) go[i] += dy[i];
    for (std::size_t i = g_.nodes.size(); i-- > 1;) backward_node(i);
  }
  void backward(const Tensor& dy) {
    check_shape("GraphExecutor::backward", dy, g_.output_shape());
    backward(Array(dy.begin(), dy.end()));
  }

  [[nodiscard]] const Array& output() const { return vals_[static_cast<std::size_t>(g_.output)]; }
  /// The output of node `id` in the last forward.
  [[nodiscard]] const Array& node_output(int id) const { return vals_.at(static_cast<std::size_t>(id)); }
  [[nodiscard]] const Array& input_grad() const { return grads_[0]; }
  /// Whether `p` is used by the graph (parameters of ops that never run are not).
  [[nodiscard]] bool has(const Parameter& p) const { return index_.count(&p) != 0; }
  /// The executor's copy of `p` (perturb it for finite differences).
  [[nodiscard]] Array& value(const Parameter& p) { return values_[at(p)]; }
  /// dL/dp from the last backward.
  [[nodiscard]] const Array& grad(const Parameter& p) const { return pgrads_[at(p)]; }
  /// The parameters the graph uses, in node order.
  [[nodiscard]] const std::vector<Parameter*>& parameters() const noexcept { return params_; }
  /// Where the last forward sat on the kinks of the piecewise-smooth ops: each ReLU
  /// input's sign and each max-pool window's argmax. Two forwards with equal patterns ran
  /// through the same smooth piece, so a finite difference between them is meaningful.
  [[nodiscard]] const std::vector<std::int32_t>& kink_pattern() const noexcept { return kinks_; }
  [[nodiscard]] const NetworkGraph& graph() const noexcept { return g_; }
  [[nodiscard]] const ExecutorOptions& options() const noexcept { return o_; }

 private:
  struct Stats {
    Array mean, inv_std;                // the last forward's normalisation per channel
    Array running_mean, running_var;   // copies of the module's
    bool batch = false;                // normalised by batch statistics
    bool identity = false;             // bypassed
  };

  T from_float(float v) const { return o_.abs_parameters ? static_cast<T>(std::fabs(v)) : static_cast<T>(v); }
  std::size_t at(const Parameter& p) const {
    const auto it = index_.find(&p);
    if (it == index_.end()) throw ConfigError("GraphExecutor: parameter '" + p.name + "' is not in the graph");
    return it->second;
  }
  const T* pvalue(const Parameter* p) const { return p ? values_[index_.at(p)].data() : nullptr; }
  T* pgrad(const Parameter* p) { return p ? pgrads_[index_.at(p)].data() : nullptr; }
  const Shape& in_shape(const GraphNode& n, std::size_t k = 0) const {
    return g_.nodes[static_cast<std::size_t>(n.inputs[k])].shape;
  }
  const Array& in_val(const GraphNode& n, std::size_t k = 0) const { return vals_[static_cast<std::size_t>(n.inputs[k])]; }
  Array& in_grad(const GraphNode& n, std::size_t k = 0) { return grads_[static_cast<std::size_t>(n.inputs[k])]; }

  // The output positions o with 0 <= o * stride + off < n: [lo, hi).
  static void range(int n_out, int stride, int off, int n, int& lo, int& hi) {
    lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    hi = n - 1 - off < 0 ? 0 : std::min(n_out, (n - 1 - off) / stride + 1);
    if (hi < lo) hi = lo;
  }

  const Array& run_forward() {
    kinks_.clear();
    for (std::size_t i = 1; i < g_.nodes.size(); ++i) forward_node(i);
    return output();
  }

  void forward_node(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    Array& y = vals_[i];
    y.assign(n.shape.numel(), T(0));
    switch (n.kind) {
      case NodeKind::input: break;
      case NodeKind::conv2d: conv(n, in_val(n), y, nullptr, nullptr, nullptr, nullptr); break;
      case NodeKind::batch_norm2d: bn_forward(i); break;
      case NodeKind::relu: {
        const Array& x = in_val(n);
        for (std::size_t k = 0; k < x.size(); ++k) {
          y[k] = x[k] > T(0) ? x[k] : T(0);
          kinks_.push_back(x[k] > T(0) ? 1 : 0);
        }
        break;
      }
      case NodeKind::silu: {
        const Array& x = in_val(n);
        for (std::size_t k = 0; k < x.size(); ++k) y[k] = x[k] / (T(1) + std::exp(-x[k]));
        break;
      }
      case NodeKind::sigmoid: {
        const Array& x = in_val(n);
        for (std::size_t k = 0; k < x.size(); ++k) y[k] = T(1) / (T(1) + std::exp(-x[k]));
        break;
      }
      case NodeKind::channel_scale: {
        const Array& x = in_val(n, 0);
        const Array& s = in_val(n, 1);
        const std::size_t hw = static_cast<std::size_t>(n.shape[2]) * static_cast<std::size_t>(n.shape[3]);
        for (std::size_t p = 0; p < s.size(); ++p)
          for (std::size_t k = 0; k < hw; ++k) y[p * hw + k] = x[p * hw + k] * s[p];
        break;
      }
      case NodeKind::avg_pool2d:
      case NodeKind::max_pool2d: pool_forward(i); break;
      case NodeKind::global_avg_pool: {
        const Shape& s = in_shape(n);
        const std::size_t hw = static_cast<std::size_t>(s[2]) * static_cast<std::size_t>(s[3]);
        const Array& x = in_val(n);
        for (std::size_t p = 0; p < y.size(); ++p) {
          T acc = 0;
          for (std::size_t k = 0; k < hw; ++k) acc += x[p * hw + k];
          y[p] = acc / static_cast<T>(hw);
        }
        break;
      }
      case NodeKind::linear: {
        const int N = n.shape[0], I = n.linear.in_features, O = n.linear.out_features;
        const T* w = pvalue(n.weight);
        const T* b = pvalue(n.bias);
        const Array& x = in_val(n);
        for (int a = 0; a < N; ++a)
          for (int o = 0; o < O; ++o) {
            T acc = b ? b[o] : T(0);
            for (int k = 0; k < I; ++k) acc += w[static_cast<std::size_t>(o) * I + k] * x[static_cast<std::size_t>(a) * I + k];
            y[static_cast<std::size_t>(a) * O + o] = acc;
          }
        break;
      }
      case NodeKind::add:
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
          const Array& x = in_val(n, k);
          for (std::size_t e = 0; e < y.size(); ++e) y[e] += x[e];
        }
        break;
      case NodeKind::concat: concat(n, y, false); break;
      case NodeKind::zero: break;
      case NodeKind::identity:
      case NodeKind::flatten:
      case NodeKind::dropout: y = in_val(n); break;
      case NodeKind::shift: {
        const Shape& s = n.shape;
        const int planes = s[0] * s[1], H = s[2], W = s[3];
        const Array& x = in_val(n);
        for (int p = 0; p < planes; ++p)
          for (int h = 0; h + 1 < H; ++h)
            for (int w = 0; w + 1 < W; ++w)
              y[(static_cast<std::size_t>(p) * H + h) * W + w] = x[(static_cast<std::size_t>(p) * H + h + 1) * W + w + 1];
        break;
      }
    }
  }

  void backward_node(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    const Array& dy = grads_[i];
    switch (n.kind) {
      case NodeKind::input:
      case NodeKind::zero: break;
      case NodeKind::conv2d: {
        Array dummy;
        conv(n, in_val(n), dummy, &dy, &in_grad(n), pgrad(n.weight), pgrad(n.bias));
        break;
      }
      case NodeKind::batch_norm2d: bn_backward(i); break;
      case NodeKind::relu: {
        const Array& x = in_val(n);
        Array& dx = in_grad(n);
        for (std::size_t k = 0; k < x.size(); ++k)
          if (x[k] > T(0)) dx[k] += dy[k];
        break;
      }
      case NodeKind::silu: {
        const Array& x = in_val(n);
        Array& dx = in_grad(n);
        for (std::size_t k = 0; k < x.size(); ++k) {
          const T s = T(1) / (T(1) + std::exp(-x[k]));
          dx[k] += dy[k] * s * (T(1) + x[k] * (T(1) - s));
        }
        break;
      }
      case NodeKind::sigmoid: {
        const Array& y = vals_[i];
        Array& dx = in_grad(n);
        for (std::size_t k = 0; k < y.size(); ++k) dx[k] += dy[k] * y[k] * (T(1) - y[k]);
        break;
      }
      case NodeKind::channel_scale: {
        const Array& x = in_val(n, 0);
        const Array& s = in_val(n, 1);
        Array& dx = in_grad(n, 0);
        Array& ds = in_grad(n, 1);
        const std::size_t hw = static_cast<std::size_t>(n.shape[2]) * static_cast<std::size_t>(n.shape[3]);
        for (std::size_t p = 0; p < s.size(); ++p)
          for (std::size_t k = 0; k < hw; ++k) {
            dx[p * hw + k] += dy[p * hw + k] * s[p];
            ds[p] += dy[p * hw + k] * x[p * hw + k];
          }
        break;
      }
      case NodeKind::avg_pool2d:
      case NodeKind::max_pool2d: pool_backward(i); break;
      case NodeKind::global_avg_pool: {
        const Shape& s = in_shape(n);
        const std::size_t hw = static_cast<std::size_t>(s[2]) * static_cast<std::size_t>(s[3]);
        Array& dx = in_grad(n);
        for (std::size_t p = 0; p < dy.size(); ++p)
          for (std::size_t k = 0; k < hw; ++k) dx[p * hw + k] += dy[p] / static_cast<T>(hw);
        break;
      }
      case NodeKind::linear: {
        const int N = n.shape[0], I = n.linear.in_features, O = n.linear.out_features;
        const T* w = pvalue(n.weight);
        T* dw = pgrad(n.weight);
        T* db = pgrad(n.bias);
        const Array& x = in_val(n);
        Array& dx = in_grad(n);
        for (int a = 0; a < N; ++a)
          for (int o = 0; o < O; ++o) {
            const T g = dy[static_cast<std::size_t>(a) * O + o];
            if (db) db[o] += g;
            for (int k = 0; k < I; ++k) {
              dw[static_cast<std::size_t>(o) * I + k] += g * x[static_cast<std::size_t>(a) * I + k];
              dx[static_cast<std::size_t>(a) * I + k] += g * w[static_cast<std::size_t>(o) * I + k];
            }
          }
        break;
      }
      case NodeKind::add:
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
          Array& dx = in_grad(n, k);
          for (std::size_t e = 0; e < dy.size(); ++e) dx[e] += dy[e];
        }
        break;
      case NodeKind::concat: concat(n, grads_[i], true); break;
      case NodeKind::identity:
      case NodeKind::flatten:
      case NodeKind::dropout: {
        Array& dx = in_grad(n);
        for (std::size_t e = 0; e < dy.size(); ++e) dx[e] += dy[e];
        break;
      }
      case NodeKind::shift: {
        const Shape& s = n.shape;
        const int planes = s[0] * s[1], H = s[2], W = s[3];
        Array& dx = in_grad(n);
        for (int p = 0; p < planes; ++p)
          for (int h = 0; h + 1 < H; ++h)
            for (int w = 0; w + 1 < W; ++w)
              dx[(static_cast<std::size_t>(p) * H + h + 1) * W + w + 1] += dy[(static_cast<std::size_t>(p) * H + h) * W + w];
        break;
      }
    }
  }

  // Forward (dy == nullptr: y = conv(x)) or backward (dx, dw, db += from dy).
  void conv(const GraphNode& n, const Array& x, Array& y, const Array* dy, Array* dx, T* dw, T* db) {
    const ConvGeometry& c = n.conv;
    const Shape& si = in_shape(n);
    const int N = si[0], H = si[2], W = si[3], Ho = n.shape[2], Wo = n.shape[3];
    const int cin_g = c.in_channels / c.groups, cout_g = c.out_channels / c.groups;
    const T* w = pvalue(n.weight);
    const T* b = pvalue(n.bias);
    const auto HW = static_cast<std::size_t>(H) * W, HoWo = static_cast<std::size_t>(Ho) * Wo;
    for (int a = 0; a < N; ++a)
      for (int oc = 0; oc < c.out_channels; ++oc) {
        const int gr = oc / cout_g;
        const std::size_t ybase = (static_cast<std::size_t>(a) * c.out_channels + oc) * HoWo;
        if (!dy && b)
          for (std::size_t k = 0; k < HoWo; ++k) y[ybase + k] = b[oc];
        if (dy && db)
          for (std::size_t k = 0; k < HoWo; ++k) db[oc] += (*dy)[ybase + k];
        for (int icl = 0; icl < cin_g; ++icl) {
          const int ic = gr * cin_g + icl;
          const std::size_t xbase = (static_cast<std::size_t>(a) * c.in_channels + ic) * HW;
          for (int kh = 0; kh < c.kernel_h; ++kh)
            for (int kw = 0; kw < c.kernel_w; ++kw) {
              const std::size_t widx = ((static_cast<std::size_t>(oc) * cin_g + icl) * c.kernel_h + kh) * c.kernel_w + kw;
              const int offh = kh * c.dilation_h - c.pad_h, offw = kw * c.dilation_w - c.pad_w;
              int h0, h1, w0, w1;
              range(Ho, c.stride_h, offh, H, h0, h1);
              range(Wo, c.stride_w, offw, W, w0, w1);
              const T wv = w[widx];
              T gw = 0;
              for (int oh = h0; oh < h1; ++oh) {
                const std::size_t xrow = xbase + static_cast<std::size_t>(oh * c.stride_h + offh) * W;
                const std::size_t yrow = ybase + static_cast<std::size_t>(oh) * Wo;
                if (!dy) {
                  for (int ow = w0; ow < w1; ++ow) y[yrow + ow] += wv * x[xrow + ow * c.stride_w + offw];
                } else {
                  for (int ow = w0; ow < w1; ++ow) {
                    const T g = (*dy)[yrow + ow];
                    gw += g * x[xrow + ow * c.stride_w + offw];
                    (*dx)[xrow + ow * c.stride_w + offw] += wv * g;
                  }
                }
              }
              if (dy) dw[widx] += gw;
            }
        }
      }
  }

  void bn_forward(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    Stats& s = stats_[i];
    const Array& x = in_val(n);
    Array& y = vals_[i];
    s.identity = o_.batch_norm == BatchNormMode::bypass;
    if (s.identity) {
      y = x;
      return;
    }
    s.batch = o_.batch_norm == BatchNormMode::batch_statistics || !n.bn.track_running_stats;
    const int N = n.shape[0], C = n.shape[1];
    const std::size_t hw = static_cast<std::size_t>(n.shape[2]) * n.shape[3];
    const auto m = static_cast<T>(static_cast<std::size_t>(N) * hw);
    const T eps = static_cast<T>(n.bn.eps);
    const T* gamma = pvalue(n.weight);
    const T* beta = pvalue(n.bias);
    s.mean.assign(static_cast<std::size_t>(C), T(0));
    s.inv_std.assign(static_cast<std::size_t>(C), T(0));
    for (int c = 0; c < C; ++c) {
      const auto cs = static_cast<std::size_t>(c);
      T mean, var;
      if (s.batch) {
        T sum = 0;
        for (int a = 0; a < N; ++a)
          for (std::size_t k = 0; k < hw; ++k) sum += x[(static_cast<std::size_t>(a) * C + c) * hw + k];
        mean = sum / m;
        T ss = 0;
        for (int a = 0; a < N; ++a)
          for (std::size_t k = 0; k < hw; ++k) {
            const T d = x[(static_cast<std::size_t>(a) * C + c) * hw + k] - mean;
            ss += d * d;
          }
        var = ss / m;
      } else {
        mean = s.running_mean[cs];
        var = s.running_var[cs];
      }
      s.mean[cs] = mean;
      s.inv_std[cs] = T(1) / std::sqrt(var + eps);
      const T g = gamma ? gamma[c] : T(1), b = beta ? beta[c] : T(0);
      for (int a = 0; a < N; ++a)
        for (std::size_t k = 0; k < hw; ++k) {
          const std::size_t e = (static_cast<std::size_t>(a) * C + c) * hw + k;
          y[e] = (x[e] - mean) * s.inv_std[cs] * g + b;
        }
    }
  }

  // Batch statistics: dx = inv_std / m (m dxhat - sum dxhat - xhat sum(dxhat xhat)),
  // dxhat = gamma dy (Ioffe & Szegedy 2015); running statistics: dx = gamma inv_std dy.
  void bn_backward(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    const Stats& s = stats_[i];
    const Array& dy = grads_[i];
    Array& dx = in_grad(n);
    if (s.identity) {
      for (std::size_t e = 0; e < dy.size(); ++e) dx[e] += dy[e];
      return;
    }
    const Array& x = in_val(n);
    const int N = n.shape[0], C = n.shape[1];
    const std::size_t hw = static_cast<std::size_t>(n.shape[2]) * n.shape[3];
    const auto m = static_cast<T>(static_cast<std::size_t>(N) * hw);
    const T* gamma = pvalue(n.weight);
    T* dgamma = pgrad(n.weight);
    T* dbeta = pgrad(n.bias);
    for (int c = 0; c < C; ++c) {
      const auto cs = static_cast<std::size_t>(c);
      const T g = gamma ? gamma[c] : T(1), mean = s.mean[cs], is = s.inv_std[cs];
      T sum_dy = 0, sum_dy_xhat = 0;
      for (int a = 0; a < N; ++a)
        for (std::size_t k = 0; k < hw; ++k) {
          const std::size_t e = (static_cast<std::size_t>(a) * C + c) * hw + k;
          sum_dy += dy[e];
          sum_dy_xhat += dy[e] * (x[e] - mean) * is;
        }
      if (dgamma) dgamma[c] += sum_dy_xhat;
      if (dbeta) dbeta[c] += sum_dy;
      for (int a = 0; a < N; ++a)
        for (std::size_t k = 0; k < hw; ++k) {
          const std::size_t e = (static_cast<std::size_t>(a) * C + c) * hw + k;
          if (s.batch)
            dx[e] += g * is / m * (m * dy[e] - sum_dy - (x[e] - mean) * is * sum_dy_xhat);
          else
            dx[e] += g * is * dy[e];
        }
    }
  }

  void pool_forward(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    const bool is_max = n.kind == NodeKind::max_pool2d;
    const Shape& si = in_shape(n);
    const int planes = si[0] * si[1], H = si[2], W = si[3], Ho = n.shape[2], Wo = n.shape[3];
    const int k = n.pool.kernel, st = n.pool.stride, p = n.pool.padding;
    const Array& x = in_val(n);
    Array& y = vals_[i];
    if (is_max) argmax_[i].assign(y.size(), 0);
    for (int pl = 0; pl < planes; ++pl)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          const int h0 = oh * st - p, w0 = ow * st - p;
          const int ha = std::max(h0, 0), hb = std::min(h0 + k, H), wa = std::max(w0, 0), wb = std::min(w0 + k, W);
          const std::size_t o = (static_cast<std::size_t>(pl) * Ho + oh) * Wo + ow;
          const std::size_t base = static_cast<std::size_t>(pl) * H * W;
          if (is_max) {
            // Strict comparison in scan order: ties go to the first maximum, as in PyTorch.
            T best = -std::numeric_limits<T>::infinity();
            int arg = ha * W + wa;
            for (int h = ha; h < hb; ++h)
              for (int w = wa; w < wb; ++w)
                if (x[base + static_cast<std::size_t>(h) * W + w] > best) {
                  best = x[base + static_cast<std::size_t>(h) * W + w];
                  arg = h * W + w;
                }
            y[o] = best;
            argmax_[i][o] = arg;
            kinks_.push_back(arg);
          } else {
            T acc = 0;
            for (int h = ha; h < hb; ++h)
              for (int w = wa; w < wb; ++w) acc += x[base + static_cast<std::size_t>(h) * W + w];
            const int count = n.pool.count_include_pad ? k * k : (hb - ha) * (wb - wa);
            y[o] = acc / static_cast<T>(count);
          }
        }
  }

  void pool_backward(std::size_t i) {
    const GraphNode& n = g_.nodes[i];
    const bool is_max = n.kind == NodeKind::max_pool2d;
    const Shape& si = in_shape(n);
    const int planes = si[0] * si[1], H = si[2], W = si[3], Ho = n.shape[2], Wo = n.shape[3];
    const int k = n.pool.kernel, st = n.pool.stride, p = n.pool.padding;
    const Array& dy = grads_[i];
    Array& dx = in_grad(n);
    for (int pl = 0; pl < planes; ++pl)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          const std::size_t o = (static_cast<std::size_t>(pl) * Ho + oh) * Wo + ow;
          const std::size_t base = static_cast<std::size_t>(pl) * H * W;
          if (is_max) {
            dx[base + static_cast<std::size_t>(argmax_[i][o])] += dy[o];
            continue;
          }
          const int h0 = oh * st - p, w0 = ow * st - p;
          const int ha = std::max(h0, 0), hb = std::min(h0 + k, H), wa = std::max(w0, 0), wb = std::min(w0 + k, W);
          const int count = n.pool.count_include_pad ? k * k : (hb - ha) * (wb - wa);
          const T g = dy[o] / static_cast<T>(count);
          for (int h = ha; h < hb; ++h)
            for (int w = wa; w < wb; ++w) dx[base + static_cast<std::size_t>(h) * W + w] += g;
        }
  }

  // Forward: y = cat(inputs); backward (`back`): each input's gradient += its slice of y's.
  void concat(const GraphNode& n, Array& y, bool back) {
    const int N = n.shape[0], C = n.shape[1];
    const std::size_t hw = static_cast<std::size_t>(n.shape[2]) * n.shape[3];
    std::size_t c0 = 0;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      const auto ck = static_cast<std::size_t>(in_shape(n, k)[1]);
      for (int a = 0; a < N; ++a)
        for (std::size_t e = 0; e < ck * hw; ++e) {
          const std::size_t yi = (static_cast<std::size_t>(a) * C + c0) * hw + e, xi = static_cast<std::size_t>(a) * ck * hw + e;
          if (back)
            in_grad(n, k)[xi] += y[yi];
          else
            y[yi] = in_val(n, k)[xi];
        }
      c0 += ck;
    }
  }

  NetworkGraph g_;
  ExecutorOptions o_;
  std::vector<Parameter*> params_;
  std::unordered_map<const Parameter*, std::size_t> index_;
  std::vector<Array> values_, pgrads_;
  std::vector<Array> vals_, grads_;
  std::vector<Stats> stats_;
  std::vector<std::vector<int>> argmax_;
  std::vector<std::int32_t> kinks_;
};

/// The double-precision reference executor.
using ReferenceExecutor = GraphExecutor<double>;

}  // namespace nas
