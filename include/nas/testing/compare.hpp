// Tensor comparisons for tests: random inputs away from kinks, bit-for-bit equality, relative difference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "nas/core/rng.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/testing/gradcheck.hpp"

namespace nas::testing {

/// A tensor of shape `s` with entries drawn away from zero (fill_away_from_zero), seeded.
[[nodiscard]] inline Tensor random_tensor(const Shape& s, std::uint64_t seed) {
  Tensor x(s);
  Rng rng(seed);
  fill_away_from_zero(x, rng);
  return x;
}

/// Same shape and the same bits in every element.
[[nodiscard]] inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
}

/// max |a - b| / max |b| (1 when the shapes differ).
[[nodiscard]] inline double rel_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return 1.0;
  double d = 0.0, m = 1e-30;
  for (std::size_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
    m = std::max(m, static_cast<double>(std::abs(b[i])));
  }
  return d / m;
}

}  // namespace nas::testing
