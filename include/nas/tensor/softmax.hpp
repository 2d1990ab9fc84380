// softmax: probabilities from logits, stable against overflow (the largest logit is subtracted first).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "nas/core/error.hpp"

namespace nas {

/// p_k = exp(z_k - max z) / sum_j exp(z_j - max z) for one row of logits; `probs` may be
/// `logits` itself. The exponentials are taken in the logits' type and summed in double.
/// Throws ConfigError when the sizes differ or the row is empty.
template <class In, class Out>
void softmax(std::span<const In> logits, std::span<Out> probs) {
  if (logits.empty() || logits.size() != probs.size())
    throw ConfigError("softmax: " + std::to_string(logits.size()) + " logits for " + std::to_string(probs.size()) +
                      " probabilities (need the same, >= 1)");
  const In top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (std::size_t k = 0; k < logits.size(); ++k) sum += (probs[k] = static_cast<Out>(std::exp(logits[k] - top)));
  for (std::size_t k = 0; k < logits.size(); ++k) probs[k] = static_cast<Out>(probs[k] / sum);
}

/// As softmax(logits, probs) on `rows` consecutive rows of `cols` values each (a
/// row-major [rows, cols] block, e.g. a batch of logits).
template <class In, class Out>
void softmax_rows(std::span<const In> logits, std::span<Out> probs, std::size_t cols) {
  if (cols == 0 || logits.size() % cols != 0 || logits.size() != probs.size())
    throw ConfigError("softmax_rows: " + std::to_string(logits.size()) + " logits, " + std::to_string(probs.size()) +
                      " probabilities, rows of " + std::to_string(cols) + " (need equal sizes, a multiple of the row)");
  for (std::size_t start = 0; start < logits.size(); start += cols)
    softmax(logits.subspan(start, cols), probs.subspan(start, cols));
}

}  // namespace nas
