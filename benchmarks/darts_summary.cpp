// Collects darts_search runs (<runs>/<name>/result.json) into one CSV, a JSON summary per variant, a bar chart of
// the found cells' NAS-Bench-201 CIFAR-10 accuracy, and Markdown tables for benchmarks/reports/darts.md.
//
//     darts_summary --runs out --out benchmarks/reports
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace {

struct Agg {
  std::vector<double> c10, c100, in16, fm, sec, mem, skips;
};

// darts_search's alpha.csv (epoch,edge,op,weight) as one panel per edge, two per line.
void alpha_figure(const std::filesystem::path& csv_path, const std::string& title, const std::string& svg_path) {
  std::ifstream in(csv_path);
  if (!in) throw nas::DataError("darts_summary: cannot read " + csv_path.string());
  std::string line;
  std::getline(in, line);
  std::vector<std::string> edges, ops;
  std::map<std::pair<std::string, std::string>, std::pair<std::vector<double>, std::vector<double>>> series;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (std::size_t c; (c = line.find(',', pos)) != std::string::npos; pos = c + 1) f.push_back(line.substr(pos, c - pos));
    f.push_back(line.substr(pos));
    if (f.size() != 4) throw nas::DataError("darts_summary: " + csv_path.string() + ": bad row '" + line + "'");
    if (std::find(edges.begin(), edges.end(), f[1]) == edges.end()) edges.push_back(f[1]);
    if (std::find(ops.begin(), ops.end(), f[2]) == ops.end()) ops.push_back(f[2]);
    auto& s = series[{f[1], f[2]}];
    s.first.push_back(std::stod(f[0]));
    s.second.push_back(std::stod(f[3]));
  }
  const int w = 460, h = 240, cols = 2;
  const int rows = static_cast<int>((edges.size() + cols - 1) / cols);
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(cols * w) + "\" height=\"" +
                    std::to_string(rows * h + 30) + "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n" +
                    "<text x=\"10\" y=\"20\" font-family=\"sans-serif\" font-size=\"15\">" + title + "</text>\n";
  for (std::size_t e = 0; e < edges.size(); ++e) {
    nas::LineChart chart({.title = "edge " + edges[e], .x_label = "epoch", .y_label = "relaxed weight", .width = w,
                          .height = h, .legend = e == 1});
    for (const auto& op : ops) {
      const auto& s = series[{edges[e], op}];
      chart.add(op, s.first, s.second);
    }
    std::string panel = chart.svg();
    const auto at = panel.find("<svg");
    panel.insert(at + 4, " x=\"" + std::to_string(static_cast<int>(e % cols) * w) + "\" y=\"" +
                             std::to_string(30 + static_cast<int>(e / cols) * h) + "\"");
    if (auto decl = panel.find("<?xml"); decl != std::string::npos) panel.erase(decl, panel.find("?>", decl) + 2 - decl);
    out += panel + "\n";
  }
  out += "</svg>\n";
  std::ofstream(svg_path) << out;
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}
double stdev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

int main(int argc, char** argv) {
  std::string runs = "out", out = "benchmarks/reports";
  std::vector<std::string> figures;
  CLI::App app{"Summarise darts_search runs"};
  app.add_option("--runs", runs, "directory of run directories holding result.json");
  app.add_option("--out", out, "where darts_runs.csv, darts_summary.json and darts_cifar10.svg go");
  app.add_option("--figures", figures, "runs whose alpha evolution gets a figure (darts_alpha_<run>.svg)");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  return nas::run_program("darts_summary", [&] {
    if (!std::filesystem::is_directory(runs)) throw nas::ConfigError("--runs '" + runs + "' is not a directory");
    nas::require_writable_directory("--out", out);
    std::vector<std::filesystem::path> files;
    for (const auto& d : std::filesystem::directory_iterator(runs))
      if (std::filesystem::exists(d.path() / "result.json")) files.push_back(d.path() / "result.json");
    std::sort(files.begin(), files.end());
    std::ofstream csv(std::filesystem::path(out) / "darts_runs.csv");
    csv << "variant,seed,genotype,nb201_index,cifar10_test,cifar100_test,imagenet16_test,skip_connections,"
           "fmnist_test_after_retraining,search_epoch_seconds,search_resident_growth_mib,epochs,images,channels,cells\n";
    std::map<std::string, Agg> by;
    std::printf("| variant | seed | found cell | NB201 C-10 / C-100 / IN16 test | skips | F-MNIST test | s/epoch | MiB |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (const auto& f : files) {
      nlohmann::json j;
      std::ifstream(f) >> j;
      const std::string v = j["variant"];
      const auto& nb = j["nb201"];
      const double fm = j.contains("retrain") ? j["retrain"]["test_accuracy"].get<double>() : NAN;
      csv << v << "," << j["seed"] << ",\"" << j["genotype"].get<std::string>() << "\"," << nb["index"] << ","
          << nb["cifar10_test"] << "," << nb["cifar100_test"] << "," << nb["imagenet16_test"] << "," << j["skip_connections"]
          << "," << fm << "," << j["epoch_seconds"] << "," << j["search_resident_growth_mib"] << "," << j["epochs"] << ","
          << j["images"] << "," << j["channels"] << "," << j["cells"] << "\n";
      auto& a = by[v];
      a.c10.push_back(nb["cifar10_test"]);
      a.c100.push_back(nb["cifar100_test"]);
      a.in16.push_back(nb["imagenet16_test"]);
      a.fm.push_back(fm);
      a.sec.push_back(j["epoch_seconds"]);
      a.mem.push_back(j["search_resident_growth_mib"]);
      a.skips.push_back(j["skip_connections"]);
      std::printf("| %s | %d | `%s` | %.2f / %.2f / %.2f | %d | %.2f | %.1f | %.0f |\n", v.c_str(), j["seed"].get<int>(),
                  j["genotype"].get<std::string>().c_str(), nb["cifar10_test"].get<double>(), nb["cifar100_test"].get<double>(),
                  nb["imagenet16_test"].get<double>(), j["skip_connections"].get<int>(), fm, j["epoch_seconds"].get<double>(),
                  j["search_resident_growth_mib"].get<double>());
    }
    nlohmann::json summary;
    std::printf("\n| variant | runs | NB201 CIFAR-10 test (mean ± sd) | CIFAR-100 | ImageNet16-120 | skips (mean) | F-MNIST test | s/epoch | search MiB |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    std::vector<std::string> names;
    std::vector<double> c10;
    for (const auto& [v, a] : by) {
      summary[v] = {{"runs", a.c10.size()}, {"cifar10_mean", mean(a.c10)}, {"cifar10_sd", stdev(a.c10)},
                    {"cifar100_mean", mean(a.c100)}, {"imagenet16_mean", mean(a.in16)}, {"skips_mean", mean(a.skips)},
                    {"fmnist_mean", mean(a.fm)}, {"epoch_seconds_mean", mean(a.sec)}, {"resident_growth_mib_mean", mean(a.mem)}};
      std::printf("| %s | %zu | %.2f ± %.2f | %.2f | %.2f | %.1f | %.2f | %.1f | %.0f |\n", v.c_str(), a.c10.size(), mean(a.c10),
                  stdev(a.c10), mean(a.c100), mean(a.in16), mean(a.skips), mean(a.fm), mean(a.sec), mean(a.mem));
      names.push_back(v);
      c10.push_back(mean(a.c10));
    }
    std::ofstream(std::filesystem::path(out) / "darts_summary.json") << summary.dump(2) << "\n";
    nas::BarChart chart({.title = "Found NB201 cells: CIFAR-10 test accuracy in the table (mean over seeds)",
                         .y_label = "CIFAR-10 test accuracy (%)", .y_min = 0.0, .y_max = 100.0});
    chart.categories(names).add("mean over seeds", c10);
    chart.save((std::filesystem::path(out) / "darts_cifar10.svg").string());
    for (const auto& run : figures) {
      nlohmann::json j;
      std::ifstream(std::filesystem::path(runs) / run / "result.json") >> j;
      alpha_figure(std::filesystem::path(runs) / run / "alpha.csv",
                   j["variant"].get<std::string>() + ", seed " + std::to_string(j["seed"].get<int>()) +
                       ": relaxed alpha per edge of the NB201 cell, after each epoch",
                   (std::filesystem::path(out) / ("darts_alpha_" + run + ".svg")).string());
    }
    return 0;
  });
}
