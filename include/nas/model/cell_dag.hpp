// CellDag: runs a cell's DAG of operations forward and backward, skipping edges that cannot matter.
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
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// One edge of a cell: `op` applied to state `from`, summed into state `to`.
struct CellEdge {
  int from = 0;
  int to = 0;
  CellOp op;
};

/// The inside of a cell: `inputs` input states (0 .. inputs-1), then intermediate states
/// (inputs .. states-1), each the sum of its incoming edges; the output is one state or
/// the channel concatenation of several.
///
/// Work is planned once per input shape: an edge runs only if its target can reach the
/// output through non-`none` edges and its op can produce something non-zero (ops with
/// BatchNorm run even on an all-zero state: they output BN's shift, as the reference
/// networks compute). A state with no running incoming edge is identically zero. `none`
/// edges never run. Buffers are resized, not reallocated, when the shape repeats, so after
/// the first step no call allocates. Parameters and MACs count every op of the cell,
/// run or not (the convention of NAS-Bench-201's published counts).
class CellDag {
 public:
  CellDag(int inputs, int states, std::vector<CellEdge> edges, std::vector<int> outputs)
      : inputs_(inputs), states_(states), edges_(std::move(edges)), outputs_(std::move(outputs)) {
    if (inputs < 1 || states <= inputs)
      throw ConfigError("CellDag: " + std::to_string(inputs) + " inputs and " + std::to_string(states) +
                        " states (need inputs >= 1 and at least one intermediate state)");
    for (std::size_t e = 0; e < edges_.size(); ++e) {
      const auto& ed = edges_[e];
      if (ed.from < 0 || ed.to < inputs || ed.to >= states || ed.from >= ed.to)
        throw ConfigError("CellDag: edge " + std::to_string(e) + " (" + std::to_string(ed.from) + " -> " +
                          std::to_string(ed.to) + ") is not a forward edge into an intermediate state of " +
                          std::to_string(states));
      if (!ed.op.module) throw ConfigError("CellDag: edge " + std::to_string(e) + " has no op");
    }
    if (outputs_.empty()) throw ConfigError("CellDag: no output state");
    for (int o : outputs_)
      if (o < inputs || o >= states)
        throw ConfigError("CellDag: output state " + std::to_string(o) + " is not an intermediate state of " +
                          std::to_string(states));
    for (int s = inputs_; s < states_; ++s) {
      bool fed = false;
      for (const auto& ed : edges_) fed = fed || ed.to == s;
      if (!fed) throw ConfigError("CellDag: state " + std::to_string(s) + " has no incoming edge");
    }
    plan();
  }

  [[nodiscard]] int num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] int num_states() const noexcept { return states_; }
  [[nodiscard]] const std::vector<CellEdge>& edges() const noexcept { return edges_; }
  /// Whether edge e runs (the plan does not depend on shapes).
  [[nodiscard]] bool edge_runs(std::size_t e) const noexcept { return runs_[e]; }
  /// Whether state s is identically zero (no running incoming edge).
  [[nodiscard]] bool state_is_zero(int s) const noexcept { return !nonzero_[static_cast<std::size_t>(s)]; }
  /// How many edges run per step.
  [[nodiscard]] std::size_t running_edges() const noexcept {
    return static_cast<std::size_t>(std::count(runs_.begin(), runs_.end(), true));
  }

  /// State shapes for the given input shapes (all edges into a state must agree).
  [[nodiscard]] std::vector<Shape> state_shapes(std::span<const Shape> in) const {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag: " + std::to_string(in.size()) + " input shapes for " + std::to_string(inputs_) + " inputs");
    std::vector<Shape> s(static_cast<std::size_t>(states_));
    for (int i = 0; i < inputs_; ++i) s[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int t = inputs_; t < states_; ++t)
      for (const auto& ed : edges_) {
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
    for (const auto& ed : edges_) m += ed.op.module->macs(s[static_cast<std::size_t>(ed.from)]);
    return m;
  }

  /// Runs the cell on `in` (one tensor per input, alive and unchanged until backward).
  const Tensor& forward(std::span<const Tensor* const> in) {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag::forward: " + std::to_string(in.size()) + " inputs for " + std::to_string(inputs_));
    bool same = last_in_shapes_.size() == in.size();
    for (std::size_t i = 0; same && i < in.size(); ++i) same = last_in_shapes_[i] == in[i]->shape();
    if (!same) {
      last_in_shapes_.clear();
      for (const Tensor* t : in) last_in_shapes_.push_back(t->shape());
      shapes_ = state_shapes(last_in_shapes_);
    }
    vals_.assign(static_cast<std::size_t>(states_), nullptr);
    for (int i = 0; i < inputs_; ++i) vals_[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int t = inputs_; t < states_; ++t) {
      const auto ts = static_cast<std::size_t>(t);
      if (!needed_[ts]) continue;
      if (!nonzero_[ts]) {
        vals_[ts] = &zeros(ts);
        continue;
      }
      if (in_count_[ts] == 1) {
        for (std::size_t e = 0; e < edges_.size(); ++e)
          if (runs_[e] && edges_[e].to == t) vals_[ts] = &edges_[e].op.module->forward(*vals_[static_cast<std::size_t>(edges_[e].from)]);
        continue;
      }
      // Ops that write into the node's sum directly (ending in BatchNorm in training, in a
      // fused convolution in evaluation) do,
      // and keep no output buffer of their own; other outputs are added from their own
      // buffers, the first two in one pass. The additions keep the edges' order (a + b and
      // b + a are the same float).
      Tensor& sum = own_[ts];
      const Tensor* pending = nullptr;  // an output not yet in the sum
      bool started = false;             // the sum holds the outputs so far
      for (std::size_t e = 0; e < edges_.size(); ++e) {
        if (!runs_[e] || edges_[e].to != t) continue;
        Module& m = *edges_[e].op.module;
        const Tensor& x = *vals_[static_cast<std::size_t>(edges_[e].from)];
        if (m.forward_into_is_direct()) {
          m.forward_into(x, sum, started);
          if (pending) add_into(sum, *pending);
          pending = nullptr;
          started = true;
          continue;
        }
        const Tensor& y = m.forward(x);
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
      for (std::size_t e = edges_.size(); e-- > 0;) {
        if (!runs_[e] || edges_[e].to != t) continue;
        const Tensor& dx = edges_[e].op.module->backward(g);
        const auto f = static_cast<std::size_t>(edges_[e].from);
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

  /// Adds the cell to a trace as it runs: the running edges (edge e under "edges.e") on the
  /// nodes `in`, a sum per state with several of them, a zero node for a needed state that
  /// is identically zero, and the concatenation of several outputs. Returns the output node.
  int trace(Tracer& t, std::span<const int> in) const {
    if (static_cast<int>(in.size()) != inputs_)
      throw ConfigError("CellDag::trace: " + std::to_string(in.size()) + " inputs for " + std::to_string(inputs_));
    std::vector<Shape> in_shapes;
    for (int x : in) in_shapes.push_back(t.shape(x));
    const std::vector<Shape> shapes = state_shapes(in_shapes);
    std::vector<int> node(static_cast<std::size_t>(states_), -1);
    for (int i = 0; i < inputs_; ++i) node[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    for (int s = inputs_; s < states_; ++s) {
      const auto ss = static_cast<std::size_t>(s);
      if (!needed_[ss]) continue;
      if (!nonzero_[ss]) {
        node[ss] = t.add(NodeKind::zero, in[0], shapes[ss]);
        continue;
      }
      std::vector<int> terms;
      for (std::size_t e = 0; e < edges_.size(); ++e)
        if (runs_[e] && edges_[e].to == s)
          terms.push_back(t.child("edges." + std::to_string(e), *edges_[e].op.module,
                                  node[static_cast<std::size_t>(edges_[e].from)]));
      node[ss] = terms.size() == 1 ? terms[0] : t.add(t.node(NodeKind::add, std::move(terms), shapes[ss]));
    }
    if (outputs_.size() == 1) return node[static_cast<std::size_t>(outputs_[0])];
    std::vector<int> parts;
    for (int o : outputs_) parts.push_back(node[static_cast<std::size_t>(o)]);
    return t.add(t.node(NodeKind::concat, std::move(parts), output_shape(in_shapes)));
  }

  void for_each_op(const std::function<void(const std::string&, Module&)>& f) {
    for (std::size_t e = 0; e < edges_.size(); ++e) f("edges." + std::to_string(e), *edges_[e].op.module);
  }

 private:
  // Which edges run, which states are needed and which are identically zero.
  void plan() {
    const auto S = static_cast<std::size_t>(states_);
    needed_.assign(S, false);
    for (int o : outputs_) needed_[static_cast<std::size_t>(o)] = true;
    for (int t = states_ - 1; t >= 0; --t)
      if (needed_[static_cast<std::size_t>(t)])
        for (const auto& ed : edges_)
          if (ed.to == t && !ed.op.is_none) needed_[static_cast<std::size_t>(ed.from)] = true;
    nonzero_.assign(S, false);
    for (int i = 0; i < inputs_; ++i) nonzero_[static_cast<std::size_t>(i)] = true;
    runs_.assign(edges_.size(), false);
    in_count_.assign(S, 0);
    consumers_.assign(S, 0);
    for (int t = inputs_; t < states_; ++t) {
      if (!needed_[static_cast<std::size_t>(t)]) continue;
      for (std::size_t e = 0; e < edges_.size(); ++e) {
        const auto& ed = edges_[e];
        if (ed.to != t || ed.op.is_none) continue;
        const bool src = nonzero_[static_cast<std::size_t>(ed.from)];
        if (!src && ed.op.zero_preserving) continue;
        runs_[e] = true;
        nonzero_[static_cast<std::size_t>(t)] = true;
        ++in_count_[static_cast<std::size_t>(t)];
        if (src) ++consumers_[static_cast<std::size_t>(ed.from)];
      }
    }
    for (int o : outputs_) ++consumers_[static_cast<std::size_t>(o)];
    own_.resize(S);
    gown_.resize(S);
    zero_.resize(S);
    zero_grad_valid_.assign(S, false);
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
  std::vector<CellEdge> edges_;
  std::vector<int> outputs_;
  std::vector<bool> needed_, nonzero_, runs_, zero_grad_valid_;
  std::vector<int> in_count_, consumers_;
  std::vector<Shape> shapes_, last_in_shapes_;
  std::vector<const Tensor*> vals_, grads_;
  std::vector<Tensor> own_, gown_, zero_;
  Tensor out_;
};

}  // namespace nas
