// NetworkGraph and Tracer: the flat DAG of primitive ops a Module writes itself into (Module::trace).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// The primitive operations of a traced network. Every Module of the library lowers to
/// these; composite blocks (Sequential, ReLUConvBN, cells, networks) disappear into them.
enum class NodeKind {
  input,            ///< the network's input (node 0)
  conv2d,           ///< torch.nn.Conv2d (GraphNode::conv)
  batch_norm2d,     ///< torch.nn.BatchNorm2d (GraphNode::bn)
  relu,
  silu,
  avg_pool2d,       ///< GraphNode::pool, count_include_pad as the module has it
  max_pool2d,       ///< GraphNode::pool; padding acts as -infinity
  global_avg_pool,  ///< [N, C, H, W] -> [N, C]
  linear,           ///< torch.nn.Linear on the input flattened to [N, in_features] (GraphNode::linear)
  add,              ///< the sum of all inputs (same shape)
  concat,           ///< the inputs concatenated along channels (dim 1)
  zero,             ///< zeros of the node's shape (the input only gives the batch)
  identity,
  shift,            ///< y[n, c, h, w] = x[n, c, h + 1, w + 1], zero past the edge (FactorizedReduce)
  flatten,          ///< [N, ...] -> [N, prod(...)]
  dropout,          ///< inverted dropout with probability GraphNode::p (identity in evaluation)
  sigmoid,
  channel_scale,    ///< inputs {x [N, C, H, W], s [N, C]}: x[n, c, :, :] * s[n, c] (squeeze-and-excitation)
};

/// "conv2d", "batch_norm2d", ...
[[nodiscard]] inline const char* node_kind_name(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::input: return "input";
    case NodeKind::conv2d: return "conv2d";
    case NodeKind::batch_norm2d: return "batch_norm2d";
    case NodeKind::relu: return "relu";
    case NodeKind::silu: return "silu";
    case NodeKind::avg_pool2d: return "avg_pool2d";
    case NodeKind::max_pool2d: return "max_pool2d";
    case NodeKind::global_avg_pool: return "global_avg_pool";
    case NodeKind::linear: return "linear";
    case NodeKind::add: return "add";
    case NodeKind::concat: return "concat";
    case NodeKind::zero: return "zero";
    case NodeKind::identity: return "identity";
    case NodeKind::shift: return "shift";
    case NodeKind::flatten: return "flatten";
    case NodeKind::dropout: return "dropout";
    case NodeKind::sigmoid: return "sigmoid";
    case NodeKind::channel_scale: return "channel_scale";
  }
  return "?";
}

/// The full geometry of a convolution, as torch.nn.Conv2d takes it.
struct ConvGeometry {
  int in_channels = 0, out_channels = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  bool bias = false;
};

/// A BatchNorm2d's settings and where its running statistics live (null without them).
struct BatchNormGeometry {
  int channels = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
  Tensor* running_mean = nullptr;
  Tensor* running_var = nullptr;
};

/// Square-window pooling (floor rounding, as PyTorch's default ceil_mode = false).
struct PoolGeometry {
  int kernel = 1, stride = 1, padding = 0;
  bool count_include_pad = false;  ///< avg_pool2d only
};

struct LinearGeometry {
  int in_features = 0, out_features = 0;
  bool bias = true;
};

/// One primitive op of a traced network. Only the geometry member of its kind is set.
struct GraphNode {
  NodeKind kind = NodeKind::input;
  std::vector<int> inputs;  ///< ids of earlier nodes
  Shape shape;              ///< the output shape for the traced input shape
  /// The dotted path of the module that emitted the node, as named_parameters() spells it
  /// ("body.3.edges.2.1"); ops without a module of their own (a cell's sums) carry the
  /// path of the module around them.
  std::string path;
  ConvGeometry conv;
  BatchNormGeometry bn;
  PoolGeometry pool;
  LinearGeometry linear;
  double p = 0.0;  ///< dropout probability
  /// The module's parameters (conv/linear weight and bias, BatchNorm gamma and beta);
  /// null when absent.
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;
};

/// A network as a flat DAG: nodes in topological order, node 0 its input, `output` its
/// result. Nodes point into the traced Module's parameters and running statistics, so the
/// graph reads their current values and lives no longer than the Module.
struct NetworkGraph {
  std::vector<GraphNode> nodes;
  int output = 0;

  [[nodiscard]] const Shape& input_shape() const { return nodes.at(0).shape; }
  [[nodiscard]] const Shape& output_shape() const { return nodes.at(static_cast<std::size_t>(output)).shape; }
  /// How many nodes of kind `k` the graph holds.
  [[nodiscard]] std::size_t count(NodeKind k) const noexcept {
    std::size_t n = 0;
    for (const auto& node : nodes) n += node.kind == k ? 1 : 0;
    return n;
  }
  /// The parameter path of a node's parameter ("body.0" + "weight" -> "body.0.weight").
  [[nodiscard]] static std::string parameter_path(const GraphNode& node, const Parameter& p) {
    return node.path.empty() ? p.name : node.path + "." + p.name;
  }
  /// The parameters the graph uses, in node order, with the paths named_parameters() gives
  /// them. Parameters of ops that never run (edges that cannot reach a cell's output) are
  /// not in the graph.
  [[nodiscard]] std::vector<NamedParameter> named_parameters() const {
    std::vector<NamedParameter> out;
    for (const auto& node : nodes)
      for (Parameter* p : {node.weight, node.bias})
        if (p) out.push_back({parameter_path(node, *p), p});
    return out;
  }
  /// One line per node: "12 conv2d body.3.edges.0.1 [2, 4, 8, 8] <- 11".
  [[nodiscard]] std::string str() const {
    std::string s;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto& n = nodes[i];
      s += std::to_string(i) + " " + node_kind_name(n.kind) + " " + (n.path.empty() ? "-" : n.path) + " " + n.shape.str();
      if (!n.inputs.empty()) {
        s += " <-";
        for (int in : n.inputs) s += " " + std::to_string(in);
      }
      s += '\n';
    }
    return s;
  }
};

/// Collects the nodes of a network while its modules trace themselves. A module's
/// trace(t, x) adds the nodes that compute its output from node x and returns the id of
/// the output node; it traces a submodule with t.child(name, module, x), which extends
/// the module path as named_parameters() does.
class Tracer {
 public:
  explicit Tracer(const Shape& input) {
    if (input.rank() == 0) throw ConfigError("Tracer: empty input shape");
    GraphNode in;
    in.kind = NodeKind::input;
    in.shape = input;
    g_.nodes.push_back(std::move(in));
  }

  /// Traces `m` as the child `name` of the module being traced, on node `x`.
  int child(const std::string& name, Module& m, int x) {
    Scope s(*this, name);
    return m.trace(*this, x);
  }
  /// Extends the module path by `name` while it lives (for modules that name children
  /// through a container they do not expose as a module, such as a cell's edges).
  class Scope {
   public:
    Scope(Tracer& t, const std::string& name) : t_(t), saved_(t.path_.size()) {
      if (!t.path_.empty()) t.path_ += '.';
      t.path_ += name;
    }
    ~Scope() { t_.path_.resize(saved_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Tracer& t_;
    std::size_t saved_;
  };

  /// A node of `kind` on `inputs` with output `shape`, at the current module path.
  [[nodiscard]] GraphNode node(NodeKind kind, std::vector<int> inputs, const Shape& shape) const {
    GraphNode n;
    n.kind = kind;
    n.inputs = std::move(inputs);
    n.shape = shape;
    n.path = path_;
    return n;
  }
  /// Appends a node and returns its id (its inputs must be earlier nodes).
  int add(GraphNode n) {
    for (int in : n.inputs)
      if (in < 0 || static_cast<std::size_t>(in) >= g_.nodes.size())
        throw ConfigError("Tracer::add: " + std::string(node_kind_name(n.kind)) + " at '" + n.path + "' reads node " +
                          std::to_string(in) + " of " + std::to_string(g_.nodes.size()));
    g_.nodes.push_back(std::move(n));
    return static_cast<int>(g_.nodes.size()) - 1;
  }
  /// A parameter-free node of `kind` on one input, with output `shape`.
  int add(NodeKind kind, int x, const Shape& shape) { return add(node(kind, {x}, shape)); }

  [[nodiscard]] const Shape& shape(int id) const { return g_.nodes.at(static_cast<std::size_t>(id)).shape; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const NetworkGraph& graph() const noexcept { return g_; }
  /// The finished graph with node `output` as its result.
  [[nodiscard]] NetworkGraph finish(int output) && {
    if (output < 0 || static_cast<std::size_t>(output) >= g_.nodes.size())
      throw ConfigError("Tracer::finish: output node " + std::to_string(output) + " of " + std::to_string(g_.nodes.size()));
    g_.output = output;
    return std::move(g_);
  }

 private:
  NetworkGraph g_;
  std::string path_;
};

}  // namespace nas
