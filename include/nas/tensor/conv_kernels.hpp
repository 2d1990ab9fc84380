// 2-D convolution kernels (NCHW, float): forward and backward (dx, dw, dbias).
#pragma once

#include <Eigen/Core>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

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
      fail("groups (" + std::to_string(groups) + ") does not divide out_channels (" + std::to_string(out_channels) +
           ")");
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
        const float* row =
            col + (static_cast<std::size_t>(c) * s.kernel_h * s.kernel_w + ki * s.kernel_w + kj) * oh * ow;
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

/// The calling thread's index inside a parallel region (0 outside or without OpenMP).
inline int thread_index() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Threads worth starting for `items` independent work items.
inline int team_size(int items) { return std::max(1, std::min(nas::num_threads(), items)); }

/// target[i] += (parts[0][i] + parts[1][i] + ...) with chunk c at parts + c * stride: the
/// chunks are summed first, in order, so a second identical call adds exactly the same total.
inline void add_chunk_sums(const float* parts, int chunks, std::size_t n, std::size_t stride, float* target) {
  for (std::size_t i = 0; i < n; ++i) {
    float total = parts[i];
    for (int c = 1; c < chunks; ++c) total += parts[stride * c + i];
    target[i] += total;
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
  if (dw_part) add_chunk_sums(dw_part, chunks, w_n, w_n, dw);
  if (db_part) add_chunk_sums(db_part, chunks, s.out_channels, s.out_channels, dbias);
}

// ---------------------------------------------------------------------------------------
// Direct path for stride 1 (any kernel, padding, dilation, groups).
//
// Each image plane is copied once into a zero-padded buffer of width Wp = in_w + 2 pad_w.
// Read as one flat vector, output pixel (i, j) then sits at position p = i Wp + j, and tap
// (ki, kj) reads the input at p + ki dh Wp + kj dw: the convolution becomes a sum of shifted,
// contiguous vectors, with the Wp - out_w extra columns per row computed and thrown away.
// A register block of output channels times SIMD vectors of positions accumulates over
// input channels and taps (broadcast weight times loaded input: one FMA per MAC).
// dx is the same kernel on dy padded by dilation (kernel - 1) - pad, with the weights
// transposed and flipped; dw is a dot product over positions of dy and shifted input,
// blocked over (output channel) x (input channel, tap), with several small images laid end
// to end so one sweep covers them. Images are handed to threads dynamically; dw and dbias
// are summed per fixed chunk of images and the chunks added in order (deterministic).
// The vector type follows the compiler's target: build with -march=native (or -mavx2
// -mfma) for the SIMD kernels; without it the same code runs on scalars.
// ---------------------------------------------------------------------------------------

/// The SIMD vector the direct kernels use: AVX-512, AVX2 + FMA, or one float.
#if defined(__AVX512F__)
struct Vec {
  using type = __m512;
  static constexpr int width = 16;
  static constexpr int out_block = 8;  // output channels per register block
  static constexpr int pos_block = 3;  // vectors of positions per register block
  static type zero() { return _mm512_setzero_ps(); }
  static type load(const float* p) { return _mm512_loadu_ps(p); }
  static type broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static type fma(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, type v) { _mm512_storeu_ps(p, v); }
  // A store and a fixed-order tree: GCC 12 warns on the 512-bit extract intrinsics.
  static float sum(type v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    for (int h = 8; h >= 1; h /= 2)
      for (int i = 0; i < h; ++i) t[i] += t[i + h];
    return t[0];
  }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Vec {
  using type = __m256;
  static constexpr int width = 8;
  static constexpr int out_block = 4;
  static constexpr int pos_block = 3;
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const float* p) { return _mm256_loadu_ps(p); }
  static type broadcast(const float* p) { return _mm256_set1_ps(*p); }
  static type fma(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, type v) { _mm256_storeu_ps(p, v); }
  static float sum(type v) {
    const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#else
struct Vec {
  using type = float;
  static constexpr int width = 1;
  static constexpr int out_block = 4;
  static constexpr int pos_block = 4;
  static type zero() { return 0.0f; }
  static type load(const float* p) { return *p; }
  static type broadcast(const float* p) { return *p; }
  static type fma(type a, type b, type c) { return a * b + c; }
  static void store(float* p, type v) { *p = v; }
  static float sum(type v) { return v; }
};
#endif

inline std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

/// out[o][p .. p + pos_block * width) for CO output channels: the sum over q of
/// w[q][o] * in[p + off[q]], where q runs over (input channel, tap) pairs; `w` is packed [q][CO].
/// One flat loop over q, and set1 rather than the broadcast intrinsic, keep GCC 12 from
/// storing the AVX2 accumulators to memory on every step.
template <int CO>
inline void direct_block(const float* in, const std::ptrdiff_t* off, int q_total, const float* w, float* out,
                         std::size_t out_stride) {
  constexpr int JV = Vec::pos_block, W = Vec::width;
  typename Vec::type acc[CO][JV];
  for (int o = 0; o < CO; ++o)
    for (int v = 0; v < JV; ++v) acc[o][v] = Vec::zero();
  for (int q = 0; q < q_total; ++q) {
    const float* src = in + off[q];
    typename Vec::type xv[JV];
    for (int v = 0; v < JV; ++v) xv[v] = Vec::load(src + v * W);
    const float* wq = w + static_cast<std::size_t>(q) * CO;
    for (int o = 0; o < CO; ++o) {
      const auto b = Vec::broadcast(wq + o);
      for (int v = 0; v < JV; ++v) acc[o][v] = Vec::fma(b, xv[v], acc[o][v]);
    }
  }
  for (int o = 0; o < CO; ++o)
    for (int v = 0; v < JV; ++v) Vec::store(out + out_stride * o + v * W, acc[o][v]);
}

/// The direct convolution of one padded plane set: `cout` output planes of `blocks`
/// position blocks each. `w` is packed per output-channel block (see pack_weights).
inline void direct_planes(const float* in, const std::ptrdiff_t* off, int cin, int taps, const float* w, int cout,
                          float* out, std::size_t out_stride, std::size_t blocks) {
  const int q_total = cin * taps;
  constexpr int CO = Vec::out_block;
  constexpr std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* src = in + b * step;
    float* dst = out + b * step;
    for (int o0 = 0; o0 < cout; o0 += CO) {
      const float* wb = w + static_cast<std::size_t>(o0) * cin * taps;
      float* db = dst + out_stride * o0;
      switch (std::min(CO, cout - o0)) {
        case 1:
          direct_block<1>(src, off, q_total, wb, db, out_stride);
          break;
        case 2:
          direct_block<2>(src, off, q_total, wb, db, out_stride);
          break;
        case 3:
          direct_block<3>(src, off, q_total, wb, db, out_stride);
          break;
        case 4:
          direct_block<4>(src, off, q_total, wb, db, out_stride);
          break;
#if defined(__AVX512F__)
        case 5:
          direct_block<5>(src, off, q_total, wb, db, out_stride);
          break;
        case 6:
          direct_block<6>(src, off, q_total, wb, db, out_stride);
          break;
        case 7:
          direct_block<7>(src, off, q_total, wb, db, out_stride);
          break;
        case 8:
          direct_block<8>(src, off, q_total, wb, db, out_stride);
          break;
#endif
        default:
          NAS_ASSERT(false, "direct_planes: register block out of range");
      }
    }
  }
}

/// Packs weights for direct_planes. `at(o, c, t)` is the weight from input channel c to
/// output channel o at tap t; blocks of out_block output channels are laid out [c][t][o].
template <class At>
inline void pack_weights(int cout, int cin, int taps, At at, float* packed) {
  constexpr int CO = Vec::out_block;
  for (int o0 = 0; o0 < cout; o0 += CO) {
    const int cb = std::min(CO, cout - o0);
    float* dst = packed + static_cast<std::size_t>(o0) * cin * taps;
    for (int c = 0; c < cin; ++c)
      for (int t = 0; t < taps; ++t)
        for (int o = 0; o < cb; ++o) dst[(static_cast<std::size_t>(c) * taps + t) * cb + o] = at(o0 + o, c, t);
  }
}

/// dw[o][q] += sum_p dy[o][p] * in[q's channel][p + q's offset] for CO output channels and
/// QB taps q (a tap is an input channel and a kernel offset).
template <int CO, int QB>
inline void weight_grad_block(const float* dy, std::size_t dy_stride, const float* const* src, std::size_t vectors,
                              float* dw, std::size_t dw_stride) {
  constexpr int W = Vec::width;
  typename Vec::type acc[CO][QB];
  for (int o = 0; o < CO; ++o)
    for (int q = 0; q < QB; ++q) acc[o][q] = Vec::zero();
  for (std::size_t v = 0; v < vectors; ++v) {
    typename Vec::type xv[QB];
    for (int q = 0; q < QB; ++q) xv[q] = Vec::load(src[q] + v * W);
    for (int o = 0; o < CO; ++o) {
      const auto g = Vec::load(dy + dy_stride * o + v * W);
      for (int q = 0; q < QB; ++q) acc[o][q] = Vec::fma(g, xv[q], acc[o][q]);
    }
  }
  for (int o = 0; o < CO; ++o)
    for (int q = 0; q < QB; ++q) dw[dw_stride * o + q] += Vec::sum(acc[o][q]);
}

template <int CO>
inline void weight_grad_rows(const float* dy, std::size_t dy_stride, const float* in, std::size_t in_stride, int cin,
                             const std::ptrdiff_t* off, int taps, std::size_t vectors, float* dw,
                             std::size_t dw_stride) {
  constexpr int QB = Vec::pos_block;
  const int q_total = cin * taps;
  const float* src[QB];
  int q0 = 0;
  for (; q0 + QB <= q_total; q0 += QB) {
    for (int q = 0; q < QB; ++q) src[q] = in + in_stride * ((q0 + q) / taps) + off[(q0 + q) % taps];
    weight_grad_block<CO, QB>(dy, dy_stride, src, vectors, dw + q0, dw_stride);
  }
  for (; q0 < q_total; ++q0) {
    src[0] = in + in_stride * (q0 / taps) + off[q0 % taps];
    weight_grad_block<CO, 1>(dy, dy_stride, src, vectors, dw + q0, dw_stride);
  }
}

/// weight_grad_rows for a block of `cb` output channels; `in` and `dy` share the channel stride.
inline void weight_grad_dispatch(int cb, const float* dy, std::size_t stride, const float* in, int cin,
                                 const std::ptrdiff_t* off, int taps, std::size_t vectors, float* dw) {
  const std::size_t dws = static_cast<std::size_t>(cin) * taps;
  switch (cb) {
    case 1:
      weight_grad_rows<1>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 2:
      weight_grad_rows<2>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 3:
      weight_grad_rows<3>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 4:
      weight_grad_rows<4>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
#if defined(__AVX512F__)
    case 5:
      weight_grad_rows<5>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 6:
      weight_grad_rows<6>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 7:
      weight_grad_rows<7>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
    case 8:
      weight_grad_rows<8>(dy, stride, in, stride, cin, off, taps, vectors, dw, dws);
      break;
#endif
    default:
      NAS_ASSERT(false, "weight_grad_dispatch: register block out of range");
  }
}

/// Copies `channels` planes [h, w] into a zeroed buffer of planes [*, wp] at row `top`, column `left`.
inline void pad_planes(const float* src, int channels, int h, int w, float* dst, std::size_t dst_stride, int wp,
                       int top, int left) {
  for (int c = 0; c < channels; ++c) {
    const float* s = src + static_cast<std::size_t>(c) * h * w;
    float* d = dst + dst_stride * c + static_cast<std::size_t>(top) * wp + left;
    for (int i = 0; i < h; ++i)
      std::memcpy(d + static_cast<std::size_t>(i) * wp, s + static_cast<std::size_t>(i) * w,
                  sizeof(float) * static_cast<std::size_t>(w));
  }
}

/// Grow-only per-thread storage for offset tables, so that steady-state calls do not allocate.
inline std::vector<std::ptrdiff_t>& offset_storage(int slot) {
  thread_local std::vector<std::ptrdiff_t> tables[4];
  return tables[slot];
}

/// Layout of a zero-padded flat plane set read by direct_planes.
struct PaddedPlanes {
  int width = 0;                            // padded row width
  std::size_t positions = 0;                // computed positions per output plane (rows * width, rounded up)
  std::size_t blocks = 0;                   // register blocks per plane
  std::size_t stride = 0;                   // floats per padded input plane, including the slack read past the end
  const std::ptrdiff_t* offsets = nullptr;  // [channel][tap]: channel * stride + tap offset
};

inline PaddedPlanes padded_planes(int out_rows, int padded_w, int padded_h, int kh, int kw, int dh, int dw,
                                  int channels, int slot) {
  PaddedPlanes p;
  p.width = padded_w;
  const std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  p.blocks = (static_cast<std::size_t>(out_rows) * padded_w + step - 1) / step;
  p.positions = p.blocks * step;
  const std::size_t max_off = static_cast<std::size_t>((kh - 1) * dh * padded_w + (kw - 1) * dw);
  p.stride = round_up(std::max(p.positions + max_off, static_cast<std::size_t>(padded_h) * padded_w), 16);
  auto& table = offset_storage(slot);
  const std::size_t taps = static_cast<std::size_t>(kh) * kw;
  table.resize(taps * channels);
  for (int c = 0; c < channels; ++c)
    for (int i = 0; i < kh; ++i)
      for (int j = 0; j < kw; ++j)
        table[c * taps + static_cast<std::size_t>(i) * kw + j] =
            static_cast<std::ptrdiff_t>(p.stride) * c + static_cast<std::ptrdiff_t>(i) * dh * padded_w + j * dw;
  p.offsets = table.data();
  return p;
}

/// A 1x1 kernel without padding reads the planes in place: offset tables for the planes
/// themselves (slot 2) and for a padded copy of their last, partial block (slot 3).
struct Pointwise {
  std::size_t plane = 0;  // floats per plane
  const std::ptrdiff_t* main = nullptr;
  const std::ptrdiff_t* tail = nullptr;
};

inline bool pointwise_applies(const Conv2dShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.pad_h == 0 && s.pad_w == 0 && s.stride_h == 1 && s.stride_w == 1;
}

inline Pointwise pointwise_tables(std::size_t plane, int channels) {
  const std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  auto& main = offset_storage(2);
  auto& tail = offset_storage(3);
  main.resize(static_cast<std::size_t>(channels));
  tail.resize(static_cast<std::size_t>(channels));
  for (int c = 0; c < channels; ++c) {
    main[static_cast<std::size_t>(c)] = static_cast<std::ptrdiff_t>(plane) * c;
    tail[static_cast<std::size_t>(c)] = static_cast<std::ptrdiff_t>(step) * c;
  }
  return {plane, main.data(), tail.data()};
}

/// out[o] = sum_c w[c][o] in[c] over whole planes (a 1x1 convolution of one image and group),
/// writing straight into `out`. The last partial register block goes through `tail_in`
/// [cin * step] and `tail_out` [cout * step].
inline void pointwise_planes(const Pointwise& pw, const float* in, int cin, const float* w, int cout, float* out,
                             float* tail_in, float* tail_out) {
  const std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  const std::size_t blocks = pw.plane / step, done = blocks * step, rest = pw.plane - done;
  if (blocks > 0) direct_planes(in, pw.main, cin, 1, w, cout, out, pw.plane, blocks);
  if (rest == 0) return;
  for (int c = 0; c < cin; ++c) {
    float* t = tail_in + step * c;
    std::memcpy(t, in + pw.plane * c + done, sizeof(float) * rest);
    std::fill(t + rest, t + step, 0.0f);
  }
  direct_planes(tail_in, pw.tail, cin, 1, w, cout, tail_out, step, 1);
  for (int o = 0; o < cout; ++o) std::memcpy(out + pw.plane * o + done, tail_out + step * o, sizeof(float) * rest);
}

inline bool direct_forward_applies(const Conv2dShape& s) { return s.stride_h == 1 && s.stride_w == 1; }
/// dx as a convolution of dy needs the transposed padding dilation (kernel - 1) - pad >= 0.
inline bool direct_dx_applies(const Conv2dShape& s) {
  return direct_forward_applies(s) && s.pad_h <= s.dilation_h * (s.kernel_h - 1) &&
         s.pad_w <= s.dilation_w * (s.kernel_w - 1);
}

inline void conv2d_forward_direct(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                  Workspace& ws) {
  const int oh = s.out_h(), ow = s.out_w(), cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int taps = s.kernel_h * s.kernel_w;
  const int wp = s.in_w + 2 * s.pad_w, hp = s.in_h + 2 * s.pad_h;
  const PaddedPlanes pl = padded_planes(oh, wp, hp, s.kernel_h, s.kernel_w, s.dilation_h, s.dilation_w, cin_g, 0);
  const int threads = team_size(s.batch);
  const std::size_t xp_n = pl.stride * s.in_channels, out_n = pl.positions * cout_g;
  const std::size_t w_n = static_cast<std::size_t>(s.out_channels) * cin_g * taps;
  float* packed = ws.buffer(3, w_n);
  for (int g = 0; g < s.groups; ++g) {
    const float* wg = w + static_cast<std::size_t>(g) * cout_g * cin_g * taps;
    pack_weights(
        cout_g, cin_g, taps,
        [&](int o, int c, int t) { return wg[(static_cast<std::size_t>(o) * cin_g + c) * taps + t]; },
        packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps);
  }
  float* scratch = ws.buffer(4, (xp_n + out_n) * threads);
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * oh * ow;
  const bool pointwise = pointwise_applies(s);
  const Pointwise pw = pointwise ? pointwise_tables(static_cast<std::size_t>(oh) * ow, cin_g) : Pointwise{};
  // Every output value is computed by one thread in a fixed order, so images can be handed
  // out dynamically (robust to a busy core) without changing any bit.
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* xp = scratch + (xp_n + out_n) * thread_index();
    float* out = xp + xp_n;
    std::fill(xp, xp + xp_n, 0.0f);  // the padding stays zero; each image overwrites the interior
#pragma omp for schedule(dynamic, 1)
    for (int n = 0; n < s.batch; ++n) {
      if (pointwise) {
        for (int g = 0; g < s.groups; ++g)
          pointwise_planes(pw, x + x_img * n + pw.plane * g * cin_g, cin_g,
                           packed + static_cast<std::size_t>(g) * cout_g * cin_g, cout_g,
                           y + y_img * n + pw.plane * g * cout_g, xp, out);
        if (bias)
          for (int o = 0; o < s.out_channels; ++o) {
            float* yo = y + y_img * n + pw.plane * o;
            for (std::size_t p = 0; p < pw.plane; ++p) yo[p] += bias[o];
          }
        continue;
      }
      pad_planes(x + x_img * n, s.in_channels, s.in_h, s.in_w, xp, pl.stride, wp, s.pad_h, s.pad_w);
      for (int g = 0; g < s.groups; ++g) {
        direct_planes(xp + pl.stride * g * cin_g, pl.offsets, cin_g, taps,
                      packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps, cout_g, out, pl.positions,
                      pl.blocks);
        for (int o = 0; o < cout_g; ++o) {
          const int oc = g * cout_g + o;
          const float b = bias ? bias[oc] : 0.0f;
          float* yo = y + y_img * n + static_cast<std::size_t>(oc) * oh * ow;
          const float* src = out + pl.positions * o;
          for (int i = 0; i < oh; ++i)
            for (int j = 0; j < ow; ++j)
              yo[static_cast<std::size_t>(i) * ow + j] = src[static_cast<std::size_t>(i) * wp + j] + b;
        }
      }
    }
  }
}

/// Stride-1 backward: dx (when direct_dx_applies), dw and dbias; the GEMM path does dx otherwise.
inline void conv2d_backward_direct(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx,
                                   float* dw, float* dbias, Workspace& ws) {
  const int oh = s.out_h(), ow = s.out_w(), cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int taps = s.kernel_h * s.kernel_w;
  // dw and dbias are summed per chunk of images and the chunks added in order. The chunk
  // count does not depend on the thread count (up to 8 threads), so results are the same
  // bits for 1 to 8 threads, and chunks can be handed out dynamically.
  const int chunks = std::min(s.batch, std::max(8, nas::num_threads()));
  const int threads = team_size(chunks);
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * oh * ow;
  const std::size_t w_n = static_cast<std::size_t>(s.out_channels) * cin_g * taps;

  // dx = conv(dy padded by d (k - 1) - p, w transposed and flipped): planes of width wq.
  const int qh = s.dilation_h * (s.kernel_h - 1) - s.pad_h, qw = s.dilation_w * (s.kernel_w - 1) - s.pad_w;
  const int wq = ow + 2 * qw, hq = oh + 2 * qh;
  PaddedPlanes dpl;
  if (dx) dpl = padded_planes(s.in_h, wq, hq, s.kernel_h, s.kernel_w, s.dilation_h, s.dilation_w, cout_g, 0);
  // dw reads x padded as in the forward pass and dy laid out on the same row width. Small
  // planes are folded: `fold` images sit one after another (every `plane` floats) in one
  // flat vector per channel, so one sweep of the dot products covers them all.
  constexpr int CO = Vec::out_block;
  const int wp = s.in_w + 2 * s.pad_w, hp = s.in_h + 2 * s.pad_h;
  std::size_t plane = 0, fold = 1, dw_stride = 0;
  const std::ptrdiff_t* tap_off = nullptr;
  if (dw) {
    plane = round_up(static_cast<std::size_t>(hp) * wp, Vec::width);
    const std::size_t per_chunk_images = (static_cast<std::size_t>(s.batch) + chunks - 1) / chunks;
    fold = std::clamp<std::size_t>(8192 / (plane * CO), 1, per_chunk_images);  // dy block within ~32 KB
    auto& table = offset_storage(1);
    table.resize(static_cast<std::size_t>(taps));
    for (int i = 0; i < s.kernel_h; ++i)
      for (int j = 0; j < s.kernel_w; ++j)
        table[static_cast<std::size_t>(i) * s.kernel_w + j] =
            static_cast<std::ptrdiff_t>(i) * s.dilation_h * wp + static_cast<std::ptrdiff_t>(j) * s.dilation_w;
    tap_off = table.data();
    dw_stride = round_up(fold * plane + static_cast<std::size_t>(table.back()) + Vec::width, 16);
  }
  const std::size_t dyq_n = dx ? dpl.stride * s.out_channels : 0, dxo_n = dx ? dpl.positions * cin_g : 0;
  const std::size_t xp_n = dw ? dw_stride * s.in_channels : 0, dyw_n = dw ? dw_stride * s.out_channels : 0;
  const std::size_t per_thread = dyq_n + dxo_n + xp_n + dyw_n;
  const std::size_t per_chunk = (dw ? w_n : 0) + (dbias ? s.out_channels : 0);
  float* packed = dx ? ws.buffer(3, w_n) : nullptr;
  if (dx)
    for (int g = 0; g < s.groups; ++g) {
      const float* wg = w + static_cast<std::size_t>(g) * cout_g * cin_g * taps;
      // Role swap: dx channel c is the output, dy channel o the input, tap t reads w at the flipped tap.
      pack_weights(
          cin_g, cout_g, taps,
          [&](int c, int o, int t) { return wg[(static_cast<std::size_t>(o) * cin_g + c) * taps + (taps - 1 - t)]; },
          packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps);
    }
  float* scratch = ws.buffer(4, per_thread * threads);
  float* partials = ws.buffer(5, std::max<std::size_t>(per_chunk * chunks, 1));
  const bool pointwise = dx && pointwise_applies(s);
  const Pointwise pw = pointwise ? pointwise_tables(static_cast<std::size_t>(oh) * ow, cout_g) : Pointwise{};
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* dyq = scratch + per_thread * thread_index();
    float* dxo = dyq + dyq_n;
    float* xp = dxo + dxo_n;
    float* dyw = xp + xp_n;
    std::fill(dyq, dyq + dyq_n, 0.0f);
    std::fill(xp, xp + xp_n + dyw_n, 0.0f);
#pragma omp for schedule(dynamic, 1)
    for (int c = 0; c < chunks; ++c) {
      float* dw_part = partials + per_chunk * c;
      float* db_part = dw_part + (dw ? w_n : 0);
      if (dw) std::fill(dw_part, dw_part + w_n, 0.0f);
      const auto [b0, b1] = chunk_range(s.batch, chunks, c);
      for (int n = b0; n < b1; ++n) {
        const float* dyn = dy + y_img * n;
        if (pointwise) {
          for (int g = 0; g < s.groups; ++g)
            pointwise_planes(pw, dyn + pw.plane * g * cout_g, cout_g,
                             packed + static_cast<std::size_t>(g) * cout_g * cin_g, cin_g,
                             dx + x_img * n + pw.plane * g * cin_g, dyq, dxo);
        } else if (dx) {
          pad_planes(dyn, s.out_channels, oh, ow, dyq, dpl.stride, wq, qh, qw);
          for (int g = 0; g < s.groups; ++g) {
            direct_planes(dyq + dpl.stride * g * cout_g, dpl.offsets, cout_g, taps,
                          packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps, cin_g, dxo, dpl.positions,
                          dpl.blocks);
            for (int i = 0; i < cin_g; ++i) {
              float* dxi = dx + x_img * n + static_cast<std::size_t>(g * cin_g + i) * s.in_h * s.in_w;
              const float* src = dxo + dpl.positions * i;
              for (int r = 0; r < s.in_h; ++r)
                std::memcpy(dxi + static_cast<std::size_t>(r) * s.in_w, src + static_cast<std::size_t>(r) * wq,
                            sizeof(float) * static_cast<std::size_t>(s.in_w));
            }
          }
        }
      }
      for (int n0 = b0; dw && n0 < b1; n0 += static_cast<int>(fold)) {
        const int m = std::min(static_cast<int>(fold), b1 - n0);
        for (int i = 0; i < m; ++i) {
          pad_planes(x + x_img * (n0 + i), s.in_channels, s.in_h, s.in_w, xp + plane * i, dw_stride, wp, s.pad_h,
                     s.pad_w);
          pad_planes(dy + y_img * (n0 + i), s.out_channels, oh, ow, dyw + plane * i, dw_stride, wp, 0, 0);
        }
        const std::size_t vectors = plane * m / Vec::width;
        for (int g = 0; g < s.groups; ++g)
          for (int o0 = 0; o0 < cout_g; o0 += CO)
            weight_grad_dispatch(std::min(CO, cout_g - o0), dyw + dw_stride * (g * cout_g + o0), dw_stride,
                                 xp + dw_stride * g * cin_g, cin_g, tap_off, taps, vectors,
                                 dw_part + static_cast<std::size_t>(g * cout_g + o0) * cin_g * taps);
      }
      if (dbias)
        for (int o = 0; o < s.out_channels; ++o) {
          float acc = 0.0f;
          for (int n = b0; n < b1; ++n) {
            const float* row = dy + y_img * n + static_cast<std::size_t>(o) * oh * ow;
            for (int p = 0; p < oh * ow; ++p) acc += row[p];
          }
          db_part[o] = acc;
        }
    }
  }
  if (dw) add_chunk_sums(partials, chunks, w_n, per_chunk, dw);
  if (dbias) add_chunk_sums(partials + (dw ? w_n : 0), chunks, s.out_channels, per_chunk, dbias);
}

}  // namespace detail

/// y = conv(x, w) + bias. y [batch, out_channels, out_h, out_w] is overwritten; bias may be
/// nullptr. The kernels use the workspace's slots freely: do not hold its buffers across a call.
inline void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                           Workspace& ws) {
  s.validate("conv2d_forward");
  NAS_ASSERT(x && w && y, "conv2d_forward: x, w and y must not be null");
  if (detail::direct_forward_applies(s))
    detail::conv2d_forward_direct(s, x, w, bias, y, ws);
  else
    detail::conv2d_forward_gemm(s, x, w, bias, y, ws);
}

/// Gradients of conv2d_forward given dy = dL/dy. dx is overwritten; dw and dbias are
/// accumulated into (+=). Any of dx, dw, dbias may be nullptr to skip it.
inline void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                            float* dbias, Workspace& ws) {
  s.validate("conv2d_backward");
  NAS_ASSERT(dy, "conv2d_backward: dy must not be null");
  NAS_ASSERT(!dw || x, "conv2d_backward: dw needs x");
  NAS_ASSERT(!dx || w, "conv2d_backward: dx needs w");
  if (!dx && !dw && !dbias) return;
  if (!detail::direct_forward_applies(s)) {
    detail::conv2d_backward_gemm(s, x, w, dy, dx, dw, dbias, ws);
    return;
  }
  const bool dx_direct = detail::direct_dx_applies(s);
  if (dx && !dx_direct) detail::conv2d_backward_gemm(s, x, w, dy, dx, nullptr, nullptr, ws);
  if (dw || dbias || (dx && dx_direct))
    detail::conv2d_backward_direct(s, x, w, dy, dx_direct ? dx : nullptr, dw, dbias, ws);
}

}  // namespace nas::kernels
