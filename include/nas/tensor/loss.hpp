// Softmax cross-entropy loss over integer labels, with optional label smoothing.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "nas/tensor/tensor.hpp"

namespace nas {

/// torch.nn.CrossEntropyLoss(label_smoothing = s) with mean reduction over the batch:
/// for logits z [N, K] and labels y, the target is q = (1 - s) * onehot(y) + s / K and
/// L = -1/N sum_n sum_k q_k log softmax(z_n)_k, so dL/dz_n = (softmax(z_n) - q) / N.
/// `forward` computes both the loss and dL/dz; `backward` returns the latter.
class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(double label_smoothing = 0.0) : smoothing_(label_smoothing) {
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
      throw ConfigError("SoftmaxCrossEntropy: label_smoothing (" + std::to_string(label_smoothing) + ") must be in [0, 1]");
  }

  /// The mean loss of `logits` [N, K] against `labels` (N values in [0, K)).
  double forward(const Tensor& logits, std::span<const int> labels) {
    if (logits.rank() != 2)
      throw ConfigError("SoftmaxCrossEntropy: logits " + logits.shape().str() + " (expected [N, classes])");
    const int N = logits.dim(0), K = logits.dim(1);
    if (labels.size() != static_cast<std::size_t>(N))
      throw ConfigError("SoftmaxCrossEntropy: " + std::to_string(labels.size()) + " labels for a batch of " + std::to_string(N));
    grad_.resize(logits.shape());
    const double off = smoothing_ / K, on = 1.0 - smoothing_ + off;
    double total = 0.0;
    for (int n = 0; n < N; ++n) {
      const int y = labels[static_cast<std::size_t>(n)];
      if (y < 0 || y >= K)
        throw ConfigError("SoftmaxCrossEntropy: label " + std::to_string(y) + " at " + std::to_string(n) + " outside [0, " +
                          std::to_string(K) + ")");
      const float* z = logits.data() + static_cast<std::size_t>(n) * K;
      float* g = grad_.data() + static_cast<std::size_t>(n) * K;
      float zmax = z[0];
      for (int k = 1; k < K; ++k) zmax = std::max(zmax, z[k]);
      double se = 0.0;
      for (int k = 0; k < K; ++k) se += std::exp(static_cast<double>(z[k] - zmax));
      const double log_se = std::log(se);
      double loss = 0.0;
      for (int k = 0; k < K; ++k) {
        const double logp = static_cast<double>(z[k] - zmax) - log_se;
        const double q = k == y ? on : off;
        loss -= q * logp;
        g[k] = static_cast<float>((std::exp(logp) - q) / N);
      }
      total += loss;
    }
    loss_ = total / N;
    return loss_;
  }
  /// dL/dlogits from the last forward.
  [[nodiscard]] const Tensor& backward() const noexcept { return grad_; }
  [[nodiscard]] double loss() const noexcept { return loss_; }
  [[nodiscard]] double label_smoothing() const noexcept { return smoothing_; }

 private:
  double smoothing_;
  double loss_ = 0.0;
  Tensor grad_;
};

/// How many rows of `logits` [N, K] have their maximum at the label (ties: first index).
inline int count_correct(const Tensor& logits, std::span<const int> labels) {
  if (logits.rank() != 2 || labels.size() != static_cast<std::size_t>(logits.dim(0)))
    throw ConfigError("count_correct: logits " + logits.shape().str() + " and " + std::to_string(labels.size()) + " labels");
  const int N = logits.dim(0), K = logits.dim(1);
  int correct = 0;
  for (int n = 0; n < N; ++n) {
    const float* z = logits.data() + static_cast<std::size_t>(n) * K;
    const int arg = static_cast<int>(std::max_element(z, z + K) - z);
    correct += arg == labels[static_cast<std::size_t>(n)];
  }
  return correct;
}

}  // namespace nas
