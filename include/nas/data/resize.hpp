// resize_images: a data set's images resampled to another height and width (bilinear, as PyTorch's interpolate).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"

namespace nas {

/// The images of `d` resampled to `height` x `width` by bilinear interpolation with
/// PyTorch's rule (F.interpolate(mode = "bilinear", align_corners = False), no
/// antialiasing): output pixel i reads the input at (i + 0.5) * in / out - 0.5, clamped to
/// the image. Labels, classes and class names are kept. This is how EfficientNet's
/// compound scaling changes the input resolution (nas/space/compound_scaling.hpp).
/// Throws ConfigError for a size below 1.
[[nodiscard]] inline Dataset resize_images(const Dataset& d, int height, int width) {
  if (height < 1 || width < 1)
    throw ConfigError("resize_images: size " + std::to_string(height) + "x" + std::to_string(width) + " (both must be >= 1)");
  if (height == d.height && width == d.width) return d;
  Dataset out = d.empty_like();
  out.height = height;
  out.width = width;
  out.labels = d.labels;
  out.images.resize(d.size() * out.image_size());
  struct Tap {
    int i0, i1;
    float t;  // weight of i1
  };
  auto taps = [](int in, int n) {
    std::vector<Tap> v(static_cast<std::size_t>(n));
    const double scale = static_cast<double>(in) / n;
    for (int i = 0; i < n; ++i) {
      const double src = std::max(0.0, (i + 0.5) * scale - 0.5);
      const int i0 = std::min(static_cast<int>(src), in - 1);
      v[static_cast<std::size_t>(i)] = Tap{i0, std::min(i0 + 1, in - 1), static_cast<float>(src - i0)};
    }
    return v;
  };
  const auto ty = taps(d.height, height), tx = taps(d.width, width);
  const std::size_t planes = d.size() * static_cast<std::size_t>(d.channels);
  for (std::size_t p = 0; p < planes; ++p) {
    const float* src = d.images.data() + p * d.plane_size();
    float* dst = out.images.data() + p * out.plane_size();
    for (int y = 0; y < height; ++y) {
      const Tap& a = ty[static_cast<std::size_t>(y)];
      const float* r0 = src + static_cast<std::size_t>(a.i0) * static_cast<std::size_t>(d.width);
      const float* r1 = src + static_cast<std::size_t>(a.i1) * static_cast<std::size_t>(d.width);
      for (int x = 0; x < width; ++x) {
        const Tap& b = tx[static_cast<std::size_t>(x)];
        const float top = r0[b.i0] + (r0[b.i1] - r0[b.i0]) * b.t;
        const float bottom = r1[b.i0] + (r1[b.i1] - r1[b.i0]) * b.t;
        dst[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)] = top + (bottom - top) * a.t;
      }
    }
  }
  return out;
}

}  // namespace nas
