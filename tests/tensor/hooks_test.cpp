// Observation hooks: every module's output and gradient by path, unfused under a scope, untouched without one.
#include <catch2/catch.hpp>

#include <nas/testing/compare.hpp>

#include <nas/tensor/blocks.hpp>
#include <nas/tensor/hooks.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/gradcheck.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using nas::testing::random_tensor;
using nas::testing::rel_diff;
using nas::testing::same_bits;

// Records every event of a scope: outputs and output gradients by path (each path once
// per pass), parameter gradients by path.
struct Recorder {
  std::map<std::string, nas::Tensor> out, grad, param;
  std::map<std::string, std::string> type;
  std::vector<std::string> forward_order;
  int repeats = 0;
  nas::Hooks hooks() {
    return {.forward =
                [this](const nas::ModuleEvent& e) {
                  const std::string p(e.path);
                  repeats += out.count(p) ? 1 : 0;
                  out[p] = e.tensor;
                  type[p] = std::string(e.type);
                  forward_order.push_back(p);
                },
            .backward =
                [this](const nas::ModuleEvent& e) {
                  const std::string p(e.path);
                  repeats += grad.count(p) ? 1 : 0;
                  grad[p] = e.tensor;
                },
            .parameter =
                [this](std::string_view path, const nas::Parameter& p) {
                  const std::string s(path);
                  repeats += param.count(s) ? 1 : 0;
                  param[s] = p.grad;
                }};
  }
};

// DARTS' SepConv with a leading Conv2d and BN, so every fusion pattern appears:
// [Conv, BN, ReLU, dw Conv, 1x1 Conv, BN, ReLU, dw Conv, 1x1 Conv, BN].
std::unique_ptr<nas::Sequential> mixed_chain(nas::Rng& rng) {
  auto seq = std::make_unique<nas::Sequential>();
  seq->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
  seq->emplace<nas::BatchNorm2d>(3);
  seq->add(std::make_unique<nas::SepConv>(
      nas::ConvBlockOptions{.in_channels = 3, .out_channels = 3, .kernel = 3, .stride = 1, .padding = 1}, rng));
  return seq;
}

// Runs a Sequential's layers one by one (each layer's own forward, no fusion), returning
// each layer's output.
std::vector<nas::Tensor> layer_by_layer(nas::Sequential& s, const nas::Tensor& x) {
  std::vector<nas::Tensor> outs;
  const nas::Tensor* h = &x;
  for (std::size_t i = 0; i < s.size(); ++i) {
    h = &s[i].forward(*h);
    outs.push_back(*h);
  }
  return outs;
}

}  // namespace

TEST_CASE("hooks report each layer's output as the unfused layers compute it, bit for bit", "[tensor][hooks]") {
  for (bool training : {true, false}) {
    INFO((training ? "training" : "evaluation"));
    nas::Rng rng(1);
    nas::Sequential seq;
    seq.emplace<nas::ReLU>();
    seq.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
    seq.emplace<nas::BatchNorm2d>(3);
    seq.emplace<nas::ReLU>();
    seq.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 3, .out_channels = 2, .kernel = 1}, rng);
    seq.emplace<nas::BatchNorm2d>(2);
    seq.train(training);
    const nas::Tensor x = random_tensor({3, 2, 6, 6}, 2);
    Recorder rec;
    nas::Tensor y;
    {
      nas::HookScope scope(seq, rec.hooks());
      y = seq.forward(x);
    }
    const auto expected = layer_by_layer(seq, x);
    REQUIRE(rec.out.size() == seq.size());
    for (std::size_t i = 0; i < seq.size(); ++i) {
      INFO("layer " << i);
      CHECK(same_bits(rec.out.at(std::to_string(i)), expected[i]));
    }
    CHECK(rec.type.at("0") == "ReLU");
    CHECK(rec.type.at("3") == "ReLU");
    for (const char* relu : {"0", "3"}) {
      const auto& r = rec.out.at(relu);
      CHECK(std::all_of(r.begin(), r.end(), [](float v) { return v >= 0.0f; }));
    }
    CHECK(same_bits(y, expected.back()));
  }
}

TEST_CASE("hooks report each layer's output gradient and each parameter gradient as a layer-by-layer backward computes them",
          "[tensor][hooks]") {
  for (bool training : {true, false}) {
    INFO((training ? "training" : "evaluation"));
    nas::Rng rng(3);
    auto seq = mixed_chain(rng);
    seq->train(training);
    const nas::Tensor x = random_tensor({2, 2, 5, 5}, 4);
    Recorder rec;
    nas::Tensor dy;
    {
      nas::HookScope scope(*seq, rec.hooks());
      const nas::Tensor& y = seq->forward(x);
      dy = random_tensor(y.shape(), 5);
      seq->zero_grad();
      (void)seq->backward(dy);
    }
    CHECK(rec.repeats == 0);
    // Every module under the root, once per pass; every parameter once, with its path.
    const auto modules = nas::named_modules(*seq);
    CHECK(rec.out.size() == modules.size());
    CHECK(rec.grad.size() == modules.size());
    for (const auto& nm : modules) {
      CHECK(rec.out.count(nm.path) == 1);
      CHECK(rec.grad.count(nm.path) == 1);
    }
    const auto params = seq->named_parameters();
    CHECK(rec.param.size() == params.size());
    for (const auto& np : params) {
      INFO(np.path);
      REQUIRE(rec.param.count(np.path) == 1);
      CHECK(same_bits(rec.param.at(np.path), np.parameter->grad));
    }
    // The SepConv's layers by hand: output gradients are what each layer's backward gets.
    auto& sep = static_cast<nas::Sequential&>((*seq)[2]);
    const auto outs = layer_by_layer(sep, rec.out.at("1"));
    const nas::Tensor* g = &rec.grad.at("2");
    for (std::size_t i = sep.size(); i-- > 0;) {
      const std::string p = "2." + std::to_string(i);
      INFO(p);
      CHECK(same_bits(rec.out.at(p), outs[i]));
      CHECK(same_bits(rec.grad.at(p), *g));
      g = &sep[i].backward(*g);
    }
    CHECK(same_bits(*g, rec.grad.at("1")));
  }
}

TEST_CASE("outputs and gradients under hooks equal those without, within rounding", "[tensor][hooks]") {
  for (bool training : {true, false}) {
    INFO((training ? "training" : "evaluation"));
    nas::Rng rng(6);
    auto seq = mixed_chain(rng);
    seq->train(training);
    const nas::Tensor x = random_tensor({2, 2, 5, 5}, 7);
    auto run = [&](bool hooked) {
      Recorder rec;
      std::unique_ptr<nas::HookScope> scope;
      if (hooked) scope = std::make_unique<nas::HookScope>(*seq, rec.hooks());
      seq->zero_grad();
      nas::Tensor y = seq->forward(x);
      const nas::Tensor dx = seq->backward(random_tensor(y.shape(), 8));
      std::vector<nas::Tensor> grads;
      for (auto* p : seq->parameters()) grads.push_back(p->grad);
      return std::make_tuple(y, dx, grads);
    };
    const auto [y0, dx0, g0] = run(false);
    const auto [y1, dx1, g1] = run(true);
    const auto [y2, dx2, g2] = run(false);
    // Training: the ReLU folded into a convolution reads max(x, 0) as the ReLU writes it,
    // so the floats are the same. Evaluation: BatchNorm folded into the weights rounds
    // differently from BatchNorm after the convolution.
    const double tol = training ? 0.0 : 1e-5;
    INFO("output rel diff " << rel_diff(y1, y0));
    CHECK(rel_diff(y1, y0) <= tol);
    CHECK(rel_diff(dx1, dx0) <= tol);
    for (std::size_t i = 0; i < g0.size(); ++i) CHECK(rel_diff(g1[i], g0[i]) <= tol);
    // After the scope closes the fast path is back: the same floats as before it.
    CHECK(same_bits(y2, y0));
    CHECK(same_bits(dx2, dx0));
  }
}

TEST_CASE("without a scope, evaluation runs ReLU, convolution and BatchNorm as one fused convolution", "[tensor][hooks]") {
  nas::Rng rng(9);
  nas::ReLUConvBN block(nas::ConvBlockOptions{.in_channels = 2, .out_channels = 4, .kernel = 3, .padding = 1}, rng);
  auto& conv = static_cast<nas::Conv2d&>(block[1]);
  auto& bn = static_cast<nas::BatchNorm2d&>(block[2]);
  const nas::Tensor x = random_tensor({2, 2, 5, 5}, 10);
  (void)block.forward(x);  // training: running statistics move away from (0, 1)
  block.eval();
  const nas::Tensor fast = block.forward(x);
  std::vector<float> scale(4), shift(4);
  bn.eval_affine(scale.data(), shift.data());
  const nas::Tensor fused = conv.forward_fused(x, true, scale.data(), shift.data());
  CHECK(same_bits(fast, fused));
  {
    Recorder rec;
    nas::HookScope scope(block, rec.hooks());
    const nas::Tensor observed = block.forward(x);
    CHECK(rec.out.size() == 3);
    CHECK(rel_diff(observed, fused) <= 1e-5);
  }
  CHECK(same_bits(block.forward(x), fused));
}

TEST_CASE("blocks report their children: FactorizedReduce's ReLU and ResNetBasicBlock's branches", "[tensor][hooks]") {
  nas::Rng rng(11);
  nas::FactorizedReduce fr(nas::ConvBlockOptions{.in_channels = 3, .out_channels = 4, .stride = 2}, rng);
  nas::ResNetBasicBlock res(3, 4, 2, rng);
  const nas::Tensor x = random_tensor({2, 3, 6, 6}, 12);
  for (nas::Module* m : {static_cast<nas::Module*>(&fr), static_cast<nas::Module*>(&res)}) {
    for (bool training : {true, false}) {
      m->train(training);
      const nas::Tensor y0 = m->forward(x);
      const nas::Tensor dx0 = m->backward(y0);
      Recorder rec;
      nas::HookScope scope(*m, rec.hooks());
      const nas::Tensor y1 = m->forward(x);
      const nas::Tensor dx1 = m->backward(y1);
      INFO(m->type_name() << (training ? " training" : " evaluation"));
      CHECK(rec.repeats == 0);
      const auto modules = nas::named_modules(*m);
      CHECK(rec.out.size() == modules.size());
      CHECK(rec.grad.size() == modules.size());
      CHECK(rec.param.size() == m->named_parameters().size());
      CHECK(rel_diff(y1, y0) <= (training ? 0.0 : 1e-5));
      CHECK(rel_diff(dx1, dx0) <= (training ? 0.0 : 1e-5));
    }
  }
  CHECK(nas::named_modules(fr).front().path == "relu");
}

TEST_CASE("scopes nest, and modules outside the observed network are not reported", "[tensor][hooks]") {
  nas::Sequential a, b;
  a.emplace<nas::ReLU>();
  a.emplace<nas::ReLU>();
  b.emplace<nas::ReLU>();
  const nas::Tensor x = random_tensor({1, 1, 2, 2}, 14);
  int outer = 0, inner = 0;
  CHECK_FALSE(nas::hooks_active());
  {
    nas::HookScope s1(a, {.forward = [&](const nas::ModuleEvent&) { ++outer; }});
    (void)a.forward(x);
    (void)b.forward(x);  // not under a
    CHECK(outer == 2);
    {
      nas::HookScope s2(b, {.forward = [&](const nas::ModuleEvent&) { ++inner; }});
      (void)a.forward(x);  // the inner scope observes b only
      (void)b.forward(x);
      CHECK(inner == 1);
      CHECK(outer == 2);
    }
    (void)a.forward(x);
    CHECK(outer == 4);
  }
  CHECK_FALSE(nas::hooks_active());
}
