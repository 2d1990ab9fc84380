// Gradient checking: a Module's backward against central finite differences of its forward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nas/core/rng.hpp"
#include "nas/tensor/module.hpp"

namespace nas::testing {

struct GradcheckOptions {
  double eps = 1e-2;           ///< finite-difference step
  std::size_t max_checks = 48;  ///< per tensor; larger tensors are checked at random elements
  /// Denominator floor of the relative error |a - n| / max(|a|, |n|, floor), so that
  /// near-zero gradients are compared absolutely.
  double floor = 1e-1;
  std::uint64_t seed = 1;
  /// Called before every forward (e.g. to reseed a Dropout so each pass sees one mask).
  std::function<void()> before_forward = nullptr;
  bool check_input = true;
  bool check_parameters = true;
  /// Networks with ReLU or max pooling after a normalisation have kinks that a step of
  /// eps may cross; there the analytic value is a one-sided derivative. When true, an
  /// element's error is the smallest of the central, forward and backward differences'.
  /// Off by default: a smooth op is held to the central difference alone, so an error
  /// that a one-sided difference would happen to match is not excused. Turn it on only
  /// for a module that has kinks.
  bool kink_tolerant = false;
};

struct GradcheckResult {
  double max_error = 0.0;  ///< the largest relative error seen
  std::string worst;       ///< where it was ("input[12]", "1.weight[3]")
  std::size_t checked = 0;  ///< number of elements compared
};

/// Fills `t` with N(0, 1) values whose magnitude is at least `min_abs` (keeps inputs away
/// from the kinks of ReLU and max pooling, where finite differences are meaningless).
inline void fill_away_from_zero(Tensor& t, Rng& rng, float min_abs = 0.05f) {
  for (float& v : t) {
    const auto r = static_cast<float>(rng.normal());
    v = r >= 0.0f ? r + min_abs : r - min_abs;
  }
}

/// Compares `m.backward` with central differences of L = sum(m.forward(x) * r) for a fixed
/// random r, over input elements and parameter elements (all of them when there are at
/// most `max_checks`, otherwise a random subset). The module's mode (train/eval) is used
/// as set by the caller. Losses are accumulated in double.
inline GradcheckResult gradcheck(Module& m, const Tensor& x_in, const GradcheckOptions& o = {}) {
  Rng rng(o.seed);
  Tensor x = x_in;
  auto run = [&]() -> const Tensor& {
    if (o.before_forward) o.before_forward();
    return m.forward(x);
  };
  const Tensor& y0 = run();
  Tensor r(y0.shape());
  r.fill_normal(rng);
  auto loss = [&]() { return dot(run(), r); };

  // Analytic gradients (parameter grads start from zero).
  m.zero_grad();
  (void)run();
  const Tensor dx = m.backward(r);
  std::vector<NamedParameter> params = m.named_parameters();
  std::vector<Tensor> grads;
  for (auto& p : params) grads.push_back(p.parameter->grad);

  GradcheckResult res;
  struct Differences {
    double central, forward, backward;
  };
  auto rel = [&](double a, double n) { return std::abs(a - n) / std::max({std::abs(a), std::abs(n), o.floor}); };
  auto compare = [&](double analytic, const Differences& d, const std::string& where) {
    double err = rel(analytic, d.central);
    double numeric = d.central;
    if (o.kink_tolerant && err > 0.0) {
      for (double one_sided : {d.forward, d.backward})
        if (rel(analytic, one_sided) < err) {
          err = rel(analytic, one_sided);
          numeric = one_sided;
        }
    }
    ++res.checked;
    if (err > res.max_error || res.worst.empty()) {
      res.max_error = std::max(err, res.max_error);
      res.worst = where + ": analytic " + std::to_string(analytic) + ", numeric " + std::to_string(numeric);
    }
  };
  auto pick = [&](std::size_t n) {
    std::vector<std::size_t> idx;
    if (n <= o.max_checks) {
      for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
      idx = rng.sample_indices(n, o.max_checks);
    }
    return idx;
  };
  auto numeric = [&](float& v) {
    const float saved = v;
    // The steps actually taken in float.
    const auto up = static_cast<float>(saved + o.eps), down = static_cast<float>(saved - o.eps);
    v = up;
    const double lp = loss();
    v = down;
    const double lm = loss();
    v = saved;
    const double l0 = o.kink_tolerant ? loss() : 0.0;
    const double hp = static_cast<double>(up) - saved, hm = static_cast<double>(saved) - down;
    return Differences{(lp - lm) / (hp + hm), (lp - l0) / hp, (l0 - lm) / hm};
  };

  if (o.check_input)
    for (std::size_t i : pick(x.numel())) compare(dx[i], numeric(x[i]), "input[" + std::to_string(i) + "]");
  if (o.check_parameters)
    for (std::size_t k = 0; k < params.size(); ++k) {
      Tensor& v = params[k].parameter->value;
      for (std::size_t i : pick(v.numel()))
        compare(grads[k][i], numeric(v[i]), params[k].path + "[" + std::to_string(i) + "]");
    }
  return res;
}

}  // namespace nas::testing
