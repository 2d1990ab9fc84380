// 2-D convolution kernels (NCHW, float): forward and backward (dx, dw, dbias).
#pragma once

#include <Eigen/Core>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
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
/// With `relu`, negative inputs are unfolded as 0.
inline void im2col(const Conv2dShape& s, const float* img, int c0, int cg, float* col, bool relu = false) {
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
            const float v = (ix >= 0 && ix < s.in_w) ? in[ix] : 0.0f;
            out[x] = relu ? std::max(v, 0.0f) : v;
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

/// Calls f(thread, item) for item in [0, count): serially on the calling thread with one
/// thread (no OpenMP region at all, so no runtime allocations), otherwise dynamically.
template <class F>
inline void for_items(int count, int threads, F&& f) {
  if (threads <= 1 || count <= 1) {
    for (int i = 0; i < count; ++i) f(0, i);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = thread_index();
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < count; ++i) f(t, i);
  }
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

/// General path: per image and group, im2col then a GEMM. Any stride, padding, dilation,
/// groups. With `accumulate`, each image's result goes through a scratch plane set and is
/// added to y (y + (conv + bias), as when adding a separately computed output).
inline void conv2d_forward_gemm(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                bool relu, Workspace& ws, bool accumulate = false) {
  const int oh = s.out_h(), ow = s.out_w();
  const int P = oh * ow, cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int K = cin_g * s.kernel_h * s.kernel_w;
  const std::size_t col_n = static_cast<std::size_t>(K) * P;
  const int chunks = batch_chunks(s);
  float* cols = ws.buffer(0, col_n * chunks);
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * P;
  float* sums = accumulate ? ws.buffer(1, y_img * chunks) : nullptr;
  for_items(chunks, chunks, [&](int, int c) {
    float* col = cols + col_n * c;
    const auto [b0, b1] = chunk_range(s.batch, chunks, c);
    for (int n = b0; n < b1; ++n) {
      float* yn = accumulate ? sums + y_img * c : y + y_img * n;
      for (int g = 0; g < s.groups; ++g) {
        im2col(s, x + x_img * n, g * cin_g, cin_g, col, relu);
        ConstRowMajorMap W(w + static_cast<std::size_t>(g) * cout_g * K, cout_g, K);
        ConstRowMajorMap C(col, K, P);
        RowMajorMap Y(yn + static_cast<std::size_t>(g) * cout_g * P, cout_g, P);
        Y.noalias() = W * C;
      }
      if (!accumulate) continue;
      float* dst = y + y_img * n;
      for (int o = 0; o < s.out_channels; ++o) {
        const float b = bias ? bias[o] : 0.0f;
        const std::size_t at = static_cast<std::size_t>(o) * P;
        for (int p = 0; p < P; ++p) dst[at + p] += yn[at + p] + b;
      }
    }
    if (bias && !accumulate)
      for (int n = b0; n < b1; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
          float* row = y + y_img * n + static_cast<std::size_t>(o) * P;
          for (int p = 0; p < P; ++p) row[p] += bias[o];
        }
  });
}

inline void conv2d_backward_gemm(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* dbias, bool relu, Workspace& ws) {
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
  for_items(chunks, chunks, [&](int, int c) {
    float* col = cols + col_n * c;
    const auto [b0, b1] = chunk_range(s.batch, chunks, c);
    if (dw_part) std::fill(dw_part + w_n * c, dw_part + w_n * (c + 1), 0.0f);
    for (int n = b0; n < b1; ++n) {
      if (dx) std::fill(dx + x_img * n, dx + x_img * (n + 1), 0.0f);
      for (int g = 0; g < s.groups; ++g) {
        ConstRowMajorMap dY(dy + y_img * n + static_cast<std::size_t>(g) * cout_g * P, cout_g, P);
        if (dw_part) {
          im2col(s, x + x_img * n, g * cin_g, cin_g, col, relu);
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
  });
  // Partial sums are added in chunk order, so a given thread count always gives the same bits.
  if (dw_part) add_chunk_sums(dw_part, chunks, w_n, w_n, dw);
  if (db_part) add_chunk_sums(db_part, chunks, s.out_channels, s.out_channels, dbias);
}

// ---------------------------------------------------------------------------------------
// Direct path (the forward at any stride; dx, dw and dbias at stride 1).
//
// At stride 1 each image plane is copied into a zero-padded buffer of width Wp (in_w + 2 pad_w
// before the sharing of zero columns described at FoldPlan; strides are split into phases there).
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

/// An empty asm statement that claims to change `v`, so the compiler must hold it in a
/// register (and cannot re-load it from memory at each use).
template <class T>
inline void keep_in_register(T& v) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__AVX2__) || defined(__AVX512F__))
  asm("" : "+v"(v));
#else
  (void)v;
#endif
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
      auto g = Vec::load(dy + dy_stride * o + v * W);
      // Keep g in a register: otherwise GCC folds the load into each of the QB FMAs and the
      // loop becomes bound by loads (27 instead of 11 per 24 FMAs).
      keep_in_register(g);
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

/// weight_grad_rows for a block of `cb` output channels: dy's channels are `stride` floats
/// apart, the input's `in_stride` (the phase planes of one channel lie between).
inline void weight_grad_dispatch(int cb, const float* dy, std::size_t stride, const float* in, std::size_t in_stride,
                                 int cin, const std::ptrdiff_t* off, int taps, std::size_t vectors, float* dw) {
  const std::size_t dws = static_cast<std::size_t>(cin) * taps;
  switch (cb) {
    case 1:
      weight_grad_rows<1>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 2:
      weight_grad_rows<2>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 3:
      weight_grad_rows<3>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 4:
      weight_grad_rows<4>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
#if defined(__AVX512F__)
    case 5:
      weight_grad_rows<5>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 6:
      weight_grad_rows<6>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 7:
      weight_grad_rows<7>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
    case 8:
      weight_grad_rows<8>(dy, stride, in, in_stride, cin, off, taps, vectors, dw, dws);
      break;
#endif
    default:
      NAS_ASSERT(false, "weight_grad_dispatch: register block out of range");
  }
}

/// Grow-only per-thread storage for offset tables, so that steady-state calls do not allocate.
inline std::vector<std::ptrdiff_t>& offset_storage(int slot) {
  thread_local std::vector<std::ptrdiff_t> tables[4];
  return tables[slot];
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

// ---------------------------------------------------------------------------------------
// Folded direct convolution (any stride): the forward pass, and dx at stride 1.
//
// The input is split into stride phases: phase (a, b) holds the padded input's rows
// a, a + sh, ... and columns b, b + sw, ..., so output (y, x) reads phase ((i dh) % sh,
// (j dw) % sw) at (y + (i dh) / sh, x + (j dw) / sw) for tap (i, j): every stride becomes
// stride 1 over shifted, contiguous vectors. Each phase plane is laid out flat with a row
// pitch that shares the zero columns on its left and right (a row's right padding is the
// next row's left padding), and `fold` images are stacked in one plane sharing their zero
// rows, so small planes (7x7, 14x14) fill whole register blocks instead of wasting most
// of one. Output values are the same bits whatever the folding: each output lane sums the
// same products in the same order.
// ---------------------------------------------------------------------------------------

/// Layout of the folded phase planes of one group's input.
struct FoldPlan {
  int phases_h = 1, phases_w = 1;  // the stride: phases per axis
  int plane_h = 0, plane_w = 0;    // one image's phase plane, before sharing
  int row = 0;                     // row pitch (<= plane_w)
  int pitch = 0;                   // rows per image in a stacked plane (<= plane_h)
  int out_h = 0, out_w = 0;
  int fold = 1;                        // images per sweep
  std::size_t positions = 0;           // computed positions per output plane (whole register blocks)
  std::size_t blocks = 0;              // register blocks per output plane
  std::size_t stride = 0;              // floats per (channel, phase) plane, including slack
  std::uint64_t used = 0;              // bit a * phases_w + b: phase (a, b) is read by some tap
  const std::ptrdiff_t* offsets = nullptr;  // [channel][tap] of one group
  [[nodiscard]] int phases() const { return phases_h * phases_w; }
  [[nodiscard]] bool uses(int phase) const { return ((used >> phase) & 1U) != 0; }
  [[nodiscard]] std::size_t image_floats(int channels) const {
    return static_cast<std::size_t>(channels) * static_cast<std::size_t>(phases()) * stride;
  }
};

/// Phase plans need one bit per phase.
inline bool fold_applies(const Conv2dShape& s) { return s.stride_h * s.stride_w <= 64; }

/// Zero rows (or columns) common to the start and to the end of every used phase along
/// one axis: phase a = (tap * dilation) % stride, whose index t reads the padded
/// coordinate t * stride + a, real for pad <= t * stride + a < pad + size.
inline std::pair<int, int> common_zeros(int extent, int stride, int pad, int size, int kernel, int dilation) {
  int lead = extent, trail = extent;
  for (int i = 0; i < kernel; ++i) {
    const int a = i * dilation % stride;
    int l = 0, t = 0;
    while (l < extent && (l * stride + a < pad || l * stride + a >= pad + size)) ++l;
    while (t < extent && ((extent - 1 - t) * stride + a < pad || (extent - 1 - t) * stride + a >= pad + size)) ++t;
    lead = std::min(lead, l);
    trail = std::min(trail, t);
  }
  return {lead, trail};
}

/// The plan for convolution `s` with images folded `fold_cap` at most per sweep, enough
/// of them for about `target` positions. With `balance_threads` > 1 the fold is lowered
/// until the batch splits into a multiple of that many work items.
inline FoldPlan fold_plan(const Conv2dShape& s, int fold_cap, int slot, std::size_t target = 1024,
                          int balance_threads = 1) {
  FoldPlan p;
  p.phases_h = s.stride_h;
  p.phases_w = s.stride_w;
  p.out_h = s.out_h();
  p.out_w = s.out_w();
  const int reach_h = (s.kernel_h - 1) * s.dilation_h / s.stride_h, reach_w = (s.kernel_w - 1) * s.dilation_w / s.stride_w;
  p.plane_h = p.out_h + reach_h;
  p.plane_w = p.out_w + reach_w;
  for (int i = 0; i < s.kernel_h; ++i)
    for (int j = 0; j < s.kernel_w; ++j)
      p.used |= std::uint64_t{1} << ((i * s.dilation_h % s.stride_h) * p.phases_w + j * s.dilation_w % s.stride_w);
  const auto [top, bottom] = common_zeros(p.plane_h, s.stride_h, s.pad_h, s.in_h, s.kernel_h, s.dilation_h);
  const auto [left, right] = common_zeros(p.plane_w, s.stride_w, s.pad_w, s.in_w, s.kernel_w, s.dilation_w);
  p.row = p.plane_w - std::min({left, right, p.plane_w - p.out_w});
  p.pitch = p.plane_h - std::min({top, bottom, p.plane_h - p.out_h});
  // Enough images for about `target` positions a sweep: whole register blocks stay mostly useful.
  const std::size_t image = static_cast<std::size_t>(p.pitch) * p.row;
  p.fold = static_cast<int>(std::clamp<std::size_t>(target / image, 1, static_cast<std::size_t>(std::max(1, fold_cap))));
  if (balance_threads > 1 && p.fold > 1) {
    const int items = (s.batch + p.fold - 1) / p.fold;
    const int balanced = (items + balance_threads - 1) / balance_threads * balance_threads;
    p.fold = std::max(1, (s.batch + balanced - 1) / balanced);
  }
  const std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  p.blocks = ((static_cast<std::size_t>(p.fold - 1) * p.pitch + p.out_h) * p.row + step - 1) / step;
  p.positions = p.blocks * step;
  const std::size_t reach = static_cast<std::size_t>(reach_h) * p.row + reach_w;
  // The last row written may spill up to 15 zeros (copy_strided).
  const std::size_t filled = (static_cast<std::size_t>(p.fold - 1) * p.pitch + p.plane_h - 1) * p.row + p.plane_w + 16;
  p.stride = round_up(std::max(p.positions + reach, filled), 16);
  const int cin_g = s.in_channels / s.groups, taps = s.kernel_h * s.kernel_w;
  auto& table = offset_storage(slot);
  table.resize(static_cast<std::size_t>(cin_g) * taps);
  for (int c = 0; c < cin_g; ++c)
    for (int i = 0; i < s.kernel_h; ++i)
      for (int j = 0; j < s.kernel_w; ++j) {
        const int a = i * s.dilation_h % s.stride_h, b = j * s.dilation_w % s.stride_w;
        table[static_cast<std::size_t>(c) * taps + static_cast<std::size_t>(i) * s.kernel_w + j] =
            static_cast<std::ptrdiff_t>((static_cast<std::size_t>(c) * p.phases() + a * p.phases_w + b) * p.stride) +
            static_cast<std::ptrdiff_t>(i * s.dilation_h / s.stride_h) * p.row + j * s.dilation_w / s.stride_w;
      }
  p.offsets = table.data();
  return p;
}

#if defined(__AVX512F__)
/// The first min(n, 16) lanes.
inline __mmask16 lanes(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1U << n) - 1U); }

/// The first min(n, 16) floats at p, and zeros after them. A load of a whole vector that
/// stays inside p's 4 KiB page cannot fault (the page holds p[0]), and it is much faster
/// than a masked load on some CPUs when the row's end is still on its way from memory;
/// the lanes past n are then zeroed in registers. keep_in_register keeps the compiler
/// from turning the pair back into a masked load. Under AddressSanitizer, which would
/// report the floats past the buffer, the load is masked.
inline __m512 load_first(const float* p, int n) {
  const __mmask16 m = lanes(n);
  if (n >= 16) return _mm512_loadu_ps(p);
#if defined(__SANITIZE_ADDRESS__)
  return _mm512_maskz_loadu_ps(m, p);
#else
  if ((reinterpret_cast<std::uintptr_t>(p) & 4095U) > 4096U - 64U) return _mm512_maskz_loadu_ps(m, p);
  __m512 v = _mm512_loadu_ps(p);
  keep_in_register(v);
  return _mm512_maskz_mov_ps(m, v);
#endif
}
#endif

/// d[i] = s[i * step] (or max(s[i * step], 0) with `relu`) for i in [0, n). The rows are
/// short (7 to 32 floats), so on AVX-512 vectors cut to length replace the scalar
/// remainder loops. Loads never read past the source row's page (load_first); stores are
/// whole vectors, since masked stores are slow on some CPUs, so up to 15 zeros land after
/// d[n - 1], which the caller must allow.
inline void copy_strided(float* __restrict d, const float* __restrict s, int n, int step, bool relu) {
#if defined(__AVX512F__)
  const __m512 zero = _mm512_setzero_ps();
  if (step == 1) {
    for (int i = 0; i < n; i += 16) {
      __m512 v = load_first(s + i, n - i);
      if (relu) v = _mm512_max_ps(zero, v);  // the second operand wins on NaN: NaN stays NaN
      _mm512_storeu_ps(d + i, v);
    }
    return;
  }
  if (step == 2) {  // the even floats of two vectors
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int i = 0; i < n; i += 16) {
      const int k = std::min(16, n - i), last = 2 * k - 1;  // reads s[2i .. 2i + last)
      const __m512 lo = load_first(s + 2 * i, last);
      const __m512 hi = last > 16 ? load_first(s + 2 * i + 16, last - 16) : _mm512_setzero_ps();
      __m512 v = _mm512_permutex2var_ps(lo, even, hi);
      if (relu) v = _mm512_max_ps(zero, v);  // the second operand wins on NaN: NaN stays NaN
      _mm512_storeu_ps(d + i, v);
    }
    return;
  }
#endif
  for (int i = 0; i < n; ++i) {
    const float v = s[static_cast<std::size_t>(i) * step];
    d[i] = relu && v <= 0.0f ? 0.0f : v;
  }
}

/// d[i] = s[i] + b for i in [0, n), or with `accumulate` d[i] = d[i] + (s[i] + b) (the
/// same float as adding a buffered s + b afterwards). Unless `last`, whole vectors are
/// read and written: the floats past n must belong to the rest of the plane, which the
/// caller writes later when overwriting, and which keep their values when accumulating.
inline void add_row(float* __restrict d, const float* __restrict s, int n, float b, bool last, bool accumulate) {
#if defined(__AVX512F__)
  const __m512 vb = _mm512_set1_ps(b);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    if (last) {
      const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + i), vb);
      _mm512_mask_storeu_ps(d + i, m, accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + i), v) : v);
    } else if (accumulate) {
      const __m512 old = _mm512_loadu_ps(d + i);
      _mm512_storeu_ps(d + i, _mm512_mask_add_ps(old, m, old, _mm512_add_ps(_mm512_loadu_ps(s + i), vb)));
    } else {
      _mm512_storeu_ps(d + i, _mm512_add_ps(_mm512_loadu_ps(s + i), vb));
    }
  }
#else
  (void)last;
  if (accumulate)
    for (int i = 0; i < n; ++i) d[i] += s[i] + b;
  else
    for (int i = 0; i < n; ++i) d[i] = s[i] + b;
#endif
}

/// Writes the real pixels of image `slot` of a fold into every used phase plane of
/// `channels` input planes [in_h, in_w]. The zeros around them are written once per call
/// (the buffer is zeroed before the first image): every slot has the same layout, so an
/// image only ever overwrites the previous one's pixels. With `relu`, negative inputs are
/// written as 0.
inline void fill_fold(const Conv2dShape& s, const FoldPlan& p, const float* img, int channels, float* planes, int slot,
                      bool relu) {
  const std::size_t base = static_cast<std::size_t>(slot) * p.pitch * p.row;
  for (int a = 0; a < p.phases_h; ++a) {
    // Rows t0 <= t < t1 of phase a are real: pad <= t * sh + a < pad + in_h; likewise columns.
    const int t0 = std::min(p.plane_h, std::max(0, (s.pad_h - a + s.stride_h - 1) / s.stride_h));
    const int t1 = std::min(p.plane_h, std::max(t0, (s.pad_h + s.in_h - a + s.stride_h - 1) / s.stride_h));
    for (int b = 0; b < p.phases_w; ++b) {
      if (!p.uses(a * p.phases_w + b)) continue;
      const int x0 = std::min(p.plane_w, std::max(0, (s.pad_w - b + s.stride_w - 1) / s.stride_w));
      const int x1 = std::min(p.plane_w, std::max(x0, (s.pad_w + s.in_w - b + s.stride_w - 1) / s.stride_w));
      if (x0 == x1) continue;
      for (int c = 0; c < channels; ++c) {
        const float* src = img + static_cast<std::size_t>(c) * s.in_h * s.in_w + (x0 * s.stride_w + b - s.pad_w);
        float* plane = planes + (static_cast<std::size_t>(c) * p.phases() + a * p.phases_w + b) * p.stride + base;
        for (int t = t0; t < t1; ++t)
          copy_strided(plane + static_cast<std::size_t>(t) * p.row + x0,
                       src + static_cast<std::size_t>(t * s.stride_h + a - s.pad_h) * s.in_w, x1 - x0, s.stride_w,
                       relu);
      }
    }
  }
}

/// y = conv(x) + bias (or y += conv(x) + bias with `accumulate`) for a convolution whose
/// weights are already packed (pack_weights, per group), optionally applying ReLU to x as
/// it is read. Any stride, padding, dilation, groups.
inline void direct_forward_packed(const Conv2dShape& s, const float* x, const float* packed, const float* bias,
                                  float* y, bool relu, Workspace& ws, bool accumulate = false) {
  const int oh = s.out_h(), ow = s.out_w(), cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int taps = s.kernel_h * s.kernel_w;
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t plane_out = static_cast<std::size_t>(oh) * ow;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * plane_out;
  // A 1x1 stride-1 kernel can read its planes in place when the last partial block wastes little.
  const std::size_t step = static_cast<std::size_t>(Vec::pos_block) * Vec::width;
  if (!relu && !accumulate && pointwise_applies(s) && (round_up(plane_out, step) - plane_out) * 16 <= plane_out) {
    const int threads0 = team_size(s.batch);
    const Pointwise pw = pointwise_tables(plane_out, cin_g);
    float* scratch = ws.buffer(4, (static_cast<std::size_t>(cin_g) + cout_g) * step * threads0);
    for_items(s.batch, threads0, [&](int t, int n) {
      float* tail_in = scratch + (static_cast<std::size_t>(cin_g) + cout_g) * step * t;
      for (int g = 0; g < s.groups; ++g)
        pointwise_planes(pw, x + x_img * n + pw.plane * g * cin_g, cin_g,
                         packed + static_cast<std::size_t>(g) * cout_g * cin_g, cout_g,
                         y + y_img * n + pw.plane * g * cout_g, tail_in, tail_in + static_cast<std::size_t>(cin_g) * step);
      if (bias)
        for (int o = 0; o < s.out_channels; ++o) {
          float* yo = y + y_img * n + pw.plane * o;
          for (std::size_t p = 0; p < pw.plane; ++p) yo[p] += bias[o];
        }
    });
    return;
  }
  // Fold at most half a thread's share of the batch, so the threads still get several
  // items, and make the item count a multiple of the thread count: 7x7 planes fold 14
  // images, and 5 items on 2 threads would leave one thread idle for a fifth of the layer.
  const int threads_wanted = nas::num_threads();
  const FoldPlan p = fold_plan(s, std::max(1, s.batch / (2 * threads_wanted)), 0, 1024, threads_wanted);
  const int whole_row = (ow + 15) / 16 * 16;  // floats add_row writes for a row that is not last
  const int items = (s.batch + p.fold - 1) / p.fold;
  const int threads = team_size(items);
  const std::size_t in_n = p.image_floats(s.in_channels), out_n = p.positions * cout_g;
  float* scratch = ws.buffer(4, (in_n + out_n) * threads);
  for (int t = 0; t < threads; ++t) std::fill(scratch + (in_n + out_n) * t, scratch + (in_n + out_n) * t + in_n, 0.0f);
  for_items(items, threads, [&](int t, int item) {
    float* planes = scratch + (in_n + out_n) * t;
    float* out = planes + in_n;
    const int n0 = item * p.fold, m = std::min(p.fold, s.batch - n0);
    for (int k = 0; k < m; ++k) fill_fold(s, p, x + x_img * (n0 + k), s.in_channels, planes, k, relu);
    const std::size_t used_blocks =
        ((static_cast<std::size_t>(m - 1) * p.pitch + oh) * p.row + step - 1) / step;
    for (int g = 0; g < s.groups; ++g) {
      direct_planes(planes + p.image_floats(g * cin_g), p.offsets, cin_g, taps,
                    packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps, cout_g, out, p.positions,
                    used_blocks);
      for (int k = 0; k < m; ++k)
        for (int o = 0; o < cout_g; ++o) {
          const int oc = g * cout_g + o;
          const float b = bias ? bias[oc] : 0.0f;
          float* yo = y + y_img * (n0 + k) + plane_out * oc;
          const float* src = out + p.positions * o + static_cast<std::size_t>(k) * p.pitch * p.row;
          for (int i = 0; i < oh; ++i)
            add_row(yo + static_cast<std::size_t>(i) * ow, src + static_cast<std::size_t>(i) * p.row, ow, b,
                    i * ow + whole_row > oh * ow, accumulate);
        }
    }
  });
}

/// dx as a convolution of dy needs the transposed padding dilation (kernel - 1) - pad >= 0.
inline bool direct_dx_applies(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.dilation_h * (s.kernel_h - 1) &&
         s.pad_w <= s.dilation_w * (s.kernel_w - 1);
}

inline void conv2d_forward_direct(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                  bool relu, Workspace& ws, bool accumulate) {
  const int cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups, taps = s.kernel_h * s.kernel_w;
  float* packed = ws.buffer(3, static_cast<std::size_t>(s.out_channels) * cin_g * taps);
  for (int g = 0; g < s.groups; ++g) {
    const float* wg = w + static_cast<std::size_t>(g) * cout_g * cin_g * taps;
    pack_weights(
        cout_g, cin_g, taps,
        [&](int o, int c, int t) { return wg[(static_cast<std::size_t>(o) * cin_g + c) * taps + t]; },
        packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps);
  }
  direct_forward_packed(s, x, packed, bias, y, relu, ws, accumulate);
}

/// dx at stride 1: the convolution of dy, padded by dilation (kernel - 1) - pad, with the
/// weights transposed (input and output channels swap) and flipped.
inline void conv2d_dx_direct(const Conv2dShape& s, const float* w, const float* dy, float* dx, Workspace& ws) {
  const int cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups, taps = s.kernel_h * s.kernel_w;
  Conv2dShape t = s;
  t.in_channels = s.out_channels;
  t.out_channels = s.in_channels;
  t.in_h = s.out_h();
  t.in_w = s.out_w();
  t.pad_h = s.dilation_h * (s.kernel_h - 1) - s.pad_h;
  t.pad_w = s.dilation_w * (s.kernel_w - 1) - s.pad_w;
  float* packed = ws.buffer(3, static_cast<std::size_t>(s.out_channels) * cin_g * taps);
  for (int g = 0; g < s.groups; ++g) {
    const float* wg = w + static_cast<std::size_t>(g) * cout_g * cin_g * taps;
    pack_weights(
        cin_g, cout_g, taps,
        [&](int c, int o, int k) { return wg[(static_cast<std::size_t>(o) * cin_g + c) * taps + (taps - 1 - k)]; },
        packed + static_cast<std::size_t>(g) * cout_g * cin_g * taps);
  }
  direct_forward_packed(t, dy, packed, nullptr, dx, false, ws);
}

/// dw and dbias (accumulated, +=) at any stride the fold plans take. dw is a dot product
/// over positions of dy and shifted input, blocked over (output channel) x (input channel,
/// tap); x is laid out as in the forward pass (FoldPlan: stride phases, images stacked,
/// zeros shared) and dy on the same positions, zero where no output is, so one sweep
/// covers several small images and a strided tap reads its phase plane like any other.
inline void conv2d_weight_grad_direct(const Conv2dShape& s, const float* x, const float* dy, float* dw, float* dbias,
                                      bool relu, Workspace& ws) {
  const int oh = s.out_h(), ow = s.out_w(), cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int taps = s.kernel_h * s.kernel_w;
  // dw and dbias are summed per chunk of images and the chunks added in order. The chunk
  // count does not depend on the thread count (up to 4 threads), so results are the same
  // bits for 1 to 4 threads, and chunks can be handed out dynamically.
  const int chunks = std::min(s.batch, std::max(4, nas::num_threads()));
  const int threads = team_size(chunks);
  const std::size_t x_img = static_cast<std::size_t>(s.in_channels) * s.in_h * s.in_w;
  const std::size_t y_img = static_cast<std::size_t>(s.out_channels) * oh * ow;
  const std::size_t w_n = static_cast<std::size_t>(s.out_channels) * cin_g * taps;
  constexpr int CO = Vec::out_block;
  // About 2048 positions a sweep: the block of CO dy rows stays in L1/L2 while every
  // (input channel, tap) triple streams past it.
  const int per_chunk_images = (s.batch + chunks - 1) / chunks;
  FoldPlan p;
  const std::ptrdiff_t* tap_off = nullptr;
  if (dw) {
    p = fold_plan(s, per_chunk_images, 1, 2048);
    tap_off = p.offsets;  // channel 0's entries are the tap offsets
  }
  const std::size_t xp_n = dw ? p.image_floats(s.in_channels) : 0, dyw_n = dw ? p.stride * s.out_channels : 0;
  const std::size_t channel_floats = dw ? p.image_floats(1) : 0;
  const std::size_t per_thread = xp_n + dyw_n;
  const std::size_t per_chunk = (dw ? w_n : 0) + (dbias ? s.out_channels : 0);
  float* scratch = ws.buffer(4, std::max<std::size_t>(per_thread * threads, 1));
  float* partials = ws.buffer(5, std::max<std::size_t>(per_chunk * chunks, 1));
  // Zeros are written once: each image overwrites only the real pixels and outputs.
  std::fill(scratch, scratch + per_thread * threads, 0.0f);
  for_items(chunks, threads, [&](int t, int c) {
    float* xp = scratch + per_thread * t;
    float* dyw = xp + xp_n;
    float* dw_part = partials + per_chunk * c;
    float* db_part = dw_part + (dw ? w_n : 0);
    if (dw) std::fill(dw_part, dw_part + w_n, 0.0f);
    const auto [b0, b1] = chunk_range(s.batch, chunks, c);
    for (int n0 = b0; dw && n0 < b1; n0 += p.fold) {
      const int m = std::min(p.fold, b1 - n0);
      for (int k = 0; k < m; ++k) {
        fill_fold(s, p, x + x_img * (n0 + k), s.in_channels, xp, k, relu);
        for (int o = 0; o < s.out_channels; ++o) {
          const float* src = dy + y_img * (n0 + k) + static_cast<std::size_t>(o) * oh * ow;
          float* dst = dyw + p.stride * o + static_cast<std::size_t>(k) * p.pitch * p.row;
          for (int i = 0; i < oh; ++i)
            copy_strided(dst + static_cast<std::size_t>(i) * p.row, src + static_cast<std::size_t>(i) * ow, ow, 1, false);
        }
      }
      // The sweep covers whole vectors: zero dy past the last output (an earlier, larger
      // fold may have left values there).
      const std::size_t used = (static_cast<std::size_t>(m - 1) * p.pitch + oh) * p.row;
      const std::size_t vectors = (used + Vec::width - 1) / Vec::width;
      for (int o = 0; o < s.out_channels; ++o)
        std::fill(dyw + p.stride * o + used, dyw + p.stride * o + vectors * Vec::width, 0.0f);
      for (int g = 0; g < s.groups; ++g)
        for (int o0 = 0; o0 < cout_g; o0 += CO)
          weight_grad_dispatch(std::min(CO, cout_g - o0), dyw + p.stride * (g * cout_g + o0), p.stride,
                               xp + p.image_floats(g * cin_g), channel_floats, cin_g, tap_off, taps, vectors,
                               dw_part + static_cast<std::size_t>(g * cout_g + o0) * cin_g * taps);
    }
    if (dbias)
      for (int o = 0; o < s.out_channels; ++o) {
        float acc = 0.0f;
        for (int n = b0; n < b1; ++n) {
          const float* row = dy + y_img * n + static_cast<std::size_t>(o) * oh * ow;
          for (int q = 0; q < oh * ow; ++q) acc += row[q];
        }
        db_part[o] = acc;
      }
  });
  if (dw) add_chunk_sums(partials, chunks, w_n, per_chunk, dw);
  if (dbias) add_chunk_sums(partials + (dw ? w_n : 0), chunks, s.out_channels, per_chunk, dbias);
}

}  // namespace detail

namespace detail {
/// dx[i] = 0 where x[i] <= 0: the gradient through a ReLU, in place (NaN passes, as in PyTorch).
inline void relu_mask(const float* __restrict x, float* __restrict dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = x[i] <= 0.0f ? 0.0f : dx[i];
}
}  // namespace detail

/// What the convolution applies to its input as it reads it.
enum class ConvInput {
  as_is,
  relu,  ///< max(x, 0): a preceding ReLU fused into the convolution (inference)
};

/// y = conv(x, w) + bias. y [batch, out_channels, out_h, out_w] is overwritten, or with
/// `accumulate` added to (y + (conv + bias), the same floats as adding a separately computed
/// output); bias may be nullptr. With ConvInput::relu the input is read as max(x, 0). y
/// must not overlap x. The kernels use the workspace's slots freely: do not hold its
/// buffers across a call.
inline void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                           Workspace& ws, ConvInput input = ConvInput::as_is, bool accumulate = false) {
  s.validate("conv2d_forward");
  NAS_ASSERT(x && w && y, "conv2d_forward: x, w and y must not be null");
  const bool relu = input == ConvInput::relu;
  if (detail::fold_applies(s))
    detail::conv2d_forward_direct(s, x, w, bias, y, relu, ws, accumulate);
  else
    detail::conv2d_forward_gemm(s, x, w, bias, y, relu, ws, accumulate);
}

/// Gradients of conv2d_forward given dy = dL/dy, for the same `input` mode: with
/// ConvInput::relu, dw is taken against max(x, 0) and dx is dL/dx through the ReLU (zero
/// where x <= 0). dx is overwritten; dw and dbias are accumulated into (+=). Any of dx, dw,
/// dbias may be nullptr to skip it.
inline void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                            float* dbias, Workspace& ws, ConvInput input = ConvInput::as_is) {
  s.validate("conv2d_backward");
  NAS_ASSERT(dy, "conv2d_backward: dy must not be null");
  NAS_ASSERT(!dw || x, "conv2d_backward: dw needs x");
  NAS_ASSERT(!dx || w, "conv2d_backward: dx needs w");
  const bool relu = input == ConvInput::relu;
  NAS_ASSERT(!dx || !relu || x, "conv2d_backward: dx through the ReLU needs x");
  if (!dx && !dw && !dbias) return;
  if (s.stride_h != 1 || s.stride_w != 1) {
    if (!detail::fold_applies(s)) {
      detail::conv2d_backward_gemm(s, x, w, dy, dx, dw, dbias, relu, ws);
    } else {
      if (dx) detail::conv2d_backward_gemm(s, x, w, dy, dx, nullptr, nullptr, false, ws);
      if (dw || dbias) detail::conv2d_weight_grad_direct(s, x, dy, dw, dbias, relu, ws);
    }
  } else {
    if (dx && detail::direct_dx_applies(s))
      detail::conv2d_dx_direct(s, w, dy, dx, ws);
    else if (dx)
      detail::conv2d_backward_gemm(s, x, w, dy, dx, nullptr, nullptr, false, ws);
    if (dw || dbias) detail::conv2d_weight_grad_direct(s, x, dy, dw, dbias, relu, ws);
  }
  if (dx && relu) {
    const std::size_t n = static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w;
    nas::detail::parallel_chunks(n, [x, dx](std::size_t lo, std::size_t hi) { detail::relu_mask(x + lo, dx + lo, hi - lo); });
  }
}

}  // namespace nas::kernels
