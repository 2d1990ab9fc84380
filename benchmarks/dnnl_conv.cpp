// nas's convolution kernels against oneDNN's, per convolution shape of the NB201 and DARTS
// networks and per pass (forward, forward with a fused ReLU, backward-data, backward-weights),
// alternating repeats in one run; writes dnnl.md, dnnl.csv, dnnl.json and dnnl.svg.
//
//   dnnl_conv --out benchmarks/reports [--repeats 7] [--threads 1,2] [--batches 64,1]
//
// oneDNN runs in three way_count: in plain NCHW (format_tag::nchw, weights oihw/goihw), in the
// layout it prefers (format_tag::any, e.g. nChw16c) with the reorders from and to NCHW
// counted (what a drop-in backend under NCHW tensors pays), and in that layout with nothing
// reordered (what a network that keeps the blocked layout between layers pays). Built only
// when CMake finds oneDNN (NAS_WITH_DNNL).
#include "peer.hpp"

#include <nas/model/cell_network.hpp>
#include <nas/model/graph.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/svg.hpp>
#include <nas/space/cell_space.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/conv_kernels.hpp>
#include <nas/tensor/dnnl_backend.hpp>
#include <nas/tensor/loss.hpp>
#include <nas/tensor/optim.hpp>
#include <nas/tensor/threads.hpp>
#include <nas/tensor/workspace.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nas_bench::fixed;
using nas_bench::Stats;
using nas_bench::summarize;
using Clock = std::chrono::steady_clock;
using nas::kernels::Conv2dShape;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---------------------------------------------------------------------------------------
// The shapes: every distinct convolution of the networks, found by tracing them.

constexpr int kImage = 28;
const char* const kNb201Arch =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
// Every convolution op of the DARTS space in both cell types: separable and dilated 3x3 and 5x5.
const char* const kDartsGenotype =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('dil_conv_5x5', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('dil_conv_5x5', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

struct Network {
  std::string key, label;
};
const std::vector<Network> kNetworks{{"nb201_a", "NB201 (a) N=1, C=16"},
                                     {"nb201_b", "NB201 (b) N=5, C=16"},
                                     {"darts", "DARTS cell network, 8 cells, C=16"}};

/// One distinct convolution (batch left at 1) and how often each network runs it.
struct ConvCase {
  Conv2dShape s;
  std::string name;
  std::map<std::string, int> count;  // network key -> convolutions of this shape in one forward
  bool stem = false;                 // reads the network's input, so training needs no dx of it
};

std::string shape_key(const Conv2dShape& s) {
  std::ostringstream o;
  o << s.in_channels << ' ' << s.in_h << ' ' << s.in_w << ' ' << s.out_channels << ' ' << s.kernel_h << ' '
    << s.kernel_w << ' ' << s.stride_h << ' ' << s.stride_w << ' ' << s.pad_h << ' ' << s.pad_w << ' ' << s.dilation_h
    << ' ' << s.dilation_w << ' ' << s.groups;
  return o.str();
}

/// "dw5x5 d2 s2 32 @14" (depthwise), "3x3 s2 16>32 @28", "1x1 48>16 @28".
std::string shape_name(const Conv2dShape& s) {
  std::string n;
  const bool depthwise = s.groups > 1 && s.groups == s.in_channels && s.groups == s.out_channels;
  if (depthwise) n = "dw";
  else if (s.groups > 1) n = "g" + std::to_string(s.groups) + " ";
  n += std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w);
  if (s.dilation_h > 1) n += " d" + std::to_string(s.dilation_h);
  if (s.stride_h > 1) n += " s" + std::to_string(s.stride_h);
  n += depthwise ? " " + std::to_string(s.in_channels)
                 : " " + std::to_string(s.in_channels) + ">" + std::to_string(s.out_channels);
  n += " @" + std::to_string(s.in_h);
  return n;
}

std::unique_ptr<nas::Module> build(const std::string& key) {
  const nas::NetworkInput in{.channels = 1, .height = kImage, .width = kImage, .classes = 10};
  if (key == "darts") {
    const nas::CellSpace space = nas::CellSpace::darts();
    return nas::make_network(space, space.decode(kDartsGenotype), in,
                             nas::NetworkOptions{.channels = 16, .cells = 8, .seed = 0});
  }
  const nas::Nb201Space space;
  return nas::make_network(space, space.decode(kNb201Arch), in,
                           nas::NetworkOptions{.channels = 16, .cells = key == "nb201_a" ? 1 : 5, .seed = 0});
}

std::vector<ConvCase> collect_cases() {
  std::vector<ConvCase> cases;
  std::map<std::string, std::size_t> index;
  for (const auto& net : kNetworks) {
    auto module = build(net.key);
    const nas::NetworkGraph g = nas::trace(*module, nas::Shape{1, 1, kImage, kImage});
    for (const auto& node : g.nodes) {
      if (node.kind != nas::NodeKind::conv2d) continue;
      const nas::Shape& in = g.nodes.at(static_cast<std::size_t>(node.inputs.at(0))).shape;
      const nas::ConvGeometry& c = node.conv;
      Conv2dShape s;
      s.batch = 1;
      s.in_channels = c.in_channels, s.in_h = in[2], s.in_w = in[3], s.out_channels = c.out_channels;
      s.kernel_h = c.kernel_h, s.kernel_w = c.kernel_w, s.stride_h = c.stride_h, s.stride_w = c.stride_w;
      s.pad_h = c.pad_h, s.pad_w = c.pad_w, s.dilation_h = c.dilation_h, s.dilation_w = c.dilation_w;
      s.groups = c.groups;
      const std::string k = shape_key(s);
      auto it = index.find(k);
      if (it == index.end()) {
        it = index.emplace(k, cases.size()).first;
        cases.push_back({s, shape_name(s), {}});
      }
      ++cases[it->second].count[net.key];
      if (node.inputs.at(0) == 0) cases[it->second].stem = true;
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// The passes and the way_count each runs.

enum class Pass { fwd, fwd_relu, bwd_data, bwd_weights };
const std::vector<Pass> kPasses{Pass::fwd, Pass::fwd_relu, Pass::bwd_data, Pass::bwd_weights};
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::fwd: return "fwd";
    case Pass::fwd_relu: return "fwd+relu";
    case Pass::bwd_data: return "bwd-data";
    case Pass::bwd_weights: return "bwd-weights";
  }
  return "?";
}

// The way_count, in the order they are timed and reported.
enum Way { way_nas = 0, way_nchw = 1, way_blocked_reorders = 2, way_blocked = 3, way_count = 4 };
const char* way_key(int w) {
  static const char* const keys[] = {"nas", "dnnl_nchw", "dnnl_blocked_reorders", "dnnl_blocked"};
  return keys[w];
}

std::string isa_name(dnnl::cpu_isa isa) {
  using dnnl::cpu_isa;
  switch (isa) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_mic: return "avx512_mic";
    case cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

std::string format_name(const dnnl::memory::desc& md) {
  // The blocking structure of a plain (non-opaque) layout as "16c" style inner blocks.
  const dnnl_memory_desc_t& c = md.data;
  if (c.format_kind != dnnl_blocked) return "opaque";
  std::string s = "strides";
  for (int i = 0; i < c.ndims; ++i) s += (i ? "," : ":") + std::to_string(c.format_desc.blocking.strides[i]);
  for (int i = 0; i < c.format_desc.blocking.inner_nblks; ++i)
    s += " " + std::to_string(c.format_desc.blocking.inner_blks[i]) + "@" +
         std::to_string(c.format_desc.blocking.inner_idxs[i]);
  return s;
}

/// One convolution on both libraries with its own buffers: NCHW inputs and outputs for
/// each side, oneDNN's blocked tensors, primitives and reorders.
class Bench {
 public:
  Bench(const Conv2dShape& s, dnnl::engine& eng, dnnl::stream& strm) : s_(s), eng_(eng), strm_(strm) {
    std::mt19937 gen(7);
    std::normal_distribution<float> normal;
    const std::size_t x_n = static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w;
    const std::size_t y_n = static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w();
    const std::size_t w_n =
        static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w;
    const float w_scale = 1.0f / std::sqrt(static_cast<float>(w_n / s.out_channels));
    x_.resize(x_n), dy_.resize(y_n), w_.resize(w_n);
    for (auto& v : x_) v = normal(gen);
    for (auto& v : dy_) v = normal(gen);
    for (auto& v : w_) v = w_scale * normal(gen);
    for (auto* v : {&y_nas_, &y_dnnl_}) v->assign(y_n, 0.0f);
    for (auto* v : {&dx_nas_, &dx_dnnl_}) v->assign(x_n, 0.0f);
    for (auto* v : {&dw_nas_, &dw_dnnl_}) v->assign(w_n, 0.0f);
    make_primitives();
  }

  /// One call of `pass` the `way` says.
  std::function<void()> step(Pass pass, int way) {
    if (way == way_nas) {
      switch (pass) {
        case Pass::fwd:
          return [this] { nas::kernels::conv2d_forward(s_, x_.data(), w_.data(), nullptr, y_nas_.data(), ws_); };
        case Pass::fwd_relu:
          // nas fuses the ReLU into the read of its input (ReLU -> conv), oneDNN into the
          // write of its output (conv -> ReLU): in a ReLU-Conv-BN chain the same ReLU.
          return [this] {
            nas::kernels::conv2d_forward(s_, x_.data(), w_.data(), nullptr, y_nas_.data(), ws_,
                                         nas::kernels::ConvInput::relu);
          };
        case Pass::bwd_data:
          return [this] {
            nas::kernels::conv2d_backward(s_, x_.data(), w_.data(), dy_.data(), dx_nas_.data(), nullptr, nullptr, ws_);
          };
        case Pass::bwd_weights:
          return [this] {
            nas::kernels::conv2d_backward(s_, x_.data(), w_.data(), dy_.data(), nullptr, dw_nas_.data(), nullptr, ws_);
          };
      }
    }
    Prims& p = way == way_nchw ? plain_ : blocked_;
    const bool reorders = way == way_blocked_reorders;
    switch (pass) {
      case Pass::fwd:
      case Pass::fwd_relu: {
        Fwd& f = pass == Pass::fwd ? p.fwd : p.fwd_relu;
        return [this, &f, reorders] {
          if (reorders) reorder(f.x_in, user_x_, f.x), reorder(f.w_in, user_w_, f.w);
          f.conv.execute(strm_, {{DNNL_ARG_SRC, f.x}, {DNNL_ARG_WEIGHTS, f.w}, {DNNL_ARG_DST, f.y}});
          if (reorders) reorder(f.y_out, f.y, user_y_);
          strm_.wait();
        };
      }
      case Pass::bwd_data:
        return [this, &p, reorders] {
          if (reorders) reorder(p.dy_in_data, user_dy_, p.dy_data), reorder(p.w_in_data, user_w_, p.w_data);
          p.bwd_data.execute(strm_, {{DNNL_ARG_DIFF_DST, p.dy_data}, {DNNL_ARG_WEIGHTS, p.w_data}, {DNNL_ARG_DIFF_SRC, p.dx}});
          if (reorders) reorder(p.dx_out, p.dx, user_dx_);
          strm_.wait();
        };
      case Pass::bwd_weights:
        return [this, &p, reorders] {
          if (reorders) reorder(p.x_in_weights, user_x_, p.x_weights), reorder(p.dy_in_weights, user_dy_, p.dy_weights);
          p.bwd_weights.execute(strm_,
                                {{DNNL_ARG_SRC, p.x_weights}, {DNNL_ARG_DIFF_DST, p.dy_weights}, {DNNL_ARG_DIFF_WEIGHTS, p.dw}});
          if (reorders) reorder(p.dw_out, p.dw, user_dw_);
          strm_.wait();
        };
    }
    return {};
  }

  /// The largest |nas - oneDNN| of `pass` run the `way` says (oneDNN's result brought back to
  /// NCHW), and the largest |nas| for scale.
  std::pair<double, double> max_abs_diff(Pass pass, int way) {
    Prims& p = way == way_nchw ? plain_ : blocked_;
    std::vector<float>* ref = nullptr;
    std::vector<float>* got = nullptr;
    switch (pass) {
      case Pass::fwd:
      case Pass::fwd_relu:
        nas::kernels::conv2d_forward(s_, x_.data(), w_.data(), nullptr, y_nas_.data(), ws_);
        if (pass == Pass::fwd_relu)
          for (auto& v : y_nas_) v = std::max(v, 0.0f);
        {
          Fwd& f = pass == Pass::fwd ? p.fwd : p.fwd_relu;
          std::fill(y_dnnl_.begin(), y_dnnl_.end(), NAN);
          reorder(f.x_in, user_x_, f.x), reorder(f.w_in, user_w_, f.w);
          f.conv.execute(strm_, {{DNNL_ARG_SRC, f.x}, {DNNL_ARG_WEIGHTS, f.w}, {DNNL_ARG_DST, f.y}});
          reorder(f.y_out, f.y, user_y_);
        }
        ref = &y_nas_, got = &y_dnnl_;
        break;
      case Pass::bwd_data:
        nas::kernels::conv2d_backward(s_, x_.data(), w_.data(), dy_.data(), dx_nas_.data(), nullptr, nullptr, ws_);
        std::fill(dx_dnnl_.begin(), dx_dnnl_.end(), NAN);
        reorder(p.dy_in_data, user_dy_, p.dy_data), reorder(p.w_in_data, user_w_, p.w_data);
        p.bwd_data.execute(strm_, {{DNNL_ARG_DIFF_DST, p.dy_data}, {DNNL_ARG_WEIGHTS, p.w_data}, {DNNL_ARG_DIFF_SRC, p.dx}});
        reorder(p.dx_out, p.dx, user_dx_);
        ref = &dx_nas_, got = &dx_dnnl_;
        break;
      case Pass::bwd_weights:
        std::fill(dw_nas_.begin(), dw_nas_.end(), 0.0f);  // nas accumulates into dw
        nas::kernels::conv2d_backward(s_, x_.data(), w_.data(), dy_.data(), nullptr, dw_nas_.data(), nullptr, ws_);
        std::fill(dw_dnnl_.begin(), dw_dnnl_.end(), NAN);
        reorder(p.x_in_weights, user_x_, p.x_weights), reorder(p.dy_in_weights, user_dy_, p.dy_weights);
        p.bwd_weights.execute(strm_,
                              {{DNNL_ARG_SRC, p.x_weights}, {DNNL_ARG_DIFF_DST, p.dy_weights}, {DNNL_ARG_DIFF_WEIGHTS, p.dw}});
        reorder(p.dw_out, p.dw, user_dw_);
        ref = &dw_nas_, got = &dw_dnnl_;
        break;
    }
    strm_.wait();
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < ref->size(); ++i) {
      const double d = std::abs(static_cast<double>((*ref)[i]) - (*got)[i]);
      diff = std::isnan(d) ? INFINITY : std::max(diff, d);
      scale = std::max(scale, std::abs(static_cast<double>((*ref)[i])));
    }
    return {diff, scale};
  }

  /// oneDNN's implementation of `pass` for `way` ("jit:avx512_core", "gemm:jit", ...).
  std::string impl(Pass pass, int way) const {
    const Prims& p = way == way_nchw ? plain_ : blocked_;
    switch (pass) {
      case Pass::fwd: return p.fwd.impl;
      case Pass::fwd_relu: return p.fwd_relu.impl;
      case Pass::bwd_data: return p.bwd_data_impl;
      case Pass::bwd_weights: return p.bwd_weights_impl;
    }
    return "";
  }
  /// The blocked layout oneDNN chose for the forward's source ("strides:... 16@1": 16 channels inner).
  std::string blocked_src_format() const { return format_name(blocked_.fwd.x.get_desc()); }

 private:
  // A reorder that is not needed (the layouts agree) is an empty primitive and does nothing.
  // A forward primitive with its memories and reorders (the fused inference forward may
  // choose other layouts than the training forward, so each has its own).
  struct Fwd {
    dnnl::primitive conv;
    std::string impl;
    dnnl::memory x, w, y;
    dnnl::primitive x_in, w_in, y_out;
  };
  struct Prims {
    Fwd fwd, fwd_relu;
    dnnl::primitive bwd_data, bwd_weights;
    std::string bwd_data_impl, bwd_weights_impl;
    dnnl::memory dy_data, w_data, dx;           // backward-data
    dnnl::memory x_weights, dy_weights, dw;     // backward-weights
    dnnl::primitive dy_in_data, w_in_data, dx_out, x_in_weights, dy_in_weights;
    dnnl::primitive dw_out;
  };
  void make_fwd(Fwd& f, const dnnl::convolution_forward::primitive_desc& pd) {
    f.conv = dnnl::convolution_forward(pd);
    f.impl = pd.impl_info_str();
    f.x = take(pd.src_desc(), user_x_), f.w = take(pd.weights_desc(), user_w_), f.y = take(pd.dst_desc(), user_y_);
    f.x_in = reorder_between(user_x_, f.x), f.w_in = reorder_between(user_w_, f.w), f.y_out = reorder_between(f.y, user_y_);
  }

  void reorder(dnnl::primitive& r, dnnl::memory& from, dnnl::memory& to) {
    if (r) r.execute(strm_, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  }

  /// The memory `pd` wants for an argument, the user's NCHW memory when that is the same layout.
  dnnl::memory take(const dnnl::memory::desc& want, dnnl::memory& user) {
    return want == user.get_desc() ? user : dnnl::memory(want, eng_);
  }
  dnnl::primitive reorder_between(dnnl::memory& from, dnnl::memory& to) {
    if (from.get_desc() == to.get_desc()) return {};
    return dnnl::reorder(from, to);
  }

  void make_primitives() {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const nas::detail::DnnlConvGeometry g(s_);
    const auto& [x_dims, y_dims, w_dims, strides, dilates, pad_l, pad_r, w_tag, x_md, y_md, w_md] = g;
    user_x_ = memory(x_md, eng_, x_.data());
    user_y_ = memory(y_md, eng_, y_dnnl_.data());
    user_w_ = memory(w_md, eng_, w_.data());
    user_dy_ = memory(y_md, eng_, dy_.data());
    user_dx_ = memory(x_md, eng_, dx_dnnl_.data());
    user_dw_ = memory(w_md, eng_, dw_dnnl_.data());
    const auto alg = dnnl::algorithm::convolution_direct;

    for (Prims* p : {&plain_, &blocked_}) {
      const bool any = p == &blocked_;
      const memory::desc xa(x_dims, f32, any ? tag::any : tag::nchw), ya(y_dims, f32, any ? tag::any : tag::nchw);
      const memory::desc wa(w_dims, f32, any ? tag::any : w_tag);
      using fwd_t = dnnl::convolution_forward;
      const fwd_t::primitive_desc fwd_pd(
          fwd_t::desc(dnnl::prop_kind::forward_training, alg, xa, wa, ya, strides, dilates, pad_l, pad_r), eng_);
      dnnl::post_ops relu;
      relu.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(relu);
      const fwd_t::primitive_desc relu_pd(
          fwd_t::desc(dnnl::prop_kind::forward_inference, alg, xa, wa, ya, strides, dilates, pad_l, pad_r), attr, eng_);
      using bwd_data_t = dnnl::convolution_backward_data;
      const bwd_data_t::primitive_desc data_pd(bwd_data_t::desc(alg, xa, wa, ya, strides, dilates, pad_l, pad_r), eng_,
                                               fwd_pd);
      using bwd_weights_t = dnnl::convolution_backward_weights;
      const bwd_weights_t::primitive_desc weights_pd(bwd_weights_t::desc(alg, xa, wa, ya, strides, dilates, pad_l, pad_r),
                                                     eng_, fwd_pd);
      make_fwd(p->fwd, fwd_pd), make_fwd(p->fwd_relu, relu_pd);
      p->bwd_data = bwd_data_t(data_pd), p->bwd_weights = bwd_weights_t(weights_pd);
      p->bwd_data_impl = data_pd.impl_info_str(), p->bwd_weights_impl = weights_pd.impl_info_str();
      p->dy_data = take(data_pd.diff_dst_desc(), user_dy_), p->w_data = take(data_pd.weights_desc(), user_w_);
      p->dx = take(data_pd.diff_src_desc(), user_dx_);
      p->x_weights = take(weights_pd.src_desc(), user_x_), p->dy_weights = take(weights_pd.diff_dst_desc(), user_dy_);
      p->dw = take(weights_pd.diff_weights_desc(), user_dw_);
      p->dy_in_data = reorder_between(user_dy_, p->dy_data), p->w_in_data = reorder_between(user_w_, p->w_data);
      p->dx_out = reorder_between(p->dx, user_dx_);
      p->x_in_weights = reorder_between(user_x_, p->x_weights), p->dy_in_weights = reorder_between(user_dy_, p->dy_weights);
      p->dw_out = reorder_between(p->dw, user_dw_);
    }
    // The blocked tensors start from the user's values, so that "without reorders" runs on real data.
    for (Prims* p : {&blocked_}) {
      for (Fwd* f : {&p->fwd, &p->fwd_relu}) reorder(f->x_in, user_x_, f->x), reorder(f->w_in, user_w_, f->w);
      reorder(p->dy_in_data, user_dy_, p->dy_data), reorder(p->w_in_data, user_w_, p->w_data);
      reorder(p->x_in_weights, user_x_, p->x_weights), reorder(p->dy_in_weights, user_dy_, p->dy_weights);
    }
    strm_.wait();
  }

  Conv2dShape s_;
  dnnl::engine& eng_;
  dnnl::stream& strm_;
  nas::Workspace ws_;
  std::vector<float> x_, w_, dy_, y_nas_, y_dnnl_, dx_nas_, dx_dnnl_, dw_nas_, dw_dnnl_;
  dnnl::memory user_x_, user_y_, user_w_, user_dy_, user_dx_, user_dw_;
  Prims plain_, blocked_;
};

/// Seconds per call of f over `iters` calls.
double time_calls(const std::function<void()>& f, int iters) {
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) f();
  return seconds_since(t0) / iters;
}

struct Row {
  std::size_t case_index = 0;
  int batch = 0, threads = 0;
  Pass pass = Pass::fwd;
  Stats ms[way_count];
  double diff[way_count] = {0, 0, 0, 0}, scale = 0;
  std::string impl[way_count];
  /// t_nas / t_way: above 1, that way of oneDNN is faster than nas.
  [[nodiscard]] double speedup(int way) const { return ms[way_nas].median / ms[way].median; }
  /// The fastest of nas and the way_count an NCHW library can call (oneDNN in nchw, or blocked
  /// with the reorders): what a per-shape choice under NCHW tensors gets.
  [[nodiscard]] int best_nchw_way() const {
    int best = way_nas;
    for (int w : {way_nchw, way_blocked_reorders})
      if (ms[w].median < ms[best].median) best = w;
    return best;
  }
};

std::string ms_text(const Stats& s) {
  const int d = s.median < 0.1 ? 4 : 3;
  return fixed(s.median, d) + " [" + fixed(s.min, d) + "-" + fixed(s.max, d) + "]";
}

/// Training steps of one network (SGD with momentum, a fixed random batch) with Conv2d's
/// forward on oneDNN where nas::measured_forward_backend says (on) or on nas's kernels
/// only (off), alternating; milliseconds per step for off and on.
std::pair<Stats, Stats> network_steps(const std::string& key, int batch, int repeats, double repeat_seconds) {
  auto net = build(key);
  nas::Tensor x(nas::Shape{batch, 1, kImage, kImage});
  nas::Rng rng(1);
  x.fill_normal(rng);
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (auto& y : labels) y = static_cast<int>(rng.uniform_int(0, 9));
  nas::SGD optimizer(net->parameters(), nas::SGD::Options{.lr = 0.01, .momentum = 0.9});
  nas::SoftmaxCrossEntropy loss;
  net->train(true);
  const auto step = [&] {
    optimizer.zero_grad();
    loss.forward(net->forward(x), labels);
    net->backward(loss.backward());
    optimizer.step();
  };
  const auto timed = [&](bool on, int iters) {
    nas::set_dnnl_forward(on);
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) step();
    return seconds_since(t0) / iters * 1e3;
  };
  timed(false, 2), timed(true, 2);  // warm-up: buffers, oneDNN primitives
  const int iters = std::max(1, static_cast<int>(repeat_seconds / std::max(1e-6, timed(false, 1) * 1e-3)));
  std::vector<double> off, on;
  for (int r = 0; r < repeats; ++r) off.push_back(timed(false, iters)), on.push_back(timed(true, iters));
  nas::set_dnnl_forward(true);
  return {summarize(off), summarize(on)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("nas's convolution kernels against oneDNN's, per shape of the NB201 and DARTS networks and per pass");
  std::string out_dir;
  int repeats = 7;
  std::vector<int> thread_counts{1, 2};
  std::vector<int> batches{64, 1};
  double repeat_seconds = 0.02, warm_seconds = 0.06;
  std::string only;
  app.add_option("--out", out_dir, "Directory for dnnl.md/.csv/.json/.svg (nothing written when empty)");
  app.add_option("--repeats", repeats, "Timed repeats per way (>= 7 for the report)")->check(CLI::Range(1, 1000));
  app.add_option("--threads", thread_counts, "Thread counts")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--batches", batches, "Batch sizes")->delimiter(',')->check(CLI::Range(1, 4096));
  app.add_option("--repeat-seconds", repeat_seconds, "Approximate length of one repeat of one way")
      ->check(CLI::Range(1e-4, 10.0));
  app.add_option("--warm-seconds", warm_seconds, "Warm-up of each way per shape and pass")->check(CLI::Range(0.0, 60.0));
  app.add_option("--only", only, "Only the shapes whose name contains this text (e.g. \"dw5x5\")");
  bool networks_only = false;
  app.add_flag("--networks-only", networks_only,
               "Only time NB201 training steps with Conv2d's oneDNN forward on and off (writes dnnl_network.csv)");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;

  try {
    std::string command = "dnnl_conv";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    const auto [cpu, cores] = nas_bench::machine();
    const std::string flags = nas_bench::command_output(
        "lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|amx_tile)$' | tr '\\n' ' '");
    const std::string date = nas_bench::utc_now();
    const std::string load_before = nas_bench::load_average();
    const dnnl_version_t* v = dnnl::version();
    const std::string dnnl_version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    const std::string dnnl_isa = isa_name(dnnl::get_effective_cpu_isa());
    std::cout << "machine: " << cpu << ", " << cores << " CPUs, " << flags << "\noneDNN " << dnnl_version
              << ", ISA " << dnnl_isa << "\n";

    if (networks_only) {
      // Whole training steps: what the backend of Conv2d's forward (dnnl_backend.hpp) gives.
      std::ostringstream table;
      table << "| network | batch | threads | own kernels ms/step | with oneDNN forward ms/step | ratio (own / with) |\n"
            << "|---|---|---|---|---|---|\n";
      std::ofstream csv;
      if (!out_dir.empty()) {
        std::filesystem::create_directories(out_dir);
        csv.open(out_dir + "/dnnl_network.csv");
        csv << "network,batch,threads,own_ms_median,own_ms_min,own_ms_max,dnnl_ms_median,dnnl_ms_min,dnnl_ms_max,ratio\n";
      }
      for (const std::string key : {"nb201_a", "nb201_b"})
        for (int batch : batches)
          for (int threads : thread_counts) {
            nas::set_num_threads(threads);
            omp_set_num_threads(threads);
            const auto [off, on] = network_steps(key, batch, repeats, std::max(repeat_seconds, 0.3));
            const double ratio = off.median / on.median;
            std::cout << key << " b" << batch << " t" << threads << ": own " << ms_text(off) << ", with oneDNN "
                      << ms_text(on) << ", ratio " << fixed(ratio, 2) << "\n";
            table << "| " << (key == "nb201_a" ? "NB201 (a)" : "NB201 (b)") << " | " << batch << " | " << threads
                  << " | " << ms_text(off) << " | " << ms_text(on) << " | " << fixed(ratio, 2) << " |\n";
            if (csv.is_open())
              csv << key << "," << batch << "," << threads << "," << off.median << "," << off.min << "," << off.max
                  << "," << on.median << "," << on.min << "," << on.max << "," << ratio << "\n";
          }
      std::cout << "\n" << table.str() << "load average (1, 5, 15 min): before " << load_before << ", after "
                << nas_bench::load_average() << "\n";
      return 0;
    }
    std::vector<ConvCase> cases = collect_cases();
    if (!only.empty())
      cases.erase(std::remove_if(cases.begin(), cases.end(),
                                 [&](const ConvCase& c) { return c.name.find(only) == std::string::npos; }),
                  cases.end());
    if (cases.empty()) {
      std::cerr << "dnnl_conv: --only '" << only << "' matches no shape\n";
      return 2;
    }
    std::cout << cases.size() << " distinct convolution shapes\n";

    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::vector<Row> rows;
    int mismatches = 0;
    std::map<std::string, std::string> blocked_format;  // shape name -> oneDNN's source layout
    for (int batch : batches)
      for (int threads : thread_counts) {
        nas::set_num_threads(threads);
        omp_set_num_threads(threads);  // oneDNN's OpenMP runtime; nas::set_num_threads sets it too
        for (std::size_t ci = 0; ci < cases.size(); ++ci) {
          Conv2dShape s = cases[ci].s;
          s.batch = batch;
          Bench bench(s, eng, strm);  // primitives made at this thread count, as oneDNN picks kernels by it
          if (batch == batches.front()) blocked_format[cases[ci].name] = bench.blocked_src_format();
          for (Pass pass : kPasses) {
            Row row;
            row.case_index = ci, row.batch = batch, row.threads = threads, row.pass = pass;
            for (int w = way_nchw; w < way_count; w += (w == way_nchw ? 1 : 2)) {
              // Blocked with and without reorders compute the same; checked once.
              const auto [d, scale] = bench.max_abs_diff(pass, w);
              row.diff[w] = d, row.scale = scale;
              if (!(d <= 1e-4 * std::max(1.0, scale))) ++mismatches;
            }
            row.diff[way_blocked] = row.diff[way_blocked_reorders];
            std::vector<std::function<void()>> f;
            std::vector<int> iters;
            for (int w = 0; w < way_count; ++w) {
              f.push_back(bench.step(pass, w));
              row.impl[w] = w == way_nas ? "nas" : bench.impl(pass, w);
              for (const auto t0 = Clock::now(); seconds_since(t0) < warm_seconds;) f.back()();
              const double one = time_calls(f.back(), 3);
              iters.push_back(std::max(1, static_cast<int>(repeat_seconds / std::max(one, 1e-7))));
            }
            std::vector<double> t[way_count];
            for (int r = 0; r < repeats; ++r)
              for (int w = 0; w < way_count; ++w) t[w].push_back(time_calls(f[static_cast<std::size_t>(w)], iters[static_cast<std::size_t>(w)]) * 1e3);
            for (int w = 0; w < way_count; ++w) row.ms[w] = summarize(t[w]);
            std::cout << "b" << batch << " t" << threads << " " << cases[ci].name << " " << pass_name(pass) << ": nas "
                      << ms_text(row.ms[way_nas]);
            for (int w = way_nchw; w < way_count; ++w) std::cout << " | " << way_key(w) << " " << ms_text(row.ms[w]);
            std::cout << " | max |diff| nchw " << row.diff[way_nchw] << " blocked " << row.diff[way_blocked]
                      << " (max |nas| " << row.scale << ") | " << row.impl[way_nchw] << " / "
                      << row.impl[way_blocked] << "\n";
            rows.push_back(std::move(row));
          }
        }
      }
    const std::string load_after = nas_bench::load_average();
    std::cout << "numerical mismatches (max |diff| > 1e-4 max(1, max |nas|)): " << mismatches << "\n";
    std::cout << "load average (1, 5, 15 min): before " << load_before << ", after " << load_after << "\n";
    if (out_dir.empty()) return 0;
    std::filesystem::create_directories(out_dir);

    // Network totals: the time of one step's convolutions, each shape counted as often as the
    // network runs it. Training = fwd + bwd-data + bwd-weights; inference = fwd+relu.
    struct Total {
      double t[way_count + 1] = {0, 0, 0, 0, 0};  // the way_count, then the per-shape best under NCHW
    };
    auto total = [&](const std::string& net, int batch, int threads, bool training) {
      Total sum;
      for (const auto& r : rows) {
        if (r.batch != batch || r.threads != threads) continue;
        if (training ? r.pass == Pass::fwd_relu : r.pass != Pass::fwd_relu) continue;
        if (training && r.pass == Pass::bwd_data && cases[r.case_index].stem) continue;
        const auto it = cases[r.case_index].count.find(net);
        if (it == cases[r.case_index].count.end()) continue;
        for (int w = 0; w < way_count; ++w) sum.t[w] += it->second * r.ms[w].median;
        sum.t[way_count] += it->second * r.ms[r.best_nchw_way()].median;
      }
      return sum;
    };

    // CSV: one line per shape, batch, threads, pass and way.
    {
      std::ofstream csv(out_dir + "/dnnl.csv");
      csv << "shape,in_channels,out_channels,in_h,kernel,stride,padding,dilation,groups,batch,threads,pass,way,ms_median,"
             "ms_min,ms_max,speedup_over_nas,max_abs_diff,max_abs_nas,implementation";
      for (const auto& n : kNetworks) csv << ",count_" << n.key;
      csv << "\n";
      for (const auto& r : rows) {
        const ConvCase& c = cases[r.case_index];
        for (int w = 0; w < way_count; ++w) {
          csv << '"' << c.name << "\"," << c.s.in_channels << "," << c.s.out_channels << "," << c.s.in_h << ","
              << c.s.kernel_h << "," << c.s.stride_h << "," << c.s.pad_h << "," << c.s.dilation_h << "," << c.s.groups
              << "," << r.batch << "," << r.threads << "," << pass_name(r.pass) << "," << way_key(w) << ","
              << fixed(r.ms[w].median, 5) << "," << fixed(r.ms[w].min, 5) << "," << fixed(r.ms[w].max, 5) << ","
              << fixed(r.speedup(w), 4) << "," << (w == way_nas ? 0.0 : r.diff[w]) << "," << r.scale << ",\""
              << r.impl[w] << "\"";
          for (const auto& n : kNetworks) {
            const auto it = c.count.find(n.key);
            csv << "," << (it == c.count.end() ? 0 : it->second);
          }
          csv << "\n";
        }
      }
    }
    // JSON
    {
      nlohmann::json j;
      j["command"] = command, j["date"] = date, j["cpu"] = cpu, j["cpus"] = cores, j["isa_flags"] = flags;
      j["dnnl_version"] = dnnl_version, j["dnnl_isa"] = dnnl_isa, j["repeats"] = repeats;
      j["load_average_before"] = load_before, j["load_average_after"] = load_after, j["mismatches"] = mismatches;
      for (const auto& r : rows) {
        nlohmann::json e{{"shape", cases[r.case_index].name}, {"batch", r.batch}, {"threads", r.threads},
                         {"pass", pass_name(r.pass)}, {"max_abs_nas", r.scale}};
        for (int w = 0; w < way_count; ++w)
          e[way_key(w)] = {{"median_ms", r.ms[w].median}, {"min_ms", r.ms[w].min}, {"max_ms", r.ms[w].max},
                           {"max_abs_diff", w == way_nas ? 0.0 : r.diff[w]}, {"implementation", r.impl[w]}};
        j["rows"].push_back(e);
      }
      for (const auto& n : kNetworks)
        for (int batch : batches)
          for (int threads : thread_counts)
            for (bool training : {true, false}) {
              const Total t = total(n.key, batch, threads, training);
              nlohmann::json e{{"network", n.key}, {"batch", batch}, {"threads", threads},
                               {"step", training ? "training" : "inference"}, {"best_per_shape_nchw_ms", t.t[way_count]}};
              for (int w = 0; w < way_count; ++w) e[std::string(way_key(w)) + "_ms"] = t.t[w];
              j["network_totals"].push_back(e);
            }
      std::ofstream(out_dir + "/dnnl.json") << j.dump(2) << "\n";
    }
    // SVG: per shape and pass, nas time / time of the fastest oneDNN way an NCHW library can
    // call (nchw, or blocked with reorders), at the first batch and thread count.
    {
      const int b0 = batches.front(), t0 = thread_counts.front();
      nas::BarChart chart({.title = "nas time / oneDNN time (faster of nchw and blocked + reorders), batch " +
                                    std::to_string(b0) + ", " + std::to_string(t0) + " thread" + (t0 == 1 ? "" : "s"),
                           .y_label = "above 1: oneDNN faster",
                           .width = 1800,
                           .height = 560});
      std::vector<std::string> names;
      for (const auto& c : cases) names.push_back(c.name);
      chart.categories(names);
      for (Pass pass : kPasses) {
        std::vector<double> values(cases.size(), NAN);
        for (const auto& r : rows)
          if (r.batch == b0 && r.threads == t0 && r.pass == pass)
            values[r.case_index] = r.ms[way_nas].median / std::min(r.ms[way_nchw].median, r.ms[way_blocked_reorders].median);
        chart.add(pass_name(pass), values);
      }
      chart.reference(1.0, "parity");
      chart.save(out_dir + "/dnnl.svg");
    }
    // Markdown
    {
      std::ofstream md(out_dir + "/dnnl.md");
      md << "# Convolution kernels: nas vs oneDNN\n\n"
         << "Every distinct convolution of the NB201 networks (a) N=1 and (b) N=5 (C=16, 1x28x28 input, the cell "
         << "`" << kNb201Arch << "`: stem 3x3, cell 1x1 and 3x3 at C, 2C, 4C, the stride-2 3x3 and the 1x1 shortcut "
         << "of the reduction blocks) and of a DARTS network (8 cells, C=16, a genotype with every convolution op of "
         << "the space: separable and dilated 3x3 and 5x5, so depthwise 3x3/5x5, dilated depthwise and pointwise 1x1, "
         << "at stride 1 and 2, plus the cells' 1x1 preprocessing), found by tracing the built networks. Each runs "
         << "four passes on nas's kernels (`nas::kernels::conv2d_forward` / `conv2d_backward`) and on oneDNN "
         << dnnl_version << " (Debian `libdnnl-dev`, the library PyTorch 1.13 runs its CPU convolutions on) in "
         << "three ways:\n\n"
         << "- **nchw**: oneDNN on plain NCHW tensors and OIHW weights, as nas holds them;\n"
         << "- **blocked + reorders**: oneDNN in the layout it prefers (`format_tag::any`, e.g. nChw16c), with the "
         << "reorders of the inputs (activations and weights) from NCHW and of the result back counted: what a "
         << "drop-in backend under nas's NCHW tensors pays;\n"
         << "- **blocked**: the same primitive with nothing reordered: what a network pays that keeps oneDNN's "
         << "layout between layers (weights included, the optimizer stepping on them in that layout).\n\n"
         << "Passes: fwd (forward, `forward_training`), fwd+relu (inference forward with the ReLU fused: oneDNN as "
         << "an eltwise post-op on its output, nas as `ConvInput::relu` on its input; in a ReLU-Conv-BN chain this "
         << "is the same ReLU), bwd-data (dx), bwd-weights (dw). No bias, float32.\n\n"
         << "Before timing, each oneDNN way's result (brought back to NCHW) is compared with nas's: the largest "
         << "absolute difference over all shapes, batches, threads and passes is in `dnnl.csv` (`max_abs_diff`, "
         << "beside the largest |nas| value); " << mismatches << " results differed by more than 1e-4 x max(1, "
         << "largest |value|).\n\n"
         << "All ways of one shape and pass run in one process, alternating (nas, nchw, blocked + reorders, blocked, "
         << "nas, ...) after a warm-up of each; each repeat times a run of calls of about "
         << fixed(repeat_seconds * 1e3, 0) << " ms; medians over " << repeats << " repeats with [min-max].\n\n"
         << "- Command: `" << command
         << "` (build with `-DCMAKE_BUILD_TYPE=Release -DNAS_NATIVE=ON`; the target exists when CMake finds oneDNN)\n"
         << "- Date: " << date << "\n"
         << "- Machine: " << cpu << ", " << cores << " CPUs (lscpu); ISA flags: " << flags
         << "; oneDNN's effective ISA: " << dnnl_isa << "\n"
         << "- Threads: nas::set_num_threads(n) and omp_set_num_threads(n) (oneDNN's OpenMP runtime); primitives "
         << "are made after the thread count is set\n"
         << "- Load average (1, 5, 15 min) of the machine, which other jobs share: before " << load_before
         << ", after " << load_after << "\n\n";

      md << "## One step's convolutions per network\n\n"
         << "The sum over a network's convolutions (each shape as often as the network runs it) of the median "
         << "times: training = fwd + bwd-data + bwd-weights (no bwd-data for the stem, which reads the images), inference = fwd+relu. \"Best per shape\" picks, per "
         << "shape and pass, the fastest of nas, oneDNN nchw and oneDNN blocked + reorders: what a per-shape "
         << "backend choice under NCHW tensors would give. Ratio = nas / that way (above 1: faster than nas).\n\n"
         << "| network | batch | threads | step | nas ms | oneDNN nchw | oneDNN blocked + reorders | oneDNN blocked "
         << "(layout kept) | best per shape (NCHW) |\n|---|---|---|---|---|---|---|---|---|\n";
      for (const auto& n : kNetworks)
        for (int batch : batches)
          for (int threads : thread_counts)
            for (bool training : {true, false}) {
              const Total t = total(n.key, batch, threads, training);
              md << "| " << n.label << " | " << batch << " | " << threads << " | "
                 << (training ? "training" : "inference") << " | " << fixed(t.t[way_nas], 3);
              for (int w = way_nchw; w <= way_count; ++w)
                md << " | " << fixed(t.t[w], 3) << " (" << fixed(t.t[way_nas] / t.t[w], 2) << ")";
              md << " |\n";
            }
      md << "\n![nas time / oneDNN time per shape and pass](dnnl.svg)\n\n";

      md << "## Per shape and pass\n\n"
         << "Each cell: nas's median ms, then nas time / oneDNN time for nchw, blocked + reorders and blocked "
         << "(above 1: oneDNN faster), and the winner among the ways usable under NCHW tensors (nas, nchw, "
         << "blocked + reorders). Counts: convolutions of the shape in one forward of (a) / (b) / DARTS. min-max "
         << "of every figure, the implementations oneDNN chose and the numerical differences are in `dnnl.csv`.\n\n";
      for (int batch : batches)
        for (int threads : thread_counts) {
          md << "### Batch " << batch << ", " << threads << " thread" << (threads == 1 ? "" : "s") << "\n\n"
             << "| shape | counts |";
          for (Pass pass : kPasses) md << " " << pass_name(pass) << " |";
          md << "\n|---|---|---|---|---|---|\n";
          for (std::size_t ci = 0; ci < cases.size(); ++ci) {
            md << "| " << cases[ci].name << " | ";
            for (std::size_t k = 0; k < kNetworks.size(); ++k) {
              const auto it = cases[ci].count.find(kNetworks[k].key);
              md << (k ? "/" : "") << (it == cases[ci].count.end() ? 0 : it->second);
            }
            md << " |";
            for (Pass pass : kPasses)
              for (const auto& r : rows)
                if (r.case_index == ci && r.batch == batch && r.threads == threads && r.pass == pass) {
                  md << " " << fixed(r.ms[way_nas].median, r.ms[way_nas].median < 0.1 ? 4 : 3) << ": "
                     << fixed(r.speedup(way_nchw), 2) << " / " << fixed(r.speedup(way_blocked_reorders), 2) << " / "
                     << fixed(r.speedup(way_blocked), 2) << " **"
                     << (r.best_nchw_way() == way_nas ? "nas" : r.best_nchw_way() == way_nchw ? "nchw" : "blk+r")
                     << "** |";
                }
            md << "\n";
          }
          md << "\n";
        }
      md << "## oneDNN's layouts and implementations\n\n"
         << "The source layout oneDNN chose with `format_tag::any` (strides per dimension N, C, H, W, then the "
         << "inner blocks as size@dimension; `16@1` is nChw16c):\n\n";
      for (const auto& c : cases) md << "- " << c.name << ": " << blocked_format[c.name] << "\n";
      md << "\nImplementations (batch " << batches.front() << ", " << thread_counts.front()
         << " thread" << (thread_counts.front() == 1 ? "" : "s") << "; nchw / blocked):\n\n";
      for (const auto& r : rows)
        if (r.batch == batches.front() && r.threads == thread_counts.front())
          md << "- " << cases[r.case_index].name << " " << pass_name(r.pass) << ": " << r.impl[way_nchw] << " / "
             << r.impl[way_blocked] << "\n";
      md << "\n";
    }
    std::cout << "wrote " << out_dir << "/dnnl.{md,csv,json,svg}\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dnnl_conv: " << e.what() << "\n";
    return 1;
  }
}
