// Zero-cost proxies on the traced network: SynFlow (Tanaka et al. 2020) in double precision.
#pragma once

#include <cmath>
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

/// How synflow() treats BatchNorm.
struct SynflowOptions {
  /// false (the default, zero-cost-nas's `synflow`): BatchNorm is bypassed, so the score
  /// is the network's pure path sum; true (`synflow_bn`): BatchNorm normalises with batch
  /// statistics of the single all-ones image.
  bool batch_norm = false;
};

/// SynFlow at initialization (Tanaka et al. 2020, "Pruning neural networks without any
/// data by iteratively conserving synaptic flow"; as a NAS proxy, Abdelfattah et al. 2021,
/// "Zero-cost proxies for lightweight NAS"): every parameter is replaced by its absolute
/// value, an all-ones image of shape `image` ([C, H, W] or [1, C, H, W]) is run forward,
/// R = the sum of the outputs, and the score is sum |theta| * dR/d|theta| over the weights
/// of every convolution and linear layer (biases and BatchNorm parameters excluded, as the
/// reference sums over Conv2d and Linear weights only).
///
/// The products of |theta| through 15 cells overflow float32 (R exceeds 1e38 on
/// NAS-Bench-201's network), so the network is traced and run in double precision on
/// copies of its parameters (docs/graph.md says why double rather than rescaling); the
/// network itself is not changed. A network whose score is still not finite in double is
/// a ConfigError naming the value.
[[nodiscard]] inline double synflow(Module& net, const Shape& image, const SynflowOptions& options = {}) {
  const Shape one = image.rank() == 3 ? Shape{1, image[0], image[1], image[2]} : image;
  if (one.rank() != 4 || one[0] != 1)
    throw ConfigError("synflow: image shape " + image.str() + " (expected [C, H, W] or [1, C, H, W])");
  const NetworkGraph graph = trace(net, one);
  ReferenceExecutor ex(graph, {.batch_norm = options.batch_norm ? BatchNormMode::batch_statistics : BatchNormMode::bypass,
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
