// inference_latency_ms: the median time of a module's forward pass per input item, measured on this machine now.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// Median milliseconds per item (the input's first dimension) of `repeats` forward passes
/// of `net` in evaluation mode on a random input of shape `input`, after one untimed
/// pass that pays for buffers and caches; restores the training mode it found. The
/// median, not the mean: another process can only slow a pass down.
///
/// Net: `bool is_training() const`, `void eval()`, `void train(bool)` and
/// `const Tensor& forward(const Tensor&)` (every nas::Module, CellNetwork).
template <class Net>
double inference_latency_ms(Net& net, const Shape& input, int repeats, std::uint64_t seed = 0) {
  if (input.rank() < 1 || input[0] < 1 || repeats < 1)
    throw ConfigError("inference_latency_ms: input " + input.str() + " and repeats (" + std::to_string(repeats) +
                      ") must have a batch >= 1 and repeats >= 1");
  const bool was_training = net.is_training();
  net.eval();
  Tensor x(input);
  Rng rng(seed);
  x.fill_normal(rng);
  (void)net.forward(x);  // warm-up: buffers and caches
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(repeats));
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)net.forward(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  net.train(was_training);
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2] / input[0];
}

}  // namespace nas
