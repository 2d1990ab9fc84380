// Dataset: labelled images stored as one contiguous NCHW float array, independent of any tensor type.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// N labelled images of shape C x H x W, stored contiguously in NCHW order.
///
/// The layout is plain on purpose: training code copies batches out of `images` into
/// its own buffers (see BatchLoader), and nothing here depends on the tensor layer.
/// Labels are class indices in [0, classes).
struct Dataset {
  std::vector<float> images{};           ///< size() * channels * height * width values, NCHW
  std::vector<std::int32_t> labels{};  ///< one class index per image
  int channels = 0;
  int height = 0;
  int width = 0;
  int classes = 0;
  std::vector<std::string> class_names{};  ///< optional, `classes` entries when given

  /// Number of images.
  [[nodiscard]] std::size_t size() const noexcept { return labels.size(); }
  [[nodiscard]] bool empty() const noexcept { return labels.empty(); }
  /// Values per image (C * H * W).
  [[nodiscard]] std::size_t image_size() const noexcept {
    return static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  }
  /// Values per channel plane (H * W).
  [[nodiscard]] std::size_t plane_size() const noexcept {
    return static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  }

  /// The i-th image as C*H*W contiguous values.
  [[nodiscard]] std::span<const float> image(std::size_t i) const {
    NAS_ASSERT(i < size(), "Dataset::image: index out of range");
    return {images.data() + i * image_size(), image_size()};
  }
  [[nodiscard]] std::span<float> image(std::size_t i) {
    NAS_ASSERT(i < size(), "Dataset::image: index out of range");
    return {images.data() + i * image_size(), image_size()};
  }
  [[nodiscard]] std::int32_t label(std::size_t i) const {
    NAS_ASSERT(i < size(), "Dataset::label: index out of range");
    return labels[i];
  }

  /// How many images each class has (`classes` entries).
  [[nodiscard]] std::vector<std::size_t> class_counts() const {
    std::vector<std::size_t> counts(static_cast<std::size_t>(classes > 0 ? classes : 0), 0);
    for (auto l : labels)
      if (l >= 0 && l < classes) ++counts[static_cast<std::size_t>(l)];
    return counts;
  }

  /// A dataset with the same shape and no images.
  [[nodiscard]] Dataset empty_like() const {
    Dataset d;
    d.channels = channels;
    d.height = height;
    d.width = width;
    d.classes = classes;
    d.class_names = class_names;
    return d;
  }

  /// The images at `indices`, in that order (indices may repeat).
  [[nodiscard]] Dataset select(std::span<const std::size_t> indices) const {
    Dataset d = empty_like();
    const std::size_t per = image_size();
    d.images.resize(indices.size() * per);
    d.labels.resize(indices.size());
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const std::size_t i = indices[k];
      if (i >= size())
        throw ConfigError("Dataset::select: index " + std::to_string(i) + " at position " + std::to_string(k) +
                          " is out of range (size " + std::to_string(size()) + ")");
      std::copy_n(images.data() + i * per, per, d.images.data() + k * per);
      d.labels[k] = labels[i];
    }
    return d;
  }

  /// Throws DataError (prefixed by `where`) if the shape, the storage and the labels
  /// disagree: non-positive dimensions, images.size() != N*C*H*W, labels outside [0, classes).
  void validate(const std::string& where) const {
    if (channels <= 0 || height <= 0 || width <= 0)
      throw DataError(where + ": image shape " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                      std::to_string(width) + " must be positive");
    if (classes <= 0) throw DataError(where + ": number of classes (" + std::to_string(classes) + ") must be > 0");
    if (images.size() != size() * image_size())
      throw DataError(where + ": " + std::to_string(images.size()) + " pixel values for " + std::to_string(size()) +
                      " images of " + std::to_string(image_size()) + " values (expected " +
                      std::to_string(size() * image_size()) + ")");
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= classes)
        throw DataError(where + ": label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                        ", expected < " + std::to_string(classes));
    if (!class_names.empty() && class_names.size() != static_cast<std::size_t>(classes))
      throw DataError(where + ": " + std::to_string(class_names.size()) + " class names for " +
                      std::to_string(classes) + " classes");
  }
};

/// A training set and a held-out test set, as data sets are distributed.
struct TrainTest {
  Dataset train{};
  Dataset test{};
};

}  // namespace nas
