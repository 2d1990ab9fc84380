// NetworkGraph and GraphExecutor: tracing every module, the double executor's gradients, SynFlow's overflow in float.
#include <catch2/catch.hpp>

#include <nas/model/cell_network.hpp>
#include <nas/model/graph.hpp>
#include <nas/model/reference.hpp>
#include <nas/tensor/dropout.hpp>
#include <nas/testing/gradcheck.hpp>
#include <nas/testing/graph_gradcheck.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <set>

namespace {

nas::Tensor random_input(const nas::Shape& s, std::uint64_t seed) {
  nas::Tensor x(s);
  nas::Rng rng(seed);
  nas::testing::fill_away_from_zero(x, rng);
  return x;
}

// A small network using every primitive: convolutions with groups, dilation, a
// non-square kernel and a bias, BatchNorm with and without affine/running statistics,
// both pools (with padding, strides, count_include_pad both ways), SiLU, ReLU,
// FactorizedReduce (shift and concat), a ResNet block (add), Zero, Identity, Flatten, Linear.
std::unique_ptr<nas::Sequential> zoo(nas::Rng& rng) {
  auto s = std::make_unique<nas::Sequential>();
  s->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 4, .kernel = 3, .padding = 1, .bias = true}, rng);
  s->emplace<nas::BatchNorm2d>(nas::BatchNorm2d::Options{.channels = 4, .eps = 1e-3f, .momentum = 0.2f});
  s->emplace<nas::SiLU>();
  s->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 4, .out_channels = 4, .kernel = 3, .padding = 2, .dilation = 2,
                                               .groups = 2},
                          rng);
  s->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 4, .out_channels = 4, .bias = true, .kernel_h = 1, .kernel_w = 3,
                                               .stride_h = 1, .stride_w = 2, .padding_h = 0, .padding_w = 1},
                          rng);
  s->emplace<nas::BatchNorm2d>(nas::BatchNorm2d::Options{.channels = 4, .affine = false});
  s->emplace<nas::AvgPool2d>(nas::Pool2dOptions{.kernel = 3, .stride = 1, .padding = 1}, true);
  s->emplace<nas::ReLU>();
  s->emplace<nas::MaxPool2d>(nas::Pool2dOptions{.kernel = 3, .stride = 1, .padding = 1});
  s->emplace<nas::FactorizedReduce>(nas::ConvBlockOptions{.in_channels = 4, .out_channels = 6, .stride = 2}, rng);
  s->emplace<nas::ResNetBasicBlock>(6, 6, 1, rng);
  s->emplace<nas::AvgPool2d>(nas::Pool2dOptions{.kernel = 3, .stride = 2, .padding = 1}, false);
  s->emplace<nas::BatchNorm2d>(nas::BatchNorm2d::Options{.channels = 6, .track_running_stats = false});
  s->emplace<nas::Identity>();
  s->emplace<nas::Flatten>();
  s->emplace<nas::Linear>(nas::Linear::Options{.in_features = 6 * 2 * 2, .out_features = 3}, rng);
  return s;
}

}  // namespace

TEST_CASE("tracing a module zoo records every primitive with its geometry, path and parameters", "[model][graph]") {
  nas::Rng rng(1);
  auto net = zoo(rng);
  const nas::NetworkGraph g = nas::trace(*net, nas::Shape{3, 2, 8, 12});
  INFO(g.str());
  CHECK(g.output_shape() == nas::Shape{3, 3});
  CHECK(g.count(nas::NodeKind::conv2d) == 3 + 2 + 2);  // the zoo's, FactorizedReduce's, the ResNet block's
  CHECK(g.count(nas::NodeKind::shift) == 1);
  CHECK(g.count(nas::NodeKind::concat) == 1);
  CHECK(g.count(nas::NodeKind::add) == 1);
  CHECK(g.count(nas::NodeKind::silu) == 1);
  CHECK(g.count(nas::NodeKind::flatten) == 1);
  CHECK(g.count(nas::NodeKind::identity) == 1);
  // The dilated grouped convolution and the non-square one keep their full geometry.
  const nas::GraphNode& dil = g.nodes[4];
  REQUIRE(dil.kind == nas::NodeKind::conv2d);
  CHECK(dil.path == "3");
  CHECK(dil.conv.groups == 2);
  CHECK(dil.conv.dilation_h == 2);
  CHECK(dil.conv.pad_w == 2);
  CHECK(dil.bias == nullptr);
  const nas::GraphNode& rect = g.nodes[5];
  CHECK(rect.conv.kernel_h == 1);
  CHECK(rect.conv.kernel_w == 3);
  CHECK(rect.conv.stride_w == 2);
  CHECK(rect.conv.pad_h == 0);
  CHECK(rect.bias != nullptr);
  CHECK(rect.shape == nas::Shape{3, 4, 8, 6});
  const nas::GraphNode& bn = g.nodes[2];
  CHECK(bn.bn.eps == Approx(1e-3));
  CHECK(bn.bn.momentum == Approx(0.2));
  CHECK(bn.bn.running_mean == &dynamic_cast<nas::BatchNorm2d&>((*net)[1]).running_mean());
  CHECK(g.nodes[7].kind == nas::NodeKind::avg_pool2d);
  CHECK(g.nodes[7].pool.count_include_pad);
  CHECK_FALSE(g.nodes[23].pool.count_include_pad);
  CHECK(g.nodes[23].pool.stride == 2);
  CHECK(g.nodes[24].bn.running_mean == nullptr);  // track_running_stats = false
  CHECK(g.nodes[6].weight == nullptr);            // affine = false
  // FactorizedReduce: relu, convs.0 on it, the shift, convs.1 on that, concat, bn.
  CHECK(g.nodes[12].kind == nas::NodeKind::shift);
  CHECK(g.nodes[13].path == "9.convs.1");
  CHECK(g.nodes[13].inputs == std::vector<int>{12});
  CHECK(g.nodes[14].inputs == std::vector<int>{11, 13});
  // The ResNet block's sum reads conv_b's BatchNorm and the block's input.
  CHECK(g.nodes[22].kind == nas::NodeKind::add);
  CHECK(g.nodes[22].inputs == std::vector<int>{21, 15});
  // The graph's parameters are the module's, under the same paths.
  std::map<std::string, nas::Parameter*> mine;
  for (const auto& p : net->named_parameters()) mine[p.path] = p.parameter;
  const auto traced = g.named_parameters();
  CHECK(traced.size() == mine.size());
  for (const auto& p : traced) {
    INFO(p.path);
    CHECK(mine[p.path] == p.parameter);
  }
}

TEST_CASE("the double executor's gradients match central differences on the module zoo, in training and evaluation",
          "[model][graph]") {
  for (const auto mode : {nas::BatchNormMode::batch_statistics, nas::BatchNormMode::running_statistics,
                          nas::BatchNormMode::bypass}) {
    nas::Rng rng(2);
    auto net = zoo(rng);
    const nas::Shape in{3, 2, 8, 12};
    for (int k = 0; k < 2; ++k) (void)net->forward(random_input(in, 50 + static_cast<std::uint64_t>(k)));  // running stats
    const nas::NetworkGraph g = nas::trace(*net, in);
    nas::ReferenceExecutor ex(g, {.batch_norm = mode});
    const auto errors = nas::testing::graph_gradcheck(ex, random_input(in, 3));
    CHECK(errors.size() == 1 + net->parameters().size());
    for (const auto& e : errors) {
      INFO("mode " << static_cast<int>(mode) << ": " << e.name << " " << e.detail);
      CHECK(e.error < 1e-6);
    }
  }
}

TEST_CASE("the float modules agree with the double executor in training and evaluation", "[model][graph]") {
  nas::Rng rng(4);
  auto net = zoo(rng);
  const nas::Shape in{3, 2, 8, 12};
  for (const bool training : {true, false}) {
    net->train(true);
    for (int k = 0; k < 2; ++k) (void)net->forward(random_input(in, 60 + static_cast<std::uint64_t>(k)));
    net->train(training);
    const auto errors = nas::testing::compare_with_reference(*net, random_input(in, 5));
    for (const auto& e : errors) {
      INFO((training ? "training: " : "evaluation: ") << e.name);
      CHECK(e.error < (e.name == "output" ? 1e-5 : 1e-3));
    }
  }
}

TEST_CASE("an executor reads the parameters it was loaded with and re-reads them on load_parameters", "[model][graph]") {
  nas::Rng rng(5);
  nas::Linear lin({.in_features = 2, .out_features = 1}, rng);
  lin.weight().value[0] = 2.0f;
  lin.weight().value[1] = -3.0f;
  lin.bias().value[0] = 0.5f;
  const auto g = nas::trace(lin, nas::Shape{1, 2});
  nas::ReferenceExecutor ex(g);
  nas::ReferenceExecutor abs(g, {.abs_parameters = true});
  const std::vector<double> x{1.0, 1.0};
  CHECK(ex.forward(x)[0] == Approx(-0.5));
  CHECK(abs.forward(x)[0] == Approx(5.5));
  lin.bias().value[0] = 1.5f;
  CHECK(ex.forward(x)[0] == Approx(-0.5));
  ex.load_parameters();
  CHECK(ex.forward(x)[0] == Approx(0.5));
  ex.backward(std::vector<double>{2.0});
  CHECK(ex.grad(lin.weight()) == std::vector<double>{2.0, 2.0});
  CHECK(ex.input_grad() == std::vector<double>{4.0, -6.0});
}

namespace {
class Opaque final : public nas::Module {
 public:
  const nas::Tensor& forward(const nas::Tensor& x) override { return x; }
  const nas::Tensor& backward(const nas::Tensor& dy) override { return dy; }
  nas::Shape output_shape(const nas::Shape& in) const override { return in; }
  std::string type_name() const override { return "OpaqueThing"; }
};
}  // namespace

TEST_CASE("tracing a module without a trace override names its type; a misfit input names the shape", "[model][graph]") {
  nas::Sequential s;
  s.emplace<nas::ReLU>();
  s.emplace<Opaque>();
  try {
    (void)nas::trace(s, nas::Shape{1, 2, 3, 3});
    FAIL("no error");
  } catch (const nas::ConfigError& e) {
    CHECK(std::string(e.what()).find("OpaqueThing cannot be traced") != std::string::npos);
  }
  nas::Rng rng(1);
  nas::Conv2d conv({.in_channels = 3, .out_channels = 2}, rng);
  CHECK_THROWS_AS(nas::trace(conv, nas::Shape{1, 2, 5, 5}), nas::ConfigError);
}

TEST_CASE("an NB201 cell traces only the edges it runs: dead edges and none are absent, a zero node feeds a conv",
          "[model][graph]") {
  const nas::Nb201Space space;
  // Node 1 reaches the output only through none; node 2 is zero and feeds a conv.
  const auto arch = space.decode("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|");
  nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 1, .height = 8, .width = 8, .classes = 3},
                                        {.channels = 2, .cells = 1, .seed = 3});
  const auto g = nas::trace(net, nas::Shape{2, 1, 8, 8});
  INFO(g.str());
  // Per cell: the zero state, avg pool, relu-conv-bn (1x1) and the sum: three cells.
  CHECK(g.count(nas::NodeKind::zero) == 3);
  CHECK(g.count(nas::NodeKind::avg_pool2d) == 3 + 2);  // and the two ResNet blocks' downsampling
  std::set<std::string> paths;
  for (const auto& p : g.named_parameters()) paths.insert(p.path);
  CHECK(paths.count("body.2.edges.5.1.weight") == 1);  // the 1x1 conv of edge 5 of the first cell
  CHECK(paths.count("body.2.edges.0.1.weight") == 0);  // the dead 3x3 conv
  const auto errors = nas::testing::compare_with_reference(net, random_input(nas::Shape{2, 1, 8, 8}, 9));
  for (const auto& e : errors) {
    INFO(e.name << " " << e.detail);
    CHECK(e.error < 1e-3);
  }
}

// SynFlow (Tanaka et al. 2020) scores theta * dR/dtheta with R = sum of the outputs of the
// linearised network (|theta|, an all-ones input, BatchNorm bypassed). Through 15 cells of
// 3x3 convolutions R exceeds float's 3.4e38.
TEST_CASE("SynFlow's linearised 15-cell NB201 network overflows in float and stays finite in double", "[model][graph]") {
  const nas::Nb201Space space;
  const auto arch = space.decode("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 3, .height = 32, .width = 32, .classes = 10},
                                        {.channels = 16, .cells = 5, .seed = 0});
  const nas::Shape in{1, 3, 32, 32};
  const auto g = nas::trace(net, in);
  const nas::ExecutorOptions o{.batch_norm = nas::BatchNormMode::bypass, .abs_parameters = true};
  nas::Tensor ones(in);
  ones.fill(1.0f);
  nas::GraphExecutor<float> f(g, o);
  nas::ReferenceExecutor d(g, o);
  const auto& yf = f.forward(ones);
  const auto& yd = d.forward(ones);
  double rd = 0.0;
  float rf = 0.0f;
  for (std::size_t i = 0; i < yd.size(); ++i) {
    rd += yd[i];
    rf += yf[i];
  }
  INFO("R in double " << rd << ", in float " << rf);
  CHECK(std::isinf(rf));
  CHECK(std::isfinite(rd));
  CHECK(rd > 3.4e38);
  f.backward(std::vector<float>(yf.size(), 1.0f));
  d.backward(std::vector<double>(yd.size(), 1.0));
  std::size_t bad_float = 0, bad_double = 0;
  for (nas::Parameter* p : d.parameters()) {
    const auto& vd = d.value(*p);
    const auto& gd = d.grad(*p);
    const auto& vf = f.value(*p);
    const auto& gf = f.grad(*p);
    for (std::size_t i = 0; i < gd.size(); ++i) {
      bad_double += std::isfinite(vd[i] * gd[i]) ? 0 : 1;
      bad_float += std::isfinite(vf[i] * gf[i]) ? 0 : 1;
    }
  }
  CHECK(bad_double == 0);
  CHECK(bad_float > 0);
}

// Why SynFlow is not rescaled layer by layer: a chain without skips is homogeneous of
// degree 1 in each layer's weights, R(c w_l) = c R(w_l), so a scale could be divided out;
// a cell with an additive skip path around the layer is not.
TEST_CASE("the linearised output is homogeneous in a layer's weights for a chain but not around a skip path",
          "[model][graph]") {
  const nas::ExecutorOptions o{.batch_norm = nas::BatchNormMode::bypass, .abs_parameters = true};
  auto output_sum = [](nas::ReferenceExecutor& ex, const nas::Tensor& x) {
    double r = 0.0;
    for (double v : ex.forward(x)) r += v;
    return r;
  };
  const nas::Nb201Space space;
  for (const bool skip : {false, true}) {
    const auto arch = space.decode(skip ? "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
                                        : "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|");
    nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 1, .height = 8, .width = 8, .classes = 2},
                                          {.channels = 2, .cells = 1, .seed = 5});
    const nas::Shape in{1, 1, 8, 8};
    const auto g = nas::trace(net, in);
    nas::Tensor ones(in);
    ones.fill(1.0f);
    nas::ReferenceExecutor ex(g, o);
    // The first cell's first convolution (edge 0), scaled by 2; without the classifier's
    // bias (a constant term) the chain network is linear in it.
    nas::Parameter *w = nullptr, *b = nullptr;
    for (const auto& p : g.named_parameters()) {
      if (p.path == "body.2.edges.0.1.weight") w = p.parameter;
      if (p.path == "body.10.bias") b = p.parameter;
    }
    REQUIRE(w != nullptr);
    REQUIRE(b != nullptr);
    for (double& v : ex.value(*b)) v = 0.0;
    const double r = output_sum(ex, ones);
    for (double& v : ex.value(*w)) v *= 2.0;
    const double r2 = output_sum(ex, ones);
    INFO((skip ? "with skips" : "chain") << ": R " << r << ", with the layer doubled " << r2);
    if (skip)
      CHECK(std::abs(r2 / r - 2.0) > 1e-3);
    else
      CHECK(r2 / r == Approx(2.0).epsilon(1e-12));
  }
}
