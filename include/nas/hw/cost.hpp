// Model cost: exact parameter count, FLOPs (multiply-accumulates per image) and activation floats of a network.
#pragma once

#include <cstddef>

#include "nas/model/cell_network.hpp"
#include "nas/model/plan.hpp"
#include "nas/tensor/module.hpp"

namespace nas {

/// Size and arithmetic of a network for one image.
///
/// `params` counts every learnable scalar (convolution and linear weights and biases,
/// BatchNorm's affine weight and bias; not BN's running statistics). `macs` counts
/// multiply-accumulates per image with the rules of AutoDL-Projects' get_model_infos,
/// which NAS-Bench-201 reports as "FLOPs": Conv2d k_h*k_w*(C_in/groups)*C_out*H_out*W_out
/// (+ C_out*H_out*W_out with a bias), Linear in*out + out; pooling, BN, ReLU and additions
/// count 0. Both count every operation of every cell, including operations on edges that
/// cannot reach the cell output, as the benchmark's published columns do. `activations`
/// counts the floats per image of the outputs of the ops that run (PlannedOp::activations;
/// see docs/plans.md): known from a plan, 0 for a module measured without one.
struct ModelCost {
  std::size_t params = 0;
  double macs = 0.0;
  std::size_t activations = 0;

  /// Parameters in millions (NAS-Bench-201's `params` unit).
  [[nodiscard]] double params_m() const noexcept { return static_cast<double>(params) / 1e6; }
  /// Multiply-accumulates in millions (NAS-Bench-201's `flops` unit).
  [[nodiscard]] double flops_m() const noexcept { return macs / 1e6; }
  /// Activation memory per image in bytes (float32).
  [[nodiscard]] std::size_t activation_bytes() const noexcept { return activations * sizeof(float); }
};

/// The cost of a planned network, from the plan alone (nothing is built).
inline ModelCost model_cost(const NetworkPlan& plan) { return ModelCost{plan.params(), plan.macs(), plan.activations()}; }

/// The cost of any module for images of shape `image` ([1, C, H, W] or [C, H, W]),
/// counted on its built layers (activations 0: a module does not say which of its ops run).
inline ModelCost model_cost(Module& m, const Shape& image) {
  const Shape one = image.rank() == 3 ? Shape{1, image[0], image[1], image[2]} : image.with(0, 1);
  return ModelCost{m.num_parameters(), m.macs(one)};
}

/// The cost of a built cell network for its own input shape: params and MACs counted on
/// its layers, activations from the plan it was built from.
template <class Space>
ModelCost model_cost(CellNetwork<Space>& net) {
  ModelCost c = model_cost(net, net.input().batch(1));
  c.activations = net.plan().activations();
  return c;
}

/// The cost of the network of `arch`, from its plan (no weights are drawn).
template <class Space>
ModelCost model_cost(const Space& space, const typename Space::Arch& arch, const NetworkInput& input,
                     const NetworkOptions& options = {}) {
  return model_cost(plan_network(space, arch, input, options));
}

}  // namespace nas
