// ConvBackend: oneDNN as an optional backend of Conv2d's forward, on the shapes where it measured faster than nas's kernels.
#pragma once

#include <algorithm>
#include <cstddef>

#include "nas/tensor/conv_kernels.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/workspace.hpp"

#if defined(NAS_HAVE_DNNL)
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>
#endif

namespace nas {

/// Which library computes a convolution.
enum class ConvBackend {
  own,           ///< nas::kernels: always there, the default
  dnnl_nchw,     ///< oneDNN on the NCHW tensors as they are
  dnnl_blocked,  ///< oneDNN in its blocked layout (nChw16c, ...), input, weights and output reordered per call
};

/// Whether nas was built with oneDNN: a target linking nas_dnnl (CMake NAS_WITH_DNNL finds
/// Debian's libdnnl-dev) defines NAS_HAVE_DNNL=1. Without it the backend is nas's own.
#if defined(NAS_HAVE_DNNL)
inline constexpr bool dnnl_available = true;
#else
inline constexpr bool dnnl_available = false;
#endif

namespace detail {
inline bool& dnnl_forward_flag() noexcept {
  thread_local bool on = true;
  return on;
}
}  // namespace detail

/// Lets (or stops) Conv2d's forward on the calling thread use oneDNN where it measured
/// faster; on by default when nas is built with oneDNN, without effect otherwise.
inline void set_dnnl_forward(bool on) noexcept { detail::dnnl_forward_flag() = on; }
[[nodiscard]] inline bool dnnl_forward() noexcept { return dnnl_available && detail::dnnl_forward_flag(); }

/// The backend that ran the forward of `s` fastest in benchmarks/reports/dnnl.md (oneDNN
/// 2.6.3 against nas's kernels on an Intel Xeon with AVX-512; NB201 and DARTS shapes at
/// batch 64 and 1, 1 and 2 threads), where oneDNN won by a margin that held across the
/// batch sizes and thread counts measured; nas's own kernels everywhere else and always
/// without oneDNN. A fixed rule rather than a timing at run time, so that the same shape
/// always takes the same path and results stay bit-identical for a seed and thread count.
[[nodiscard]] inline ConvBackend measured_forward_backend(const kernels::Conv2dShape& s) noexcept {
  if (!dnnl_available || s.groups != 1 || s.dilation_h != 1 || s.dilation_w != 1) return ConvBackend::own;
  const long long out_pixels = static_cast<long long>(s.out_h()) * s.out_w();
  // Pointwise 1x1 at stride 1 with 32 or more channels on one side (NB201's 1x1 at 2C and
  // 4C, DARTS' preprocessing): oneDNN's GEMM on the NCHW planes as they are, 1.4-2.7x.
  if (s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
      std::max(s.in_channels, s.out_channels) >= 32)
    return ConvBackend::dnnl_nchw;
  // 3x3 with 16 or more input channels and at most 14x14 outputs (NB201's cells at 2C and
  // 4C and its stride-2 reductions): oneDNN's blocked direct kernel, reorders included,
  // 1.1-2.4x. At 28x28 and 16 channels nas's kernel is as fast or faster.
  if (s.kernel_h == 3 && s.kernel_w == 3 && s.in_channels >= 16 && out_pixels <= 14 * 14)
    return ConvBackend::dnnl_blocked;
  return ConvBackend::own;
}

#if defined(NAS_HAVE_DNNL)
namespace detail {

/// One forward convolution on oneDNN for one shape, thread count and backend: the
/// primitive, the memories that wrap the caller's buffers (pointed at them per call), the
/// blocked tensors and reorders, and the argument maps, all made once, so that a call
/// allocates nothing.
class DnnlForward;

/// A nas convolution shape in oneDNN's terms: the NCHW tensors' and OIHW (GOIHW when
/// grouped) weights' dimensions and plain descriptors, the strides, oneDNN's dilation
/// (counted from 0) and the right padding that gives nas's output size.
struct DnnlConvGeometry {
  dnnl::memory::dims x_dims, y_dims, w_dims, strides, dilates, pad_l, pad_r;
  dnnl::memory::format_tag w_tag;
  dnnl::memory::desc x_md, y_md, w_md;

  explicit DnnlConvGeometry(const kernels::Conv2dShape& s) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const memory::dim N = s.batch, IC = s.in_channels, OC = s.out_channels, G = s.groups;
    x_dims = {N, IC, s.in_h, s.in_w};
    y_dims = {N, OC, s.out_h(), s.out_w()};
    w_dims = G == 1 ? memory::dims{OC, IC, s.kernel_h, s.kernel_w} : memory::dims{G, OC / G, IC / G, s.kernel_h, s.kernel_w};
    w_tag = G == 1 ? tag::oihw : tag::goihw;
    strides = {s.stride_h, s.stride_w};
    dilates = {s.dilation_h - 1, s.dilation_w - 1};
    pad_l = {s.pad_h, s.pad_w};
    pad_r = {(s.out_h() - 1) * s.stride_h + s.dilation_h * (s.kernel_h - 1) + 1 - s.in_h - s.pad_h,
             (s.out_w() - 1) * s.stride_w + s.dilation_w * (s.kernel_w - 1) + 1 - s.in_w - s.pad_w};
    x_md = memory::desc(x_dims, f32, tag::nchw);
    y_md = memory::desc(y_dims, f32, tag::nchw);
    w_md = memory::desc(w_dims, f32, w_tag);
  }
};

class DnnlForward {
 public:
  DnnlForward(const kernels::Conv2dShape& s, bool bias, ConvBackend backend, const dnnl::engine& eng) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const DnnlConvGeometry g(s);
    const auto& [x_dims, y_dims, w_dims, strides, dilates, pad_l, pad_r, w_tag, x_md, y_md, w_md] = g;
    const memory::desc b_md(memory::dims{s.out_channels}, f32, tag::x);
    const bool blocked = backend == ConvBackend::dnnl_blocked;
    const memory::desc xa = blocked ? memory::desc(x_dims, f32, tag::any) : x_md;
    const memory::desc ya = blocked ? memory::desc(y_dims, f32, tag::any) : y_md;
    const memory::desc wa = blocked ? memory::desc(w_dims, f32, tag::any) : w_md;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    using conv_t = dnnl::convolution_forward;
    const auto prop = dnnl::prop_kind::forward_training;
    const auto alg = dnnl::algorithm::convolution_direct;
    const conv_t::primitive_desc pd =
        bias ? conv_t::primitive_desc(conv_t::desc(prop, alg, xa, wa, b_md, ya, strides, dilates, pad_l, pad_r), attr, eng)
             : conv_t::primitive_desc(conv_t::desc(prop, alg, xa, wa, ya, strides, dilates, pad_l, pad_r), attr, eng);
    conv_ = conv_t(pd);
    x_ = memory(x_md, eng, DNNL_MEMORY_NONE), w_ = memory(w_md, eng, DNNL_MEMORY_NONE);
    y_ = memory(y_md, eng, DNNL_MEMORY_NONE), b_ = memory(b_md, eng, DNNL_MEMORY_NONE);
    const auto own_or_new = [&](const memory::desc& want, const memory& user) {
      return want == user.get_desc() ? user : memory(want, eng);
    };
    const memory cx = own_or_new(pd.src_desc(), x_), cw = own_or_new(pd.weights_desc(), w_);
    const memory cy = own_or_new(pd.dst_desc(), y_);
    const auto add_reorder = [&](std::vector<Step>& steps, const memory& from, const memory& to) {
      if (from.get_desc() != to.get_desc())
        steps.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    };
    add_reorder(before_, x_, cx);
    add_reorder(before_, w_, cw);
    add_reorder(after_, cy, y_);
    scratch_ = memory(pd.scratchpad_desc(), eng);
    args_ = {{DNNL_ARG_SRC, cx}, {DNNL_ARG_WEIGHTS, cw}, {DNNL_ARG_DST, cy}, {DNNL_ARG_SCRATCHPAD, scratch_}};
    if (bias) args_.insert({DNNL_ARG_BIAS, b_});
  }

  void run(dnnl::stream& strm, const float* x, const float* w, const float* bias, float* y) {
    // oneDNN reads through non-const handles; it does not write its inputs.
    x_.set_data_handle(const_cast<float*>(x));
    w_.set_data_handle(const_cast<float*>(w));
    if (bias) b_.set_data_handle(const_cast<float*>(bias));
    y_.set_data_handle(y);
    for (auto& st : before_) st.prim.execute(strm, st.args);
    conv_.execute(strm, args_);
    for (auto& st : after_) st.prim.execute(strm, st.args);
    strm.wait();
  }

 private:
  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, dnnl::memory> args;
  };
  dnnl::primitive conv_;
  dnnl::memory x_, w_, y_, b_, scratch_;
  std::vector<Step> before_, after_;
  std::unordered_map<int, dnnl::memory> args_;
};

inline const dnnl::engine& dnnl_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

}  // namespace detail

/// y = conv(x, w) + bias on oneDNN, the way `backend` says (dnnl_nchw or dnnl_blocked), with
/// x read as max(x, 0) for ConvInput::relu (through a scratch copy: oneDNN has no ReLU on
/// its input). Same contract as kernels::conv2d_forward without `accumulate`: y
/// [batch, out_channels, out_h, out_w] is overwritten, bias may be nullptr. The primitive of
/// a shape is made on first use per thread and thread count (oneDNN picks its kernels by
/// the thread count) and reused, so later calls allocate nothing. Throws dnnl::error when
/// oneDNN rejects the shape, ConfigError for ConvBackend::own.
inline void dnnl_conv2d_forward(const kernels::Conv2dShape& s, const float* x, const float* w, const float* bias,
                                float* y, ConvBackend backend, kernels::ConvInput input = kernels::ConvInput::as_is) {
  s.validate("dnnl_conv2d_forward");
  if (backend == ConvBackend::own) throw ConfigError("dnnl_conv2d_forward: backend own (expected dnnl_nchw or dnnl_blocked)");
  const int threads = num_threads();
  using Key = std::array<int, 17>;
  const Key key{s.batch,    s.in_channels, s.in_h,       s.in_w,       s.out_channels, s.kernel_h,
                s.kernel_w, s.stride_h,    s.stride_w,   s.pad_h,      s.pad_w,        s.dilation_h,
                s.dilation_w, s.groups,    bias ? 1 : 0, static_cast<int>(backend), threads};
  thread_local std::map<Key, std::unique_ptr<detail::DnnlForward>> cache;
  thread_local dnnl::stream strm(detail::dnnl_engine());
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, std::make_unique<detail::DnnlForward>(s, bias != nullptr, backend, detail::dnnl_engine())).first;
  if (input == kernels::ConvInput::relu) {
    const std::size_t n = static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w;
    float* r = thread_workspace().buffer(0, n);
    nas::detail::parallel_chunks(n, [x, r](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) r[i] = std::max(x[i], 0.0f);
    });
    x = r;
  }
  it->second->run(strm, x, w, bias, y);
}
#endif

}  // namespace nas
