// Every zero-cost proxy of nas on the NAS-Bench-201 cells whose scores NASLib published: the rank agreement of
// nas's scores with the published ones cell by cell, and both sets' Spearman rho with the benchmark's accuracy on
// the same cells (so a proxy is compared with its reference without the noise of different samples).
//
//     zero_cost_published_proxies --proxies snip,grad_norm,fisher,grasp,jacob_cov,naswot --limit 300 --out benchmarks/reports
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/ranking.hpp>
#include <nas/estimate/zero_cost.hpp>
#include <nas/estimate/zero_cost_estimator.hpp>
#include <nas/estimate/zero_cost_proxies.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/tensor/threads.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// NASLib's column for each of nas's proxies (SynFlow's is ln SynFlow there).
const char* published_column(nas::ZeroCostProxy p) {
  switch (p) {
    case nas::ZeroCostProxy::synflow: return "synflow";
    case nas::ZeroCostProxy::naswot: return "nwot";
    case nas::ZeroCostProxy::grad_norm: return "grad_norm";
    case nas::ZeroCostProxy::snip: return "snip";
    case nas::ZeroCostProxy::grasp: return "grasp";
    case nas::ZeroCostProxy::fisher: return "fisher";
    case nas::ZeroCostProxy::jacob_cov: return "jacov";
    case nas::ZeroCostProxy::params: return "params";
    case nas::ZeroCostProxy::flops: return "flops";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nas's zero-cost proxies against NASLib's published scores of the same NAS-Bench-201 cells (CIFAR-10)"};
  std::string proxies_arg = "snip,grad_norm,fisher,grasp,jacob_cov,naswot", out = "out/zero_cost", data_dir;
  std::size_t limit = 300, batch_size = 64;
  int threads = 2;
  std::uint64_t seed = 0;
  app.add_option("--proxies", proxies_arg, "comma-separated proxies");
  app.add_option("--limit", limit, "score the first N published CIFAR-10 cells (0: all 724)");
  app.add_option("--batch", batch_size, "minibatch of the data-dependent proxies")->check(CLI::Range(std::size_t{2}, std::size_t{1024}));
  app.add_option("--threads", threads, "threads of each network's passes")->check(CLI::Range(1, 64));
  app.add_option("--seed", seed, "the minibatch and every network's weights");
  app.add_option("--data", data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--out", out, "directory for zero_cost_published_proxies.csv/.json");
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<nas::ZeroCostProxy> proxies;
    {
      std::stringstream in(proxies_arg);
      for (std::string name; std::getline(in, name, ',');) proxies.push_back(nas::parse_zero_cost_proxy(name));
    }
    if (proxies.empty()) throw nas::ConfigError("--proxies: no proxy named");
    const auto published = nas::PublishedZeroCost::load_default();
    const auto table = nas::Nb201Table::load_default();
    std::vector<std::size_t> cols;
    for (auto p : proxies) cols.push_back(published.column(published_column(p)));
    nas::set_num_threads(threads);
    const nas::NetworkInput input{3, 32, 32, 10};
    nas::Rng rng(seed);
    const auto fm = nas::load_fashion_mnist(data_dir);
    const nas::ZeroCostBatch batch = nas::make_zero_cost_batch(fm.train, input, batch_size, rng);
    std::filesystem::create_directories(out);
    std::ofstream csv(std::filesystem::path(out) / "zero_cost_published_proxies.csv");
    csv << "index";
    for (auto p : proxies) csv << "," << nas::to_string(p) << "_nas," << nas::to_string(p) << "_published";
    csv << ",valid_accuracy_200,test_accuracy_200\n";
    csv.precision(10);
    std::vector<std::vector<double>> ours(proxies.size()), theirs(proxies.size());
    std::vector<double> valid, test;
    double seconds = 0.0;
    std::size_t cells = 0;
    for (const auto& row : published.rows()) {
      if (row.dataset != nas::Nb201Dataset::cifar10) continue;
      if (limit > 0 && cells >= limit) break;
      const auto t0 = std::chrono::steady_clock::now();
      nas::CellNetwork<nas::Nb201Space> net(nas::Nb201Space::arch(row.index), input, {.channels = 16, .cells = 5, .seed = seed});
      const auto s = nas::zero_cost_scores(net, nas::Shape{3, 32, 32}, proxies, batch);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++cells;
      csv << row.index;
      for (std::size_t k = 0; k < proxies.size(); ++k) {
        const double v = proxies[k] == nas::ZeroCostProxy::synflow && s.values[k] > 0 ? std::log(s.values[k]) : s.values[k];
        ours[k].push_back(v);
        theirs[k].push_back(row.values[cols[k]]);
        csv << "," << v << "," << theirs[k].back();
      }
      valid.push_back(table[row.index].valid[0]);
      test.push_back(table[row.index].test[0]);
      csv << "," << valid.back() << "," << test.back() << std::endl;
      std::fprintf(stderr, "\r%zu cells, %.2f s per cell", cells, seconds / static_cast<double>(cells));
    }
    std::fprintf(stderr, "\n");
    if (cells < 2) throw nas::ConfigError("zero_cost_published_proxies: fewer than two cells scored");
    nlohmann::json j{{"cells", cells}, {"batch", batch_size}, {"threads", threads}, {"seed", seed},
                     {"seconds_per_cell", seconds / static_cast<double>(cells)},
                     {"images", "Fashion-MNIST train, bilinear 28x28 -> 32x32, grey replicated to 3 channels, standardised"}};
    std::printf("%zu CIFAR-10 cells of NASLib's published set, batch %zu: %.2f s per cell\n", cells, batch_size,
                seconds / static_cast<double>(cells));
    std::printf("%-10s %5s %14s %16s %16s %16s\n", "proxy", "n", "rho nas~pub", "rho valid nas", "rho valid pub", "rho test nas/pub");
    for (std::size_t k = 0; k < proxies.size(); ++k) {
      std::vector<double> a, b, v, t;
      for (std::size_t i = 0; i < ours[k].size(); ++i)
        if (std::isfinite(ours[k][i]) && std::isfinite(theirs[k][i])) {
          a.push_back(ours[k][i]);
          b.push_back(theirs[k][i]);
          v.push_back(valid[i]);
          t.push_back(test[i]);
        }
      const bool ok = a.size() > 1;
      const double agree = ok ? nas::spearman_rho(a, b) : NAN, rv_ours = ok ? nas::spearman_rho(a, v) : NAN;
      const double rv_pub = ok ? nas::spearman_rho(b, v) : NAN, rt_ours = ok ? nas::spearman_rho(a, t) : NAN;
      const double rt_pub = ok ? nas::spearman_rho(b, t) : NAN;
      j["proxies"][nas::to_string(proxies[k])] = {{"n", a.size()},           {"spearman_nas_vs_published", agree},
                                                   {"spearman_valid_nas", rv_ours}, {"spearman_valid_published", rv_pub},
                                                   {"spearman_test_nas", rt_ours},  {"spearman_test_published", rt_pub}};
      std::printf("%-10s %5zu %14.3f %16.3f %16.3f %9.3f/%.3f\n", nas::to_string(proxies[k]), a.size(), agree, rv_ours, rv_pub,
                  rt_ours, rt_pub);
    }
    std::ofstream(std::filesystem::path(out) / "zero_cost_published_proxies.json") << j.dump(2) << "\n";
    std::printf("wrote %s/zero_cost_published_proxies.{csv,json}\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_cost_published_proxies: %s\n", e.what());
    return 2;
  }
  return 0;
}
