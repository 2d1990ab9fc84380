// Workspace: reusable 64-byte aligned scratch buffers, so training steps do not allocate.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace nas {

namespace detail {
/// Counts every aligned buffer the tensor layer allocates (Tensor storage and Workspace
/// growth); tests read it to prove a training step allocates nothing once shapes are known.
inline std::atomic<std::size_t>& allocation_counter() noexcept {
  static std::atomic<std::size_t> n{0};
  return n;
}
inline std::size_t allocation_count() noexcept { return allocation_counter().load(std::memory_order_relaxed); }

struct AlignedFree {
  void operator()(float* p) const noexcept { std::free(p); }
};
/// `n` floats, 64-byte aligned, uninitialized. Throws std::bad_alloc.
inline std::unique_ptr<float[], AlignedFree> aligned_floats(std::size_t n) {
  const std::size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (!p) throw std::bad_alloc();
  allocation_counter().fetch_add(1, std::memory_order_relaxed);
  return std::unique_ptr<float[], AlignedFree>(static_cast<float*>(p));
}
}  // namespace detail

/// A set of numbered scratch buffers that only grow. A kernel asks for `buffer(slot, n)`
/// each call; after the first step of a given shape no call allocates. Not thread-safe:
/// give each thread (or each module) its own.
class Workspace {
 public:
  /// At least `n` floats in buffer `slot` (contents unspecified), 64-byte aligned.
  float* buffer(std::size_t slot, std::size_t n) {
    if (slot >= bufs_.size()) bufs_.resize(slot + 1);
    auto& b = bufs_[slot];
    if (b.capacity < n) {
      b.data = detail::aligned_floats(n);
      b.capacity = n;
      ++allocations_;
    }
    return b.data.get();
  }
  /// How many times a buffer had to grow (a benchmark checks this stays flat).
  [[nodiscard]] std::size_t allocations() const noexcept { return allocations_; }
  [[nodiscard]] std::size_t bytes() const noexcept {
    std::size_t total = 0;
    for (const auto& b : bufs_) total += b.capacity * sizeof(float);
    return total;
  }
  void release() {
    bufs_.clear();
  }

 private:
  struct Buf {
    std::unique_ptr<float[], detail::AlignedFree> data;
    std::size_t capacity = 0;
  };
  std::vector<Buf> bufs_;
  std::size_t allocations_ = 0;
};

/// The calling thread's shared scratch workspace. Modules use it for transient buffers
/// (im2col and the like) that live only during one kernel call, so a whole network shares
/// one arena per thread instead of one per layer.
inline Workspace& thread_workspace() {
  thread_local Workspace ws;
  return ws;
}

}  // namespace nas
