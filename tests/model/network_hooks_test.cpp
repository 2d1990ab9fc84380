// Hooks on whole networks: every ReLU, cell and edge op of NB201 and DARTS networks and supernets, by path.
#include <catch2/catch.hpp>

#include <nas/testing/compare.hpp>

#include <nas/model/cell_network.hpp>
#include <nas/model/supernet.hpp>
#include <nas/tensor/hooks.hpp>
#include <nas/testing/gradcheck.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace {

using nas::testing::random_tensor;
using nas::testing::rel_diff;
using nas::testing::same_bits;

struct Events {
  std::map<std::string, nas::Tensor> out, grad, param;
  std::map<std::string, std::string> type;
  int repeats = 0;
};

struct Result {
  nas::Tensor y, dx;
  std::map<std::string, nas::Tensor> grads;
  Events ev;
};

// One forward and backward of `net`, observed when `hooked`.
Result run(nas::Module& net, const nas::Tensor& x, bool training, bool hooked) {
  Result r;
  net.train(training);
  net.zero_grad();
  std::unique_ptr<nas::HookScope> scope;
  if (hooked)
    scope = std::make_unique<nas::HookScope>(
        net, nas::Hooks{.forward =
                            [&r](const nas::ModuleEvent& e) {
                              const std::string p(e.path);
                              r.ev.repeats += r.ev.out.count(p) ? 1 : 0;
                              r.ev.out[p] = e.tensor;
                              r.ev.type[p] = std::string(e.type);
                            },
                        .backward =
                            [&r](const nas::ModuleEvent& e) {
                              const std::string p(e.path);
                              r.ev.repeats += r.ev.grad.count(p) ? 1 : 0;
                              r.ev.grad[p] = e.tensor;
                            },
                        .parameter =
                            [&r](std::string_view path, const nas::Parameter& p) {
                              r.ev.repeats += r.ev.param.count(std::string(path)) ? 1 : 0;
                              r.ev.param[std::string(path)] = p.grad;
                            }});
  r.y = net.forward(x);
  r.dx = net.backward(random_tensor(r.y.shape(), 77));
  for (auto& np : net.named_parameters()) r.grads[np.path] = np.parameter->grad;
  return r;
}

std::size_t count_type(const std::map<std::string, std::string>& types, const std::string& t) {
  return static_cast<std::size_t>(std::count_if(types.begin(), types.end(), [&](const auto& kv) { return kv.second == t; }));
}

std::vector<std::string> relu_paths(nas::Module& net) {
  std::vector<std::string> out;
  for (auto& nm : nas::named_modules(net))
    if (nm.module->type_name() == "ReLU") out.push_back(nm.path);
  return out;
}

// Every ReLU module is reported once in forward and once in backward, with a non-negative
// output; every parameter's gradient is reported once, equal to its final gradient.
void check_coverage(nas::Module& net, const Result& r) {
  CHECK(r.ev.repeats == 0);
  const auto relus = relu_paths(net);
  REQUIRE(relus.size() > 5);
  CHECK(count_type(r.ev.type, "ReLU") == relus.size());
  for (const auto& p : relus) {
    INFO(p);
    REQUIRE(r.ev.out.count(p) == 1);
    CHECK(r.ev.grad.count(p) == 1);
    const auto& t = r.ev.out.at(p);
    CHECK(std::all_of(t.begin(), t.end(), [](float v) { return v >= 0.0f; }));
  }
  CHECK(r.ev.param.size() == r.grads.size());
  for (const auto& [path, g] : r.grads) {
    INFO(path);
    REQUIRE(r.ev.param.count(path) == 1);
    CHECK(same_bits(r.ev.param.at(path), g));
  }
}

// Training: bit for bit (the fused training paths compute the same floats). Evaluation:
// BatchNorm folded into the convolutions rounds differently, within 1e-5 relative.
void check_same(const Result& hooked, const Result& plain, bool training) {
  const double tol = training ? 0.0 : 1e-5;
  INFO("logits rel diff " << rel_diff(hooked.y, plain.y) << ", input grad " << rel_diff(hooked.dx, plain.dx));
  CHECK(rel_diff(hooked.y, plain.y) <= tol);
  CHECK(rel_diff(hooked.dx, plain.dx) <= tol);
  for (const auto& [path, g] : plain.grads) {
    INFO(path);
    CHECK(rel_diff(hooked.grads.at(path), g) <= tol);
  }
}

const nas::NetworkInput tiny_input{.channels = 3, .height = 8, .width = 8, .classes = 5};

// The DARTS space without `none`, so every edge of every cell runs.
nas::CellSpace darts_without_none() {
  return nas::CellSpace({.nodes = 4,
                         .ops = {"max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                                 "dil_conv_3x3", "dil_conv_5x5"},
                         .inputs = 2,
                         .reduction = true,
                         .distinct_inputs = true});
}

}  // namespace

TEST_CASE("hooks see every ReLU, cell and edge op of an NB201 network, and change nothing but rounding",
          "[model][hooks]") {
  const nas::Nb201Space space;
  const auto arch = space.decode("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|");
  nas::CellNetwork<nas::Nb201Space> net(arch, tiny_input, {.channels = 4, .cells = 2, .seed = 1});
  const nas::Tensor x = random_tensor(tiny_input.batch(3), 2);
  for (bool training : {true, false}) {
    INFO((training ? "training" : "evaluation"));
    const Result plain = run(net, x, training, false);
    const Result hooked = run(net, x, training, true);
    check_coverage(net, hooked);
    check_same(hooked, plain, training);
    CHECK(count_type(hooked.ev.type, "Nb201Cell") == 6);
    std::size_t edge_ops = 0;
    const std::regex edge(R"(body\.\d+\.edges\.\d)");
    for (const auto& [path, t] : hooked.ev.out) edge_ops += std::regex_match(path, edge) ? 1 : 0;
    CHECK(edge_ops == 6 * 6);
    // body: stem conv, BN, 2 cells, block, 2 cells, block, 2 cells, BN (10), ReLU (11),
    // pooling, classifier (13). The last ReLU reads the last BN; the classifier gives the logits.
    const nas::Tensor& bn = hooked.ev.out.at("body.10");
    const nas::Tensor& relu = hooked.ev.out.at("body.11");
    REQUIRE(relu.shape() == bn.shape());
    bool exact = true;
    for (std::size_t i = 0; i < bn.numel(); ++i) exact = exact && relu[i] == std::max(bn[i], 0.0f);
    CHECK(exact);
    CHECK(same_bits(hooked.ev.out.at("body.13"), hooked.y));
    CHECK(same_bits(hooked.ev.out.at("body"), hooked.y));
  }
}

TEST_CASE("hooks see every ReLU, cell and edge op of a DARTS network, and change nothing but rounding", "[model][hooks]") {
  const auto space = darts_without_none();
  nas::Rng rng(3);
  const auto arch = space.sample(rng);
  nas::CellNetwork<nas::CellSpace> net(space, arch, tiny_input, {.channels = 4, .cells = 3, .seed = 1});
  const nas::Tensor x = random_tensor(tiny_input.batch(3), 4);
  for (bool training : {true, false}) {
    INFO((training ? "training" : "evaluation"));
    const Result plain = run(net, x, training, false);
    const Result hooked = run(net, x, training, true);
    check_coverage(net, hooked);
    check_same(hooked, plain, training);
    CHECK(count_type(hooked.ev.type, "Cell") == 3);
    for (int k = 0; k < 3; ++k) {
      const std::string cell = "cells." + std::to_string(k);
      REQUIRE(hooked.ev.out.count(cell) == 1);
      CHECK(hooked.ev.grad.count(cell) == 1);
      for (int p = 0; p < 8; ++p) CHECK(hooked.ev.out.count(cell + ".edges." + std::to_string(p)) == 1);
    }
    // The last cell's output is the pooling's input: its channel means are the pooled values.
    const nas::Tensor& last = hooked.ev.out.at("cells.2");
    const nas::Tensor& pooled = hooked.ev.out.at("global_pooling");
    REQUIRE(pooled.numel() == static_cast<std::size_t>(last.dim(0) * last.dim(1)));
    double worst = 0.0;
    const std::size_t hw = static_cast<std::size_t>(last.dim(2) * last.dim(3));
    for (std::size_t i = 0; i < pooled.numel(); ++i) {
      double s = 0.0;
      for (std::size_t j = 0; j < hw; ++j) s += last[i * hw + j];
      worst = std::max(worst, std::abs(s / static_cast<double>(hw) - pooled[i]));
    }
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("hooks on a supernet see the selected path only, with the stand-alone network's values", "[model][hooks]") {
  const auto space = nas::CellSpace::darts();
  nas::Rng rng(5);
  const auto arch = space.sample(rng);
  nas::Supernet<nas::CellSpace> super(space, tiny_input, {.channels = 4, .cells = 3});
  super.select(arch);
  nas::CellNetwork<nas::CellSpace> net(space, arch, tiny_input, {.channels = 4, .cells = 3});
  super.copy_to(net);
  const nas::Tensor x = random_tensor(tiny_input.batch(3), 6);
  // Evaluation first: the training steps below move the supernet's running statistics
  // twice (observed and not) and the stand-alone network's once.
  for (bool training : {false, true}) {
    INFO((training ? "training" : "evaluation"));
    const Result s = run(super, x, training, true);
    const Result n = run(net, x, training, true);
    CHECK(s.ev.repeats == 0);
    // Every event of the stand-alone network appears at its supernet path, same floats.
    std::size_t relus = 0;
    for (const auto& [path, t] : n.ev.out) {
      const std::string p = super.module_path(arch, path);
      INFO(path << " -> " << p);
      REQUIRE(s.ev.out.count(p) == 1);
      CHECK(same_bits(s.ev.out.at(p), t));
      relus += n.ev.type.at(path) == "ReLU" ? 1 : 0;
    }
    CHECK(count_type(s.ev.type, "ReLU") == relus);
    // ... and nothing else: inactive ops are never called.
    CHECK(s.ev.out.size() == n.ev.out.size());
    const Result plain = run(super, x, training, false);
    check_same(s, plain, training);
  }
}
