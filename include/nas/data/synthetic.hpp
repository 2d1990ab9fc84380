// Synthetic image classification: class-specific smooth patterns plus shifts and noise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"

namespace nas {

struct SyntheticOptions {
  int classes = 4;
  int channels = 1;
  int height = 16;
  int width = 16;
  std::size_t train = 512;  ///< training images (classes balanced)
  std::size_t test = 256;   ///< test images
  double noise = 0.3;       ///< standard deviation of the Gaussian pixel noise
  int max_shift = 1;        ///< each image is its class pattern shifted by up to this many pixels
  std::uint64_t seed = 0;
};

namespace detail {

/// One smooth random pattern per class and channel: a 4x4 grid of uniform values in
/// [0, 1] upsampled bilinearly to H x W.
inline std::vector<float> synthetic_prototypes(const SyntheticOptions& o, Rng& rng) {
  constexpr int g = 4;
  const std::size_t plane = static_cast<std::size_t>(o.height) * static_cast<std::size_t>(o.width);
  std::vector<float> protos(static_cast<std::size_t>(o.classes) * static_cast<std::size_t>(o.channels) * plane);
  std::vector<double> grid(g * g);
  for (std::size_t pc = 0; pc < static_cast<std::size_t>(o.classes * o.channels); ++pc) {
    for (auto& v : grid) v = rng.uniform();
    float* out = protos.data() + pc * plane;
    for (int y = 0; y < o.height; ++y)
      for (int x = 0; x < o.width; ++x) {
        const double gy = o.height > 1 ? static_cast<double>(y) * (g - 1) / (o.height - 1) : 0.0;
        const double gx = o.width > 1 ? static_cast<double>(x) * (g - 1) / (o.width - 1) : 0.0;
        const int y0 = std::min(static_cast<int>(gy), g - 2), x0 = std::min(static_cast<int>(gx), g - 2);
        const double fy = gy - y0, fx = gx - x0;
        const double v = (1 - fy) * ((1 - fx) * grid[y0 * g + x0] + fx * grid[y0 * g + x0 + 1]) +
                         fy * ((1 - fx) * grid[(y0 + 1) * g + x0] + fx * grid[(y0 + 1) * g + x0 + 1]);
        out[static_cast<std::size_t>(y) * static_cast<std::size_t>(o.width) + static_cast<std::size_t>(x)] =
            static_cast<float>(v);
      }
  }
  return protos;
}

inline Dataset synthetic_samples(const SyntheticOptions& o, const std::vector<float>& protos, std::size_t n, Rng& rng) {
  Dataset d;
  d.channels = o.channels;
  d.height = o.height;
  d.width = o.width;
  d.classes = o.classes;
  for (int k = 0; k < o.classes; ++k) d.class_names.push_back("class " + std::to_string(k));
  d.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) d.labels[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(o.classes));
  rng.shuffle(d.labels);
  const std::size_t per = d.image_size(), plane = d.plane_size();
  d.images.resize(n * per);
  for (std::size_t i = 0; i < n; ++i) {
    const int dy = static_cast<int>(rng.uniform_int(-o.max_shift, o.max_shift));
    const int dx = static_cast<int>(rng.uniform_int(-o.max_shift, o.max_shift));
    const float* proto = protos.data() + static_cast<std::size_t>(d.labels[i]) * per;
    float* img = d.images.data() + i * per;
    for (int c = 0; c < o.channels; ++c)
      for (int y = 0; y < o.height; ++y)
        for (int x = 0; x < o.width; ++x) {
          const int sy = std::clamp(y + dy, 0, o.height - 1), sx = std::clamp(x + dx, 0, o.width - 1);
          const std::size_t c0 = static_cast<std::size_t>(c) * plane;
          img[c0 + static_cast<std::size_t>(y * o.width + x)] =
              proto[c0 + static_cast<std::size_t>(sy * o.width + sx)] + static_cast<float>(o.noise * rng.normal());
        }
  }
  return d;
}

}  // namespace detail

/// A seeded synthetic classification problem: each class is a smooth random pattern
/// (per channel), each image its class's pattern shifted by up to `max_shift` pixels
/// plus Gaussian noise. Train and test share the patterns and draw different samples.
/// Small CNNs (and even linear models at low noise) learn it in a few epochs, which makes
/// it the data set of choice for tests. The same options give the same data.
inline TrainTest make_synthetic(const SyntheticOptions& o) {
  if (o.classes < 2) throw ConfigError("make_synthetic: classes (" + std::to_string(o.classes) + ") must be >= 2");
  if (o.channels <= 0 || o.height < 2 || o.width < 2)
    throw ConfigError("make_synthetic: image shape " + std::to_string(o.channels) + "x" + std::to_string(o.height) +
                      "x" + std::to_string(o.width) + " must be at least 1x2x2");
  if (o.max_shift < 0 || !(o.noise >= 0.0))
    throw ConfigError("make_synthetic: max_shift (" + std::to_string(o.max_shift) + ") and noise (" +
                      std::to_string(o.noise) + ") must be >= 0");
  Rng root(o.seed);
  Rng pattern_rng = root.split();
  Rng train_rng = root.split();
  Rng test_rng = root.split();
  const auto protos = detail::synthetic_prototypes(o, pattern_rng);
  return {detail::synthetic_samples(o, protos, o.train, train_rng), detail::synthetic_samples(o, protos, o.test, test_rng)};
}

}  // namespace nas
