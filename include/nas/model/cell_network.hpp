// CellNetwork: an architecture of a cell space turned into a trainable network (stem, cells, head).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"
#include "nas/model/cell_dag.hpp"
#include "nas/model/ops.hpp"
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

/// A network built from an architecture of `Space`; specialized for Nb201Space and CellSpace.
template <class Space>
class CellNetwork;

namespace detail {

/// One NAS-Bench-201 cell (InferCell): node j = sum over i < j of op_ij(node i), output node 3.
class Nb201Cell final : public Module {
 public:
  Nb201Cell(const Nb201Arch& arch, int channels, Rng& rng) : dag_(make_dag(arch, channels, rng)) {}

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
  static CellDag make_dag(const Nb201Arch& arch, int channels, Rng& rng) {
    std::vector<CellEdge> edges;
    for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e) {
      const auto& ed = Nb201Arch::edges[e];
      edges.push_back(CellEdge{ed.from, ed.to, make_cell_op(arch.op_name(e), {channels, channels, 1}, rng)});
    }
    return CellDag(1, static_cast<int>(Nb201Arch::num_nodes), std::move(edges), {static_cast<int>(Nb201Arch::num_nodes) - 1});
  }

  CellDag dag_;
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
class CellNetwork<Nb201Space> final : public Module {
 public:
  using Arch = Nb201Arch;

  CellNetwork(const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : arch_(arch), input_(input), options_(options) {
    input.validate("CellNetwork<Nb201Space>");
    options.validate("CellNetwork<Nb201Space>");
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
      for (int k = 0; k < options.cells; ++k) cells_.push_back(&body_.emplace<detail::Nb201Cell>(arch, c, rng));
    }
    body_.emplace<BatchNorm2d>(c);
    body_.emplace<ReLU>();
    body_.emplace<GlobalAvgPool>();
    body_.emplace<Linear>(Linear::Options{.in_features = c, .out_features = input.classes, .init = options.init}, rng);
  }
  CellNetwork(const Nb201Space&, const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : CellNetwork(arch, input, options) {}

  /// Logits [N, classes] for images [N, C, H, W].
  const Tensor& forward(const Tensor& x) override { return body_.forward(x); }
  const Tensor& backward(const Tensor& dy) override { return body_.backward(dy); }
  [[nodiscard]] Shape output_shape(const Shape& in) const override { return body_.output_shape(in); }
  [[nodiscard]] double macs(const Shape& in) const override { return body_.macs(in); }
  /// Multiply-accumulates per image of the network's own input.
  [[nodiscard]] double macs() const { return body_.macs(input_.batch(1)); }
  [[nodiscard]] std::string type_name() const override { return "CellNetwork<Nb201Space>"; }
  int trace(Tracer& t, int x) override { return t.child("body", body_, x); }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { f("body", body_); }

  [[nodiscard]] const Arch& arch() const noexcept { return arch_; }
  [[nodiscard]] const NetworkInput& input() const noexcept { return input_; }
  [[nodiscard]] const NetworkOptions& options() const noexcept { return options_; }
  /// Edges that run per cell (edges on paths that cannot matter are skipped).
  [[nodiscard]] std::size_t running_edges_per_cell() const { return cells_.front()->dag().running_edges(); }

 private:
  Arch arch_;
  NetworkInput input_;
  NetworkOptions options_;
  Sequential body_;
  std::vector<detail::Nb201Cell*> cells_;
};

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
class CellNetwork<CellSpace> final : public Module {
 public:
  using Arch = CellArch;

  CellNetwork(const CellSpace& space, const Arch& arch, const NetworkInput& input, const NetworkOptions& options = {})
      : arch_(arch), input_(input), options_(options) {
    input.validate("CellNetwork<CellSpace>");
    options.validate("CellNetwork<CellSpace>");
    const auto m = static_cast<int>(space.num_inputs());
    const auto nodes = static_cast<int>(space.num_nodes());
    if (arch.normal.size() != static_cast<std::size_t>(2 * nodes) ||
        (space.has_reduction() && arch.reduce.size() != static_cast<std::size_t>(2 * nodes)))
      throw ConfigError("CellNetwork<CellSpace>: the architecture has " + std::to_string(arch.normal.size()) + "/" +
                        std::to_string(arch.reduce.size()) + " picks, the space expects " + std::to_string(2 * nodes) +
                        " per cell type");
    Rng rng(options.seed);
    const int c_stem = options.stem_multiplier * options.channels;
    stem_.emplace<Conv2d>(Conv2d::Options{.in_channels = input.channels, .out_channels = c_stem, .kernel = 3, .padding = 1,
                                          .init = options.init},
                          rng);
    stem_.emplace<BatchNorm2d>(c_stem);

    // Channels and height of each state: 0 = stem, k + 1 = output of cell k.
    std::vector<int> ch{c_stem}, hh{input.height};
    int c = options.channels;
    const int L = options.cells;
    for (int k = 0; k < L; ++k) {
      const bool reduction = k == L / 3 || k == 2 * L / 3;
      if (reduction) c *= 2;
      Cell cell;
      cell.reduction = reduction;
      const int latest = k;  // state index of the previous cell's output
      for (int j = 0; j < m; ++j) {
        const int src = std::max(0, k - m + 1 + j);
        cell.sources.push_back(src);
        const ConvBlockOptions pre{.in_channels = ch[static_cast<std::size_t>(src)], .out_channels = c, .kernel = 1,
                                   .stride = 1, .padding = 0, .init = options.init};
        const int hs = hh[static_cast<std::size_t>(src)], hl = hh[static_cast<std::size_t>(latest)];
        if (hs == hl) {
          cell.pre.push_back(std::make_unique<ReLUConvBN>(pre, rng));
        } else if ((hs + 1) / 2 == hl) {
          ConvBlockOptions fr = pre;
          fr.stride = 2;
          cell.pre.push_back(std::make_unique<FactorizedReduce>(fr, rng));
        } else {
          throw ConfigError("CellNetwork<CellSpace>: cell " + std::to_string(k) + " input " + std::to_string(j) +
                            " has height " + std::to_string(hs) + " against " + std::to_string(hl) +
                            " (at most one reduction apart)");
        }
      }
      const auto& picks = (reduction && !arch.reduce.empty()) ? arch.reduce : arch.normal;
      std::vector<CellEdge> edges;
      for (int node = 0; node < nodes; ++node)
        for (int p = 0; p < 2; ++p) {
          const CellPick& pick = picks[static_cast<std::size_t>(2 * node + p)];
          if (pick.input >= m + node)
            throw ConfigError("CellNetwork<CellSpace>: node " + std::to_string(node) + " picks input " +
                              std::to_string(pick.input) + " (must be < " + std::to_string(m + node) + ")");
          if (pick.op >= space.ops().size())
            throw ConfigError("CellNetwork<CellSpace>: op code " + std::to_string(pick.op) + " outside the space's " +
                              std::to_string(space.ops().size()) + " ops");
          const int stride = reduction && pick.input < m ? 2 : 1;
          edges.push_back(CellEdge{pick.input, m + node, make_cell_op(space.ops()[pick.op], {c, c, stride}, rng)});
        }
      std::vector<int> outputs;
      for (int node = 0; node < nodes; ++node) outputs.push_back(m + node);
      cell.dag = std::make_unique<CellDag>(m, m + nodes, std::move(edges), std::move(outputs));
      cells_.push_back(std::move(cell));
      ch.push_back(nodes * c);
      hh.push_back(reduction ? (hh.back() + 1) / 2 : hh.back());
    }
    classifier_ = std::make_unique<Linear>(
        Linear::Options{.in_features = ch.back(), .out_features = input.classes, .init = options.init}, rng);
    states_.resize(static_cast<std::size_t>(L) + 1);
    grads_.resize(static_cast<std::size_t>(L) + 1);
    touched_.resize(static_cast<std::size_t>(L) + 1);
  }

  const Tensor& forward(const Tensor& x) override {
    states_[0] = &stem_.forward(x);
    for (std::size_t k = 0; k < cells_.size(); ++k) {
      Cell& cell = cells_[k];
      cell.in.clear();
      for (std::size_t j = 0; j < cell.pre.size(); ++j)
        cell.in.push_back(&cell.pre[j]->forward(*states_[static_cast<std::size_t>(cell.sources[j])]));
      states_[k + 1] = &cell.dag->forward(cell.in);
    }
    return classifier_->forward(pool_.forward(*states_.back()));
  }

  const Tensor& backward(const Tensor& dy) override {
    const Tensor& g = pool_.backward(classifier_->backward(dy));
    std::fill(touched_.begin(), touched_.end(), false);
    const std::size_t L = cells_.size();
    grads_[L].copy_from(g);
    touched_[L] = true;
    for (std::size_t k = L; k-- > 0;) {
      Cell& cell = cells_[k];
      cell.dag->backward(grads_[k + 1]);
      for (std::size_t j = cell.pre.size(); j-- > 0;) {
        const Tensor& d = cell.pre[j]->backward(cell.dag->input_grad(static_cast<int>(j)));
        const auto s = static_cast<std::size_t>(cell.sources[j]);
        if (!touched_[s]) {
          grads_[s].copy_from(d);
          touched_[s] = true;
        } else {
          add_into(grads_[s], d);
        }
      }
    }
    return stem_.backward(grads_[0]);
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
  [[nodiscard]] double macs() const { return macs(input_.batch(1)); }
  [[nodiscard]] std::string type_name() const override { return "CellNetwork<CellSpace>"; }
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

  [[nodiscard]] const Arch& arch() const noexcept { return arch_; }
  [[nodiscard]] const NetworkInput& input() const noexcept { return input_; }
  [[nodiscard]] const NetworkOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t num_cells() const noexcept { return cells_.size(); }
  [[nodiscard]] bool is_reduction(std::size_t k) const { return cells_.at(k).reduction; }

 private:
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

  Arch arch_;
  NetworkInput input_;
  NetworkOptions options_;
  Sequential stem_;
  std::vector<Cell> cells_;
  GlobalAvgPool pool_;
  std::unique_ptr<Linear> classifier_;
  std::vector<const Tensor*> states_;
  std::vector<Tensor> grads_;
  std::vector<bool> touched_;
};

/// Builds the network of `arch` (heap-allocated, as optimizers keep pointers to its parameters).
template <class Space>
[[nodiscard]] std::unique_ptr<CellNetwork<Space>> make_network(const Space& space, const typename Space::Arch& arch,
                                                               const NetworkInput& input, const NetworkOptions& options = {}) {
  return std::make_unique<CellNetwork<Space>>(space, arch, input, options);
}

}  // namespace nas
