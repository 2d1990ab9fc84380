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

/// A cell operation built for one edge, with what the cell executor needs to know about it.
struct CellOp {
  std::unique_ptr<Module> module;
  /// True for `none`: the edge contributes nothing and is never run.
  bool is_none = false;
  /// True when op(0) == 0 exactly (identity, pooling, none): such an edge leaving a node
  /// that is identically zero can be skipped. Ops ending in BatchNorm are not: on a zero
  /// input they output BN's shift, as the reference networks compute.
  bool zero_preserving = false;
};

/// The geometry every op of one edge shares.
struct CellOpGeometry {
  int in_channels = 16;
  int out_channels = 16;
  int stride = 1;
  bool affine = true;
  bool track_running_stats = true;
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
    "none, skip_connect (skip, identity), nor_conv_1x1 (conv1x1, conv_1x1), nor_conv_3x3 (conv3x3, conv_3x3), "
    "conv5x5 (conv_5x5), avg_pool_3x3 (avgpool), max_pool_3x3 (maxpool), sep_conv_3x3, sep_conv_5x5, sep_conv_7x7, "
    "dil_conv_3x3, dil_conv_5x5, conv_7x1_1x7";

/// Builds the operation `name` for one edge, as NAS-Bench-201 (cell_operations.py) and DARTS
/// (operations.py) define it:
/// - `none`: Zero (strided, with out_channels channels);
/// - `skip_connect`: Identity when stride 1 and channels match, else FactorizedReduce;
/// - `nor_conv_kxk` / `convkxk`: ReLU-Conv(k, pad k/2, no bias)-BN;
/// - `avg_pool_3x3` (padding excluded from the mean) and `max_pool_3x3`: 3x3, pad 1,
///   preceded by a 1x1 ReLU-Conv-BN when the channels change (NB201's POOLING);
/// - `sep_conv_kxk`: SepConv (pad k/2); `dil_conv_3x3` / `dil_conv_5x5`: DilConv with
///   dilation 2 and pad 2 / 4; `conv_7x1_1x7`.
/// Throws ConfigError naming the op and the known names.
inline CellOp make_cell_op(std::string_view name, const CellOpGeometry& g, Rng& rng) {
  if (g.in_channels < 1 || g.out_channels < 1)
    throw ConfigError("make_cell_op: channels " + std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) +
                      " (both must be >= 1)");
  if (g.stride != 1 && g.stride != 2)
    throw ConfigError("make_cell_op: stride (" + std::to_string(g.stride) + ") must be 1 or 2");
  CellOp op;
  auto is = [name](std::initializer_list<std::string_view> names) {
    for (auto n : names)
      if (n == name) return true;
    return false;
  };
  const bool same = g.stride == 1 && g.in_channels == g.out_channels;
  if (is({"none", "zero"})) {
    op.module = std::make_unique<Zero>(g.stride, g.out_channels);
    op.is_none = true;
    op.zero_preserving = true;
  } else if (is({"skip_connect", "skip", "identity"})) {
    if (same) {
      op.module = std::make_unique<Identity>();
      op.zero_preserving = true;
    } else {
      op.module = std::make_unique<FactorizedReduce>(detail::conv_block(g, 1, 0), rng);
    }
  } else if (is({"nor_conv_1x1", "conv1x1", "conv_1x1"})) {
    op.module = std::make_unique<ReLUConvBN>(detail::conv_block(g, 1, 0), rng);
  } else if (is({"nor_conv_3x3", "conv3x3", "conv_3x3"})) {
    op.module = std::make_unique<ReLUConvBN>(detail::conv_block(g, 3, 1), rng);
  } else if (is({"nor_conv_5x5", "conv5x5", "conv_5x5"})) {
    op.module = std::make_unique<ReLUConvBN>(detail::conv_block(g, 5, 2), rng);
  } else if (is({"avg_pool_3x3", "avgpool", "avg_pool"}) || is({"max_pool_3x3", "maxpool", "max_pool"})) {
    const bool avg = is({"avg_pool_3x3", "avgpool", "avg_pool"});
    const Pool2dOptions po{.kernel = 3, .stride = g.stride, .padding = 1};
    std::unique_ptr<Module> pool;
    if (avg)
      pool = std::make_unique<AvgPool2d>(po, false);
    else
      pool = std::make_unique<MaxPool2d>(po);
    if (g.in_channels == g.out_channels) {
      op.module = std::move(pool);
      op.zero_preserving = true;
    } else {
      auto seq = std::make_unique<Sequential>();
      seq->add(std::make_unique<ReLUConvBN>(
          detail::conv_block(CellOpGeometry{g.in_channels, g.out_channels, 1, g.affine, g.track_running_stats}, 1, 0), rng));
      seq->add(std::move(pool));
      op.module = std::move(seq);
    }
  } else if (is({"sep_conv_3x3"})) {
    op.module = std::make_unique<SepConv>(detail::conv_block(g, 3, 1), rng);
  } else if (is({"sep_conv_5x5"})) {
    op.module = std::make_unique<SepConv>(detail::conv_block(g, 5, 2), rng);
  } else if (is({"sep_conv_7x7"})) {
    op.module = std::make_unique<SepConv>(detail::conv_block(g, 7, 3), rng);
  } else if (is({"dil_conv_3x3"})) {
    op.module = std::make_unique<DilConv>(detail::conv_block(g, 3, 2, 2), rng);
  } else if (is({"dil_conv_5x5"})) {
    op.module = std::make_unique<DilConv>(detail::conv_block(g, 5, 4, 2), rng);
  } else if (is({"conv_7x1_1x7"})) {
    op.module = detail::conv_7x1_1x7(g, rng);
  } else {
    throw ConfigError("make_cell_op: unknown operation '" + std::string(name) + "' (known: " + std::string(cell_op_names) +
                      ")");
  }
  return op;
}

}  // namespace nas
