// One single-path supernet training epoch (NB201, N=1, C=16, batch 64, 10,000 images of 1x28x28) in nas and in
// PyTorch (benchmarks/oneshot_torch.py; default layout and channels_last), side by side in one run: the same paths
// in the same order, the same optimizer (SGD, Nesterov momentum 0.9, weight decay 5e-4, clipping at 5).
// Run it alone on the machine: oneshot_speed --out benchmarks/reports
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/core/rng.hpp>
#include <nas/data/dataset.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/search/oneshot.hpp>
#include <nas/space/nb201_space.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "peer.hpp"

namespace {

// Replays a fixed list of paths, from the first at each training call.
struct ReplayPaths {
  const std::vector<nas::Nb201Arch>* paths = nullptr;
  std::size_t t = 0;
  void start(std::span<const std::size_t>) { t = 0; }
  void next(std::span<int> c, nas::Rng&) {
    const auto& a = (*paths)[t++ % paths->size()];
    for (std::size_t e = 0; e < 6; ++e) c[e] = a.ops[e];
  }
};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<double> numbers_after_ok(const std::string& reply) {
  std::istringstream in(reply);
  std::string ok;
  in >> ok;
  if (ok != "ok") throw nas::Error("PyTorch peer: " + reply);
  std::vector<double> v;
  for (std::string word; in >> word;) {
    char* end = nullptr;
    const double x = std::strtod(word.c_str(), &end);
    if (end != word.c_str() && *end == '\0') v.push_back(x);  // numbers only ("params 123" gives 123)
  }
  return v;
}

int run(const std::filesystem::path& out, int repeats, int threads, std::size_t images, const std::string& python) {
  const nas::Nb201Space space;
  const int channels = 16, cells = 1, batch = 64;
  const auto steps = static_cast<long>(images / batch);
  nas::Dataset data;
  data.channels = 1, data.height = 28, data.width = 28, data.classes = 10;
  for (int k = 0; k < 10; ++k) data.class_names.push_back("class " + std::to_string(k));
  nas::Rng rng(1);
  data.images.resize(images * 784);
  for (auto& v : data.images) v = static_cast<float>(rng.normal());
  data.labels.resize(images);
  for (auto& l : data.labels) l = static_cast<std::int32_t>(rng.index(10));

  // The paths, one per step: uniform single paths, written for the peer.
  std::vector<nas::Nb201Arch> paths;
  for (long s = 0; s < steps; ++s) paths.push_back(space.sample(rng));
  const auto paths_file = out / "oneshot_speed_paths.txt";
  {
    std::ofstream f(paths_file);
    for (const auto& a : paths) {
      for (std::size_t e = 0; e < 6; ++e) f << static_cast<int>(a.ops[e]) << (e < 5 ? ' ' : '\n');
    }
  }
  // Average forward MACs per image of the paths (for GFLOP/s: a step is about 3 forwards).
  double macs = 0.0;
  const nas::NetworkInput input = nas::NetworkInput::of(data);
  for (const auto& a : paths) macs += nas::CellNetwork<nas::Nb201Space>(space, a, input, {.channels = channels, .cells = cells}).macs();
  macs /= static_cast<double>(paths.size());

  auto super = std::make_unique<nas::Supernet<nas::Nb201Space>>(space, input, nas::SupernetOptions{.channels = channels, .cells = cells});
  nas::OneShot<ReplayPaths> trainer({.epochs = 1, .batch_size = static_cast<std::size_t>(batch), .lr = 0.05, .threads = threads},
                                    ReplayPaths{&paths});
  const std::string script = std::string(NAS_SOURCE_DIR) + "/benchmarks/oneshot_torch.py";
  nas_bench::LineChild plain(nas_bench::keep_heap({python, script}));
  nas_bench::LineChild cl(nas_bench::keep_heap({python, script}));
  const auto version = plain.ask("version").value_or("error no reply");
  const double torch_params = numbers_after_ok(plain.ask("build " + std::to_string(cells) + " " + std::to_string(channels) + " " +
                                                         paths_file.string() + " contiguous").value_or("error no reply")).at(0);
  (void)numbers_after_ok(cl.ask("build " + std::to_string(cells) + " " + std::to_string(channels) + " " + paths_file.string() +
                                " channels_last").value_or("error no reply"));
  const auto nas_params = static_cast<double>(super->num_parameters());
  std::printf("parameters: nas %.0f, PyTorch %.0f; %ld steps per epoch; forward %.1f MFLOP per image on average\n", nas_params,
              torch_params, steps, 2.0 * macs / 1e6);
  const std::string load_before = nas_bench::load_average();

  auto nas_epoch = [&](long n) {
    trainer.options().max_steps = n;
    const double c0 = cpu_seconds();
    const auto s = trainer.train(*super, space, data);
    return std::pair{s.seconds, cpu_seconds() - c0};
  };
  auto torch_epoch = [&](nas_bench::LineChild& peer, long n) {
    const auto v = numbers_after_ok(peer.ask("epoch " + std::to_string(n) + " " + std::to_string(threads)).value_or("error no reply"));
    return std::pair{v.at(0), v.at(1)};
  };
  // Warm-up: allocators and buffers settle on both sides.
  (void)nas_epoch(40);
  (void)torch_epoch(plain, 40);
  (void)torch_epoch(cl, 40);
  std::vector<double> tn, tp, tc, cn, cp, cc;
  for (int r = 0; r < repeats; ++r) {
    const auto a = nas_epoch(steps);
    const auto b = torch_epoch(plain, steps);
    const auto c = torch_epoch(cl, steps);
    tn.push_back(a.first), cn.push_back(a.second);
    tp.push_back(b.first), cp.push_back(b.second);
    tc.push_back(c.first), cc.push_back(c.second);
    std::printf("repeat %d: nas %.2f s, PyTorch %.2f s, PyTorch channels_last %.2f s\n", r + 1, a.first, b.first, c.first);
    std::fflush(stdout);
  }
  const std::string load_after = nas_bench::load_average();
  const double peak = nas_bench::fma_peak_gflops();
  const auto sn = nas_bench::summarize(tn), sp = nas_bench::summarize(tp), sc = nas_bench::summarize(tc);
  const double flop = 3.0 * 2.0 * macs * static_cast<double>(steps * batch);
  const auto machine = nas_bench::machine();
  nlohmann::json j{{"date", nas_bench::utc_now()},
                   {"machine", machine.cpu},
                   {"cpus", machine.cores},
                   {"threads", threads},
                   {"torch", version.substr(version.find(' ') + 1)},
                   {"load_before", load_before},
                   {"load_after", load_after},
                   {"steps", steps},
                   {"images", steps * batch},
                   {"params", {{"nas", nas_params}, {"torch", torch_params}}},
                   {"forward_mflop_per_image", 2.0 * macs / 1e6},
                   {"fma_peak_gflops_per_core", peak},
                   {"nas_seconds", tn},
                   {"torch_seconds", tp},
                   {"torch_channels_last_seconds", tc},
                   {"nas_cpu_seconds", cn},
                   {"torch_cpu_seconds", cp},
                   {"torch_channels_last_cpu_seconds", cc}};
  std::ofstream(out / "oneshot_speed.json") << j.dump(2) << "\n";
  std::ofstream csv(out / "oneshot_speed.csv");
  csv << "side,median_s,min_s,max_s,speedup_of_nas,gflops,percent_of_peak\n";
  for (const auto& [name, s] : {std::pair{"nas", sn}, std::pair{"pytorch", sp}, std::pair{"pytorch_channels_last", sc}})
    csv << name << ',' << s.median << ',' << s.min << ',' << s.max << ',' << s.median / sn.median << ',' << flop / s.median / 1e9
        << ',' << 100.0 * flop / s.median / 1e9 / (peak * threads) << "\n";
  std::printf("epoch of %ld images, %d threads: nas %.2f s [%.2f-%.2f], PyTorch %.2f s [%.2f-%.2f], channels_last %.2f s [%.2f-%.2f]\n",
              steps * batch, threads, sn.median, sn.min, sn.max, sp.median, sp.min, sp.max, sc.median, sc.min, sc.max);
  std::printf("nas is %.2fx as fast as PyTorch's default, %.2fx as fast as channels_last (goal 1.2x); %.1f GFLOP/s = %.0f%% of %.0f x %d\n",
              sp.median / sn.median, sc.median / sn.median, flop / sn.median / 1e9, 100.0 * flop / sn.median / 1e9 / (peak * threads),
              peak, threads);
  std::printf("load average before %s, after %s\n", load_before.c_str(), load_after.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A single-path NB201 supernet epoch in nas and in PyTorch, side by side"};
  std::string out = "benchmarks/reports", python = "/usr/bin/python3";
  int repeats = 7, threads = 2;
  std::size_t images = 10000;
  app.add_option("--out", out, "directory for oneshot_speed.{json,csv}");
  app.add_option("--repeats", repeats, "alternating repeats of a whole epoch per side");
  app.add_option("--threads", threads, "threads on both sides");
  app.add_option("--images", images, "images per epoch (full batches of 64)");
  app.add_option("--python", python, "the Python with torch");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  return nas::run_program("oneshot_speed", [&] {
    nas::require_in_range("--repeats", repeats, 1, 100);
    nas::require_in_range("--threads", threads, 1, 256);
    nas::require_in_range("--images", images, std::size_t{128}, std::size_t{1000000});
    nas::require_writable_directory("--out", out);
    return run(out, repeats, threads, images, python);
  });
}
