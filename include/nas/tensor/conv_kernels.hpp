// 2-D convolution kernels (NCHW, float): forward and backward (dx, dw, dbias).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "nas/core/error.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/workspace.hpp"

namespace nas::kernels {

/// The geometry of one convolution. Tensors are NCHW float; the weight is
/// [out_channels, in_channels / groups, kernel_h, kernel_w] and the bias [out_channels].
struct Conv2dShape {
  int batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  int out_channels = 1, kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;

  /// floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1
  int out_h() const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int out_w() const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }

  /// Throws nas::ConfigError naming the place, the bad value and the limit.
  void validate(const char* where) const {
    const auto fail = [&](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    const auto at_least = [&](const char* name, int v, int lo) {
      if (v < lo) fail(std::string(name) + " (" + std::to_string(v) + ") must be >= " + std::to_string(lo));
    };
    at_least("batch", batch, 1);
    at_least("in_channels", in_channels, 1);
    at_least("in_h", in_h, 1);
    at_least("in_w", in_w, 1);
    at_least("out_channels", out_channels, 1);
    at_least("kernel_h", kernel_h, 1);
    at_least("kernel_w", kernel_w, 1);
    at_least("stride_h", stride_h, 1);
    at_least("stride_w", stride_w, 1);
    at_least("pad_h", pad_h, 0);
    at_least("pad_w", pad_w, 0);
    at_least("dilation_h", dilation_h, 1);
    at_least("dilation_w", dilation_w, 1);
    at_least("groups", groups, 1);
    if (in_channels % groups != 0)
      fail("groups (" + std::to_string(groups) + ") does not divide in_channels (" + std::to_string(in_channels) + ")");
    if (out_channels % groups != 0)
      fail("groups (" + std::to_string(groups) + ") does not divide out_channels (" + std::to_string(out_channels) + ")");
    const long long span_h = static_cast<long long>(dilation_h) * (kernel_h - 1) + 1;
    const long long span_w = static_cast<long long>(dilation_w) * (kernel_w - 1) + 1;
    if (span_h > static_cast<long long>(in_h) + 2LL * pad_h)
      fail("dilated kernel height (" + std::to_string(span_h) + ") exceeds padded input height (" +
           std::to_string(static_cast<long long>(in_h) + 2LL * pad_h) + ")");
    if (span_w > static_cast<long long>(in_w) + 2LL * pad_w)
      fail("dilated kernel width (" + std::to_string(span_w) + ") exceeds padded input width (" +
           std::to_string(static_cast<long long>(in_w) + 2LL * pad_w) + ")");
    constexpr long long limit = 1LL << 31;
    const long long col = static_cast<long long>(in_channels / groups) * kernel_h * kernel_w * out_h() * out_w();
    if (col >= limit)
      fail("im2col size per image (" + std::to_string(col) + ") reaches the limit (" + std::to_string(limit) + ")");
  }
};

namespace detail {

using RowMajorMap = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// Images [first, last) of `chunk` when `batch` images are cut into `chunks` equal runs.
inline std::pair<int, int> chunk_range(int batch, int chunks, int chunk) {
  const long long b = batch;
  return {static_cast<int>(b * chunk / chunks), static_cast<int>(b * (chunk + 1) / chunks)};
}

/// Unfolds the channels [c0, c0 + cg) of one image into col [cg*kh*kw, out_h*out_w].
inline void im2col(const Conv2dShape& s, const float* img, int c0, int cg, float* col) {
  const int oh = s.out_h(), ow = s.out_w();
  for (int c = 0; c < cg; ++c) {
    const float* plane = img + static_cast<std::size_t>(c0 + c) * s.in_h * s.in_w;
    for (int ki = 0; ki < s.kernel_h; ++ki)
      for (int kj = 0; kj < s.kernel_w; ++kj) {
        float* row = col + (static_cast<std::size_t>(c) * s.kernel_h * s.kernel_w + ki * s.kernel_w + kj) * oh * ow;
        for (int y = 0; y < oh; ++y) {
          const int iy = y * s.stride_h - s.pad_h + ki * s.dilation_h;
          float* out = row + static_cast<std::size_t>(y) * ow;
          if (iy < 0 || iy >= s.in_h) {
            std::fill(out, out + ow, 0.0f);
            continue;
          }
          const float* in = plane + static_cast<std::size_t>(iy) * s.in_w;
          for (int x = 0; x < ow; ++x) {
            const int ix = x * s.stride_w - s.pad_w + kj * s.dilation_w;
            out[x] = (ix >= 0 && ix < s.in_w) ? in[ix] : 0.0f;
          }
        }
      }
  }
}

/// Adds col [cg*kh*kw, out_h*out_w] back onto the channels [c0, c0 + cg) of one image.
inline void col2im_add(const Conv2dShape& s, const float* col, int c0, int cg, float* img) {
  const int oh = s.out_h(), ow = s.out_w();
  for (int c = 0; c < cg; ++c) {
    float* plane = img + static_cast<std::size_t>(c0 + c) * s.in_h * s.in_w;
    for (int ki = 0; ki < s.kernel_h; ++ki)
      for (int kj = 0; kj < s.kernel_w; ++kj) {
        const float* row = col + (static_cast<std::size_t>(c) * s.kernel_h * s.kernel_w + ki * s.kernel_w + kj) * oh * ow;
        for (int y = 0; y < oh; ++y) {
          const int iy = y * s.stride_h - s.pad_h + ki * s.dilation_h;
          if (iy < 0 || iy >= s.in_h) continue;
          const float* in = row + static_cast<std::size_t>(y) * ow;
          float* out = plane + static_cast<std::size_t>(iy) * s.in_w;
          for (int x = 0; x < ow; ++x) {
            const int ix = x * s.stride_w - s.pad_w + kj * s.dilation_w;
            if (ix >= 0 && ix < s.in_w) out[ix] += in[x];
          }
        }
      }
  }
}

/// Number of batch chunks: one per thread, at most one per image.
inline int batch_chunks(const Conv2dShape& s) { return std::max(1, std::min(nas::num_threads(), s.batch)); }

/// General path: per image and group, im2col then a GEMM. Any stride, padding, dilation, groups.
inline void conv2d_forward_gemm(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                Workspace& ws) {
  const int oh = s.out_h(), ow = s.out_w();
  const int P = oh * ow, cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int K = cin_g * s.kernel_h * s.kernel_w;
  const std::size_t col_n = static_cast<std::size_t>(K) * P;
  const int chunks = batch_chunks(s);
  float* cols = ws.buffer(0, col_n * chunks);
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * P;
#pragma omp parallel for schedule(static, 1) num_threads(chunks) if (chunks > 1)
  for (int c = 0; c < chunks; ++c) {
    float* col = cols + col_n * c;
    const auto [b0, b1] = chunk_range(s.batch, chunks, c);
    for (int n = b0; n < b1; ++n)
      for (int g = 0; g < s.groups; ++g) {
        im2col(s, x + x_img * n, g * cin_g, cin_g, col);
        ConstRowMajorMap W(w + static_cast<std::size_t>(g) * cout_g * K, cout_g, K);
        ConstRowMajorMap C(col, K, P);
        RowMajorMap Y(y + y_img * n + static_cast<std::size_t>(g) * cout_g * P, cout_g, P);
        Y.noalias() = W * C;
      }
    if (bias)
      for (int n = b0; n < b1; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
          float* row = y + y_img * n + static_cast<std::size_t>(o) * P;
          for (int p = 0; p < P; ++p) row[p] += bias[o];
        }
  }
}

inline void conv2d_backward_gemm(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* dbias, Workspace& ws) {
  const int oh = s.out_h(), ow = s.out_w();
  const int P = oh * ow, cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int K = cin_g * s.kernel_h * s.kernel_w;
  const std::size_t col_n = static_cast<std::size_t>(K) * P;
  const std::size_t w_n = static_cast<std::size_t>(s.out_channels) * K;
  const int chunks = batch_chunks(s);
  float* cols = ws.buffer(0, col_n * chunks);
  float* dw_part = dw ? ws.buffer(1, w_n * chunks) : nullptr;
  float* db_part = dbias ? ws.buffer(2, static_cast<std::size_t>(s.out_channels) * chunks) : nullptr;
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * P;
#pragma omp parallel for schedule(static, 1) num_threads(chunks) if (chunks > 1)
  for (int c = 0; c < chunks; ++c) {
    float* col = cols + col_n * c;
    const auto [b0, b1] = chunk_range(s.batch, chunks, c);
    if (dw_part) std::fill(dw_part + w_n * c, dw_part + w_n * (c + 1), 0.0f);
    for (int n = b0; n < b1; ++n) {
      if (dx) std::fill(dx + x_img * n, dx + x_img * (n + 1), 0.0f);
      for (int g = 0; g < s.groups; ++g) {
        ConstRowMajorMap dY(dy + y_img * n + static_cast<std::size_t>(g) * cout_g * P, cout_g, P);
        if (dw_part) {
          im2col(s, x + x_img * n, g * cin_g, cin_g, col);
          RowMajorMap dW(dw_part + w_n * c + static_cast<std::size_t>(g) * cout_g * K, cout_g, K);
          dW.noalias() += dY * ConstRowMajorMap(col, K, P).transpose();
        }
        if (dx) {
          ConstRowMajorMap W(w + static_cast<std::size_t>(g) * cout_g * K, cout_g, K);
          RowMajorMap C(col, K, P);
          C.noalias() = W.transpose() * dY;
          col2im_add(s, col, g * cin_g, cin_g, dx + x_img * n);
        }
      }
    }
    if (db_part) {
      float* db = db_part + static_cast<std::size_t>(s.out_channels) * c;
      for (int o = 0; o < s.out_channels; ++o) {
        float acc = 0.0f;
        for (int n = b0; n < b1; ++n) {
          const float* row = dy + y_img * n + static_cast<std::size_t>(o) * P;
          for (int p = 0; p < P; ++p) acc += row[p];
        }
        db[o] = acc;
      }
    }
  }
  // Partial sums are added in chunk order, so a given thread count always gives the same bits.
  for (int c = 0; c < chunks; ++c) {
    if (dw_part)
      for (std::size_t i = 0; i < w_n; ++i) dw[i] += dw_part[w_n * c + i];
    if (db_part)
      for (int o = 0; o < s.out_channels; ++o) dbias[o] += db_part[static_cast<std::size_t>(s.out_channels) * c + o];
  }
}

}  // namespace detail

/// y = conv(x, w) + bias. y [batch, out_channels, out_h, out_w] is overwritten; bias may be
/// nullptr. The kernels use the workspace's slots freely: do not hold its buffers across a call.
inline void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                           Workspace& ws) {
  s.validate("conv2d_forward");
  NAS_ASSERT(x && w && y, "conv2d_forward: x, w and y must not be null");
  detail::conv2d_forward_gemm(s, x, w, bias, y, ws);
}

/// Gradients of conv2d_forward given dy = dL/dy. dx is overwritten; dw and dbias are
/// accumulated into (+=). Any of dx, dw, dbias may be nullptr to skip it.
inline void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* dbias, Workspace& ws) {
  s.validate("conv2d_backward");
  NAS_ASSERT(dy, "conv2d_backward: dy must not be null");
  NAS_ASSERT(!dw || x, "conv2d_backward: dw needs x");
  NAS_ASSERT(!dx || w, "conv2d_backward: dx needs w");
  if (!dx && !dw && !dbias) return;
  detail::conv2d_backward_gemm(s, x, w, dy, dx, dw, dbias, ws);
}

}  // namespace nas::kernels
