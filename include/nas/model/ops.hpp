// Cell operations by name: the NAS-Bench-201 and DARTS op vocabularies mapped to tensor Modules.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/blocks.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"
#include "nas/tensor/shape_ops.hpp"

namespace nas {

/// The geometry every op of one edge shares.
struct CellOpGeometry {
  int in_channels = 16;
  int out_channels = 16;
  int stride = 1;
  bool affine = true;
  bool track_running_stats = true;
};

/// A cell operation built for one edge, with what the cell executor needs to know about it
/// and what it was built as (its canonical kind and geometry), so that a built op can be
/// named, keyed and compared with the plan it came from.
struct CellOp {
  std::unique_ptr<Module> module;
  /// True for `none`: the edge contributes nothing and is never run.
  bool is_none = false;
  /// True when op(0) == 0 exactly (identity, pooling, none): such an edge leaving a node
  /// that is identically zero can be skipped. Ops ending in BatchNorm are not: on a zero
  /// input they output BN's shift, as the reference networks compute.
  bool zero_preserving = false;
  /// The canonical op name ("nor_conv_3x3", "skip_connect", ...), whatever alias built it.
  std::string kind;
  CellOpGeometry geometry;
};

/// What an op name means, known before anything is built: its canonical name, the kernel,
/// padding, dilation and grouping of its spatial convolution or pooling, and how the cell
/// executor treats it. cell_op_spec() is the single place these are decided: make_cell_op()
/// builds from it and network plans (nas/model/plan.hpp) describe ops with it.
struct CellOpSpec {
  std::string_view kind;  ///< canonical name
  int kernel = 0;         ///< spatial kernel (0: none, e.g. `none` and the identity)
  int padding = 0;
  int dilation = 1;
  bool depthwise = false;  ///< its spatial convolutions have groups = in_channels (sep_conv, dil_conv)
  bool is_none = false;
  bool zero_preserving = false;
};

namespace detail {
inline ConvBlockOptions conv_block(const CellOpGeometry& g, int kernel, int padding, int dilation = 1) {
  return ConvBlockOptions{.in_channels = g.in_channels, .out_channels = g.out_channels, .kernel = kernel,
                          .stride = g.stride, .padding = padding, .dilation = dilation, .affine = g.affine,
                          .track_running_stats = g.track_running_stats};
}

/// DARTS' conv_7x1_1x7: ReLU, 1x7 conv (stride (1, s)), 7x1 conv (stride (s, 1)), BN.
inline std::unique_ptr<Module> conv_7x1_1x7(const CellOpGeometry& g, Rng& rng) {
  auto seq = std::make_unique<Sequential>();
  seq->emplace<ReLU>();
  seq->emplace<Conv2d>(Conv2d::Options{.in_channels = g.in_channels, .out_channels = g.in_channels, .kernel_h = 1,
                                       .kernel_w = 7, .stride_h = 1, .stride_w = g.stride, .padding_h = 0, .padding_w = 3},
                       rng);
  seq->emplace<Conv2d>(Conv2d::Options{.in_channels = g.in_channels, .out_channels = g.out_channels, .kernel_h = 7,
                                       .kernel_w = 1, .stride_h = g.stride, .stride_w = 1, .padding_h = 3, .padding_w = 0},
                       rng);
  seq->emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = g.out_channels, .affine = g.affine,
                                                 .track_running_stats = g.track_running_stats});
  return seq;
}
}  // namespace detail

/// The op names make_cell_op() understands (NAS-Bench-201's and DARTS' spellings, and the
/// short names of CellSpace's seed preset).
inline constexpr std::string_view cell_op_names =
    "none (zero), skip_connect (skip, identity), nor_conv_1x1 (conv1x1, conv_1x1), nor_conv_3x3 (conv3x3, conv_3x3), "
    "nor_conv_5x5 (conv5x5, conv_5x5), avg_pool_3x3 (avgpool, avg_pool), max_pool_3x3 (maxpool, max_pool), "
    "sep_conv_3x3, sep_conv_5x5, sep_conv_7x7, dil_conv_3x3, dil_conv_5x5, conv_7x1_1x7";

/// The canonical spelling of an op name ("conv3x3" -> "nor_conv_3x3"), or an empty view
/// for a name make_cell_op() does not know.
[[nodiscard]] inline std::string_view canonical_cell_op(std::string_view name) noexcept {
  struct Alias {
    std::string_view name, canonical;
  };
  static constexpr Alias aliases[] = {
      {"none", "none"},
      {"zero", "none"},
      {"skip_connect", "skip_connect"},
      {"skip", "skip_connect"},
      {"identity", "skip_connect"},
      {"nor_conv_1x1", "nor_conv_1x1"},
      {"conv1x1", "nor_conv_1x1"},
      {"conv_1x1", "nor_conv_1x1"},
      {"nor_conv_3x3", "nor_conv_3x3"},
      {"conv3x3", "nor_conv_3x3"},
      {"conv_3x3", "nor_conv_3x3"},
      {"nor_conv_5x5", "nor_conv_5x5"},
      {"conv5x5", "nor_conv_5x5"},
      {"conv_5x5", "nor_conv_5x5"},
      {"avg_pool_3x3", "avg_pool_3x3"},
      {"avgpool", "avg_pool_3x3"},
      {"avg_pool", "avg_pool_3x3"},
      {"max_pool_3x3", "max_pool_3x3"},
      {"maxpool", "max_pool_3x3"},
      {"max_pool", "max_pool_3x3"},
      {"sep_conv_3x3", "sep_conv_3x3"},
      {"sep_conv_5x5", "sep_conv_5x5"},
      {"sep_conv_7x7", "sep_conv_7x7"},
      {"dil_conv_3x3", "dil_conv_3x3"},
      {"dil_conv_5x5", "dil_conv_5x5"},
      {"conv_7x1_1x7", "conv_7x1_1x7"},
  };
  for (const auto& a : aliases)
    if (a.name == name) return a.canonical;
  return {};
}

/// What op `name` is on an edge of geometry `g` (see CellOpSpec), as NAS-Bench-201
/// (cell_operations.py) and DARTS (operations.py) define it:
/// - `none`: Zero (strided, with out_channels channels);
/// - `skip_connect`: Identity when stride 1 and channels match, else FactorizedReduce;
/// - `nor_conv_kxk` / `convkxk`: ReLU-Conv(k, pad k/2, no bias)-BN;
/// - `avg_pool_3x3` (padding excluded from the mean) and `max_pool_3x3`: 3x3, pad 1,
///   preceded by a 1x1 ReLU-Conv-BN when the channels change (NB201's POOLING);
/// - `sep_conv_kxk`: SepConv (pad k/2); `dil_conv_3x3` / `dil_conv_5x5`: DilConv with
///   dilation 2 and pad 2 / 4; `conv_7x1_1x7` (kernel 7: a 1x7 then a 7x1 convolution).
/// Throws ConfigError naming the op and the known names, or the bad geometry.
[[nodiscard]] inline CellOpSpec cell_op_spec(std::string_view name, const CellOpGeometry& g) {
  if (g.in_channels < 1 || g.out_channels < 1)
    throw ConfigError("make_cell_op: channels " + std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) +
                      " (both must be >= 1)");
  if (g.stride != 1 && g.stride != 2)
    throw ConfigError("make_cell_op: stride (" + std::to_string(g.stride) + ") must be 1 or 2");
  const std::string_view kind = canonical_cell_op(name);
  if (kind.empty())
    throw ConfigError("make_cell_op: unknown operation '" + std::string(name) + "' (known: " + std::string(cell_op_names) +
                      ")");
  CellOpSpec s{.kind = kind};
  const bool same = g.stride == 1 && g.in_channels == g.out_channels;
  if (kind == "none") {
    s.is_none = true;
    s.zero_preserving = true;
  } else if (kind == "skip_connect") {
    s.zero_preserving = same;
    if (!same) s.kernel = 1;  // FactorizedReduce's 1x1 convolutions
  } else if (kind == "nor_conv_1x1" || kind == "nor_conv_3x3" || kind == "nor_conv_5x5") {
    s.kernel = kind == "nor_conv_1x1" ? 1 : kind == "nor_conv_3x3" ? 3 : 5;
    s.padding = s.kernel / 2;
  } else if (kind == "avg_pool_3x3" || kind == "max_pool_3x3") {
    s.kernel = 3;
    s.padding = 1;
    s.zero_preserving = g.in_channels == g.out_channels;
  } else if (kind == "sep_conv_3x3" || kind == "sep_conv_5x5" || kind == "sep_conv_7x7") {
    s.kernel = kind == "sep_conv_3x3" ? 3 : kind == "sep_conv_5x5" ? 5 : 7;
    s.padding = s.kernel / 2;
    s.depthwise = true;
  } else if (kind == "dil_conv_3x3" || kind == "dil_conv_5x5") {
    s.kernel = kind == "dil_conv_3x3" ? 3 : 5;
    s.dilation = 2;
    s.padding = s.kernel == 3 ? 2 : 4;
    s.depthwise = true;
  } else {  // conv_7x1_1x7
    s.kernel = 7;
    s.padding = 3;
  }
  return s;
}

/// Builds the operation `name` for one edge, as cell_op_spec() describes it. Throws
/// ConfigError naming the op and the known names.
inline CellOp make_cell_op(std::string_view name, const CellOpGeometry& g, Rng& rng) {
  const CellOpSpec spec = cell_op_spec(name, g);
  const std::string_view kind = spec.kind;
  CellOp op;
  op.is_none = spec.is_none;
  op.zero_preserving = spec.zero_preserving;
  op.kind = std::string(kind);
  op.geometry = g;
  const bool same = g.stride == 1 && g.in_channels == g.out_channels;
  if (kind == "none") {
    op.module = std::make_unique<Zero>(g.stride, g.out_channels);
  } else if (kind == "skip_connect") {
    if (same)
      op.module = std::make_unique<Identity>();
    else
      op.module = std::make_unique<FactorizedReduce>(detail::conv_block(g, 1, 0), rng);
  } else if (kind == "nor_conv_1x1" || kind == "nor_conv_3x3" || kind == "nor_conv_5x5") {
    op.module = std::make_unique<ReLUConvBN>(detail::conv_block(g, spec.kernel, spec.padding), rng);
  } else if (kind == "avg_pool_3x3" || kind == "max_pool_3x3") {
    const Pool2dOptions po{.kernel = 3, .stride = g.stride, .padding = 1};
    std::unique_ptr<Module> pool;
    if (kind == "avg_pool_3x3")
      pool = std::make_unique<AvgPool2d>(po, false);
    else
      pool = std::make_unique<MaxPool2d>(po);
    if (g.in_channels == g.out_channels) {
      op.module = std::move(pool);
    } else {
      auto seq = std::make_unique<Sequential>();
      seq->add(std::make_unique<ReLUConvBN>(
          detail::conv_block(CellOpGeometry{g.in_channels, g.out_channels, 1, g.affine, g.track_running_stats}, 1, 0), rng));
      seq->add(std::move(pool));
      op.module = std::move(seq);
    }
  } else if (spec.depthwise && spec.dilation == 1) {
    op.module = std::make_unique<SepConv>(detail::conv_block(g, spec.kernel, spec.padding), rng);
  } else if (spec.depthwise) {
    op.module = std::make_unique<DilConv>(detail::conv_block(g, spec.kernel, spec.padding, spec.dilation), rng);
  } else {  // conv_7x1_1x7
    op.module = detail::conv_7x1_1x7(g, rng);
  }
  return op;
}

}  // namespace nas
