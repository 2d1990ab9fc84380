// GraSP of nas (a central difference of gradients with every ReLU's pattern held) against the reference's
// method, PyTorch's double backward, on the same NAS-Bench-201 networks: nas exports each network and the
// minibatch, and benchmarks/zero_cost_grasp_torch.py scores them with autograd.
//
//     zero_cost_grasp_vs_autograd --cells 117,180,5000,12000 --out out/grasp
#include <CLI/CLI.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/estimate/zero_cost_estimator.hpp>
#include <nas/estimate/zero_cost_proxies.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/model/export_pytorch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"nas's GraSP against PyTorch's double backward on the same NAS-Bench-201 networks"};
  std::vector<std::size_t> cells{117, 180, 5000, 12000};
  std::size_t batch_size = 64;
  std::string out = "out/grasp", python = "/usr/bin/python3", data_dir;
  app.add_option("--cells", cells, "NAS-Bench-201 indices")->delimiter(',')->check(CLI::Range(std::size_t{0}, std::size_t{15624}));
  app.add_option("--batch", batch_size, "Fashion-MNIST images in the minibatch")->check(CLI::Range(std::size_t{2}, std::size_t{1024}));
  app.add_option("--python", python, "the interpreter with torch");
  app.add_option("--data", data_dir, "Fashion-MNIST directory (default: the system's)");
  app.add_option("--out", out, "directory for the exported networks");
  CLI11_PARSE(app, argc, argv);
  try {
    const nas::NetworkInput input{3, 32, 32, 10};
    nas::Rng rng(0);
    const auto batch = nas::make_zero_cost_batch(nas::load_fashion_mnist(data_dir).train, input, batch_size, rng);
    std::filesystem::create_directories(out);
    nas::Tensor labels(nas::Shape{static_cast<int>(batch_size)});
    for (std::size_t i = 0; i < batch_size; ++i) labels[i] = static_cast<float>(batch.labels[i]);
    nas::write_tensor_file(std::filesystem::path(out) / "batch.tensors", {{"images", batch.images}, {"labels", labels}});
    std::vector<double> ours;
    for (std::size_t k = 0; k < cells.size(); ++k) {
      nas::CellNetwork<nas::Nb201Space> net(nas::Nb201Space::arch(cells[k]), input, {.channels = 16, .cells = 5, .seed = 0});
      net.train();
      nas::export_pytorch(nas::trace(net, batch.images.shape()), std::filesystem::path(out) / ("net" + std::to_string(k) + ".py"));
      ours.push_back(nas::zero_cost_score(net, nas::Shape{3, 32, 32}, nas::ZeroCostProxy::grasp, batch));
    }
    const std::string cmd = python + " '" + std::string(NAS_SOURCE_DIR) + "/benchmarks/zero_cost_grasp_torch.py' '" + out + "' " +
                            std::to_string(cells.size());
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) throw nas::ConfigError("cannot run " + cmd);
    std::printf("%8s %14s %18s %18s %10s\n", "cell", "nas (float32)", "autograd float32", "autograd float64", "nas / f64");
    char line[256];
    std::size_t seen = 0;
    while (std::fgets(line, sizeof line, pipe)) {
      std::istringstream in(line);
      std::size_t k = 0;
      double single = NAN, dbl = NAN;
      if (!(in >> k >> single >> dbl) || k >= cells.size()) continue;
      std::printf("%8zu %14.6g %18.6g %18.6g %10.4f\n", cells[k], ours[k], single, dbl, ours[k] / dbl);
      ++seen;
    }
    if (pclose(pipe) != 0 || seen != cells.size()) throw nas::ConfigError("the PyTorch peer failed (" + cmd + ")");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_cost_grasp_vs_autograd: %s\n", e.what());
    return 2;
  }
  return 0;
}
