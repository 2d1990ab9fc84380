// SynFlow on the tensor core against the scores NASLib published for NAS-Bench-201 cells:
// per-cell agreement (ln SynFlow), rank correlation, and both scores' correlation with the
// benchmark's accuracy.
//
//     zero_cost_vs_published --dataset cifar10 --out benchmarks/reports
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/ranking.hpp>
#include <nas/estimate/zero_cost.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/report/svg.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"SynFlow computed here against NASLib's published SynFlow scores of NAS-Bench-201 cells"};
  std::string dataset = "cifar10", out = "out/zero_cost";
  std::size_t limit = 0;
  std::uint64_t seed = 0;
  app.add_option("--dataset", dataset, "cifar10, cifar100 or imagenet16")->check(CLI::IsMember({"cifar10", "cifar100", "imagenet16"}));
  app.add_option("--limit", limit, "score only the first N published cells (0: all)");
  app.add_option("--seed", seed, "weight initialisation of every network");
  app.add_option("--out", out, "directory for zero_cost.csv/.json/.svg");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto ds = nas::parse_nb201_dataset(dataset);
    const auto published = nas::PublishedZeroCost::load_default();
    const auto table = nas::Nb201Table::load_default();
    const std::size_t col = published.column("synflow");
    // NB201's inputs: 32x32 for CIFAR, 16x16 for ImageNet16-120; 10, 100 or 120 classes.
    const nas::NetworkInput input{3, ds == nas::Nb201Dataset::imagenet16 ? 16 : 32, ds == nas::Nb201Dataset::imagenet16 ? 16 : 32,
                                  ds == nas::Nb201Dataset::cifar10 ? 10 : ds == nas::Nb201Dataset::cifar100 ? 100 : 120};
    std::vector<double> ours, theirs, valid;
    std::vector<std::size_t> indices;
    double seconds = 0.0;
    std::filesystem::create_directories(out);
    std::ofstream csv(std::filesystem::path(out) / "zero_cost.csv");
    csv << "index,arch,ln_synflow_nas,ln_synflow_published,valid_accuracy_200\n";
    for (const auto& row : published.rows()) {
      if (row.dataset != ds) continue;
      if (limit > 0 && ours.size() >= limit) break;
      const auto arch = nas::Nb201Space::arch(row.index);
      nas::CellNetwork<nas::Nb201Space> net(arch, input, {.channels = 16, .cells = 5, .seed = seed});
      const auto t0 = std::chrono::steady_clock::now();
      const double s = nas::synflow(net, input.batch(1));
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // A cell without an input-output path scores 0 (ln = -inf): kept out of the correlations.
      if (!(s > 0.0) || !std::isfinite(row.values[col])) continue;
      ours.push_back(std::log(s));
      theirs.push_back(row.values[col]);
      valid.push_back(table[row.index].valid[static_cast<std::size_t>(ds)]);
      indices.push_back(row.index);
      csv << row.index << "," << nas::Nb201Space{}.encode(arch) << "," << ours.back() << "," << theirs.back() << ","
          << valid.back() << "\n";
    }
    if (ours.size() < 2) throw nas::ConfigError("zero_cost_vs_published: fewer than two cells scored");
    std::vector<double> diff;
    for (std::size_t i = 0; i < ours.size(); ++i) diff.push_back(std::abs(ours[i] - theirs[i]));
    std::vector<double> sorted = diff;
    std::sort(sorted.begin(), sorted.end());
    const double median_diff = sorted[sorted.size() / 2], p95_diff = sorted[sorted.size() * 95 / 100], max_diff = sorted.back();
    const double rho = nas::spearman_rho(ours, theirs), tau = nas::kendall_tau(ours, theirs);
    const double rho_valid_ours = nas::spearman_rho(ours, valid), rho_valid_theirs = nas::spearman_rho(theirs, valid);
    const double tau_valid_ours = nas::kendall_tau(ours, valid), tau_valid_theirs = nas::kendall_tau(theirs, valid);
    std::printf("%s: %zu cells scored in %.1f s (%.3f s per cell, network construction excluded)\n", dataset.c_str(),
                ours.size(), seconds, seconds / static_cast<double>(ours.size()));
    std::printf("ln SynFlow, nas against published: |difference| median %.3f, 95th percentile %.3f, max %.3f\n", median_diff,
                p95_diff, max_diff);
    std::printf("rank agreement with the published scores: Spearman %.4f, Kendall %.4f\n", rho, tau);
    std::printf("against the 200-epoch validation accuracy: Spearman nas %.4f, published %.4f; Kendall nas %.4f, published %.4f\n",
                rho_valid_ours, rho_valid_theirs, tau_valid_ours, tau_valid_theirs);
    nlohmann::json j{{"dataset", dataset}, {"cells", ours.size()}, {"seconds_per_cell", seconds / static_cast<double>(ours.size())},
                     {"median_abs_diff_ln", median_diff}, {"p95_abs_diff_ln", p95_diff}, {"max_abs_diff_ln", max_diff},
                     {"spearman_vs_published", rho}, {"kendall_vs_published", tau},
                     {"spearman_valid_nas", rho_valid_ours}, {"spearman_valid_published", rho_valid_theirs},
                     {"kendall_valid_nas", tau_valid_ours}, {"kendall_valid_published", tau_valid_theirs}, {"seed", seed}};
    std::ofstream(std::filesystem::path(out) / "zero_cost.json") << j.dump(2) << "\n";
    nas::ScatterChart chart({.title = "ln SynFlow of " + std::to_string(ours.size()) + " NAS-Bench-201 cells (" + dataset + ")",
                             .x_label = "published (NASLib)", .y_label = "nas (double precision)", .width = 640, .height = 600});
    const auto [lo, hi] = std::minmax_element(theirs.begin(), theirs.end());
    chart.add("cells", theirs, ours, 0).front("y = x", {*lo, *hi}, {*lo, *hi});
    chart.save((std::filesystem::path(out) / "zero_cost_synflow.svg").string());
    std::printf("wrote %s/zero_cost.{csv,json} and zero_cost_synflow.svg\n", out.c_str());
  } catch (const nas::Error& e) {
    std::fprintf(stderr, "zero_cost_vs_published: %s\n", e.what());
    return 2;
  }
  return 0;
}
