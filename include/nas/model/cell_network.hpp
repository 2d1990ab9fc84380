// CellNetwork: an architecture of a cell space turned into a trainable network (stem, cells, head).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/model/cell_dag.hpp"
#include "nas/model/ops.hpp"
#include "nas/model/plan.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/nb201_space.hpp"
#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/blocks.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/linear.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"

namespace nas {

/// A network built from an architecture of `Space`; specialized for Nb201Space and CellSpace.
template <class Space>
class CellNetwork;

namespace detail {

/// One NAS-Bench-201 cell (InferCell): node j = sum over i < j of op_ij(node i), output node 3.
class Nb201Cell final : public Module {
 public:
  explicit Nb201Cell(CellDag dag) : dag_(std::move(dag)) {}

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
  [[nodiscard]] std::string type_name() const override { return "Nb201Cell"; }
  int trace(Tracer& t, int x) override { return dag_.trace(t, std::span<const int>(&x, 1)); }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { dag_.for_each_op(f); }
  [[nodiscard]] const CellDag& dag() const noexcept { return dag_; }

 private:
  CellDag dag_;
};

/// The plan of `Space`'s network, checked to be one (`where` names the caller).
inline const NetworkPlan& plan_of(const NetworkPlan& plan, std::string_view space, const char* where) {
  // the alternative of NetworkPlan::arch
  const std::size_t arch_index = space == "Nb201Space" ? 0 : space == "CellSpace" ? 1 : 2;
  if (plan.space != space || plan.arch.index() != arch_index)
    throw ConfigError(std::string(where) + ": the plan is of a " + plan.space + " network, not of " + std::string(space));
  return plan;
}

/// The edges of plan cell `pc` as make_cell_op() builds them, weights drawn from `rng` in plan order.
inline std::vector<CellEdge> plan_edges(const NetworkPlan& plan, const PlannedCell& pc, Rng& rng) {
  std::vector<CellEdge> edges;
  for (std::size_t i = pc.first_op; i < pc.end_op; ++i) {
    const PlannedOp& op = plan.ops[i];
    if (op.role == OpRole::edge) edges.push_back(CellEdge{op.from, op.to, make_cell_op(op.kind, op.cell_geometry(), rng)});
  }
  return edges;
}

/// Throws if the CellDag built from plan cell `pc` would run other edges than the plan says.
inline void check_runs(const NetworkPlan& plan, const PlannedCell& pc, const CellDag& dag, std::size_t cell) {
  std::size_t e = 0;
  for (std::size_t i = pc.first_op; i < pc.end_op; ++i) {
    if (plan.ops[i].role != OpRole::edge) continue;
    if (plan.ops[i].runs != dag.edge_runs(e))
      throw ConfigError("CellNetwork: cell " + std::to_string(cell) + " edge " + std::to_string(e) + " (" + plan.ops[i].kind +
                        "): the plan says it " + (plan.ops[i].runs ? "runs" : "does not run") + ", its CellDag disagrees");
    ++e;
  }
}

/// What every network built from a plan keeps of it: the plan (checked by plan_of), its
/// architecture, input and options.
template <class ArchT>
class FromPlan {
 public:
  using Arch = ArchT;

  [[nodiscard]] const Arch& arch() const noexcept { return arch_; }
  [[nodiscard]] const NetworkInput& input() const noexcept { return plan_.input; }
  [[nodiscard]] const NetworkOptions& options() const noexcept { return plan_.options; }
  /// The plan the network was built from.
  [[nodiscard]] const NetworkPlan& plan() const noexcept { return plan_; }

 protected:
  FromPlan(const NetworkPlan& plan, std::string_view space, const char* where)
      : plan_(plan_of(plan, space, where)), arch_(std::get<Arch>(plan_.arch)) {}

  NetworkPlan plan_;
  Arch arch_;
};

/// A network of a plan whose ops run one after another in a Sequential, "body"
/// (NAS-Bench-201's and ChainSpace's): forward, backward, shapes, MACs, trace and
/// parameter paths ("body.<k>....") are the body's.
template <class ArchT>
class SequentialNetwork : public Module, public FromPlan<ArchT> {
 public:
  /// Logits [N, classes] for images [N, C, H, W].
  const Tensor& forward(const Tensor& x) override {
    const Tensor& y = body_.forward(x);
    report_forward(body_, y);
    return y;
  }
  const Tensor& backward(const Tensor& dy) override { return observed_backward(body_, dy); }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return body_.output_shape(in); }
  [[nodiscard]] double macs(const Shape& in) const override { return body_.macs(in); }
  /// Multiply-accumulates per image of the network's own input.
  [[nodiscard]] double macs() const { return body_.macs(this->input().batch(1)); }
  int trace(Tracer& t, int x) override { return t.child("body", body_, x); }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { f("body", body_); }

 protected:
  using FromPlan<ArchT>::FromPlan;
  Sequential body_;
};

}  // namespace detail

/// The NAS-Bench-201 network (Dong & Yang 2020, TinyNetwork): a 3x3 conv stem (no bias)
/// and BN with C channels; three stages of N cells with C, 2C and 4C channels joined by
/// ResNet basic blocks of stride 2; then BN, ReLU, global average pooling and a linear
/// classifier. With C = 16, N = 5 and a 3x32x32 input with 10 classes, num_parameters()
/// and macs() equal the benchmark's params and FLOPs columns.
///
/// Parameter paths: "body.<k>...." where body is the Sequential [stem conv, stem BN,
/// cells and reduction blocks, last BN, ReLU, pooling, classifier].
template <>
class CellNetwork<Nb201Space> final : public detail::SequentialNetwork<Nb201Arch> {
 public:
  /// Builds the network a plan of Nb201Space describes (plan_network()), drawing the
  /// weights op by op in plan order from Rng(plan.options.seed).
  explicit CellNetwork(const NetworkPlan& plan) : SequentialNetwork(plan, "Nb201Space", "CellNetwork<Nb201Space>") {
    Rng rng(options().seed);
    std::size_t i = 0;
    while (i < plan_.ops.size()) {
      const PlannedOp& op = plan_.ops[i];
      if (op.role != OpRole::edge) {
        body_.add(make_op(op, rng));
        ++i;
        continue;
      }
      const auto k = static_cast<std::size_t>(op.cell);
      const PlannedCell& pc = plan_.cells.at(k);
      auto& cell = body_.emplace<detail::Nb201Cell>(CellDag(pc.inputs, pc.states, detail::plan_edges(plan_, pc, rng), pc.outputs));
      detail::check_runs(plan_, pc, cell.dag(), k);
      cells_.push_back(&cell);
      i = pc.end_op;
    }
  }
  CellNetwork(const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : CellNetwork(plan_network(Nb201Space{}, arch, input, options)) {}
  CellNetwork(const Nb201Space& space, const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : CellNetwork(plan_network(space, arch, input, options)) {}

  [[nodiscard]] std::string type_name() const override { return "CellNetwork<Nb201Space>"; }
  /// Edges that run per cell (edges on paths that cannot matter are skipped).
  [[nodiscard]] std::size_t running_edges_per_cell() const { return cells_.front()->dag().running_edges(); }

 private:
  std::vector<detail::Nb201Cell*> cells_;
};

namespace detail {

/// The skeleton DARTS networks share (Liu et al. 2019, NetworkCIFAR and model_search.py
/// Network): a stem; cells, each taking earlier states (0 = the stem, k + 1 = cell k's
/// output) through its preprocessing ops into a CellDag; global average pooling and a
/// linear classifier. CellNetwork<CellSpace> (fixed cells, from a plan) and
/// Supernet<CellSpace> (switchable cells) derive from it and differ only in how they
/// build the cells, so both run the same forward, backward, shapes, MACs, trace and
/// parameter paths ("stem", "cells.<k>.preprocess<j>", "cells.<k>.edges...",
/// "global_pooling", "classifier").
class DartsBody : public Module {
 public:
  const Tensor& forward(const Tensor& x) override {
    states_[0] = &stem_.forward(x);
    report_forward(stem_, *states_[0]);
    for (std::size_t k = 0; k < cells_.size(); ++k) {
      Cell& cell = cells_[k];
      cell.in.clear();
      for (std::size_t j = 0; j < cell.pre.size(); ++j) {
        cell.in.push_back(&cell.pre[j]->forward(*states_[static_cast<std::size_t>(cell.sources[j])]));
        report_forward(*cell.pre[j], *cell.in.back());
      }
      states_[k + 1] = &cell.dag->forward(cell.in);
      if (hooks_active()) report_part(true, *this, "cells." + std::to_string(k), "Cell", *states_[k + 1]);
    }
    const Tensor& pooled = pool_.forward(*states_.back());
    report_forward(pool_, pooled);
    const Tensor& y = classifier_->forward(pooled);
    report_forward(*classifier_, y);
    return y;
  }

  const Tensor& backward(const Tensor& dy) override {
    const Tensor& g = observed_backward(pool_, observed_backward(*classifier_, dy));
    std::fill(touched_.begin(), touched_.end(), false);
    const std::size_t L = cells_.size();
    grads_[L].copy_from(g);
    touched_[L] = true;
    for (std::size_t k = L; k-- > 0;) {
      Cell& cell = cells_[k];
      if (hooks_active()) report_part(false, *this, "cells." + std::to_string(k), "Cell", grads_[k + 1]);
      cell.dag->backward(grads_[k + 1]);
      for (std::size_t j = cell.pre.size(); j-- > 0;) {
        const Tensor& d = observed_backward(*cell.pre[j], cell.dag->input_grad(static_cast<int>(j)));
        const auto s = static_cast<std::size_t>(cell.sources[j]);
        if (!touched_[s]) {
          grads_[s].copy_from(d);
          touched_[s] = true;
        } else {
          add_into(grads_[s], d);
        }
      }
    }
    return observed_backward(stem_, grads_[0]);
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    std::vector<Shape> st{stem_.output_shape(in)};
    for (const auto& cell : cells_) st.push_back(cell_output_shape(cell, st));
    return classifier_->output_shape(pool_.output_shape(st.back()));
  }
  [[nodiscard]] double macs(const Shape& in) const override {
    double total = stem_.macs(in);
    std::vector<Shape> st{stem_.output_shape(in)};
    for (const auto& cell : cells_) {
      std::vector<Shape> pre_shapes;
      for (std::size_t j = 0; j < cell.pre.size(); ++j) {
        const Shape& s = st[static_cast<std::size_t>(cell.sources[j])];
        total += cell.pre[j]->macs(s);
        pre_shapes.push_back(cell.pre[j]->output_shape(s));
      }
      total += cell.dag->macs(pre_shapes);
      st.push_back(cell.dag->output_shape(pre_shapes));
    }
    return total + classifier_->macs(pool_.output_shape(st.back()));
  }
  /// The stem, each cell's preprocessing and DAG under "cells.<k>", pooling, classifier.
  int trace(Tracer& t, int x) override {
    std::vector<int> states{t.child("stem", stem_, x)};
    for (std::size_t k = 0; k < cells_.size(); ++k) {
      const Tracer::Scope scope(t, "cells." + std::to_string(k));
      std::vector<int> in;
      for (std::size_t j = 0; j < cells_[k].pre.size(); ++j)
        in.push_back(t.child("preprocess" + std::to_string(j), *cells_[k].pre[j],
                             states[static_cast<std::size_t>(cells_[k].sources[j])]));
      states.push_back(cells_[k].dag->trace(t, in));
    }
    return t.child("classifier", *classifier_, t.child("global_pooling", pool_, states.back()));
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    f("stem", stem_);
    for (std::size_t k = 0; k < cells_.size(); ++k) {
      const std::string prefix = "cells." + std::to_string(k) + ".";
      for (std::size_t j = 0; j < cells_[k].pre.size(); ++j) f(prefix + "preprocess" + std::to_string(j), *cells_[k].pre[j]);
      cells_[k].dag->for_each_op([&](const std::string& name, Module& m) { f(prefix + name, m); });
    }
    f("global_pooling", pool_);
    f("classifier", *classifier_);
  }

  [[nodiscard]] std::size_t num_cells() const noexcept { return cells_.size(); }
  [[nodiscard]] bool is_reduction(std::size_t k) const { return cells_.at(k).reduction; }

 protected:
  struct Cell {
    std::vector<std::unique_ptr<Module>> pre;
    std::vector<int> sources;
    std::unique_ptr<CellDag> dag;
    std::vector<const Tensor*> in;
    bool reduction = false;
  };

  Shape cell_output_shape(const Cell& cell, const std::vector<Shape>& st) const {
    std::vector<Shape> pre_shapes;
    for (std::size_t j = 0; j < cell.pre.size(); ++j)
      pre_shapes.push_back(cell.pre[j]->output_shape(st[static_cast<std::size_t>(cell.sources[j])]));
    return cell.dag->output_shape(pre_shapes);
  }

  /// Sizes the per-state buffers once the cells are built.
  void cells_built() {
    states_.resize(cells_.size() + 1);
    grads_.resize(cells_.size() + 1);
    touched_.resize(cells_.size() + 1);
  }

  Sequential stem_;
  std::vector<Cell> cells_;
  GlobalAvgPool pool_;
  std::unique_ptr<Linear> classifier_;

 private:
  std::vector<const Tensor*> states_;
  std::vector<Tensor> grads_;
  std::vector<bool> touched_;
};

}  // namespace detail

/// The DARTS network (Liu et al. 2019, NetworkCIFAR without the auxiliary head) for a
/// CellSpace architecture: a 3x3 conv stem (no bias) and BN with stem_multiplier * C
/// channels; `cells` cells, of which those at positions cells/3 and 2*cells/3 reduce
/// (stride 2 on the edges leaving the cell inputs, channels doubled); each cell takes
/// the outputs of the previous `inputs` cells (the stem stands in before the first),
/// preprocessed by a 1x1 ReLU-Conv-BN, or by FactorizedReduce when that input is at twice
/// the resolution; its nodes sum their two picks; its output concatenates all intermediate
/// nodes. Then global average pooling and a linear classifier. A space without a
/// reduction cell type uses the normal cell in the reduction positions.
template <>
class CellNetwork<CellSpace> final : public detail::DartsBody, public detail::FromPlan<CellArch> {
 public:
  /// Builds the network a plan of CellSpace describes (plan_network()), drawing the
  /// weights op by op in plan order from Rng(plan.options.seed).
  explicit CellNetwork(const NetworkPlan& plan) : FromPlan(plan, "CellSpace", "CellNetwork<CellSpace>") {
    Rng rng(options().seed);
    const std::size_t cells_begin = plan_.cells.empty() ? plan_.ops.size() : plan_.cells.front().first_op;
    for (std::size_t i = 0; i < cells_begin; ++i) stem_.add(make_op(plan_.ops[i], rng));
    for (std::size_t k = 0; k < plan_.cells.size(); ++k) {
      const PlannedCell& pc = plan_.cells[k];
      Cell cell;
      cell.reduction = pc.reduction;
      cell.sources = pc.sources;
      for (std::size_t i = pc.first_op; i < pc.end_op; ++i)
        if (plan_.ops[i].role == OpRole::preprocess) cell.pre.push_back(make_op(plan_.ops[i], rng));
      cell.dag = std::make_unique<CellDag>(pc.inputs, pc.states, detail::plan_edges(plan_, pc, rng), pc.outputs);
      detail::check_runs(plan_, pc, *cell.dag, k);
      cells_.push_back(std::move(cell));
    }
    for (std::size_t i = plan_.cells.empty() ? cells_begin : plan_.cells.back().end_op; i < plan_.ops.size(); ++i) {
      const PlannedOp& op = plan_.ops[i];
      if (op.kind == "classifier")
        classifier_ = std::make_unique<Linear>(
            Linear::Options{.in_features = op.in.channels, .out_features = op.out.channels, .init = op.init}, rng);
    }
    if (!classifier_) throw ConfigError("CellNetwork<CellSpace>: the plan has no classifier");
    cells_built();
  }
  CellNetwork(const CellSpace& space, const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : CellNetwork(plan_network(space, arch, input, options)) {}

  using detail::DartsBody::macs;
  [[nodiscard]] double macs() const { return macs(input().batch(1)); }
  [[nodiscard]] std::string type_name() const override { return "CellNetwork<CellSpace>"; }
};

/// Builds the network of `arch` (heap-allocated, as optimizers keep pointers to its parameters).
template <class Space>
[[nodiscard]] std::unique_ptr<CellNetwork<Space>> make_network(const Space& space, const typename Space::Arch& arch,
                                                               const NetworkInput& input, const NetworkOptions& options = {}) {
  return std::make_unique<CellNetwork<Space>>(space, arch, input, options);
}

}  // namespace nas
