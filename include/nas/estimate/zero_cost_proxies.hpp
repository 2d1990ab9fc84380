// Zero-cost proxies of an untrained network: NASWOT, grad_norm, SNIP, GraSP, Fisher, Jacobian covariance, #params, FLOPs.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/estimate/zero_cost.hpp"
#include "nas/tensor/activation.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// The zero-cost proxies nas computes, as Abdelfattah et al. 2021 ("Zero-cost proxies for
/// lightweight NAS", ICLR) and Mellor et al. 2021 ("Neural architecture search without
/// training", ICML) define them; #params and FLOPs are the baselines they compare with.
enum class ZeroCostProxy { synflow, naswot, grad_norm, snip, grasp, fisher, jacob_cov, params, flops };

inline constexpr std::array<ZeroCostProxy, 9> all_zero_cost_proxies = {
    ZeroCostProxy::synflow, ZeroCostProxy::naswot, ZeroCostProxy::grad_norm, ZeroCostProxy::snip,  ZeroCostProxy::grasp,
    ZeroCostProxy::fisher,  ZeroCostProxy::jacob_cov, ZeroCostProxy::params, ZeroCostProxy::flops};

/// "synflow", "naswot", "grad_norm", "snip", "grasp", "fisher", "jacob_cov", "params", "flops".
[[nodiscard]] inline const char* to_string(ZeroCostProxy p) noexcept {
  switch (p) {
    case ZeroCostProxy::synflow: return "synflow";
    case ZeroCostProxy::naswot: return "naswot";
    case ZeroCostProxy::grad_norm: return "grad_norm";
    case ZeroCostProxy::snip: return "snip";
    case ZeroCostProxy::grasp: return "grasp";
    case ZeroCostProxy::fisher: return "fisher";
    case ZeroCostProxy::jacob_cov: return "jacob_cov";
    case ZeroCostProxy::params: return "params";
    case ZeroCostProxy::flops: return "flops";
  }
  return "?";
}

/// The proxy named `name` (as to_string() spells it); ConfigError listing the names otherwise.
[[nodiscard]] inline ZeroCostProxy parse_zero_cost_proxy(std::string_view name) {
  for (ZeroCostProxy p : all_zero_cost_proxies)
    if (name == to_string(p)) return p;
  std::string known;
  for (ZeroCostProxy p : all_zero_cost_proxies) known += std::string(known.empty() ? "" : ", ") + to_string(p);
  throw ConfigError("parse_zero_cost_proxy: unknown proxy '" + std::string(name) + "' (expected one of " + known + ")");
}

/// Whether the proxy reads a minibatch (SynFlow, #params and FLOPs do not).
[[nodiscard]] constexpr bool needs_data(ZeroCostProxy p) noexcept {
  return p != ZeroCostProxy::synflow && p != ZeroCostProxy::params && p != ZeroCostProxy::flops;
}

/// The minibatch data-dependent proxies read: images [N, C, H, W] and N labels (the
/// loss-based proxies, grad_norm, SNIP, GraSP and Fisher, use the labels; NASWOT and
/// jacob_cov do not).
struct ZeroCostBatch {
  Tensor images;
  std::vector<int> labels;
};

struct ZeroCostOptions {
  SynflowOptions synflow{};
  /// GraSP's Hessian-vector product H g is a central difference of gradients along g,
  /// with step eps = grasp_step * ||theta|| / ||g|| (see zero_cost_scores()). On NB201
  /// networks the gradient bends within a step of 1e-4 (BatchNorm, softmax): 1e-3 gave the
  /// wrong sign; at 1e-5 GraSP is within 1% of autograd's on three of four cells, 5% on one
  double grasp_step = 1e-5;
};

namespace detail {

// Restores what a proxy changes on the network: buffers (batch-statistics forwards move
// BatchNorm's running estimates), the training mode, and the gradients (zeroed).
class ProxyGuard {
 public:
  explicit ProxyGuard(Module& net) : net_(net), training_(net.is_training()) {
    for (Parameter* b : net.buffers()) saved_.emplace_back(b, b->value);
  }
  ProxyGuard(const ProxyGuard&) = delete;
  ProxyGuard& operator=(const ProxyGuard&) = delete;
  ~ProxyGuard() {
    for (auto& [p, v] : saved_) p->value.copy_from(v);
    net_.train(training_);
    net_.zero_grad();
  }

 private:
  Module& net_;
  bool training_;
  std::vector<std::pair<Parameter*, Tensor>> saved_;
};

// Holds the unit pattern of every ReLU under a network while it lives (ReLU::hold_pattern),
// releasing it on every way out.
class HeldReluPatterns {
 public:
  explicit HeldReluPatterns(Module& net) {
    for (const NamedModule& m : named_modules(net))
      if (auto* r = dynamic_cast<ReLU*>(m.module)) relus_.push_back(r);
    for (ReLU* r : relus_) r->hold_pattern(true);
  }
  HeldReluPatterns(const HeldReluPatterns&) = delete;
  HeldReluPatterns& operator=(const HeldReluPatterns&) = delete;
  ~HeldReluPatterns() {
    for (ReLU* r : relus_) r->hold_pattern(false);
  }

 private:
  std::vector<ReLU*> relus_;
};

inline bool is_weight_layer(std::string_view type) { return type == "Conv2d" || type == "Linear"; }

// The weights of every Conv2d and Linear under `net` (the parameters the reference's
// get_layer_metric_array visits), in module order.
inline std::vector<Parameter*> layer_weights(Module& net) {
  std::vector<Parameter*> out;
  for (const NamedModule& m : named_modules(net)) {
    if (!is_weight_layer(m.module->type_name())) continue;
    std::vector<Parameter*> own;
    m.module->own_parameters(own);
    for (Parameter* p : own)
      if (p->name == "weight") out.push_back(p);
  }
  return out;
}

// NASWOT's kernel (Mellor et al. 2021, eq. 2 of v2): K[i][j] = the number of ReLU units on
// which images i and j agree (both active or both inactive) = units - Hamming distance of
// their binary codes. Codes are packed 64 to a word, so a pair costs a popcount per word.
class HammingKernel {
 public:
  explicit HammingKernel(int n) : n_(n), k_(Eigen::MatrixXd::Zero(n, n)) {}
  void add(const Tensor& relu_output) {
    const std::size_t per = relu_output.numel() / static_cast<std::size_t>(n_);
    const std::size_t words = (per + 63) / 64;
    bits_.assign(words * static_cast<std::size_t>(n_), 0);
    for (int i = 0; i < n_; ++i) {
      const float* a = relu_output.data() + static_cast<std::size_t>(i) * per;
      std::uint64_t* b = bits_.data() + static_cast<std::size_t>(i) * words;
      for (std::size_t u = 0; u < per; ++u)
        if (a[u] > 0.0f) b[u / 64] |= std::uint64_t{1} << (u % 64);
    }
    for (int i = 0; i < n_; ++i)
      for (int j = i; j < n_; ++j) {
        std::size_t ham = 0;
        const std::uint64_t* a = bits_.data() + static_cast<std::size_t>(i) * words;
        const std::uint64_t* b = bits_.data() + static_cast<std::size_t>(j) * words;
        for (std::size_t w = 0; w < words; ++w) ham += static_cast<std::size_t>(std::popcount(a[w] ^ b[w]));
        const double agree = static_cast<double>(per - ham);
        k_(i, j) += agree;
        if (j != i) k_(j, i) += agree;
      }
  }
  [[nodiscard]] const Eigen::MatrixXd& matrix() const noexcept { return k_; }
  /// log |det K| (numpy's slogdet, which the reference takes); -inf when K is singular.
  [[nodiscard]] double logdet() const {
    const Eigen::PartialPivLU<Eigen::MatrixXd> lu(k_);
    const Eigen::MatrixXd& m = lu.matrixLU();
    double s = 0.0;
    for (int i = 0; i < n_; ++i) {
      if (m(i, i) == 0.0) return -std::numeric_limits<double>::infinity();
      s += std::log(std::abs(m(i, i)));
    }
    return s;
  }

 private:
  int n_;
  Eigen::MatrixXd k_;
  std::vector<std::uint64_t> bits_;
};

// jacob_cov's score of the input Jacobians J [N, D] (Abdelfattah et al. 2021, after
// Mellor et al.'s v1 NASWOT): with C the N x N correlation matrix of J's rows and
// lambda its eigenvalues, -sum(log(lambda + k) + 1 / (lambda + k)), k = 1e-5.
inline double jacobian_correlation_score(const Tensor& jac) {
  const int n = jac.dim(0);
  const auto d = static_cast<Eigen::Index>(jac.numel() / static_cast<std::size_t>(n));
  Eigen::MatrixXd j = jac.matrix(n, d).cast<double>();
  j.colwise() -= j.rowwise().mean();
  const Eigen::MatrixXd cov = j * j.transpose();
  const Eigen::VectorXd sd = cov.diagonal().cwiseSqrt();
  Eigen::MatrixXd corr = cov.array() / (sd * sd.transpose()).array();
  if (!corr.allFinite()) return std::numeric_limits<double>::quiet_NaN();  // a constant row: numpy gives NaN too
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(corr, Eigen::EigenvaluesOnly);
  constexpr double k = 1e-5;
  double s = 0.0;
  for (Eigen::Index i = 0; i < eig.eigenvalues().size(); ++i) {
    const double v = eig.eigenvalues()[i] + k;
    s += std::log(v) + 1.0 / v;
  }
  return -s;
}

// One forward and backward of the mean cross-entropy of `batch` (grads zeroed first).
inline double loss_step(Module& net, const ZeroCostBatch& batch) {
  SoftmaxCrossEntropy ce;
  net.zero_grad();
  const double loss = ce.forward(net.forward(batch.images), batch.labels);
  net.backward(ce.backward());
  return loss;
}

inline void check_batch(const ZeroCostBatch& batch, bool labels, const char* where) {
  if (batch.images.rank() != 4 || batch.images.dim(0) < 2)
    throw ConfigError(std::string(where) + ": images " + batch.images.shape().str() + " (expected [N, C, H, W] with N >= 2)");
  if (labels && batch.labels.size() != static_cast<std::size_t>(batch.images.dim(0)))
    throw ConfigError(std::string(where) + ": " + std::to_string(batch.labels.size()) + " labels for " +
                      std::to_string(batch.images.dim(0)) + " images");
}

}  // namespace detail

/// Scores of several proxies of one network, in the order they were asked for.
struct ZeroCostScores {
  std::vector<ZeroCostProxy> proxies;
  std::vector<double> values;
  /// The score of `p`; ConfigError if it was not computed.
  [[nodiscard]] double operator[](ZeroCostProxy p) const {
    for (std::size_t k = 0; k < proxies.size(); ++k)
      if (proxies[k] == p) return values[k];
    throw ConfigError(std::string("ZeroCostScores: proxy '") + to_string(p) + "' was not computed");
  }
};

/// Computes `proxies` on `net` at initialization, sharing passes where proxies can:
/// NASWOT, grad_norm, SNIP and Fisher read one forward and backward of the cross-entropy
/// of `batch` (with hooks); jacob_cov takes its own forward and backward (seeded with ones,
/// for the input gradient); GraSP takes three (a gradient g, then the gradients at
/// theta +- eps g); SynFlow its own (all-ones input, |theta|); #params and FLOPs none.
/// Every data-dependent proxy runs the network in training mode (BatchNorm with batch
/// statistics), as zero-cost-nas does (bn = True); `net` is left as it was found: running
/// statistics, mode and parameters restored, gradients zeroed.
///
/// The definitions (sums over the weights of every Conv2d and Linear, as
/// zero-cost-nas's sum over get_layer_metric_array):
/// - naswot: log|det K|, K[i][j] the number of ReLU units where images i, j agree.
/// - grad_norm: sum over layers of ||dL/dW||_2.
/// - snip: sum |W * dL/dW| (Lee et al. 2019).
/// - grasp: sum -W * (H g), g = dL/dW, H the Hessian of L in the weights (Wang et al. 2020).
/// - fisher: sum over layers and output channels of 0.5 * mean_n (sum_hw a * dL/da)^2, a the
///   layer's output (Theis et al. 2018, Turner et al. 2020).
/// - jacob_cov: the correlation score of the input Jacobians d(sum y)/dx per image.
/// - params: learnable parameters (BatchNorm's affine included, as NAS-Bench-201 counts).
/// - flops: multiply-accumulates per image (Module::macs, AutoDL's counting).
/// `image` is one image's shape [C, H, W] (SynFlow, FLOPs); `batch` may be empty when no
/// proxy needs data.
[[nodiscard]] inline ZeroCostScores zero_cost_scores(Module& net, const Shape& image, std::span<const ZeroCostProxy> proxies,
                                                     const ZeroCostBatch& batch = {}, const ZeroCostOptions& options = {}) {
  if (image.rank() != 3) throw ConfigError("zero_cost_scores: image shape " + image.str() + " (expected [C, H, W])");
  ZeroCostScores out;
  out.proxies.assign(proxies.begin(), proxies.end());
  out.values.assign(proxies.size(), std::numeric_limits<double>::quiet_NaN());
  auto wants = [&](ZeroCostProxy p) { return std::find(proxies.begin(), proxies.end(), p) != proxies.end(); };
  auto set = [&](ZeroCostProxy p, double v) {
    for (std::size_t k = 0; k < proxies.size(); ++k)
      if (proxies[k] == p) out.values[k] = v;
  };
  bool data = false, labels = false;
  for (ZeroCostProxy p : proxies) {
    data = data || needs_data(p);
    labels = labels || (needs_data(p) && p != ZeroCostProxy::naswot && p != ZeroCostProxy::jacob_cov);
  }
  if (data) {
    detail::check_batch(batch, labels, "zero_cost_scores");
    const Shape b = batch.images.shape();
    if (b[1] != image[0] || b[2] != image[1] || b[3] != image[2])
      throw ConfigError("zero_cost_scores: batch images " + b.str() + " do not match the image shape " + image.str());
  }
  const Shape one{1, image[0], image[1], image[2]};
  if (wants(ZeroCostProxy::params)) set(ZeroCostProxy::params, static_cast<double>(net.num_parameters()));
  if (wants(ZeroCostProxy::flops)) set(ZeroCostProxy::flops, net.macs(one));
  if (wants(ZeroCostProxy::synflow)) set(ZeroCostProxy::synflow, synflow(net, image, options.synflow));
  if (!data) return out;

  detail::ProxyGuard guard(net);
  net.train();
  const int n = batch.images.dim(0);
  const std::vector<Parameter*> weights = detail::layer_weights(net);

  // The shared pass: ReLU codes (NASWOT), layer outputs and their gradients (Fisher),
  // weight gradients (grad_norm, SNIP).
  const bool naswot = wants(ZeroCostProxy::naswot), fisher = wants(ZeroCostProxy::fisher);
  const bool shared_loss = fisher || wants(ZeroCostProxy::grad_norm) || wants(ZeroCostProxy::snip);
  if (naswot || shared_loss) {
    detail::HammingKernel kernel(n);
    std::unordered_map<const Module*, Tensor> acts;
    double fisher_sum = 0.0;
    Hooks hooks;
    hooks.forward = [&](const ModuleEvent& e) {
      if (naswot && e.type == "ReLU") kernel.add(e.tensor);
      if (fisher && e.module && detail::is_weight_layer(e.type)) acts[e.module] = e.tensor;
    };
    if (fisher)
      hooks.backward = [&](const ModuleEvent& e) {
        if (!e.module || !detail::is_weight_layer(e.type)) return;
        const auto it = acts.find(e.module);
        if (it == acts.end()) return;
        const Tensor& a = it->second;
        const int channels = a.dim(1);
        const std::size_t per = a.numel() / (static_cast<std::size_t>(n) * static_cast<std::size_t>(channels));
        for (int c = 0; c < channels; ++c) {
          double mean_sq = 0.0;
          for (int i = 0; i < n; ++i) {
            const std::size_t o = (static_cast<std::size_t>(i) * channels + c) * per;
            double g = 0.0;
            for (std::size_t k = 0; k < per; ++k) g += static_cast<double>(a[o + k]) * static_cast<double>(e.tensor[o + k]);
            mean_sq += g * g;
          }
          fisher_sum += 0.5 * mean_sq / n;
        }
      };
    {
      HookScope scope(net, hooks);
      if (shared_loss) {
        detail::loss_step(net, batch);
      } else {
        (void)net.forward(batch.images);
      }
    }
    if (naswot) set(ZeroCostProxy::naswot, kernel.logdet());
    if (fisher) set(ZeroCostProxy::fisher, fisher_sum);
    if (shared_loss) {
      double gn = 0.0, sn = 0.0;
      for (const Parameter* w : weights) {
        double sq = 0.0;
        for (std::size_t i = 0; i < w->numel(); ++i) {
          const double g = w->grad[i];
          sq += g * g;
          sn += std::abs(static_cast<double>(w->value[i]) * g);
        }
        gn += std::sqrt(sq);
      }
      set(ZeroCostProxy::grad_norm, gn);
      set(ZeroCostProxy::snip, sn);
    }
  }

  if (wants(ZeroCostProxy::jacob_cov)) {
    net.zero_grad();
    const Tensor& y = net.forward(batch.images);
    Tensor ones(y.shape());
    ones.fill(1.0f);
    const Tensor jac = net.backward(ones);
    set(ZeroCostProxy::jacob_cov, detail::jacobian_correlation_score(jac));
  }

  if (wants(ZeroCostProxy::grasp)) {
    // GraSP (Wang et al. 2020) as zero-cost-nas scores it: -theta * (H g) summed, with
    // g = dL/dtheta over the conv and linear weights. H g is the directional derivative of
    // the gradient along g: (grad L(theta + eps g) - grad L(theta - eps g)) / (2 eps),
    // exact to O(eps^2) where the loss is smooth. Autograd's double backward, which the
    // reference takes, treats every ReLU's pattern as fixed (ReLU'' = 0); so do the three
    // passes here, which hold the pattern of the first. Without that, the units whose sign
    // changes within the step add a term that does not vanish as eps -> 0 (their number
    // grows with eps, and each moves the gradient by O(1)).
    const detail::HeldReluPatterns held(net);
    detail::loss_step(net, batch);
    std::vector<Tensor> g, theta;
    double gn = 0.0, tn = 0.0;
    for (Parameter* w : weights) {
      g.push_back(w->grad);
      theta.push_back(w->value);
      for (std::size_t i = 0; i < w->numel(); ++i) {
        gn += static_cast<double>(w->grad[i]) * w->grad[i];
        tn += static_cast<double>(w->value[i]) * w->value[i];
      }
    }
    gn = std::sqrt(gn);
    tn = std::sqrt(tn);
    double score = 0.0;
    if (gn > 0.0) {
      const double eps = options.grasp_step * tn / gn;
      std::vector<Tensor> plus;
      for (int side : {1, -1}) {
        for (std::size_t k = 0; k < weights.size(); ++k)
          for (std::size_t i = 0; i < theta[k].numel(); ++i)
            weights[k]->value[i] = static_cast<float>(theta[k][i] + side * eps * g[k][i]);
        detail::loss_step(net, batch);
        if (side == 1)
          for (Parameter* w : weights) plus.push_back(w->grad);
      }
      for (std::size_t k = 0; k < weights.size(); ++k) {
        weights[k]->value.copy_from(theta[k]);
        for (std::size_t i = 0; i < theta[k].numel(); ++i) {
          const double hg = (static_cast<double>(plus[k][i]) - weights[k]->grad[i]) / (2.0 * eps);
          score -= static_cast<double>(theta[k][i]) * hg;
        }
      }
    }
    set(ZeroCostProxy::grasp, score);
  }
  return out;
}

/// One proxy of `net` (zero_cost_scores() with that proxy alone).
[[nodiscard]] inline double zero_cost_score(Module& net, const Shape& image, ZeroCostProxy proxy, const ZeroCostBatch& batch = {},
                                            const ZeroCostOptions& options = {}) {
  const std::array<ZeroCostProxy, 1> one{proxy};
  return zero_cost_scores(net, image, one, batch, options).values[0];
}

}  // namespace nas
