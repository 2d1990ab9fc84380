// How well a one-shot supernet ranks architectures: Kendall tau and Spearman rho of supernet scores against
// stand-alone Fashion-MNIST training and against the NAS-Bench-201 CIFAR-10 table, for a fixed sample of NB201
// cells, per sampler (uniform, fair, ENAS, ENAS with an entropy bonus), with and without BatchNorm recalibration, with and without few-shot
// splitting. Stand-alone results and supernet scores are cached in CSV files in --out, so each is computed once.
//
//     oneshot_ranking --out benchmarks/reports            # everything (about an hour on 2 shared cores)
//     oneshot_ranking --archs 10 --standalone-epochs 0.2 --supernet-epochs 1 --out /tmp/quick
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/split.hpp>
#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/ranking.hpp>
#include <nas/estimate/supernet_estimator.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/csv.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>
#include <nas/search/oneshot.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/threads.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <cstdio>
#include <string_view>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Settings {
  std::filesystem::path out = "benchmarks/reports";
  std::string data_dir;
  std::size_t archs = 50;
  std::size_t train_images = 6000;
  std::size_t valid_images = 2000;
  double standalone_epochs = 2.0;
  double supernet_epochs = 15.0;
  double fewshot_epochs = 3.0;
  std::size_t split_edge = 0;
  std::size_t calibration_batches = 8;
  std::string samplers = "uniform,fair,enas";
  std::string fewshot_samplers = "uniform";
  int channels = 16, cells = 1, threads = 2;
  std::uint64_t seed = 0;
  bool standalone = true;  ///< false: only train and score supernets (another process computes the rest)
  bool summary_only = false;  ///< true: train nothing, summarise what the caches hold
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Rows of a CSV file with a header, keyed by the first `key` columns joined by ','.
std::map<std::string, std::vector<std::string>> read_keyed(const std::filesystem::path& p, std::size_t key) {
  std::map<std::string, std::vector<std::string>> rows;
  if (!std::filesystem::exists(p)) return rows;
  const auto table = nas::read_csv(p.string());
  for (std::size_t i = 1; i < table.size(); ++i) {
    if (table[i].size() <= key) continue;
    std::string k;
    for (std::size_t j = 0; j < key; ++j) k += (j ? "," : "") + table[i][j];
    rows[k] = table[i];
  }
  return rows;
}

void append_line(const std::filesystem::path& p, const std::string& header, const std::string& line) {
  const bool fresh = !std::filesystem::exists(p);
  std::ofstream f(p, std::ios::app);
  if (fresh) f << header << "\n";
  f << line << "\n";
  f.flush();
  if (!f) throw nas::Error("cannot write " + p.string());
}

// "enas-entropy-<beta>": the ENAS controller with an entropy bonus of beta, reward (percent)
// per nat. The name carries the weight, so that each weight has its own rows in the caches.
constexpr std::string_view entropy_prefix = "enas-entropy-";

// The entropy weight of a sampler's name (0 for enas), or a ConfigError naming it.
double entropy_weight_of(const std::string& sampler) {
  if (!sampler.starts_with(entropy_prefix)) return 0.0;
  const std::string w = sampler.substr(entropy_prefix.size());
  std::size_t used = 0;
  double beta = -1.0;
  try {
    beta = std::stod(w, &used);
  } catch (const std::exception&) {
  }
  if (w.empty() || used != w.size() || !(beta >= 0.0 && beta <= 1000.0))
    throw nas::ConfigError("--samplers '" + sampler + "': the entropy weight '" + w + "' must be a number in [0, 1000]");
  return beta;
}

void require_sampler(const char* option, const std::string& s) {
  if (s.starts_with(entropy_prefix)) {
    (void)entropy_weight_of(s);
    return;
  }
  nas::require_one_of(option, s, {"uniform", "fair", "enas", "enas-entropy-<weight>"});
}

nas::EnasController enas_controller(const std::string& sampler) {
  return nas::EnasController({.entropy_weight = entropy_weight_of(sampler)});
}

struct Config {
  std::string name, sampler;
  bool recalibrate = true, fewshot = false;
};

int run(const Settings& st, const std::string& command) {
  const nas::Nb201Space space;
  nas::set_num_threads(st.threads);
  const auto table = nas::Nb201Table::load_default();
  const nas::TrainTest fm = nas::load_fashion_mnist(st.data_dir);
  const auto split = nas::train_valid_split(fm.train, {.valid_size = 10000, .seed = st.seed});
  const nas::Dataset train = nas::subset(split.train, {.size = st.train_images, .seed = st.seed + 1, .balanced = true});
  const nas::Dataset valid = nas::subset(split.valid, {.size = st.valid_images, .seed = st.seed + 2, .balanced = true});
  const nas::NetworkInput input = nas::NetworkInput::of(train);
  std::printf("data: %zu training, %zu validation images (Fashion-MNIST training set; the test set is not used)\n",
              train.size(), valid.size());

  // The fixed sample: distinct cells drawn uniformly.
  std::vector<nas::Nb201Arch> archs;
  {
    nas::Rng rng(nas::mix_seed(st.seed, 77));
    std::set<std::size_t> seen;
    while (archs.size() < st.archs) {
      const auto a = space.sample(rng);
      if (seen.insert(nas::Nb201Space::index(a)).second) archs.push_back(a);
    }
  }

  // (1) Stand-alone training, cached.
  const auto sa_path = st.out / "oneshot_standalone.csv";
  auto cached = read_keyed(sa_path, 1);
  nas::TrainingOptions recipe{.network = {.channels = st.channels, .cells = st.cells},
                              .epochs = st.standalone_epochs, .batch_size = 64, .lr = 0.1, .threads = st.threads,
                              .seed = st.seed, .cache_size = 0};
  nas::TrainedEstimator<nas::Nb201Space> standalone(space, train, valid, recipe);
  std::vector<double> sa_acc, sa_secs, nb_test;
  for (std::size_t i = 0; i < archs.size() && st.standalone; ++i) {
    const std::string code = space.encode(archs[i]);
    // A cached row counts only if it was made with this recipe and data.
    const std::string recipe_key = std::to_string(st.standalone_epochs) + "," + std::to_string(train.size()) + "," +
                                   std::to_string(valid.size()) + "," + std::to_string(st.channels) + "," +
                                   std::to_string(st.cells);
    auto same_recipe = [&](const std::vector<std::string>& row) {
      return row.size() >= 8 && row[3] + "," + row[4] + "," + row[5] + "," + row[6] + "," + row[7] == recipe_key;
    };
    auto it = cached.find(code);
    if (it == cached.end() || !same_recipe(it->second)) {
      const auto e = standalone.evaluate(archs[i]);
      const double acc = e.ok() ? e.score : std::nan("");
      append_line(sa_path, "arch,valid_accuracy,train_seconds,epochs,train_images,valid_images,channels,cells",
                  code + "," + std::to_string(acc) + "," + std::to_string(e.cost_seconds) + "," +
                      std::to_string(st.standalone_epochs) + "," + std::to_string(train.size()) + "," +
                      std::to_string(valid.size()) + "," + std::to_string(st.channels) + "," + std::to_string(st.cells));
      std::printf("stand-alone %2zu/%zu %s  %.2f%%  %.1f s\n", i + 1, archs.size(), code.c_str(), acc, e.cost_seconds);
      std::fflush(stdout);
      cached = read_keyed(sa_path, 1);
      it = cached.find(code);
    }
    sa_acc.push_back(std::stod(it->second.at(1)));
    sa_secs.push_back(std::stod(it->second.at(2)));
    nb_test.push_back(table.at(archs[i]).test[0]);
  }

  // (2) Supernets: trained once per sampler (and few-shot split), scores cached.
  std::vector<Config> configs;
  for (const auto& s : split_list(st.samplers)) {
    configs.push_back({s + " recal", s, true, false});
    configs.push_back({s + " no-recal", s, false, false});
  }
  for (const auto& s : split_list(st.fewshot_samplers)) {
    configs.push_back({s + " few-shot recal", s, true, true});
    configs.push_back({s + " few-shot no-recal", s, false, true});
  }
  const auto scores_path = st.out / "oneshot_scores.csv";
  const auto cost_path = st.out / "oneshot_costs.csv";
  auto scores = read_keyed(scores_path, 2);
  auto costs = read_keyed(cost_path, 1);
  const nas::SupernetOptions so{.channels = st.channels, .cells = st.cells, .seed = st.seed + 5};
  const nas::OneShotOptions oo{.epochs = st.supernet_epochs, .batch_size = 64, .lr = 0.05, .threads = st.threads, .seed = st.seed + 6,
                               .on_epoch = [](const nas::EpochInfo& e) {
                                 std::printf("  epoch %zu/%zu  loss %.4f  %.1f s%s\n", e.epoch, e.epochs, e.train_loss, e.seconds,
                                             std::isnan(e.valid_accuracy) ? "" : (" controller reward " +
                                                 nas::detail::num_str(e.valid_accuracy) + "%").c_str());
                                 std::fflush(stdout);
                               }};
  auto missing = [&](const std::string& config) {
    for (const auto& a : archs)
      if (!scores.count(config + "," + space.encode(a))) return true;
    return false;
  };
  for (const auto& sampler : split_list(st.samplers)) {
    if (st.summary_only) break;
    bool need = false, need_few = false;
    for (const auto& c : configs)
      if (c.sampler == sampler && missing(c.name)) (c.fewshot ? need_few : need) = true;
    if (!need && !need_few) continue;
    auto super = std::make_unique<nas::Supernet<nas::Nb201Space>>(space, input, so);
    std::printf("supernet, %s sampler: %.1f epochs over %zu images\n", sampler.c_str(), st.supernet_epochs, train.size());
    double train_s = 0.0;
    auto train_with = [&](auto&& trainer, nas::Supernet<nas::Nb201Space>& net) {
      return trainer.train(net, space, train, &valid);
    };
    nas::OneShotStats stats;
    if (sampler == "uniform") stats = train_with(nas::OneShot<nas::UniformPaths>(oo), *super);
    else if (sampler == "fair") stats = train_with(nas::OneShot<nas::FairPaths>(oo), *super);
    else stats = train_with(nas::OneShot<nas::EnasController>(oo, enas_controller(sampler)), *super);
    train_s = stats.seconds;
    std::unique_ptr<nas::FewShotSupernet<nas::Nb201Space>> few;
    double few_s = 0.0;
    if (need_few) {
      few = std::make_unique<nas::FewShotSupernet<nas::Nb201Space>>(space, *super, st.split_edge);
      nas::OneShotOptions fo = oo;
      fo.epochs = st.fewshot_epochs;
      fo.lr = 0.05 * 0.5;  // continues from a trained supernet
      std::printf("few-shot: %zu sub-supernets split on edge %zu, %.1f epochs each\n", few->size(), st.split_edge, st.fewshot_epochs);
      std::vector<nas::OneShotStats> fs;
      if (sampler == "uniform") { nas::OneShot<nas::UniformPaths> t(fo); fs = few->train(t, train, &valid); }
      else if (sampler == "fair") { nas::OneShot<nas::FairPaths> t(fo); fs = few->train(t, train, &valid); }
      else { nas::OneShot<nas::EnasController> t(fo, enas_controller(sampler)); fs = few->train(t, train, &valid); }
      for (const auto& s : fs) few_s += s.seconds;
    }
    for (const auto& c : configs) {
      if (c.sampler != sampler || !missing(c.name)) continue;
      const nas::SupernetEstimatorOptions eo{.calibration_batches = c.recalibrate ? st.calibration_batches : 0,
                                             .batch_size = 64, .threads = st.threads, .seed = st.seed + 7};
      auto est = c.fewshot ? nas::SupernetEstimator<nas::Nb201Space>(few->router(), train, valid, eo)
                           : nas::SupernetEstimator<nas::Nb201Space>(*super, train, valid, eo);
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& a : archs) {
        const auto e = est.evaluate(a);
        append_line(scores_path, "config,arch,score,valid_loss,seconds",
                    c.name + "," + space.encode(a) + "," + std::to_string(e.ok() ? e.score : std::nan("")) + "," +
                        std::to_string(e.metrics.get(nas::metric::valid_loss).value_or(std::nan(""))) + "," +
                        std::to_string(e.cost_seconds));
      }
      const double score_s = seconds_since(t0);
      append_line(cost_path, "config,supernet_train_seconds,fewshot_train_seconds,scoring_seconds,supernet_epochs,fewshot_epochs",
                  c.name + "," + std::to_string(train_s) + "," + std::to_string(c.fewshot ? few_s : 0.0) + "," +
                      std::to_string(score_s) + "," + std::to_string(st.supernet_epochs) + "," +
                      std::to_string(c.fewshot ? st.fewshot_epochs : 0.0));
      std::printf("scored %s: %.1f s\n", c.name.c_str(), score_s);
      std::fflush(stdout);
    }
    scores = read_keyed(scores_path, 2);
    costs = read_keyed(cost_path, 1);
  }

  if (!st.standalone) return 0;

  // Ranking diagnostics.
  nlohmann::json j;
  j["command"] = command;
  j["archs"] = archs.size();
  j["train_images"] = train.size();
  j["valid_images"] = valid.size();
  j["standalone"] = {{"epochs", st.standalone_epochs}, {"channels", st.channels}, {"cells", st.cells},
                     {"total_seconds", std::accumulate(sa_secs.begin(), sa_secs.end(), 0.0)}};
  j["standalone_vs_nb201"] = {{"kendall_tau", nas::kendall_tau(sa_acc, nb_test)}, {"spearman_rho", nas::spearman_rho(sa_acc, nb_test)}};
  std::ofstream csv(st.out / "oneshot_ranking.csv");
  csv << "config,kendall_tau_standalone,spearman_rho_standalone,top10_overlap_standalone,kendall_tau_nb201,spearman_rho_nb201,"
         "top10_overlap_nb201,supernet_train_seconds,fewshot_train_seconds,scoring_seconds\n";
  std::map<std::string, std::vector<double>> by_config;
  for (const auto& c : configs) {
    if (missing(c.name) || !costs.count(c.name)) {
      std::printf("%-26s not scored (run it again to compute what is missing)\n", c.name.c_str());
      j["not_run"].push_back(c.name);
      continue;
    }
    std::vector<double> s;
    for (const auto& a : archs) s.push_back(std::stod(scores.at(c.name + "," + space.encode(a)).at(2)));
    by_config[c.name] = s;
    const auto& cost = costs.at(c.name);
    const std::size_t k = std::max<std::size_t>(1, archs.size() / 5);
    const double t1 = nas::kendall_tau(s, sa_acc), r1 = nas::spearman_rho(s, sa_acc), o1 = nas::top_k_overlap(s, sa_acc, k);
    const double t2 = nas::kendall_tau(s, nb_test), r2 = nas::spearman_rho(s, nb_test), o2 = nas::top_k_overlap(s, nb_test, k);
    csv << c.name << ',' << t1 << ',' << r1 << ',' << o1 << ',' << t2 << ',' << r2 << ',' << o2 << ',' << cost.at(1) << ','
        << cost.at(2) << ',' << cost.at(3) << "\n";
    j["configs"].push_back({{"config", c.name}, {"sampler", c.sampler}, {"recalibrate", c.recalibrate}, {"fewshot", c.fewshot},
                            {"kendall_tau_standalone", t1}, {"spearman_rho_standalone", r1}, {"top_k_overlap_standalone", o1},
                            {"kendall_tau_nb201", t2}, {"spearman_rho_nb201", r2}, {"top_k_overlap_nb201", o2}, {"top_k", k},
                            {"supernet_train_seconds", std::stod(cost.at(1))}, {"fewshot_train_seconds", std::stod(cost.at(2))},
                            {"scoring_seconds", std::stod(cost.at(3))}});
    std::printf("%-26s tau %.3f rho %.3f (stand-alone)   tau %.3f rho %.3f (NB201 CIFAR-10)\n", c.name.c_str(), t1, r1, t2, r2);
  }
  std::ofstream(st.out / "oneshot_ranking.json") << j.dump(2) << "\n";

  // Scatter: supernet score against stand-alone accuracy, recalibrated and not, for each sampler.
  for (const auto& sampler : split_list(st.samplers)) {
    nas::ScatterChart chart({.title = "NB201 supernet (" + sampler + " sampler) against stand-alone training, " +
                                      std::to_string(archs.size()) + " cells",
                             .x_label = "stand-alone Fashion-MNIST validation accuracy (%)",
                             .y_label = "supernet validation accuracy (%)"});
    const std::string& l = sampler;
    if (!by_config.count(l + " recal") || !by_config.count(l + " no-recal")) continue;
    chart.add("recalibrated BN", sa_acc, by_config.at(l + " recal"));
    chart.add("training BN statistics", sa_acc, by_config.at(l + " no-recal"));
    if (by_config.count(l + " few-shot recal")) chart.add("few-shot, recalibrated", sa_acc, by_config.at(l + " few-shot recal"));
    chart.save((st.out / ("oneshot_scatter_" + l + ".svg")).string());
  }
  // ENAS with entropy bonuses (and plain enas at weight 0): tau against stand-alone accuracy
  // by weight, recalibrated and not.
  {
    std::vector<std::pair<double, std::string>> weights;
    for (const auto& sampler : split_list(st.samplers))
      if (sampler == "enas" || sampler.starts_with(entropy_prefix)) weights.push_back({entropy_weight_of(sampler), sampler});
    std::sort(weights.begin(), weights.end());
    if (weights.size() >= 2) {
      nas::LineChart chart({.title = "ENAS controller: ranking against stand-alone training by entropy bonus, " +
                                     std::to_string(archs.size()) + " cells",
                            .x_label = "entropy weight (reward percent per nat; 0: plain ENAS)",
                            .y_label = "Kendall tau vs stand-alone accuracy"});
      for (const char* kind : {"recal", "no-recal"}) {
        std::vector<double> x, y;
        for (const auto& [w, sampler] : weights)
          if (by_config.count(sampler + " " + kind)) {
            x.push_back(w);
            y.push_back(nas::kendall_tau(by_config.at(sampler + " " + kind), sa_acc));
          }
        chart.add(std::string(kind) == "recal" ? "recalibrated BN" : "training BN statistics", x, y, {.markers = true});
      }
      chart.hline(0.0);
      chart.save((st.out / "oneshot_entropy.svg").string());
    }
  }
  {
    nas::ScatterChart chart({.title = "Ground truths: stand-alone Fashion-MNIST against the NB201 CIFAR-10 table",
                             .x_label = "NB201 CIFAR-10 test accuracy, 200 epochs (%)",
                             .y_label = "stand-alone Fashion-MNIST validation accuracy (%)"});
    chart.add("cells", nb_test, sa_acc);
    chart.save((st.out / "oneshot_truths.svg").string());
  }
  std::printf("stand-alone vs NB201: tau %.3f rho %.3f; stand-alone training total %.0f s\n",
              j["standalone_vs_nb201"]["kendall_tau"].get<double>(), j["standalone_vs_nb201"]["spearman_rho"].get<double>(),
              j["standalone"]["total_seconds"].get<double>());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ranking quality of one-shot supernets on NAS-Bench-201 cells (Fashion-MNIST)"};
  Settings st;
  std::string out = st.out.string();
  app.add_option("--out", out, "directory for the CSV/JSON/SVG outputs and the caches");
  app.add_option("--data", st.data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--archs", st.archs, "cells in the fixed sample");
  app.add_option("--train-images", st.train_images, "training images (a class-balanced subset)");
  app.add_option("--valid-images", st.valid_images, "validation images (held out of the training set)");
  app.add_option("--standalone-epochs", st.standalone_epochs, "epochs of stand-alone training per cell");
  app.add_option("--supernet-epochs", st.supernet_epochs, "epochs of supernet training per sampler");
  app.add_option("--fewshot-epochs", st.fewshot_epochs, "epochs per few-shot sub-supernet");
  app.add_option("--split-edge", st.split_edge, "edge (0-5) the few-shot split is on");
  app.add_option("--calibration-batches", st.calibration_batches, "BN recalibration batches of 64");
  app.add_option("--samplers", st.samplers,
                 "comma-separated: uniform, fair, enas, enas-entropy-<w> (ENAS with an entropy bonus of w percent per nat)");
  app.add_option("--fewshot-samplers", st.fewshot_samplers, "samplers also split few-shot (comma-separated, may be empty)");
  app.add_option("--channels", st.channels, "C");
  app.add_option("--cells", st.cells, "N");
  app.add_option("--threads", st.threads, "threads");
  app.add_option("--seed", st.seed, "seed");
  bool no_standalone = false;
  app.add_flag("--summary-only", st.summary_only, "train nothing: summarise the cached scores (configs not scored are listed)");
  app.add_flag("--no-standalone", no_standalone, "only train and score the supernets (the stand-alone cache and the summary are left to another run)");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return nas::run_program("oneshot_ranking", [&] {
    st.out = out;
    st.standalone = !no_standalone;
    nas::require_in_range("--archs", st.archs, std::size_t{5}, nas::Nb201Space::num_archs);
    nas::require_in_range("--train-images", st.train_images, std::size_t{64}, std::size_t{50000});
    nas::require_in_range("--valid-images", st.valid_images, std::size_t{10}, std::size_t{10000});
    nas::require_in_range("--standalone-epochs", st.standalone_epochs, 0.01, 200.0);
    nas::require_in_range("--supernet-epochs", st.supernet_epochs, 0.01, 1000.0);
    nas::require_in_range("--fewshot-epochs", st.fewshot_epochs, 0.01, 1000.0);
    nas::require_in_range("--split-edge", st.split_edge, std::size_t{0}, std::size_t{5});
    nas::require_in_range("--calibration-batches", st.calibration_batches, std::size_t{1}, std::size_t{1000});
    nas::require_in_range("--channels", st.channels, 1, 256);
    nas::require_in_range("--cells", st.cells, 1, 10);
    nas::require_in_range("--threads", st.threads, 1, 256);
    for (const auto& s : split_list(st.samplers)) require_sampler("--samplers", s);
    if (split_list(st.samplers).empty())
      throw nas::ConfigError("--samplers '' must name at least one of: uniform, fair, enas, enas-entropy-<weight>");
    for (const auto& s : split_list(st.fewshot_samplers)) {
      require_sampler("--fewshot-samplers", s);
      const auto all = split_list(st.samplers);
      if (std::find(all.begin(), all.end(), s) == all.end())
        throw nas::ConfigError("--fewshot-samplers '" + s + "' must also be in --samplers");
    }
    nas::require_writable_directory("--out", st.out);
    return run(st, command);
  });
}
