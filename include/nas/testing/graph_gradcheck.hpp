// Whole-network gradient checks: the double executor against finite differences, the float network against it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/model/graph.hpp"
#include "nas/model/reference.hpp"
#include "nas/tensor/module.hpp"

namespace nas::testing {

/// One tensor's result: the largest relative error over its checks.
struct TensorError {
  std::string name;  ///< "input" or the parameter path
  double error = 0.0;
  std::string detail;
};

struct GraphGradcheckOptions {
  /// Finite-difference step along a unit direction (quartered until the steps stay inside
  /// one smooth piece, see GraphExecutor::kink_pattern).
  double step = 1e-4;
  /// Elements checked one by one per tensor besides the random direction: the one with
  /// the largest gradient, then random ones.
  std::size_t elements = 4;
  /// Errors are |analytic - numeric| / max(|analytic|, |numeric|, floor * |grad|_max,
  /// global_floor * |grad|_max over all tensors): elements whose gradient is tiny next to
  /// the tensor's largest are compared on the tensor's scale, and tensors whose gradient
  /// vanishes (a bias before a BatchNorm with batch statistics) on the network's.
  double floor = 1e-2;
  double global_floor = 1e-4;
  std::uint64_t seed = 1;
};

/// Checks `ex`'s backward against central differences (Richardson-extrapolated) of its
/// own forward, in its own precision, for the input and every parameter tensor in the graph: the directional
/// derivative along a random unit direction and single elements. The loss is
/// L = sum(output * r) for a fixed random r. Each difference is taken only between
/// forwards that cross no ReLU or max-pool kink (equal kink patterns); the step is
/// quartered until that holds (a point on a kink, where no step works, throws). Returns one entry per tensor.
inline std::vector<TensorError> graph_gradcheck(ReferenceExecutor& ex, const Tensor& x_in, const GraphGradcheckOptions& o = {}) {
  using Array = ReferenceExecutor::Array;
  Rng rng(o.seed);
  Array x(x_in.begin(), x_in.end());
  const Array y0 = ex.forward(x);
  Array r(y0.size());
  for (double& v : r) v = rng.normal();
  ex.backward(r);
  const std::vector<std::int32_t> pattern = ex.kink_pattern();
  auto loss = [&](bool& same) {
    const Array& y = ex.forward(x);
    same = ex.kink_pattern() == pattern;
    double s = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
    return s;
  };
  // The central difference (L(value + h v) - L(value - h v)) / 2h for the tensor `target`;
  // `smooth` is false when either forward crossed a kink.
  auto central = [&](Array& target, const Array& v, double h, bool& smooth) {
    bool same_p = false, same_m = false;
    const Array saved = target;
    for (std::size_t i = 0; i < v.size(); ++i) target[i] = saved[i] + h * v[i];
    const double lp = loss(same_p);
    for (std::size_t i = 0; i < v.size(); ++i) target[i] = saved[i] - h * v[i];
    const double lm = loss(same_m);
    target = saved;
    smooth = same_p && same_m;
    return (lp - lm) / (2 * h);
  };
  // d/dt L(value + t v) at 0: Richardson's extrapolation (4 D(h/2) - D(h)) / 3 of central
  // differences, exact to O(h^4), so that a step large against rounding stays accurate.
  auto directional = [&](Array& target, const Array& v, const std::string& name) {
    double h = o.step;
    for (int attempt = 0; attempt < 16; ++attempt, h /= 4) {
      bool smooth_h = false, smooth_h2 = false;
      const double d1 = central(target, v, h, smooth_h);
      const double d2 = central(target, v, h / 2, smooth_h2);
      if (smooth_h && smooth_h2) return (4 * d2 - d1) / 3;
    }
    throw ConfigError("graph_gradcheck: " + name + " sits on a kink for every step down to " + std::to_string(h));
  };

  std::vector<TensorError> out;
  double global = 0.0;  // the largest gradient element of all tensors
  auto check = [&](Array& value, const Array& grad, const std::string& name) {
    TensorError te{name, 0.0, ""};
    double gmax = 0.0, gnorm = 0.0;
    std::size_t arg = 0;
    for (std::size_t i = 0; i < grad.size(); ++i) {
      gnorm += grad[i] * grad[i];
      if (std::abs(grad[i]) > gmax) {
        gmax = std::abs(grad[i]);
        arg = i;
      }
    }
    gnorm = std::sqrt(gnorm);
    auto record = [&](double a, double n, double scale, const std::string& where) {
      const double e = std::abs(a - n) / std::max({std::abs(a), std::abs(n), o.floor * scale, o.global_floor * global, 1e-300});
      if (e >= te.error) {
        te.error = e;
        te.detail = where + ": analytic " + std::to_string(a) + ", numeric " + std::to_string(n);
      }
    };
    // A random unit direction over the whole tensor.
    Array v(value.size());
    double vn = 0.0;
    for (double& e : v) {
      e = rng.normal();
      vn += e * e;
    }
    vn = std::sqrt(vn);
    double a = 0.0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] /= vn;
      a += grad[i] * v[i];
    }
    record(a, directional(value, v, name), gnorm, "direction");
    // Single elements.
    std::vector<std::size_t> idx{arg};
    for (std::size_t k = 1; k < o.elements && k < value.size(); ++k) idx.push_back(rng.index(value.size()));
    for (std::size_t i : idx) {
      Array e(value.size(), 0.0);
      e[i] = 1.0;
      record(grad[i], directional(value, e, name + "[" + std::to_string(i) + "]"), gmax, "[" + std::to_string(i) + "]");
    }
    out.push_back(te);
  };

  const Array dx = ex.input_grad();
  std::vector<Array> grads;
  for (Parameter* p : ex.parameters()) grads.push_back(ex.grad(*p));
  for (const Array* gr : {&dx})
    for (double v : *gr) global = std::max(global, std::abs(v));
  for (const Array& gr : grads)
    for (double v : gr) global = std::max(global, std::abs(v));
  check(x, dx, "input");
  const auto named = ex.graph().named_parameters();
  for (std::size_t k = 0; k < ex.parameters().size(); ++k) {
    Parameter* p = ex.parameters()[k];
    std::string name = p->name;
    for (const auto& np : named)
      if (np.parameter == p) name = np.path;
    check(ex.value(*p), grads[k], name);
  }
  (void)ex.forward(x);
  return out;
}

/// The float network against the double executor (batch statistics when `net` is in
/// training mode, running statistics otherwise): the forward's relative error, and for
/// the input and every parameter tensor of `net`, |g_float - g_double| / max(|g_double|,
/// floor * the largest |g_double| of all tensors) in the L2 norm after backward of
/// L = sum(output * r) (the floor compares gradients that vanish, such as a bias before a
/// BatchNorm with batch statistics, on the network's scale). A parameter the graph does not use
/// must have an exactly zero float gradient (its entry is then 0, or infinity if not).
/// The first entry is "output", the second "input". `net`'s gradients are zeroed first,
/// and in training mode its running statistics move one step, as in any training forward.
inline std::vector<TensorError> compare_with_reference(Module& net, const Tensor& x, std::uint64_t seed = 1,
                                                      double floor = 1e-2) {
  const NetworkGraph g = trace(net, x.shape());
  ReferenceExecutor ex(g, {.batch_norm = net.is_training() ? BatchNormMode::batch_statistics : BatchNormMode::running_statistics});
  const ReferenceExecutor::Array yd = ex.forward(x);  // before the float forward moves the running statistics
  net.zero_grad();
  const Tensor yf = net.forward(x);
  Rng rng(seed);
  Tensor r(yf.shape());
  r.fill_normal(rng);
  const Tensor dxf = net.backward(r);
  ex.backward(r);
  auto norm = [](const double* d, std::size_t n) {
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += d[i] * d[i];
    return std::sqrt(s);
  };
  double scale = norm(ex.input_grad().data(), ex.input_grad().size());
  for (Parameter* p : ex.parameters()) scale = std::max(scale, norm(ex.grad(*p).data(), p->numel()));
  auto rel = [&](const float* f, const double* d, std::size_t n, double fl) {
    double num = 0.0;
    for (std::size_t i = 0; i < n; ++i) num += (f[i] - d[i]) * (f[i] - d[i]);
    return std::sqrt(num) / std::max({norm(d, n), fl, 1e-300});
  };
  std::vector<TensorError> out;
  out.push_back({"output", rel(yf.data(), yd.data(), yf.numel(), 0.0), ""});
  out.push_back({"input", rel(dxf.data(), ex.input_grad().data(), dxf.numel(), floor * scale), ""});
  for (const auto& np : net.named_parameters()) {
    const Tensor& gf = np.parameter->grad;
    if (!ex.has(*np.parameter)) {
      const bool zero = std::all_of(gf.begin(), gf.end(), [](float v) { return v == 0.0f; });
      out.push_back({np.path, zero ? 0.0 : std::numeric_limits<double>::infinity(), "not in the graph"});
      continue;
    }
    out.push_back({np.path, rel(gf.data(), ex.grad(*np.parameter).data(), gf.numel(), floor * scale), ""});
  }
  return out;
}

}  // namespace nas::testing
