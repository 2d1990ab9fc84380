// SynFlow and NASWOT of NAS-Bench-201 networks, nas against PyTorch in the same run: the same cells, network
// construction included, one thread each (benchmarks/zero_cost_torch.py is the peer).
//
//     zero_cost_speed --cells 200 --batch 64 --out benchmarks/reports
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/estimate/zero_cost.hpp>
#include <nas/estimate/zero_cost_proxies.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/tensor/threads.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"SynFlow and NASWOT speed, nas against PyTorch"};
  std::size_t cells = 200, batch = 64;
  std::uint64_t seed = 1;
  std::string out = "out/zero_cost", python = "/usr/bin/python3";
  app.add_option("--cells", cells, "cells sampled uniformly")->check(CLI::Range(std::size_t{4}, std::size_t{15625}));
  app.add_option("--batch", batch, "NASWOT minibatch")->check(CLI::Range(std::size_t{2}, std::size_t{1024}));
  app.add_option("--seed", seed, "draws the cells");
  app.add_option("--python", python, "the interpreter with torch");
  app.add_option("--out", out, "directory for zero_cost_speed.json");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "zero_cost_speed: %s\n", e.what());
    return 2;
  }
  try {
    nas::set_num_threads(1);
    nas::Rng rng(seed);
    const nas::Nb201Space space;
    std::vector<nas::Nb201Arch> archs;
    for (std::size_t i = 0; i < cells; ++i) archs.push_back(space.sample(rng));
    const nas::NetworkInput input{3, 32, 32, 10};
    nas::ZeroCostBatch b;
    b.images = nas::Tensor(input.batch(static_cast<int>(batch)));
    nas::Rng data(0);
    b.images.fill_normal(data);
    using clock = std::chrono::steady_clock;
    auto time_all = [&](nas::ZeroCostProxy p) {
      for (std::size_t i = 0; i < 3; ++i) {  // warm-up
        nas::CellNetwork<nas::Nb201Space> net(archs[i], input, {.channels = 16, .cells = 5, .seed = 0});
        (void)nas::zero_cost_score(net, nas::Shape{3, 32, 32}, p, b);
      }
      const auto t0 = clock::now();
      for (const auto& a : archs) {
        nas::CellNetwork<nas::Nb201Space> net(a, input, {.channels = 16, .cells = 5, .seed = 0});
        (void)nas::zero_cost_score(net, nas::Shape{3, 32, 32}, p, b);
      }
      return std::chrono::duration<double>(clock::now() - t0).count();
    };
    const double nas_synflow = time_all(nas::ZeroCostProxy::synflow);
    const double nas_naswot = time_all(nas::ZeroCostProxy::naswot);

    const std::string list = (std::filesystem::temp_directory_path() / "zero_cost_speed_archs.txt").string();
    {
      std::ofstream f(list);
      for (const auto& a : archs) f << space.encode(a) << "\n";
    }
    const std::string cmd = "cd '" + std::string(NAS_SOURCE_DIR) + "/benchmarks' && " + python +
                            " zero_cost_torch.py --threads 1 --batch " + std::to_string(batch) + " < '" + list + "'";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) throw nas::ConfigError("zero_cost_speed: cannot run " + cmd);
    std::map<std::string, double> torch_s;
    std::string version;
    char line[512];
    while (std::fgets(line, sizeof line, pipe)) {
      std::istringstream in(line);
      std::string method, variant;
      in >> method;
      if (method == "version") {
        in >> version;
        continue;
      }
      std::size_t n = 0;
      double s = 0;
      in >> variant >> n >> s;
      torch_s[method + " " + variant] = s;
    }
    if (pclose(pipe) != 0 || torch_s.size() != 3) throw nas::ConfigError("zero_cost_speed: the PyTorch peer failed (" + cmd + ")");
    const double t_syn = torch_s["synflow default"], t_nw = torch_s["naswot default"], t_nw_cl = torch_s["naswot channels_last"];
    const double n = static_cast<double>(cells);
    std::printf("%zu cells, 1 thread each, network construction included; torch %s\n", cells, version.c_str());
    std::printf("synflow: nas %.4f s/cell, torch (double, as zero-cost-nas) %.4f s/cell: nas %.2fx as fast\n", nas_synflow / n,
                t_syn / n, t_syn / nas_synflow);
    std::printf("naswot (batch %zu): nas %.4f s/cell, torch %.4f s/cell (channels_last %.4f): nas %.2fx as fast (%.2fx)\n", batch,
                nas_naswot / n, t_nw / n, t_nw_cl / n, t_nw / nas_naswot, t_nw_cl / nas_naswot);
    nlohmann::json j{{"cells", cells}, {"batch", batch}, {"threads", 1}, {"torch", version},
                     {"nas_synflow_s_per_cell", nas_synflow / n}, {"torch_synflow_s_per_cell", t_syn / n},
                     {"nas_naswot_s_per_cell", nas_naswot / n}, {"torch_naswot_s_per_cell", t_nw / n},
                     {"torch_naswot_channels_last_s_per_cell", t_nw_cl / n},
                     {"synflow_speedup", t_syn / nas_synflow}, {"naswot_speedup", t_nw / nas_naswot},
                     {"naswot_speedup_vs_channels_last", t_nw_cl / nas_naswot}};
    std::filesystem::create_directories(out);
    std::ofstream(std::filesystem::path(out) / "zero_cost_speed.json") << j.dump(2) << "\n";
    std::printf("wrote %s/zero_cost_speed.json\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_cost_speed: %s\n", e.what());
    return 2;
  }
  return 0;
}
