// Zero-cost proxies of NAS-Bench-201 networks at initialization, against the benchmark's trained accuracies:
// builds each cell's network at the benchmark's shape (3x32x32, C = 16, N = 5, 10 classes), scores it with
// the chosen proxies and reports Spearman's rho and Kendall's tau against the CIFAR-10, CIFAR-100 and
// ImageNet16-120 test accuracies, with the time per architecture.
//
//     zero_cost --space nb201 --proxies synflow --sample all --json out/zero_cost_synflow.json
//     zero_cost --proxies synflow,naswot,snip,grad_norm,grasp,fisher,jacob_cov,params,flops --sample 1000
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/ranking.hpp>
#include <nas/estimate/zero_cost_estimator.hpp>
#include <nas/estimate/zero_cost_proxies.hpp>
#include <nas/model/cell_network.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

// One line on stderr, redrawn on a terminal; every 10% elsewhere.
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0), start_(clock_type::now()) {}
  void tick(std::size_t done) {
    std::lock_guard<std::mutex> lock(m_);
    const double el = std::chrono::duration<double>(clock_type::now() - start_).count();
    const bool last = done == total_;
    if (tty_ ? (el - drawn_ < 0.2 && !last) : (done * 10 / total_ == step_ && !last)) return;
    drawn_ = el;
    step_ = done * 10 / total_;
    const int width = 30, filled = static_cast<int>(width * done / total_);
    const double left = done ? el * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
    std::fprintf(stderr, "%s[%s%s] %zu/%zu archs, %.1f s, %.3f s/arch, ~%.0f s left%s", tty_ ? "\r" : "",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done, total_, el,
                 done ? el / static_cast<double>(done) : 0.0, left, tty_ && !last ? "" : "\n");
  }

 private:
  std::size_t total_;
  bool tty_;
  clock_type::time_point start_;
  double drawn_ = -1.0;
  std::size_t step_ = 0;
  std::mutex m_;
};

std::vector<nas::ZeroCostProxy> parse_list(const std::string& list) {
  std::vector<nas::ZeroCostProxy> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(nas::parse_zero_cost_proxy(item));
  if (out.empty()) throw nas::ConfigError("--proxies: empty list");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Zero-cost proxies of NAS-Bench-201 networks against the benchmark's accuracies"};
  std::string space = "nb201", proxies_arg = "synflow,naswot,snip,grad_norm,grasp,fisher,jacob_cov,params,flops";
  std::string sample_arg = "1000", json_path, csv_path, data_dir;
  std::size_t batch_size = 64, workers = 2;
  std::uint64_t seed = 0;
  app.add_option("--space", space, "search space (nb201)");
  app.add_option("--proxies", proxies_arg, "comma-separated proxies: synflow, naswot, grad_norm, snip, grasp, fisher, jacob_cov, params, flops");
  app.add_option("--sample", sample_arg, "how many cells, drawn uniformly without replacement, or 'all' (15,625)");
  app.add_option("--batch", batch_size, "minibatch of the data-dependent proxies");
  app.add_option("--workers", workers, "networks scored in parallel (one thread each)");
  app.add_option("--seed", seed, "draws the sample, the minibatch and every network's weights");
  app.add_option("--data", data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--json", json_path, "write the summary here");
  app.add_option("--csv", csv_path, "write one row per cell here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "zero_cost: %s\n", e.what());
    return 2;
  }
  std::vector<nas::ZeroCostProxy> proxies;
  std::size_t sample = 0;
  try {
    if (space != "nb201") throw nas::ConfigError("--space: '" + space + "' (only nb201 is supported)");
    proxies = parse_list(proxies_arg);
    if (sample_arg == "all") {
      sample = nas::Nb201Space::num_archs;
    } else {
      std::size_t pos = 0;
      long long v = -1;
      try {
        v = std::stoll(sample_arg, &pos);
      } catch (const std::exception&) {
        pos = 0;
      }
      if (pos != sample_arg.size() || v < 2 || v > static_cast<long long>(nas::Nb201Space::num_archs))
        throw nas::ConfigError("--sample: '" + sample_arg + "' (expected an integer in [2, 15625] or 'all')");
      sample = static_cast<std::size_t>(v);
    }
    if (batch_size < 2 || batch_size > 1024) throw nas::ConfigError("--batch: " + std::to_string(batch_size) + " (expected 2 to 1024)");
    if (workers < 1 || workers > 64) throw nas::ConfigError("--workers: " + std::to_string(workers) + " (expected 1 to 64)");
  } catch (const nas::Error& e) {
    std::fprintf(stderr, "zero_cost: %s\n", e.what());
    return 2;
  }

  try {
    const auto table = nas::Nb201Table::load_default();
    const nas::NetworkInput input{3, 32, 32, 10};
    bool data = false;
    for (auto p : proxies) data = data || nas::needs_data(p);
    nas::ZeroCostBatch batch;
    nas::Rng rng(seed);
    if (data) {
      const auto fm = nas::load_fashion_mnist(data_dir);
      batch = nas::make_zero_cost_batch(fm.train, input, batch_size, rng);
    }
    // The sample: a partial Fisher-Yates shuffle of all indices.
    std::vector<std::size_t> idx(nas::Nb201Space::num_archs);
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (sample < idx.size()) {
      for (std::size_t i = 0; i < sample; ++i) std::swap(idx[i], idx[i + rng.index(idx.size() - i)]);
      idx.resize(sample);
    }

    std::vector<std::vector<double>> scores(idx.size());
    std::vector<double> seconds(idx.size());
    // Rows are written as cells finish (in completion order), so an interrupted run keeps what it scored.
    std::ofstream csv;
    std::mutex csv_mutex;
    if (!csv_path.empty()) {
      if (auto dir = std::filesystem::path(csv_path).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
      csv.open(csv_path);
      if (!csv) throw nas::ConfigError("--csv: cannot write '" + csv_path + "'");
      csv << "index";
      for (auto p : proxies) csv << "," << nas::to_string(p);
      csv << ",seconds,cifar10_test,cifar100_test,imagenet16_test\n";
      csv.precision(10);
    }
    std::atomic<std::size_t> next{0}, done{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    Progress progress(idx.size());
    const nas::Shape image{3, 32, 32};
    const auto t0 = clock_type::now();
    auto worker = [&] {
      try {
        for (std::size_t i = next++; i < idx.size() && !failed; i = next++) {
          const auto a = clock_type::now();
          nas::CellNetwork<nas::Nb201Space> net(nas::Nb201Space::arch(idx[i]), input,
                                                {.channels = 16, .cells = 5, .seed = seed});
          scores[i] = nas::zero_cost_scores(net, image, proxies, batch).values;
          seconds[i] = std::chrono::duration<double>(clock_type::now() - a).count();
          if (csv.is_open()) {
            std::lock_guard<std::mutex> lock(csv_mutex);
            csv << idx[i];
            for (double v : scores[i]) csv << "," << v;
            const auto& r = table[idx[i]];
            csv << "," << seconds[i] << "," << r.test[0] << "," << r.test[1] << "," << r.test[2] << std::endl;
          }
          progress.tick(++done);
        }
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
    double busy = 0.0;
    for (double s : seconds) busy += s;

    const char* ds_names[3] = {"cifar10", "cifar100", "imagenet16"};
    nlohmann::json j{{"space", space}, {"archs", idx.size()}, {"seed", seed}, {"workers", workers},
                     {"wall_seconds", wall}, {"seconds_per_arch", busy / static_cast<double>(idx.size())},
                     {"wall_seconds_per_arch", wall / static_cast<double>(idx.size())},
                     {"network", "NAS-Bench-201 TinyNetwork C=16 N=5, 3x32x32, 10 classes, PyTorch default init"},
                     {"batch", data ? nlohmann::json{{"size", batch_size}, {"images", "Fashion-MNIST train, bilinear 28x28 -> 32x32, grey replicated to 3 channels, standardised"}}
                                    : nlohmann::json(nullptr)}};
    std::printf("%zu cells, %zu worker(s): %.1f s wall, %.4f s per arch per worker (network construction included)\n",
                idx.size(), workers, wall, busy / static_cast<double>(idx.size()));
    std::printf("%-10s %6s %22s %22s %22s\n", "proxy", "n", "cifar10 rho/tau", "cifar100 rho/tau", "imagenet16 rho/tau");
    for (std::size_t p = 0; p < proxies.size(); ++p) {
      nlohmann::json pj;
      std::size_t n = 0;
      std::string line;
      for (std::size_t d = 0; d < 3; ++d) {
        std::vector<double> x, y;
        for (std::size_t i = 0; i < idx.size(); ++i)
          if (std::isfinite(scores[i][p])) {
            x.push_back(scores[i][p]);
            y.push_back(table[idx[i]].test[d]);
          }
        n = x.size();
        const double rho = x.size() > 1 ? nas::spearman_rho(x, y) : NAN, tau = x.size() > 1 ? nas::kendall_tau(x, y) : NAN;
        pj["spearman"][ds_names[d]] = rho;
        pj["kendall"][ds_names[d]] = tau;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%10.3f/%-10.3f ", rho, tau);
        line += buf;
      }
      pj["n"] = n;
      j["proxies"][nas::to_string(proxies[p])] = pj;
      std::printf("%-10s %6zu %s\n", nas::to_string(proxies[p]), n, line.c_str());
    }
    if (!json_path.empty()) {
      if (auto dir = std::filesystem::path(json_path).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
      std::ofstream(json_path) << j.dump(2) << "\n";
      std::printf("wrote %s\n", json_path.c_str());
    }
    if (csv.is_open()) std::printf("wrote %s\n", csv_path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_cost: %s\n", e.what());
    return 1;
  }
  return 0;
}
