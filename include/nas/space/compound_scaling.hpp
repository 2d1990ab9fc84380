// EfficientNet's compound scaling of a ChainSpace network: depth alpha^phi, width beta^phi, resolution gamma^phi.
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/space/chain_space.hpp"

namespace nas {

/// The coefficients of EfficientNet's compound scaling (Tan & Le 2019, eq. 3): for a
/// compound coefficient phi, depth d = alpha^phi, width w = beta^phi and resolution
/// r = gamma^phi, chosen (by a small grid search on the base network) under
/// alpha * beta^2 * gamma^2 ~ 2, so that FLOPs grow by about 2^phi. The defaults are the
/// paper's (EfficientNet-B0): alpha = 1.2, beta = 1.1, gamma = 1.15 (product 1.92).
struct CompoundScaling {
  double alpha = 1.2;
  double beta = 1.1;
  double gamma = 1.15;

  void validate(const char* where) const {
    if (!(alpha >= 1.0) || !(beta >= 1.0) || !(gamma >= 1.0) || !std::isfinite(alpha * beta * gamma))
      throw ConfigError(std::string(where) + ": alpha (" + detail::shortest_decimal(alpha) + "), beta (" +
                        detail::shortest_decimal(beta) + ") and gamma (" + detail::shortest_decimal(gamma) +
                        ") must be finite and >= 1");
  }
  [[nodiscard]] double depth(double phi) const { return std::pow(alpha, phi); }
  [[nodiscard]] double width(double phi) const { return std::pow(beta, phi); }
  [[nodiscard]] double resolution(double phi) const { return std::pow(gamma, phi); }
  /// alpha * beta^2 * gamma^2: how much one unit of phi multiplies the FLOPs, before rounding.
  [[nodiscard]] double flops_factor() const { return alpha * beta * beta * gamma * gamma; }
};

/// A scaled network: a space holding exactly the scaled architecture's width and depths
/// (the original skeleton and block choices otherwise), the architecture, and the scaled
/// input height and width, with the multipliers that produced them.
struct ScaledChain {
  ChainSpace space;
  ChainArch arch;
  int height = 0;
  int width = 0;
  double phi = 0.0;
  double depth_multiplier = 1.0;
  double width_multiplier = 1.0;
  double resolution_multiplier = 1.0;
};

/// Scales `arch` of `space` for inputs of `height` x `width` by compound coefficient `phi`
/// (>= 0), with EfficientNet's rounding rules:
/// - depth: every stage's block count d becomes ceil(d * alpha^phi) (round_repeats); the
///   added blocks repeat the stage's last block;
/// - width: the architecture's width multiplier is multiplied by beta^phi (kept to 6
///   decimals), and every channel
///   count becomes make_divisible(base * width, 8) (round_filters: the nearest multiple of
///   the space's divisor, at least the divisor, never more than 10% below the product);
///   the SE ratio and the expansion ratios are kept, so block widths follow;
/// - resolution: the input height and width become round(H * gamma^phi) and round(W *
///   gamma^phi) (EfficientNet rounds its published resolutions by hand; here to the
///   nearest pixel). Resample the images with nas::resize_images.
/// phi = 0 returns the network unchanged. Throws ConfigError for a negative phi, bad
/// coefficients or an architecture outside the space.
[[nodiscard]] inline ScaledChain compound_scale(const ChainSpace& space, const ChainArch& arch, int height, int width,
                                                double phi, const CompoundScaling& c = {}) {
  c.validate("compound_scale");
  space.check(arch, "compound_scale");
  if (!(phi >= 0.0) || !std::isfinite(phi))
    throw ConfigError("compound_scale: phi (" + detail::shortest_decimal(phi) + ") must be finite and >= 0");
  if (height < 1 || width < 1)
    throw ConfigError("compound_scale: input " + std::to_string(height) + "x" + std::to_string(width) + " (need >= 1)");
  ScaledChain s{space, arch};
  s.phi = phi;
  s.depth_multiplier = c.depth(phi);
  s.width_multiplier = c.width(phi);
  s.resolution_multiplier = c.resolution(phi);
  // A small tolerance so that products that are integers up to rounding (2 * 1.5) stay so.
  auto ceil_of = [](double v) { return static_cast<int>(std::ceil(v - 1e-9)); };
  std::set<int> depths;
  for (auto& stage : s.arch.stages) {
    const int d = ceil_of(static_cast<double>(stage.size()) * s.depth_multiplier);
    if (d > 64)
      throw ConfigError("compound_scale: phi " + detail::shortest_decimal(phi) + " makes a stage " + std::to_string(d) +
                        " blocks deep (at most 64)");
    const ChainBlock last = stage.back();
    stage.resize(static_cast<std::size_t>(d), last);
    depths.insert(d);
  }
  // Rounded to 6 decimals so that the text form stays readable (w0.825, not w0.8250000000000001);
  // channel counts, rounded to multiples of 8, do not see the difference.
  s.arch.width = std::round(arch.width * s.width_multiplier * 1e6) / 1e6;
  ChainSpaceOptions o = space.options();
  o.widths = {s.arch.width};
  o.depths.assign(depths.begin(), depths.end());
  s.space = ChainSpace(o);
  s.height = static_cast<int>(std::lround(height * s.resolution_multiplier));
  s.width = static_cast<int>(std::lround(width * s.resolution_multiplier));
  return s;
}

}  // namespace nas
