// export_pytorch and the tensor file: what the Python holds, and weights that read back as the network's.
#include <catch2/catch.hpp>

#include <nas/model/cell_network.hpp>
#include <nas/model/export_pytorch.hpp>
#include <nas/model/graph.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {
std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "nas_export_test";
  std::filesystem::create_directories(dir);
  return dir / name;
}
std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("a tensor file reads back the names, shapes and values written", "[model][export]") {
  nas::Rng rng(1);
  nas::Tensor a({2, 3}), b({4}), c({1, 2, 3, 4});
  a.fill_normal(rng);
  b.fill_normal(rng);
  c.fill_normal(rng);
  const auto path = scratch("roundtrip.tensors");
  nas::write_tensor_file(path, {{"a", a}, {"b.x", b}, {"c", c}});
  const auto back = nas::read_tensor_file(path);
  REQUIRE(back.size() == 3);
  CHECK(back[1].name == "b.x");
  CHECK(back[2].tensor.shape() == c.shape());
  for (std::size_t i = 0; i < c.numel(); ++i) REQUIRE(back[2].tensor[i] == c[i]);
  for (std::size_t i = 0; i < a.numel(); ++i) REQUIRE(back[0].tensor[i] == a[i]);
  CHECK_THROWS_AS(nas::write_tensor_file(path, {{"has space", a}}), nas::ConfigError);
  std::ofstream(scratch("bad.tensors")) << "not a tensor file";
  CHECK_THROWS_AS(nas::read_tensor_file(scratch("bad.tensors")), nas::ParseError);
}

TEST_CASE("an exported DARTS network names its weights by nas's paths and spells every op's geometry", "[model][export]") {
  const auto space = nas::CellSpace::darts();
  const auto arch = space.decode(
      "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 0), ('max_pool_3x3', 2), "
      "('sep_conv_5x5', 1), ('avg_pool_3x3', 3), ('dil_conv_3x3', 2), ('none', 4)], normal_concat=range(2, 6), "
      "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 2), "
      "('dil_conv_3x3', 1), ('skip_connect', 3), ('sep_conv_5x5', 0), ('dil_conv_5x5', 4)], reduce_concat=range(2, 6))");
  nas::CellNetwork<nas::CellSpace> net(space, arch, {.channels = 3, .height = 8, .width = 8, .classes = 5},
                                       {.channels = 2, .cells = 3, .seed = 4});
  const auto g = nas::trace(net, nas::Shape{2, 3, 8, 8});
  const auto py = scratch("darts.py");
  const auto weights = nas::export_pytorch(g, py);
  CHECK(weights == scratch("darts.weights"));
  const std::string text = slurp(py);
  CHECK(text.find("class Network(nn.Module):") != std::string::npos);
  CHECK(text.find("dilation=(2, 2), groups=2, bias=False") != std::string::npos);       // dil_conv, depthwise
  CHECK(text.find("kernel_size=(5, 5), stride=(2, 2), padding=(2, 2)") != std::string::npos);  // sep_conv_5x5 reducing
  CHECK(text.find("nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)") != std::string::npos);
  CHECK(text.find("nn.MaxPool2d(3, stride=2, padding=1)") != std::string::npos);
  CHECK(text.find("F.pad(") != std::string::npos);  // FactorizedReduce's shift
  CHECK(text.find("torch.cat([") != std::string::npos);
  // Every weight and running statistic, with the network's values, under nas's paths.
  std::map<std::string, nas::Tensor> file;
  for (auto& t : nas::read_tensor_file(weights)) file[t.name] = t.tensor;
  std::size_t bn = 0;
  for (const auto& p : g.named_parameters()) {
    INFO(p.path);
    REQUIRE(file.count(p.path) == 1);
    for (std::size_t i = 0; i < p.parameter->numel(); ++i) REQUIRE(file[p.path][i] == p.parameter->value[i]);
  }
  for (const auto& n : g.nodes)
    if (n.kind == nas::NodeKind::batch_norm2d && n.bn.running_var) {
      ++bn;
      REQUIRE(file.count(n.path + ".running_var") == 1);
      CHECK(file[n.path + ".running_var"][0] == (*n.bn.running_var)[0]);
    }
  CHECK(file.size() == g.named_parameters().size() + 2 * bn);
  CHECK_THROWS_AS(nas::export_pytorch(g, scratch("no_such_dir") / "x" / "net.py"), nas::ConfigError);
}
