// BatchLoader: seeded mini-batches over a Dataset, copied (and augmented) into caller buffers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/augment.hpp"
#include "nas/data/dataset.hpp"

namespace nas {

struct LoaderOptions {
  std::size_t batch_size = 64;
  bool shuffle = true;     ///< a new seeded permutation every epoch
  bool drop_last = false;  ///< skip the last, smaller batch of an epoch
  std::uint64_t seed = 0;
  Augment augment{};       ///< applied while copying (training sets only)
};

/// Iterates over a dataset in mini-batches, copying each batch into buffers the caller
/// owns (NCHW floats for batch_size images, and batch_size labels), so that a training
/// loop allocates nothing per batch:
///
///     nas::BatchLoader loader(train, {.batch_size = 128, .seed = 7, .augment = {.pad = 2, .flip = true}});
///     std::vector<float> x(loader.batch_values());
///     std::vector<std::int32_t> y(loader.batch_size());
///     for (int epoch = 0; epoch < 10; ++epoch)
///       while (std::size_t n = loader.next(x, y)) { ... first n images of x ... }
///
/// `next` returns 0 once at the end of each epoch and then starts the next epoch (a new
/// permutation when shuffling). The same seed gives the same batches and augmentations.
/// The loader keeps a reference to the dataset, which must outlive it.
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, LoaderOptions options) : data_(&data), options_(options) {
    if (options_.batch_size == 0) throw ConfigError("BatchLoader: batch size must be > 0");
    if (data.images.size() != data.size() * data.image_size())
      throw ConfigError("BatchLoader: dataset holds " + std::to_string(data.images.size()) + " values for " +
                        std::to_string(data.size()) + " images of " + std::to_string(data.image_size()));
    if (options_.augment.enabled()) options_.augment.validate("BatchLoader", data.height, data.width);
    Rng base(options_.seed);
    order_rng_ = base.split();
    augment_rng_ = base.split();
    order_.resize(data.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    start_epoch();
  }
  BatchLoader(Dataset&&, LoaderOptions) = delete;  // the loader would outlive a temporary

  /// Copies the next batch into `images` (batch_size * C*H*W floats) and `labels`
  /// (batch_size entries, or nullptr) and returns how many images it holds; 0 at the end
  /// of an epoch, after which the next call begins the following epoch.
  std::size_t next(float* images, std::int32_t* labels) {
    const std::size_t n = data_->size();
    std::size_t count = std::min(options_.batch_size, n - cursor_);
    if (count == 0 || (options_.drop_last && count < options_.batch_size)) {
      ++epoch_;
      start_epoch();
      return 0;
    }
    const std::size_t per = data_->image_size();
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = order_[cursor_ + k];
      const float* src = data_->images.data() + i * per;
      float* dst = images + k * per;
      if (options_.augment.enabled())
        augment_image(src, dst, data_->channels, data_->height, data_->width, options_.augment, augment_rng_);
      else
        std::copy_n(src, per, dst);
      if (labels) labels[k] = data_->labels[i];
    }
    cursor_ += count;
    return count;
  }

  /// As above, checking that the buffers hold a full batch.
  std::size_t next(std::span<float> images, std::span<std::int32_t> labels) {
    if (images.size() < batch_values())
      throw ConfigError("BatchLoader::next: image buffer holds " + std::to_string(images.size()) +
                        " floats, a batch needs " + std::to_string(batch_values()));
    if (labels.size() < options_.batch_size)
      throw ConfigError("BatchLoader::next: label buffer holds " + std::to_string(labels.size()) +
                        " entries, a batch needs " + std::to_string(options_.batch_size));
    return next(images.data(), labels.data());
  }

  /// Restarts from the beginning of the current epoch's order (no reshuffle).
  void rewind() noexcept { cursor_ = 0; }

  [[nodiscard]] std::size_t batch_size() const noexcept { return options_.batch_size; }
  /// Floats needed for one batch of images (batch_size * C * H * W).
  [[nodiscard]] std::size_t batch_values() const noexcept { return options_.batch_size * data_->image_size(); }
  /// Batches that next() returns per epoch.
  [[nodiscard]] std::size_t batches_per_epoch() const noexcept {
    const std::size_t n = data_->size(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  /// Epochs completed so far (next() returned 0 that many times).
  [[nodiscard]] std::size_t epoch() const noexcept { return epoch_; }
  /// The order in which the current epoch visits the dataset.
  [[nodiscard]] std::span<const std::size_t> order() const noexcept { return order_; }
  [[nodiscard]] const Dataset& dataset() const noexcept { return *data_; }
  [[nodiscard]] const LoaderOptions& options() const noexcept { return options_; }

 private:
  void start_epoch() {
    cursor_ = 0;
    if (options_.shuffle) order_rng_.shuffle(order_);
  }

  const Dataset* data_;
  LoaderOptions options_;
  Rng order_rng_;
  Rng augment_rng_;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
  std::size_t epoch_ = 0;
};

}  // namespace nas
