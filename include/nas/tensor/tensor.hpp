// Tensor: an NCHW float array in 64-byte aligned storage, with shape checks, views and Eigen maps.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/workspace.hpp"

namespace nas {

/// The dimensions of a tensor: rank 0 to 4, outermost first (NCHW for images, [N, F] for
/// features). Rank 0 means "no shape yet" (an empty tensor).
class Shape {
 public:
  static constexpr int max_rank = 4;

  constexpr Shape() = default;
  Shape(std::initializer_list<int> dims) {
    if (dims.size() > static_cast<std::size_t>(max_rank))
      throw ConfigError("Shape: rank " + std::to_string(dims.size()) + " exceeds the limit " + std::to_string(max_rank));
    for (int d : dims) {
      if (d < 0) throw ConfigError("Shape: dimension " + std::to_string(d) + " is negative");
      dims_[static_cast<std::size_t>(rank_++)] = d;
    }
  }

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int operator[](int i) const noexcept {
    NAS_ASSERT(i >= 0 && i < rank_, "Shape: index out of range");
    return dims_[static_cast<std::size_t>(i)];
  }
  /// Number of elements (1 for rank 0 would be misleading: an unshaped tensor holds 0).
  [[nodiscard]] std::size_t numel() const noexcept {
    if (rank_ == 0) return 0;
    std::size_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= static_cast<std::size_t>(dims_[static_cast<std::size_t>(i)]);
    return n;
  }
  // NCHW accessors (rank 4); n() is also the batch of a rank-2 [N, F] tensor.
  [[nodiscard]] int n() const noexcept { return (*this)[0]; }
  [[nodiscard]] int c() const noexcept { return (*this)[1]; }
  [[nodiscard]] int h() const noexcept { return (*this)[2]; }
  [[nodiscard]] int w() const noexcept { return (*this)[3]; }
  /// Elements per batch item (product of all but the first dimension).
  [[nodiscard]] std::size_t per_item() const noexcept {
    std::size_t n = 1;
    for (int i = 1; i < rank_; ++i) n *= static_cast<std::size_t>(dims_[static_cast<std::size_t>(i)]);
    return n;
  }
  /// The same shape with dimension `i` replaced.
  [[nodiscard]] Shape with(int i, int value) const {
    if (i < 0 || i >= rank_) throw ConfigError("Shape::with: axis " + std::to_string(i) + " outside rank " + std::to_string(rank_));
    Shape s = *this;
    s.dims_[static_cast<std::size_t>(i)] = value;
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) noexcept { return !(a == b); }

  /// "[2, 3, 8, 8]"
  [[nodiscard]] std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
  }

 private:
  std::array<int, max_rank> dims_{};
  int rank_ = 0;
};

/// A row-major float matrix map (Eigen's default is column-major; NCHW data is row-major).
using MatrixMap = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned>;
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned>;
/// A flat array map for element-wise maths.
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

/// A dense float tensor. It either owns 64-byte aligned storage or is a non-owning view
/// of someone else's floats (`Tensor::view`). Copying an owning tensor or a view makes an
/// owning deep copy; moving is cheap.
///
/// `resize()` keeps the storage when the new shape fits in the capacity, so a module's
/// output buffer resized to the same shape every step never allocates. Every allocation
/// bumps `nas::detail::allocation_count()`.
class Tensor {
 public:
  Tensor() = default;
  /// An owning tensor of `shape`, zero-filled.
  explicit Tensor(const Shape& shape) { resize(shape); zero(); }
  Tensor(std::initializer_list<int> dims) : Tensor(Shape(dims)) {}

  /// A non-owning view of `shape.numel()` floats at `data`; the caller keeps them alive.
  static Tensor view(float* data, const Shape& shape) {
    Tensor t;
    t.data_ = data;
    t.shape_ = shape;
    t.view_ = true;
    return t;
  }

  Tensor(const Tensor& o) { copy_from(o); }
  Tensor& operator=(const Tensor& o) {
    if (this != &o) copy_from(o);
    return *this;
  }
  Tensor(Tensor&& o) noexcept { swap(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      Tensor tmp(std::move(o));
      swap(tmp);
    }
    return *this;
  }
  ~Tensor() = default;

  void swap(Tensor& o) noexcept {
    std::swap(storage_, o.storage_);
    std::swap(capacity_, o.capacity_);
    std::swap(data_, o.data_);
    std::swap(shape_, o.shape_);
    std::swap(view_, o.view_);
  }

  /// Gives the tensor `shape`, reusing the storage when it is large enough (contents then
  /// unspecified; call zero() if needed). A view can be resized only within its size.
  void resize(const Shape& shape) {
    const std::size_t n = shape.numel();
    if (view_) {
      if (n > shape_.numel())
        throw ConfigError("Tensor::resize: view of " + shape_.str() + " cannot grow to " + shape.str());
    } else if (n > capacity_) {
      storage_ = detail::aligned_floats(n);
      capacity_ = n;
      data_ = storage_.get();
    }
    shape_ = shape;
  }

  /// Changes the shape without touching the data; the element count must not change.
  void reshape(const Shape& shape) {
    if (shape.numel() != numel())
      throw ConfigError("Tensor::reshape: " + shape_.str() + " (" + std::to_string(numel()) + " elements) to " +
                        shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
    shape_ = shape;
  }
  /// A view of the same data with another shape (no copy).
  [[nodiscard]] Tensor reshaped(const Shape& shape) {
    if (shape.numel() != numel())
      throw ConfigError("Tensor::reshaped: " + shape_.str() + " to " + shape.str() + " changes the element count");
    return view(data_, shape);
  }

  [[nodiscard]] const Shape& shape() const noexcept { return shape_; }
  [[nodiscard]] int rank() const noexcept { return shape_.rank(); }
  [[nodiscard]] int dim(int i) const noexcept { return shape_[i]; }
  [[nodiscard]] std::size_t numel() const noexcept { return shape_.numel(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return view_ ? shape_.numel() : capacity_; }
  [[nodiscard]] bool empty() const noexcept { return numel() == 0; }
  [[nodiscard]] bool is_view() const noexcept { return view_; }

  [[nodiscard]] float* data() noexcept { return data_; }
  [[nodiscard]] const float* data() const noexcept { return data_; }
  [[nodiscard]] float* begin() noexcept { return data_; }
  [[nodiscard]] float* end() noexcept { return data_ + numel(); }
  [[nodiscard]] const float* begin() const noexcept { return data_; }
  [[nodiscard]] const float* end() const noexcept { return data_ + numel(); }

  float& operator[](std::size_t i) noexcept {
    NAS_ASSERT(i < numel(), "Tensor: flat index out of range");
    return data_[i];
  }
  float operator[](std::size_t i) const noexcept {
    NAS_ASSERT(i < numel(), "Tensor: flat index out of range");
    return data_[i];
  }
  /// Element (n, c, h, w) of a rank-4 tensor.
  float& at(int n, int c, int h, int w) noexcept { return data_[offset(n, c, h, w)]; }
  float at(int n, int c, int h, int w) const noexcept { return data_[offset(n, c, h, w)]; }
  /// Element (i, j) of a rank-2 tensor.
  float& at(int i, int j) noexcept { return data_[offset2(i, j)]; }
  float at(int i, int j) const noexcept { return data_[offset2(i, j)]; }

  /// Eigen views: the whole tensor as an array, or as a rows x cols row-major matrix
  /// (default: first dimension x the rest).
  [[nodiscard]] ArrayMap array() noexcept { return ArrayMap(data_, static_cast<Eigen::Index>(numel())); }
  [[nodiscard]] ConstArrayMap array() const noexcept { return ConstArrayMap(data_, static_cast<Eigen::Index>(numel())); }
  [[nodiscard]] MatrixMap matrix() { return matrix(shape_.rank() ? shape_[0] : 0, static_cast<Eigen::Index>(shape_.per_item())); }
  [[nodiscard]] ConstMatrixMap matrix() const {
    return matrix(shape_.rank() ? shape_[0] : 0, static_cast<Eigen::Index>(shape_.per_item()));
  }
  [[nodiscard]] MatrixMap matrix(Eigen::Index rows, Eigen::Index cols) {
    check_matrix(rows, cols);
    return MatrixMap(data_, rows, cols);
  }
  [[nodiscard]] ConstMatrixMap matrix(Eigen::Index rows, Eigen::Index cols) const {
    check_matrix(rows, cols);
    return ConstMatrixMap(data_, rows, cols);
  }

  void fill(float v) noexcept { std::fill(begin(), end(), v); }
  void zero() noexcept {
    if (numel()) std::memset(data_, 0, numel() * sizeof(float));
  }
  /// Independent N(mean, stddev) draws, in storage order.
  void fill_normal(Rng& rng, float mean = 0.0f, float stddev = 1.0f) noexcept {
    for (float& v : *this) v = static_cast<float>(rng.normal(mean, stddev));
  }
  /// Independent U[lo, hi) draws, in storage order.
  void fill_uniform(Rng& rng, float lo, float hi) noexcept {
    for (float& v : *this) v = static_cast<float>(rng.uniform(lo, hi));
  }

  /// Copies `o`'s shape and values into this tensor (reusing storage when it fits).
  void copy_from(const Tensor& o) {
    if (view_ && o.data_ == data_ && o.shape_ == shape_) return;
    resize(o.shape_);
    if (o.numel()) std::memcpy(data_, o.data_, o.numel() * sizeof(float));
  }

 private:
  std::size_t offset(int n, int c, int h, int w) const noexcept {
    NAS_ASSERT(shape_.rank() == 4, "Tensor::at(n, c, h, w) needs a rank-4 tensor");
    NAS_ASSERT(n >= 0 && n < shape_[0] && c >= 0 && c < shape_[1] && h >= 0 && h < shape_[2] && w >= 0 && w < shape_[3],
               "Tensor::at: index out of range");
    return ((static_cast<std::size_t>(n) * static_cast<std::size_t>(shape_[1]) + static_cast<std::size_t>(c)) *
                static_cast<std::size_t>(shape_[2]) +
            static_cast<std::size_t>(h)) *
               static_cast<std::size_t>(shape_[3]) +
           static_cast<std::size_t>(w);
  }
  std::size_t offset2(int i, int j) const noexcept {
    NAS_ASSERT(shape_.rank() == 2, "Tensor::at(i, j) needs a rank-2 tensor");
    NAS_ASSERT(i >= 0 && i < shape_[0] && j >= 0 && j < shape_[1], "Tensor::at: index out of range");
    return static_cast<std::size_t>(i) * static_cast<std::size_t>(shape_[1]) + static_cast<std::size_t>(j);
  }
  void check_matrix(Eigen::Index rows, Eigen::Index cols) const {
    if (rows < 0 || cols < 0 || static_cast<std::size_t>(rows * cols) != numel())
      throw ConfigError("Tensor::matrix: " + std::to_string(rows) + " x " + std::to_string(cols) + " does not cover " +
                        shape_.str());
  }

  std::unique_ptr<float[], detail::AlignedFree> storage_;
  std::size_t capacity_ = 0;
  float* data_ = nullptr;
  Shape shape_;
  bool view_ = false;
};

/// Throws ConfigError naming `where` unless `t` has shape `expected`.
inline void check_shape(const char* where, const Tensor& t, const Shape& expected) {
  if (t.shape() != expected)
    throw ConfigError(std::string(where) + ": shape " + t.shape().str() + " (expected " + expected.str() + ")");
}

/// dst = src (shape and values), reusing dst's storage.
inline void copy_into(Tensor& dst, const Tensor& src) { dst.copy_from(src); }

namespace detail {
inline void add_arrays(float* __restrict d, const float* __restrict a, const float* __restrict b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) d[i] = a[i] + b[i];
}
inline void add_array(float* __restrict d, const float* __restrict s, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) d[i] += s[i];
}
}  // namespace detail

/// dst += src, element-wise; shapes must match. Use it to sum branch outputs into a node,
/// or branch gradients into the gradient of a shared input.
inline void add_into(Tensor& dst, const Tensor& src) {
  if (dst.shape() != src.shape())
    throw ConfigError("add_into: shapes " + dst.shape().str() + " and " + src.shape().str() + " differ");
  float* d = dst.data();
  const float* s = src.data();
  detail::parallel_chunks(dst.numel(), [d, s](std::size_t lo, std::size_t hi) { detail::add_array(d + lo, s + lo, hi - lo); });
}

/// dst = a + b, element-wise (dst is resized; it must not alias a or b): one pass where
/// a copy and an add_into would take two.
inline void add_to(Tensor& dst, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ConfigError("add_to: shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
  dst.resize(a.shape());
  NAS_ASSERT(dst.data() != a.data() && dst.data() != b.data(), "add_to: dst aliases an operand");
  float* d = dst.data();
  const float* x = a.data();
  const float* y = b.data();
  detail::parallel_chunks(dst.numel(),
                          [d, x, y](std::size_t lo, std::size_t hi) { detail::add_arrays(d + lo, x + lo, y + lo, hi - lo); });
}

/// dst += a * src, element-wise (weighted sums such as a mixed operation's output).
inline void axpy_into(Tensor& dst, float a, const Tensor& src) {
  if (dst.shape() != src.shape())
    throw ConfigError("axpy_into: shapes " + dst.shape().str() + " and " + src.shape().str() + " differ");
  float* __restrict d = dst.data();
  const float* __restrict s = src.data();
  const std::size_t n = dst.numel();
  for (std::size_t i = 0; i < n; ++i) d[i] += a * s[i];
}

/// Concatenates NCHW tensors along channels into `out` (resized, storage reused), as
/// torch.cat(parts, dim=1): a DARTS cell's output is the concatenation of its nodes.
/// All parts must share N, H and W.
inline void concat_channels(Tensor& out, std::span<const Tensor* const> parts) {
  if (parts.empty()) throw ConfigError("concat_channels: no inputs");
  const Shape& s0 = parts[0]->shape();
  if (s0.rank() != 4) throw ConfigError("concat_channels: input " + s0.str() + " is not NCHW");
  int channels = 0;
  for (const Tensor* t : parts) {
    const Shape& s = t->shape();
    if (s.rank() != 4 || s[0] != s0[0] || s[2] != s0[2] || s[3] != s0[3])
      throw ConfigError("concat_channels: input " + s.str() + " does not match " + s0.str() + " outside the channels");
    channels += s[1];
  }
  out.resize(Shape{s0[0], channels, s0[2], s0[3]});
  const std::size_t hw = static_cast<std::size_t>(s0[2]) * static_cast<std::size_t>(s0[3]);
  for (int n = 0; n < s0[0]; ++n) {
    float* dst = out.data() + static_cast<std::size_t>(n) * static_cast<std::size_t>(channels) * hw;
    for (const Tensor* t : parts) {
      const std::size_t block = static_cast<std::size_t>(t->dim(1)) * hw;
      std::memcpy(dst, t->data() + static_cast<std::size_t>(n) * block, block * sizeof(float));
      dst += block;
    }
  }
}

/// The inverse of concat_channels: copies channels [c0, c0 + dst channels) of `src` into
/// `dst`, which must already have the part's shape (use it to split a gradient).
inline void slice_channels(const Tensor& src, int c0, Tensor& dst) {
  const Shape& s = src.shape();
  const Shape& d = dst.shape();
  if (s.rank() != 4 || d.rank() != 4 || s[0] != d[0] || s[2] != d[2] || s[3] != d[3] || c0 < 0 || c0 + d[1] > s[1])
    throw ConfigError("slice_channels: channels [" + std::to_string(c0) + ", " + std::to_string(c0 + (d.rank() == 4 ? d[1] : 0)) +
                      ") of " + s.str() + " into " + d.str());
  const std::size_t hw = static_cast<std::size_t>(s[2]) * static_cast<std::size_t>(s[3]);
  const std::size_t block = static_cast<std::size_t>(d[1]) * hw;
  for (int n = 0; n < s[0]; ++n)
    std::memcpy(dst.data() + static_cast<std::size_t>(n) * block,
                src.data() + (static_cast<std::size_t>(n) * static_cast<std::size_t>(s[1]) + static_cast<std::size_t>(c0)) * hw,
                block * sizeof(float));
}

/// sum_i a[i] * b[i] in double precision (shapes must match).
inline double dot(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) throw ConfigError("dot: shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
  // 32 partial sums in double, added in a fixed order at the end: one running sum is a
  // chain of dependent additions that cannot be vectorised (a DARTS step spent 13 % of its
  // time here). The order depends on the length alone, so the result is the same on every
  // call and thread count.
  constexpr std::size_t lanes = 32;
  const std::size_t n = a.numel();
  const float* __restrict x = a.data();
  const float* __restrict y = b.data();
  double part[lanes] = {};
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (std::size_t l = 0; l < lanes; ++l) part[l] += static_cast<double>(x[i + l]) * static_cast<double>(y[i + l]);
  for (std::size_t l = 0; i < n; ++i, ++l) part[l] += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  for (std::size_t w = lanes / 2; w > 0; w /= 2)
    for (std::size_t l = 0; l < w; ++l) part[l] += part[l + w];
  return part[0];
}

}  // namespace nas
