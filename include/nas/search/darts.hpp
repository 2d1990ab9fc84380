// Darts: differentiable architecture search (DARTS V1/V2, Fair DARTS, GDAS, DARTS-) over any DifferentiableSpace.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#define NAS_DARTS_HAS_RUSAGE 1
#endif

#include "nas/core/callbacks.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/batch.hpp"
#include "nas/data/dataset.hpp"
#include "nas/data/split.hpp"
#include "nas/model/mixed_op.hpp"
#include "nas/search/differentiable.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/state.hpp"

namespace nas {

/// The architecture gradient of DARTS (Liu et al. 2019, section 2.3).
/// First order (DARTS-V1): dL_val(w, alpha)/dalpha at the current weights (xi = 0).
struct FirstOrder {
  static constexpr bool unrolled = false;
  static constexpr std::string_view name = "first-order";
};
/// Second order (DARTS-V2): the gradient of L_val(w', alpha) with the unrolled weights
/// w' = w - xi dL_train(w, alpha)/dw (eq. 6; xi = the weights' learning rate, and the
/// step includes momentum and weight decay as DARTS' architect.py does), i.e. eq. 7
/// dL_val(w', alpha)/dalpha - xi d2L_train(w, alpha)/dalpha dw . dL_val(w', alpha)/dw',
/// whose Hessian-vector product is the finite difference of eq. 8:
/// (dL_train(w+, alpha)/dalpha - dL_train(w-, alpha)/dalpha) / (2 eps),
/// w+- = w +- eps dL_val(w', alpha)/dw', eps = 0.01 / ||dL_val(w', alpha)/dw'||.
struct SecondOrder {
  static constexpr bool unrolled = true;
  static constexpr std::string_view name = "second-order";
};

/// No collapse guard.
struct NoGuard {
  static constexpr std::string_view name = "none";
  [[nodiscard]] double skip_weight(std::size_t, std::size_t) const noexcept { return 0.0; }
};
/// DARTS- (Chu et al. 2021): an auxiliary skip connection on every edge, outside the
/// architecture's competition, with weight beta decaying linearly from `beta0` at the
/// first epoch to 0 after the last. The skip carries the gradient that otherwise makes
/// the skip op's alpha win (its unfair advantage), so alpha judges the other ops on
/// their merit. The auxiliary weight is added to the skip op's mixture weight: the same
/// computation, since both multiply the same skip(x).
struct AuxiliarySkip {
  static constexpr std::string_view name = "aux-skip";
  double beta0 = 1.0;
  [[nodiscard]] double skip_weight(std::size_t epoch, std::size_t epochs) const noexcept {
    return epochs == 0 ? 0.0 : beta0 * (1.0 - static_cast<double>(epoch) / static_cast<double>(epochs));
  }
};

/// Options of Darts: the papers' settings, scaled to a CPU by the sizes.
struct DartsOptions {
  std::size_t epochs = 50;
  std::size_t batch_size = 64;
  /// Share of the given images that trains w; the rest trains alpha (DARTS: half and half).
  double train_portion = 0.5;
  /// Steps per epoch at most (0: as many as the smaller half gives full batches).
  std::size_t max_steps_per_epoch = 0;
  /// Epochs that train w only, before alpha moves (0 in DARTS; some variants warm up).
  std::size_t warmup_epochs = 0;
  // The weights w: SGD with momentum, cosine from lr to lr_min over the epochs, clipping.
  double lr = 0.025;
  double lr_min = 0.001;
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip = 5.0;  ///< global L2 norm of w's gradient (0: none)
  // alpha: Adam.
  double arch_lr = 3e-4;
  double arch_beta1 = 0.5;
  double arch_beta2 = 0.999;
  double arch_weight_decay = 1e-3;
  double arch_init_std = 1e-3;  ///< alpha starts at N(0, std^2), DARTS' 1e-3 * randn
  /// Fair DARTS' zero-one loss weight w01 (used with SigmoidRelaxation only; 10 in the paper).
  double zero_one_weight = 10.0;
  /// GDAS' temperature, linear from tau_max at the first epoch to tau_min at the last.
  double tau_max = 10.0;
  double tau_min = 0.1;
  /// GDAS: an op that is not sampled in a step frees its buffers (Supernet::release_inactive_ops),
  /// so that the supernet holds the memory of the sampled path, not of every op that ran
  /// once; the sampled ops allocate again when their turn comes. false keeps them (no
  /// allocation per step, memory towards DARTS'). Other relaxations run every op anyway.
  bool release_unsampled = true;
  /// Second order: eps = unrolled_r / ||dL_val/dw'|| (DARTS: 0.01).
  double unrolled_r = 0.01;
  /// The supernet (DARTS searches with BatchNorm affine = false).
  SupernetOptions supernet{.channels = 16, .cells = 5, .affine = false};
  std::uint64_t seed = 0;
  /// A .nasstate file written after every epoch; when it exists at the start, the search
  /// continues from it (same options and data required). Empty: no checkpoint.
  std::string checkpoint;

  void validate(const char* where) const {
    auto fail = [&](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    if (epochs == 0) fail("epochs (0) must be >= 1");
    if (batch_size < 2) fail("batch_size (" + std::to_string(batch_size) + ") must be >= 2");
    if (!(train_portion > 0.0 && train_portion < 1.0))
      fail("train_portion (" + detail::num_str(train_portion) + ") must be in (0, 1)");
    if (!(lr > 0.0) || !(lr_min >= 0.0) || lr_min > lr)
      fail("lr (" + detail::num_str(lr) + ") and lr_min (" + detail::num_str(lr_min) + ") need 0 <= lr_min <= lr, lr > 0");
    if (!(momentum >= 0.0 && momentum < 1.0)) fail("momentum (" + detail::num_str(momentum) + ") must be in [0, 1)");
    if (!(weight_decay >= 0.0)) fail("weight_decay (" + detail::num_str(weight_decay) + ") must be >= 0");
    if (!(grad_clip >= 0.0)) fail("grad_clip (" + detail::num_str(grad_clip) + ") must be >= 0");
    if (!(arch_lr > 0.0)) fail("arch_lr (" + detail::num_str(arch_lr) + ") must be > 0");
    if (!(arch_init_std >= 0.0)) fail("arch_init_std (" + detail::num_str(arch_init_std) + ") must be >= 0");
    if (!(tau_min > 0.0) || tau_max < tau_min)
      fail("tau_max (" + detail::num_str(tau_max) + ") and tau_min (" + detail::num_str(tau_min) + ") need 0 < tau_min <= tau_max");
    if (!(unrolled_r > 0.0)) fail("unrolled_r (" + detail::num_str(unrolled_r) + ") must be > 0");
    if (!(zero_one_weight >= 0.0)) fail("zero_one_weight (" + detail::num_str(zero_one_weight) + ") must be >= 0");
  }
};

/// One finished search epoch, handed to callbacks' `on_darts_epoch` (and, reduced to an
/// EpochInfo, to `on_epoch`).
template <class Arch>
struct DartsEpoch {
  std::size_t epoch = 0;   ///< 1-based
  std::size_t epochs = 0;
  double train_loss = 0.0, train_accuracy = 0.0;  ///< of the w steps (percent)
  double valid_loss = 0.0, valid_accuracy = 0.0;  ///< of the alpha steps' batches (NaN in warm-up epochs)
  double seconds = 0.0;
  double peak_memory_mib = 0.0;  ///< the process's peak resident memory so far
  double temperature = 1.0;      ///< GDAS' tau this epoch
  double skip_weight = 0.0;      ///< the guard's auxiliary skip weight this epoch
  EdgeWeights weights;           ///< relaxation(alpha) per row after the epoch
  Arch arch;                     ///< the discretized architecture after the epoch
  std::string genotype;          ///< space.encode(arch)
};

/// What a search returns: the final architecture, alpha, and the epochs run by this call.
template <class Arch>
struct DartsResult {
  Arch arch;
  std::string genotype;
  std::vector<std::vector<float>> alpha;  ///< per row
  EdgeWeights weights;                    ///< relaxation(alpha) per row
  /// PC-DARTS' edge normalisation: per row, the softmax of beta over its node's edges
  /// (empty without partial channels).
  std::vector<double> edge_weights;
  std::vector<std::string> row_names, op_names;
  std::vector<DartsEpoch<Arch>> epochs;   ///< the epochs this call ran
  std::size_t first_epoch = 1;            ///< > 1 when resumed from a checkpoint
  double seconds = 0.0;
  bool stopped = false;                   ///< a callback asked to stop
};

namespace detail {
/// The process's peak resident set in MiB (0 where getrusage is missing).
inline double peak_memory_mib() {
#ifdef NAS_DARTS_HAS_RUSAGE
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
#else
  return 0.0;
#endif
}

template <class C, class Arch>
bool call_on_darts_epoch(C& c, const DartsEpoch<Arch>& e) {
  if constexpr (requires { c.on_darts_epoch(e); })
    return call_hook([&] { return c.on_darts_epoch(e); });
  else
    return false;
}
}  // namespace detail

/// The state of one differentiable search: the supernet of `Space`, alpha (one row per
/// mixed op), the optimizers of w and alpha, and the steps of DARTS. Darts::run drives it
/// epoch by epoch; it is public so that the steps can be tested and reused.
///
/// Requirements: `Space` satisfies DifferentiableSpace; `Relaxation` is a relaxation
/// policy (mixed_op.hpp); `ArchGradient` FirstOrder or SecondOrder; `Guard` has
/// skip_weight(epoch, epochs).
template <DifferentiableSpace Space, class Relaxation = SoftmaxRelaxation, class ArchGradient = FirstOrder,
          class Guard = NoGuard>
class DartsSearch {
 public:
  using Arch = typename Space::Arch;
  using D = Differentiable<Space>;
  using Network = typename D::Network;

  DartsSearch(const Space& space, const NetworkInput& input, const DartsOptions& o, Relaxation relax = {}, Guard guard = {})
      : space_(space), options_(o), relax_(std::move(relax)), guard_(std::move(guard)) {
    o.validate("Darts");
    net_ = D::build(space, input, o.supernet);
    if constexpr (std::is_same_v<Relaxation, GumbelRelaxation> && requires { net_->release_inactive_ops(true); })
      net_->release_inactive_ops(o.release_unsampled);
    rows_ = D::num_rows(*net_);
    ops_ = D::num_ops(*net_);
    const auto names = D::op_names(*net_);
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == "skip_connect" || names[k] == "skip") skip_ = k;
    if (guard_.skip_weight(0, 1) > 0.0 && skip_ >= ops_)
      throw ConfigError("Darts: the guard adds an auxiliary skip connection, and the space has no 'skip_connect' op");
    alpha_ = Parameter("alpha", Shape{static_cast<int>(rows_), static_cast<int>(ops_)}, ParamGroup::architecture);
    Rng rng(mix_seed(o.seed, 0xa1fa));
    for (float& a : alpha_.value) a = static_cast<float>(o.arch_init_std * rng.normal());
    if constexpr (requires { D::edge_groups(*net_); }) groups_ = D::edge_groups(*net_);
    std::vector<Parameter*> arch{&alpha_};
    if (!groups_.empty()) {
      // PC-DARTS: beta starts at 1e-3 N(0, 1) as alpha does, and Adam steps both.
      beta_ = Parameter("beta", Shape{static_cast<int>(rows_)}, ParamGroup::architecture);
      for (float& b : beta_.value) b = static_cast<float>(o.arch_init_std * rng.normal());
      arch.push_back(&beta_);
      dbeta_.assign(rows_, 0.0);
      edge_w_.assign(rows_, 1.0);
    }
    weights_ = net_->parameters(ParamGroup::weight);
    sgd_ = std::make_unique<SGD>(weights_, SGD::Options{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay});
    adam_ = std::make_unique<Adam>(arch, Adam::Options{.lr = o.arch_lr, .beta1 = o.arch_beta1, .beta2 = o.arch_beta2,
                                                       .weight_decay = o.arch_weight_decay});
    samples_.resize(rows_);
    dalpha_.assign(rows_ * ops_, 0.0);
  }

  [[nodiscard]] Network& network() noexcept { return *net_; }
  [[nodiscard]] Parameter& alpha() noexcept { return alpha_; }
  /// PC-DARTS' edge-normalisation parameter, one entry per row (empty without partial channels).
  [[nodiscard]] Parameter& beta() noexcept { return beta_; }
  [[nodiscard]] bool normalizes_edges() const noexcept { return !groups_.empty(); }
  /// softmax(beta) over each node's edges, per row (empty without partial channels).
  [[nodiscard]] std::vector<double> edge_weights() const {
    std::vector<double> w(groups_.empty() ? 0 : rows_, 1.0);
    std::vector<float> b;
    std::vector<double> p;
    edge_softmax(w, b, p);
    return w;
  }
  [[nodiscard]] std::span<const float> alpha_row(std::size_t r) const {
    return {alpha_.value.data() + r * ops_, ops_};
  }
  [[nodiscard]] std::size_t num_rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t num_ops() const noexcept { return ops_; }
  [[nodiscard]] SGD& weight_optimizer() noexcept { return *sgd_; }
  [[nodiscard]] Adam& arch_optimizer() noexcept { return *adam_; }
  [[nodiscard]] const DartsOptions& options() const noexcept { return options_; }

  /// relaxation(alpha) per row.
  [[nodiscard]] EdgeWeights relaxed_weights() const {
    EdgeWeights w(rows_, std::vector<double>(ops_));
    for (std::size_t r = 0; r < rows_; ++r) relax_.relaxed(alpha_row(r), w[r]);
    return w;
  }
  /// The discrete architecture of the current alpha.
  [[nodiscard]] Arch discretize() const { return D::discretize(space_, *net_, relaxed_weights()); }

  /// Sets the temperature (GDAS) and the guard's auxiliary skip weight for the next steps.
  void set_schedule(double tau, double skip_weight) noexcept {
    tau_ = tau;
    skip_weight_ = skip_weight;
  }

  /// Draws the ops and weights of every mixed op from alpha (a Gumbel sample for GDAS)
  /// and puts them into the supernet, with the guard's auxiliary skip.
  void sample(Rng& rng) {
    for (std::size_t r = 0; r < rows_; ++r) {
      EdgeSample& s = samples_[r];
      relax_.sample(alpha_row(r), tau_, rng, s);
      apply_row(r, s);
    }
    if constexpr (requires { D::set_edge_weight(*net_, std::size_t{}, 0.0f); })
      if (!groups_.empty()) {
        edge_softmax(edge_w_, beta_buf_, soft_buf_);  // into the members: no allocation per step
        for (std::size_t r = 0; r < rows_; ++r) D::set_edge_weight(*net_, r, static_cast<float>(edge_w_[r]));
      }
  }

  /// Forward and backward of `x` through the supernet as sampled; returns the loss and
  /// adds (count_correct) into `correct`. Gradients of w are added into their .grad.
  double forward_backward(const Tensor& x, std::span<const int> y, int* correct = nullptr) {
    net_->train();
    const Tensor& logits = net_->forward(x);
    const double loss = ce_.forward(logits, y);
    if (correct) *correct += count_correct(logits, y);
    net_->backward(ce_.backward());
    return loss;
  }

  /// alpha.grad = dL/dalpha of the last backward (through the relaxation of the current
  /// samples), scaled by `scale` and added when `accumulate`.
  /// With edge normalisation also beta's, through each node's softmax:
  /// dL/dbeta_r = b_r (dL/db_r - sum_j b_j dL/db_j) over the node's edges j.
  void collect_arch_grad(double scale, bool accumulate) {
    if (!accumulate) {
      std::fill(dalpha_.begin(), dalpha_.end(), 0.0);
      std::fill(dbeta_.begin(), dbeta_.end(), 0.0);
    }
    for (std::size_t r = 0; r < rows_; ++r) {
      const EdgeSample& s = samples_[r];
      dw_.resize(s.ops.size());
      for (std::size_t i = 0; i < s.ops.size(); ++i) dw_[i] = scale * D::weight_grad(*net_, r, s.ops[i]);
      relax_.backward(alpha_row(r), tau_, s, dw_, std::span<double>(dalpha_.data() + r * ops_, ops_));
    }
    if constexpr (requires { D::edge_weight_grad(*net_, std::size_t{}); })
      for (const auto& g : groups_) {
        soft_buf_.resize(g.size());  // dL/db of each edge of the node
        double mean = 0.0;
        for (std::size_t i = 0; i < g.size(); ++i) mean += edge_w_[g[i]] * (soft_buf_[i] = scale * D::edge_weight_grad(*net_, g[i]));
        for (std::size_t i = 0; i < g.size(); ++i) dbeta_[g[i]] += edge_w_[g[i]] * (soft_buf_[i] - mean);
      }
  }

  /// Computes alpha's gradient on a validation batch (first or second order, by
  /// ArchGradient) for the current samples, plus the relaxation's regularizer (Fair
  /// DARTS' zero-one loss); leaves it in alpha().grad. Returns the validation loss (at
  /// w' for the second order). The weights and BN statistics are as before the call.
  double arch_gradient(const Tensor& xt, std::span<const int> yt, const Tensor& xv, std::span<const int> yv,
                       int* correct = nullptr) {
    double loss = 0.0;
    if constexpr (ArchGradient::unrolled) {
      loss = unrolled_gradient(xt, yt, xv, yv, correct);
    } else {
      zero_weight_grads();
      loss = forward_backward(xv, yv, correct);
      collect_arch_grad(1.0, false);
    }
    if constexpr (requires { relax_.regularize(std::span<const float>{}, 0.0, std::span<double>{}); }) {
      const double w01 = options_.zero_one_weight / static_cast<double>(rows_ * ops_);
      for (std::size_t r = 0; r < rows_; ++r)
        relax_.regularize(alpha_row(r), w01, std::span<double>(dalpha_.data() + r * ops_, ops_));
    }
    for (std::size_t i = 0; i < dalpha_.size(); ++i) alpha_.grad[i] = static_cast<float>(dalpha_[i]);
    alpha_.has_grad = true;
    if (!groups_.empty()) {
      for (std::size_t i = 0; i < dbeta_.size(); ++i) beta_.grad[i] = static_cast<float>(dbeta_[i]);
      beta_.has_grad = true;
    }
    return loss;
  }

  /// eq. 6's objective L_val(w - xi dL_train(w, alpha)/dw, alpha) for the current samples,
  /// with the virtual step of unrolled_gradient(); the weights are restored afterwards.
  double unrolled_valid_loss(const Tensor& xt, std::span<const int> yt, const Tensor& xv, std::span<const int> yv) {
    snapshot(*net_, saved_);
    virtual_step(xt, yt);
    net_->train();
    const double l = ce_.forward(net_->forward(xv), yv);
    restore(*net_, saved_);
    return l;
  }

  /// One w step on a training batch with the current samples: SGD with momentum and
  /// weight decay, clipping the gradient norm. Returns the loss.
  double weight_step(const Tensor& x, std::span<const int> y, int* correct = nullptr) {
    zero_weight_grads();
    const double loss = forward_backward(x, y, correct);
    if (options_.grad_clip > 0.0) clip_grad_norm(weights_, options_.grad_clip);
    sgd_->step();
    return loss;
  }

  /// The supernet's state, alpha and both optimizers' states as one ModuleState (paths
  /// "net.*", "arch.alpha", "opt.w.*", "opt.alpha.*") and the metadata that restores them.
  void checkpoint(ModuleState& into, StateMetadata& meta) {
    into.tensors.clear();
    for (auto& np : net_->named_state())
      into.tensors.push_back(StateTensor{"net." + np.path, np.parameter->group, np.parameter->value});
    into.tensors.push_back(StateTensor{"arch.alpha", ParamGroup::architecture, alpha_.value});
    if (!groups_.empty()) into.tensors.push_back(StateTensor{"arch.beta", ParamGroup::architecture, beta_.value});
    const SGD::State ws = sgd_->state();
    for (std::size_t k = 0; k < ws.momentum.size(); ++k)
      into.tensors.push_back(StateTensor{"opt.w.momentum." + std::to_string(k), ParamGroup::buffer, ws.momentum[k]});
    const Adam::State as = adam_->state();
    into.tensors.push_back(StateTensor{"opt.alpha.m", ParamGroup::buffer, as.m[0]});
    into.tensors.push_back(StateTensor{"opt.alpha.v", ParamGroup::buffer, as.v[0]});
    if (!groups_.empty()) {
      into.tensors.push_back(StateTensor{"opt.beta.m", ParamGroup::buffer, as.m[1]});
      into.tensors.push_back(StateTensor{"opt.beta.v", ParamGroup::buffer, as.v[1]});
      meta["opt.beta.steps"] = std::to_string(as.steps[1]);
    }
    std::string started;
    for (char c : ws.started) started += c ? '1' : '0';
    meta["opt.w.started"] = started;
    meta["opt.alpha.steps"] = std::to_string(as.steps[0]);
    meta["opt.alpha.calls"] = std::to_string(as.calls);
  }
  /// Restores a checkpoint(); DataError naming `where` and what does not fit.
  void load_checkpoint(const ModuleState& s, const StateMetadata& meta, const std::string& where) {
    auto fail = [&](const std::string& what) { throw DataError(where + ": " + what); };
    auto get = [&](const std::string& path) -> const Tensor& {
      const StateTensor* t = s.find(path);
      if (!t) fail("no tensor '" + path + "'");
      return t->value;
    };
    ModuleState net;
    for (const auto& t : s.tensors)
      if (t.path.rfind("net.", 0) == 0) net.tensors.push_back(StateTensor{t.path.substr(4), t.group, t.value});
    try {
      restore(*net_, net);
    } catch (const ConfigError& e) {
      fail(std::string("the supernet does not fit: ") + e.what());
    }
    const Tensor& a = get("arch.alpha");
    if (a.shape() != alpha_.value.shape()) fail("alpha is " + a.shape().str() + ", the search has " + alpha_.value.shape().str());
    alpha_.value.copy_from(a);
    if (!groups_.empty()) {
      const Tensor& b = get("arch.beta");
      if (b.shape() != beta_.value.shape()) fail("beta is " + b.shape().str() + ", the search has " + beta_.value.shape().str());
      beta_.value.copy_from(b);
    }
    SGD::State ws;
    const auto st = meta.find("opt.w.started");
    if (st == meta.end() || st->second.size() != weights_.size())
      fail("the weights' optimizer state does not fit (" + std::to_string(weights_.size()) + " parameters)");
    for (char c : st->second) ws.started.push_back(c == '1' ? 1 : 0);
    if (options_.momentum > 0.0)
      for (std::size_t k = 0; k < weights_.size(); ++k) ws.momentum.push_back(get("opt.w.momentum." + std::to_string(k)));
    try {
      sgd_->load_state(ws);
      Adam::State as;
      as.m.push_back(get("opt.alpha.m"));
      as.v.push_back(get("opt.alpha.v"));
      as.steps.push_back(std::stol(meta.at("opt.alpha.steps")));
      if (!groups_.empty()) {
        as.m.push_back(get("opt.beta.m"));
        as.v.push_back(get("opt.beta.v"));
        as.steps.push_back(std::stol(meta.at("opt.beta.steps")));
      }
      as.calls = std::stol(meta.at("opt.alpha.calls"));
      adam_->load_state(as);
    } catch (const ConfigError& e) {
      fail(e.what());
    } catch (const std::exception&) {
      fail("the architecture optimizer's step counts are missing or malformed");
    }
  }

 private:
  // w[r] = softmax of beta over row r's group, for every grouped row (b, p: scratch).
  void edge_softmax(std::vector<double>& w, std::vector<float>& b, std::vector<double>& p) const {
    for (const auto& g : groups_) {
      b.resize(g.size());
      p.resize(g.size());
      for (std::size_t i = 0; i < g.size(); ++i) b[i] = beta_.value[g[i]];
      SoftmaxRelaxation::softmax(b, 1.0, p);
      for (std::size_t i = 0; i < g.size(); ++i) w[g[i]] = p[i];
    }
  }

  void apply_row(std::size_t r, const EdgeSample& s) {
    if (skip_weight_ > 0.0 && skip_ < ops_) {
      // DARTS-: the auxiliary skip adds beta to the skip op's weight (running it if idle).
      ops_buf_.assign(s.ops.begin(), s.ops.end());
      w_buf_.assign(s.weights.begin(), s.weights.end());
      auto it = std::find(ops_buf_.begin(), ops_buf_.end(), skip_);
      if (it == ops_buf_.end()) {
        ops_buf_.push_back(skip_);
        w_buf_.push_back(static_cast<float>(skip_weight_));
      } else {
        w_buf_[static_cast<std::size_t>(it - ops_buf_.begin())] += static_cast<float>(skip_weight_);
      }
      D::set_row(*net_, r, ops_buf_, w_buf_);
      return;
    }
    D::set_row(*net_, r, s.ops, s.weights);
  }

  void zero_weight_grads() {
    for (Parameter* p : weights_) p->zero_grad();
  }

  // w <- w - xi (momentum * buf + g + wd * w) with g = dL_train/dw (architect.py's
  // _compute_unrolled_model), in place.
  void virtual_step(const Tensor& xt, std::span<const int> yt) {
    zero_weight_grads();
    (void)forward_backward(xt, yt);
    const auto xi = static_cast<float>(sgd_->lr()), mu = static_cast<float>(options_.momentum),
               wd = static_cast<float>(options_.weight_decay);
    const SGD::State& st = sgd_state_ = sgd_->state();
    for (std::size_t k = 0; k < weights_.size(); ++k) {
      Parameter& p = *weights_[k];
      const bool moment = mu > 0.0f && st.started[k];
      for (std::size_t i = 0; i < p.numel(); ++i) {
        const float m = moment ? mu * st.momentum[k][i] : 0.0f;
        p.value[i] -= xi * (m + p.grad[i] + wd * p.value[i]);
      }
    }
  }

  double unrolled_gradient(const Tensor& xt, std::span<const int> yt, const Tensor& xv, std::span<const int> yv, int* correct) {
    snapshot(*net_, saved_);
    virtual_step(xt, yt);
    // dL_val(w', alpha)/dalpha and dL_val(w', alpha)/dw'.
    zero_weight_grads();
    const double loss = forward_backward(xv, yv, correct);
    collect_arch_grad(1.0, false);
    vgrad_.resize(weights_.size());
    double ss = 0.0;
    for (std::size_t k = 0; k < weights_.size(); ++k) {
      vgrad_[k].resize(weights_[k]->grad.shape());
      vgrad_[k].copy_from(weights_[k]->grad);
      for (float g : vgrad_[k]) ss += static_cast<double>(g) * g;
    }
    const double norm = std::sqrt(ss);
    if (norm > 0.0) {
      const double eps = options_.unrolled_r / norm;
      const double xi = sgd_->lr();
      // w+ = w + eps v: dL_train(w+)/dalpha, scaled by -xi / (2 eps).
      restore(*net_, saved_);
      shift_weights(static_cast<float>(eps));
      zero_weight_grads();
      (void)forward_backward(xt, yt);
      collect_arch_grad(-xi / (2.0 * eps), true);
      // w- = w - eps v: dL_train(w-)/dalpha, scaled by +xi / (2 eps).
      shift_weights(static_cast<float>(-2.0 * eps));
      zero_weight_grads();
      (void)forward_backward(xt, yt);
      collect_arch_grad(xi / (2.0 * eps), true);
    }
    restore(*net_, saved_);
    zero_weight_grads();
    return loss;
  }

  void shift_weights(float a) {
    for (std::size_t k = 0; k < weights_.size(); ++k) axpy_into(weights_[k]->value, a, vgrad_[k]);
  }

  const Space& space_;
  DartsOptions options_;
  Relaxation relax_;
  Guard guard_;
  std::unique_ptr<Network> net_;
  std::size_t rows_ = 0, ops_ = 0, skip_ = std::numeric_limits<std::size_t>::max();
  Parameter alpha_;
  Parameter beta_;                                 // PC-DARTS' edge normalisation (rows_ entries), or empty
  std::vector<std::vector<std::size_t>> groups_;   // rows into each node, when edges are normalised
  std::vector<double> dbeta_, edge_w_, soft_buf_;
  std::vector<float> beta_buf_;
  std::vector<Parameter*> weights_;
  std::unique_ptr<SGD> sgd_;
  std::unique_ptr<Adam> adam_;
  SoftmaxCrossEntropy ce_;
  std::vector<EdgeSample> samples_;
  std::vector<double> dalpha_, dw_;
  std::vector<std::size_t> ops_buf_;
  std::vector<float> w_buf_;
  double tau_ = 1.0, skip_weight_ = 0.0;
  ModuleState saved_;
  SGD::State sgd_state_;
  std::vector<Tensor> vgrad_;
};

/// Differentiable architecture search (Liu et al., DARTS, ICLR 2019) and its variants as
/// policies:
/// - `Relaxation`: SoftmaxRelaxation (DARTS), SigmoidRelaxation (Fair DARTS, with the
///   zero-one loss of DartsOptions::zero_one_weight), GumbelRelaxation (GDAS: one op per
///   edge per step, hard Gumbel-max with a straight-through gradient, tau annealed);
/// - `ArchGradient`: FirstOrder (DARTS-V1) or SecondOrder (DARTS-V2);
/// - `Guard`: NoGuard or AuxiliarySkip (DARTS-).
///
/// run(space, data, callbacks...) splits `data` into halves (train_portion) for w and for
/// alpha, and per step: samples the mixture from alpha, steps alpha (Adam) on a
/// validation batch, samples again and steps w (SGD, cosine over the epochs, clipping) on
/// a training batch, as DARTS' train_search.py does. After each epoch it writes the
/// checkpoint (if set), then calls `on_darts_epoch(const DartsEpoch<Arch>&)` and
/// `on_epoch(const EpochInfo&)` of the callbacks; one returning true stops the search.
/// Batches and Gumbel noise of epoch e come from streams of (seed, e), so a search
/// resumed from the checkpoint of epoch e ends bit-identical to one run straight through,
/// and the same seed and thread count give the same genotype.
///
/// `Space` must satisfy DifferentiableSpace (Nb201Space, CellSpace).
template <class Relaxation = SoftmaxRelaxation, class ArchGradient = FirstOrder, class Guard = NoGuard>
class Darts {
 public:
  explicit Darts(DartsOptions options = {}, Relaxation relax = {}, Guard guard = {})
      : options_(std::move(options)), relax_(std::move(relax)), guard_(std::move(guard)) {
    options_.validate("Darts");
  }
  [[nodiscard]] const DartsOptions& options() const noexcept { return options_; }

  /// A name for reports: "darts-v1", "darts-v2", "fair-darts", "gdas", with "+aux-skip".
  [[nodiscard]] static std::string name() {
    std::string n;
    if constexpr (std::is_same_v<Relaxation, SigmoidRelaxation>)
      n = "fair-darts";
    else if constexpr (std::is_same_v<Relaxation, GumbelRelaxation>)
      n = "gdas";
    else
      n = ArchGradient::unrolled ? "darts-v2" : "darts-v1";
    if ((std::is_same_v<Relaxation, SigmoidRelaxation> || std::is_same_v<Relaxation, GumbelRelaxation>) && ArchGradient::unrolled)
      n += "-second-order";
    if constexpr (!std::is_same_v<Guard, NoGuard>) n += "+" + std::string(Guard::name);
    return n;
  }

  template <DifferentiableSpace Space, class... Callbacks>
  DartsResult<typename Space::Arch> run(const Space& space, const Dataset& data, Callbacks&&... callbacks) const {
    using Arch = typename Space::Arch;
    data.validate("Darts::run");
    const auto t0 = std::chrono::steady_clock::now();
    const DartsOptions& o = options_;
    const auto split = split_indices(data, SplitOptions{.valid_fraction = 1.0 - o.train_portion, .seed = mix_seed(o.seed, 0x5b1)});
    const Dataset train = data.select(split.train), valid = data.select(split.valid);
    const std::size_t batches = std::min(train.size(), valid.size()) / o.batch_size;
    if (batches == 0)
      throw ConfigError("Darts::run: halves of " + std::to_string(train.size()) + " and " + std::to_string(valid.size()) +
                        " images give no full batch of " + std::to_string(o.batch_size));
    const std::size_t steps = o.max_steps_per_epoch > 0 ? std::min(batches, o.max_steps_per_epoch) : batches;

    DartsSearch<Space, Relaxation, ArchGradient, Guard> s(space, NetworkInput::of(data), o, relax_, guard_);
    using D = Differentiable<Space>;
    DartsResult<Arch> res;
    for (std::size_t r = 0; r < s.num_rows(); ++r) res.row_names.push_back(D::row_name(s.network(), r));
    res.op_names = D::op_names(s.network());

    const std::string fingerprint = fingerprint_of(space, data, steps);
    std::size_t done = 0;
    if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
      StateFile f = read_state_file(o.checkpoint);
      auto fp = f.metadata.find("darts.config");
      if (fp == f.metadata.end() || fp->second != fingerprint)
        throw ConfigError("Darts::run: checkpoint " + o.checkpoint + " is of another search (" +
                          (fp == f.metadata.end() ? std::string("no configuration") : fp->second) + "; this one is " +
                          fingerprint + ")");
      s.load_checkpoint(f.state, f.metadata, "Darts::run: checkpoint " + o.checkpoint);
      done = std::stoul(f.metadata.at("darts.epochs_done"));
    }
    res.first_epoch = done + 1;

    const std::size_t per = data.image_size();
    Tensor xt(Shape{static_cast<int>(o.batch_size), data.channels, data.height, data.width});
    Tensor xv(xt.shape());
    std::vector<int> yt(o.batch_size), yv(o.batch_size);
    (void)per;
    ModuleState ck;
    for (std::size_t epoch = done; epoch < o.epochs; ++epoch) {
      const auto e0 = std::chrono::steady_clock::now();
      const double tau = o.epochs > 1 ? o.tau_max - (o.tau_max - o.tau_min) * static_cast<double>(epoch) /
                                                         static_cast<double>(o.epochs - 1)
                                      : o.tau_min;
      const double beta = guard_.skip_weight(epoch, o.epochs);
      s.set_schedule(tau, beta);
      s.weight_optimizer().set_lr(
          CosineAnnealing{.base_lr = o.lr, .t_max = static_cast<int>(o.epochs), .eta_min = o.lr_min}.lr_at(static_cast<int>(epoch)));
      BatchLoader lt(train, {.batch_size = o.batch_size, .shuffle = true, .drop_last = true, .seed = mix_seed(o.seed, 2 * epoch + 100)});
      BatchLoader lv(valid, {.batch_size = o.batch_size, .shuffle = true, .drop_last = true, .seed = mix_seed(o.seed, 2 * epoch + 101)});
      Rng rng(mix_seed(o.seed, epoch + 0x6d6d));
      const bool arch_steps = epoch >= o.warmup_epochs;
      double tl = 0.0, vl = 0.0;
      int tc = 0, vc = 0;
      for (std::size_t step = 0; step < steps; ++step) {
        lt.next(xt.data(), yt.data());
        lv.next(xv.data(), yv.data());
        if (arch_steps) {
          s.sample(rng);
          vl += s.arch_gradient(xt, yt, xv, yv, &vc);
          s.arch_optimizer().step();
        }
        s.sample(rng);
        const double l = s.weight_step(xt, yt, &tc);
        if (!std::isfinite(l))
          throw Error("Darts::run: the training loss became " + std::string(std::isnan(l) ? "NaN" : "infinite") +
                             " at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(step + 1));
        tl += l;
      }
      const double n = static_cast<double>(steps), images = n * static_cast<double>(o.batch_size);
      DartsEpoch<Arch> ep;
      ep.epoch = epoch + 1;
      ep.epochs = o.epochs;
      ep.train_loss = tl / n;
      ep.train_accuracy = 100.0 * tc / images;
      ep.valid_loss = arch_steps ? vl / n : std::numeric_limits<double>::quiet_NaN();
      ep.valid_accuracy = arch_steps ? 100.0 * vc / images : std::numeric_limits<double>::quiet_NaN();
      ep.temperature = tau;
      ep.skip_weight = beta;
      ep.weights = s.relaxed_weights();
      ep.arch = D::discretize(space, s.network(), ep.weights);
      ep.genotype = space.encode(ep.arch);
      if (!o.checkpoint.empty()) {
        StateMetadata meta;
        s.checkpoint(ck, meta);
        meta["darts.config"] = fingerprint;
        meta["darts.epochs_done"] = std::to_string(epoch + 1);
        meta["darts.genotype"] = ep.genotype;
        save_state(o.checkpoint, ck, meta);
      }
      ep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
      ep.peak_memory_mib = detail::peak_memory_mib();
      const EpochInfo info{.epoch = ep.epoch, .epochs = ep.epochs, .train_loss = ep.train_loss,
                           .valid_accuracy = ep.valid_accuracy, .seconds = ep.seconds};
      (void)info;
      res.epochs.push_back(ep);
      const bool stop = (false | ... | detail::call_on_darts_epoch(callbacks, res.epochs.back())) |
                        (false | ... | detail::call_on_epoch(callbacks, info));
      if (stop) {
        res.stopped = true;
        break;
      }
    }
    res.weights = s.relaxed_weights();
    res.edge_weights = s.edge_weights();
    res.arch = D::discretize(space, s.network(), res.weights);
    res.genotype = space.encode(res.arch);
    for (std::size_t r = 0; r < s.num_rows(); ++r) {
      const auto a = s.alpha_row(r);
      res.alpha.emplace_back(a.begin(), a.end());
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  }

 private:
  template <class Space>
  std::string fingerprint_of(const Space& space, const Dataset& data, std::size_t steps) const {
    const DartsOptions& o = options_;
    (void)space;
    return name() + " images=" + std::to_string(data.size()) + " shape=" + std::to_string(data.channels) + "x" +
           std::to_string(data.height) + "x" + std::to_string(data.width) + " epochs=" + std::to_string(o.epochs) +
           " batch=" + std::to_string(o.batch_size) + " steps=" + std::to_string(steps) +
           " C=" + std::to_string(o.supernet.channels) + " N=" + std::to_string(o.supernet.cells) +
           (o.supernet.partial_channels > 1 ? " K=" + std::to_string(o.supernet.partial_channels) : std::string()) +
           " seed=" + std::to_string(o.seed) + " lr=" + std::to_string(o.lr) + " arch_lr=" + std::to_string(o.arch_lr);
  }

  DartsOptions options_;
  Relaxation relax_;
  Guard guard_;
};

/// The presets.
using DartsV1 = Darts<SoftmaxRelaxation, FirstOrder>;
using DartsV2 = Darts<SoftmaxRelaxation, SecondOrder>;
using FairDarts = Darts<SigmoidRelaxation, FirstOrder>;
using Gdas = Darts<GumbelRelaxation, FirstOrder>;
using DartsMinus = Darts<SoftmaxRelaxation, FirstOrder, AuxiliarySkip>;

}  // namespace nas

#undef NAS_DARTS_HAS_RUSAGE
