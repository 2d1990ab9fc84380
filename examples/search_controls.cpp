// search_controls: did the main job's search beat no search? The cells a user would pick
// without searching, each given the final training the job gave its winner: the same
// time (or epochs), the same rules for width, networks and augmentation, the same data,
// seed and threads, tested once on the same test images.
//
//     search_controls --job out/search_fashion_mnist      # reads its result.json
//     search_controls --seconds 540 --random 5 --seed 1    # without a job: 540 s each
//
// Controls: `--random K` cells drawn uniformly from the NB201 space (seeded by --seed),
// the all-nor_conv_3x3 cell and NB201's ResNet cell. Writes <out>/controls.csv and
// controls.json (the job's winner first, when --job is given). With --short, each cell is
// also scored as the job's search scores candidates (short training, both objectives), and
// the rank correlation of each objective with what the final training delivered is printed:
//
//     search_controls --seconds 120 --random 12 --short --score-on valid   # which objective ranks better
#include <nas/estimate/final_accuracy.hpp>
#include <nas/estimate/ranking.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/nas.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Control {
  std::string label, cell;
};

int controls_main(int argc, char** argv) {
  std::string job, data, out = "out/search_controls", score_on = "test";
  double seconds = 0.0, final_epochs = 0.0;
  std::size_t random = 3, holdout = 10000;
  std::uint64_t seed = 0;
  int threads = 0;
  bool short_training = false;
  CLI::App app{"No-search controls for the main job: baseline cells given the job's final training"};
  app.add_option("--job", job, "the main job's output directory: its result.json gives the winner, the time, seed and threads");
  app.add_option("--seconds", seconds, "seconds of final training per cell (budget after the search, as the job had); "
                                       "default: the job's budget less its search time");
  app.add_option("--final-epochs", final_epochs, "E > 0: train each cell exactly E epochs instead (as the job's --final-epochs)");
  app.add_option("--random", random, "uniformly random cells among the controls")->capture_default_str();
  app.add_option("--seed", seed, "seed of the random cells, the split and the training (default: the job's)");
  app.add_option("--threads", threads, "threads (default: the job's; 1 without --job)");
  app.add_option("--holdout", holdout, "training images the job held out as its validation split")->capture_default_str();
  app.add_option("--score-on", score_on, "test: the test images (the one final measurement); valid: train on the split's "
                                         "training part and score on its validation part, to choose rules without the test set")
      ->check(CLI::IsMember({"test", "valid"}))
      ->capture_default_str();
  app.add_flag("--short", short_training,
               "also score each cell as the job's search does (C=8, 1 epoch on 2,000 images, 1,000 scored) by accuracy "
               "and by --objective final, and print each ranking's Kendall tau against the final training's result");
  app.add_option("--data", data, "directory with the Fashion-MNIST IDX files (default: system install)");
  app.add_option("--out", out, "output directory")->capture_default_str();
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;

  const nas::Nb201Space space;
  std::vector<Control> cells;
  nlohmann::json job_result;
  if (!job.empty()) {
    std::ifstream in(job + "/result.json");
    if (!in) {
      std::fprintf(stderr, "search_controls: --job '%s': no result.json there (run search_fashion_mnist --out DIR first)\n", job.c_str());
      return 2;
    }
    try {
      job_result = nlohmann::json::parse(in);
      cells.push_back({"job's winner", job_result.at("winner").get<std::string>()});
      if (seconds == 0.0 && final_epochs == 0.0)
        seconds = job_result.at("budget_s").get<double>() - job_result.at("search_s").get<double>();
      if (!app.count("--seed")) seed = job_result.at("seed").get<std::uint64_t>();
      if (!app.count("--threads")) threads = job_result.at("threads").get<int>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "search_controls: --job '%s': result.json: %s\n", job.c_str(), e.what());
      return 2;
    }
  }
  if (!(seconds >= 0.0) || !(final_epochs >= 0.0) || (seconds > 0.0) == (final_epochs > 0.0)) {
    std::fprintf(stderr, "search_controls: give one of --seconds (%g) and --final-epochs (%g) > 0, or --job DIR\n", seconds, final_epochs);
    return 2;
  }
  if (short_training && final_epochs > 0) {
    std::fprintf(stderr, "search_controls: --short needs a timed final training (--seconds or --job), not --final-epochs %g: "
                         "with fixed epochs a cell's speed does not matter\n", final_epochs);
    return 2;
  }
  if (threads < 0 || threads > 1024) {
    std::fprintf(stderr, "search_controls: --threads %d must be in [1, 1024] (0: the job's, else 1)\n", threads);
    return 2;
  }
  if (threads == 0) threads = 1;
  try {
    nas::require_writable_directory("--out", out);
  } catch (const nas::ConfigError& e) {
    std::fprintf(stderr, "search_controls: %s\n", e.what());
    return 2;
  }
  const std::string dir = nas::find_fashion_mnist(data);
  if (dir.empty()) {
    std::fprintf(stderr, "search_controls: Fashion-MNIST not found (sudo apt-get install dataset-fashion-mnist, or --data DIR)\n");
    return 2;
  }

  cells.push_back({"all nor_conv_3x3", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"});
  cells.push_back({"ResNet", std::string(nas::nb201::resnet)});
  nas::Rng rng(nas::mix_seed(seed, 0xc0de));
  for (std::size_t k = 0; k < random; ++k)
    cells.push_back({"random " + std::to_string(k + 1), std::string(space.encode(space.sample(rng)))});

  // The job's data: normalised by the training statistics, the same split, and the final
  // training on train + valid (or, with --score-on valid, on train alone, scored on valid).
  nas::TrainTest d = nas::load_fashion_mnist(dir);
  const auto stats = nas::channel_stats(d.train);
  nas::normalize(d.train, stats);
  nas::normalize(d.test, stats);
  if (holdout < 1 || holdout >= d.train.size()) {
    std::fprintf(stderr, "search_controls: --holdout %zu must be in [1, %zu]\n", holdout, d.train.size() - 1);
    return 2;
  }
  const auto split = nas::train_valid_split(d.train, {.valid_size = holdout, .seed = seed});
  const bool on_valid = score_on == "valid";
  const nas::Dataset train = on_valid ? split.train : nas::concat(split.train, split.valid);
  const nas::Dataset& scored = on_valid ? split.valid : d.test;
  nas::set_num_threads(threads);
  const nas::TrainingOptions recipe{.network = {.cells = 1}, .batch_size = 64, .lr = 0.1, .threads = threads, .seed = seed};
  const nas::FinalPlanOptions rules{};  // the job's defaults: width, networks and augmentation from the time

  // The job's search recipe and its --objective final (search_fashion_mnist's defaults).
  const nas::TrainingOptions search_recipe{.network = {.channels = 8, .cells = 1}, .epochs = 1, .batch_size = 32, .lr = 0.1,
                                           .threads = threads, .seed = seed, .max_train = 2000, .max_valid = 1000,
                                           .eval_batch_size = 64, .cache_size = 0};
  std::optional<nas::TrainedEstimator<nas::Nb201Space>> short_est;
  std::optional<nas::FinalAccuracy<nas::TrainedEstimator<nas::Nb201Space>&>> predicted;
  if (short_training) {
    short_est.emplace(space, split.train, split.valid, search_recipe);
    predicted.emplace(*short_est, nas::final_accuracy_options(*short_est, space.decode(nas::nb201::best_cifar10), 16, seconds, rules));
  }
  std::vector<double> by_accuracy, by_final, outcome;

  nlohmann::json rows = nlohmann::json::array();
  nas::CsvWriter csv(out + "/controls.csv", {"label", "cell", "accuracy", "scored_on", "networks", "channels", "augment",
                                             "epochs_per_network", "first_planned_epochs", "train_seconds"});
  if (!job_result.is_null()) {
    const nlohmann::json row{{"label", cells[0].label}, {"cell", cells[0].cell}, {"accuracy", job_result.value("test_accuracy", 0.0)},
                             {"scored_on", "test"}, {"networks", job_result.value("final_networks", 1)},
                             {"channels", job_result.value("final_channels", 16)}, {"augment", job_result.value("final_augment", false)},
                             {"epochs_per_network", job_result.value("final_epochs", 0.0)},
                             {"first_planned_epochs", job_result.value("final_first_planned_epochs", 0.0)},
                             {"train_seconds", job_result.value("final_train_s", 0.0)}};
    rows.push_back(row);
    if (predicted) {  // the winner's own final training is the job's: score it as the controls are
      const nas::Evaluation e = predicted->evaluate(space.decode(cells[0].cell), nas::Fidelity{1});
      if (e.ok()) {
        rows.back()["short_accuracy"] = *e.metrics.get("accuracy");
        rows.back()["predicted_final_accuracy"] = e.score;
        by_accuracy.push_back(*e.metrics.get("accuracy"));
        by_final.push_back(e.score);
        outcome.push_back(row["accuracy"].get<double>());
      }
    }
  }
  for (std::size_t i = job_result.is_null() ? 0 : 1; i < cells.size(); ++i) {
    const auto arch = space.decode(cells[i].cell);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                  std::chrono::duration<double>(seconds));
    nas::FinalPlan plan = final_epochs > 0 ? nas::plan_final_epochs(recipe, rules, final_epochs)
                                           : nas::plan_final_training(space, arch, recipe, train, rules, deadline);
    const nas::EnsembleResult r = nas::ensemble_final_training(space, arch, plan.options, plan.members, train, scored);
    if (!r.ok) {
      std::fprintf(stderr, "search_controls: %s (%s): training failed: %s\n", cells[i].label.c_str(), cells[i].cell.c_str(),
                   r.reason.c_str());
      continue;  // the other controls still count
    }
    double train_seconds = 0.0;
    for (const auto& m : r.members) train_seconds += m.train_seconds;
    const auto& first = r.members.front();
    rows.push_back({{"label", cells[i].label}, {"cell", cells[i].cell}, {"accuracy", r.test_accuracy}, {"scored_on", score_on},
                    {"networks", plan.members}, {"channels", plan.options.training.network.channels}, {"augment", plan.augment},
                    {"epochs_per_network", first.epochs}, {"first_planned_epochs", first.first_planned_epochs},
                    {"train_seconds", train_seconds}});
    if (predicted) {
      const nas::Evaluation e = predicted->evaluate(arch, nas::Fidelity{1});
      if (e.ok()) {
        rows.back()["short_accuracy"] = *e.metrics.get("accuracy");
        rows.back()["predicted_final_accuracy"] = e.score;
        rows.back()["seconds_per_image"] = *e.metrics.get("seconds_per_image");
        by_accuracy.push_back(*e.metrics.get("accuracy"));
        by_final.push_back(e.score);
        outcome.push_back(r.test_accuracy);
      }
    }
    std::printf("%-18s %6.2f %%  %d x C=%d, %.2f epochs each (%.2f first planned)%s  %s\n", cells[i].label.c_str(), r.test_accuracy,
                plan.members, plan.options.training.network.channels, first.epochs, first.first_planned_epochs,
                plan.augment ? ", augmented" : "", cells[i].cell.c_str());
  }
  for (const auto& row : rows)
    csv.row({row["label"].get<std::string>(), row["cell"].get<std::string>(), nas::fmt(row["accuracy"].get<double>(), 2),
             row["scored_on"].get<std::string>(), std::to_string(row["networks"].get<int>()), std::to_string(row["channels"].get<int>()),
             row["augment"].get<bool>() ? "yes" : "no", nas::fmt(row["epochs_per_network"].get<double>(), 2),
             nas::fmt(row["first_planned_epochs"].get<double>(), 2), nas::fmt(row["train_seconds"].get<double>(), 0)});
  nlohmann::json summary{{"seconds", seconds}, {"final_epochs", final_epochs}, {"seed", seed}, {"threads", threads}, {"controls", rows}};
  if (outcome.size() >= 2) {
    const double tau_acc = nas::kendall_tau(by_accuracy, outcome), tau_final = nas::kendall_tau(by_final, outcome);
    summary["kendall_tau_short_accuracy"] = tau_acc;
    summary["kendall_tau_predicted_final"] = tau_final;
    std::printf("Kendall tau with the final training's result over %zu cells: short-training accuracy %.3f, "
                "predicted final accuracy %.3f\n", outcome.size(), tau_acc, tau_final);
  }
  std::ofstream(out + "/controls.json") << summary.dump(2) << "\n";
  std::printf("controls: %s/controls.csv\n", out.c_str());
  return rows.size() > (job_result.is_null() ? 0u : 1u) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return nas::run_program("search_controls", [&] { return controls_main(argc, argv); });
}
