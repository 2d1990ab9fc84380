// save_network / load_network: a trained network comes back bit for bit; other spaces and bad files are refused.
#include <catch2/catch.hpp>

#include <nas/model/save.hpp>
#include <nas/tensor/loss.hpp>
#include <nas/tensor/optim.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("nas_save_test_" + std::to_string(std::random_device{}() & 0xffffffu));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (dir / name).string(); }
};

nas::Tensor images(const nas::NetworkInput& in, int n, std::uint64_t seed) {
  nas::Rng rng(seed);
  nas::Tensor x(in.batch(n));
  x.fill_normal(rng);
  return x;
}

// A few SGD steps with momentum on random images and labels, so weights and BN statistics move.
template <class Net>
void train_a_little(Net& net, int steps) {
  nas::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
  nas::SoftmaxCrossEntropy loss;
  net.train();
  for (int s = 0; s < steps; ++s) {
    const nas::Tensor x = images(net.input(), 4, 50 + static_cast<std::uint64_t>(s));
    std::vector<int> labels;
    for (int i = 0; i < 4; ++i) labels.push_back((i + s) % net.input().classes);
    opt.zero_grad();
    (void)loss.forward(net.forward(x), labels);
    (void)net.backward(loss.backward());
    opt.step();
  }
}

template <class Net>
void require_same_outputs(Net& a, Net& b) {
  const nas::Tensor x = images(a.input(), 3, 99);
  for (bool training : {false, true}) {
    INFO("training " << training);
    a.train(training);
    b.train(training);
    const nas::Tensor ya = a.forward(x);
    const nas::Tensor yb = b.forward(x);
    REQUIRE(ya.shape() == yb.shape());
    for (std::size_t i = 0; i < ya.numel(); ++i) REQUIRE(ya[i] == yb[i]);
  }
}

nas::CellSpace small_cell_space() {
  return nas::CellSpace({.nodes = 2, .ops = {"conv3x3", "skip", "maxpool"}, .inputs = 2, .reduction = true});
}

}  // namespace

TEST_CASE("An NB201 network saved after training loads back with identical outputs", "[model][save]") {
  TempDir tmp;
  const nas::Nb201Space space;
  const auto arch = space.decode("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|");
  auto net = nas::make_network(space, arch, {.channels = 3, .height = 8, .width = 8, .classes = 4},
                               {.channels = 4, .cells = 1, .seed = 3});
  train_a_little(*net, 3);
  const std::string path = tmp.file("nb201.nasstate");
  nas::save_network(path, space, *net, {{"trained_steps", "3"}});
  auto back = nas::load_network(path, space);
  REQUIRE(back->arch() == arch);
  REQUIRE(back->options().channels == 4);
  REQUIRE(back->options().seed == 3);
  REQUIRE(back->input().classes == 4);
  REQUIRE(nas::read_state_file(path).metadata.at("trained_steps") == "3");
  REQUIRE(nas::read_state_file(path).metadata.at("arch") == space.encode(arch));
  require_same_outputs(*net, *back);
  // The loaded network is not the freshly initialised one: the weights came from the file.
  auto fresh = nas::make_network(space, arch, net->input(), net->options());
  fresh->eval();
  back->eval();
  const nas::Tensor x = images(net->input(), 2, 7);
  const nas::Tensor yf = fresh->forward(x);
  REQUIRE(yf[0] != back->forward(x)[0]);
}

TEST_CASE("A CellSpace network with reduction cells saved after training loads back with identical outputs",
          "[model][save]") {
  TempDir tmp;
  const nas::CellSpace space = small_cell_space();
  nas::Rng rng(4);
  const auto arch = space.sample(rng);
  auto net = nas::make_network(space, arch, {.channels = 2, .height = 8, .width = 8, .classes = 3},
                               {.channels = 2, .cells = 3, .stem_multiplier = 2, .seed = 5,
                                .init = nas::Init::kaiming_normal});
  train_a_little(*net, 3);
  const std::string path = tmp.file("cell.nasstate");
  nas::save_network(path, space, *net);
  auto back = nas::load_network(path, space);
  REQUIRE(back->arch() == arch);
  REQUIRE(back->options().init == nas::Init::kaiming_normal);
  REQUIRE(back->options().stem_multiplier == 2);
  require_same_outputs(*net, *back);
}

TEST_CASE("Loading into another space says what differs", "[model][save]") {
  TempDir tmp;
  const nas::CellSpace space = small_cell_space();
  nas::Rng rng(6);
  auto net = nas::make_network(space, space.sample(rng), {.channels = 1, .height = 8, .width = 8, .classes = 2},
                               {.channels = 2, .cells = 3, .stem_multiplier = 1});
  const std::string path = tmp.file("cell.nasstate");
  nas::save_network(path, space, *net);
  const nas::CellSpace other_ops({.nodes = 2, .ops = {"conv3x3", "skip", "avgpool"}, .inputs = 2, .reduction = true});
  REQUIRE_THROWS_AS(nas::load_network(path, other_ops), nas::ConfigError);
  REQUIRE_THROWS_WITH(nas::load_network(path, other_ops), Catch::Contains(path) && Catch::Contains("space.ops") &&
                                                              Catch::Contains("conv3x3,skip,maxpool") &&
                                                              Catch::Contains("conv3x3,skip,avgpool"));
  const nas::CellSpace other_nodes({.nodes = 3, .ops = {"conv3x3", "skip", "maxpool"}, .inputs = 2, .reduction = true});
  REQUIRE_THROWS_WITH(nas::load_network(path, other_nodes), Catch::Contains("space.nodes = '2'") && Catch::Contains("'3'"));
  const nas::CellSpace no_reduction({.nodes = 2, .ops = {"conv3x3", "skip", "maxpool"}, .inputs = 2});
  REQUIRE_THROWS_WITH(nas::load_network(path, no_reduction), Catch::Contains("space.reduction"));
  REQUIRE_THROWS_WITH(nas::load_network(path, nas::Nb201Space{}),
                      Catch::Contains("CellNetwork<CellSpace>") && Catch::Contains("not a CellNetwork<Nb201Space>"));
  REQUIRE_THROWS_WITH(nas::save_network(path, space, *net, {{"arch", "mine"}}), Catch::Contains("'arch'"));
}

TEST_CASE("Bad network files give errors naming the file", "[model][save]") {
  TempDir tmp;
  const nas::Nb201Space space;
  auto net = nas::make_network(space, space.decode("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"),
                               {.channels = 1, .height = 8, .width = 8, .classes = 2}, {.channels = 2, .cells = 1});
  const std::string good = tmp.file("good.nasstate");
  nas::save_network(good, space, *net);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& content) {
    const std::string p = tmp.file(name);
    std::ofstream(p, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    return p;
  };
  const std::string truncated = write("truncated.nasstate", bytes.substr(0, bytes.size() / 2));
  REQUIRE_THROWS_WITH(nas::load_network(truncated, space), Catch::Contains(truncated) && Catch::Contains("truncated"));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x01;
  const std::string corrupt = write("corrupt.nasstate", flipped);
  REQUIRE_THROWS_WITH(nas::load_network(corrupt, space), Catch::Contains(corrupt) && Catch::Contains("corrupt"));
  REQUIRE_THROWS_AS(nas::load_network(tmp.file("absent.nasstate"), space), nas::DataError);
  // A plain state file (no network metadata) is refused by name of the missing entry.
  const std::string plain = tmp.file("plain.nasstate");
  nas::save_state(plain, *net);
  REQUIRE_THROWS_WITH(nas::load_network(plain, space), Catch::Contains(plain) && Catch::Contains("'network'"));
  // Metadata that disagrees with the weights: options of a wider network.
  nas::StateFile f = nas::read_state_file(good);
  nas::StateMetadata meta = f.metadata;
  meta["options.channels"] = "3";
  const std::string mismatch = tmp.file("mismatch.nasstate");
  nas::save_state(mismatch, f.state, meta);
  REQUIRE_THROWS_WITH(nas::load_network(mismatch, space), Catch::Contains(mismatch) && Catch::Contains("'body.0.weight'") &&
                                                             Catch::Contains("[2, 1, 3, 3]") &&
                                                             Catch::Contains("[3, 1, 3, 3]"));
}
