// NetworkPlan: a network described before any tensor exists: its ops in execution order, with geometry, cost and keys.
#pragma once

#include <algorithm>
#include <charconv>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/model/ops.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/chain_space.hpp"
#include "nas/space/nb201_space.hpp"
#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/blocks.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/linear.hpp"
#include "nas/tensor/mobile_blocks.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/pooling.hpp"

namespace nas {

/// What the data fixes about a network: image channels, height, width and the number of classes.
struct NetworkInput {
  int channels = 3;
  int height = 32;
  int width = 32;
  int classes = 10;

  /// The input of a data set's images.
  [[nodiscard]] static NetworkInput of(const Dataset& d) { return {d.channels, d.height, d.width, d.classes}; }
  /// The shape of a batch of `n` images.
  [[nodiscard]] Shape batch(int n) const { return Shape{n, channels, height, width}; }

  void validate(const char* where) const {
    if (channels < 1 || height < 1 || width < 1 || classes < 2)
      throw ConfigError(std::string(where) + ": input " + std::to_string(channels) + "x" + std::to_string(height) + "x" +
                        std::to_string(width) + " with " + std::to_string(classes) +
                        " classes (need positive sizes and >= 2 classes)");
  }
};

/// What the user chooses about a network's size.
struct NetworkOptions {
  int channels = 16;  ///< C: channels of the first stage (NB201) or of the first cells (DARTS)
  /// N: cells per stage for Nb201Space (3 stages, N = 5 in the benchmark); the total number
  /// of cells for CellSpace (reductions at 1/3 and 2/3 of them, 8 in DARTS' search).
  int cells = 5;
  int stem_multiplier = 3;  ///< CellSpace only: the stem has stem_multiplier * C channels (DARTS)
  std::uint64_t seed = 0;   ///< weight initialisation
  Init init = Init::torch_default;

  void validate(const char* where) const {
    if (channels < 1 || cells < 1 || stem_multiplier < 1)
      throw ConfigError(std::string(where) + ": channels (" + std::to_string(channels) + "), cells (" +
                        std::to_string(cells) + ") and stem_multiplier (" + std::to_string(stem_multiplier) +
                        ") must be >= 1");
  }
};

/// The tensor of one image: channels, height, width (a classifier's output is classes x 1 x 1).
struct ImageShape {
  int channels = 0;
  int height = 0;
  int width = 0;

  [[nodiscard]] std::size_t numel() const noexcept {
    return static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  }
  /// "16x32x32".
  [[nodiscard]] std::string str() const {
    return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
  }
  friend bool operator==(const ImageShape&, const ImageShape&) = default;
};

/// Where an op sits in the network.
enum class OpRole : std::uint8_t {
  stem,        ///< the stem convolution and its BatchNorm
  preprocess,  ///< a DARTS cell's input preprocessing (1x1 ReLU-Conv-BN or FactorizedReduce)
  edge,        ///< the op on one edge of a cell
  reduction,   ///< NAS-Bench-201's residual block between stages
  head,        ///< what follows the last cell: BN, ReLU, global pooling, classifier
  block,       ///< an inverted residual block of a layer-wise network (ChainSpace)
};

[[nodiscard]] inline std::string_view to_string(OpRole r) noexcept {
  switch (r) {
    case OpRole::stem: return "stem";
    case OpRole::preprocess: return "preprocess";
    case OpRole::edge: return "edge";
    case OpRole::reduction: return "reduction";
    case OpRole::head: return "head";
    case OpRole::block: return "block";
  }
  return "?";
}

/// The configuration of one op, as a latency table or a cost cache indexes it: its kind and
/// everything that fixes its arithmetic (channels, input height and width, kernel, stride,
/// groups, dilation, whether its BatchNorms are affine). Two ops with equal keys compute the
/// same function of the same shapes, wherever they occur (which cell, which edge, which
/// architecture). Canonical string:
///
///     <kind>:c<in>-<out>:h<H>w<W>:k<kernel>:s<stride>[:g<groups>][:d<dilation>][:noaffine]
///
/// e.g. `nor_conv_3x3:c16-16:h32w32:k3:s1` or `sep_conv_5x5:c32-32:h16w16:k5:s2:g32`; the
/// optional parts appear exactly when they differ from 1 / affine, so every key has one
/// spelling and parse(str()) round-trips.
struct OpKey {
  std::string kind;
  int in_channels = 0;
  int out_channels = 0;
  int height = 0;  ///< of the input
  int width = 0;   ///< of the input
  int kernel = 0;  ///< 0 when the op has no spatial kernel (identity, BN, ReLU, classifier)
  int stride = 1;
  int groups = 1;
  int dilation = 1;
  bool affine = true;

  [[nodiscard]] std::string str() const {
    std::string s = kind + ":c" + std::to_string(in_channels) + "-" + std::to_string(out_channels) + ":h" +
                    std::to_string(height) + "w" + std::to_string(width) + ":k" + std::to_string(kernel) + ":s" +
                    std::to_string(stride);
    if (groups != 1) s += ":g" + std::to_string(groups);
    if (dilation != 1) s += ":d" + std::to_string(dilation);
    if (!affine) s += ":noaffine";
    return s;
  }

  /// Reads the canonical string; throws ParseError naming the part that is malformed.
  [[nodiscard]] static OpKey parse(std::string_view text);

  friend bool operator==(const OpKey&, const OpKey&) = default;
  friend auto operator<=>(const OpKey&, const OpKey&) = default;
};

}  // namespace nas

template <>
struct std::hash<nas::OpKey> {
  std::size_t operator()(const nas::OpKey& k) const noexcept {
    std::size_t h = std::hash<std::string>{}(k.kind);
    for (int v : {k.in_channels, k.out_channels, k.height, k.width, k.kernel, k.stride, k.groups, k.dilation})
      h = nas::hash_combine(h, static_cast<std::size_t>(static_cast<unsigned>(v)));
    return nas::hash_combine(h, k.affine ? 1u : 0u);
  }
};

namespace nas {

namespace detail {
// A non-negative decimal integer without sign or leading zeros, the whole of `s`.
inline bool parse_key_int(std::string_view s, int& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  for (char ch : s)
    if (ch < '0' || ch > '9') return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace detail

inline OpKey OpKey::parse(std::string_view text) {
  auto fail = [text](std::string_view part, std::string_view expected) -> ParseError {
    return ParseError("OpKey::parse: '" + std::string(part) + "' in \"" + std::string(text) + "\" is not " +
                      std::string(expected));
  };
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 5)
    throw ParseError("OpKey::parse: \"" + std::string(text) + "\" has " + std::to_string(parts.size()) +
                     " parts (expected kind:c<in>-<out>:h<H>w<W>:k<kernel>:s<stride>[:g<groups>][:d<dilation>][:noaffine])");
  OpKey k;
  const std::string_view kind = parts[0];
  const bool kind_ok = !kind.empty() && std::all_of(kind.begin(), kind.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
  if (!kind_ok) throw fail(kind, "an op kind (lower-case letters, digits and '_')");
  k.kind = std::string(kind);
  {
    const std::string_view p = parts[1];
    const std::size_t dash = p.find('-');
    if (p.size() < 4 || p[0] != 'c' || dash == std::string_view::npos ||
        !detail::parse_key_int(p.substr(1, dash - 1), k.in_channels) ||
        !detail::parse_key_int(p.substr(dash + 1), k.out_channels) || k.in_channels < 1 || k.out_channels < 1)
      throw fail(p, "c<in>-<out> with channels >= 1");
  }
  {
    const std::string_view p = parts[2];
    const std::size_t w = p.find('w');
    if (p.size() < 4 || p[0] != 'h' || w == std::string_view::npos || !detail::parse_key_int(p.substr(1, w - 1), k.height) ||
        !detail::parse_key_int(p.substr(w + 1), k.width) || k.height < 1 || k.width < 1)
      throw fail(p, "h<height>w<width> with sizes >= 1");
  }
  if (parts[3].size() < 2 || parts[3][0] != 'k' || !detail::parse_key_int(parts[3].substr(1), k.kernel))
    throw fail(parts[3], "k<kernel> (kernel >= 0)");
  if (parts[4].size() < 2 || parts[4][0] != 's' || !detail::parse_key_int(parts[4].substr(1), k.stride) || k.stride < 1)
    throw fail(parts[4], "s<stride> (stride >= 1)");
  std::size_t i = 5;
  if (i < parts.size() && !parts[i].empty() && parts[i][0] == 'g') {
    if (!detail::parse_key_int(parts[i].substr(1), k.groups) || k.groups < 2)
      throw fail(parts[i], "g<groups> with groups >= 2 (groups 1 is written by leaving the part out)");
    ++i;
  }
  if (i < parts.size() && !parts[i].empty() && parts[i][0] == 'd') {
    if (!detail::parse_key_int(parts[i].substr(1), k.dilation) || k.dilation < 2)
      throw fail(parts[i], "d<dilation> with dilation >= 2 (dilation 1 is written by leaving the part out)");
    ++i;
  }
  if (i < parts.size() && parts[i] == "noaffine") {
    k.affine = false;
    ++i;
  }
  if (i < parts.size()) throw fail(parts[i], "g<groups>, d<dilation> or noaffine, in that order");
  return k;
}

/// One op of a network plan: what it is, where it sits, its geometry, whether it runs, and
/// its cost per image.
///
/// `kind` is the canonical op name for cell edges ("nor_conv_3x3", "sep_conv_5x5",
/// "skip_connect", ...; aliases such as "conv3x3" are canonicalized) and otherwise one of
/// "stem_conv", "batch_norm", "relu", "global_avg_pool", "classifier",
/// "resnet_basic_block", "relu_conv_bn" (a 1x1 preprocessing block), "factorized_reduce",
/// "head_conv" (1x1 Conv-BN-ReLU) and, for ChainSpace's inverted residual blocks,
/// "mbconv_e<expansion>" or "mbconv_e<expansion>_se" (role block; groups is the
/// depthwise convolution's, expansion x C_in).
/// `kernel`, `padding`, `groups` and `dilation` are those of the op's spatial convolution
/// or pooling (groups = in_channels for the depthwise convolutions of sep_conv/dil_conv).
///
/// `cell` is the cell index (0-based over all cells) and `edge` the edge index inside the
/// cell (both -1 for ops outside cells; a preprocessing op has its cell and edge -1). For an
/// edge, `from` and `to` are the cell-local states it joins (CellDag numbering: the cell
/// inputs first, then the intermediate nodes); for a preprocessing op, `from` is the
/// network state it reads (0 = the stem, k + 1 = cell k's output) and `to` the cell input
/// it produces.
///
/// `runs` is false for edges the cell never runs: `none` edges, edges into nodes that
/// cannot reach the cell output, and identity or pooling edges leaving an all-zero node
/// (as CellDag decides; see docs/model.md). `params` and `macs` count the op whether it runs
/// or not (NAS-Bench-201's convention); `activations` is the number of floats of its output
/// per image, C_out * H_out * W_out, when it runs, and 0 when it does not.
struct PlannedOp {
  std::string kind;
  OpRole role = OpRole::edge;
  ImageShape in;
  ImageShape out;
  int kernel = 0;
  int stride = 1;
  int padding = 0;
  int groups = 1;
  int dilation = 1;
  bool affine = true;
  bool track_running_stats = true;
  /// The initialisation its weights are drawn with: NetworkOptions::init for the stem, the
  /// preprocessing and the classifier; PyTorch's default for edge ops and residual blocks.
  Init init = Init::torch_default;
  int cell = -1;
  int edge = -1;
  int from = -1;
  int to = -1;
  bool runs = true;
  std::size_t params = 0;
  double macs = 0.0;
  std::size_t activations = 0;

  [[nodiscard]] int in_channels() const noexcept { return in.channels; }
  [[nodiscard]] int out_channels() const noexcept { return out.channels; }
  [[nodiscard]] OpKey key() const {
    return OpKey{kind, in.channels, out.channels, in.height, in.width, kernel, stride, groups, dilation, affine};
  }
  /// The geometry make_cell_op() takes for this op.
  [[nodiscard]] CellOpGeometry cell_geometry() const {
    return CellOpGeometry{in.channels, out.channels, stride, affine, track_running_stats};
  }
};

/// One cell of a plan: its DAG (CellDag's inputs, states and output states), the network
/// states feeding its inputs (CellSpace; empty for NAS-Bench-201, whose cell reads the op
/// before it), the shapes of its inputs (after preprocessing) and of its intermediate
/// nodes, and its ops: plan.ops[first_op, end_op).
struct PlannedCell {
  bool reduction = false;
  int inputs = 1;
  int states = 2;
  std::vector<int> sources;
  std::vector<int> outputs;
  ImageShape in;
  ImageShape node;
  ImageShape out;
  std::size_t first_op = 0;
  std::size_t end_op = 0;
};

/// A network described before any tensor exists: every op in execution order, with its kind,
/// geometry, place, whether it runs and its cost. CellNetwork builds from it, hw/cost.hpp
/// reads its totals, and a latency table prices it op by op through OpKey.
struct NetworkPlan {
  std::string space;  ///< "Nb201Space", "CellSpace" or "ChainSpace"
  std::variant<Nb201Arch, CellArch, ChainArch> arch;
  std::string arch_text;  ///< the space's encoding of arch (CellSpace: DARTS' genotype text)
  NetworkInput input;
  NetworkOptions options;
  std::vector<PlannedOp> ops;
  std::vector<PlannedCell> cells;

  /// Learnable scalars of every op (run or not).
  [[nodiscard]] std::size_t params() const noexcept {
    std::size_t n = 0;
    for (const auto& op : ops) n += op.params;
    return n;
  }
  /// Multiply-accumulates per image of every op (run or not).
  [[nodiscard]] double macs() const noexcept {
    double m = 0.0;
    for (const auto& op : ops) m += op.macs;
    return m;
  }
  /// Floats per image of the outputs of the ops that run.
  [[nodiscard]] std::size_t activations() const noexcept {
    std::size_t n = 0;
    for (const auto& op : ops) n += op.activations;
    return n;
  }
  [[nodiscard]] std::size_t running_ops() const noexcept {
    return static_cast<std::size_t>(std::count_if(ops.begin(), ops.end(), [](const PlannedOp& op) { return op.runs; }));
  }
};

namespace detail {

inline int conv_out(int n, int kernel, int stride, int padding, int dilation = 1) {
  return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

// Adds one Conv2d of output ho x wo to an op's cost (Conv2d's num_parameters and macs rules).
inline void add_conv(PlannedOp& op, int cin, int cout, int kh, int kw, int groups, int ho, int wo, bool bias = false) {
  const auto w = static_cast<std::size_t>(cout) * static_cast<std::size_t>(cin / groups) * static_cast<std::size_t>(kh * kw);
  op.params += w + (bias ? static_cast<std::size_t>(cout) : 0);
  const double pixels = static_cast<double>(ho) * static_cast<double>(wo);
  op.macs += static_cast<double>(w) * pixels + (bias ? static_cast<double>(cout) * pixels : 0.0);
}

inline void add_bn(PlannedOp& op, int channels) {
  if (op.affine) op.params += 2 * static_cast<std::size_t>(channels);
}

inline void check_fits(const PlannedOp& op, const char* where) {
  if (op.out.height < 1 || op.out.width < 1)
    throw ConfigError(std::string(where) + ": " + op.kind + " on a " + op.in.str() + " input has no output pixels");
}

/// Describes `kind` applied to an input of shape `in`, producing `out_channels` channels
/// with `stride`: its geometry, output shape, parameters and MACs (cell op kinds through
/// cell_op_spec(), the others as the network skeletons build them).
inline PlannedOp describe_op(std::string_view kind, OpRole role, ImageShape in, int out_channels, int stride,
                             bool affine = true, bool track_running_stats = true) {
  const char* where = "plan_network";
  PlannedOp op;
  op.role = role;
  op.in = in;
  op.stride = stride;
  op.affine = affine;
  op.track_running_stats = track_running_stats;
  const int c = in.channels, h = in.height, w = in.width, co = out_channels;
  if (c < 1 || co < 1 || h < 1 || w < 1)
    throw ConfigError(std::string(where) + ": " + std::string(kind) + " on a " + in.str() + " input with " +
                      std::to_string(co) + " output channels (need positive sizes)");
  auto set_out = [&](int ho, int wo) { op.out = ImageShape{co, ho, wo}; };
  if (kind == "stem_conv") {
    op.kind = kind;
    op.kernel = 3;
    op.padding = 1;
    set_out(conv_out(h, 3, stride, 1), conv_out(w, 3, stride, 1));
    add_conv(op, c, co, 3, 3, 1, op.out.height, op.out.width);
  } else if (kind == "batch_norm" || kind == "relu") {
    op.kind = kind;
    op.out = in;
    if (kind == "batch_norm") add_bn(op, c);
  } else if (kind == "global_avg_pool") {
    op.kind = kind;
    op.out = ImageShape{c, 1, 1};
  } else if (kind == "classifier") {
    op.kind = kind;
    op.out = ImageShape{co, 1, 1};
    const std::size_t features = in.numel();
    op.params = features * static_cast<std::size_t>(co) + static_cast<std::size_t>(co);
    op.macs = static_cast<double>(op.params);
  } else if (kind == "resnet_basic_block") {
    op.kind = kind;
    op.kernel = 3;
    op.padding = 1;
    set_out(conv_out(h, 3, stride, 1), conv_out(w, 3, stride, 1));
    const int ho = op.out.height, wo = op.out.width;
    add_conv(op, c, co, 3, 3, 1, ho, wo);
    add_bn(op, co);
    add_conv(op, co, co, 3, 3, 1, ho, wo);
    add_bn(op, co);
    if (stride == 2) {  // AvgPool2d(2, 2) then a 1x1 conv, no BN
      const int hp = (h - 2) / 2 + 1, wp = (w - 2) / 2 + 1;
      if (h < 2 || w < 2 || hp != ho || wp != wo)
        throw ConfigError(std::string(where) + ": the residual block on a " + in.str() +
                          " input: its shortcut (2x2 pooling) gives " + std::to_string(hp) + "x" + std::to_string(wp) +
                          ", its convolutions " + std::to_string(ho) + "x" + std::to_string(wo) +
                          " (the height and width entering a reduction must be even)");
      add_conv(op, c, co, 1, 1, 1, hp, wp);
    } else if (c != co) {
      add_conv(op, c, co, 1, 1, 1, ho, wo);
      add_bn(op, co);
    }
  } else if (kind == "head_conv") {  // ConvBNReLU 1x1 (ChainSpace's head)
    op.kind = kind;
    op.kernel = 1;
    set_out(conv_out(h, 1, stride, 0), conv_out(w, 1, stride, 0));
    add_conv(op, c, co, 1, 1, 1, op.out.height, op.out.width);
    add_bn(op, co);
  } else if (kind == "relu_conv_bn") {
    op.kind = kind;
    op.kernel = 1;
    set_out(conv_out(h, 1, stride, 0), conv_out(w, 1, stride, 0));
    add_conv(op, c, co, 1, 1, 1, op.out.height, op.out.width);
    add_bn(op, co);
  } else if (kind == "factorized_reduce" || canonical_cell_op(kind) == "skip_connect") {
    const bool edge = kind != "factorized_reduce";
    op.kind = edge ? "skip_connect" : "factorized_reduce";
    if (edge && stride == 1 && c == co) {
      op.out = in;  // the identity
    } else {
      if (stride != 1 && stride != 2)
        throw ConfigError("FactorizedReduce: stride (" + std::to_string(stride) + ") must be 1 or 2");
      if (stride == 2 && co < 2)
        throw ConfigError("FactorizedReduce: out_channels (" + std::to_string(co) + ") must be >= 2 for stride 2");
      op.kernel = 1;
      set_out(conv_out(h, 1, stride, 0), conv_out(w, 1, stride, 0));
      add_conv(op, c, co, 1, 1, 1, op.out.height, op.out.width);  // both halves: c * co in all
      add_bn(op, co);
    }
  } else {
    const CellOpSpec s = cell_op_spec(kind, CellOpGeometry{c, co, stride, affine, track_running_stats});
    op.kind = s.kind;
    op.kernel = s.kernel;
    op.padding = s.padding;
    op.dilation = s.dilation;
    op.groups = s.depthwise ? c : 1;
    const std::string_view k = s.kind;
    if (k == "none") {
      set_out((h + stride - 1) / stride, (w + stride - 1) / stride);
    } else if (k == "nor_conv_1x1" || k == "nor_conv_3x3" || k == "nor_conv_5x5") {
      set_out(conv_out(h, s.kernel, stride, s.padding), conv_out(w, s.kernel, stride, s.padding));
      add_conv(op, c, co, s.kernel, s.kernel, 1, op.out.height, op.out.width);
      add_bn(op, co);
    } else if (k == "avg_pool_3x3" || k == "max_pool_3x3") {
      if (c != co) {  // a 1x1 ReLU-Conv-BN at stride 1 first
        add_conv(op, c, co, 1, 1, 1, h, w);
        add_bn(op, co);
      }
      if (h + 2 < 3 || w + 2 < 3) throw ConfigError(std::string(where) + ": input " + in.str() + " is smaller than the kernel 3");
      set_out((h + 2 - 3) / stride + 1, (w + 2 - 3) / stride + 1);
    } else if (s.depthwise && s.dilation == 1) {  // sep_conv: two dilated separable halves
      const int ho = conv_out(h, s.kernel, stride, s.padding), wo = conv_out(w, s.kernel, stride, s.padding);
      set_out(ho, wo);
      add_conv(op, c, c, s.kernel, s.kernel, c, ho, wo);
      add_conv(op, c, c, 1, 1, 1, ho, wo);
      add_bn(op, c);
      add_conv(op, c, c, s.kernel, s.kernel, c, ho, wo);
      add_conv(op, c, co, 1, 1, 1, ho, wo);
      add_bn(op, co);
    } else if (s.depthwise) {  // dil_conv
      const int ho = conv_out(h, s.kernel, stride, s.padding, s.dilation);
      const int wo = conv_out(w, s.kernel, stride, s.padding, s.dilation);
      set_out(ho, wo);
      add_conv(op, c, c, s.kernel, s.kernel, c, ho, wo);
      add_conv(op, c, co, 1, 1, 1, ho, wo);
      add_bn(op, co);
    } else {  // conv_7x1_1x7: 1x7 at stride (1, s), then 7x1 at stride (s, 1)
      const int w1 = conv_out(w, 7, stride, 3);
      add_conv(op, c, c, 1, 7, 1, h, w1);
      const int h2 = conv_out(h, 7, stride, 3);
      set_out(h2, w1);
      add_conv(op, c, co, 7, 1, 1, h2, w1);
      add_bn(op, co);
    }
  }
  check_fits(op, where);
  return op;
}

// "mbconv_e<expansion>" or "mbconv_e<expansion>_se": the kind of an inverted residual
// block (its kernel is the key's). Returns false for other kinds.
inline bool parse_mbconv_kind(std::string_view kind, int& expansion, bool& se) {
  constexpr std::string_view prefix = "mbconv_e";
  if (kind.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = kind.substr(prefix.size());
  se = rest.size() > 3 && rest.substr(rest.size() - 3) == "_se";
  if (se) rest.remove_suffix(3);
  return parse_key_int(rest, expansion) && expansion >= 1;
}
inline std::string mbconv_kind(int expansion, bool se) {
  return "mbconv_e" + std::to_string(expansion) + (se ? "_se" : "");
}

/// Describes an inverted residual block (InvertedResidual: expansion, depthwise kernel,
/// SE, projection) on an input of shape `in`. `groups` is the depthwise convolution's
/// (C_mid), `padding` kernel / 2.
inline PlannedOp describe_mbconv(ImageShape in, int out_channels, int kernel, int expansion, bool se, int stride) {
  const InvertedResidualOptions o{.in_channels = in.channels, .out_channels = out_channels, .kernel = kernel, .stride = stride,
                                  .expansion = expansion, .squeeze_excite = se};
  if (in.channels < 1 || out_channels < 1 || in.height < 1 || in.width < 1 || kernel < 1 || kernel % 2 == 0 || stride < 1 ||
      expansion < 1)
    throw ConfigError("plan_network: " + mbconv_kind(expansion, se) + " with kernel " + std::to_string(kernel) + ", stride " +
                      std::to_string(stride) + " on a " + in.str() + " input with " + std::to_string(out_channels) +
                      " output channels (need positive sizes, an odd kernel, stride and expansion >= 1)");
  PlannedOp op;
  op.kind = mbconv_kind(expansion, se);
  op.role = OpRole::block;
  op.in = in;
  op.kernel = kernel;
  op.stride = stride;
  op.padding = kernel / 2;
  const int mid = o.mid_channels();
  op.groups = mid;
  const int ho = conv_out(in.height, kernel, stride, kernel / 2), wo = conv_out(in.width, kernel, stride, kernel / 2);
  op.out = ImageShape{out_channels, ho, wo};
  check_fits(op, "plan_network");
  if (expansion != 1) {
    add_conv(op, in.channels, mid, 1, 1, 1, in.height, in.width);
    add_bn(op, mid);
  }
  add_conv(op, mid, mid, kernel, kernel, mid, ho, wo);
  add_bn(op, mid);
  if (se) {  // two linear layers with bias: in * out + out parameters and MACs each
    const auto r = static_cast<std::size_t>(o.se_channels()), m = static_cast<std::size_t>(mid);
    const std::size_t n = m * r + r + r * m + m;
    op.params += n;
    op.macs += static_cast<double>(n);
  }
  add_conv(op, mid, out_channels, 1, 1, 1, ho, wo);
  add_bn(op, out_channels);
  return op;
}

// Which edges of a cell run: CellDag's rule (cell_dag.hpp, plan()), decided from the ops'
// specs before anything is built. CellNetwork checks that its CellDags agree.
struct DagEdge {
  int from = 0;
  int to = 0;
  bool is_none = false;
  bool zero_preserving = false;
};
inline std::vector<bool> running_edges(int inputs, int states, const std::vector<DagEdge>& edges,
                                       const std::vector<int>& outputs) {
  const auto S = static_cast<std::size_t>(states);
  std::vector<bool> needed(S, false), nonzero(S, false), runs(edges.size(), false);
  for (int o : outputs) needed[static_cast<std::size_t>(o)] = true;
  for (int t = states - 1; t >= 0; --t)
    if (needed[static_cast<std::size_t>(t)])
      for (const auto& ed : edges)
        if (ed.to == t && !ed.is_none) needed[static_cast<std::size_t>(ed.from)] = true;
  for (int i = 0; i < inputs; ++i) nonzero[static_cast<std::size_t>(i)] = true;
  for (int t = inputs; t < states; ++t) {
    if (!needed[static_cast<std::size_t>(t)]) continue;
    for (std::size_t e = 0; e < edges.size(); ++e) {
      const auto& ed = edges[e];
      if (ed.to != t || ed.is_none) continue;
      if (!nonzero[static_cast<std::size_t>(ed.from)] && ed.zero_preserving) continue;
      runs[e] = true;
      nonzero[static_cast<std::size_t>(t)] = true;
    }
  }
  return runs;
}

// Marks which edges of cell `pc` run and sets every op's activations.
inline void finish_cell(std::vector<PlannedOp>& ops, const PlannedCell& pc) {
  std::vector<DagEdge> edges;
  std::vector<std::size_t> at;
  for (std::size_t i = pc.first_op; i < pc.end_op; ++i) {
    const PlannedOp& op = ops[i];
    if (op.role != OpRole::edge) continue;
    const CellOpSpec s = cell_op_spec(op.kind, op.cell_geometry());
    edges.push_back(DagEdge{op.from, op.to, s.is_none, s.zero_preserving});
    at.push_back(i);
  }
  const auto runs = running_edges(pc.inputs, pc.states, edges, pc.outputs);
  for (std::size_t e = 0; e < at.size(); ++e) ops[at[e]].runs = runs[e];
}

inline void set_activations(NetworkPlan& plan) {
  for (auto& op : plan.ops) op.activations = op.runs ? op.out.numel() : 0;
}

}  // namespace detail

/// The plan of the NAS-Bench-201 network of `arch` (the network CellNetwork<Nb201Space>
/// builds; see there): stem_conv, batch_norm; per stage N cells of six edge ops each, and
/// a resnet_basic_block (stride 2, channels doubled) between stages; then batch_norm, relu,
/// global_avg_pool, classifier. Throws ConfigError for a bad input or options.
[[nodiscard]] inline NetworkPlan plan_network(const Nb201Space& space, const Nb201Arch& arch, const NetworkInput& input,
                                              const NetworkOptions& options = {}) {
  input.validate("plan_network(Nb201Space)");
  options.validate("plan_network(Nb201Space)");
  for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e)
    if (arch.ops[e] >= Nb201Arch::num_ops)
      throw ConfigError("plan_network(Nb201Space): edge " + std::to_string(e) + " has op code " +
                        std::to_string(arch.ops[e]) + " (codes are < 5)");
  NetworkPlan plan;
  plan.space = "Nb201Space";
  plan.arch = arch;
  plan.arch_text = space.encode(arch);
  plan.input = input;
  plan.options = options;
  auto push = [&plan](PlannedOp op) -> const PlannedOp& {
    plan.ops.push_back(std::move(op));
    return plan.ops.back();
  };
  int c = options.channels;
  PlannedOp stem = detail::describe_op("stem_conv", OpRole::stem, {input.channels, input.height, input.width}, c, 1);
  stem.init = options.init;
  ImageShape x = push(std::move(stem)).out;
  x = push(detail::describe_op("batch_norm", OpRole::stem, x, c, 1)).out;
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) {
      x = push(detail::describe_op("resnet_basic_block", OpRole::reduction, x, 2 * c, 2)).out;
      c *= 2;
    }
    for (int k = 0; k < options.cells; ++k) {
      PlannedCell pc;
      pc.inputs = 1;
      pc.states = static_cast<int>(Nb201Arch::num_nodes);
      pc.outputs = {pc.states - 1};
      pc.in = x;
      pc.first_op = plan.ops.size();
      const int cell = static_cast<int>(plan.cells.size());
      for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e) {
        PlannedOp op = detail::describe_op(arch.op_name(e), OpRole::edge, x, c, 1);
        op.cell = cell;
        op.edge = static_cast<int>(e);
        op.from = Nb201Arch::edges[e].from;
        op.to = Nb201Arch::edges[e].to;
        pc.node = op.out;
        push(std::move(op));
      }
      pc.end_op = plan.ops.size();
      pc.out = pc.node;
      detail::finish_cell(plan.ops, pc);
      x = pc.out;
      plan.cells.push_back(std::move(pc));
    }
  }
  x = push(detail::describe_op("batch_norm", OpRole::head, x, c, 1)).out;
  x = push(detail::describe_op("relu", OpRole::head, x, c, 1)).out;
  x = push(detail::describe_op("global_avg_pool", OpRole::head, x, c, 1)).out;
  PlannedOp fc = detail::describe_op("classifier", OpRole::head, x, input.classes, 1);
  fc.init = options.init;
  push(std::move(fc));
  detail::set_activations(plan);
  return plan;
}

/// The plan of the DARTS network of `arch` in `space` (the network CellNetwork<CellSpace>
/// builds; see there): stem_conv and batch_norm with stem_multiplier * C channels; per cell
/// one preprocessing op per input (relu_conv_bn, or factorized_reduce for an input at twice
/// the resolution), then its edge ops, two per node; then global_avg_pool and classifier.
/// Throws ConfigError for a bad input, options or architecture.
[[nodiscard]] inline NetworkPlan plan_network(const CellSpace& space, const CellArch& arch, const NetworkInput& input,
                                              const NetworkOptions& options = {}) {
  input.validate("plan_network(CellSpace)");
  options.validate("plan_network(CellSpace)");
  const auto m = static_cast<int>(space.num_inputs());
  const auto nodes = static_cast<int>(space.num_nodes());
  if (arch.normal.size() != static_cast<std::size_t>(2 * nodes) ||
      (space.has_reduction() && arch.reduce.size() != static_cast<std::size_t>(2 * nodes)))
    throw ConfigError("plan_network(CellSpace): the architecture has " + std::to_string(arch.normal.size()) + "/" +
                      std::to_string(arch.reduce.size()) + " picks, the space expects " + std::to_string(2 * nodes) +
                      " per cell type");
  NetworkPlan plan;
  plan.space = "CellSpace";
  plan.arch = arch;
  try {
    plan.arch_text = space.encode(arch);
  } catch (const ConfigError&) {  // picks the network accepts but the encoding does not (unsorted distinct inputs)
    std::ostringstream os;
    os << arch;
    plan.arch_text = os.str();
  }
  plan.input = input;
  plan.options = options;
  const int c_stem = options.stem_multiplier * options.channels;
  PlannedOp stem = detail::describe_op("stem_conv", OpRole::stem, {input.channels, input.height, input.width}, c_stem, 1);
  stem.init = options.init;
  plan.ops.push_back(std::move(stem));
  plan.ops.push_back(detail::describe_op("batch_norm", OpRole::stem, plan.ops.back().out, c_stem, 1));

  std::vector<ImageShape> st{plan.ops.back().out};  // 0 = stem, k + 1 = output of cell k
  int c = options.channels;
  const int L = options.cells;
  for (int k = 0; k < L; ++k) {
    PlannedCell pc;
    pc.reduction = k == L / 3 || k == 2 * L / 3;
    if (pc.reduction) c *= 2;
    pc.inputs = m;
    pc.states = m + nodes;
    pc.first_op = plan.ops.size();
    const ImageShape latest = st[static_cast<std::size_t>(k)];
    std::vector<ImageShape> state(static_cast<std::size_t>(m + nodes));
    for (int j = 0; j < m; ++j) {
      const int src = std::max(0, k - m + 1 + j);
      pc.sources.push_back(src);
      const ImageShape s = st[static_cast<std::size_t>(src)];
      PlannedOp pre;
      if (s.height == latest.height) {
        pre = detail::describe_op("relu_conv_bn", OpRole::preprocess, s, c, 1);
      } else if ((s.height + 1) / 2 == latest.height) {
        pre = detail::describe_op("factorized_reduce", OpRole::preprocess, s, c, 2);
      } else {
        throw ConfigError("plan_network(CellSpace): cell " + std::to_string(k) + " input " + std::to_string(j) +
                          " has height " + std::to_string(s.height) + " against " + std::to_string(latest.height) +
                          " (at most one reduction apart)");
      }
      pre.init = options.init;
      pre.cell = k;
      pre.from = src;
      pre.to = j;
      state[static_cast<std::size_t>(j)] = pre.out;
      plan.ops.push_back(std::move(pre));
    }
    pc.in = state[0];
    const auto& picks = (pc.reduction && !arch.reduce.empty()) ? arch.reduce : arch.normal;
    const int cell = static_cast<int>(plan.cells.size());
    for (int node = 0; node < nodes; ++node)
      for (int p = 0; p < 2; ++p) {
        const CellPick& pick = picks[static_cast<std::size_t>(2 * node + p)];
        if (pick.input >= m + node)
          throw ConfigError("plan_network(CellSpace): node " + std::to_string(node) + " picks input " +
                            std::to_string(pick.input) + " (must be < " + std::to_string(m + node) + ")");
        if (pick.op >= space.ops().size())
          throw ConfigError("plan_network(CellSpace): op code " + std::to_string(pick.op) + " outside the space's " +
                            std::to_string(space.ops().size()) + " ops");
        const int stride = pc.reduction && pick.input < m ? 2 : 1;
        PlannedOp op = detail::describe_op(space.ops()[pick.op], OpRole::edge, state[pick.input], c, stride);
        op.cell = cell;
        op.edge = 2 * node + p;
        op.from = pick.input;
        op.to = m + node;
        ImageShape& to = state[static_cast<std::size_t>(m + node)];
        if (p == 0)
          to = op.out;
        else if (!(to == op.out))
          throw ConfigError("CellDag: edges into state " + std::to_string(m + node) + " disagree: " + to.str() + " vs " +
                            op.out.str());
        plan.ops.push_back(std::move(op));
      }
    for (int node = 0; node < nodes; ++node) pc.outputs.push_back(m + node);
    pc.node = state[static_cast<std::size_t>(m)];
    pc.out = ImageShape{nodes * c, pc.node.height, pc.node.width};
    pc.end_op = plan.ops.size();
    detail::finish_cell(plan.ops, pc);
    st.push_back(pc.out);
    plan.cells.push_back(std::move(pc));
  }
  plan.ops.push_back(detail::describe_op("global_avg_pool", OpRole::head, st.back(), st.back().channels, 1));
  PlannedOp fc = detail::describe_op("classifier", OpRole::head, plan.ops.back().out, input.classes, 1);
  fc.init = options.init;
  plan.ops.push_back(std::move(fc));
  detail::set_activations(plan);
  return plan;
}

/// The op configuration a key names, described as a plan would (output shape, parameters,
/// MACs; cell and edge -1, role edge for cell op kinds). This is what a latency probe builds
/// and times for a key. Throws ConfigError when the key's kernel, groups or dilation are
/// not those of its kind at that geometry, or the kind is unknown.
[[nodiscard]] inline PlannedOp plan_op(const OpKey& key) {
  static constexpr std::string_view skeleton[] = {"stem_conv",          "batch_norm",   "relu",
                                                  "global_avg_pool",    "classifier",   "resnet_basic_block",
                                                  "relu_conv_bn",       "factorized_reduce", "head_conv"};
  int expansion = 0;
  bool se = false;
  if (detail::parse_mbconv_kind(key.kind, expansion, se)) {
    PlannedOp op = detail::describe_mbconv({key.in_channels, key.height, key.width}, key.out_channels, key.kernel, expansion,
                                           se, key.stride);
    if (op.key() != key)
      throw ConfigError("plan_op: key " + key.str() + " does not describe a " + op.kind + " block (that geometry gives " +
                        op.key().str() + ")");
    op.activations = op.out.numel();
    return op;
  }
  const bool cell_kind = std::find(std::begin(skeleton), std::end(skeleton), key.kind) == std::end(skeleton);
  PlannedOp op = detail::describe_op(key.kind, cell_kind ? OpRole::edge : OpRole::head,
                                     {key.in_channels, key.height, key.width}, key.out_channels, key.stride, key.affine);
  if (op.key() != key)
    throw ConfigError("plan_op: key " + key.str() + " does not describe a " + op.kind + " op (that geometry gives " +
                      op.key().str() + ")");
  op.activations = op.out.numel();
  return op;
}

/// Builds the module of one planned op (not of an edge inside a CellDag, which also needs
/// make_cell_op()'s flags: use make_cell_op(op.kind, op.cell_geometry(), rng) there).
/// Weights are drawn from `rng` with op.init.
[[nodiscard]] inline std::unique_ptr<Module> make_op(const PlannedOp& op, Rng& rng) {
  const int ci = op.in.channels, co = op.out.channels;
  const std::string_view k = op.kind;
  if (k == "stem_conv")
    return std::make_unique<Conv2d>(
        Conv2d::Options{.in_channels = ci, .out_channels = co, .kernel = op.kernel, .stride = op.stride,
                        .padding = op.padding, .init = op.init},
        rng);
  if (k == "batch_norm")
    return std::make_unique<BatchNorm2d>(
        BatchNorm2d::Options{.channels = co, .affine = op.affine, .track_running_stats = op.track_running_stats});
  if (k == "relu") return std::make_unique<ReLU>();
  if (k == "global_avg_pool") return std::make_unique<GlobalAvgPool>();
  if (k == "classifier")
    return std::make_unique<Linear>(
        Linear::Options{.in_features = static_cast<int>(op.in.numel()), .out_features = co, .init = op.init}, rng);
  if (k == "resnet_basic_block") return std::make_unique<ResNetBasicBlock>(ci, co, op.stride, rng, op.affine);
  if (k == "head_conv") return std::make_unique<ConvBNReLU>(ci, co, op.kernel, op.stride, rng, op.init);
  int expansion = 0;
  bool se = false;
  if (detail::parse_mbconv_kind(k, expansion, se))
    return std::make_unique<InvertedResidual>(
        InvertedResidualOptions{.in_channels = ci, .out_channels = co, .kernel = op.kernel, .stride = op.stride,
                                .expansion = expansion, .squeeze_excite = se, .init = op.init},
        rng);
  if (k == "relu_conv_bn" || k == "factorized_reduce") {
    const ConvBlockOptions o{.in_channels = ci, .out_channels = co, .kernel = 1, .stride = op.stride, .padding = 0,
                             .affine = op.affine, .track_running_stats = op.track_running_stats, .init = op.init};
    if (k == "relu_conv_bn") return std::make_unique<ReLUConvBN>(o, rng);
    return std::make_unique<FactorizedReduce>(o, rng);
  }
  return make_cell_op(op.kind, op.cell_geometry(), rng).module;
}

/// The op `kind` in `op`'s place: the same input, output channels, stride, BN flags, role,
/// cell, edge and states, described afresh (output shape, params, MACs). This is what a
/// supernet puts beside `op` on its edge, one per candidate op; the result is marked as
/// running (its activations count), since whether it runs depends on the cell around it.
[[nodiscard]] inline PlannedOp with_kind(const PlannedOp& op, std::string_view kind) {
  PlannedOp out = detail::describe_op(kind, op.role, op.in, op.out.channels, op.stride, op.affine, op.track_running_stats);
  out.init = op.init;
  out.cell = op.cell;
  out.edge = op.edge;
  out.from = op.from;
  out.to = op.to;
  out.activations = out.out.numel();
  return out;
}

/// The distinct op configurations of a plan, in order of first occurrence; with
/// `running_only`, only those of ops that run.
[[nodiscard]] inline std::vector<OpKey> distinct_keys(const NetworkPlan& plan, bool running_only = false) {
  std::vector<OpKey> out;
  std::unordered_set<OpKey> seen;
  for (const auto& op : plan.ops) {
    if (running_only && !op.runs) continue;
    OpKey k = op.key();
    if (seen.insert(k).second) out.push_back(std::move(k));
  }
  return out;
}

namespace detail {
// Every configuration any architecture can put in the plan's cells: each op of `ops` on
// every edge geometry of every cell (from the cell inputs, at the cell's input stride; from
// the intermediate nodes, at stride 1), with the skeleton's ops, in order of first occurrence.
inline std::vector<OpKey> space_keys(const NetworkPlan& plan, const std::vector<std::string>& ops, int nodes) {
  std::vector<OpKey> out;
  std::unordered_set<OpKey> seen;
  auto add = [&](OpKey k) {
    if (seen.insert(k).second) out.push_back(std::move(k));
  };
  std::size_t i = 0;
  for (const auto& pc : plan.cells) {
    for (; i < pc.first_op; ++i) add(plan.ops[i].key());
    for (; i < pc.end_op; ++i)
      if (plan.ops[i].role != OpRole::edge) add(plan.ops[i].key());
    const int c = pc.node.channels;
    for (const auto& name : ops) {
      add(describe_op(name, OpRole::edge, pc.in, c, pc.reduction ? 2 : 1).key());   // edges from the cell inputs
      if (nodes > 1) add(describe_op(name, OpRole::edge, pc.node, c, 1).key());  // edges between nodes
    }
  }
  for (; i < plan.ops.size(); ++i) add(plan.ops[i].key());
  return out;
}
}  // namespace detail

/// Every op configuration that some architecture of `space` contains in the network of
/// (input, options): what a latency table for the space must measure. For NAS-Bench-201
/// with C = 16, N = 5 and 3x32x32 inputs that is 23 keys (5 ops x 3 stages, and 8 of the
/// skeleton).
[[nodiscard]] inline std::vector<OpKey> space_keys(const Nb201Space& space, const NetworkInput& input,
                                                   const NetworkOptions& options = {}) {
  std::vector<std::string> ops(nb201_op_names.begin(), nb201_op_names.end());
  return detail::space_keys(plan_network(space, Nb201Arch{}, input, options), ops, static_cast<int>(Nb201Arch::num_nodes) - 1);
}

[[nodiscard]] inline std::vector<OpKey> space_keys(const CellSpace& space, const NetworkInput& input,
                                                   const NetworkOptions& options = {}) {
  Rng rng(0);
  return detail::space_keys(plan_network(space, space.sample(rng), input, options), space.ops(),
                            static_cast<int>(space.num_nodes()));
}

}  // namespace nas
