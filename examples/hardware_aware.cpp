// Hardware-aware search on the NAS-Bench-201 tables: the accuracy/latency Pareto front of one
// device found by NSGA-II, against random search at the same budget and against the true
// front of all 15,625 cells; and the MnasNet-reward winner for a latency target.
//
//     hardware_aware --device pixel3 --evaluations 1000 --seeds 20
//     hardware_aware --device raspi4 --target-ms 20 --out out/raspi4
//
// With --space chain: a layer-wise MobileNetV2/MnasNet space (ChainSpace), architectures
// sampled and ranked by the MnasNet reward, accuracy from real (short) training on
// Fashion-MNIST and latency measured on this machine; then EfficientNet's compound scaling
// of the winner at phi = 0, 1, 2.
//
//     hardware_aware --space chain --evaluations 8 --target-ms 1.0
//
//     hardware_aware --device this-machine --evaluations 40 --target-ms 1.5 --out out/this_machine
//
// With --device this-machine the latency is this machine's, predicted from a latency table
// measured at the start (docs/latency.md), and the accuracy comes from real, short
// training on Fashion-MNIST (estimate/trained.hpp).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/normalize.hpp>
#include <nas/data/resize.hpp>
#include <nas/data/split.hpp>
#include <nas/estimate/tabular.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/hw/device_latency.hpp>
#include <nas/hw/latency.hpp>
#include <nas/hw/latency_table.hpp>
#include <nas/hw/objectives.hpp>
#include <nas/hw/pareto.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/model/chain_network.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/svg.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/nsga2.hpp>
#include <nas/search/random_search.hpp>
#include <nas/space/compound_scaling.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

const std::vector<nas::Objective> objectives{{"test_accuracy_200", nas::Sense::maximize},
                                             {"latency_ms", nas::Sense::minimize}};

// The front of a history's first `n` evaluations (all by default), in minimization form.
template <class History>
std::vector<std::vector<double>> front_of(const History& h, std::size_t n = SIZE_MAX) {
  nas::ParetoArchive<nas::Nb201Arch> archive(objectives);
  for (std::size_t i = 0; i < std::min(n, h.size()); ++i) {
    const auto& t = h.trials()[i];
    if (t.eval.ok()) archive.add(t.arch, {*t.eval.metrics.get("test_accuracy_200"), *t.eval.metrics.get("latency_ms")});
  }
  return archive.minimized();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int run(const std::string& device, const std::string& dataset, std::size_t evaluations, std::size_t seeds,
        std::size_t population, double target_ms, const std::filesystem::path& out) {
  const auto table = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load_default());
  const auto latencies = std::make_shared<const nas::Nb201DeviceLatency>(nas::Nb201DeviceLatency::load_default());
  const nas::Nb201Space space;
  nas::TabularEstimator accuracy(table, {.dataset = nas::parse_nb201_dataset(dataset), .default_epochs = 200});
  nas::TableLatency latency(latencies, device);
  nas::WithMetrics both(accuracy, latency);

  // The true front and the reference point (the worst accuracy and latency of the space).
  std::vector<std::vector<double>> all;
  for (std::size_t i = 0; i < nas::Nb201DeviceLatency::num_cells; ++i) {
    const auto e = both.evaluate(nas::Nb201Space::arch(i), {});
    all.push_back(nas::to_minimized(std::vector<double>{*e.metrics.get("test_accuracy_200"), *e.metrics.get("latency_ms")}, objectives));
  }
  std::vector<std::vector<double>> truth;
  for (std::size_t i : nas::pareto_front(all)) truth.push_back(all[i]);
  std::vector<double> ref{-1e300, -1e300};
  for (const auto& p : all) ref[0] = std::max(ref[0], p[0]), ref[1] = std::max(ref[1], p[1]);
  // A stricter reference point: the true front's nadir (its worst accuracy and latency),
  // so that only the region near the front counts.
  std::vector<double> nadir{-1e300, -1e300};
  for (const auto& p : truth) nadir[0] = std::max(nadir[0], p[0]), nadir[1] = std::max(nadir[1], p[1]);
  std::printf("%s, %s: %zu cells, %zu on the true front; reference points: worst of the space %.2f%% / %.3f ms, "
              "nadir of the true front %.2f%% / %.3f ms\n",
              device.c_str(), dataset.c_str(), all.size(), truth.size(), -ref[0], ref[1], -nadir[0], nadir[1]);

  std::filesystem::create_directories(out);
  std::ofstream csv(out / "hardware_aware.csv");
  csv << "method,seed,evaluations,hypervolume_ratio,hypervolume_ratio_nadir,true_front_points_found,true_front_points,"
         "mean_accuracy_gap_pp,median_accuracy_gap_pp,max_accuracy_gap_pp\n";
  std::vector<double> ratio_nsga, ratio_random, found_nsga, found_random, nadir_nsga, nadir_random, gap_nsga, gap_random;
  std::vector<std::vector<double>> shown_nsga, shown_random;
  std::vector<double> grid;  // evaluations at which the curve is drawn
  for (std::size_t k = 1; k <= 20; ++k) grid.push_back(std::ceil(static_cast<double>(evaluations) * k / 20.0));
  std::vector<std::vector<double>> curve_nsga(grid.size()), curve_random(grid.size());  // [grid point][seed]
  const nas::Budget budget{.evaluations = evaluations};
  for (std::size_t s = 0; s < seeds; ++s) {
    const auto nsga = nas::Nsga2({.population = population, .objectives = objectives, .seed = s}).run(space, both, budget);
    const auto rs = nas::RandomSearch({.dedup = true, .seed = s}).run(space, both, budget);
    const auto fn = front_of(nsga.history), fr = front_of(rs.history);
    const auto qn = nas::compare_fronts(fn, truth, ref), qr = nas::compare_fronts(fr, truth, ref);
    ratio_nsga.push_back(qn.ratio), found_nsga.push_back(static_cast<double>(qn.found_points));
    ratio_random.push_back(qr.ratio), found_random.push_back(static_cast<double>(qr.found_points));
    const double nn = nas::compare_fronts(fn, truth, nadir).ratio, nr = nas::compare_fronts(fr, truth, nadir).ratio;
    nadir_nsga.push_back(nn), nadir_random.push_back(nr);
    gap_nsga.push_back(qn.median_gap), gap_random.push_back(qr.median_gap);
    csv << "nsga2," << s << "," << nsga.history.size() << "," << qn.ratio << "," << nn << "," << qn.found_points << ","
        << truth.size() << "," << qn.mean_gap << "," << qn.median_gap << "," << qn.max_gap << "\n";
    csv << "random," << s << "," << rs.history.size() << "," << qr.ratio << "," << nr << "," << qr.found_points << ","
        << truth.size() << "," << qr.mean_gap << "," << qr.median_gap << "," << qr.max_gap << "\n";
    if (s == 0) shown_nsga = fn, shown_random = fr;
    for (std::size_t g = 0; g < grid.size(); ++g) {
      const auto n = static_cast<std::size_t>(grid[g]);
      curve_nsga[g].push_back(nas::compare_fronts(front_of(nsga.history, n), truth, nadir).ratio);
      curve_random[g].push_back(nas::compare_fronts(front_of(rs.history, n), truth, nadir).ratio);
    }
  }
  std::printf("%zu evaluations, %zu seeds: hypervolume / true front's, median [min-max]\n", evaluations, seeds);
  const auto line = [&](const char* name, const std::vector<double>& r, const std::vector<double>& n,
                        const std::vector<double>& f, const std::vector<double>& g) {
    std::printf("  %-7s %.4f [%.4f-%.4f]   nadir reference %.4f [%.4f-%.4f]   true-front points found: median %.0f of %zu   "
                "accuracy given up at the front's latencies: median over seeds of the median %.2f pp\n",
                name, median(r), *std::min_element(r.begin(), r.end()), *std::max_element(r.begin(), r.end()), median(n),
                *std::min_element(n.begin(), n.end()), *std::max_element(n.begin(), n.end()), median(f), truth.size(),
                median(g));
  };
  line("nsga2", ratio_nsga, nadir_nsga, found_nsga, gap_nsga);
  line("random", ratio_random, nadir_random, found_random, gap_random);

  // MnasNet's soft reward on the 200-epoch validation accuracy, searched by regularized
  // evolution, against the best reward of the whole table.
  nas::MnasReward reward(accuracy, latency, nas::MnasRewardOptions::soft(target_ms));
  double best_reward = -1e300;
  std::size_t best_index = 0;
  for (std::size_t i = 0; i < nas::Nb201DeviceLatency::num_cells; ++i) {
    const double r = reward.evaluate(nas::Nb201Space::arch(i), {}).score;
    if (r > best_reward) best_reward = r, best_index = i;
  }
  const auto rea = nas::RegularizedEvolution({.population = 20, .sample = 5, .seed = 0}).run(space, reward, budget);
  const auto& w = rea.best_eval.metrics;
  std::printf("MnasNet reward (T = %.3f ms, w = -0.07): found %s\n  valid %.2f%%, test %.2f%%, %.3f ms, reward %.3f "
              "(best in the table: index %zu, reward %.3f)\n",
              target_ms, space.encode(rea.best).c_str(), *w.get("accuracy"), *w.get("test_accuracy_200"),
              *w.get("latency_ms"), rea.best_eval.score, best_index, best_reward);

  nlohmann::json j{{"device", device}, {"dataset", dataset}, {"evaluations", evaluations}, {"seeds", seeds},
                   {"population", population}, {"true_front_points", truth.size()},
                   {"nsga2_median_ratio", median(ratio_nsga)}, {"random_median_ratio", median(ratio_random)},
                   {"nsga2_median_ratio_nadir", median(nadir_nsga)}, {"random_median_ratio_nadir", median(nadir_random)},
                   {"nsga2_median_found", median(found_nsga)}, {"random_median_found", median(found_random)},
                   {"nsga2_median_gap_pp", median(gap_nsga)}, {"random_median_gap_pp", median(gap_random)},
                   {"mnas_target_ms", target_ms}, {"mnas_found", space.encode(rea.best)},
                   {"mnas_found_reward", rea.best_eval.score}, {"mnas_best_reward", best_reward},
                   {"mnas_best_index", best_index}};
  std::ofstream(out / "hardware_aware.json") << j.dump(2) << "\n";

  // The figure: every cell, the true front, and the fronts that seed 0 found.
  const auto xs = [](const std::vector<std::vector<double>>& p, std::size_t k, double sign) {
    std::vector<double> v;
    for (const auto& q : p) v.push_back(sign * q[k]);
    return v;
  };
  // Zoomed on the front: the cells without an input-output path (10% at ~0 ms) and most
  // of the space lie below.
  const double y_top = std::ceil(-truth.front()[0] > -truth.back()[0] ? -truth.front()[0] : -truth.back()[0]) + 0.5;
  double x_lo = 1e300;
  for (const auto& p : truth)
    if (-p[0] >= y_top - 10.0) x_lo = std::min(x_lo, 0.8 * p[1]);
  nas::ScatterChart chart({.title = "Accuracy against " + device + " latency near the front (NAS-Bench-201, " + dataset + ")",
                           .x_label = device + " latency (ms, log scale)", .y_label = "test accuracy (%)", .width = 900,
                           .height = 540, .log_x = true, .x_min = x_lo, .y_min = y_top - 10.0, .y_max = y_top});
  chart.add("all 15,625 cells", xs(all, 1, 1), xs(all, 0, -1), 6)
      .front("true front", xs(truth, 1, 1), xs(truth, 0, -1), true)
      .add("NSGA-II front (seed 0)", xs(shown_nsga, 1, 1), xs(shown_nsga, 0, -1), 0)
      .add("random search front (seed 0)", xs(shown_random, 1, 1), xs(shown_random, 0, -1), 1);
  chart.save((out / "hardware_aware_front.svg").string());

  std::vector<double> med_nsga, med_random;
  for (std::size_t g = 0; g < grid.size(); ++g) med_nsga.push_back(median(curve_nsga[g])), med_random.push_back(median(curve_random[g]));
  nas::LineChart curve({.title = "Hypervolume of the found front (" + device + ", median of " + std::to_string(seeds) + " seeds)",
                        .x_label = "evaluations", .y_label = "hypervolume / true front's (nadir reference)", .width = 860,
                        .height = 480});
  curve.add("NSGA-II", grid, med_nsga, {.markers = true}).add("random search", grid, med_random, {.markers = true}).hline(0.99, "0.99");
  curve.save((out / "hardware_aware_curve.svg").string());
  std::printf("wrote %s\n", (out / "hardware_aware.{csv,json}, hardware_aware_front.svg, hardware_aware_curve.svg").string().c_str());
  return 0;
}

// ---- --space chain ------------------------------------------------------------------

struct ChainRunOptions {
  std::size_t evaluations = 16;
  double target_ms = 1.0;
  std::size_t train_images = 3000;      // per search evaluation
  double epochs = 1.0;                  // per search evaluation
  std::size_t final_train_images = 10000;
  double final_epochs = 3.0;
  std::size_t test_images = 2000;
  int threads = 1;
  int latency_repeats = 30;
  int max_phi = 2;
  std::uint64_t seed = 0;
  std::string lock;      // when set: latency is measured holding an exclusive flock on this file
  double lock_wait = 120;  // seconds to wait for it before measuring without it (recorded)
};

// Times a latency measurement alone on the machine when asked: holds an exclusive flock on
// `path` (the machine's measurement lock) and, if the process runs niced (training is
// background work), raises its priority to normal for the measurement and restores it
// after. Waits at most `wait_s` seconds for the lock; without it the measurement is taken
// anyway and `locked` says so.
class MeasureLock {
 public:
  MeasureLock(const std::string& path, double wait_s) {
    if (path.empty()) return;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0666);
    if (fd_ < 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (std::chrono::steady_clock::now() > deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    locked_ = true;
    nice_ = ::getpriority(PRIO_PROCESS, 0);
    if (nice_ > 0) (void)::setpriority(PRIO_PROCESS, 0, 0);
  }
  MeasureLock(const MeasureLock&) = delete;
  MeasureLock& operator=(const MeasureLock&) = delete;
  ~MeasureLock() {
    if (locked_ && nice_ > 0) (void)::setpriority(PRIO_PROCESS, 0, nice_);
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  [[nodiscard]] bool locked() const noexcept { return locked_; }

 private:
  int fd_ = -1;
  int nice_ = 0;
  bool locked_ = false;
};

// Training is background work and latency a timed measurement that must run alone on the
// machine: the search trains every candidate first, then measures all latencies in one pass
// holding the measurement lock, then ranks by the MnasNet reward. With a budget of at most
// one population this is exactly what regularized evolution does (its first population is
// a uniform sample); larger budgets would interleave measurements with training.
int run_chain(const ChainRunOptions& o, const std::filesystem::path& out) {
  nas::set_num_threads(o.threads);
  const nas::TrainTest data = nas::load_fashion_mnist();
  const nas::TrainValid tv = nas::train_valid_split(data.train, {.valid_size = 5000, .seed = o.seed});
  const nas::ChainSpace space;
  const nas::NetworkInput input = nas::NetworkInput::of(data.train);
  const nas::MnasRewardOptions reward = nas::MnasRewardOptions::soft(o.target_ms);
  std::printf("ChainSpace: %s architectures (kernels 3/5/7, expansions 3/4/6, SE on/off, depths 1-4 per stage, widths "
              "0.5/0.75/1); %zu sampled, each trained %.3g epoch(s) on %zu Fashion-MNIST images, %d thread(s)\n",
              space.size().to_string(true).c_str(), o.evaluations, o.epochs, o.train_images, o.threads);
  std::fflush(stdout);

  nas::TrainedEstimator<nas::ChainSpace> accuracy(
      space, tv.train, tv.valid,
      {.epochs = o.epochs, .batch_size = 64, .lr = 0.05, .threads = o.threads, .seed = o.seed, .max_train = o.train_images,
       .max_valid = 1000, .cache_size = 0});
  struct Candidate {
    nas::ChainArch arch;
    nas::Evaluation eval;
    double latency_ms = 0.0;
    bool locked = false;
    double reward = 0.0;
  };
  std::vector<Candidate> cands;
  nas::Rng rng(o.seed);
  std::unordered_set<nas::ChainArch> seen;
  while (cands.size() < o.evaluations) {
    nas::ChainArch a = space.sample(rng);
    if (!seen.insert(a).second) continue;
    nas::Evaluation e = accuracy.evaluate(a);
    std::printf("  %2zu  %-62s valid %6.2f%%  %.0f s\n", cands.size(), space.encode(a).c_str(), e.ok() ? e.score : 0.0,
                e.cost_seconds);
    std::fflush(stdout);
    cands.push_back({std::move(a), std::move(e)});
  }
  // Latency pass: batch 1, median of o.latency_repeats passes, alone on the machine.
  {
    const MeasureLock lock(o.lock, o.lock_wait);
    for (auto& c : cands) {
      nas::ChainNetwork net(space, c.arch, input);
      c.latency_ms = nas::inference_latency_ms(net, input, 1, o.latency_repeats);
      c.locked = lock.locked();
    }
  }
  for (auto& c : cands) c.reward = c.eval.ok() ? nas::mnas_reward(c.eval.score, c.latency_ms, reward) : -1.0;
  const Candidate& best = *std::max_element(cands.begin(), cands.end(),
                                            [](const Candidate& a, const Candidate& b) { return a.reward < b.reward; });

  std::filesystem::create_directories(out);
  std::ofstream csv(out / "chain_search.csv");
  csv << "trial,arch,valid_accuracy,latency_ms,latency_locked,params,macs,reward,train_seconds\n";
  std::vector<double> acc, lat;
  std::vector<std::vector<double>> points;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    const auto& c = cands[i];
    if (!c.eval.ok()) continue;
    acc.push_back(c.eval.score), lat.push_back(c.latency_ms), points.push_back({-c.eval.score, c.latency_ms});
    csv << i << ",\"" << space.encode(c.arch) << "\"," << c.eval.score << "," << c.latency_ms << "," << c.locked << ","
        << *c.eval.metrics.get("params") << "," << *c.eval.metrics.get(nas::metric::macs) << "," << c.reward << ","
        << c.eval.cost_seconds << "\n";
  }
  csv.flush();  // the search's rows are kept even if the scaling below is interrupted
  std::vector<double> front_acc, front_lat;
  for (std::size_t i : nas::pareto_front(points)) front_acc.push_back(acc[i]), front_lat.push_back(lat[i]);
  std::printf("MnasNet reward (T = %.3f ms, w = -0.07): %s\n  valid %.2f%%, %.3f ms, %.0f params, %.2f MMACs, reward %.3f; "
              "%zu of %zu on the accuracy/latency front; latency measured %s the lock\n",
              o.target_ms, space.encode(best.arch).c_str(), best.eval.score, best.latency_ms,
              *best.eval.metrics.get("params"), *best.eval.metrics.get(nas::metric::macs) / 1e6, best.reward,
              front_acc.size(), acc.size(), best.locked ? "holding" : "WITHOUT");
  std::fflush(stdout);

  // Compound scaling of the winner: longer training on more images, test accuracy; then
  // the scaled networks' latencies in one locked pass.
  const nas::Dataset final_train = nas::subset(tv.train, {.size = o.final_train_images, .seed = o.seed, .balanced = true});
  const nas::Dataset final_test = nas::subset(data.test, {.size = o.test_images, .seed = o.seed, .balanced = true});
  std::vector<nas::ScaledChain> scaled;
  std::vector<nas::Evaluation> scaled_eval;
  for (int phi = 0; phi <= o.max_phi; ++phi) {
    scaled.push_back(nas::compound_scale(space, best.arch, input.height, input.width, phi));
    const nas::ScaledChain& sc = scaled.back();
    nas::TrainedEstimator<nas::ChainSpace> est(sc.space, nas::resize_images(final_train, sc.height, sc.width),
                                               nas::resize_images(final_test, sc.height, sc.width),
                                               {.epochs = o.final_epochs, .batch_size = 64, .lr = 0.05, .threads = o.threads,
                                                .seed = o.seed, .cache_size = 0});
    scaled_eval.push_back(est.evaluate(sc.arch));
    std::printf("  phi %d trained: test accuracy %.2f%% (%.0f s)\n", phi, scaled_eval.back().ok() ? scaled_eval.back().score : 0.0,
                scaled_eval.back().cost_seconds);
    std::fflush(stdout);
  }
  std::vector<double> s_lat(scaled.size());
  bool s_locked = false;
  {
    const MeasureLock lock(o.lock, o.lock_wait);
    for (std::size_t k = 0; k < scaled.size(); ++k) {
      const nas::NetworkInput in{1, scaled[k].height, scaled[k].width, 10};
      nas::ChainNetwork net(scaled[k].space, scaled[k].arch, in);
      s_lat[k] = nas::inference_latency_ms(net, in, 1, o.latency_repeats);
    }
    s_locked = lock.locked();
  }
  std::ofstream scsv(out / "chain_scaling.csv");
  scsv << "phi,arch,height,width_multiplier,depth_multiplier,params,macs,latency_ms,latency_locked,test_accuracy,train_seconds\n";
  nlohmann::json js = nlohmann::json::array();
  std::vector<double> s_acc;
  for (std::size_t k = 0; k < scaled.size(); ++k) {
    const nas::ScaledChain& sc = scaled[k];
    const nas::NetworkPlan plan = nas::plan_network(sc.space, sc.arch, {1, sc.height, sc.width, 10});
    const nas::Evaluation& e = scaled_eval[k];
    const double test_acc = e.ok() ? e.score : std::nan("");
    s_acc.push_back(test_acc);
    std::printf("  phi %zu: %s at %dx%d, %zu params, %.2f MMACs, %.3f ms, test accuracy %.2f%%\n", k,
                sc.space.encode(sc.arch).c_str(), sc.height, sc.width, plan.params(), plan.macs() / 1e6, s_lat[k], test_acc);
    scsv << k << ",\"" << sc.space.encode(sc.arch) << "\"," << sc.height << "," << sc.width_multiplier << ","
         << sc.depth_multiplier << "," << plan.params() << "," << plan.macs() << "," << s_lat[k] << "," << s_locked << ","
         << test_acc << "," << e.cost_seconds << "\n";
    js.push_back({{"phi", k}, {"arch", sc.space.encode(sc.arch)}, {"height", sc.height}, {"params", plan.params()},
                  {"macs", plan.macs()}, {"latency_ms", s_lat[k]}, {"latency_locked", s_locked},
                  {"test_accuracy", test_acc}, {"train_seconds", e.cost_seconds}});
  }

  nlohmann::json j{{"space", "chain"}, {"evaluations", o.evaluations}, {"target_ms", o.target_ms},
                   {"train_images", o.train_images}, {"epochs", o.epochs}, {"final_train_images", o.final_train_images},
                   {"final_epochs", o.final_epochs}, {"test_images", o.test_images}, {"threads", o.threads},
                   {"latency_repeats", o.latency_repeats}, {"winner", space.encode(best.arch)},
                   {"winner_valid_accuracy", best.eval.score}, {"winner_latency_ms", best.latency_ms},
                   {"winner_reward", best.reward}, {"search_latency_locked", best.locked},
                   {"front_points", front_acc.size()}, {"scaling", js}};
  std::ofstream(out / "chain.json") << j.dump(2) << "\n";

  nas::ScatterChart chart({.title = "ChainSpace on Fashion-MNIST: accuracy against latency measured on this machine",
                           .x_label = "latency, batch 1, " + std::to_string(o.threads) + " thread (ms)",
                           .y_label = "accuracy (%)", .width = 900, .height = 540});
  chart.add("sampled (valid, " + std::to_string(o.train_images) + " images x " + nas::detail::shortest_decimal(o.epochs) +
                " epochs)",
            lat, acc, 0)
      .front("their front", front_lat, front_acc, true)
      .add("winner scaled, phi = 0.." + std::to_string(o.max_phi) + " (test, " + std::to_string(o.final_train_images) +
               " images x " + nas::detail::shortest_decimal(o.final_epochs) + " epochs)",
           s_lat, s_acc, 2);
  chart.save((out / "chain_front.svg").string());
  std::printf("wrote %s\n", (out / "chain_search.csv, chain_scaling.csv, chain.json, chain_front.svg").string().c_str());
  return 0;
}

// --device this-machine: NSGA-II over (validation accuracy after a short real training on
// Fashion-MNIST, latency at batch 1 predicted from this machine's table) of NB201 cells,
// C = 8, N = 1 on 1x28x28 images; the MnasNet-reward winner for the target is the best
// reward among the evaluated cells (each evaluation is a real training run).
int run_this_machine(std::size_t evaluations, std::size_t population, double target_ms, const std::filesystem::path& out) {
  const std::string dir = nas::find_fashion_mnist("");
  if (dir.empty()) throw nas::DataError("Fashion-MNIST not found (sudo apt-get install dataset-fashion-mnist)");
  nas::TrainTest d = nas::load_fashion_mnist(dir);
  const auto stats = nas::channel_stats(d.train);
  nas::normalize(d.train, stats);
  const auto split = nas::train_valid_split(d.train, {.valid_size = 10000, .seed = 0});
  const nas::Nb201Space space;
  const nas::NetworkInput in = nas::NetworkInput::of(split.train);
  const nas::NetworkOptions net{.channels = 8, .cells = 1};
  nas::set_num_threads(1);

  const nas::LatencyTable table =
      nas::profile_calibrated(space, in, net, {.profile = {.batch = 1, .threads = 1}, .networks = 10, .seed = 17});
  std::filesystem::create_directories(out);
  table.save(out / "latency_table.csv");
  std::printf("this machine (%s, %s): %zu op configurations, scale %.3f, overhead %.4f ms\n", table.machine().model.c_str(),
              table.machine().isa.c_str(), table.entries().size(), table.scale(), table.overhead_ms());
  nas::MeasuredLatency<nas::Nb201Space> latency(std::make_shared<const nas::LatencyTable>(table), space, in, net);
  nas::TrainedEstimator<nas::Nb201Space> accuracy(
      space, split.train, split.valid,
      {.network = net, .epochs = 1.0, .batch_size = 32, .lr = 0.1, .threads = 1, .seed = 0, .max_train = 2000,
       .max_valid = 1000});
  nas::WithMetrics both(accuracy, latency);
  const std::vector<nas::Objective> objs{{std::string(nas::metric::valid_accuracy), nas::Sense::maximize},
                                         {"latency_ms", nas::Sense::minimize}};
  const auto r = nas::Nsga2({.population = population, .objectives = objs, .seed = 0})
                     .run(space, both, nas::Budget{.evaluations = evaluations});
  nas::ParetoArchive<nas::Nb201Arch> archive(objs);
  std::ofstream csv(out / "hardware_aware_this_machine.csv");
  csv << "arch,valid_accuracy,latency_ms,mnas_reward\n";
  std::vector<double> xa, ya;
  double best_reward = -1e300;
  std::string best_arch;
  double best_acc = 0, best_ms = 0;
  for (const auto& t : r.history.trials()) {
    if (!t.eval.ok()) continue;
    const double acc = *t.eval.metrics.get(nas::metric::valid_accuracy), ms = *t.eval.metrics.get("latency_ms");
    archive.add(t.arch, {acc, ms});
    const double reward = nas::mnas_reward(acc, ms, nas::MnasRewardOptions::soft(target_ms));
    csv << "\"" << space.encode(t.arch) << "\"," << acc << "," << ms << "," << reward << "\n";
    xa.push_back(ms), ya.push_back(acc);
    if (reward > best_reward) best_reward = reward, best_arch = space.encode(t.arch), best_acc = acc, best_ms = ms;
  }
  std::vector<double> xf, yf;
  for (const auto& p : archive.minimized()) xf.push_back(p[1]), yf.push_back(-p[0]);
  std::printf("NSGA-II, %zu evaluations (real training, C=8 N=1, 1 epoch on 2,000 images): front of %zu cells\n",
              r.history.size(), xf.size());
  std::printf("MnasNet reward (T = %.3f ms, w = -0.07): %s, valid %.2f%%, %.3f ms, reward %.3f\n", target_ms,
              best_arch.c_str(), best_acc, best_ms, best_reward);
  nas::ScatterChart chart({.title = "Accuracy against this machine's latency (NB201 C=8 N=1, Fashion-MNIST)",
                           .x_label = "predicted latency, batch 1 (ms)", .y_label = "validation accuracy (%)",
                           .width = 860, .height = 500});
  chart.add("evaluated cells", xa, ya, 6).front("found front", xf, yf, true).vline(target_ms, "target");
  chart.save((out / "hardware_aware_this_machine.svg").string());
  nlohmann::json j{{"device", "this-machine"}, {"machine", table.machine().model}, {"isa", table.machine().isa},
                   {"evaluations", r.history.size()}, {"front_size", xf.size()}, {"mnas_target_ms", target_ms},
                   {"mnas_found", best_arch}, {"mnas_found_reward", best_reward}, {"mnas_found_accuracy", best_acc},
                   {"mnas_found_latency_ms", best_ms}};
  std::ofstream(out / "hardware_aware_this_machine.json") << j.dump(2) << "\n";
  std::printf("wrote %s\n", (out / "hardware_aware_this_machine.{csv,json,svg}, latency_table.csv").string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hardware-aware search on the NAS-Bench-201 accuracy and device-latency tables"};
  std::string device = "pixel3", dataset = "cifar10", out = "out/hardware_aware";
  std::size_t evaluations = 1000, seeds = 20, population = 50;
  double target_ms = 5.0;
  app.add_option("--device", device,
                 "device column of hw_latency.csv.gz (pixel3, raspi4, fpga, eyeriss, ...), or this-machine (measured "
                 "latency table, real training on Fashion-MNIST)");
  app.add_option("--dataset", dataset, "accuracy of cifar10, cifar100 or imagenet16")
      ->check(CLI::IsMember({"cifar10", "cifar100", "imagenet16"}));
  app.add_option("--evaluations", evaluations, "evaluations per search")->check(CLI::Range(std::size_t{2}, std::size_t{15625}));
  app.add_option("--seeds", seeds, "searches per method")->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  app.add_option("--population", population, "NSGA-II population")->check(CLI::Range(std::size_t{2}, std::size_t{10000}));
  app.add_option("--target-ms", target_ms, "latency target T of the MnasNet reward")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "directory for the CSV, JSON and SVG");
  std::string space = "nb201";
  ChainRunOptions chain;
  app.add_option("--space", space, "nb201 (the tables) or chain (ChainSpace, trained on Fashion-MNIST)")
      ->check(CLI::IsMember({"nb201", "chain"}));
  app.add_option("--train-images", chain.train_images, "chain: training images per search evaluation")
      ->check(CLI::Range(std::size_t{64}, std::size_t{55000}));
  app.add_option("--epochs", chain.epochs, "chain: epochs per search evaluation")->check(CLI::Range(0.01, 100.0));
  app.add_option("--final-train-images", chain.final_train_images, "chain: training images of the scaled networks")
      ->check(CLI::Range(std::size_t{64}, std::size_t{55000}));
  app.add_option("--final-epochs", chain.final_epochs, "chain: epochs of the scaled networks")->check(CLI::Range(0.01, 100.0));
  app.add_option("--test-images", chain.test_images, "chain: test images scored")->check(CLI::Range(std::size_t{10}, std::size_t{10000}));
  app.add_option("--threads", chain.threads, "chain: threads for training and latency")->check(CLI::Range(1, 64));
  app.add_option("--max-phi", chain.max_phi, "chain: compound scaling from phi = 0 to this")->check(CLI::Range(0, 4));
  app.add_option("--seed", chain.seed, "chain: seed of the search and the training");
  app.add_option("--lock", chain.lock, "chain: measure latency holding an exclusive flock on this file, at normal priority");
  app.add_option("--lock-wait", chain.lock_wait, "chain: seconds to wait for --lock before measuring without it")
      ->check(CLI::Range(0.0, 86400.0));
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
  if (space == "chain") {
    chain.evaluations = app.count("--evaluations") ? evaluations : 8;
    chain.target_ms = app.count("--target-ms") ? target_ms : 1.0;
    try {
      return run_chain(chain, out == "out/hardware_aware" ? "out/chain" : out);
    } catch (const nas::Error& e) {
      std::fprintf(stderr, "hardware_aware: %s\n", e.what());
      return 1;
    }
  }
  try {
    if (device == "this-machine") return run_this_machine(evaluations, population, target_ms, out);
    // The device name is checked against the table before any search starts.
    (void)nas::Nb201DeviceLatency::load_default().device_column(device);
    return run(device, dataset, evaluations, seeds, population, target_ms, out);
  } catch (const nas::Error& e) {
    std::fprintf(stderr, "hardware_aware: %s\n", e.what());
    return 2;
  }
}
