// Measured inference latency of a network on this machine (the hw layer's latency probe).
//
// Layers: the measurement itself lives in nas/tensor/latency.hpp, because final_training
// (estimate) reports the latency of the network it trained and estimate may not include
// hw, which comes after it. Timing a forward pass needs nothing above the tensor layer
// (a module and an input shape), so the function sits there and this header re-exports
// it with the form hw users reach for: a network and its NetworkInput.
#pragma once

#include <cstdint>
#include <string>

#include "nas/core/error.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/tensor/latency.hpp"

namespace nas {

/// Median milliseconds per image of `repeats` inference passes of `net` at batch `batch`
/// on random images shaped as `in` says (see inference_latency_ms(net, Shape, ...)).
template <class Net>
double inference_latency_ms(Net& net, const NetworkInput& in, int batch, int repeats, std::uint64_t seed = 0) {
  if (batch < 1 || repeats < 1)
    throw ConfigError("inference_latency_ms: batch (" + std::to_string(batch) + ") and repeats (" + std::to_string(repeats) +
                      ") must be >= 1");
  return inference_latency_ms(net, in.batch(batch), repeats, seed);
}

}  // namespace nas
