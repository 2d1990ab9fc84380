// Per-channel normalization: statistics from the training split, applied to any split.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"

namespace nas {

/// Mean and standard deviation of each channel over all pixels of a dataset.
struct ChannelStats {
  std::vector<float> mean{};
  std::vector<float> std{};  ///< population standard deviation
};

/// Computes per-channel mean and (population) standard deviation, accumulating in double.
/// Compute it on the training split only and apply it to every split.
inline ChannelStats channel_stats(const Dataset& data) {
  if (data.empty()) throw ConfigError("channel_stats: the dataset is empty");
  const auto C = static_cast<std::size_t>(data.channels);
  const std::size_t plane = data.plane_size();
  std::vector<double> sum(C, 0.0), sq(C, 0.0);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const float* img = data.images.data() + i * data.image_size();
    for (std::size_t c = 0; c < C; ++c) {
      double s = 0.0, q = 0.0;
      for (std::size_t p = 0; p < plane; ++p) {
        const double v = img[c * plane + p];
        s += v;
        q += v * v;
      }
      sum[c] += s;
      sq[c] += q;
    }
  }
  const double count = static_cast<double>(data.size() * plane);
  ChannelStats st;
  for (std::size_t c = 0; c < C; ++c) {
    const double m = sum[c] / count;
    const double var = std::max(0.0, sq[c] / count - m * m);
    st.mean.push_back(static_cast<float>(m));
    st.std.push_back(static_cast<float>(std::sqrt(var)));
  }
  return st;
}

/// Normalizes `count` NCHW images in place: x <- (x - mean[c]) / std[c]. A channel whose
/// standard deviation is 0 (constant) is only centred.
inline void normalize(float* images, std::size_t count, int channels, std::size_t plane, const ChannelStats& st) {
  if (st.mean.size() != static_cast<std::size_t>(channels) || st.std.size() != static_cast<std::size_t>(channels))
    throw ConfigError("normalize: statistics for " + std::to_string(st.mean.size()) + " channels, images have " +
                      std::to_string(channels));
  const auto C = static_cast<std::size_t>(channels);
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t c = 0; c < C; ++c) {
      const float m = st.mean[c];
      const float inv = st.std[c] > 0.0f ? 1.0f / st.std[c] : 1.0f;
      float* p = images + (i * C + c) * plane;
      for (std::size_t k = 0; k < plane; ++k) p[k] = (p[k] - m) * inv;
    }
}

/// Normalizes a whole dataset in place.
inline void normalize(Dataset& data, const ChannelStats& st) {
  normalize(data.images.data(), data.size(), data.channels, data.plane_size(), st);
}

}  // namespace nas
