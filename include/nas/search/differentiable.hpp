// DifferentiableSpace: how a space builds its supernet of mixed ops, numbers its alpha rows and discretizes alpha into an Arch.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/model/supernet.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// Relaxed op weights: one row per alpha row (mixed op), one entry per candidate op.
using EdgeWeights = std::vector<std::vector<double>>;

/// What differentiable search (Darts) needs from a space, as a specialization of this
/// template for the space. A specialization provides
///
///     using Network = ...;                 // a Module holding every candidate op on every edge
///     static std::unique_ptr<Network> build(const Space&, const NetworkInput&, const SupernetOptions&);
///     static std::size_t num_rows(const Network&);   // mixed ops with their own alpha row
///     static std::size_t num_ops(const Network&);    // candidates per row
///     static std::vector<std::string> op_names(const Network&);
///     static std::string row_name(const Network&, std::size_t row);
///     static void set_row(Network&, std::size_t row, std::span<const std::size_t> ops, std::span<const float> w);
///     static double weight_grad(const Network&, std::size_t row, std::size_t op);  // dL/dw after backward
///     static Arch discretize(const Space&, const Network&, const EdgeWeights&);
///
/// and, for PC-DARTS' edge normalisation, optionally
///
///     static std::vector<std::vector<std::size_t>> edge_groups(const Network&);  // rows into each node (empty: none)
///     static void set_edge_weight(Network&, std::size_t row, float);
///     static double edge_weight_grad(const Network&, std::size_t row);
///
/// Specializations ship for Nb201Space and CellSpace; DifferentiableSpace checks one.
template <class Space>
struct Differentiable;

/// A space that can build a supernet of mixed ops with architecture parameters (alpha)
/// and discretize alpha back into an Arch: a SearchSpace with a complete Differentiable<S>.
template <class S>
concept DifferentiableSpace =
    SearchSpace<S> && requires { typename Differentiable<S>::Network; } &&
    requires(const S& s, typename Differentiable<S>::Network& net, const typename Differentiable<S>::Network& cnet,
             const NetworkInput& in, const SupernetOptions& o, std::span<const std::size_t> ops, std::span<const float> w,
             const EdgeWeights& ew) {
      { Differentiable<S>::build(s, in, o) } -> std::same_as<std::unique_ptr<typename Differentiable<S>::Network>>;
      { Differentiable<S>::num_rows(cnet) } -> std::convertible_to<std::size_t>;
      { Differentiable<S>::num_ops(cnet) } -> std::convertible_to<std::size_t>;
      { Differentiable<S>::op_names(cnet) } -> std::convertible_to<std::vector<std::string>>;
      { Differentiable<S>::row_name(cnet, std::size_t{}) } -> std::convertible_to<std::string>;
      Differentiable<S>::set_row(net, std::size_t{}, ops, w);
      { Differentiable<S>::weight_grad(cnet, std::size_t{}, std::size_t{}) } -> std::convertible_to<double>;
      { Differentiable<S>::discretize(s, cnet, ew) } -> std::same_as<typename S::Arch>;
      requires std::derived_from<typename Differentiable<S>::Network, Module>;
    };

namespace detail {
inline void check_edge_weights(const EdgeWeights& w, std::size_t rows, std::size_t ops, const char* where) {
  if (w.size() != rows)
    throw ConfigError(std::string(where) + ": " + std::to_string(w.size()) + " rows of weights, the supernet has " +
                      std::to_string(rows));
  for (std::size_t r = 0; r < w.size(); ++r)
    if (w[r].size() != ops)
      throw ConfigError(std::string(where) + ": row " + std::to_string(r) + " has " + std::to_string(w[r].size()) +
                        " weights, the supernet has " + std::to_string(ops) + " ops per edge");
}
}  // namespace detail

/// NAS-Bench-201: one mixed op per edge, shared by all cells (6 rows of 5 ops), and each
/// edge keeps its strongest op, `none` included. That is what AutoDL-Projects' DARTS,
/// GDAS and SETN do on NB201 (genotype(): argmax over all five ops); a `none` edge is a
/// valid NB201 cell (it cuts the edge), so nothing is excluded.
template <>
struct Differentiable<Nb201Space> {
  using Network = Supernet<Nb201Space>;
  static std::unique_ptr<Network> build(const Nb201Space& s, const NetworkInput& in, const SupernetOptions& o) {
    return std::make_unique<Network>(s, in, o);
  }
  static std::size_t num_rows(const Network&) noexcept { return Nb201Arch::num_edges; }
  static std::size_t num_ops(const Network&) noexcept { return Nb201Arch::num_ops; }
  static std::vector<std::string> op_names(const Network&) { return {nb201_op_names.begin(), nb201_op_names.end()}; }
  /// "1<-0", ... (NB201's node numbering).
  static std::string row_name(const Network&, std::size_t row) {
    const auto& e = Nb201Arch::edges.at(row);
    return std::to_string(e.to) + "<-" + std::to_string(e.from);
  }
  static void set_row(Network& net, std::size_t row, std::span<const std::size_t> ops, std::span<const float> w) {
    net.set_active(row, ops, w);
  }
  static double weight_grad(const Network& net, std::size_t row, std::size_t op) { return net.weight_grad(row, op); }
  /// PC-DARTS' edge normalisation, with partial channels: the rows (edges) into each
  /// node, whose edge weights are a softmax over the group (empty: no edge weights).
  static std::vector<std::vector<std::size_t>> edge_groups(const Network& net) {
    std::vector<std::vector<std::size_t>> g;
    if (net.partial_channels() <= 1) return g;
    for (std::size_t node = 1; node < Nb201Arch::num_nodes; ++node) {
      g.emplace_back();
      for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e)
        if (static_cast<std::size_t>(Nb201Arch::edges[e].to) == node) g.back().push_back(e);
    }
    return g;
  }
  static void set_edge_weight(Network& net, std::size_t row, float w) { net.set_edge_weight(row, w); }
  static double edge_weight_grad(const Network& net, std::size_t row) { return net.edge_weight_grad(row); }
  static Nb201Arch discretize(const Nb201Space&, const Network& net, const EdgeWeights& w) {
    detail::check_edge_weights(w, num_rows(net), num_ops(net), "Differentiable<Nb201Space>::discretize");
    Nb201Arch a;
    for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e)
      a.ops[e] = static_cast<std::uint8_t>(std::max_element(w[e].begin(), w[e].end()) - w[e].begin());
    return a;
  }
};

/// The DARTS space (CellSpace, e.g. CellSpace::darts()): one mixed op per edge of the
/// search cell (node j takes every earlier state), with separate rows for the normal
/// cells (rows 0 .. E-1) and the reduction cells (rows E .. 2E-1) when the space has
/// them. Discretizing follows DARTS' genotype() (model_search.py): per node, each incoming
/// edge's strength is its largest weight excluding `none`; the two strongest edges are
/// kept, each with its strongest op other than `none`. encode() of the result is the
/// Genotype text the original DARTS code reads.
template <>
struct Differentiable<CellSpace> {
  using Network = Supernet<CellSpace>;
  static std::unique_ptr<Network> build(const CellSpace& s, const NetworkInput& in, const SupernetOptions& o) {
    if (s.num_inputs() < 2)
      throw ConfigError("Differentiable<CellSpace>: the space has " + std::to_string(s.num_inputs()) +
                        " cell inputs (DARTS' discretization keeps two edges per node: need at least 2)");
    return std::make_unique<Network>(s, in, o);
  }
  static std::size_t kinds(const Network& net) { return has_reduce(net) ? 2 : 1; }
  static std::size_t num_rows(const Network& net) { return kinds(net) * net.num_edges(); }
  static std::size_t num_ops(const Network& net) noexcept { return net.num_ops(); }
  static std::vector<std::string> op_names(const Network& net) { return net.op_names(); }
  /// "normal 2<-0", "reduce 5<-3", ... (DARTS' state numbering: 0, 1 the cell inputs, 2.. the nodes).
  static std::string row_name(const Network& net, std::size_t row) {
    const std::size_t E = net.num_edges();
    if (row >= num_rows(net))
      throw ConfigError("Differentiable<CellSpace>::row_name: row " + std::to_string(row) + " of " + std::to_string(num_rows(net)));
    const std::size_t e = row % E;
    const int inputs = num_inputs(net);
    for (int node = 0;; ++node)
      for (int from = 0; from < inputs + node; ++from)
        if (net.edge_index(node, from) == e)
          return std::string(row < E ? "normal " : "reduce ") + std::to_string(inputs + node) + "<-" + std::to_string(from);
  }
  static void set_row(Network& net, std::size_t row, std::span<const std::size_t> ops, std::span<const float> w) {
    const std::size_t E = net.num_edges();
    net.set_active(row < E ? CellKind::normal : CellKind::reduce, row % E, ops, w);
  }
  static double weight_grad(const Network& net, std::size_t row, std::size_t op) {
    const std::size_t E = net.num_edges();
    return net.weight_grad(row < E ? CellKind::normal : CellKind::reduce, row % E, op);
  }
  static CellArch discretize(const CellSpace& space, const Network& net, const EdgeWeights& w) {
    detail::check_edge_weights(w, num_rows(net), num_ops(net), "Differentiable<CellSpace>::discretize");
    const auto& ops = space.ops();
    std::size_t none = ops.size();
    for (std::size_t k = 0; k < ops.size(); ++k)
      if (ops[k] == "none") none = k;
    if (ops.size() - (none < ops.size() ? 1 : 0) == 0)
      throw ConfigError("Differentiable<CellSpace>::discretize: the space has no op other than 'none'");
    CellArch a;
    const std::size_t E = net.num_edges();
    for (std::size_t kind = 0; kind < kinds(net); ++kind) {
      auto& picks = kind == 0 ? a.normal : a.reduce;
      for (int node = 0; node < static_cast<int>(space.num_nodes()); ++node) {
        struct Cand {
          int input;
          double strength;
          std::size_t op;
        };
        std::vector<Cand> cands;
        for (int from = 0; from < num_inputs(net) + node; ++from) {
          const auto& row = w[kind * E + net.edge_index(node, from)];
          std::size_t best = none == 0 ? 1 : 0;
          for (std::size_t k = 0; k < row.size(); ++k)
            if (k != none && row[k] > row[best]) best = k;
          cands.push_back({from, row[best], best});
        }
        // Strongest first; ties go to the earlier input (a stable order).
        std::stable_sort(cands.begin(), cands.end(), [](const Cand& x, const Cand& y) { return x.strength > y.strength; });
        Cand p0 = cands[0], p1 = cands[1];
        if (p1.input < p0.input) std::swap(p0, p1);
        picks.push_back(CellPick{static_cast<std::uint8_t>(p0.input), static_cast<std::uint8_t>(p0.op)});
        picks.push_back(CellPick{static_cast<std::uint8_t>(p1.input), static_cast<std::uint8_t>(p1.op)});
      }
    }
    return a;
  }

 private:
  static bool has_reduce(const Network& net) noexcept { return net.has_reduction(); }
  static int num_inputs(const Network& net) noexcept { return net.num_inputs(); }
};

/// How many edges of `arch` are skip connections (the symptom of DARTS' collapse).
[[nodiscard]] inline std::size_t skip_count(const Nb201Space&, const Nb201Arch& a) {
  std::size_t n = 0;
  for (auto o : a.ops) n += nb201_op_names[o] == "skip_connect" ? 1 : 0;
  return n;
}
/// The same for a cell architecture: skip_connect picks in the normal cell.
[[nodiscard]] inline std::size_t skip_count(const CellSpace& s, const CellArch& a) {
  std::size_t n = 0;
  for (const auto& p : a.normal) n += s.ops().at(p.op) == "skip_connect" || s.ops().at(p.op) == "skip" ? 1 : 0;
  return n;
}

}  // namespace nas
