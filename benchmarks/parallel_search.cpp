// Parallel search on NAS-Bench-201 with simulated evaluation times: speed-up with 1..16 workers, synchronous vs
// asynchronous REA and SH vs ASHA, accuracy against wall-clock. Writes benchmarks/reports/parallel.*
//
//     parallel_search --seeds 100 --evaluations 100          # virtual clock (exact, no sleeping)
//     parallel_search --real-scale 0.1 --real-seeds 2        # and ThreadPool runs sleeping 0.1 ms per simulated second
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/estimate/tabular.hpp>
#include <nas/exec/driver.hpp>
#include <nas/exec/thread_pool.hpp>
#include <nas/report/svg.hpp>
#include <nas/search/asha.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/nb201_protocol.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/space/nb201_space.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

namespace {

using Arch = nas::Nb201Arch;
const std::vector<std::size_t> worker_counts{1, 2, 4, 8, 16};
const std::vector<std::string> strategies{"rea", "async-rea", "sh", "asha"};

bool multi_fidelity(const std::string& s) { return s == "sh" || s == "asha"; }
bool asynchronous(const std::string& s) { return s == "async-rea" || s == "asha"; }

// One run on a virtual clock: k workers, each evaluation taking its simulated training
// time; the state is asked whenever a worker is free and told as results come back (in
// proposal order for synchronous strategies, as nas::drive does). Returns the history
// (trial.wall_seconds = the virtual time at which it was told).
template <class State>
nas::History<Arch> simulate(State& state, const nas::TabularEstimator& est, std::size_t k, std::size_t evaluations, bool ordered) {
  struct Running {
    double finish;
    nas::Proposal<Arch> p;
    nas::Evaluation e;
  };
  const auto later = [](const Running& a, const Running& b) { return a.finish > b.finish || (a.finish == b.finish && a.p.id > b.p.id); };
  std::priority_queue<Running, std::vector<Running>, decltype(later)> running(later);
  std::map<std::size_t, Running> done_early;
  std::vector<std::size_t> order;  // ids not yet told, in proposal order
  nas::History<Arch> h;
  double now = 0.0, total = 0.0;
  std::size_t asked = 0;
  nas::TabularEstimator e = est;
  const auto tell = [&](Running& r, double at) {
    total += r.e.cost_seconds;
    nas::Trial<Arch> t;
    t.arch = r.p.arch;
    t.fidelity = r.p.fidelity;
    t.eval = r.e;
    t.total_cost = total;
    t.wall_seconds = at;
    h.push(std::move(t));
    state.tell(r.p.id, r.e);
    state.take_generations([](std::size_t) {});
  };
  for (;;) {
    while (running.size() < k && asked < evaluations) {
      auto p = state.ask(h);
      state.take_generations([](std::size_t) {});
      if (!p) break;
      ++asked;
      nas::Evaluation ev = e.evaluate(p->arch, p->fidelity);
      const double finish = now + ev.cost_seconds;
      order.push_back(p->id);
      running.push(Running{finish, std::move(*p), std::move(ev)});
    }
    if (running.empty()) break;
    Running r = running.top();
    running.pop();
    now = r.finish;
    if (!ordered) {
      order.erase(std::find(order.begin(), order.end(), r.p.id));
      tell(r, now);
      continue;
    }
    done_early.emplace(r.p.id, std::move(r));
    while (!order.empty() && done_early.contains(order.front())) {
      tell(done_early.at(order.front()), now);
      done_early.erase(order.front());
      order.erase(order.begin());
    }
  }
  return h;
}

nas::RegularizedEvolution rea(std::uint64_t seed, std::size_t k, bool async) {
  return nas::RegularizedEvolution({.population = 10, .sample = 3, .fidelity = {12}, .seed = seed, .batch = k, .asynchronous = async});
}
nas::SuccessiveHalvingOptions halving(std::uint64_t seed) { return {.eta = 3, .fidelities = {12, 200}, .seed = seed}; }

struct Outcome {
  double wall = 0.0;  // virtual or real seconds to finish
  double test = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> curve;  // test accuracy of the recommendation on the time grid
};

Outcome score(const nas::History<Arch>& h, const std::string& s, const nas::TabularEstimator& est, const std::vector<double>& grid) {
  Outcome o;
  const auto d = static_cast<std::size_t>(est.options().dataset);
  const auto rec = nas::recommendations(h, multi_fidelity(s));
  o.wall = h.empty() ? 0.0 : h.back().wall_seconds;
  if (!h.empty() && rec.back() != static_cast<std::size_t>(-1)) o.test = est.record(h[rec.back()].arch).test[d];
  o.curve.assign(grid.size(), std::numeric_limits<double>::quiet_NaN());
  std::size_t i = 0;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    while (i < h.size() && h[i].wall_seconds <= grid[g]) ++i;
    if (i > 0 && rec[i - 1] != static_cast<std::size_t>(-1)) o.curve[g] = est.record(h[rec[i - 1]].arch).test[d];
  }
  return o;
}

template <class F>
auto with_state(const std::string& s, std::uint64_t seed, std::size_t k, std::size_t evaluations, const nas::Nb201Space& space, F&& f) {
  if (s == "rea" || s == "async-rea") {
    auto st = rea(seed, k, s == "async-rea").start(space);
    return f(st);
  }
  if (s == "sh") {
    auto st = nas::SuccessiveHalving(halving(seed)).start(space, nas::Budget{.evaluations = evaluations});
    return f(st);
  }
  auto st = nas::Asha(halving(seed)).start(space);
  return f(st);
}

// The tabular estimator, sleeping `scale` ms per simulated second of training.
struct Sleepy {
  nas::TabularEstimator est;
  double ms_per_second;
  nas::Evaluation evaluate(const Arch& a, nas::Fidelity f) {
    nas::Evaluation e = est.evaluate(a, f);
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(e.cost_seconds * ms_per_second));
    return e;
  }
};

double mean_of(const std::vector<double>& v) {
  double m = 0;
  std::size_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) m += x, ++n;
  return n ? m / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}
double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  std::size_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) s += (x - m) * (x - m), ++n;
  return n ? std::sqrt(s / static_cast<double>(n)) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parallel NAS-Bench-201 search with simulated evaluation times"};
  std::size_t seeds = 100, evaluations = 100, real_seeds = 1;
  double real_scale = 0.0;
  std::string dataset = "cifar10", report_dir = std::string(NAS_SOURCE_DIR) + "/benchmarks/reports";
  app.add_option("--seeds", seeds, "virtual-clock runs per strategy and worker count")->check(CLI::PositiveNumber);
  app.add_option("--evaluations", evaluations, "evaluations per run")->check(CLI::PositiveNumber);
  app.add_option("--dataset", dataset, "cifar10 | cifar100 | imagenet16")->check(CLI::IsMember({"cifar10", "cifar100", "imagenet16"}));
  app.add_option("--real-scale", real_scale, "also run on a ThreadPool, sleeping this many ms per simulated second (0: skip)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--real-seeds", real_seeds, "seeds of the ThreadPool runs")->check(CLI::PositiveNumber);
  app.add_option("--report-dir", report_dir, "where parallel.md/.csv/.json/.svg go");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto table = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load_default());
    const nas::Nb201Space space;
    const nas::TabularEstimator est(table, {.dataset = nas::parse_nb201_dataset(dataset), .metrics = false});

    // Virtual clock: every strategy x worker count x seed.
    std::map<std::pair<std::string, std::size_t>, std::vector<Outcome>> runs;
    std::vector<double> grid;
    {
      // The time grid spans the slowest serial run.
      double serial_max = 0.0;
      for (const auto& s : strategies)
        for (std::size_t seed = 0; seed < std::min<std::size_t>(seeds, 10); ++seed)
          with_state(s, nas::run_seed(1, seed), 1, evaluations, space, [&](auto& st) {
            const auto h = simulate(st, est, 1, evaluations, !asynchronous(s));
            serial_max = std::max(serial_max, h.back().wall_seconds);
            return 0;
          });
      for (std::size_t g = 0; g <= 200; ++g) grid.push_back(serial_max * static_cast<double>(g) / 200.0);
    }
    for (const auto& s : strategies)
      for (std::size_t k : worker_counts)
        for (std::size_t seed = 0; seed < seeds; ++seed)
          with_state(s, nas::run_seed(1, seed), k, evaluations, space, [&](auto& st) {
            runs[{s, k}].push_back(score(simulate(st, est, k, evaluations, !asynchronous(s)), s, est, grid));
            return 0;
          });

    // ThreadPool runs with sleeping evaluations (timing: run under the measurement lock).
    std::map<std::pair<std::string, std::size_t>, std::vector<double>> real_rate;
    if (real_scale > 0.0)
      for (const auto& s : strategies)
        for (std::size_t k : worker_counts)
          for (std::size_t seed = 0; seed < real_seeds; ++seed) {
            nas::ThreadPool pool(k);
            with_state(s, nas::run_seed(1, seed), k, evaluations, space, [&](auto& st) {
              const auto t0 = std::chrono::steady_clock::now();
              const auto r = nas::drive(st, Sleepy{est, real_scale}, pool, nas::Budget{.evaluations = evaluations}, {.threads = 2});
              const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              real_rate[{s, k}].push_back(static_cast<double>(r.history.size()) / wall);
              return 0;
            });
          }

    // Summary.
    std::filesystem::create_directories(report_dir);
    const auto dir = std::filesystem::path(report_dir);
    nlohmann::json j = nlohmann::json::array();
    std::ofstream csv(dir / "parallel.csv");
    csv << "strategy,workers,seeds,evaluations,virtual_wall_s_mean,evals_per_virtual_s,speedup_vs_1,test_mean,test_std,real_evals_per_s,"
           "real_speedup_vs_1\n";
    std::map<std::pair<std::string, std::size_t>, double> rate, test_mean;
    for (const auto& s : strategies)
      for (std::size_t k : worker_counts) {
        const auto& v = runs[{s, k}];
        std::vector<double> walls, tests;
        for (const auto& o : v) walls.push_back(o.wall), tests.push_back(o.test);
        rate[{s, k}] = static_cast<double>(evaluations) / mean_of(walls);
        test_mean[{s, k}] = mean_of(tests);
      }
    for (const auto& s : strategies)
      for (std::size_t k : worker_counts) {
        const auto& v = runs[{s, k}];
        std::vector<double> walls, tests;
        for (const auto& o : v) walls.push_back(o.wall), tests.push_back(o.test);
        const double rr = real_rate.count({s, k}) ? mean_of(real_rate[{s, k}]) : std::numeric_limits<double>::quiet_NaN();
        const double rr1 = real_rate.count({s, 1}) ? mean_of(real_rate[{s, 1}]) : std::numeric_limits<double>::quiet_NaN();
        const double speed = rate[{s, k}] / rate[{s, 1}];
        csv << s << ',' << k << ',' << v.size() << ',' << evaluations << ',' << mean_of(walls) << ',' << rate[{s, k}] << ',' << speed << ','
            << mean_of(tests) << ',' << std_of(tests) << ',' << rr << ',' << rr / rr1 << '\n';
        j.push_back({{"strategy", s}, {"workers", k}, {"seeds", v.size()}, {"evaluations", evaluations},
                     {"virtual_wall_s_mean", mean_of(walls)}, {"evals_per_virtual_s", rate[{s, k}]}, {"speedup_vs_1", speed},
                     {"test_mean", mean_of(tests)}, {"test_std", std_of(tests)},
                     {"real_evals_per_s", std::isnan(rr) ? nlohmann::json() : nlohmann::json(rr)},
                     {"real_speedup_vs_1", std::isnan(rr) ? nlohmann::json() : nlohmann::json(rr / rr1)}});
      }
    std::ofstream(dir / "parallel.json") << j.dump(2) << "\n";

    // Figures: speed-up against workers; accuracy against wall-clock with 16 workers.
    {
      nas::LineChart chart({.title = "Evaluations per wall-second, relative to 1 worker (virtual clock, NB201 times)",
                            .x_label = "workers",
                            .y_label = "speed-up",
                            .log_x = true,
                            .log_y = true});
      std::vector<double> x(worker_counts.begin(), worker_counts.end());
      chart.add("ideal", x, x, {.dashed = true, .color = 7});
      for (const auto& s : strategies) {
        std::vector<double> y;
        for (std::size_t k : worker_counts) y.push_back(rate[{s, k}] / rate[{s, 1}]);
        chart.add(s, x, y, {.markers = true});
      }
      if (!real_rate.empty())
        for (const auto& s : {std::string("async-rea"), std::string("asha")}) {
          std::vector<double> y;
          for (std::size_t k : worker_counts) y.push_back(mean_of(real_rate[{s, k}]) / mean_of(real_rate[{s, 1}]));
          chart.add(s + " (ThreadPool, measured)", x, y, {.dashed = true, .markers = true});
        }
      chart.save((dir / "parallel_speedup.svg").string());
    }
    std::ofstream curves(dir / "parallel_curves.csv");
    curves << "strategy,workers,virtual_wall_s,mean_test_accuracy\n";
    {
      nas::LineChart chart({.title = "Test accuracy of the recommendation against wall-clock (" + dataset + ", mean of " +
                                     std::to_string(seeds) + " seeds)",
                            .x_label = "virtual wall-clock seconds (simulated training time)",
                            .y_label = "mean test accuracy (%)",
                            .log_x = true});
      for (const auto& s : strategies)
        for (std::size_t k : {std::size_t{1}, std::size_t{16}}) {
          std::vector<double> y(grid.size(), std::numeric_limits<double>::quiet_NaN());
          const auto& v = runs[{s, k}];
          for (std::size_t g = 0; g < grid.size(); ++g) {
            double sum = 0;
            std::size_t n = 0;
            for (const auto& o : v)
              if (!std::isnan(o.curve[g])) sum += o.curve[g], ++n;
            if (n * 2 >= v.size()) y[g] = sum / static_cast<double>(n);
            curves << s << ',' << k << ',' << grid[g] << ',' << y[g] << '\n';
          }
          chart.add(s + ", " + std::to_string(k) + (k == 1 ? " worker" : " workers"), grid, y, {.step = true, .dashed = k == 1});
        }
      chart.save((dir / "parallel_accuracy.svg").string());
    }

    std::printf("%-10s %7s %12s %9s %14s %12s\n", "strategy", "workers", "evals/vsec", "speed-up", "test", "real speed-up");
    for (const auto& s : strategies)
      for (std::size_t k : worker_counts) {
        const double rr = real_rate.count({s, k}) ? mean_of(real_rate[{s, k}]) / mean_of(real_rate[{s, 1}]) : std::nan("");
        std::printf("%-10s %7zu %12.5f %9.2f %8.2f ± %.2f %12.2f\n", s.c_str(), k, rate[{s, k}], rate[{s, k}] / rate[{s, 1}],
                    test_mean[{s, k}], std_of([&] {
                      std::vector<double> t;
                      for (const auto& o : runs[{s, k}]) t.push_back(o.test);
                      return t;
                    }()),
                    rr);
      }
    std::printf("wrote %s/parallel.{csv,json}, parallel_curves.csv, parallel_speedup.svg, parallel_accuracy.svg\n", report_dir.c_str());
  } catch (const nas::Error& e) {
    std::fprintf(stderr, "parallel_search: %s\n", e.what());
    return 1;
  }
  return 0;
}
