// trace(): a built network as a NetworkGraph, the flat DAG of primitive ops it computes.
#pragma once

#include <string>
#include <utility>

#include "nas/core/error.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// The graph `net` computes on inputs of shape `input` (the batch size is part of the
/// shape; nothing else depends on it). Each module lowers itself through Module::trace, so
/// the graph holds exactly the ops a forward() runs: edges a cell skips are not in it. The
/// graph points into `net`'s parameters and BatchNorm running statistics and reads their
/// values whenever it is executed or exported; it must not outlive `net`.
/// Throws ConfigError when `input` does not fit the network or a module cannot be traced.
[[nodiscard]] inline NetworkGraph trace(Module& net, const Shape& input) {
  const Shape expected = net.output_shape(input);  // throws when the input does not fit
  Tracer t(input);
  const int out = net.trace(t, 0);
  NetworkGraph g = std::move(t).finish(out);
  if (g.output_shape() != expected)
    throw ConfigError("trace: " + net.type_name() + " traced to an output " + g.output_shape().str() + ", its forward gives " +
                      expected.str());
  return g;
}

}  // namespace nas
