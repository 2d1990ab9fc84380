// Differentiable architecture search on Fashion-MNIST: DARTS (first or second order), Fair DARTS, GDAS, PC-DARTS or DARTS-
// over the NAS-Bench-201 or the DARTS space; prints the genotype, retrains it from scratch with the main job's
// final training and reports its test accuracy; for NB201 it also looks the cell up in the benchmark's table.
//
//     darts_search --space nb201 --variant darts-v1 --images 10000 --epochs 10 --out out/darts_v1
//     darts_search --space darts --variant gdas --channels 8 --cells 5 --epochs 5 --retrain-epochs 3
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/normalize.hpp>
#include <nas/data/resize.hpp>
#include <nas/data/split.hpp>
#include <nas/estimate/final_training.hpp>
#include <nas/estimate/nb201_table.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>
#include <nas/search/darts.hpp>
#include <nas/tensor/threads.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Args {
  std::string space = "nb201", variant = "darts-v1", dataset = "fashion-mnist", data_dir, out, checkpoint;
  std::size_t images = 10000, epochs = 10, batch = 64, steps = 0, retrain_images = 10000, test_images = 10000;
  int channels = 16, cells = 1, threads = 2, image_size = 28;
  double retrain_epochs = 3.0, arch_lr = 3e-4;
  int partial_channels = 4;  // K of --variant pc
  std::uint64_t seed = 0;
};

// Prints each epoch as it ends.
struct EpochPrinter {
  template <class Arch>
  void on_darts_epoch(const nas::DartsEpoch<Arch>& e) {
    std::printf("epoch %2zu/%zu  train loss %.4f acc %5.2f%%  valid loss %.4f acc %5.2f%%  %.1f s  peak %.0f MiB  skip-w %.2f tau %.2f\n  %s\n",
                e.epoch, e.epochs, e.train_loss, e.train_accuracy, e.valid_loss, e.valid_accuracy, e.seconds,
                e.peak_memory_mib, e.skip_weight, e.temperature, e.genotype.c_str());
    std::fflush(stdout);
  }
};

// The resident memory now, in MiB (/proc/self/statm; 0 elsewhere): the growth over a search
// is what the supernet's buffers hold, which the process's peak (set by loading the whole
// data set) does not show.
double resident_mib() {
  std::ifstream f("/proc/self/statm");
  double pages = 0.0, resident = 0.0;
  if (!(f >> pages >> resident)) return 0.0;
  return resident * 4096.0 / (1024.0 * 1024.0);
}

// One panel per row (edge) of relaxed op weights against the epoch, stacked two per line.
void write_alpha_figure(const std::string& path, const std::string& title, const std::vector<std::string>& rows,
                        const std::vector<std::string>& ops, const std::vector<nas::EdgeWeights>& per_epoch,
                        std::size_t first_epoch) {
  const int w = 460, h = 230, cols = 2;
  const int nrows = static_cast<int>((rows.size() + cols - 1) / cols);
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(cols * w) + "\" height=\"" +
                    std::to_string(nrows * h + 30) + "\">\n<text x=\"10\" y=\"20\" font-family=\"sans-serif\" font-size=\"15\">" +
                    title + "</text>\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    nas::LineChart chart({.title = "edge " + rows[r], .x_label = "epoch", .y_label = "weight", .width = w, .height = h,
                          .legend = r == 1});
    for (std::size_t k = 0; k < ops.size(); ++k) {
      std::vector<double> x, y;
      for (std::size_t e = 0; e < per_epoch.size(); ++e) {
        x.push_back(static_cast<double>(first_epoch + e));
        y.push_back(per_epoch[e][r][k]);
      }
      chart.add(ops[k], x, y);
    }
    std::string panel = chart.svg();
    const auto at = panel.find("<svg");
    const int px = static_cast<int>(r % cols) * w, py = 30 + static_cast<int>(r / cols) * h;
    panel.insert(at + 4, " x=\"" + std::to_string(px) + "\" y=\"" + std::to_string(py) + "\"");
    if (auto decl = panel.find("<?xml"); decl != std::string::npos) panel.erase(decl, panel.find("?>", decl) + 2 - decl);
    out += panel + "\n";
  }
  out += "</svg>\n";
  std::ofstream(path) << out;
}

template <class Space, class Strategy>
int search(const Args& a, const Space& space, const Strategy& strategy, const nas::TrainTest& data) {
  using Arch = typename Space::Arch;
  const nas::Dataset search_data = nas::subset(data.train, {.size = a.images, .seed = nas::mix_seed(a.seed, 1), .balanced = true});
  nas::DartsOptions o = strategy.options();
  const std::string label = a.variant == "pc" ? "pc-darts (K = " + std::to_string(a.partial_channels) + ")" : Strategy::name();
  std::printf("%s on the %s space: %zu Fashion-MNIST images (%dx%d), half for w and half for alpha; C=%d N=%d batch %zu, "
              "%zu epochs, %d threads, seed %llu\n",
              label.c_str(), a.space.c_str(), search_data.size(), a.image_size, a.image_size, a.channels, a.cells,
              a.batch, a.epochs, a.threads, static_cast<unsigned long long>(a.seed));
  const double mem0 = nas::detail::peak_memory_mib(), rss0 = resident_mib();
  EpochPrinter printer;
  std::vector<nas::EdgeWeights> evolution;
  struct Keep {
    std::vector<nas::EdgeWeights>* ev;
    void on_darts_epoch(const nas::DartsEpoch<Arch>& e) { ev->push_back(e.weights); }
  } keep{&evolution};
  const auto res = strategy.run(space, search_data, printer, keep);
  const double mem1 = nas::detail::peak_memory_mib(), rss1 = resident_mib();
  double epoch_seconds = 0.0;
  for (const auto& e : res.epochs) epoch_seconds += e.seconds;
  if (!res.epochs.empty()) epoch_seconds /= static_cast<double>(res.epochs.size());
  const std::size_t skips = nas::skip_count(space, res.arch);
  std::printf("genotype: %s\nskip connections: %zu; search %.1f s (%.1f s per epoch); process peak %.0f MiB; the search's "
              "resident growth %.1f MiB\n",
              res.genotype.c_str(), skips, res.seconds, epoch_seconds, mem1, rss1 - rss0);

  if (!res.edge_weights.empty()) {
    std::printf("edge weights (softmax of beta per node):");
    for (std::size_t r = 0; r < res.edge_weights.size(); ++r) std::printf(" %s %.3f", res.row_names[r].c_str(), res.edge_weights[r]);
    std::printf("\n");
  }
  nlohmann::json j{{"variant", label}, {"space", a.space}, {"seed", a.seed}, {"genotype", res.genotype},
                   {"skip_connections", skips}, {"search_seconds", res.seconds}, {"epoch_seconds", epoch_seconds},
                   {"peak_memory_mib", mem1}, {"peak_growth_mib", mem1 - mem0}, {"search_resident_growth_mib", rss1 - rss0}, {"images", search_data.size()},
                   {"image_size", a.image_size}, {"channels", a.channels}, {"cells", a.cells}, {"batch", a.batch},
                   {"epochs", a.epochs}, {"threads", a.threads}, {"arch_lr", strategy.options().arch_lr}, {"first_epoch", res.first_epoch}};
  if (!res.edge_weights.empty()) j["edge_weights"] = res.edge_weights;
  for (const auto& e : res.epochs)
    j["per_epoch"].push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                              {"valid_loss", e.valid_loss}, {"valid_accuracy", e.valid_accuracy}, {"seconds", e.seconds},
                              {"peak_memory_mib", e.peak_memory_mib}, {"genotype", e.genotype}});
  if constexpr (std::is_same_v<Space, nas::Nb201Space>) {
    try {
      const auto table = nas::Nb201Table::load_default();
      const auto& r = table.at(res.arch);
      std::printf("NAS-Bench-201 #%u: test accuracy CIFAR-10 %.2f%%, CIFAR-100 %.2f%%, ImageNet16-120 %.2f%%\n",
                  static_cast<unsigned>(r.index), r.test[0], r.test[1], r.test[2]);
      j["nb201"] = {{"index", r.index}, {"cifar10_test", r.test[0]}, {"cifar100_test", r.test[1]}, {"imagenet16_test", r.test[2]}};
    } catch (const nas::DataError& e) {
      std::printf("NAS-Bench-201 table not available: %s\n", e.what());
    }
  }
  if (a.retrain_epochs > 0.0) {
    const nas::Dataset train = nas::subset(data.train, {.size = a.retrain_images, .seed = nas::mix_seed(a.seed, 2), .balanced = true});
    const nas::Dataset test = nas::subset(data.test, {.size = a.test_images, .seed = nas::mix_seed(a.seed, 3), .balanced = true});
    nas::FinalTrainingOptions fo;
    fo.training.network = {.channels = a.channels, .cells = a.cells};
    fo.training.epochs = a.retrain_epochs;
    fo.training.batch_size = a.batch;
    fo.training.lr = 0.05;
    fo.training.seed = a.seed;
    fo.training.threads = a.threads;
    fo.latency_repeats = 0;
    const auto fr = nas::final_training(space, res.arch, fo, train, test);
    if (fr.ok)
      std::printf("retrained from scratch: %.1f epochs on %zu images, %.1f s: test accuracy %.2f%% on %zu images\n", fr.epochs,
                  train.size(), fr.train_seconds, fr.test_accuracy, test.size());
    else
      std::printf("retraining failed: %s\n", fr.reason.c_str());
    j["retrain"] = {{"ok", fr.ok}, {"epochs", fr.epochs}, {"images", train.size()}, {"test_images", test.size()},
                    {"seconds", fr.train_seconds}, {"test_accuracy", fr.test_accuracy}, {"reason", fr.reason}};
  }
  if (!a.out.empty()) {
    const std::filesystem::path dir(a.out);
    std::ofstream(dir / "result.json") << j.dump(2) << "\n";
    std::ofstream csv(dir / "alpha.csv");
    csv << "epoch,edge,op,weight\n";
    for (std::size_t e = 0; e < evolution.size(); ++e)
      for (std::size_t r = 0; r < res.row_names.size(); ++r)
        for (std::size_t k = 0; k < res.op_names.size(); ++k)
          csv << res.first_epoch + e << "," << res.row_names[r] << "," << res.op_names[k] << "," << evolution[e][r][k] << "\n";
    if (!evolution.empty())
      write_alpha_figure((dir / "alpha.svg").string(), label + ", seed " + std::to_string(a.seed) + ": relaxed alpha per edge",
                         res.row_names, res.op_names, evolution, res.first_epoch);
    std::printf("wrote %s/result.json, alpha.csv, alpha.svg\n", a.out.c_str());
  }
  return 0;
}

template <class Space>
int dispatch(const Args& a, const Space& space, const nas::DartsOptions& o, const nas::TrainTest& data) {
  if (a.variant == "darts-v1") return search(a, space, nas::DartsV1(o), data);
  if (a.variant == "darts-v2") return search(a, space, nas::DartsV2(o), data);
  if (a.variant == "fair") return search(a, space, nas::FairDarts(o), data);
  if (a.variant == "gdas") return search(a, space, nas::Gdas(o), data);
  if (a.variant == "pc") return search(a, space, nas::DartsV1(o), data);  // first order on a partial-channel supernet
  return search(a, space, nas::DartsMinus(o), data);  // darts-minus
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Differentiable architecture search (DARTS and variants) on Fashion-MNIST"};
  app.add_option("--space", a.space, "nb201 or darts");
  app.add_option("--variant", a.variant,
                 "darts-v1, darts-v2, fair, gdas, pc (PC-DARTS: partial channels and edge normalisation), darts-minus (DARTS- auxiliary skip guard)");
  app.add_option("--partial-channels", a.partial_channels, "K of --variant pc: 1/K of each edge's channels go through its ops (PC-DARTS: 4)");
  app.add_option("--dataset", a.dataset, "fashion-mnist");
  app.add_option("--data-dir", a.data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--images", a.images, "training images searched on (half for w, half for alpha)");
  app.add_option("--image-size", a.image_size, "images resized to this square size (28: as distributed)");
  app.add_option("--epochs", a.epochs, "search epochs");
  app.add_option("--batch", a.batch, "batch size");
  app.add_option("--steps-per-epoch", a.steps, "at most this many steps per epoch (0: all)");
  app.add_option("--channels", a.channels, "C of the supernet and of the retrained network");
  app.add_option("--cells", a.cells, "N (cells per stage for nb201, cells in all for darts)");
  app.add_option("--arch-lr", a.arch_lr, "Adam learning rate of alpha (DARTS: 3e-4)");
  app.add_option("--threads", a.threads, "threads");
  app.add_option("--seed", a.seed, "seed");
  app.add_option("--retrain-epochs", a.retrain_epochs, "epochs of retraining from scratch (0: skip)");
  app.add_option("--retrain-images", a.retrain_images, "training images for retraining");
  app.add_option("--test-images", a.test_images, "test images");
  app.add_option("--checkpoint", a.checkpoint, "checkpoint file written each epoch; the search resumes from it");
  app.add_option("--out", a.out, "directory for result.json, alpha.csv and alpha.svg");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;

  return nas::run_program("darts_search", [&] {
    nas::require_one_of("--space", a.space, {"nb201", "darts"});
    nas::require_one_of("--variant", a.variant, {"darts-v1", "darts-v2", "fair", "gdas", "pc", "darts-minus"});
    nas::require_one_of("--dataset", a.dataset, {"fashion-mnist"});
    nas::require_in_range("--images", a.images, std::size_t{64}, std::size_t{60000});
    nas::require_in_range("--image-size", a.image_size, 8, 64);
    nas::require_in_range("--epochs", a.epochs, std::size_t{1}, std::size_t{1000});
    nas::require_in_range("--batch", a.batch, std::size_t{2}, std::size_t{1024});
    nas::require_in_range("--channels", a.channels, 1, 256);
    nas::require_in_range("--cells", a.cells, 1, 20);
    nas::require_in_range("--threads", a.threads, 1, 256);
    nas::require_in_range("--arch-lr", a.arch_lr, 1e-6, 1.0);
    nas::require_in_range("--retrain-epochs", a.retrain_epochs, 0.0, 1000.0);
    nas::require_in_range("--retrain-images", a.retrain_images, std::size_t{64}, std::size_t{60000});
    nas::require_in_range("--test-images", a.test_images, std::size_t{10}, std::size_t{10000});
    if (a.images / 2 < a.batch)
      throw nas::ConfigError("--images " + std::to_string(a.images) + " gives halves smaller than --batch " + std::to_string(a.batch));
    if (a.variant == "pc") {
      if (a.space != "nb201")
        throw nas::ConfigError("--variant pc: partial channels are implemented for --space nb201 only (the darts space's "
                               "reduction cells would pool the bypassed channels)");
      nas::require_in_range("--partial-channels", a.partial_channels, 2, 64);
      if (a.channels % a.partial_channels != 0)
        throw nas::ConfigError("--partial-channels " + std::to_string(a.partial_channels) + " must divide --channels " +
                               std::to_string(a.channels));
    }
    if (a.space == "darts" && a.cells < 3)
      throw nas::ConfigError("--cells " + std::to_string(a.cells) + " must be >= 3 for the darts space (two reduction cells)");
    if (!a.out.empty()) nas::require_writable_directory("--out", a.out);
    nas::DartsOptions o;
    o.epochs = a.epochs;
    o.batch_size = a.batch;
    o.max_steps_per_epoch = a.steps;
    o.seed = a.seed;
    o.arch_lr = a.arch_lr;
    o.checkpoint = a.checkpoint;
    o.supernet = {.channels = a.channels, .cells = a.cells, .seed = nas::mix_seed(a.seed, 7), .affine = false,
                  .partial_channels = a.variant == "pc" ? a.partial_channels : 1};
    o.validate("darts_search");
    nas::set_num_threads(a.threads);

    nas::TrainTest data = nas::load_fashion_mnist(a.data_dir);
    if (a.image_size != 28) {
      data.train = nas::resize_images(data.train, a.image_size, a.image_size);
      data.test = nas::resize_images(data.test, a.image_size, a.image_size);
    }
    const auto stats = nas::channel_stats(data.train);
    nas::normalize(data.train, stats);
    nas::normalize(data.test, stats);
    if (a.space == "nb201") return dispatch(a, nas::Nb201Space{}, o, data);
    return dispatch(a, nas::CellSpace::darts(), o, data);
  });
}
