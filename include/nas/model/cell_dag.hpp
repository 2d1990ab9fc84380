// CellDag: runs a cell's DAG of operations (fixed, or switchable per step) forward and backward, skipping what cannot matter.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/model/ops.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

namespace detail {
/// dst = a * src (dst resized).
inline void scale_to(Tensor& dst, float a, const Tensor& src) {
  dst.resize(src.shape());
  float* __restrict d = dst.data();
  const float* __restrict s = src.data();
  const std::size_t n = src.numel();
  for (std::size_t i = 0; i < n; ++i) d[i] = a * s[i];
}
}  // namespace detail

/// One edge of a cell: `op` applied to state `from`, summed into state `to`.
struct CellEdge {
  int from = 0;
  int to = 0;
  CellOp op;
};

/// An edge of a switchable cell: every candidate op of the space, of which the active
/// ones run (CellDag::set_active). `names[k]` names candidate k in parameter paths
/// ("edges.<e>.<names[k]>...") and must be unique on the edge.
struct SwitchableEdge {
  int from = 0;
  int to = 0;
  std::vector<std::string> names;
  std::vector<CellOp> ops;
};

/// The inside of a cell: `inputs` input states (0 .. inputs-1), then intermediate states
/// (inputs .. states-1), each the sum of its incoming edges; the output is one state or
/// the channel concatenation of several.
///
/// An edge holds one op (a fixed cell, built from CellEdge) or several candidates (a
/// switchable cell of a supernet, built from SwitchableEdge). The active candidates of an
/// edge run and their outputs are summed into the edge's target, each optionally scaled
/// by a weight w (DARTS' mixed operation sum_k w_k op_k(x)); for weighted candidates
/// backward also gives dL/dw_k = <dL/d(target), op_k(x)> (weight_grad()). A fixed cell's
/// op is always active. Choose the active ops and weights before a forward and keep them
/// until its backward.
///
/// Work is planned from the active ops: an op runs only if it is active, is not `none`,
/// its target can reach the output through active non-`none` ops, and it can produce
/// something non-zero (ops with BatchNorm run even on an all-zero state: they output BN's
/// shift, as the reference networks compute). A state with no running op into it is
/// identically zero. The plan is made again on the first forward after the active set
/// changes (set_active() with a different set) and reused otherwise; weights do not
/// change it. Ops that do not run are never called, so their buffers are never
/// allocated (tensors allocate on a forward) and their gradients stay as they were.
/// Buffers are resized, not reallocated, when the shape repeats, so after the first step
/// no call allocates. Parameters and MACs count every op of the cell, run or not (the
/// convention of NAS-Bench-201's published counts).
class CellDag {
 public:
  /// A fixed cell: one op per edge, always active.
  CellDag(int inputs, int states, std::vector<CellEdge> edges, std::vector<int> outputs)
      : inputs_(inputs), states_(states), outputs_(std::move(outputs)) {
    for (std::size_t e = 0; e < edges.size(); ++e) {
      first_slot_.push_back(slots_.size());
      slot_names_.push_back("edges." + std::to_string(e));
      slots_.push_back(std::move(edges[e]));
    }
    first_slot_.push_back(slots_.size());
    init();
  }

  /// A switchable cell: every op of every edge starts active (an unweighted sum).
  CellDag(int inputs, int states, std::vector<SwitchableEdge> edges, std::vector<int> outputs)
      : inputs_(inputs), states_(states), outputs_(std::move(outputs)) {
    for (std::size_t e = 0; e < edges.size(); ++e) {
      auto& ed = edges[e];
      if (ed.ops.empty() || ed.names.size() != ed.ops.size())
        throw ConfigError("CellDag: switchable edge " + std::to_string(e) + " has " + std::to_string(ed.ops.size()) +
                          " ops and " + std::to_string(ed.names.size()) + " names (need at least one op, one name each)");
      first_slot_.push_back(slots_.size());
      for (std::size_t k = 0; k < ed.ops.size(); ++k) {
        for (std::size_t j = 0; j < k; ++j)
          if (ed.names[j] == ed.names[k])
            throw ConfigError("CellDag: switchable edge " + std::to_string(e) + " names two ops '" + ed.names[k] + "'");
        slot_names_.push_back("edges." + std::to_string(e) + "." + ed.names[k]);
        slots_.push_back(CellEdge{ed.from, ed.to, std::move(ed.ops[k])});
      }
    }
    first_slot_.push_back(slots_.size());
    init();
  }

  [[nodiscard]] int num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] int num_states() const noexcept { return states_; }
  [[nodiscard]] std::size_t num_edges() const noexcept { return first_slot_.size() - 1; }
  /// Candidate ops of edge e (1 in a fixed cell).
  [[nodiscard]] std::size_t num_ops(std::size_t e) const { return first_slot_.at(e + 1) - first_slot_.at(e); }
  /// Every (edge, candidate) op, edge-major: one per edge in a fixed cell.
  [[nodiscard]] const std::vector<CellEdge>& edges() const noexcept { return slots_; }
  /// Candidate k of edge e.
  [[nodiscard]] Module& op(std::size_t e, std::size_t k) { return *slots_[slot(e, k, "CellDag::op")].op.module; }

  /// Makes `ops` (candidate indices of edge e, each at most once) the edge's active set,
  /// unweighted: their outputs are summed as they are. An empty set silences the edge.
  /// Throws ConfigError for an index out of range or a repeated one.
  void set_active(std::size_t e, std::span<const std::size_t> ops) { set_active_impl(e, ops, {}, false); }
  /// The same with weight weights[i] on ops[i]: the edge adds sum_i weights[i] * op_i(x),
  /// and backward gives weight_grad(e, ops[i]). Changing only the weights keeps the plan.
  void set_active(std::size_t e, std::span<const std::size_t> ops, std::span<const float> weights) {
    set_active_impl(e, ops, weights, true);
  }
  [[nodiscard]] bool is_active(std::size_t e, std::size_t k) const { return active_[slot(e, k, "CellDag::is_active")] != 0; }
  /// While on, an op that set_active() leaves out after it was active frees its buffers
  /// (Module::release_buffers), so that a cell that runs one op per edge (GDAS,
  /// single-path one-shot) holds the buffers of the ops that run, not of every op that
  /// ever ran; the price is allocating them again when the op is chosen again. Off by
  /// default: buffers are reused, and after the first step nothing allocates.
  void release_inactive_ops(bool on) noexcept { release_inactive_ = on; }
  [[nodiscard]] bool releases_inactive_ops() const noexcept { return release_inactive_; }
  /// The weight of candidate k of edge e (1 when unweighted).
  [[nodiscard]] float weight(std::size_t e, std::size_t k) const { return weight_[slot(e, k, "CellDag::weight")]; }
  /// dL/dw of a weighted candidate after backward (0 for one that did not run or is unweighted).
  [[nodiscard]] float weight_grad(std::size_t e, std::size_t k) const { return weight_grad_[slot(e, k, "CellDag::weight_grad")]; }
  /// Whether candidate k of edge e has ever run a forward (if not, it holds no buffers).
  [[nodiscard]] bool has_run(std::size_t e, std::size_t k) const { return ever_ran_[slot(e, k, "CellDag::has_run")] != 0; }
  /// How many times the execution plan was made (once at construction, then once per
  /// forward after a change of the active set).
  [[nodiscard]] std::size_t plans() const noexcept { return plans_; }

  /// Whether some op of edge e runs (the plan of the last forward, or of the construction).
  [[nodiscard]] bool edge_runs(std::size_t e) const noexcept {
    for (std::size_t s = first_slot_[e]; s < first_slot_[e + 1]; ++s)
      if (runs_[s]) return true;
    return false;
  }
  /// Whether candidate k of edge e runs in the current plan.
  [[nodiscard]] bool op_runs(std::size_t e, std::size_t k) const { return runs_[slot(e, k, "CellDag::op_runs")] != 0; }
  /// Whether state s is identically zero (no running incoming edge).
  [[nodiscard]] bool state_is_zero(int s) const noexcept { return !nonzero_[static_cast<std::size_t>(s)]; }
  /// How many edges run per step.
  [[nodiscard]] std::size_t running_edges() const noexcept {
    std::size_t n = 0;
    for (std::size_t e = 0; e + 1 < first_slot_.size(); ++e) n += edge_runs(e) ? 1 : 0;
    return n;
  }

  /// State shapes for the given input shapes (all ops into a state must agree).
  [[nodiscard]] std::vector<Shape> state_shapes(std::span<const Shape> in) const {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag: " + std::to_string(in.size()) + " input shapes for " + std::to_string(inputs_) + " inputs");
    std::vector<Shape> s(static_cast<std::size_t>(states_));
    for (int i = 0; i < inputs_; ++i) s[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int t = inputs_; t < states_; ++t)
      for (const auto& ed : slots_) {
        if (ed.to != t) continue;
        const Shape o = ed.op.module->output_shape(s[static_cast<std::size_t>(ed.from)]);
        auto& st = s[static_cast<std::size_t>(t)];
        if (st.rank() == 0)
          st = o;
        else if (st != o)
          throw ConfigError("CellDag: edges into state " + std::to_string(t) + " disagree: " + st.str() + " vs " + o.str());
      }
    return s;
  }

  [[nodiscard]] Shape output_shape(std::span<const Shape> in) const {
    const auto s = state_shapes(in);
    Shape out = s[static_cast<std::size_t>(outputs_[0])];
    int channels = 0;
    for (int o : outputs_) {
      const Shape& so = s[static_cast<std::size_t>(o)];
      if (so.rank() != 4 || so[0] != out[0] || so[2] != out[2] || so[3] != out[3])
        throw ConfigError("CellDag: output states " + out.str() + " and " + so.str() + " cannot be concatenated");
      channels += so[1];
    }
    return out.with(1, channels);
  }

  /// Multiply-accumulates per image of every op (run or not).
  [[nodiscard]] double macs(std::span<const Shape> in) const {
    const auto s = state_shapes(in);
    double m = 0.0;
    for (const auto& ed : slots_) m += ed.op.module->macs(s[static_cast<std::size_t>(ed.from)]);
    return m;
  }

  /// Runs the cell on `in` (one tensor per input, alive and unchanged until backward).
  const Tensor& forward(std::span<const Tensor* const> in) {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag::forward: " + std::to_string(in.size()) + " inputs for " + std::to_string(inputs_));
    if (dirty_) [[unlikely]]
      plan();
    bool same = last_in_shapes_.size() == in.size();
    for (std::size_t i = 0; same && i < in.size(); ++i) same = last_in_shapes_[i] == in[i]->shape();
    if (!same) {
      last_in_shapes_.clear();
      for (const Tensor* t : in) last_in_shapes_.push_back(t->shape());
      shapes_ = state_shapes(last_in_shapes_);
    }
    // Under a HookScope every op writes its own output, reported, and none writes into a
    // node's sum directly.
    const bool observed = hooks_active();
    vals_.assign(static_cast<std::size_t>(states_), nullptr);
    for (int i = 0; i < inputs_; ++i) vals_[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int t = inputs_; t < states_; ++t) {
      const auto ts = static_cast<std::size_t>(t);
      if (!needed_[ts]) continue;
      if (!nonzero_[ts]) {
        vals_[ts] = &zeros(ts);
        continue;
      }
      const std::size_t r0 = run_begin_[ts], r1 = run_begin_[ts + 1];
      // A candidate weighted by exactly 1 (GDAS' straight-through one-hot) adds its output
      // unscaled, as an unweighted op does: 1 * y is y, so no copy is needed.
      if (r1 - r0 == 1 && unit_weight(run_list_[r0])) {
        const std::size_t s = run_list_[r0];
        Module& m = *slots_[s].op.module;
        vals_[ts] = &m.forward(*vals_[static_cast<std::size_t>(slots_[s].from)]);
        if (weighted_[s]) outs_[s] = vals_[ts];
        ever_ran_[s] = 1;
        if (observed) report_forward(m, *vals_[ts]);
        continue;
      }
      // Ops that write into the node's sum directly (ending in BatchNorm in training, in a
      // fused convolution in evaluation) do,
      // and keep no output buffer of their own; other outputs are added from their own
      // buffers, the first two in one pass. The additions keep the edges' order (a + b and
      // b + a are the same float). Weighted ops add w * output from their own buffer, kept
      // for dL/dw.
      Tensor& sum = own_[ts];
      const Tensor* pending = nullptr;  // an output not yet in the sum
      bool started = false;             // the sum holds the outputs so far
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t s = run_list_[r];
        Module& m = *slots_[s].op.module;
        const Tensor& x = *vals_[static_cast<std::size_t>(slots_[s].from)];
        ever_ran_[s] = 1;
        if (weighted_[s] && weight_[s] != 1.0f) {
          const Tensor& y = m.forward(x);
          if (observed) report_forward(m, y);
          outs_[s] = &y;
          if (pending) {
            sum.copy_from(*pending);
            pending = nullptr;
            started = true;
          }
          if (started)
            axpy_into(sum, weight_[s], y);
          else
            detail::scale_to(sum, weight_[s], y);
          started = true;
          continue;
        }
        if (!observed && !weighted_[s] && m.forward_into_is_direct()) {
          m.forward_into(x, sum, started);
          if (pending) add_into(sum, *pending);
          pending = nullptr;
          started = true;
          continue;
        }
        const Tensor& y = m.forward(x);
        if (observed) report_forward(m, y);
        if (weighted_[s]) outs_[s] = &y;  // weight 1: kept for dL/dw
        if (started) {
          add_into(sum, y);
        } else if (pending) {
          add_to(sum, *pending, y);
          pending = nullptr;
          started = true;
        } else {
          pending = &y;
        }
      }
      if (pending) sum.copy_from(*pending);
      vals_[ts] = &sum;
    }
    if (outputs_.size() == 1) return *vals_[static_cast<std::size_t>(outputs_[0])];
    concat_outputs();
    return out_;
  }

  /// Back-propagates dL/d(output); then input_grad(i) holds dL/d(input i).
  void backward(const Tensor& dy) {
    NAS_ASSERT(!vals_.empty(), "CellDag::backward before forward");
    const bool observed = hooks_active();
    if (any_weighted_) std::fill(weight_grad_.begin(), weight_grad_.end(), 0.0f);
    grads_.assign(static_cast<std::size_t>(states_), nullptr);
    if (outputs_.size() == 1) {
      const auto o = static_cast<std::size_t>(outputs_[0]);
      // The output state's gradient is dy, plus what later states send back when the
      // output state also feeds an edge.
      if (consumers_[o] == 1) {
        grads_[o] = &dy;
      } else {
        gown_[o].copy_from(dy);
        grads_[o] = &gown_[o];
      }
    } else {
      split_outputs(dy);
    }
    for (int t = states_ - 1; t >= inputs_; --t) {
      const auto ts = static_cast<std::size_t>(t);
      if (!needed_[ts] || !nonzero_[ts] || !grads_[ts]) continue;
      const Tensor& g = *grads_[ts];
      for (std::size_t r = run_begin_[ts + 1]; r-- > run_begin_[ts];) {
        const std::size_t s = run_list_[r];
        Module& m = *slots_[s].op.module;
        const Tensor* gs = &g;
        if (weighted_[s]) {  // d(w y)/dw = y, d(w y)/dy = w
          weight_grad_[s] = static_cast<float>(dot(g, *outs_[s]));
          if (weight_[s] != 1.0f) {
            detail::scale_to(scaled_[s], weight_[s], g);
            gs = &scaled_[s];
          }
        }
        const Tensor& dx = observed ? observed_backward(m, *gs) : m.backward(*gs);
        const auto f = static_cast<std::size_t>(slots_[s].from);
        if (f >= static_cast<std::size_t>(inputs_) && !nonzero_[f]) continue;  // a zero state has no upstream
        accumulate(f, dx);
      }
    }
    for (int i = 0; i < inputs_; ++i) {
      const auto is = static_cast<std::size_t>(i);
      if (!grads_[is]) {
        Tensor& z = gown_[is];
        if (z.shape() != vals_[is]->shape() || !zero_grad_valid_[is]) {
          z.resize(vals_[is]->shape());
          z.zero();
        }
        zero_grad_valid_[is] = true;
        grads_[is] = &z;
      }
    }
  }

  [[nodiscard]] const Tensor& input_grad(int i) const {
    NAS_ASSERT(i >= 0 && i < inputs_ && grads_[static_cast<std::size_t>(i)] != nullptr, "CellDag::input_grad out of range");
    return *grads_[static_cast<std::size_t>(i)];
  }

  /// Adds the cell to a trace as it runs now: the running ops (under their paths,
  /// "edges.<e>" or "edges.<e>.<name>") on the nodes `in`, a sum per state with several of
  /// them, a zero node for a needed state that is identically zero, and the concatenation
  /// of several outputs. Returns the output node. A cell with weighted candidates (a DARTS
  /// mixture) is not traced: the graph has no scaling node.
  int trace(Tracer& t, std::span<const int> in) {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag::trace: " + std::to_string(in.size()) + " inputs for " + std::to_string(inputs_));
    if (any_weighted_)
      throw ConfigError("CellDag::trace: the cell has weighted candidates (a mixture), which a graph cannot express");
    if (dirty_) plan();
    std::vector<Shape> in_shapes;
    for (int x : in) in_shapes.push_back(t.shape(x));
    const std::vector<Shape> shapes = state_shapes(in_shapes);
    std::vector<int> node(static_cast<std::size_t>(states_), -1);
    for (int i = 0; i < inputs_; ++i) node[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int st = inputs_; st < states_; ++st) {
      const auto ss = static_cast<std::size_t>(st);
      if (!needed_[ss]) continue;
      if (!nonzero_[ss]) {
        node[ss] = t.add(NodeKind::zero, in[0], shapes[ss]);
        continue;
      }
      std::vector<int> terms;
      for (std::size_t r = run_begin_[ss]; r < run_begin_[ss + 1]; ++r) {
        const std::size_t slot = run_list_[r];
        terms.push_back(t.child(slot_names_[slot], *slots_[slot].op.module, node[static_cast<std::size_t>(slots_[slot].from)]));
      }
      node[ss] = terms.size() == 1 ? terms[0] : t.add(t.node(NodeKind::add, std::move(terms), shapes[ss]));
    }
    if (outputs_.size() == 1) return node[static_cast<std::size_t>(outputs_[0])];
    std::vector<int> parts;
    for (int o : outputs_) parts.push_back(node[static_cast<std::size_t>(o)]);
    return t.add(t.node(NodeKind::concat, std::move(parts), output_shape(in_shapes)));
  }

  /// Calls f(name, op) for every op, candidates included: "edges.<e>" in a fixed cell,
  /// "edges.<e>.<name>" in a switchable one.
  void for_each_op(const std::function<void(const std::string&, Module&)>& f) {
    for (std::size_t s = 0; s < slots_.size(); ++s) f(slot_names_[s], *slots_[s].op.module);
  }

 private:
  void init() {
    if (inputs_ < 1 || states_ <= inputs_)
      throw ConfigError("CellDag: " + std::to_string(inputs_) + " inputs and " + std::to_string(states_) +
                        " states (need inputs >= 1 and at least one intermediate state)");
    for (std::size_t e = 0; e + 1 < first_slot_.size(); ++e) {
      const auto& ed = slots_[first_slot_[e]];
      if (ed.from < 0 || ed.to < inputs_ || ed.to >= states_ || ed.from >= ed.to)
        throw ConfigError("CellDag: edge " + std::to_string(e) + " (" + std::to_string(ed.from) + " -> " +
                          std::to_string(ed.to) + ") is not a forward edge into an intermediate state of " +
                          std::to_string(states_));
      for (std::size_t s = first_slot_[e]; s < first_slot_[e + 1]; ++s) {
        if (!slots_[s].op.module) throw ConfigError("CellDag: edge " + std::to_string(e) + " has no op");
        slot_edge_.push_back(e);
      }
    }
    if (outputs_.empty()) throw ConfigError("CellDag: no output state");
    for (int o : outputs_)
      if (o < inputs_ || o >= states_)
        throw ConfigError("CellDag: output state " + std::to_string(o) + " is not an intermediate state of " +
                          std::to_string(states_));
    for (int s = inputs_; s < states_; ++s) {
      bool fed = false;
      for (const auto& ed : slots_) fed = fed || ed.to == s;
      if (!fed) throw ConfigError("CellDag: state " + std::to_string(s) + " has no incoming edge");
    }
    const std::size_t n = slots_.size();
    active_.assign(n, 1);
    weighted_.assign(n, 0);
    weight_.assign(n, 1.0f);
    weight_grad_.assign(n, 0.0f);
    ever_ran_.assign(n, 0);
    outs_.assign(n, nullptr);
    scaled_.resize(n);
    plan();
  }

  [[nodiscard]] std::size_t slot(std::size_t e, std::size_t k, const char* where) const {
    if (e + 1 >= first_slot_.size() || k >= first_slot_[e + 1] - first_slot_[e])
      throw ConfigError(std::string(where) + ": op " + std::to_string(k) + " of edge " + std::to_string(e) + " (the cell has " +
                        std::to_string(num_edges()) + " edges" +
                        (e + 1 < first_slot_.size() ? ", that one " + std::to_string(num_ops(e)) + " ops)" : ")"));
    return first_slot_[e] + k;
  }

  void set_active_impl(std::size_t e, std::span<const std::size_t> ops, std::span<const float> weights, bool weighted) {
    if (e + 1 >= first_slot_.size())
      throw ConfigError("CellDag::set_active: edge " + std::to_string(e) + " of " + std::to_string(num_edges()));
    if (weighted && weights.size() != ops.size())
      throw ConfigError("CellDag::set_active: " + std::to_string(weights.size()) + " weights for " +
                        std::to_string(ops.size()) + " ops on edge " + std::to_string(e));
    const std::size_t b = first_slot_[e], n = first_slot_[e + 1] - b;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i] >= n)
        throw ConfigError("CellDag::set_active: op " + std::to_string(ops[i]) + " on edge " + std::to_string(e) + " (it has " +
                          std::to_string(n) + " ops)");
      for (std::size_t j = 0; j < i; ++j)
        if (ops[j] == ops[i])
          throw ConfigError("CellDag::set_active: op " + std::to_string(ops[i]) + " twice on edge " + std::to_string(e));
    }
    bool changed = false;
    for (std::size_t k = 0; k < n; ++k) {
      const bool on = std::find(ops.begin(), ops.end(), k) != ops.end();
      if (release_inactive_ && active_[b + k] != 0 && !on) {
        slots_[b + k].op.module->release_buffers();
        if (b + k < scaled_.size()) scaled_[b + k] = Tensor();
      }
      changed = changed || (active_[b + k] != 0) != on;
      active_[b + k] = on ? 1 : 0;
      weighted_[b + k] = 0;
      weight_[b + k] = 1.0f;
    }
    if (weighted)
      for (std::size_t i = 0; i < ops.size(); ++i) {
        weighted_[b + ops[i]] = 1;
        weight_[b + ops[i]] = weights[i];
      }
    any_weighted_ = std::find(weighted_.begin(), weighted_.end(), 1) != weighted_.end();
    dirty_ = dirty_ || changed;
  }

  // Which ops run, which states are needed and which are identically zero.
  void plan() {
    const auto S = static_cast<std::size_t>(states_);
    auto live = [this](std::size_t s) { return active_[s] != 0 && !slots_[s].op.is_none; };
    needed_.assign(S, false);
    for (int o : outputs_) needed_[static_cast<std::size_t>(o)] = true;
    for (int t = states_ - 1; t >= 0; --t)
      if (needed_[static_cast<std::size_t>(t)])
        for (std::size_t s = 0; s < slots_.size(); ++s)
          if (slots_[s].to == t && live(s)) needed_[static_cast<std::size_t>(slots_[s].from)] = true;
    nonzero_.assign(S, false);
    for (int i = 0; i < inputs_; ++i) nonzero_[static_cast<std::size_t>(i)] = true;
    runs_.assign(slots_.size(), 0);
    consumers_.assign(S, 0);
    run_list_.clear();
    run_begin_.assign(S + 1, 0);
    for (int t = 0; t < states_; ++t) {
      run_begin_[static_cast<std::size_t>(t)] = run_list_.size();
      if (t < inputs_ || !needed_[static_cast<std::size_t>(t)]) continue;
      for (std::size_t s = 0; s < slots_.size(); ++s) {
        const auto& ed = slots_[s];
        if (ed.to != t || !live(s)) continue;
        const bool src = nonzero_[static_cast<std::size_t>(ed.from)];
        if (!src && ed.op.zero_preserving) continue;
        runs_[s] = 1;
        run_list_.push_back(s);
        nonzero_[static_cast<std::size_t>(t)] = true;
        if (src) ++consumers_[static_cast<std::size_t>(ed.from)];
      }
    }
    run_begin_[S] = run_list_.size();
    for (int o : outputs_) ++consumers_[static_cast<std::size_t>(o)];
    own_.resize(S);
    gown_.resize(S);
    zero_.resize(S);
    zero_grad_valid_.assign(S, false);
    dirty_ = false;
    ++plans_;
  }

  const Tensor& zeros(std::size_t s) {
    Tensor& z = zero_[s];
    if (z.shape() != shapes_[s]) {
      z.resize(shapes_[s]);
      z.zero();
    }
    return z;
  }

  // grads_[s] += dx, aliasing dx when s has a single consumer.
  void accumulate(std::size_t s, const Tensor& dx) {
    if (!grads_[s]) {
      if (consumers_[s] <= 1) {
        grads_[s] = &dx;
      } else {
        gown_[s].copy_from(dx);
        if (s < static_cast<std::size_t>(inputs_)) zero_grad_valid_[s] = false;
        grads_[s] = &gown_[s];
      }
      return;
    }
    NAS_ASSERT(grads_[s] == &gown_[s], "CellDag: a shared state's gradient must live in its own buffer");
    add_into(gown_[s], dx);
  }

  void concat_outputs() {
    const Tensor& first = *vals_[static_cast<std::size_t>(outputs_[0])];
    const int N = first.dim(0), H = first.dim(2), W = first.dim(3);
    int C = 0;
    for (int o : outputs_) C += vals_[static_cast<std::size_t>(o)]->dim(1);
    out_.resize(Shape{N, C, H, W});
    const std::size_t hw = static_cast<std::size_t>(H) * static_cast<std::size_t>(W);
    for (int n = 0; n < N; ++n) {
      float* dst = out_.data() + static_cast<std::size_t>(n) * C * hw;
      for (int o : outputs_) {
        const Tensor& v = *vals_[static_cast<std::size_t>(o)];
        const std::size_t chunk = static_cast<std::size_t>(v.dim(1)) * hw;
        std::copy_n(v.data() + static_cast<std::size_t>(n) * chunk, chunk, dst);
        dst += chunk;
      }
    }
  }

  void split_outputs(const Tensor& dy) {
    const int N = dy.dim(0), C = dy.dim(1);
    const std::size_t hw = static_cast<std::size_t>(dy.dim(2)) * static_cast<std::size_t>(dy.dim(3));
    std::size_t offset = 0;
    for (int o : outputs_) {
      const auto os = static_cast<std::size_t>(o);
      const Shape& s = shapes_[os];
      const std::size_t chunk = static_cast<std::size_t>(s[1]) * hw;
      Tensor& g = gown_[os];
      if (!grads_[os]) {
        g.resize(s);
        for (int n = 0; n < N; ++n)
          std::copy_n(dy.data() + static_cast<std::size_t>(n) * C * hw + offset, chunk, g.data() + static_cast<std::size_t>(n) * chunk);
        grads_[os] = &g;
      } else {
        for (int n = 0; n < N; ++n) {
          const float* src = dy.data() + static_cast<std::size_t>(n) * C * hw + offset;
          float* dst = g.data() + static_cast<std::size_t>(n) * chunk;
          for (std::size_t i = 0; i < chunk; ++i) dst[i] += src[i];
        }
      }
      offset += chunk;
    }
  }

  int inputs_, states_;
  std::vector<int> outputs_;
  std::vector<CellEdge> slots_;            // every candidate op, edge-major
  std::vector<std::size_t> first_slot_;    // edge e's candidates: [first_slot_[e], first_slot_[e + 1])
  std::vector<std::size_t> slot_edge_;     // the edge of each candidate
  std::vector<std::string> slot_names_;    // path of each candidate inside the cell
  std::vector<char> active_, weighted_, ever_ran_, runs_;
  std::vector<float> weight_, weight_grad_;
  bool any_weighted_ = false;
  bool dirty_ = false;  // the active set changed since the last plan
  std::size_t plans_ = 0;
  std::vector<std::size_t> run_list_, run_begin_;  // running candidates by target state, in slot order
  std::vector<bool> needed_, nonzero_, zero_grad_valid_;
  std::vector<int> consumers_;
  [[nodiscard]] bool unit_weight(std::size_t s) const noexcept { return !weighted_[s] || weight_[s] == 1.0f; }

  std::vector<const Tensor*> outs_;  // weighted candidates' outputs, for dL/dw
  std::vector<Tensor> scaled_;       // weighted candidates' w * dL/d(target)
  bool release_inactive_ = false;
  std::vector<Shape> shapes_, last_in_shapes_;
  std::vector<const Tensor*> vals_, grads_;
  std::vector<Tensor> own_, gown_, zero_;
  Tensor out_;
};

}  // namespace nas
