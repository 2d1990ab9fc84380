// Sequential: a chain of Modules run in order (and backward in reverse).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// Owns its layers; forward feeds each output to the next, backward runs in reverse.
/// Children are named "0", "1", ... in parameter paths, as in torch.nn.Sequential.
///
/// A ReLU followed by a Conv2d runs as one convolution that reads max(x, 0) (in training
/// too: the ReLU then keeps no buffers, and the convolution's backward applies its
/// gradient), with the same results as running them one by one. In evaluation mode, runs
/// of [ReLU ->] Conv2d [-> BatchNorm2d with running statistics] execute as one fused
/// convolution (Conv2d::forward_fused) with the BatchNorm folded into the weights, as
/// inference engines do; results equal the layer-by-layer ones up to float rounding. A
/// backward() after such a forward first replays the layers, so gradients stay exact.
/// forward_into() writes a final fused group straight into (or adds it to) its target.
///
/// A BatchNorm2d added right after a Conv2d writes its input gradient over the
/// convolution's output in backward (BatchNorm2d::overwrite_input_in_backward), saving a
/// buffer: after backward() that Conv2d's last output no longer holds the forward values.
///
/// Under a HookScope (nas/tensor/hooks.hpp) every layer runs on its own, unfused, and
/// each layer's output, output gradient and parameter gradients are reported.
class Sequential : public Module {
 public:
  Sequential() = default;

  /// Appends a layer and returns it.
  Module& add(std::unique_ptr<Module> m) {
    if (!m) throw ConfigError("Sequential::add: null module at position " + std::to_string(layers_.size()));
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m.get()); bn && !layers_.empty() && dynamic_cast<Conv2d*>(layers_.back().get()))
      bn->overwrite_input_in_backward(true);  // the convolution's output is read by this BatchNorm only
    layers_.push_back(std::move(m));
    return *layers_.back();
  }
  /// Constructs a layer of type T in place and returns it.
  template <class T, class... Args>
  T& emplace(Args&&... args) {
    auto p = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *p;
    add(std::move(p));
    return ref;
  }

  const Tensor& forward(const Tensor& x) override {
    x_ = &x;
    fused_ = false;
    relu_into_conv_.assign(layers_.size(), 0);  // no allocation after the first call
    if (hooks_active()) [[unlikely]]
      return forward_observed(x);
    if (!is_training()) return forward_eval(x);
    return forward_layers(x, layers_.size());
  }
  /// A chain ending in a BatchNorm2d (training), or in a Conv2d with or without an
  /// evaluation-mode BatchNorm2d after it (evaluation, where they run fused), writes its
  /// output straight into `target`; otherwise as Module::forward_into.
  [[nodiscard]] bool forward_into_is_direct() const noexcept override {
    if (layers_.empty() || hooks_active()) return false;
    if (is_training()) return dynamic_cast<const BatchNorm2d*>(layers_.back().get()) != nullptr;
    return eval_tail() > 0;
  }
  void forward_into(const Tensor& x, Tensor& target, bool accumulate) override {
    if (!forward_into_is_direct()) {
      Module::forward_into(x, target, accumulate);
      return;
    }
    x_ = &x;
    fused_ = false;
    relu_into_conv_.assign(layers_.size(), 0);
    if (!is_training()) {
      forward_eval(x, &target, accumulate);
      return;
    }
    auto* bn = dynamic_cast<BatchNorm2d*>(layers_.back().get());
    bn->forward_into(forward_layers(x, layers_.size() - 1), target, accumulate);
  }
  const Tensor& backward(const Tensor& dy) override {
    if (fused_) {  // the fused forward left the layers without their saved inputs: replay it
      NAS_ASSERT(x_ != nullptr, "Sequential::backward before forward");
      const Tensor* h = x_;
      for (auto& l : layers_) h = &l->forward(*h);
      relu_into_conv_.assign(layers_.size(), false);
      fused_ = false;
    }
    NAS_ASSERT(relu_into_conv_.size() == layers_.size(), "Sequential::backward before forward");
    if (hooks_active()) [[unlikely]]
      return backward_observed(dy);
    const Tensor* g = &dy;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      if (i > 0 && relu_into_conv_[i - 1]) {  // the ReLU's gradient comes from the convolution
        g = &layers_[i]->backward(*g);
        --i;
        continue;
      }
      g = &layers_[i]->backward(*g);
    }
    return *g;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    Shape s = in;
    for (const auto& l : layers_) s = l->output_shape(s);
    return s;
  }
  [[nodiscard]] double macs(const Shape& in) const override {
    double m = 0.0;
    Shape s = in;
    for (const auto& l : layers_) {
      m += l->macs(s);
      s = l->output_shape(s);
    }
    return m;
  }
  [[nodiscard]] std::string type_name() const override { return "Sequential"; }
  void release_buffers() override {
    release(affine_);
    x_ = nullptr;
    Module::release_buffers();
  }
  /// Each layer on its own node (the fusions are an execution detail, not part of the graph).
  int trace(Tracer& t, int x) override {
    for (std::size_t i = 0; i < layers_.size(); ++i) x = t.child(std::to_string(i), *layers_[i], x);
    return x;
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    for (std::size_t i = 0; i < layers_.size(); ++i) f(std::to_string(i), *layers_[i]);
  }

  [[nodiscard]] std::size_t size() const noexcept { return layers_.size(); }
  [[nodiscard]] Module& operator[](std::size_t i) { return *layers_.at(i); }

 private:
  // A ReLU the convolution after it may run (one holding its pattern must run itself).
  static bool fusable_relu(Module& m) {
    const auto* r = dynamic_cast<const ReLU*>(&m);
    return r != nullptr && !r->holds_pattern();
  }
  // Training forward through the first `n` layers, running a ReLU followed by a Conv2d as
  // one convolution that reads max(x, 0).
  const Tensor& forward_layers(const Tensor& x, std::size_t n) {
    const Tensor* h = &x;
    for (std::size_t i = 0; i < n; ++i) {
      Conv2d* conv = i + 1 < n && fusable_relu(*layers_[i]) ? dynamic_cast<Conv2d*>(layers_[i + 1].get()) : nullptr;
      relu_into_conv_[i] = conv != nullptr;
      if (conv) {
        h = &conv->forward(*h, kernels::ConvInput::relu);
        relu_into_conv_[++i] = false;
      } else {
        h = &layers_[i]->forward(*h);
      }
    }
    return *h;
  }

  // Every layer on its own, each output reported (under a HookScope).
  const Tensor& forward_observed(const Tensor& x) {
    const Tensor* h = &x;
    for (auto& l : layers_) {
      h = &l->forward(*h);
      report_forward(*l, *h);
    }
    return *h;
  }
  const Tensor& backward_observed(const Tensor& dy) {
    const Tensor* g = &dy;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      g = &observed_backward(*layers_[i], *g);
      if (i > 0 && relu_into_conv_[i - 1]) --i;  // a forward outside the scope ran this ReLU inside the convolution
    }
    return *g;
  }

  // How many layers at the end run as one fused convolution in evaluation: 1 for a final
  // Conv2d, 2 for a Conv2d then a BatchNorm2d with running statistics, else 0.
  [[nodiscard]] std::size_t eval_tail() const noexcept {
    const std::size_t n = layers_.size();
    if (n >= 1 && dynamic_cast<const Conv2d*>(layers_[n - 1].get())) return 1;
    const auto* bn = n >= 2 ? dynamic_cast<const BatchNorm2d*>(layers_[n - 1].get()) : nullptr;
    return bn && bn->eval_is_affine() && dynamic_cast<const Conv2d*>(layers_[n - 2].get()) ? 2 : 0;
  }

  // Evaluation forward, fusing [ReLU ->] Conv2d [-> BatchNorm2d]. With a `target`, the
  // chain's last group (eval_tail() > 0) writes or adds its output there.
  const Tensor& forward_eval(const Tensor& x, Tensor* target = nullptr, bool accumulate = false) {
    const Tensor* h = &x;
    const std::size_t n = layers_.size();
    for (std::size_t i = 0; i < n;) {
      std::size_t k = i;
      const bool relu = fusable_relu(*layers_[k]) && k + 1 < n && dynamic_cast<Conv2d*>(layers_[k + 1].get()) != nullptr;
      if (relu) ++k;
      auto* conv = dynamic_cast<Conv2d*>(layers_[k].get());
      auto* bn = conv && k + 1 < n ? dynamic_cast<BatchNorm2d*>(layers_[k + 1].get()) : nullptr;
      if (bn && !bn->eval_is_affine()) bn = nullptr;
      const std::size_t end = conv ? k + (bn ? 2 : 1) : i + 1;
      const bool into = target != nullptr && conv != nullptr && end == n;
      if (!conv || (!relu && !bn && !into)) {
        h = &layers_[i++]->forward(*h);
        continue;
      }
      if (bn) {
        affine_.resize(Shape{2, bn->options().channels});
        bn->eval_affine(affine_.data(), affine_.data() + bn->options().channels);
      }
      const float* scale = bn ? affine_.data() : nullptr;
      const float* shift = bn ? affine_.data() + bn->options().channels : nullptr;
      fused_ = true;
      if (into) {
        conv->forward_fused_into(*h, relu, scale, shift, *target, accumulate);
        return *target;
      }
      h = &conv->forward_fused(*h, relu, scale, shift);
      i = end;
    }
    NAS_ASSERT(target == nullptr, "Sequential::forward_eval: the chain does not end in a convolution");
    return *h;
  }

  std::vector<std::unique_ptr<Module>> layers_;
  const Tensor* x_ = nullptr;
  bool fused_ = false;  // the last forward ran fused layers (evaluation)
  std::vector<char> relu_into_conv_;  // [i]: layer i is a ReLU run inside layer i + 1 (training)
  Tensor affine_;       // BatchNorm's scale and shift while fusing
};

}  // namespace nas
