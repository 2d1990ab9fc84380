// Export to PyTorch: a found architecture as a plain torch.nn module with its weights.
//
//   export_pytorch --space nb201 --arch '|nor_conv_3x3~0|+|...|' --out net/
//   export_pytorch --space darts --arch "Genotype(normal=[...], ...)" --channels 16 --cells 8 --out net/
//   export_pytorch --space nb201 --network out/search_fashion_mnist/network_0.nasstate --out net/   # the main job's network
//
// Builds the network (weights from --seed), runs two training-mode forwards on a seeded
// random batch so that BatchNorm's running statistics are not their initial 0 and 1,
// then writes into --out:
//   network.py       the network in torch.nn (python3 -c "import network; m = network.load()")
//   network.weights  its parameters and running statistics (read by network.load())
//   check.tensors    a batch ("input") with nas's logits on it in evaluation mode
//                    ("eval_logits") and in training mode ("train_logits"), to verify the port
// Bad options print one line naming the option, its value and what is allowed, and exit 2.
#include <CLI/CLI.hpp>

#include <nas/model/cell_network.hpp>
#include <nas/model/export_pytorch.hpp>
#include <nas/model/graph.hpp>
#include <nas/model/save.hpp>
#include <nas/report/program.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace {

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "export_pytorch: %s\n", msg.c_str());
  return 2;
}

nas::Tensor random_batch(const nas::Shape& s, std::uint64_t seed) {
  nas::Tensor x(s);
  nas::Rng rng(seed);
  x.fill_normal(rng);
  return x;
}

}  // namespace

int export_main(int argc, char** argv) {
  CLI::App app{"Writes a network of a cell space as a PyTorch module with its weights"};
  std::string space_name, arch_text, network_file, out_dir;
  int channels = 16, cells = -1, classes = 10, size = 32, in_channels = 3, batch = 4;
  std::uint64_t seed = 0;
  app.add_option("--space", space_name, "nb201 or darts")->required();
  auto* arch_opt = app.add_option("--arch", arch_text, "the architecture in the space's text form (fresh, seeded weights)");
  app.add_option("--network", network_file, "a trained network saved by nas::save_network (the main job's network_0.nasstate)")
      ->excludes(arch_opt);
  app.add_option("--channels", channels, "C: channels of the first stage or cells (16)");
  app.add_option("--cells", cells, "N: cells per stage (nb201, 5) or in all (darts, 8)");
  app.add_option("--classes", classes, "output classes (10)");
  app.add_option("--size", size, "input height and width (32)");
  app.add_option("--in-channels", in_channels, "input channels (3)");
  app.add_option("--batch", batch, "images in the check batch (4)");
  app.add_option("--seed", seed, "weight initialisation and check batch (0)");
  app.add_option("--out", out_dir, "directory to write into")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ConversionError& e) {
    return usage_error(std::string(e.what()) + " (expected an integer)");
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  if (space_name != "nb201" && space_name != "darts")
    return usage_error("--space '" + space_name + "' is not one of nb201, darts");
  if (arch_text.empty() == network_file.empty()) return usage_error("give --arch STRING or --network FILE (one of them)");
  if (cells == -1) cells = space_name == "nb201" ? 5 : 8;
  const auto at_least = [](const char* opt, int v, int lo) {
    return v >= lo ? std::string() : std::string(opt) + " (" + std::to_string(v) + ") must be >= " + std::to_string(lo);
  };
  for (const std::string& bad : {at_least("--channels", channels, 1), at_least("--cells", cells, 1),
                                 at_least("--classes", classes, 2), at_least("--size", size, 4),
                                 at_least("--in-channels", in_channels, 1), at_least("--batch", batch, 2)})
    if (!bad.empty()) return usage_error(bad);
  nas::NetworkInput input{.channels = in_channels, .height = size, .width = size, .classes = classes};
  const nas::NetworkOptions options{.channels = channels, .cells = cells, .seed = seed};
  std::unique_ptr<nas::Module> net;
  const bool trained = !network_file.empty();
  try {
    // A saved network brings its own input shape, options and weights.
    const auto build = [&](const auto& space) -> std::unique_ptr<nas::Module> {
      if (!trained) return nas::make_network(space, space.decode(arch_text), input, options);
      auto loaded = nas::load_network(network_file, space);
      input = loaded->input();
      return loaded;
    };
    if (space_name == "nb201")
      net = build(nas::Nb201Space{});
    else
      net = build(nas::CellSpace::darts());
  } catch (const nas::Error& e) {
    return usage_error(trained ? "--network '" + network_file + "': " + e.what() : "--arch '" + arch_text + "': " + e.what());
  }
  const std::filesystem::path dir(out_dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    return usage_error("--out '" + out_dir + "' is not a directory that can be created (" + ec.message() + ")");

  try {
    const nas::Shape shape = input.batch(batch);
    net->train();
    // Fresh weights: a couple of training batches move BatchNorm's running statistics off
    // their initial values, so the check exercises them. A trained network keeps its own.
    if (!trained)
      for (std::uint64_t k = 0; k < 2; ++k) (void)net->forward(random_batch(shape, seed + 100 + k));
    const nas::Tensor x = random_batch(shape, seed + 1);
    net->eval();
    const nas::Tensor eval_logits = net->forward(x);
    const nas::NetworkGraph graph = nas::trace(*net, shape);
    const auto weights = nas::export_pytorch(graph, dir / "network.py");
    net->train();
    const nas::Tensor train_logits = net->forward(x);
    nas::write_tensor_file(dir / "check.tensors", {{"input", x}, {"eval_logits", eval_logits}, {"train_logits", train_logits}});
    std::printf("%s network, %zu ops, %zu parameters: wrote %s, %s and %s\n", space_name.c_str(), graph.nodes.size() - 1,
                net->num_parameters(), (dir / "network.py").string().c_str(), weights.string().c_str(),
                (dir / "check.tensors").string().c_str());
  } catch (const nas::Error& e) {
    std::fprintf(stderr, "export_pytorch: %s\n", e.what());
    return 1;
  }
  return 0;
}

// Anything unexpected (out of memory for a huge --channels, ...) is reported, never an uncaught exception.
int main(int argc, char** argv) {
  return nas::run_program("export_pytorch", [&] { return export_main(argc, argv); });
}
