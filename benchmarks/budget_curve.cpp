// The main job's budget curve: test accuracy and final-training epochs against the budget,
// from the result.json files of several `search_fashion_mnist` runs.
//
//   budget_curve --out benchmarks/reports out/rea300 out/rea900 out/rea1800 [out/hb900 ...]
//
// Runs of one strategy form one line through the mean at each budget, with the range
// (lowest to highest) shaded where a budget has several runs (seeds); where a run averaged
// several networks (--ensemble), a second line shows its first network alone. The chart
// and a CSV with one row per run (strategy, budget, seed, accuracy, networks, first
// network's accuracy, epochs per network, augmentation, trials, total seconds) are
// written as search_fashion_mnist_budget.{svg,csv}.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "nas/report/csv.hpp"
#include "nas/report/format.hpp"
#include "nas/report/svg.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Budget curve of search_fashion_mnist runs (test accuracy against budget)"};
  std::string out_dir = ".";
  std::vector<std::string> runs;
  app.add_option("--out", out_dir, "Directory for search_fashion_mnist_budget.svg and .csv");
  app.add_option("runs", runs, "Run directories (each with the result.json search_fashion_mnist writes)")->required();
  CLI11_PARSE(app, argc, argv);

  struct Point {
    double budget, accuracy, epochs, total;
    long trials;
    bool augment;
    long networks;
    double single;  // the first network alone
    long seed;
  };
  std::map<std::string, std::vector<Point>> by_strategy;
  for (const auto& dir : runs) {
    const std::filesystem::path file = std::filesystem::path(dir) / "result.json";
    std::ifstream in(file);
    if (!in) {
      std::cerr << "budget_curve: cannot read " << file << " (run search_fashion_mnist --out " << dir << " first)\n";
      return 1;
    }
    nlohmann::json j;
    try {
      in >> j;
      const double accuracy = j.at("test_accuracy").get<double>();
      const auto alone = j.value("network_test_accuracies", std::vector<double>{});
      by_strategy[j.at("strategy").get<std::string>()].push_back(
          {j.at("budget_s").get<double>(), accuracy, j.at("final_epochs").get<double>(), j.at("total_s").get<double>(),
           j.at("trials").get<long>(), j.value("final_augment", false), j.value("final_networks_trained", 1L),
           alone.empty() ? accuracy : alone.front(), j.value("seed", 0L)});
    } catch (const std::exception& e) {
      std::cerr << "budget_curve: " << file << " is not a search_fashion_mnist result: " << e.what() << "\n";
      return 1;
    }
  }

  nas::LineChart chart({.title = "Fashion-MNIST test accuracy of the main job's winner",
                        .x_label = "budget (wall-clock seconds, search + final training)",
                        .y_label = "test accuracy (%)"});
  nas::CsvWriter csv((std::filesystem::path(out_dir) / "search_fashion_mnist_budget.csv").string(),
                     {"strategy", "budget_s", "seed", "test_accuracy", "networks", "first_network_test_accuracy",
                      "final_epochs", "final_augment", "trials", "total_s"});
  for (auto& [strategy, points] : by_strategy) {
    std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
      return a.budget != b.budget ? a.budget < b.budget : a.seed < b.seed;
    });
    std::vector<double> x, y, single, low, high;
    bool ensembles = false, repeated = false;
    for (std::size_t i = 0; i < points.size();) {
      std::size_t k = i;
      double sum = 0, sum_single = 0, lo = points[i].accuracy, hi = lo;
      for (; k < points.size() && points[k].budget == points[i].budget; ++k) {
        const auto& p = points[k];
        sum += p.accuracy;
        sum_single += p.single;
        lo = std::min(lo, p.accuracy);
        hi = std::max(hi, p.accuracy);
        ensembles = ensembles || p.networks > 1;
        csv.row({strategy, nas::fmt(p.budget, 0), std::to_string(p.seed), nas::fmt(p.accuracy, 2), std::to_string(p.networks),
                 nas::fmt(p.single, 2), nas::fmt(p.epochs, 2), p.augment ? "true" : "false", std::to_string(p.trials),
                 nas::fmt(p.total, 0)});
      }
      const auto n = static_cast<double>(k - i);
      repeated = repeated || k - i > 1;
      x.push_back(points[i].budget);
      y.push_back(sum / n);
      single.push_back(sum_single / n);
      low.push_back(lo);
      high.push_back(hi);
      i = k;
    }
    // Lines pass through the mean over seeds; the legend has no room to say so.
    chart.add(strategy + (ensembles ? ", networks averaged" : ""), x, y, {.markers = true});
    if (repeated) chart.band(strategy + ", range over seeds", x, low, high);
    if (ensembles) chart.add(strategy + ", first network alone", x, single, {.dashed = true, .markers = true});
  }
  chart.save((std::filesystem::path(out_dir) / "search_fashion_mnist_budget.svg").string());
  std::cout << "wrote " << out_dir << "/search_fashion_mnist_budget.{svg,csv}\n";
  return 0;
}
