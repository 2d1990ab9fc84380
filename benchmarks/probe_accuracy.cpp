// probe_accuracy: how well the final training's epoch-time probe predicts a real epoch.
// For each cell (C=16, N=1, batch 64, all 60,000 Fashion-MNIST training images), the probe
// with the old rule (30 steps, 24 timed) and with the time floor (ProbeOptions::min_seconds,
// 3 s), once before and once after one timed epoch, and each one's error against it.
//
//     probe_accuracy --threads 2
//
// Timed work: run it alone on the machine.
#include <CLI/CLI.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/normalize.hpp>
#include <nas/estimate/final_training.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/space/nb201_space.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

int probe_main(int argc, char** argv) {
  int threads = 2;
  std::string data;
  std::vector<std::string> cells{"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
                                 std::string(nas::nb201::resnet),
                                 "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
                                 "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|"};
  CLI::App app{"How well the epoch-time probe predicts a real epoch of final training"};
  app.add_option("--threads", threads, "threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--data", data, "directory with the Fashion-MNIST IDX files (default: system install)");
  app.add_option("--cells", cells, "NB201 cell strings")->capture_default_str();
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
  const nas::Nb201Space space;
  std::vector<nas::Nb201Arch> archs;
  for (const auto& c : cells) archs.push_back(space.decode(c));  // a bad string: a ConfigError naming it, before any work
  const std::string dir = nas::find_fashion_mnist(data);
  if (dir.empty()) throw nas::ConfigError("Fashion-MNIST not found; install dataset-fashion-mnist or pass --data DIR");
  nas::TrainTest d = nas::load_fashion_mnist(dir);
  nas::normalize(d.train, nas::channel_stats(d.train));
  nas::set_num_threads(threads);
  const nas::TrainingOptions o{.network = {.channels = 16, .cells = 1}, .batch_size = 64, .lr = 0.1, .threads = threads, .seed = 0};
  const auto pct = [](double probe, double epoch) { return 100.0 * (probe / epoch - 1.0); };
  std::printf("| cell | epoch (s) | 24 steps, before / after | min_seconds 3, before / after |\n|---|---|---|---|\n");
  for (std::size_t i = 0; i < archs.size(); ++i) {
    const double old_before = nas::probe_epoch_seconds(space, archs[i], o, d.train, {.min_seconds = 0.0});
    const double new_before = nas::probe_epoch_seconds(space, archs[i], o, d.train, {.min_seconds = 3.0});
    nas::TrainingRun<nas::Nb201Space> run(space, archs[i], d.train, o, 7);
    const auto t0 = std::chrono::steady_clock::now();
    run.train_to(run.steps_per_epoch(), run.steps_per_epoch());
    const double epoch = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double old_after = nas::probe_epoch_seconds(space, archs[i], o, d.train, {.min_seconds = 0.0});
    const double new_after = nas::probe_epoch_seconds(space, archs[i], o, d.train, {.min_seconds = 3.0});
    std::printf("| `%s` | %.1f | %+.0f %% / %+.0f %% | %+.0f %% / %+.0f %% |\n", cells[i].c_str(), epoch, pct(old_before, epoch),
                pct(old_after, epoch), pct(new_before, epoch), pct(new_after, epoch));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return nas::run_program("probe_accuracy", [&] { return probe_main(argc, argv); });
}
