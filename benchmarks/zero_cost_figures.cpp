// One scatter figure per proxy from examples/zero_cost's --csv: each cell's proxy score against its CIFAR-10
// test accuracy (SynFlow, #params and FLOPs on a log scale), with Spearman's rho in the title.
//
//     zero_cost_figures --csv benchmarks/reports/zero_cost_proxies_1000.csv --out benchmarks/reports
#include <CLI/CLI.hpp>

#include <nas/estimate/ranking.hpp>
#include <nas/report/svg.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"Scatter figures of zero-cost proxies against CIFAR-10 test accuracy"};
  std::string csv, out = "out/zero_cost", prefix = "zero_cost_scatter_";
  app.add_option("--csv", csv, "examples/zero_cost --csv output")->required();
  app.add_option("--out", out, "directory for the SVGs");
  app.add_option("--prefix", prefix, "file name prefix");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "zero_cost_figures: %s\n", e.what());
    return 2;
  }
  std::ifstream in(csv);
  if (!in) {
    std::fprintf(stderr, "zero_cost_figures: --csv: cannot read '%s'\n", csv.c_str());
    return 2;
  }
  std::string line, cell;
  std::getline(in, line);
  std::vector<std::string> head;
  for (std::stringstream ss(line); std::getline(ss, cell, ',');) head.push_back(cell);
  std::vector<std::vector<double>> cols(head.size());
  while (std::getline(in, line)) {
    std::size_t k = 0;
    for (std::stringstream ss(line); std::getline(ss, cell, ',') && k < cols.size(); ++k) cols[k].push_back(std::stod(cell));
  }
  std::size_t acc = 0;
  for (std::size_t k = 0; k < head.size(); ++k)
    if (head[k] == "cifar10_test") acc = k;
  std::filesystem::create_directories(out);
  for (std::size_t k = 1; k < head.size(); ++k) {
    const std::string& name = head[k];
    if (name == "seconds" || name.find("_test") != std::string::npos) continue;
    const bool log = name == "synflow" || name == "params" || name == "flops" || name == "grad_norm" || name == "snip" ||
                     name == "fisher";
    std::vector<double> x, y;
    for (std::size_t i = 0; i < cols[k].size(); ++i) {
      const double v = cols[k][i];
      if (!std::isfinite(v) || (log && !(v > 0))) continue;
      x.push_back(log ? std::log10(v) : v);
      y.push_back(cols[acc][i]);
    }
    if (x.size() < 2) continue;
    char title[160];
    std::snprintf(title, sizeof title, "%s of %zu NAS-Bench-201 cells: Spearman %.3f with CIFAR-10 test accuracy", name.c_str(),
                  x.size(), nas::spearman_rho(x, y));
    nas::ScatterChart chart({.title = title, .x_label = log ? "log10 " + name : name, .y_label = "CIFAR-10 test accuracy (%)",
                             .width = 640, .height = 480});
    chart.add("cells", x, y, 0);
    const auto path = std::filesystem::path(out) / (prefix + name + ".svg");
    chart.save(path.string());
    std::printf("wrote %s\n", path.string().c_str());
  }
  return 0;
}
