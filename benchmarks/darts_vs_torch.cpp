// Search steps of first-order DARTS and of GDAS on the NAS-Bench-201 supernet (N = 1, C = 16, 1x28x28 images,
// batch 64), nas against the same supernet in PyTorch (benchmarks/darts_torch.py), alternating in one run.
//
//     darts_vs_torch --threads 2 --repeats 3 --steps 3 --json benchmarks/reports/darts_speed.json
//
// A step is one alpha step (validation batch) and one w step (training batch). An epoch over 10,000 images
// (half for w, half for alpha) is 78 such steps; its time is given as 78 x the median step.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/search/darts.hpp>
#include <nas/tensor/threads.hpp>

#include "peer.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

template <class R>
std::vector<double> nas_steps(int threads, int warmup, int steps, std::size_t& params, int partial_channels = 1) {
  nas::set_num_threads(threads);
  const nas::Nb201Space space;
  const nas::NetworkInput in{.channels = 1, .height = 28, .width = 28, .classes = 10};
  nas::DartsOptions o;
  o.supernet = {.channels = 16, .cells = 1, .seed = 1, .affine = false, .partial_channels = partial_channels};
  nas::DartsSearch<nas::Nb201Space, R> s(space, in, o);
  params = s.network().num_parameters();
  nas::Tensor xt({64, 1, 28, 28}), xv({64, 1, 28, 28});
  nas::Rng rng(1);
  xt.fill_normal(rng);
  xv.fill_normal(rng);
  std::vector<int> yt(64), yv(64);
  for (int i = 0; i < 64; ++i) yt[static_cast<std::size_t>(i)] = yv[static_cast<std::size_t>(i)] = static_cast<int>(rng.index(10));
  std::vector<double> t;
  for (int k = 0; k < warmup + steps; ++k) {
    const auto a = std::chrono::steady_clock::now();
    s.sample(rng);
    (void)s.arch_gradient(xt, yt, xv, yv);
    s.arch_optimizer().step();
    s.sample(rng);
    (void)s.weight_step(xt, yt);
    if (k >= warmup) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  return t;
}

std::vector<double> torch_steps(const std::string& script, const char* variant, int threads, int warmup, int steps,
                                const char* layout, std::size_t& params, std::string& version) {
  std::ostringstream cmd;
  cmd << "/usr/bin/env MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=268435456 "
      << "/usr/bin/python3 " << script << " " << variant << " 16 1 " << threads << " " << warmup << " " << steps << " " << layout;
  const std::string out = nas_bench::command_output(cmd.str().c_str());
  std::istringstream in(out);
  std::string word;
  std::vector<double> t;
  in >> word >> params >> word >> version >> word;
  if (word != "step_s") throw nas::Error("darts_vs_torch: the PyTorch peer said '" + out + "'");
  double v;
  while (in >> v) t.push_back(v);
  return t;
}

double median(std::vector<double> v) { return nas_bench::summarize(std::move(v)).median; }

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 3, steps = 3, warmup = 1;
  std::string json_path, memory_only;
  CLI::App app{"First-order DARTS and GDAS search steps: nas against PyTorch"};
  app.add_option("--threads", threads, "threads of both sides");
  app.add_option("--repeats", repeats, "alternating rounds");
  app.add_option("--steps", steps, "timed steps per block");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--json", json_path, "where to write the figures");
  app.add_option("--memory-only", memory_only,
                 "darts, gdas or pc (PC-DARTS, K = 4): run only nas's steps of that variant and print the process's peak "
                 "memory and the median step (run each in its own process: the peak never goes down)");
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  return nas::run_program("darts_vs_torch", [&] {
    nas::require_in_range("--threads", threads, 1, 64);
    nas::require_in_range("--repeats", repeats, 1, 100);
    nas::require_in_range("--steps", steps, 1, 1000);
    nas::require_in_range("--warmup", warmup, 0, 100);
    if (!memory_only.empty()) {
      nas::require_one_of("--memory-only", memory_only, {"darts", "gdas", "pc"});
      std::size_t pn = 0;
      const double before = nas::detail::peak_memory_mib();
      std::vector<double> t;
      if (memory_only == "darts")
        t = nas_steps<nas::SoftmaxRelaxation>(threads, warmup, steps, pn);
      else if (memory_only == "pc")
        t = nas_steps<nas::SoftmaxRelaxation>(threads, warmup, steps, pn, 4);
      else
        t = nas_steps<nas::GumbelRelaxation>(threads, warmup, steps, pn);
      const double after = nas::detail::peak_memory_mib();
      std::printf("%s: peak memory %.1f MiB, %.1f MiB above the program's before the supernet was built; %zu parameters; "
                  "median step %.3f s\n",
                  memory_only.c_str(), after, after - before, pn, median(t));
      return 0;
    }
    const std::string script = std::string(NAS_SOURCE_DIR) + "/benchmarks/darts_torch.py";
    const auto m = nas_bench::machine();
    const std::string load = nas_bench::load_average();
    std::printf("machine: %s, %s CPUs; load average %s; %d threads\n", m.cpu.c_str(), m.cores.c_str(), load.c_str(), threads);
    struct Side {
      const char* name;
      std::vector<double> medians;
    };
    std::vector<Side> sides{{"nas darts", {}}, {"torch darts", {}}, {"torch darts channels_last", {}},
                            {"nas gdas", {}},  {"torch gdas", {}},  {"torch gdas channels_last", {}}};
    std::size_t pn = 0, pt = 0;
    std::string version;
    for (int r = 0; r < repeats; ++r) {
      sides[0].medians.push_back(median(nas_steps<nas::SoftmaxRelaxation>(threads, warmup, steps, pn)));
      sides[1].medians.push_back(median(torch_steps(script, "darts", threads, warmup, steps, "default", pt, version)));
      sides[2].medians.push_back(median(torch_steps(script, "darts", threads, warmup, steps, "channels_last", pt, version)));
      sides[3].medians.push_back(median(nas_steps<nas::GumbelRelaxation>(threads, warmup, steps, pn)));
      sides[4].medians.push_back(median(torch_steps(script, "gdas", threads, warmup, steps, "default", pt, version)));
      sides[5].medians.push_back(median(torch_steps(script, "gdas", threads, warmup, steps, "channels_last", pt, version)));
      std::printf("round %d:", r + 1);
      for (const auto& s : sides) std::printf("  %s %.3f s", s.name, s.medians.back());
      std::printf("\n");
      std::fflush(stdout);
    }
    std::printf("parameters: nas %zu, torch %zu\n", pn, pt);
    nlohmann::json j{{"machine", m.cpu}, {"cpus", m.cores}, {"load_average_at_start", load}, {"threads", threads},
                     {"repeats", repeats}, {"steps_per_block", steps}, {"warmup", warmup}, {"torch", version},
                     {"params_nas", pn}, {"params_torch", pt},
                     {"setup", "NB201 supernet N=1 C=16, 1x28x28 random images, batch 64; step = alpha step + w step; "
                               "epoch of 10,000 images = 78 steps"}};
    for (const auto& s : sides) {
      const auto st = nas_bench::summarize(s.medians);
      j["step_seconds"][s.name] = {{"median", st.median}, {"min", st.min}, {"max", st.max}};
      std::printf("%-28s step %.3f s (min %.3f, max %.3f); epoch of 10,000 images ~ %.0f s\n", s.name, st.median, st.min,
                  st.max, 78.0 * st.median);
    }
    auto ratio = [&](int torch_side, int nas_side) {
      std::vector<double> r;
      for (int k = 0; k < repeats; ++k)
        r.push_back(sides[static_cast<std::size_t>(torch_side)].medians[static_cast<std::size_t>(k)] /
                    sides[static_cast<std::size_t>(nas_side)].medians[static_cast<std::size_t>(k)]);
      return nas_bench::summarize(r);
    };
    for (auto [t, n, name] : {std::tuple{1, 0, "darts_vs_torch_default"}, std::tuple{2, 0, "darts_vs_torch_channels_last"},
                              std::tuple{4, 3, "gdas_vs_torch_default"}, std::tuple{5, 3, "gdas_vs_torch_channels_last"}}) {
      const auto st = ratio(t, n);
      j["speedup"][name] = {{"median", st.median}, {"min", st.min}, {"max", st.max}};
      std::printf("speed-up %-30s %.2f (min %.2f, max %.2f)\n", name, st.median, st.min, st.max);
    }
    if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
    return 0;
  });
}
