// Augmentation: random crop with zero padding and horizontal flip, seeded, without allocation.
#pragma once

#include <cstddef>
#include <string>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"

namespace nas {

/// Which augmentations to apply to each training image (the standard CIFAR/Fashion-MNIST
/// recipe: pad by `pad` zeros on every side and crop a random H x W window, then flip
/// left-right with probability 1/2). The default applies nothing.
struct Augment {
  int pad = 0;        ///< zero padding for the random crop; 0 disables cropping
  bool flip = false;  ///< random horizontal flip

  [[nodiscard]] bool enabled() const noexcept { return pad > 0 || flip; }
  void validate(const char* where, int height, int width) const {
    if (pad < 0 || pad >= height || pad >= width)
      throw ConfigError(std::string(where) + ": crop padding (" + std::to_string(pad) + ") must be in [0, " +
                        std::to_string((height < width ? height : width) - 1) + "]");
  }
};

/// Writes into `dst` the image `src` (C x H x W, NCHW) shifted by a random offset in
/// [-pad, pad]^2 with zeros coming in at the borders, then flipped left-right with
/// probability 1/2 if `a.flip`. Draws exactly three numbers from `rng` per image so that
/// a stream stays aligned whatever the options. `src` and `dst` must not overlap.
inline void augment_image(const float* src, float* dst, int channels, int height, int width, const Augment& a,
                          Rng& rng) {
  const int oy = static_cast<int>(rng.uniform_int(0, 2 * a.pad)) - a.pad;
  const int ox = static_cast<int>(rng.uniform_int(0, 2 * a.pad)) - a.pad;
  const bool flip = rng.bernoulli(0.5) && a.flip;
  const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  for (int c = 0; c < channels; ++c) {
    const float* s = src + static_cast<std::size_t>(c) * plane;
    float* d = dst + static_cast<std::size_t>(c) * plane;
    for (int y = 0; y < height; ++y) {
      const int sy = y + oy;
      float* row = d + static_cast<std::size_t>(y) * static_cast<std::size_t>(width);
      if (sy < 0 || sy >= height) {
        for (int x = 0; x < width; ++x) row[x] = 0.0f;
        continue;
      }
      const float* srow = s + static_cast<std::size_t>(sy) * static_cast<std::size_t>(width);
      for (int x = 0; x < width; ++x) {
        const int sx = (flip ? width - 1 - x : x) + ox;
        row[x] = (sx < 0 || sx >= width) ? 0.0f : srow[sx];
      }
    }
  }
}

}  // namespace nas
