// SynFlow (Tanaka et al. 2020) on the float network with exact power-of-two rescaling, or in double on the traced network; published scores.
#pragma once

#include <cmath>
#include <limits>
#include <utility>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/read_file.hpp"
#include "nas/estimate/nb201_table.hpp"
#include "nas/model/graph.hpp"
#include "nas/model/reference.hpp"
#include "nas/tensor/module.hpp"

namespace nas {

/// How synflow() computes.
enum class SynflowMethod {
  /// The float tensor core on the network itself, with the input and the output seed
  /// scaled by powers of two chosen from a first forward pass (see synflow()); falls back
  /// to `reference` where that scaling is not exact (BatchNorm with batch statistics, an
  /// op that is not positively homogeneous) or float32 still over- or underflows.
  scaled_float,
  /// The traced network in double precision (GraphExecutor<double>): slow, the reference.
  reference,
};

/// How synflow() treats BatchNorm, and how it computes.
struct SynflowOptions {
  /// false (the default, zero-cost-nas's `synflow`): BatchNorm is bypassed, so the score
  /// is the network's pure path sum; true (`synflow_bn`): BatchNorm normalises with batch
  /// statistics of the single all-ones image (always computed by the reference).
  bool batch_norm = false;
  SynflowMethod method = SynflowMethod::scaled_float;
};

namespace detail {

// Whether every node scales exactly with its input: f(s x) = s f(x) for s > 0 once biases
// are scaled by s too. Conv, linear, pooling (max included), ReLU, sums and reshapes do;
// SiLU does not; a bypassed BatchNorm is the identity.
inline bool positively_homogeneous(const NetworkGraph& g) {
  for (const GraphNode& n : g.nodes) {
    if (n.kind == NodeKind::silu) return false;
    if (n.kind == NodeKind::batch_norm2d && !(n.bn.running_mean && n.bn.running_var)) return false;
  }
  return true;
}

inline double synflow_reference(Module& net, const Shape& one, bool batch_norm) {
  const NetworkGraph graph = trace(net, one);
  ReferenceExecutor ex(graph, {.batch_norm = batch_norm ? BatchNormMode::batch_statistics : BatchNormMode::bypass,
                               .abs_parameters = true});
  const std::vector<double> ones(one.numel(), 1.0);
  const auto& out = ex.forward(ones);
  ex.backward(std::vector<double>(out.size(), 1.0));  // dR/d(output) for R = sum(output)
  double score = 0.0;
  for (const GraphNode& n : graph.nodes) {
    if ((n.kind != NodeKind::conv2d && n.kind != NodeKind::linear) || !n.weight || !ex.has(*n.weight)) continue;
    const auto& w = ex.value(*n.weight);
    const auto& g = ex.grad(*n.weight);
    for (std::size_t i = 0; i < w.size(); ++i) score += std::abs(w[i] * g[i]);
  }
  return score;
}

// SynFlow on the float network (see synflow()); NaN when float32 cannot represent it.
inline double synflow_scaled_float(Module& net, const NetworkGraph& graph, const Shape& one) {
  // Save everything this changes: every parameter and buffer value, the mode, the grads.
  std::vector<std::pair<Parameter*, Tensor>> saved;
  for (const NamedParameter& p : net.named_state()) saved.emplace_back(p.parameter, p.parameter->value);
  const bool was_training = net.is_training();
  struct Restore {
    std::vector<std::pair<Parameter*, Tensor>>& saved;
    Module& net;
    bool training;
    ~Restore() {
      for (auto& [p, v] : saved) p->value.copy_from(v);
      net.train(training);
      net.zero_grad();
    }
  } restore{saved, net, was_training};

  // The linearised network: |theta| everywhere; a BatchNorm is made the identity map
  // (evaluation mode, mean 0, var 1 - eps, gamma 1, beta 0).
  std::vector<Parameter*> biases, weights;
  for (const GraphNode& n : graph.nodes) {
    if (n.kind == NodeKind::batch_norm2d) {
      n.bn.running_mean->zero();
      n.bn.running_var->fill(static_cast<float>(1.0 - n.bn.eps));
      if (n.weight) n.weight->value.fill(1.0f);
      if (n.bias) n.bias->value.zero();
      continue;
    }
    if (n.weight) weights.push_back(n.weight);
    if (n.bias) biases.push_back(n.bias);
  }
  for (Parameter* p : weights)
    for (float& v : p->value) v = std::fabs(v);
  for (Parameter* p : biases)
    for (float& v : p->value) v = std::fabs(v);
  std::vector<Tensor> bias_abs;
  for (Parameter* p : biases) bias_abs.push_back(p->value);
  net.eval();

  // With |theta|, an all-ones input and BatchNorm bypassed, every activation is >= 0, so
  // ReLU is the identity and the network is linear: scaling the input and every bias by s
  // scales every activation by s, and seeding the backward with t instead of 1 scales
  // every gradient by t, so each |theta| dR/dtheta is s t times the true one. Powers of
  // two keep the scaled products exactly those of the unscaled float computation.
  // Activations grow from s at the input to R_s = s G at the output (G the network's
  // gain); gradients from t at the output to t G at the input. s = 2^-64 leaves room for
  // G up to 2^164 (NAS-Bench-201's reach about 2^170 at most: ln SynFlow < 120); once
  // the forward gives R_s, t = 1 / R_s puts the products |theta| a g near 1 and the
  // gradients in [2^-100, 2^64]. Outside that range the input scale moves and the
  // forward is repeated.
  Tensor x(one);
  const Tensor* y = nullptr;
  auto forward_sum = [&](double s) {
    x.fill(static_cast<float>(s));
    for (std::size_t k = 0; k < biases.size(); ++k) {
      Tensor& b = biases[k]->value;
      for (std::size_t i = 0; i < b.numel(); ++i) b[i] = static_cast<float>(s * bias_abs[k][i]);
    }
    y = &net.forward(x);
    double r = 0.0;
    for (float v : *y) r += v;
    return r;
  };
  constexpr double r_max = 0x1p100, r_min = 0x1p-60;
  double s = 0x1p-64;
  double r = forward_sum(s);
  for (int attempt = 0; attempt < 3 && !(std::isfinite(r) && r >= r_min && r <= r_max); ++attempt) {
    s = std::ldexp(s, std::isfinite(r) && r < r_min ? 50 : -50);
    r = forward_sum(s);
  }
  if (!(std::isfinite(r) && r >= r_min && r <= r_max)) return std::numeric_limits<double>::quiet_NaN();
  const double t = std::ldexp(1.0, -static_cast<int>(std::lround(std::log2(r))));
  Tensor seed(y->shape());
  seed.fill(static_cast<float>(t));
  net.zero_grad();
  net.backward(seed);
  double score = 0.0;
  for (const GraphNode& n : graph.nodes) {
    if ((n.kind != NodeKind::conv2d && n.kind != NodeKind::linear) || !n.weight) continue;
    const Tensor& w = n.weight->value;
    const Tensor& g = n.weight->grad;
    double layer = 0.0;
    for (std::size_t i = 0; i < w.numel(); ++i) layer += std::fabs(static_cast<double>(w[i]) * static_cast<double>(g[i]));
    score += layer;
  }
  score /= s * t;
  return std::isfinite(score) ? score : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace detail

/// SynFlow at initialization (Tanaka et al. 2020, "Pruning neural networks without any
/// data by iteratively conserving synaptic flow"; as a NAS proxy, Abdelfattah et al. 2021,
/// "Zero-cost proxies for lightweight NAS"): every parameter is replaced by its absolute
/// value, an all-ones image of shape `image` ([C, H, W] or [1, C, H, W]) is run forward,
/// R = the sum of the outputs, and the score is sum |theta| * dR/d|theta| over the weights
/// of every convolution and linear layer (biases and BatchNorm parameters excluded, as the
/// reference sums over Conv2d and Linear weights only).
///
/// The products of |theta| through 15 cells overflow float32 (R exceeds 1e38 on
/// NAS-Bench-201's network). The default method (SynflowMethod::scaled_float) therefore
/// runs the float network with the input scaled by s and the output seed by t, powers of
/// two picked from a first forward pass so that neither pass leaves float32's range; with
/// BatchNorm bypassed the linearised network is linear in its input, so the score is
/// exactly s t times the true one and is divided back in double. The parameters are
/// changed during the call and restored, bit for bit, before it returns (so the call is
/// not safe while another thread uses `net`). SynflowMethod::reference traces the network
/// and runs it in double precision on copies of its parameters (docs/graph.md); it agrees
/// with the scaled float path to float rounding (benchmarks/reports/zero_cost.md). A
/// network whose score is still not finite in double is a ConfigError naming the value.
[[nodiscard]] inline double synflow(Module& net, const Shape& image, const SynflowOptions& options = {}) {
  const Shape one = image.rank() == 3 ? Shape{1, image[0], image[1], image[2]} : image;
  if (one.rank() != 4 || one[0] != 1)
    throw ConfigError("synflow: image shape " + image.str() + " (expected [C, H, W] or [1, C, H, W])");
  double score = std::numeric_limits<double>::quiet_NaN();
  if (options.method == SynflowMethod::scaled_float && !options.batch_norm) {
    const NetworkGraph graph = trace(net, one);
    if (detail::positively_homogeneous(graph)) score = detail::synflow_scaled_float(net, graph, one);
  }
  if (std::isnan(score)) score = detail::synflow_reference(net, one, options.batch_norm);
  if (!std::isfinite(score)) throw ConfigError("synflow: the score is not finite in double precision (" + std::to_string(score) + ")");
  return score;
}

/// Zero-cost scores published for NAS-Bench-201 cells (NASLib's NAS-Bench-Suite-Zero
/// precursor, `data/nb201/zc_naslib_subset.csv.gz`; see its ATTRIBUTION.md): one row per
/// (data set, cell), one column per proxy. `synflow` there is ln(SynFlow).
class PublishedZeroCost {
 public:
  struct Row {
    Nb201Dataset dataset{};
    std::size_t index = 0;         ///< NAS-Bench-201 index
    std::vector<double> values;    ///< in the order of proxies()
  };

  [[nodiscard]] static PublishedZeroCost load(const std::filesystem::path& path) {
    const auto text = read_file_bytes<std::string>(path.string(), "PublishedZeroCost", max_table_bytes);
    PublishedZeroCost t;
    detail::CsvCursor cur(text, path.string());
    std::string_view line;
    std::vector<std::string_view> f;
    if (!cur.next_line(line)) cur.fail("empty file (expected a header 'dataset,index,...')");
    detail::CsvCursor::split(line, f);
    if (f.size() < 3 || f[0] != "dataset" || f[1] != "index") cur.fail("the header must start with 'dataset,index'");
    for (std::size_t k = 2; k < f.size(); ++k) t.proxies_.emplace_back(f[k]);
    while (cur.next_line(line)) {
      if (detail::CsvCursor::split(line, f) != t.proxies_.size() + 2)
        cur.fail(std::to_string(f.size()) + " fields (expected " + std::to_string(t.proxies_.size() + 2) + ")");
      Row r;
      try {
        r.dataset = parse_nb201_dataset(f[0]);
      } catch (const Error& e) {
        cur.fail(std::string("column 'dataset': ") + e.what());
      }
      r.index = static_cast<std::size_t>(cur.integer(f[1], "index", 0, 15624));
      for (std::size_t k = 0; k < t.proxies_.size(); ++k) r.values.push_back(cur.number(f[k + 2], t.proxies_[k]));
      t.rows_.push_back(std::move(r));
    }
    return t;
  }
  /// `data/nb201/zc_naslib_subset.csv.gz`, found as the accuracy table is (environment
  /// variable NAS_NB201_ZERO_COST first).
  [[nodiscard]] static PublishedZeroCost load_default() {
    return load(detail::find_first(nb201_search_paths("zc_naslib_subset.csv.gz", "NAS_NB201_ZERO_COST"),
                                   "the published zero-cost scores (zc_naslib_subset.csv.gz)"));
  }

  [[nodiscard]] const std::vector<std::string>& proxies() const noexcept { return proxies_; }
  [[nodiscard]] const std::vector<Row>& rows() const noexcept { return rows_; }
  /// The column of `proxy`; ConfigError listing the columns otherwise.
  [[nodiscard]] std::size_t column(std::string_view proxy) const {
    for (std::size_t k = 0; k < proxies_.size(); ++k)
      if (proxies_[k] == proxy) return k;
    std::string known;
    for (const auto& p : proxies_) known += (known.empty() ? "" : ", ") + p;
    throw ConfigError("PublishedZeroCost: no column '" + std::string(proxy) + "' (columns: " + known + ")");
  }

 private:
  std::vector<std::string> proxies_;
  std::vector<Row> rows_;
};

}  // namespace nas
