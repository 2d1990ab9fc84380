// Dropout: zeroes activations with probability p during training (inverted scaling), seeded.
#pragma once

#include <cstdint>
#include <string>

#include "nas/core/rng.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// Inverted dropout (Srivastava et al. 2014) like torch.nn.Dropout: in training each
/// element is kept with probability 1 - p and scaled by 1 / (1 - p); in evaluation it is
/// the identity. The mask comes from the module's own Rng, so a seed fixes it.
class Dropout final : public Module {
 public:
  explicit Dropout(double p, std::uint64_t seed = 0) : p_(p), rng_(seed) {
    if (!(p >= 0.0 && p < 1.0)) throw ConfigError("Dropout: p (" + std::to_string(p) + ") must be in [0, 1)");
  }

  const Tensor& forward(const Tensor& x) override {
    active_ = is_training() && p_ > 0.0;
    if (!active_) return x;
    y_.resize(x.shape());
    mask_.resize(x.shape());
    const auto scale = static_cast<float>(1.0 / (1.0 - p_));
    const std::size_t n = x.numel();
    for (std::size_t i = 0; i < n; ++i) mask_[i] = rng_.uniform() < p_ ? 0.0f : scale;
    y_.array() = x.array() * mask_.array();
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    if (!active_) return dy;
    check_shape("Dropout::backward", dy, mask_.shape());
    dx_.resize(dy.shape());
    dx_.array() = dy.array() * mask_.array();
    return dx_;
  }
  /// Restarts the mask stream (two forwards after the same reseed draw the same mask).
  void reseed(std::uint64_t seed) noexcept { rng_.reseed(seed); }
  [[nodiscard]] double p() const noexcept { return p_; }

  [[nodiscard]] Shape output_shape(const Shape& in) const override { return in; }
  [[nodiscard]] std::string type_name() const override { return "Dropout"; }
  void release_buffers() override {
    release(mask_, y_, dx_);
    Module::release_buffers();
  }
  int trace(Tracer& t, int x) override {
    GraphNode n = t.node(NodeKind::dropout, {x}, t.shape(x));
    n.p = p_;
    return t.add(std::move(n));
  }

 private:
  double p_;
  Rng rng_;
  bool active_ = false;
  Tensor mask_, y_, dx_;
};

}  // namespace nas
