// The network of a ChainSpace architecture: its plan (stem, inverted residual blocks, head), op keys and the built network.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/plan.hpp"
#include "nas/space/chain_space.hpp"
#include "nas/tensor/sequential.hpp"

namespace nas {

/// The plan of the network of a ChainSpace architecture (the network CellNetwork<ChainSpace>
/// builds): stem_conv (3x3, the skeleton's stem stride), batch_norm and relu; then per stage
/// its blocks in order, one mbconv op each (the first at the stage's stride, the others at
/// stride 1; an inverted residual block adds its input when stride is 1 and its channels do
/// not change); then head_conv (1x1 Conv-BN-ReLU, when the skeleton has head channels),
/// global_avg_pool and classifier. Every channel count is the skeleton's times the
/// architecture's width, rounded by ChainSpace::channels. Of `options`, only the seed and
/// the initialisation matter (every convolution and the classifier are drawn with
/// options.init); the skeleton is the space's, not options.channels / options.cells.
/// Throws ConfigError for an architecture outside the space or an input too small for it.
[[nodiscard]] inline NetworkPlan plan_network(const ChainSpace& space, const ChainArch& arch, const NetworkInput& input,
                                              const NetworkOptions& options = {}) {
  input.validate("plan_network(ChainSpace)");
  options.validate("plan_network(ChainSpace)");
  space.check(arch, "plan_network(ChainSpace)");
  const ChainSpaceOptions& so = space.options();
  NetworkPlan plan;
  plan.space = "ChainSpace";
  plan.arch = arch;
  plan.arch_text = space.encode(arch);
  plan.input = input;
  plan.options = options;
  auto push = [&plan, &options](PlannedOp op) -> const PlannedOp& {
    op.init = options.init;
    plan.ops.push_back(std::move(op));
    return plan.ops.back();
  };
  const double w = arch.width;
  int c = space.channels(so.stem_channels, w);
  ImageShape x = push(detail::describe_op("stem_conv", OpRole::stem, {input.channels, input.height, input.width}, c,
                                          so.stem_stride))
                     .out;
  x = push(detail::describe_op("batch_norm", OpRole::stem, x, c, 1)).out;
  x = push(detail::describe_op("relu", OpRole::stem, x, c, 1)).out;
  for (std::size_t s = 0; s < arch.stages.size(); ++s) {
    c = space.channels(so.stages[s].channels, w);
    for (std::size_t b = 0; b < arch.stages[s].size(); ++b) {
      const ChainBlock& blk = arch.stages[s][b];
      x = push(detail::describe_mbconv(x, c, blk.kernel, blk.expansion, blk.se, b == 0 ? so.stages[s].stride : 1)).out;
    }
  }
  if (so.head_channels > 0) {
    c = space.channels(so.head_channels, w);
    x = push(detail::describe_op("head_conv", OpRole::head, x, c, 1)).out;
  }
  x = push(detail::describe_op("global_avg_pool", OpRole::head, x, c, 1)).out;
  push(detail::describe_op("classifier", OpRole::head, x, input.classes, 1));
  detail::set_activations(plan);
  return plan;
}

/// Every op configuration that some architecture of `space` contains in the network for
/// `input`: for every width, the stem; per stage, every block choice at the stage's first
/// position (its stride, the previous stage's channels) and, when a stage can hold more
/// than one block, at the later positions (stride 1); the head. The resolution at each
/// stage does not depend on the kernels (padding kernel / 2), so this is the whole set.
/// With the default space and 1x28x28 inputs: 3 widths x (3 stem + 4 stages x 2 positions
/// x 18 blocks + 3 head) = 450 configurations, 339 distinct keys (widths 0.75 and 1 round
/// to the same channels in the stem and the first stages).
[[nodiscard]] inline std::vector<OpKey> space_keys(const ChainSpace& space, const NetworkInput& input,
                                                   const NetworkOptions& options = {}) {
  const ChainSpaceOptions& so = space.options();
  std::vector<OpKey> out;
  std::unordered_set<OpKey> seen;
  auto add = [&](OpKey k) {
    if (seen.insert(k).second) out.push_back(std::move(k));
  };
  const int max_depth = so.depths.back();  // the space sorts its depths
  for (double w : so.widths) {
    ChainArch a;
    a.width = w;
    a.stages.assign(so.stages.size(), std::vector<ChainBlock>(
                                          static_cast<std::size_t>(so.depths.front()),
                                          ChainBlock{static_cast<std::uint8_t>(so.kernels.front()),
                                                     static_cast<std::uint8_t>(so.expansions.front()), false}));
    const NetworkPlan plan = plan_network(space, a, input, options);
    std::size_t i = 0;
    for (; plan.ops[i].role != OpRole::block; ++i) add(plan.ops[i].key());
    for (std::size_t s = 0; s < so.stages.size(); ++s) {
      const PlannedOp& first = plan.ops[i];
      for (int k : so.kernels)
        for (int e : so.expansions)
          for (int se = 0; se < (so.squeeze_excite ? 2 : 1); ++se) {
            add(detail::describe_mbconv(first.in, first.out.channels, k, e, se == 1, first.stride).key());
            if (max_depth > 1) add(detail::describe_mbconv(first.out, first.out.channels, k, e, se == 1, 1).key());
          }
      i += a.stages[s].size();
    }
    for (; i < plan.ops.size(); ++i) add(plan.ops[i].key());
  }
  return out;
}

/// The network of a ChainSpace architecture, built from its plan (plan_network()): a
/// Sequential of the plan's ops (stem conv, BN, ReLU, InvertedResidual blocks, the head's
/// ConvBNReLU, global pooling, classifier), each made by make_op() in plan order with
/// weights drawn from Rng(plan.options.seed). num_parameters() and macs() equal the plan's.
///
/// Parameter paths: "body.<k>...." with k the op's position in the plan.
template <>
class CellNetwork<ChainSpace> final : public detail::SequentialNetwork<ChainArch> {
 public:
  explicit CellNetwork(const NetworkPlan& plan) : SequentialNetwork(plan, "ChainSpace", "CellNetwork<ChainSpace>") {
    Rng rng(options().seed);
    for (const PlannedOp& op : plan_.ops) body_.add(make_op(op, rng));
  }
  CellNetwork(const ChainSpace& space, const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : CellNetwork(plan_network(space, arch, input, options)) {}

  [[nodiscard]] std::string type_name() const override { return "CellNetwork<ChainSpace>"; }
};

/// The network of a ChainSpace architecture (CellNetwork is the library's name for "the
/// network of a space's architecture"; the chain has no cells).
using ChainNetwork = CellNetwork<ChainSpace>;

}  // namespace nas
