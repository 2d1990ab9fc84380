// Zero-cost warm start of regularized evolution on the NAS-Bench-201 protocol, against plain regularized
// evolution at equal simulated cost: the warm-started run first scores N sampled cells with a proxy (charged
// its measured seconds per cell), starts from the proxy's top `population`, and is left the rest of the budget.
//
//     zero_cost_warm_start --scores out/zero_cost_synflow_all.csv --proxy synflow --runs 500 --budget 12000
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/estimate/tabular.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/nb201_protocol.hpp>
#include <nas/search/warm_start.hpp>
#include <nas/report/svg.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// index -> score and seconds from examples/zero_cost's --csv.
struct Scores {
  std::vector<double> score = std::vector<double>(nas::Nb201Space::num_archs, std::nan(""));
  double seconds_per_arch = 0.0;
};

Scores load_scores(const std::string& path, const std::string& proxy) {
  std::ifstream in(path);
  if (!in) throw nas::ConfigError("--scores: cannot read '" + path + "'");
  std::string line, cell;
  std::getline(in, line);
  std::vector<std::string> head;
  for (std::stringstream ss(line); std::getline(ss, cell, ',');) head.push_back(cell);
  std::size_t col = head.size(), sec = head.size();
  for (std::size_t k = 0; k < head.size(); ++k) {
    if (head[k] == proxy) col = k;
    if (head[k] == "seconds") sec = k;
  }
  if (col == head.size() || sec == head.size())
    throw nas::ConfigError("--scores: '" + path + "' has no column '" + proxy + "' or 'seconds'");
  Scores s;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    for (std::stringstream ss(line); std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() != head.size()) continue;
    s.score.at(std::stoul(f[0])) = std::stod(f[col]);
    s.seconds_per_arch += std::stod(f[sec]);
    ++n;
  }
  if (n != nas::Nb201Space::num_archs)
    throw nas::ConfigError("--scores: " + std::to_string(n) + " cells in '" + path + "' (expected all 15625; run zero_cost --sample all)");
  s.seconds_per_arch /= static_cast<double>(n);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Zero-cost warm start of regularized evolution on NAS-Bench-201, against plain REA at equal simulated cost"};
  std::string scores_path, proxy = "synflow", dataset = "cifar10", out = "out/zero_cost";
  std::size_t runs = 500, candidates = 3000;
  double budget = 12000.0;
  std::uint64_t seed = 0;
  app.add_option("--scores", scores_path, "examples/zero_cost --csv output over all 15,625 cells")->required();
  app.add_option("--proxy", proxy, "column of the scores to warm-start with");
  app.add_option("--dataset", dataset, "cifar10, cifar100 or imagenet16")->check(CLI::IsMember({"cifar10", "cifar100", "imagenet16"}));
  app.add_option("--runs", runs, "searches per method")->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  app.add_option("--candidates", candidates, "N cells scored by the proxy")->check(CLI::Range(std::size_t{10}, std::size_t{15625}));
  app.add_option("--budget", budget, "simulated seconds per search")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seeds every run");
  app.add_option("--out", out, "directory for zero_cost_warm_start.{json,svg}");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "zero_cost_warm_start: %s\n", e.what());
    return 2;
  }
  try {
    const Scores sc = load_scores(scores_path, proxy);
    const auto table = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load_default());
    const nas::TabularEstimator est(table, {.dataset = nas::parse_nb201_dataset(dataset), .metrics = false});
    const auto d = static_cast<std::size_t>(est.options().dataset);
    const nas::Nb201ProtocolSettings settings;
    const nas::RegularizedEvolution rea({.population = settings.rea_population, .sample = settings.rea_sample,
                                         .fidelity = nas::Fidelity{12}});
    const double proxy_cost = sc.seconds_per_arch * static_cast<double>(candidates);
    if (proxy_cost >= budget)
      throw nas::ConfigError("--candidates: scoring " + std::to_string(candidates) + " cells costs " + std::to_string(proxy_cost) +
                             " s, the whole budget");
    std::vector<double> grid(101);
    for (std::size_t g = 0; g < grid.size(); ++g) grid[g] = budget * static_cast<double>(g) / 100.0;
    std::vector<double> plain_test, warm_test, plain_curve(grid.size(), 0.0), warm_curve(grid.size(), 0.0);
    std::vector<std::size_t> plain_n(grid.size(), 0), warm_n(grid.size(), 0);
    const nas::Nb201Space space;
    auto score = [&](const nas::Nb201Arch& a) { return sc.score[nas::Nb201Space::index(a)]; };
    // The recommendation's test accuracy at each grid point; `offset` is the cost already spent.
    auto track = [&](const auto& result, double offset, std::vector<double>& curve, std::vector<std::size_t>& n) {
      const auto rec = nas::recommendations(result.history, false);
      std::size_t i = 0;
      for (std::size_t g = 0; g < grid.size(); ++g) {
        while (i < result.history.size() && result.history[i].total_cost + offset <= grid[g]) ++i;
        if (i > 0 && rec[i - 1] != static_cast<std::size_t>(-1)) {
          curve[g] += est.record(result.history[rec[i - 1]].arch).test[d];
          ++n[g];
        }
      }
    };
    for (std::size_t r = 0; r < runs; ++r) {
      const std::uint64_t s = nas::run_seed(seed, r);
      auto opts = rea.options();
      opts.seed = s;
      const nas::RegularizedEvolution run_rea(opts);
      nas::TabularEstimator e1 = est;
      const auto plain = run_rea.run(space, e1, nas::Budget{.cost_seconds = budget});
      plain_test.push_back(est.record(plain.best).test[d]);
      track(plain, 0.0, plain_curve, plain_n);
      nas::WarmStartSpace warm(space, score, {.candidates = candidates, .top = settings.rea_population, .seed = s ^ 0x5eedULL});
      nas::TabularEstimator e2 = est;
      const auto w = run_rea.run(warm, e2, nas::Budget{.cost_seconds = budget - proxy_cost});
      warm_test.push_back(est.record(w.best).test[d]);
      track(w, proxy_cost, warm_curve, warm_n);
    }
    double pm, ps, wm, wsd;
    nas::mean_std(plain_test, pm, ps);
    nas::mean_std(warm_test, wm, wsd);
    for (std::size_t g = 0; g < grid.size(); ++g) {
      plain_curve[g] = plain_n[g] * 2 >= runs ? plain_curve[g] / static_cast<double>(plain_n[g]) : std::nan("");
      warm_curve[g] = warm_n[g] * 2 >= runs ? warm_curve[g] / static_cast<double>(warm_n[g]) : std::nan("");
    }
    std::printf("%zu runs, budget %.0f s on %s; proxy %s on %zu cells costs %.1f s (%.4f s per cell, measured)\n", runs, budget,
                dataset.c_str(), proxy.c_str(), candidates, proxy_cost, sc.seconds_per_arch);
    std::printf("plain REA:        test %.3f +- %.3f\nwarm-started REA: test %.3f +- %.3f (%+.3f)\n", pm, ps, wm, wsd, wm - pm);
    // The first grid point at which each method reaches plain REA's final mean.
    auto reach = [&](const std::vector<double>& c) {
      for (std::size_t g = 0; g < grid.size(); ++g)
        if (!std::isnan(c[g]) && c[g] >= pm) return grid[g];
      return std::nan("");
    };
    std::printf("simulated seconds to reach plain REA's final mean: plain %.0f, warm %.0f\n", reach(plain_curve), reach(warm_curve));
    std::filesystem::create_directories(out);
    nlohmann::json j{{"runs", runs}, {"budget", budget}, {"dataset", dataset}, {"proxy", proxy}, {"candidates", candidates},
                     {"proxy_seconds_per_arch", sc.seconds_per_arch}, {"proxy_cost", proxy_cost},
                     {"plain_test_mean", pm}, {"plain_test_std", ps}, {"warm_test_mean", wm}, {"warm_test_std", wsd},
                     {"plain_reaches_own_final_at", reach(plain_curve)}, {"warm_reaches_plain_final_at", reach(warm_curve)},
                     {"grid", grid}, {"plain_curve", plain_curve}, {"warm_curve", warm_curve}};
    std::ofstream(std::filesystem::path(out) / "zero_cost_warm_start.json") << j.dump(2) << "\n";
    nas::LineChart chart({.title = "REA on NAS-Bench-201 " + dataset + ", mean of " + std::to_string(runs) + " runs",
                          .x_label = "simulated seconds (proxy time charged)", .y_label = "test accuracy of the recommendation (%)",
                          .width = 860, .height = 480});
    chart.add("plain REA", grid, plain_curve, {.markers = false})
        .add("REA warm-started by " + proxy + " (top 10 of " + std::to_string(candidates) + ")", grid, warm_curve, {.markers = false});
    chart.save((std::filesystem::path(out) / "zero_cost_warm_start.svg").string());
    std::printf("wrote %s/zero_cost_warm_start.{json,svg}\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_cost_warm_start: %s\n", e.what());
    return 2;
  }
  return 0;
}
