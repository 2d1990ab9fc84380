// Supernet: weight-sharing networks of NB201 and DARTS whose cell edges hold every candidate op, switched per step.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/model/cell_dag.hpp"
#include "nas/model/partial_channel.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/ops.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/nb201_space.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/blocks.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/linear.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"

namespace nas {

/// The size of a supernet (as NetworkOptions) and how its candidate ops normalise.
struct SupernetOptions {
  int channels = 16;        ///< C, as NetworkOptions::channels
  int cells = 5;            ///< N, as NetworkOptions::cells
  int stem_multiplier = 3;  ///< CellSpace only, as NetworkOptions::stem_multiplier
  std::uint64_t seed = 0;   ///< weight initialisation
  Init init = Init::torch_default;
  /// BatchNorm affine weights in the candidate ops. The stand-alone networks have them;
  /// DARTS' search network does not (false); a supernet without them copies into a
  /// stand-alone network as weight 1 and bias 0.
  bool affine = true;
  bool track_running_stats = true;  ///< BatchNorm running estimates in the candidate ops
  /// K of PC-DARTS' partial channels (Xu et al. 2020; Nb201Space only): > 1 makes every
  /// edge a PartialChannelMixedOp, whose candidates see C/K of the channels, with an edge
  /// weight (Supernet::set_edge_weight) for edge normalisation. 1: every candidate sees
  /// all channels.
  int partial_channels = 1;

  [[nodiscard]] NetworkOptions network() const {
    return NetworkOptions{.channels = channels, .cells = cells, .stem_multiplier = stem_multiplier, .seed = seed, .init = init};
  }
};

/// A supernet of `Space`; specialized for Nb201Space and CellSpace.
template <class Space>
class Supernet;

/// Which cells a choice applies to: the normal cells or the reduction cells.
enum class CellKind { normal, reduce };

namespace detail {

/// The cells that share one choice: set_active() goes to all of them.
class SharedChoice {
 public:
  void add(CellDag& dag) { cells_.push_back(&dag); }
  [[nodiscard]] bool empty() const noexcept { return cells_.empty(); }
  void set_active(std::size_t e, std::span<const std::size_t> ops) {
    for (CellDag* c : cells_) c->set_active(e, ops);
  }
  void set_active(std::size_t e, std::span<const std::size_t> ops, std::span<const float> weights) {
    for (CellDag* c : cells_) c->set_active(e, ops, weights);
  }
  void release_inactive_ops(bool on) noexcept {
    for (CellDag* c : cells_) c->release_inactive_ops(on);
  }
  [[nodiscard]] bool releases_inactive_ops() const noexcept { return !cells_.empty() && cells_.front()->releases_inactive_ops(); }
  [[nodiscard]] bool is_active(std::size_t e, std::size_t k) const {
    if (cells_.empty()) throw ConfigError("Supernet: no cell follows this choice (too few cells for both kinds)");
    return cells_.front()->is_active(e, k);
  }
  [[nodiscard]] double weight_grad(std::size_t e, std::size_t k) const {
    double g = 0.0;
    for (const CellDag* c : cells_) g += c->weight_grad(e, k);
    return g;
  }
  // Activates, for every edge, the ops listed for it (an op listed twice gets weight 2:
  // both picks share its weights).
  void select(const std::vector<std::vector<std::size_t>>& per_edge) {
    std::vector<std::size_t> ops;
    std::vector<float> weights;
    for (std::size_t e = 0; e < per_edge.size(); ++e) {
      ops.clear();
      weights.clear();
      bool repeated = false;
      for (std::size_t k : per_edge[e]) {
        auto it = std::find(ops.begin(), ops.end(), k);
        if (it == ops.end()) {
          ops.push_back(k);
          weights.push_back(1.0f);
        } else {
          weights[static_cast<std::size_t>(it - ops.begin())] += 1.0f;
          repeated = true;
        }
      }
      if (repeated)
        set_active(e, ops, weights);
      else
        set_active(e, ops);
    }
  }
  [[nodiscard]] const std::vector<CellDag*>& cells() const noexcept { return cells_; }

 private:
  std::vector<CellDag*> cells_;
};

// "<prefix><number>" at the start of `s`: the number, and `s` advanced past it; or -1.
inline long take_index(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return -1;
  std::string_view rest = s.substr(prefix.size());
  long v = -1;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || p == rest.data()) return -1;
  s = rest.substr(static_cast<std::size_t>(p - rest.data()));
  return v;
}

// Copies the parameters (and BatchNorm running statistics) of `from` into `to`. A
// parameter that `from` lacks (BN affine weights of a supernet without them) becomes the
// identity: weight 1, bias 0.
inline void copy_module_state(Module& from, Module& to, const std::string& path) {
  std::vector<Parameter*> a, b;
  from.own_parameters(a);
  to.own_parameters(b);
  for (Parameter* q : b) {
    auto it = std::find_if(a.begin(), a.end(), [q](const Parameter* p) { return p->name == q->name; });
    if (it == a.end()) {
      if (dynamic_cast<BatchNorm2d*>(&to) == nullptr)
        throw ConfigError("Supernet: " + path + " has no parameter '" + q->name + "' to copy");
      q->value.fill(q->name == "weight" ? 1.0f : 0.0f);
      continue;
    }
    if ((*it)->value.shape() != q->value.shape())
      throw ConfigError("Supernet: " + path + "." + q->name + " is " + (*it)->value.shape().str() + " here and " +
                        q->value.shape().str() + " there");
    q->value.copy_from((*it)->value);
  }
  auto* bf = dynamic_cast<BatchNorm2d*>(&from);
  auto* bt = dynamic_cast<BatchNorm2d*>(&to);
  if (bf && bt && bf->options().track_running_stats && bt->options().track_running_stats) {
    bt->running_mean().copy_from(bf->running_mean());
    bt->running_var().copy_from(bf->running_var());
  }
}

// Copies between a supernet and a stand-alone network: `to_path(path)` maps each
// stand-alone module path to the supernet's.
template <class Map>
void copy_network(Module& supernet, Module& net, bool into_net, Map&& to_path) {
  std::unordered_map<std::string, Module*> by_path;
  for (auto& nm : named_modules(supernet)) by_path.emplace(nm.path, nm.module);
  for (auto& nm : named_modules(net)) {
    std::vector<Parameter*> own;
    nm.module->own_parameters(own);
    if (own.empty() && dynamic_cast<BatchNorm2d*>(nm.module) == nullptr) continue;  // nothing to copy
    const std::string p = to_path(nm.path);
    auto it = by_path.find(p);
    if (it == by_path.end()) throw ConfigError("Supernet: no module '" + p + "' for the network's '" + nm.path + "'");
    if (it->second->type_name() != nm.module->type_name())
      throw ConfigError("Supernet: '" + p + "' is a " + it->second->type_name() + ", the network's '" + nm.path + "' a " +
                        nm.module->type_name());
    if (into_net)
      copy_module_state(*it->second, *nm.module, p);
    else
      copy_module_state(*nm.module, *it->second, nm.path);
  }
}

/// NB201's search cell: the six edges of the NAS-Bench-201 cell, each holding all five ops
/// (or, with partial channels, one PartialChannelMixedOp holding them).
class Nb201SearchCell final : public Module {
 public:
  Nb201SearchCell(int channels, const SupernetOptions& o, Rng& rng) : dag_(make_dag(channels, o, rng, pcs_)) {}
  const Tensor& forward(const Tensor& x) override {
    const Tensor* in[1] = {&x};
    return dag_.forward(in);
  }
  const Tensor& backward(const Tensor& dy) override {
    dag_.backward(dy);
    return dag_.input_grad(0);
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return dag_.output_shape(std::span<const Shape>(&in, 1)); }
  [[nodiscard]] double macs(const Shape& in) const override { return dag_.macs(std::span<const Shape>(&in, 1)); }
  [[nodiscard]] std::string type_name() const override { return "Nb201SearchCell"; }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { dag_.for_each_op(f); }
  [[nodiscard]] CellDag& dag() noexcept { return dag_; }
  [[nodiscard]] const CellDag& dag() const noexcept { return dag_; }
  /// Edge e's partial-channel mixture (empty without partial channels).
  [[nodiscard]] const std::vector<PartialChannelMixedOp*>& partial_edges() const noexcept { return pcs_; }

 private:
  static CellDag make_dag(int channels, const SupernetOptions& o, Rng& rng, std::vector<PartialChannelMixedOp*>& pcs) {
    std::vector<SwitchableEdge> edges;
    const CellOpGeometry g{channels, channels, 1, o.affine, o.track_running_stats};
    for (const auto& ed : Nb201Arch::edges) {
      SwitchableEdge se{ed.from, ed.to, {}, {}};
      if (o.partial_channels > 1) {
        auto pc = std::make_unique<PartialChannelMixedOp>(std::vector<std::string>(nb201_op_names.begin(), nb201_op_names.end()),
                                                          g, o.partial_channels, rng);
        pcs.push_back(pc.get());
        se.names.emplace_back("pc");
        se.ops.push_back(CellOp{.module = std::move(pc), .is_none = false, .zero_preserving = false, .kind = "pc", .geometry = g});
      } else {
        for (auto name : nb201_op_names) {
          se.names.emplace_back(name);
          se.ops.push_back(make_cell_op(name, g, rng));
        }
      }
      edges.push_back(std::move(se));
    }
    return CellDag(1, static_cast<int>(Nb201Arch::num_nodes), std::move(edges), {static_cast<int>(Nb201Arch::num_nodes) - 1});
  }
  std::vector<PartialChannelMixedOp*> pcs_;  // filled by make_dag, before dag_ (declared first)
  CellDag dag_;
};

}  // namespace detail

/// The NAS-Bench-201 supernet: CellNetwork<Nb201Space>'s TinyNetwork whose cells' six
/// edges each hold all five ops (none, skip_connect, nor_conv_1x1, nor_conv_3x3,
/// avg_pool_3x3, in nb201_op_names order), with one choice shared by all cells, as the
/// NB201 supernets (SPOS, DARTS, GDAS, ENAS in AutoDL-Projects) share theirs.
///
/// Before each forward choose the active ops: select(arch) for a single path (SPOS,
/// ENAS), set_active(edge, ops) for an unweighted sum, set_active(edge, ops, weights) for
/// a weighted mixture (DARTS: all ops with softmax(alpha); GDAS: one op with its hard
/// Gumbel weight), whose dL/dw weight_grad() gives after backward. Only active ops run
/// and allocate; the plan is redone only when the active set changes. Until a choice is
/// made every op is active (an unweighted sum).
///
/// Parameter paths are the stand-alone network's with the op name after the edge:
/// "body.<k>.edges.<e>.<op>...." (module_path()); copy_to() and copy_from() move the
/// weights of one architecture between the supernet and a CellNetwork<Nb201Space>.
template <>
class Supernet<Nb201Space> final : public Module {
 public:
  using Arch = Nb201Arch;

  Supernet(const Nb201Space&, const NetworkInput& input, const SupernetOptions& options = {})
      : input_(input), options_(options) {
    input.validate("Supernet<Nb201Space>");
    options.network().validate("Supernet<Nb201Space>");
    if (options.partial_channels < 1 || options.channels % options.partial_channels != 0)
      throw ConfigError("Supernet<Nb201Space>: partial_channels (" + std::to_string(options.partial_channels) +
                        ") must be >= 1 and divide the channels (" + std::to_string(options.channels) + ")");
    Rng rng(options.seed);
    int c = options.channels;
    body_.emplace<Conv2d>(Conv2d::Options{.in_channels = input.channels, .out_channels = c, .kernel = 3, .padding = 1,
                                          .init = options.init},
                          rng);
    body_.emplace<BatchNorm2d>(c);
    for (int stage = 0; stage < 3; ++stage) {
      if (stage > 0) {
        body_.emplace<ResNetBasicBlock>(c, 2 * c, 2, rng);
        c *= 2;
      }
      for (int k = 0; k < options.cells; ++k) {
        auto& cell = body_.emplace<detail::Nb201SearchCell>(c, options, rng);
        cells_.push_back(&cell);
        choice_.add(cell.dag());
      }
    }
    body_.emplace<BatchNorm2d>(c);
    body_.emplace<ReLU>();
    body_.emplace<GlobalAvgPool>();
    body_.emplace<Linear>(Linear::Options{.in_features = c, .out_features = input.classes, .init = options.init}, rng);
    if (partial()) {
      active_.assign(Arch::num_edges, std::vector<std::size_t>(Arch::num_ops));
      for (auto& a : active_)
        for (std::size_t k = 0; k < a.size(); ++k) a[k] = k;
    }
  }

  /// The single path of `arch`: op arch.ops[e] on edge e, in every cell.
  void select(const Arch& arch) {
    for (std::size_t e = 0; e < Arch::num_edges; ++e) {
      const std::size_t k = arch.ops[e];
      if (partial()) {
        const float one = 1.0f;
        set_active(e, std::span<const std::size_t>(&k, 1), std::span<const float>(&one, 1));
      } else {
        choice_.set_active(e, std::span<const std::size_t>(&k, 1));
      }
    }
  }
  /// While on, the ops that stop being active free their buffers (CellDag::release_inactive_ops):
  /// a single-path supernet then holds the memory of the path it runs. Off by default. The
  /// partial-channel edges (PC-DARTS) run every op and are not affected.
  void release_inactive_ops(bool on) noexcept { choice_.release_inactive_ops(on); }
  [[nodiscard]] bool releases_inactive_ops() const noexcept { return choice_.releases_inactive_ops(); }
  /// Makes `ops` (indices into nb201_op_names) the active set of edge e in every cell.
  void set_active(std::size_t edge, std::span<const std::size_t> ops) {
    if (partial()) {
      const std::vector<float> ones(ops.size(), 1.0f);
      set_active(edge, ops, ones);
      return;
    }
    choice_.set_active(check_edge(edge), ops);
  }
  /// The same, weighted: edge e adds sum_i weights[i] * op_{ops[i]}(x).
  void set_active(std::size_t edge, std::span<const std::size_t> ops, std::span<const float> weights) {
    if (partial()) {
      for (auto* cell : cells_) cell->partial_edges()[check_edge(edge)]->set_active(ops, weights);
      active_[edge].assign(ops.begin(), ops.end());
      return;
    }
    choice_.set_active(check_edge(edge), ops, weights);
  }
  [[nodiscard]] bool is_active(std::size_t edge, std::size_t op) const {
    if (partial()) {
      const auto& a = active_[check_edge(edge)];
      return std::find(a.begin(), a.end(), op) != a.end();
    }
    return choice_.is_active(check_edge(edge), op);
  }
  /// dL/dw of weighted op `op` of edge `edge` after backward, summed over the cells.
  [[nodiscard]] double weight_grad(std::size_t edge, std::size_t op) const {
    if (partial()) {
      double g = 0.0;
      for (const auto* cell : cells_) g += cell->partial_edges()[check_edge(edge)]->weight_grad(op);
      return g;
    }
    return choice_.weight_grad(check_edge(edge), op);
  }

  /// K of the partial channels (1: none).
  [[nodiscard]] int partial_channels() const noexcept { return options_.partial_channels; }
  /// PC-DARTS' edge normalisation: edge `edge` of every cell adds weight * its mixture
  /// to its node (partial channels only; 1 at construction).
  void set_edge_weight(std::size_t edge, float weight) {
    require_partial("set_edge_weight");
    for (auto* cell : cells_) cell->partial_edges()[check_edge(edge)]->set_edge_weight(weight);
  }
  /// dL/d(edge weight) after backward, summed over the cells.
  [[nodiscard]] double edge_weight_grad(std::size_t edge) const {
    require_partial("edge_weight_grad");
    double g = 0.0;
    for (const auto* cell : cells_) g += cell->partial_edges()[check_edge(edge)]->edge_weight_grad();
    return g;
  }

  [[nodiscard]] static constexpr std::size_t num_edges() noexcept { return Arch::num_edges; }
  [[nodiscard]] static constexpr std::size_t num_ops() noexcept { return Arch::num_ops; }
  [[nodiscard]] std::size_t num_cells() const noexcept { return cells_.size(); }
  /// Cell k's DAG (plans(), has_run(), op_runs()).
  [[nodiscard]] const CellDag& cell(std::size_t k) const { return cells_.at(k)->dag(); }

  const Tensor& forward(const Tensor& x) override {
    const Tensor& y = body_.forward(x);
    report_forward(body_, y);
    return y;
  }
  const Tensor& backward(const Tensor& dy) override { return observed_backward(body_, dy); }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return body_.output_shape(in); }
  /// Multiply-accumulates per image of every op of every cell (the whole supernet).
  [[nodiscard]] double macs(const Shape& in) const override { return body_.macs(in); }
  [[nodiscard]] std::string type_name() const override { return "Supernet<Nb201Space>"; }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { f("body", body_); }
  [[nodiscard]] const NetworkInput& input() const noexcept { return input_; }
  [[nodiscard]] const SupernetOptions& options() const noexcept { return options_; }

  /// The supernet path of a module or parameter path of CellNetwork<Nb201Space>(arch):
  /// "body.<k>.edges.<e>..." gains the op name after the edge; other paths are the same.
  [[nodiscard]] static std::string module_path(const Arch& arch, std::string_view path) {
    std::string_view s = path;
    if (detail::take_index(s, "body.") >= 0) {
      const long e = detail::take_index(s, ".edges.");
      if (e >= 0 && e < static_cast<long>(Arch::num_edges) && (s.empty() || s.front() == '.'))
        return std::string(path.substr(0, path.size() - s.size())) + "." +
               std::string(arch.op_name(static_cast<std::size_t>(e))) + std::string(s);
    }
    return std::string(path);
  }
  /// Copies the weights (and BN running statistics) of net.arch()'s path into `net`, a
  /// network of the same input and size: weight inheritance for evaluating a subnet.
  void copy_to(CellNetwork<Nb201Space>& net) {
    refuse_partial("copy_to");
    detail::copy_network(*this, net, true, [&](const std::string& p) { return module_path(net.arch(), p); });
  }
  /// Copies `net`'s weights into the ops of its architecture's path.
  void copy_from(CellNetwork<Nb201Space>& net) {
    refuse_partial("copy_from");
    detail::copy_network(*this, net, false, [&](const std::string& p) { return module_path(net.arch(), p); });
  }

 private:
  static std::size_t check_edge(std::size_t e) {
    if (e >= Arch::num_edges)
      throw ConfigError("Supernet<Nb201Space>: edge " + std::to_string(e) + " (the cell has " +
                        std::to_string(Arch::num_edges) + ")");
    return e;
  }
  [[nodiscard]] bool partial() const noexcept { return options_.partial_channels > 1; }
  void require_partial(const char* what) const {
    if (!partial()) throw ConfigError(std::string("Supernet<Nb201Space>::") + what + ": edge weights need partial_channels > 1");
  }
  void refuse_partial(const char* what) const {
    if (partial())
      throw ConfigError(std::string("Supernet<Nb201Space>::") + what + ": a supernet with partial channels (K = " +
                        std::to_string(options_.partial_channels) + ") holds its ops at C/K channels, not a network's");
  }

  NetworkInput input_;
  SupernetOptions options_;
  Sequential body_;
  std::vector<detail::Nb201SearchCell*> cells_;
  detail::SharedChoice choice_;
  std::vector<std::vector<std::size_t>> active_;  // with partial channels: each edge's active ops
};

/// The DARTS supernet (Liu et al. 2019, model_search.py Network) for a CellSpace: the
/// skeleton of CellNetwork<CellSpace> (stem, cells with their preprocessing, reductions at
/// cells/3 and 2*cells/3, pooling, classifier), where intermediate node j of every cell
/// takes one edge from every earlier state (the cell inputs, then nodes 0 .. j-1), each
/// edge holding all of the space's ops (stride 2 on edges leaving the inputs of a
/// reduction cell). Edges are numbered node by node, sources in order (DARTS' order):
/// edge_index(node, input). The normal cells share one choice and the reduction cells
/// another (CellKind); a space without a reduction cell type has one choice, used by all.
///
/// select(arch) activates each node's two picks; a node whose two picks are the same
/// (input, op) (allowed when picks may repeat) runs that op once with weight 2, since
/// both picks share its weights. Active ops, weights, plans and weight_grad() behave as
/// in Supernet<Nb201Space>. Parameter paths: "cells.<k>.edges.<edge>.<op>....",
/// the rest as CellNetwork<CellSpace>'s.
template <>
class Supernet<CellSpace> final : public detail::DartsBody {
 public:
  using Arch = CellArch;

  Supernet(const CellSpace& space, const NetworkInput& input, const SupernetOptions& options = {})
      : ops_(space.ops()),
        inputs_(static_cast<int>(space.num_inputs())),
        nodes_(static_cast<int>(space.num_nodes())),
        has_reduction_(space.has_reduction()),
        input_(input),
        options_(options) {
    input.validate("Supernet<CellSpace>");
    options.network().validate("Supernet<CellSpace>");
    if (options.partial_channels != 1)
      throw ConfigError("Supernet<CellSpace>: partial_channels (" + std::to_string(options.partial_channels) +
                        ") is implemented for the NB201 supernet only (its reduction cells would pool the bypassed channels); use 1");
    for (std::size_t k = 0; k < ops_.size(); ++k)
      for (std::size_t j = 0; j < k; ++j)
        if (ops_[j] == ops_[k]) throw ConfigError("Supernet<CellSpace>: the space names op '" + ops_[k] + "' twice");
    Rng rng(options.seed);
    const int m = inputs_;
    const int c_stem = options.stem_multiplier * options.channels;
    stem_.emplace<Conv2d>(Conv2d::Options{.in_channels = input.channels, .out_channels = c_stem, .kernel = 3, .padding = 1,
                                          .init = options.init},
                          rng);
    stem_.emplace<BatchNorm2d>(c_stem);
    std::vector<int> ch{c_stem}, hh{input.height};
    int c = options.channels;
    const int L = options.cells;
    for (int k = 0; k < L; ++k) {
      const bool reduction = k == L / 3 || k == 2 * L / 3;
      if (reduction) c *= 2;
      Cell cell;
      cell.reduction = reduction;
      for (int j = 0; j < m; ++j) {
        const int src = std::max(0, k - m + 1 + j);
        cell.sources.push_back(src);
        const ConvBlockOptions pre{.in_channels = ch[static_cast<std::size_t>(src)], .out_channels = c, .kernel = 1,
                                   .stride = 1, .padding = 0, .init = options.init};
        const int hs = hh[static_cast<std::size_t>(src)], hl = hh[static_cast<std::size_t>(k)];
        if (hs == hl) {
          cell.pre.push_back(std::make_unique<ReLUConvBN>(pre, rng));
        } else if ((hs + 1) / 2 == hl) {
          ConvBlockOptions fr = pre;
          fr.stride = 2;
          cell.pre.push_back(std::make_unique<FactorizedReduce>(fr, rng));
        } else {
          throw ConfigError("Supernet<CellSpace>: cell " + std::to_string(k) + " input " + std::to_string(j) +
                            " has height " + std::to_string(hs) + " against " + std::to_string(hl) +
                            " (at most one reduction apart)");
        }
      }
      std::vector<SwitchableEdge> edges;
      for (int node = 0; node < nodes_; ++node)
        for (int from = 0; from < m + node; ++from) {
          SwitchableEdge se{from, m + node, ops_, {}};
          const int stride = reduction && from < m ? 2 : 1;
          for (const auto& name : ops_)
            se.ops.push_back(make_cell_op(name, {c, c, stride, options.affine, options.track_running_stats}, rng));
          edges.push_back(std::move(se));
        }
      std::vector<int> outputs;
      for (int node = 0; node < nodes_; ++node) outputs.push_back(m + node);
      cell.dag = std::make_unique<CellDag>(m, m + nodes_, std::move(edges), std::move(outputs));
      cells_.push_back(std::move(cell));
      ch.push_back(nodes_ * c);
      hh.push_back(reduction ? (hh.back() + 1) / 2 : hh.back());
    }
    for (auto& cell : cells_) choice(kind_of(cell)).add(*cell.dag);
    classifier_ = std::make_unique<Linear>(
        Linear::Options{.in_features = ch.back(), .out_features = input.classes, .init = options.init}, rng);
    cells_built();
  }

  /// Activates each node's two picks of `arch` (normal and, if the space has it, reduction
  /// cell); every other op is inactive. Throws ConfigError for an architecture that does
  /// not fit the space.
  void select(const Arch& arch) {
    check_arch(arch);
    select_cell(CellKind::normal, arch.normal);
    if (has_reduction_) select_cell(CellKind::reduce, arch.reduce);
  }
  /// While on, the ops that stop being active free their buffers (CellDag::release_inactive_ops),
  /// in the cells of both kinds. Off by default.
  void release_inactive_ops(bool on) noexcept {
    normal_.release_inactive_ops(on);
    reduce_.release_inactive_ops(on);
  }
  [[nodiscard]] bool releases_inactive_ops() const noexcept { return normal_.releases_inactive_ops(); }
  /// Makes `ops` (indices into the space's ops) the active set of `edge` in the cells of `kind`.
  void set_active(CellKind kind, std::size_t edge, std::span<const std::size_t> ops) {
    choice(kind).set_active(check_edge(edge), ops);
  }
  /// The same, weighted: the edge adds sum_i weights[i] * op_{ops[i]}(x).
  void set_active(CellKind kind, std::size_t edge, std::span<const std::size_t> ops, std::span<const float> weights) {
    choice(kind).set_active(check_edge(edge), ops, weights);
  }
  [[nodiscard]] bool is_active(CellKind kind, std::size_t edge, std::size_t op) const {
    return choice(kind).is_active(check_edge(edge), op);
  }
  /// dL/dw of weighted op `op` of `edge` after backward, summed over the cells of `kind`.
  [[nodiscard]] double weight_grad(CellKind kind, std::size_t edge, std::size_t op) const {
    return choice(kind).weight_grad(check_edge(edge), op);
  }

  /// Edges per cell: inputs + (inputs + 1) + ... + (inputs + nodes - 1).
  [[nodiscard]] std::size_t num_edges() const noexcept {
    return static_cast<std::size_t>(nodes_ * inputs_ + nodes_ * (nodes_ - 1) / 2);
  }
  /// The edge from state `input` (cell inputs first, then nodes) into intermediate node `node`.
  [[nodiscard]] std::size_t edge_index(int node, int input) const {
    if (node < 0 || node >= nodes_ || input < 0 || input >= inputs_ + node)
      throw ConfigError("Supernet<CellSpace>::edge_index: input " + std::to_string(input) + " of node " +
                        std::to_string(node) + " (" + std::to_string(nodes_) + " nodes; node k takes inputs < " +
                        std::to_string(inputs_) + " + k)");
    return static_cast<std::size_t>(node * inputs_ + node * (node - 1) / 2 + input);
  }
  [[nodiscard]] std::size_t num_ops() const noexcept { return ops_.size(); }
  [[nodiscard]] const std::vector<std::string>& op_names() const noexcept { return ops_; }
  // -- for differentiable search (search/differentiable.hpp) --
  /// Cell inputs (2 in DARTS) and intermediate nodes (4) per cell.
  [[nodiscard]] int num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] int num_nodes() const noexcept { return nodes_; }
  /// Whether the reduction cells have a choice of their own (CellKind::reduce).
  [[nodiscard]] bool has_reduction() const noexcept { return has_reduction_; }
  // --
  /// The choice cell k follows (CellKind::normal for every cell of a space without reductions).
  [[nodiscard]] CellKind kind(std::size_t k) const { return kind_of(cells_.at(k)); }
  /// Cell k's DAG (plans(), has_run(), op_runs()).
  [[nodiscard]] const CellDag& cell(std::size_t k) const { return *cells_.at(k).dag; }

  /// MACs count every op of every cell (the whole supernet).
  [[nodiscard]] std::string type_name() const override { return "Supernet<CellSpace>"; }
  [[nodiscard]] const NetworkInput& input() const noexcept { return input_; }
  [[nodiscard]] const SupernetOptions& options() const noexcept { return options_; }

  /// The supernet path of a module or parameter path of CellNetwork<CellSpace>(arch) of
  /// the same space and size: "cells.<k>.edges.<p>..." (pick p = 2 node + i of that cell's
  /// type) becomes "cells.<k>.edges.<edge_index(node, input)>.<op>..."; other paths are the same.
  [[nodiscard]] std::string module_path(const Arch& arch, std::string_view path) const {
    std::string_view s = path;
    const long k = detail::take_index(s, "cells.");
    if (k < 0 || k >= static_cast<long>(cells_.size())) return std::string(path);
    const std::string_view cell_prefix = path.substr(0, path.size() - s.size());
    const long p = detail::take_index(s, ".edges.");
    if (p < 0 || !(s.empty() || s.front() == '.')) return std::string(path);
    const auto& picks = kind_of(cells_[static_cast<std::size_t>(k)]) == CellKind::reduce ? arch.reduce : arch.normal;
    if (p >= static_cast<long>(picks.size()))
      throw ConfigError("Supernet<CellSpace>::module_path: pick " + std::to_string(p) + " of '" + std::string(path) +
                        "' (the architecture has " + std::to_string(picks.size()) + ")");
    const CellPick& pick = picks[static_cast<std::size_t>(p)];
    const std::size_t e = edge_index(static_cast<int>(p / 2), pick.input);
    return std::string(cell_prefix) + ".edges." + std::to_string(e) + "." + ops_.at(pick.op) + std::string(s);
  }
  /// Copies the weights (and BN running statistics) of net.arch()'s path into `net`, a
  /// network of the same space, input and size. Both picks of a repeated (input, op) get
  /// the one op's weights.
  void copy_to(CellNetwork<CellSpace>& net) {
    detail::copy_network(*this, net, true, [&](const std::string& p) { return module_path(net.arch(), p); });
  }
  /// Copies `net`'s weights into the ops of its architecture's path (of a repeated
  /// (input, op), the second pick's weights are kept).
  void copy_from(CellNetwork<CellSpace>& net) {
    detail::copy_network(*this, net, false, [&](const std::string& p) { return module_path(net.arch(), p); });
  }

 private:
  [[nodiscard]] CellKind kind_of(const Cell& c) const noexcept {
    return c.reduction && has_reduction_ ? CellKind::reduce : CellKind::normal;
  }
  detail::SharedChoice& choice(CellKind kind) {
    return const_cast<detail::SharedChoice&>(static_cast<const Supernet&>(*this).choice(kind));
  }
  [[nodiscard]] const detail::SharedChoice& choice(CellKind kind) const {
    if (kind == CellKind::reduce && !has_reduction_)
      throw ConfigError("Supernet<CellSpace>: the space has no reduction cell type");
    return kind == CellKind::reduce ? reduce_ : normal_;
  }
  [[nodiscard]] std::size_t check_edge(std::size_t e) const {
    if (e >= num_edges())
      throw ConfigError("Supernet<CellSpace>: edge " + std::to_string(e) + " (a cell has " + std::to_string(num_edges()) + ")");
    return e;
  }
  void check_arch(const Arch& arch) const {
    const auto n = static_cast<std::size_t>(2 * nodes_);
    if (arch.normal.size() != n || (has_reduction_ && arch.reduce.size() != n))
      throw ConfigError("Supernet<CellSpace>::select: the architecture has " + std::to_string(arch.normal.size()) + "/" +
                        std::to_string(arch.reduce.size()) + " picks, the space expects " + std::to_string(n) +
                        " per cell type");
    for (const auto* picks : {&arch.normal, &arch.reduce})
      for (std::size_t p = 0; p < picks->size(); ++p) {
        const CellPick& pick = (*picks)[p];
        const int node = static_cast<int>(p / 2);
        if (pick.input >= inputs_ + node)
          throw ConfigError("Supernet<CellSpace>::select: node " + std::to_string(node) + " picks input " +
                            std::to_string(pick.input) + " (must be < " + std::to_string(inputs_ + node) + ")");
        if (pick.op >= ops_.size())
          throw ConfigError("Supernet<CellSpace>::select: op code " + std::to_string(pick.op) + " outside the space's " +
                            std::to_string(ops_.size()) + " ops");
      }
  }
  void select_cell(CellKind kind, const std::vector<CellPick>& picks) {
    per_edge_.resize(num_edges());
    for (auto& v : per_edge_) v.clear();
    for (std::size_t p = 0; p < picks.size(); ++p)
      per_edge_[edge_index(static_cast<int>(p / 2), picks[p].input)].push_back(picks[p].op);
    choice(kind).select(per_edge_);
  }

  std::vector<std::string> ops_;
  int inputs_, nodes_;
  bool has_reduction_;
  NetworkInput input_;
  SupernetOptions options_;
  detail::SharedChoice normal_, reduce_;
  std::vector<std::vector<std::size_t>> per_edge_;
};

}  // namespace nas
