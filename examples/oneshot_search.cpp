// One-shot architecture search on Fashion-MNIST: train one NB201 supernet with a path sampler, search it with
// regularized evolution on supernet scores (BN recalibrated per path), retrain the winner from scratch with the
// main job's final training, report its test accuracy and look the cell up in the NAS-Bench-201 table.
//
//     oneshot_search --sampler fair --supernet-epochs 10 --final-epochs 10
//     oneshot_search --sampler enas --fewshot-edge 0 --fewshot-epochs 2
//     oneshot_search --sampler uniform --train-images 2000 --evaluations 100 --final-epochs 1   # a quick look
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/normalize.hpp>
#include <nas/data/split.hpp>
#include <nas/estimate/final_training.hpp>
#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/supernet_estimator.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/oneshot.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/threads.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace {

struct Settings {
  std::string space = "nb201", sampler = "uniform", data_dir, out = "oneshot_search_out";
  std::size_t train_images = 0, valid_images = 10000, score_images = 2000, evaluations = 300;
  std::size_t population = 20, tournament = 5, calibration_batches = 8;
  double supernet_epochs = 10.0, final_epochs = 10.0, fewshot_epochs = 2.0, lr = 0.05, entropy_weight = 0.0;
  int fewshot_edge = -1, channels = 16, cells = 1, final_channels = 16, threads = 2;
  std::uint64_t seed = 0;
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Sampler>
nas::OneShotStats train_supernet(nas::OneShot<Sampler>& trainer, nas::Supernet<nas::Nb201Space>& super,
                                 std::unique_ptr<nas::FewShotSupernet<nas::Nb201Space>>& few, const Settings& st,
                                 const nas::Dataset& train, const nas::Dataset& valid, double& fewshot_seconds) {
  const nas::Nb201Space space;
  nas::OneShotStats stats = trainer.train(super, space, train, &valid);
  if (st.fewshot_edge >= 0) {
    few = std::make_unique<nas::FewShotSupernet<nas::Nb201Space>>(space, super, static_cast<std::size_t>(st.fewshot_edge));
    trainer.options().epochs = st.fewshot_epochs;
    std::printf("few-shot: %zu sub-supernets split on edge %d, %.2f epochs each\n", few->size(), st.fewshot_edge, st.fewshot_epochs);
    for (const auto& s : few->train(trainer, train, &valid)) fewshot_seconds += s.seconds;
  }
  return stats;
}

int run(const Settings& st) {
  const auto t0 = std::chrono::steady_clock::now();
  const nas::Nb201Space space;
  nas::set_num_threads(st.threads);
  // Data as the main job prepares it: normalised with training statistics, validation held out.
  nas::TrainTest d = nas::load_fashion_mnist(st.data_dir);
  const auto stats = nas::channel_stats(d.train);
  nas::normalize(d.train, stats);
  nas::normalize(d.test, stats);
  const auto split = nas::train_valid_split(d.train, {.valid_size = st.valid_images, .seed = st.seed});
  const nas::Dataset train = st.train_images > 0 && st.train_images < split.train.size()
                                 ? nas::subset(split.train, {.size = st.train_images, .seed = st.seed + 1, .balanced = true})
                                 : split.train;
  std::printf("Fashion-MNIST: %zu training images for the supernet, %zu validation, %zu test\n", train.size(),
              split.valid.size(), d.test.size());

  // 1. The supernet.
  auto super = std::make_unique<nas::Supernet<nas::Nb201Space>>(
      space, nas::NetworkInput::of(train), nas::SupernetOptions{.channels = st.channels, .cells = st.cells, .seed = st.seed});
  const nas::OneShotOptions oo{
      .epochs = st.supernet_epochs, .batch_size = 64, .lr = st.lr, .threads = st.threads, .seed = st.seed,
      .on_epoch = [](const nas::EpochInfo& e) {
        std::printf("supernet epoch %zu/%zu  loss %.4f  %.1f s", e.epoch, e.epochs, e.train_loss, e.seconds);
        if (!std::isnan(e.valid_accuracy)) std::printf("  controller reward %.1f%%", e.valid_accuracy);
        std::printf("\n");
        std::fflush(stdout);
      }};
  std::printf("supernet: NB201 C=%d N=%d, %s sampler, %.2f epochs\n", st.channels, st.cells, st.sampler.c_str(), st.supernet_epochs);
  std::unique_ptr<nas::FewShotSupernet<nas::Nb201Space>> few;
  double fewshot_seconds = 0.0;
  nas::OneShotStats trained;
  if (st.sampler == "uniform") {
    nas::OneShot<nas::UniformPaths> t(oo);
    trained = train_supernet(t, *super, few, st, train, split.valid, fewshot_seconds);
  } else if (st.sampler == "fair") {
    nas::OneShot<nas::FairPaths> t(oo);
    trained = train_supernet(t, *super, few, st, train, split.valid, fewshot_seconds);
  } else {
    nas::OneShot<nas::EnasController> t(oo, nas::EnasController({.entropy_weight = st.entropy_weight}));
    trained = train_supernet(t, *super, few, st, train, split.valid, fewshot_seconds);
  }
  double per_epoch = 0.0;
  for (double s : trained.epoch_seconds) per_epoch += s;
  per_epoch /= static_cast<double>(std::max<std::size_t>(1, trained.epoch_seconds.size()));

  // 2. Search on supernet scores: regularized evolution, scored on held-out images.
  const nas::SupernetEstimatorOptions eo{.calibration_batches = st.calibration_batches, .max_valid = st.score_images,
                                         .threads = st.threads, .seed = st.seed};
  auto est = few ? nas::SupernetEstimator<nas::Nb201Space>(few->router(), train, split.valid, eo)
                 : nas::SupernetEstimator<nas::Nb201Space>(*super, train, split.valid, eo);
  const auto ts = std::chrono::steady_clock::now();
  const auto result = nas::RegularizedEvolution({.population = st.population, .sample = st.tournament, .seed = st.seed})
                          .run(space, est, nas::Budget{.evaluations = st.evaluations});
  const double search_seconds = since(ts);
  const std::string winner = space.encode(result.best);
  std::printf("search: %zu supernet evaluations in %.1f s; winner %s (%.2f%% with the shared weights)\n",
              result.history.size(), search_seconds, winner.c_str(), result.best_eval.score);

  // 3. The main job's final training, from scratch on training + validation images.
  const nas::Dataset train_all = nas::concat(split.train, split.valid);
  nas::FinalTrainingOptions fo;
  fo.training = nas::TrainingOptions{.network = {.channels = st.final_channels, .cells = st.cells}, .epochs = st.final_epochs,
                                     .batch_size = 64, .threads = st.threads, .seed = st.seed,
                                     .on_epoch = [](const nas::EpochInfo& e) {
                                       std::printf("final epoch %zu/%zu  loss %.4f  %.1f s\n", e.epoch, e.epochs, e.train_loss, e.seconds);
                                       std::fflush(stdout);
                                     }};
  fo.latency_repeats = 0;
  std::printf("final training: C=%d N=%d, %.1f epochs on %zu images\n", st.final_channels, st.cells, st.final_epochs, train_all.size());
  const nas::FinalResult fin = nas::final_training(space, result.best, fo, train_all, d.test);
  if (!fin.ok) throw nas::Error("final training failed: " + fin.reason);

  // 4. The NB201 table.
  nlohmann::json j;
  try {
    const auto table = nas::Nb201Table::load_default();
    const auto& rec = table.at(result.best);
    j["nb201"] = {{"cifar10_test", rec.test[0]}, {"cifar100_test", rec.test[1]}, {"imagenet16_test", rec.test[2]}};
    std::printf("NB201 table: CIFAR-10 %.2f%%, CIFAR-100 %.2f%%, ImageNet16-120 %.2f%% test accuracy (200 epochs)\n",
                rec.test[0], rec.test[1], rec.test[2]);
  } catch (const nas::Error& e) {
    std::printf("NB201 table not available: %s\n", e.what());
  }
  const double total = since(t0);
  std::printf("winner %s: test accuracy %.2f%% after %.1f epochs\n", winner.c_str(), fin.test_accuracy, fin.epochs);
  std::printf("cost: supernet %.1f s (%.1f s per epoch)%s, search %.1f s, final training %.1f s, total %.1f s\n",
              trained.seconds, per_epoch,
              few ? (", few-shot " + nas::detail::num_str(fewshot_seconds) + " s").c_str() : "", search_seconds,
              fin.train_seconds, total);
  j["winner"] = winner;
  j["sampler"] = st.sampler;
  j["supernet"] = {{"channels", st.channels}, {"cells", st.cells}, {"epochs", st.supernet_epochs},
                   {"train_images", train.size()}, {"seconds", trained.seconds}, {"seconds_per_epoch", per_epoch},
                   {"fewshot_edge", st.fewshot_edge}, {"fewshot_seconds", fewshot_seconds}};
  j["search"] = {{"evaluations", result.history.size()}, {"seconds", search_seconds}, {"supernet_score", result.best_eval.score}};
  j["final"] = {{"channels", st.final_channels}, {"epochs", fin.epochs}, {"seconds", fin.train_seconds},
                {"test_accuracy", fin.test_accuracy}, {"params", fin.params}};
  j["total_seconds"] = total;
  std::ofstream(std::filesystem::path(st.out) / "result.json") << j.dump(2) << "\n";
  std::printf("wrote %s/result.json\n", st.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One-shot NAS on Fashion-MNIST: supernet training, evolution on supernet scores, final training of the winner"};
  Settings st;
  app.add_option("--space", st.space, "search space (nb201)");
  app.add_option("--sampler", st.sampler, "path sampler: uniform (SPOS), fair (FairNAS), enas (learned controller)");
  app.add_option("--entropy-weight", st.entropy_weight, "enas: entropy bonus, reward (percent) per nat (0: none; 5 ranked best)");
  app.add_option("--supernet-epochs", st.supernet_epochs, "epochs of supernet training");
  app.add_option("--lr", st.lr, "supernet learning rate (cosine to 0)");
  app.add_option("--train-images", st.train_images, "supernet training images (0: all not held out)");
  app.add_option("--valid-images", st.valid_images, "training images held out for validation");
  app.add_option("--score-images", st.score_images, "validation images a supernet score uses");
  app.add_option("--calibration-batches", st.calibration_batches, "BN recalibration batches of 64 per score (0: off)");
  app.add_option("--fewshot-edge", st.fewshot_edge, "split the supernet on this edge's op (0-5; -1: no few-shot)");
  app.add_option("--fewshot-epochs", st.fewshot_epochs, "epochs per few-shot sub-supernet");
  app.add_option("--evaluations", st.evaluations, "supernet evaluations of the evolution");
  app.add_option("--population", st.population, "evolution population");
  app.add_option("--tournament", st.tournament, "evolution tournament size");
  app.add_option("--channels", st.channels, "supernet C");
  app.add_option("--cells", st.cells, "N, for the supernet and the final network");
  app.add_option("--final-channels", st.final_channels, "C of the final network");
  app.add_option("--final-epochs", st.final_epochs, "epochs of final training");
  app.add_option("--threads", st.threads, "threads");
  app.add_option("--seed", st.seed, "seed of data split, weights, sampling and search");
  app.add_option("--data", st.data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--out", st.out, "directory for result.json");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  return nas::run_program("oneshot_search", [&] {
    nas::require_one_of("--space", st.space, {"nb201"});
    nas::require_one_of("--sampler", st.sampler, {"uniform", "fair", "enas"});
    nas::require_in_range("--entropy-weight", st.entropy_weight, 0.0, 1000.0);
    if (st.entropy_weight > 0.0 && st.sampler != "enas")
      throw nas::ConfigError("--entropy-weight " + nas::detail::num_str(st.entropy_weight) + " needs --sampler enas (not '" +
                             st.sampler + "')");
    nas::require_in_range("--supernet-epochs", st.supernet_epochs, 0.01, 1000.0);
    nas::require_in_range("--lr", st.lr, 1e-6, 10.0);
    nas::require_in_range("--train-images", st.train_images, std::size_t{0}, std::size_t{59999});
    nas::require_in_range("--valid-images", st.valid_images, std::size_t{64}, std::size_t{30000});
    nas::require_in_range("--score-images", st.score_images, std::size_t{1}, std::size_t{30000});
    nas::require_in_range("--calibration-batches", st.calibration_batches, std::size_t{0}, std::size_t{1000});
    nas::require_in_range("--fewshot-edge", st.fewshot_edge, -1, 5);
    nas::require_in_range("--fewshot-epochs", st.fewshot_epochs, 0.01, 1000.0);
    nas::require_in_range("--evaluations", st.evaluations, std::size_t{1}, std::size_t{1000000});
    nas::require_in_range("--population", st.population, std::size_t{2}, std::size_t{100000});
    nas::require_in_range("--tournament", st.tournament, std::size_t{1}, st.population);
    nas::require_in_range("--channels", st.channels, 1, 256);
    nas::require_in_range("--cells", st.cells, 1, 10);
    nas::require_in_range("--final-channels", st.final_channels, 1, 256);
    nas::require_in_range("--final-epochs", st.final_epochs, 0.01, 1000.0);
    nas::require_in_range("--threads", st.threads, 1, 256);
    if (st.train_images > 0 && st.train_images < 64) throw nas::ConfigError("--train-images " + std::to_string(st.train_images) + " must be 0 or >= 64");
    nas::require_writable_directory("--out", st.out);
    return run(st);
  });
}
