// Linear: a fully connected layer y = x W^T + b as a Module.
#pragma once

#include <string>
#include <vector>

#include "nas/core/rng.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// torch.nn.Linear: weight [out, in], optional bias [out]. Accepts [N, in] or any input
/// whose dimensions after the batch multiply to `in` (e.g. [N, C, 1, 1]); the output is [N, out].
class Linear final : public Module {
 public:
  struct Options {
    int in_features = 1;
    int out_features = 1;
    bool bias = true;
    Init init = Init::torch_default;
  };

  Linear(const Options& o, Rng& rng) : opt_(o) {
    if (o.in_features < 1 || o.out_features < 1)
      throw ConfigError("Linear: features in " + std::to_string(o.in_features) + ", out " + std::to_string(o.out_features) +
                        " (both must be >= 1)");
    weight_ = Parameter("weight", Shape{o.out_features, o.in_features});
    if (o.bias) bias_ = Parameter("bias", Shape{o.out_features});
    init_weights(o.init, static_cast<std::size_t>(o.in_features), weight_.value, o.bias ? &bias_.value : nullptr, rng);
  }

  const Tensor& forward(const Tensor& x) override {
    const Shape out = output_shape(x.shape());
    x_ = &x;
    y_.resize(out);
    const Eigen::Index n = out[0];
    auto y = y_.matrix(n, opt_.out_features);
    y.noalias() = x.matrix(n, opt_.in_features) * w_->value.matrix().transpose();
    if (opt_.bias) y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias_.value.data(), opt_.out_features);
    return y_;
  }

  const Tensor& backward(const Tensor& dy) override {
    check_shape("Linear::backward", dy, y_.shape());
    const Eigen::Index n = dy.dim(0);
    const auto g = dy.matrix(n, opt_.out_features);
    const auto x = x_->matrix(n, opt_.in_features);
    w_->grad.matrix().noalias() += g.transpose() * x;
    if (opt_.bias) Eigen::Map<Eigen::RowVectorXf>(bias_.grad.data(), opt_.out_features) += g.colwise().sum();
    w_->has_grad = true;
    bias_.has_grad = opt_.bias;
    dx_.resize(x_->shape());
    dx_.matrix(n, opt_.in_features).noalias() = g * w_->value.matrix();
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    if (in.rank() < 2 || in.per_item() != static_cast<std::size_t>(opt_.in_features))
      throw ConfigError("Linear: input " + in.str() + " (expected [N, " + std::to_string(opt_.in_features) + "])");
    return Shape{in[0], opt_.out_features};
  }
  /// in*out multiply-accumulates, + out for the bias (AutoDL's rule).
  [[nodiscard]] double macs(const Shape& in) const override {
    (void)output_shape(in);
    return static_cast<double>(opt_.in_features) * opt_.out_features + (opt_.bias ? opt_.out_features : 0);
  }
  [[nodiscard]] std::string type_name() const override { return "Linear"; }
  void release_buffers() override {
    release(y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::linear, {x}, output_shape(t.shape(x)));
    n.linear = LinearGeometry{opt_.in_features, opt_.out_features, opt_.bias};
    n.weight = &weight_;
    n.bias = opt_.bias ? &bias_ : nullptr;
    return t.add(std::move(n));
  }
  void own_parameters(std::vector<Parameter*>& out) override {
    out.push_back(w_);
    if (opt_.bias) out.push_back(&bias_);
  }

  /// Uses `w` (owned elsewhere, alive as long as this layer, of shape [out, in]) as the
  /// weight from now on: tied layers apply one tensor and their gradients add up in it;
  /// listings name it once (see Module::own_parameters).
  void share_weight(Parameter& w) {
    if (w.value.shape() != w_->value.shape() || w.grad.shape() != w_->value.shape())
      throw ConfigError("Linear::share_weight: weight '" + w.name + "' of shape " + w.value.shape().str() +
                        " (with a gradient " + w.grad.shape().str() + ") for this layer's " + w_->value.shape().str());
    w_ = &w;
    if (w_ != &weight_) weight_ = Parameter();  // the own weight is no longer used
  }
  [[nodiscard]] Parameter& weight() noexcept { return *w_; }
  [[nodiscard]] Parameter& bias() noexcept { return bias_; }
  [[nodiscard]] const Options& options() const noexcept { return opt_; }

 private:
  Options opt_;
  Parameter weight_, bias_;
  Parameter* w_ = &weight_;  // the weight in use: weight_, or one shared by share_weight
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
};

}  // namespace nas
