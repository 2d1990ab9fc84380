// A real architecture search on Fashion-MNIST: NB201 cells trained at low fidelity on a
// subset, the winner retrained on train+valid and tested once on the 10k test images.
//
//     search_fashion_mnist                                  # defaults: about 15 minutes on 2 cores
//     search_fashion_mnist --strategy hyperband --budget 1800 --out out/hb1800
//     mpirun -np 3 search_fashion_mnist --threads 1         # candidates trained on ranks 1 and 2
//
// Writes <out>/report.md, <out>/search.svg (best-so-far curve), <out>/journal.jsonl (one
// line per trial), <out>/history.csv, <out>/result.json and the final network(s),
// <out>/network_<k>.nasstate (nas::load_network reads them back).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/core/metrics.hpp>
#include <nas/data/fashion_mnist.hpp>
#include <nas/data/normalize.hpp>
#include <nas/data/split.hpp>
#include <nas/estimate/final_accuracy.hpp>
#include <nas/estimate/final_plan.hpp>
#include <nas/estimate/final_training.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/exec/search_job.hpp>
#include <nas/hw/latency.hpp>
#include <nas/hw/latency_table.hpp>
#include <nas/hw/objectives.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/format.hpp>
#include <nas/report/history_report.hpp>
#include <nas/report/journal.hpp>
#include <nas/report/journaled_search.hpp>
#include <nas/report/markdown.hpp>
#include <nas/report/program.hpp>
#include <nas/report/progress.hpp>
#include <nas/report/svg.hpp>
#include <nas/search/factory.hpp>
#include <nas/search/zero_cost_warm_start.hpp>
#include <nas/space/nb201_space.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct Config {
  std::string strategy = "rea";
  std::string objective = "final";  // nas::FinalAccuracy; or "accuracy": the candidates' own
  double budget = 900.0;
  double search_fraction = 0.4;
  std::size_t subset = 2000;
  std::size_t valid = 1000;
  std::size_t holdout = 10000;
  double epochs = 1.0;
  int threads = 0;
  std::uint64_t seed = 0;
  std::string out = "out/search_fashion_mnist";
  std::size_t workers = 1;  // candidates trained at once (each on threads / workers threads)
  std::string resume;       // a journal to continue
  std::string data;
  std::string channels = "auto";
  double widen_from = 8.0;
  std::string ensemble = "auto";
  double member_epochs = 7.0;
  int max_members = 5;
  int cells = 1;
  int search_channels = 8;
  std::size_t batch = 64;
  std::size_t search_batch = 32;
  double lr = 0.1;
  std::string augment = "auto";
  double augment_from = 12.0;
  std::size_t population = 10;
  std::size_t sample = 3;
  std::size_t trials = 0;       // 0: as many as the search's time allows
  double final_epochs = 0.0;    // 0: fill the time left
  double latency_target = 0.0;  // ms at batch 1; 0: accuracy alone
  std::string latency_table;    // CSV to load instead of profiling this machine
  std::string warm_start = "none";   // a zero-cost proxy ranking warm_candidates cells; its top `population` go first
  std::size_t warm_candidates = 1000;
};

// "auto" -> 0, a whole number >= 1 -> itself, anything else -> -1.
int auto_or_count(const std::string& text) {
  if (text == "auto") return 0;
  try {
    std::size_t used = 0;
    const int n = std::stoi(text, &used);
    return used == text.size() && n >= 1 ? n : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// --latency-target: the network whose latency the reward prices is the final one at batch
// 1 (C = --channels, or 16, the narrowest --channels auto trains; N = --cells). Its table
// is --latency-table, or this machine's, profiled now at the search's thread count and
// calibrated on 8 random architectures measured end to end (docs/latency.md).
nas::NetworkOptions latency_network(const Config& c, int fixed_channels) {
  return {.channels = fixed_channels > 0 ? fixed_channels : 16, .cells = c.cells};
}

std::shared_ptr<const nas::LatencyTable> this_machine_latency(const Config& c, const nas::Nb201Space& space,
                                                              const nas::NetworkInput& in, const nas::NetworkOptions& net) {
  const auto t0 = clock_type::now();
  nas::LatencyTable table = nas::profile_calibrated(
      space, in, net, {.profile = {.batch = 1, .threads = c.threads, .seed = c.seed}, .networks = 8, .seed = c.seed + 17});
  table.save(c.out + "/latency_table.csv");
  std::fprintf(stderr, "latency table: %zu op configurations of C=%d N=%d measured on %s in %.1f s (%s/latency_table.csv)\n",
               table.entries().size(), net.channels, net.cells, table.machine().model.c_str(), since(t0), c.out.c_str());
  return std::make_shared<const nas::LatencyTable>(std::move(table));
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

int job_main(int argc, char** argv) {
  Config c;
  CLI::App app{"Architecture search on Fashion-MNIST over the NAS-Bench-201 cell space, with real training"};
  app.add_option("--strategy", c.strategy, "rea | hyperband | sh | rs | ls | reinforce")->capture_default_str();
  app.add_option("--workers", c.workers,
                 "candidates trained at once, each on threads / workers threads; under mpirun -np N one per rank but rank 0: "
                 "N-1, or leave it out")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--resume", c.resume, "continue the search journaled in this file (same options; a fresh search budget)");
  app.add_option("--objective", c.objective,
                 "what the search ranks cells by: final (the accuracy predicted after the final training the time left "
                 "affords, from the candidate's validation accuracy and its measured training pace: nas::FinalAccuracy, "
                 "docs/final_accuracy.md) or accuracy (the candidates' validation accuracy); with --latency-target the "
                 "MnasNet reward of the accuracy")
      ->check(CLI::IsMember({"accuracy", "final"}))
      ->capture_default_str();
  app.add_option("--budget", c.budget, "wall-clock seconds for the whole run (search + final training)")->capture_default_str();
  app.add_option("--search-fraction", c.search_fraction, "share of the budget given to the search")->capture_default_str();
  app.add_option("--subset", c.subset, "training images used to score candidates")->capture_default_str();
  app.add_option("--valid", c.valid, "held-out images used to score candidates")->capture_default_str();
  app.add_option("--holdout", c.holdout, "training images held out as the validation split (the final training uses them too)")
      ->capture_default_str();
  app.add_option("--epochs", c.epochs, "epochs per candidate (rea, rs, ls, reinforce); Hyperband/SH rungs go from epochs/3 to 3*epochs")
      ->capture_default_str();
  app.add_option("--threads", c.threads,
                 "threads (0: time 1 and 2 threads on this machine and take the faster); under mpirun, of each rank: every "
                 "evaluating rank trains on this many, rank 0 the final network")
      ->capture_default_str();
  app.add_option("--seed", c.seed, "seed of the search, the splits and the training")->capture_default_str();
  app.add_option("--out", c.out, "output directory")->capture_default_str();
  app.add_option("--data", c.data, "directory with the Fashion-MNIST IDX files (default: system install)");
  app.add_option("--augment", c.augment,
                 "random crops (2 pixels) and flips in the final training: auto (when it can run --augment-from epochs), "
                 "on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app.add_option("--augment-from", c.augment_from, "epochs of final training from which --augment auto turns it on")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--channels", c.channels,
                 "C of the final network: a number, or auto (the widest of 16, 24, 32, 48, 64 that the time left trains "
                 "for at least --widen-from epochs, 16 if none)")
      ->capture_default_str();
  app.add_option("--widen-from", c.widen_from, "epochs a wider final network must get under --channels auto")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ensemble", c.ensemble,
                 "networks trained from the winner and averaged: a number, or auto (as many, up to --max-members, as "
                 "the time left trains for --member-epochs epochs each; 1 if none)")
      ->capture_default_str();
  app.add_option("--member-epochs", c.member_epochs, "epochs each network must get under --ensemble auto")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-members", c.max_members, "most networks --ensemble auto trains")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--cells", c.cells, "N, cells per stage, of the searched and final networks")->capture_default_str();
  app.add_option("--search-channels", c.search_channels, "C of the networks trained during the search")->capture_default_str();
  app.add_option("--batch", c.batch, "batch size of the final training")->capture_default_str();
  app.add_option("--search-batch", c.search_batch, "batch size of the candidates' training")->capture_default_str();
  app.add_option("--lr", c.lr, "initial learning rate (cosine to 0)")->capture_default_str();
  app.add_option("--population", c.population, "rea: population")->capture_default_str();
  app.add_option("--sample", c.sample, "rea: tournament size")->capture_default_str();
  app.add_option("--trials", c.trials,
                 "N > 0: the search stops after N trials even if its time is not up (0: as many as the time allows)")
      ->capture_default_str();
  app.add_option("--final-epochs", c.final_epochs,
                 "E > 0: train each final network exactly E epochs, whatever the budget, with the width and ensemble "
                 "given (auto: C=16, one network); the run then repeats on any machine (0: fill the time left)")
      ->capture_default_str();
  app.add_option("--latency-target", c.latency_target,
                 "MS: search for MnasNet's reward, accuracy x (latency / MS)^-0.07, with the final network's latency at "
                 "batch 1 predicted from this machine's latency table; 0: accuracy alone")
      ->capture_default_str();
  app.add_option("--latency-table", c.latency_table,
                 "latency table CSV (latency_model, or latency_table.csv of an earlier run) to use instead of profiling "
                 "this machine at the start; needs --latency-target");
  app.add_option("--warm-start", c.warm_start,
                 "PROXY: score --warm-candidates random cells' untrained final networks with this zero-cost proxy "
                 "(synflow, naswot, jacob_cov, snip, ...; docs/zero_cost.md) and search from its top --population; "
                 "its time comes out of the search's (none: no warm start)")
      ->capture_default_str();
  app.add_option("--warm-candidates", c.warm_candidates, "cells --warm-start scores")->capture_default_str();
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
  // Under mpirun every rank checks the options, and rank 0 alone says what is wrong.
  const nas::Launch launch = nas::detect_launch();
  if (!launch.drives()) std::cerr.setstate(std::ios::failbit);
  std::optional<nas::SearchJob> job;
  try {
    job.emplace(nas::SearchJobOptions{.program = "search_fashion_mnist", .workers = c.workers,
                                      .workers_given = app.count("--workers") > 0, .seed = c.seed},
                launch);
  } catch (const nas::ConfigError& e) {
    std::cerr << "search_fashion_mnist: " << e.what() << "\n";
    return 2;
  }

  const auto t0 = clock_type::now();
  if (!(c.budget > 0) || !(c.search_fraction > 0 && c.search_fraction < 1)) {
    std::cerr << "search_fashion_mnist: --budget must be > 0 and --search-fraction in (0, 1)\n";
    return 2;
  }
  const std::string dir = nas::find_fashion_mnist(c.data);
  if (dir.empty()) {
    std::cerr << "search_fashion_mnist: Fashion-MNIST not found"
              << (c.data.empty() ? std::string(" in ") + std::string(nas::fashion_mnist_system_dir) : " in '" + c.data + "'")
              << ".\n  Install it with:  sudo apt-get install dataset-fashion-mnist\n"
              << "  or pass the directory holding train-images-idx3-ubyte(.gz) etc. with --data DIR\n";
    return 2;
  }
  const int fixed_channels = auto_or_count(c.channels);
  if (fixed_channels < 0) {
    std::cerr << "search_fashion_mnist: --channels '" << c.channels << "' must be auto or a whole number >= 1\n";
    return 2;
  }
  const int fixed_members = auto_or_count(c.ensemble);
  if (fixed_members < 0) {
    std::cerr << "search_fashion_mnist: --ensemble '" << c.ensemble << "' must be auto or a whole number >= 1\n";
    return 2;
  }
  if (c.threads < 0) {
    std::cerr << "search_fashion_mnist: --threads must be >= 0\n";
    return 2;
  }
  if (!(c.final_epochs >= 0.0) || !std::isfinite(c.final_epochs)) {
    std::cerr << "search_fashion_mnist: --final-epochs " << c.final_epochs << " must be a finite number >= 0 (0: fill the time left)\n";
    return 2;
  }
  if (c.latency_target < 0 || (c.latency_target > 0 && (job->workers() > 1 || job->mpi() || !c.resume.empty()))) {
    std::cerr << "search_fashion_mnist: --latency-target " << c.latency_target
              << " must be > 0 ms, and runs with --workers 1, without --resume and without mpirun\n";
    return 2;
  }
  if (c.latency_target > 0 && app.count("--objective") == 0) c.objective = "accuracy";  // the reward prices it
  if (c.objective == "final" && c.latency_target > 0) {
    std::cerr << "search_fashion_mnist: --objective final and --latency-target " << c.latency_target
              << ": give one (the latency-aware search ranks by the MnasNet reward)\n";
    return 2;
  }
  std::shared_ptr<const nas::LatencyTable> latency_table;
  if (!c.latency_table.empty()) {
    if (!(c.latency_target > 0)) {
      std::cerr << "search_fashion_mnist: --latency-table '" << c.latency_table << "' needs --latency-target MS > 0\n";
      return 2;
    }
    try {
      latency_table = std::make_shared<const nas::LatencyTable>(nas::LatencyTable::load(c.latency_table));
      (void)latency_table->ops_ms(nas::plan_network(nas::Nb201Space{}, nas::Nb201Space::arch(0),
                                                    {1, 28, 28, 10}, latency_network(c, fixed_channels)));
    } catch (const nas::Error& e) {
      std::cerr << "search_fashion_mnist: --latency-table '" << c.latency_table << "': " << e.what() << "\n";
      return 2;
    }
  }
  std::optional<nas::AnyStrategy> chosen;
  try {
    chosen = nas::make_strategy(c.strategy, {.seed = c.seed,
                                             .dedup = true,
                                             .population = c.population,
                                             .sample = c.sample,
                                             .asynchronous = job->workers() > 1,  // keep every worker busy
                                             .min_fidelity = c.epochs / 3.0,
                                             .max_fidelity = 3.0 * c.epochs});
  } catch (const nas::ConfigError& e) {
    std::cerr << "search_fashion_mnist: --strategy: " << e.what() << "\n";
    return 2;
  }
  try {  // options the strategy reads only when it starts, and the output directory: before any work
    if (c.strategy == "rea") {
      nas::require_at_least("--population", c.population, std::size_t{1});
      nas::require_in_range("--sample", c.sample, std::size_t{1}, c.population);
    }
    if (c.warm_start != "none") {
      try {
        (void)nas::parse_zero_cost_proxy(c.warm_start);
      } catch (const nas::ConfigError&) {
        std::string known;
        for (nas::ZeroCostProxy p : nas::all_zero_cost_proxies) known += std::string(known.empty() ? "" : ", ") + nas::to_string(p);
        throw nas::ConfigError("--warm-start '" + c.warm_start + "' must be none or a zero-cost proxy: " + known);
      }
      nas::require_in_range("--warm-candidates", c.warm_candidates, c.population, std::size_t{nas::Nb201Space::num_archs});
    }
    if (job->drives()) nas::require_writable_directory("--out", c.out);  // only rank 0 writes files
  } catch (const nas::ConfigError& e) {
    std::cerr << "search_fashion_mnist: " << e.what() << "\n";
    return 2;
  }
  const nas::AnyStrategy& strategy = *chosen;
  const nas::Nb201Space space;

  // Data: normalise with training statistics; hold --holdout (10k) training images out for validation.
  nas::TrainTest d = nas::load_fashion_mnist(dir);
  const auto stats = nas::channel_stats(d.train);
  nas::normalize(d.train, stats);
  nas::normalize(d.test, stats);
  if (c.holdout < 1 || c.holdout >= d.train.size()) {
    std::cerr << "search_fashion_mnist: --holdout " << c.holdout << " must be in [1, " << d.train.size() - 1
              << "] (the training set has " << d.train.size() << " images)\n";
    return 2;
  }
  const auto split = nas::train_valid_split(d.train, {.valid_size = c.holdout, .seed = c.seed});
  if (launch.drives())  // under mpirun, rank 0 alone reports
    std::fprintf(stderr, "Fashion-MNIST from %s: %zu train, %zu valid, %zu test (%.1f s)\n", dir.c_str(), split.train.size(),
                 split.valid.size(), d.test.size(), since(t0));
  if (c.threads == 0) {
    // Times training steps of the final network (C=16 under --channels auto) with 1 and
    // 2 threads and keeps the faster: on a shared machine 2 can be slower than 1.
    const auto typical = space.decode(nas::nb201::best_cifar10);
    const nas::TrainingOptions recipe{.network = {.channels = fixed_channels > 0 ? fixed_channels : 16, .cells = c.cells},
                                      .batch_size = c.batch,
                                      .seed = c.seed};
    const auto probe = nas::probe_training_threads(space, typical, split.valid, recipe);
    for (std::size_t i = 0; i < probe.counts.size(); ++i)
      if (launch.drives())  // under mpirun, rank 0 alone reports
        std::fprintf(stderr, "threads %d: %.0f training images/s (best of 3 rounds)\n", probe.counts[i], probe.rates[i]);
    c.threads = probe.threads;
  }
  nas::set_num_threads(c.threads);

  // --warm-start: a zero-cost proxy picks the search's first --population cells out of
  // --warm-candidates, scored at the final network's shape; the search's clock is running.
  // Under mpirun only rank 0 proposes cells, so only it scores them.
  std::optional<nas::WarmStartSpace<nas::Nb201Space>> warm;
  if (c.warm_start != "none" && job->drives()) {
    warm.emplace(nas::zero_cost_warm_start(
        space, split.train,
        {.proxy = nas::parse_zero_cost_proxy(c.warm_start),
         .network = {.channels = fixed_channels > 0 ? fixed_channels : 16, .cells = c.cells, .seed = c.seed},
         .warm = {.candidates = c.warm_candidates, .top = c.population, .seed = c.seed}}));
    std::fprintf(stderr, "warm start: %s scored %zu cells in %.1f s; the search starts from its top %zu (best %s)\n",
                 c.warm_start.c_str(), warm->scored(), warm->proxy_seconds(), warm->top().size(),
                 space.encode(warm->top().front()).c_str());
  }

  // Search: small networks, low fidelity, a subset; scored on held-out images only.
  // Hyperband and SH rungs go from epochs/3 to 3*epochs.
  const bool multi_fidelity = strategy.multi_fidelity();
  nas::TrainingOptions search_training{.network = {.channels = c.search_channels, .cells = c.cells},
                                       .epochs = c.epochs,
                                       .max_epochs = multi_fidelity ? 3.0 * c.epochs : c.epochs,
                                       .batch_size = c.search_batch,
                                       .lr = c.lr,
                                       .threads = c.threads,
                                       .seed = c.seed,
                                       .max_train = c.subset,
                                       .max_valid = c.valid,
                                       .eval_batch_size = 64,
                                       // Cached runs keep their networks' buffers (~50 MB each at C=8):
                                       // Hyperband/SH need one per candidate of a rung; REA only
                                       // revisits an architecture when it samples it again.
                                       .cache_size = multi_fidelity ? std::size_t{32} : std::size_t{4}};
  nas::TrainedEstimator<nas::Nb201Space> estimator(space, split.train, split.valid, search_training);
  const double search_seconds = c.budget * c.search_fraction - since(t0);
  if (launch.drives())  // under mpirun, rank 0 alone reports
    std::fprintf(stderr, "search: %s for %.0f s, candidates C=%d N=%d, %.2f epochs on %zu images, scored on %zu\n",
                 c.strategy.c_str(), search_seconds, c.search_channels, c.cells, c.epochs, estimator.train_data().size(),
                 estimator.valid_data().size());
  std::optional<nas::MeasuredLatency<nas::Nb201Space>> latency;
  if (c.latency_target > 0) {
    const nas::NetworkInput in = nas::NetworkInput::of(split.train);
    if (!latency_table) latency_table = this_machine_latency(c, space, in, latency_network(c, fixed_channels));
    latency.emplace(latency_table, space, in, latency_network(c, fixed_channels));
  }
  std::optional<nas::FinalAccuracyOptions> final_objective;
  if (c.objective == "final") {
    // The final training's length is the budget after the search less what the plan
    // keeps back; its pace is the candidates' scaled by the final width's FLOPs.
    final_objective = nas::final_accuracy_options(estimator, space.decode(nas::nb201::best_cifar10),
                                                  fixed_channels > 0 ? fixed_channels : 16,
                                                  c.budget * (1.0 - c.search_fraction));
    if (launch.drives())  // under mpirun, rank 0 alone reports
      std::fprintf(stderr, "search: ranking by the accuracy predicted after %.0f s of final training (pace %.2f times the candidates')\n",
                   final_objective->final_seconds, final_objective->slowdown);
  }
  // `searched` is the space itself, or its warm-started adapter.
  const auto search_in = [&](const auto& searched) -> std::optional<nas::Result<nas::Nb201Arch>> {
    nas::Budget search_budget{.wall_seconds = search_seconds};
    if (c.trials > 0) search_budget.evaluations = c.trials;
    if (!job->mpi() && c.workers == 1 && c.resume.empty()) {
      if (latency) {  // --latency-target: the MnasNet reward of accuracy and this machine's latency
        nas::MnasReward reward(estimator, *latency, nas::MnasRewardOptions::soft(c.latency_target));
        return strategy.run(searched, reward, search_budget, nas::ProgressBar({.every = 1}),
                            nas::make_journal(c.out + "/journal.jsonl", searched));
      }
      if (final_objective) {  // --objective final: the accuracy the final training's time is predicted to give
        nas::FinalAccuracy objective(estimator, *final_objective);
        return strategy.run(searched, objective, search_budget, nas::ProgressBar({.every = 1}),
                            nas::make_journal(c.out + "/journal.jsonl", searched));
      }
      return strategy.run(searched, estimator, search_budget, nas::ProgressBar({.every = 1}),
                          nas::make_journal(c.out + "/journal.jsonl", searched));
    }
    // Several candidates at once (threads, or the other ranks under mpirun), and/or
    // resumed: one estimator per worker, each training on its share of the threads.
    nas::TrainingOptions per_worker_training = search_training;
    per_worker_training.threads = job->threads_per_worker(c.threads);
    const nlohmann::json run = {{"program", "search_fashion_mnist"}, {"strategy", c.strategy}, {"seed", c.seed},
                                {"epochs", c.epochs}, {"subset", c.subset}, {"valid", c.valid}, {"holdout", c.holdout},
                                {"cells", c.cells}, {"search_channels", c.search_channels}, {"search_batch", c.search_batch},
                                {"lr", c.lr}, {"population", c.population}, {"sample", c.sample},
                                {"asynchronous", job->workers() > 1}, {"objective", c.objective},
                                {"warm_start", c.warm_start}, {"warm_candidates", c.warm_candidates}};
    // A journal of the single-worker run has no run line: its trials are checked as they replay.
    const auto journaled = [&](auto make) {
      return nas::run_journaled(*job, strategy, searched, nas::per_worker(make), search_budget,
                                {.path = c.out + "/journal.jsonl", .resume = c.resume, .run = run, .require_run = false},
                                nas::ProgressBar({.every = 1}));
    };
    const auto trained = [&](std::size_t) {
      return nas::TrainedEstimator<nas::Nb201Space>(space, split.train, split.valid, per_worker_training);
    };
    if (final_objective) return journaled([&](std::size_t w) { return nas::FinalAccuracy(trained(w), *final_objective); });
    return journaled(trained);
  };
  auto searched = warm ? search_in(*warm) : search_in(space);
  if (!searched) return 0;  // an evaluating rank under mpirun: rank 0 trains the winner and reports
  const nas::Result<nas::Nb201Arch> result = std::move(*searched);
  // Under --latency-target the score is the reward; the accuracy is its own metric.
  const double search_accuracy = result.best_eval.metrics.get_or("accuracy", result.best_eval.score);
  const double search_done = since(t0);
  if (!result.found) {
    std::cerr << "search_fashion_mnist: no candidate trained successfully in " << result.history.size() << " trials\n";
    return 1;
  }
  std::fprintf(stderr, "search: %zu trials (%zu failed) in %.0f s; winner %s (valid %.2f%% at %.2f epochs)\n",
               result.history.size(), result.history.failures(), search_done, space.encode(result.best).c_str(),
               search_accuracy, result.best_eval.metrics.get_or(nas::metric::epochs_total, 0));
  if (latency)
    std::fprintf(stderr, "search: MnasNet reward %.3f at a predicted %.3f ms (target %.3f ms, batch 1, C=%d)\n",
                 result.best_eval.score, latency->latency_ms(result.best), c.latency_target,
                 latency_network(c, fixed_channels).channels);

  // Final training: from scratch on train + valid for what is left of the budget, leaving
  // time for the test pass and the latency measurement; networks, width and augmentation
  // follow the rules of nas::FinalPlanOptions (docs/training.md). The epochs are planned
  // from a timed probe and re-planned as training goes; a hard stop keeps the run inside
  // the budget whatever happens.
  const nas::Dataset train_all = nas::concat(split.train, split.valid);
  const nas::TrainingOptions final_recipe{
      .network = {.cells = c.cells}, .batch_size = c.batch, .lr = c.lr, .threads = c.threads, .seed = c.seed};
  const nas::FinalPlanOptions rules{
      .channels = fixed_channels,  // 0: chosen from the time left, as the networks are
      .widen_from = c.widen_from,
      .members = fixed_members,
      .member_epochs = c.member_epochs,
      .max_members = c.max_members,
      .augment = c.augment == "on" ? nas::Rule::on : c.augment == "off" ? nas::Rule::off : nas::Rule::automatic,
      .augment_from = c.augment_from};
  const auto deadline = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(c.budget));
  nas::FinalPlan plan = c.final_epochs > 0 ? nas::plan_final_epochs(final_recipe, rules, c.final_epochs)
                                           : nas::plan_final_training(space, result.best, final_recipe, train_all, rules, deadline);
  const int members = plan.members;
  const bool augment = plan.augment;
  nas::FinalTrainingOptions& final_options = plan.options;
  if (fixed_members == 0)
    std::fprintf(stderr, "final training: the time left trains about %.1f epochs: %d network%s\n", plan.epochs_in_time_left,
                 members, members > 1 ? "s" : "");
  for (const auto& [width, epochs] : plan.width_epochs)
    std::fprintf(stderr, "final network: C=%d would get about %.1f epochs\n", width, epochs);
  const int final_channels = final_options.training.network.channels;
  const double final_seconds = final_options.seconds, epochs_possible = plan.epochs_per_network;
  nas::EpochLines epoch_lines("final training", members);
  final_options.training.on_epoch = std::ref(epoch_lines);  // one printer for every network
  if (c.final_epochs > 0)
    std::fprintf(stderr, "final training: %d x C=%d N=%d on %zu images for %.2f epochs each (--final-epochs), %s\n", members,
                 final_channels, c.cells, train_all.size(), c.final_epochs,
                 augment ? "with random crops and flips" : "without augmentation");
  else
    std::fprintf(stderr, "final training: %d x C=%d N=%d on %zu images for about %.0f s each (about %.1f epochs each), %s\n",
                 members, final_channels, c.cells, train_all.size(), final_seconds / members, epochs_possible,
                 augment ? "with random crops and flips" : "without augmentation");
  final_options.save_path = c.out + "/network.nasstate";  // network_<k>.nasstate: nas::load_network reads them back
  const nas::EnsembleResult ens =
      nas::ensemble_final_training(space, result.best, final_options, members, train_all, d.test);
  const double total = since(t0);
  if (!ens.ok) {
    std::cerr << "search_fashion_mnist: final training failed: " << ens.reason << "\n";
    return 1;
  }
  const nas::FinalResult& fin = ens.members.front();  // cost and latency: every network is the same
  double final_train_seconds = 0.0;
  std::vector<double> network_accuracies;
  std::vector<std::string> saved;
  for (const auto& m : ens.members) {
    final_train_seconds += m.train_seconds;
    if (m.ok) network_accuracies.push_back(m.test_accuracy);
    if (!m.saved_path.empty()) saved.push_back(std::filesystem::path(m.saved_path).filename().string());
    if (!m.save_error.empty()) std::fprintf(stderr, "search_fashion_mnist: warning: network not saved: %s\n", m.save_error.c_str());
  }
  const bool any_cut = std::any_of(ens.members.begin(), ens.members.end(), [](const auto& m) { return m.cut_short; });

  // Report.
  const std::string winner = space.encode(result.best);
  const auto curve = nas::best_so_far_curve(result.history, nas::CurveAxis::wall_seconds);
  nas::LineChart chart({.title = "Search on Fashion-MNIST (" + c.strategy + ")", .x_label = "wall-clock seconds",
                        .y_label = "best validation accuracy so far (%)"});
  chart.add(c.strategy, curve.x, curve.y, {.step = true});
  chart.save(c.out + "/search.svg");
  nas::write_history_csv(result.history, c.out + "/history.csv", [&space](const nas::Nb201Arch& a) { return space.encode(a); });

  nlohmann::json j;
  j["winner"] = winner;
  j["strategy"] = c.strategy;
  j["objective"] = c.objective;
  if (final_objective) j["search_predicted_final_accuracy"] = result.best_eval.score;
  j["budget_s"] = c.budget;
  j["total_s"] = total;
  j["search_s"] = search_done;
  j["trials"] = result.history.size();
  j["failures"] = result.history.failures();
  j["search_valid_accuracy"] = search_accuracy;
  j["warm_start"] = c.warm_start;
  if (warm) {
    j["warm_candidates"] = warm->scored();
    j["warm_proxy_s"] = warm->proxy_seconds();
    j["warm_top"] = warm->top().size();
    j["warm_best"] = space.encode(warm->top().front());
  }
  if (latency) {
    j["latency_target_ms"] = c.latency_target;
    j["search_reward"] = result.best_eval.score;
    j["predicted_latency_ms_batch1"] = latency->latency_ms(result.best);
    j["latency_table_channels"] = latency_network(c, fixed_channels).channels;
  }
  j["final_epochs"] = fin.epochs;
  j["final_planned_epochs"] = fin.planned_epochs;
  j["final_first_planned_epochs"] = fin.first_planned_epochs;
  j["final_cut_short"] = any_cut;
  j["final_augment"] = augment;
  j["final_channels"] = final_channels;
  j["final_train_s"] = final_train_seconds;
  j["final_networks"] = members;
  j["final_networks_trained"] = ens.members.size();
  j["network_test_accuracies"] = network_accuracies;  // each network alone; the first is the single-network result
  j["saved_networks"] = saved;
  j["test_accuracy"] = ens.test_accuracy;  // of the networks' averaged probabilities (the network itself when 1)
  j["test_loss"] = ens.test_loss;
  j[nas::metric::params] = fin.params;
  j[nas::metric::macs] = fin.macs;
  j["latency_ms_batch1"] = fin.latency_ms_batch1;
  j["latency_ms_batch64"] = fin.latency_ms_batch64;
  j["threads"] = c.threads;
  j["seed"] = c.seed;
  std::ofstream(c.out + "/result.json") << j.dump(2) << "\n";

  nas::MarkdownTable table({"quantity", "value"}, {nas::Align::left, nas::Align::right});
  const std::size_t trained = ens.members.size();
  const std::string per_network = trained > 1 ? " (per network)" : "";
  std::string alone;
  for (double a : network_accuracies) alone += (alone.empty() ? "" : ", ") + nas::fmt(a, 2) + " %";
  table.row({"winner (NB201 string)", "`" + winner + "`"})
      .row({"test accuracy (" + nas::fmt_count(static_cast<long long>(d.test.size())) + " test images)" +
                (trained > 1 ? ", " + std::to_string(ens.members_used) + " networks averaged" : ""),
            nas::fmt(ens.test_accuracy, 2) + " %"});
  if (trained > 1) table.row({"test accuracy of each network alone", alone});
  table.row({"parameters" + per_network, nas::fmt_count(static_cast<long long>(fin.params))})
      .row({"FLOPs (multiply-accumulates per image)" + per_network, nas::fmt(fin.macs / 1e6, 2) + " M"})
      .row({"latency per image, batch 1" + per_network, nas::fmt(fin.latency_ms_batch1, 3) + " ms"})
      .row({"latency per image, batch 64" + per_network, nas::fmt(fin.latency_ms_batch64, 3) + " ms"})
      .row({"final training" + per_network,
            nas::fmt(fin.epochs, 2) + " epochs on " + nas::fmt_count(static_cast<long long>(train_all.size())) + " images, " +
                nas::fmt(fin.train_seconds, 0) + " s" +
                (fin.cut_short ? " (stopped at the budget; " + nas::fmt(fin.planned_epochs, 2) + " planned)"
                               : " (the probe had planned " + nas::fmt(fin.first_planned_epochs, 2) + ")")})
      .row({"search", std::to_string(result.history.size()) + " trials (" + std::to_string(result.history.failures()) +
                          " failed) in " + nas::fmt(search_done, 0) + " s"})
      .row({"search's best validation accuracy", nas::fmt(search_accuracy, 2) + " % (C=" +
                                                     std::to_string(c.search_channels) + ", " + nas::fmt(c.epochs, 2) +
                                                     " epochs on " + std::to_string(estimator.train_data().size()) + " images)"})
      .row({"total wall-clock time", nas::fmt(total, 0) + " s of a " + nas::fmt(c.budget, 0) + " s budget"});
  if (final_objective)
    table.row({"search objective (--objective final)", "the winner's predicted accuracy after " +
                                                          nas::fmt(final_objective->final_seconds, 0) + " s of final training: " +
                                                          nas::fmt(result.best_eval.score, 2) + " %"});
  if (warm)
    table.row({"warm start (--warm-start " + c.warm_start + ")",
               "the top " + std::to_string(warm->top().size()) + " of " + std::to_string(warm->scored()) +
                   " cells by the proxy went first; scoring them took " + nas::fmt(warm->proxy_seconds(), 1) +
                   " s of the search's time"});
  if (latency)
    table.row({"latency target (MnasNet reward, w = -0.07)", nas::fmt(c.latency_target, 3) + " ms"})
        .row({"winner's predicted latency (batch 1, C=" + std::to_string(latency_network(c, fixed_channels).channels) + ")",
              nas::fmt(latency->latency_ms(result.best), 3) + " ms (reward " + nas::fmt(result.best_eval.score, 2) + ")"});
  std::ofstream md(c.out + "/report.md");
  md << "# Architecture search on Fashion-MNIST\n\n"
     << "Run on " << now_utc() << " with " << c.threads << " threads: strategy `" << c.strategy << "`, seed " << c.seed
     << ". Candidates were NB201 networks with C=" << c.search_channels << ", N=" << c.cells << ", trained for "
     << nas::fmt(c.epochs, 2) << " epoch(s) on " << estimator.train_data().size() << " training images and scored on "
     << estimator.valid_data().size() << " held-out images (never the test set). The winner was then trained from scratch "
     << "with C=" << final_channels << ", N=" << c.cells << " on all " << nas::fmt_count(static_cast<long long>(train_all.size()))
     << " training images"
     << (augment ? " (random 2-pixel crops and horizontal flips)" : "")
     << (trained > 1 ? ", " + std::to_string(trained) + " times with seeds " + std::to_string(c.seed) + " to " +
                           std::to_string(c.seed + trained - 1) + ", and the networks' class probabilities averaged (a deep ensemble),"
                     : "")
     << " and tested once on the " << nas::fmt_count(static_cast<long long>(d.test.size())) << " test images.\n\n"
     << table.str() << "\n"
     << "![best validation accuracy so far](search.svg)\n\n"
     << "Files: `journal.jsonl` (one line per trial), `history.csv`, `result.json`, `search.svg`, and the trained "
     << (saved.size() > 1 ? "networks" : "network") << " (`" << (saved.empty() ? std::string("none") : saved.front())
     << (saved.size() > 1 ? "` to `" + saved.back() : std::string()) << "`; `nas::load_network` reads "
     << (saved.size() > 1 ? "them" : "it") << " back, and `export_pytorch` turns " << (saved.size() > 1 ? "them" : "it")
     << " into PyTorch code).\n";
  md.close();

  std::printf("winner: %s\n", winner.c_str());
  if (trained > 1)
    std::printf("test accuracy: %.2f %% (%zu networks averaged; alone: %s; %.2f epochs each%s)\n", ens.test_accuracy,
                ens.members_used, alone.c_str(), fin.epochs, any_cut ? ", stopped at the budget" : "");
  else
    std::printf("test accuracy: %.2f %% (%.2f epochs of final training%s)\n", ens.test_accuracy, fin.epochs,
                any_cut ? ", stopped at the budget" : "");
  std::printf("params: %zu, FLOPs: %.2f M, latency per image: %.3f ms (batch 1), %.3f ms (batch 64)\n", fin.params,
              fin.macs / 1e6, fin.latency_ms_batch1, fin.latency_ms_batch64);
  std::printf("search: %zu trials in %.0f s; total %.0f s of %.0f s; report: %s/report.md\n", result.history.size(), search_done,
              total, c.budget, c.out.c_str());
  return 0;
}

// A library error at run time ends the job with its message and a non-zero status, never
// an uncaught exception.
int main(int argc, char** argv) {
  return nas::run_program("search_fashion_mnist", [&] { return job_main(argc, argv); });
}
