// Sequential and the Module interface: chaining, parameter paths, modes, gradient accumulation.
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/gradcheck.hpp>

#include <algorithm>
#include <cmath>

namespace {
void small_net(nas::Sequential& net, nas::Rng& rng) {
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
  net.emplace<nas::BatchNorm2d>(3);
  net.emplace<nas::ReLU>();
  net.emplace<nas::GlobalAvgPool>();
  net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 2}, rng);
}
}  // namespace

TEST_CASE("Sequential names parameters by position and counts them", "[tensor][sequential]") {
  nas::Rng rng(1);
  nas::Sequential net;
  small_net(net, rng);
  const auto names = net.named_parameters();
  REQUIRE(names.size() == 5);
  REQUIRE(names[0].path == "0.weight");
  REQUIRE(names[1].path == "1.weight");
  REQUIRE(names[2].path == "1.bias");
  REQUIRE(names[3].path == "4.weight");
  REQUIRE(names[4].path == "4.bias");
  REQUIRE(net.num_parameters() == 2 * 3 * 9 + 6 + 3 * 2 + 2);
  REQUIRE(net.output_shape({5, 2, 6, 6}) == nas::Shape{5, 2});
  REQUIRE(net.macs({1, 2, 6, 6}) == 9.0 * 2 * 3 * 36 + 3 * 2 + 2);
}

TEST_CASE("train and eval propagate to every submodule", "[tensor][sequential]") {
  nas::Rng rng(2);
  nas::Sequential net;
  small_net(net, rng);
  net.eval();
  REQUIRE_FALSE(net.is_training());
  REQUIRE_FALSE(net[1].is_training());
  net.train();
  REQUIRE(net[1].is_training());
}

TEST_CASE("Sequential backward matches finite differences through all layers", "[tensor][sequential]") {
  nas::Rng rng(3);
  nas::Sequential net;
  small_net(net, rng);
  nas::Tensor x({4, 2, 4, 4});
  x.fill_normal(rng);
  // The BatchNorm right after the convolution writes its gradient over the convolution's output.
  REQUIRE(dynamic_cast<nas::BatchNorm2d&>(net[1]).overwrites_input_in_backward());
  // A ReLU after the BatchNorm: kinks that a step may cross, so one-sided differences count too.
  const auto r = nas::testing::gradcheck(net, x, {.eps = 1e-3, .floor = 0.2, .kink_tolerant = true});
  INFO(r.worst);
  REQUIRE(r.max_error < 3e-2);
}

TEST_CASE("A BatchNorm2d that does not follow a Conv2d keeps its own gradient buffer", "[tensor][sequential]") {
  nas::Rng rng(5);
  nas::Sequential net;
  net.emplace<nas::ReLU>();
  auto& first = net.emplace<nas::BatchNorm2d>(2);
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 2, .kernel = 1, .padding = 0}, rng);
  auto& second = net.emplace<nas::BatchNorm2d>(2);
  CHECK_FALSE(first.overwrites_input_in_backward());  // its input is the ReLU's output (or the caller's tensor)
  CHECK(second.overwrites_input_in_backward());
  nas::Tensor x({3, 2, 3, 3});
  x.fill_normal(rng);
  const nas::Tensor x_before = x;
  const auto r = nas::testing::gradcheck(net, x, {.eps = 1e-2});
  INFO(r.worst);
  REQUIRE(r.max_error < 3e-2);
  for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(x[i] == x_before[i]);  // the caller's input is untouched
}

TEST_CASE("A module applied twice with forward/backward pairs accumulates both gradients", "[tensor][sequential]") {
  nas::Rng rng(4);
  nas::Linear fc({.in_features = 3, .out_features = 2}, rng);
  nas::Tensor a({1, 3}), b({1, 3}), dy({1, 2});
  a.fill_normal(rng);
  b.fill_normal(rng);
  dy.fill(1.0f);
  fc.zero_grad();
  fc.forward(a);
  fc.backward(dy);
  fc.forward(b);
  fc.backward(dy);
  // dW = dy^T a + dy^T b; each row equals a + b.
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i)
      REQUIRE(fc.weight().grad.at(o, i) == Approx(a[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)]));
  REQUIRE(fc.bias().grad[0] == Approx(2.0));
  fc.zero_grad();
  REQUIRE(fc.weight().grad[0] == 0.0f);
}

namespace {
// ReLU -> conv -> BN (running statistics made non-trivial by a few training passes), then
// conv -> BN, conv alone after a pool: every fusion pattern and the unfused fallbacks.
void fusable_net(nas::Sequential& net, nas::Rng& rng) {
  net.emplace<nas::ReLU>();
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 3, .out_channels = 5, .kernel = 3, .stride = 2, .padding = 1}, rng);
  net.emplace<nas::BatchNorm2d>(5);
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 5, .out_channels = 4, .kernel = 1, .bias = true}, rng);
  net.emplace<nas::BatchNorm2d>(4);
  net.emplace<nas::AvgPool2d>(nas::Pool2dOptions{.kernel = 2});
  net.emplace<nas::ReLU>();
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 4, .out_channels = 2, .kernel = 3, .padding = 1}, rng);
}

// The same layers run one by one, as an unfused evaluation does.
nas::Tensor layer_by_layer(nas::Sequential& net, const nas::Tensor& x) {
  const nas::Tensor* h = &x;
  for (std::size_t i = 0; i < net.size(); ++i) h = &net[i].forward(*h);
  nas::Tensor out(h->shape());
  out.copy_from(*h);
  return out;
}
}  // namespace

TEST_CASE("Evaluation fuses ReLU-Conv-BN into one convolution with the layer-by-layer result", "[tensor][sequential]") {
  nas::Rng rng(5);
  nas::Sequential net;
  fusable_net(net, rng);
  nas::Tensor x({6, 3, 9, 9});
  for (int i = 0; i < 3; ++i) {  // move the running statistics away from (0, 1)
    x.fill_normal(rng);
    (void)net.forward(x);
  }
  for (auto* p : net.parameters())  // and the BN affine parameters away from (1, 0)
    if (p->value.rank() == 1)
      for (std::size_t i = 0; i < p->numel(); ++i) p->value[i] += 0.3f * static_cast<float>(rng.uniform(-1.0, 1.0));
  net.eval();
  x.fill_normal(rng);
  const nas::Tensor want = layer_by_layer(net, x);
  const nas::Tensor& got = net.forward(x);
  REQUIRE(got.shape() == want.shape());
  double worst = 0.0;
  for (std::size_t i = 0; i < got.numel(); ++i) worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]));
  INFO("largest difference " << worst);
  REQUIRE(worst < 1e-4);

  // A backward after the fused forward gives exactly the layer-by-layer gradients and leaves
  // the returned output untouched.
  const nas::Tensor kept = [&] {
    nas::Tensor t(got.shape());
    t.copy_from(got);
    return t;
  }();
  nas::Tensor dy(got.shape());
  dy.fill_normal(rng);
  net.zero_grad();
  const nas::Tensor& dx = net.backward(dy);
  for (std::size_t i = 0; i < got.numel(); ++i) REQUIRE(got[i] == kept[i]);
  nas::Sequential ref;
  nas::Rng rng2(5);
  fusable_net(ref, rng2);
  const auto pn = net.parameters(), pr = ref.parameters();
  for (std::size_t k = 0; k < pn.size(); ++k) pr[k]->value.copy_from(pn[k]->value);
  for (std::size_t i : {std::size_t{2}, std::size_t{4}}) {
    auto& a = dynamic_cast<nas::BatchNorm2d&>(net[i]);
    auto& b = dynamic_cast<nas::BatchNorm2d&>(ref[i]);
    b.running_mean().copy_from(a.running_mean());
    b.running_var().copy_from(a.running_var());
  }
  ref.eval();
  (void)layer_by_layer(ref, x);
  ref.zero_grad();
  const nas::Tensor* g = &dy;
  for (std::size_t i = ref.size(); i-- > 0;) g = &ref[i].backward(*g);
  for (std::size_t i = 0; i < dx.numel(); ++i) REQUIRE(dx[i] == (*g)[i]);
  for (std::size_t k = 0; k < pn.size(); ++k)
    for (std::size_t i = 0; i < pn[k]->numel(); ++i) REQUIRE(pn[k]->grad[i] == pr[k]->grad[i]);
}

TEST_CASE("Evaluation without running statistics does not fold BatchNorm", "[tensor][sequential]") {
  nas::Rng rng(6);
  nas::Sequential net;
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
  net.emplace<nas::BatchNorm2d>(nas::BatchNorm2d::Options{.channels = 3, .track_running_stats = false});
  net.eval();
  nas::Tensor x({4, 2, 5, 5});
  x.fill_normal(rng);
  const nas::Tensor& y = net.forward(x);
  // Batch statistics in evaluation: every channel of the output has mean 0 over (N, H, W).
  for (int c = 0; c < 3; ++c) {
    double s = 0.0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 25; ++i) s += y[(static_cast<std::size_t>(n) * 3 + c) * 25 + i];
    REQUIRE(std::abs(s / 100.0) < 1e-5);
  }
}

TEST_CASE("Sequential forward_into equals forward, in training (BatchNorm writes directly) and evaluation (the "
          "fused convolution does)",
          "[tensor][sequential]") {
  // ReLU-Conv-BN, and a chain ending in a convolution alone (direct in evaluation only).
  for (bool ends_in_bn : {true, false})
    for (bool training : {true, false}) {
      nas::Rng ra(8), rb(8), rx(9);
      nas::Sequential a, b;
      for (auto* net : {&a, &b}) {
        auto& rng = net == &a ? ra : rb;
        net->emplace<nas::ReLU>();
        net->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
        if (ends_in_bn) net->emplace<nas::BatchNorm2d>(3);
        net->train(training);
      }
      INFO("training " << training << ", ends in BatchNorm " << ends_in_bn);
      REQUIRE(b.forward_into_is_direct() == (ends_in_bn || !training));
      nas::Tensor x({2, 2, 5, 5}), base({2, 3, 5, 5}), dy({2, 3, 5, 5});
      x.fill_normal(rx);
      base.fill_normal(rx);
      dy.fill_normal(rx);
      const nas::Tensor& y = a.forward(x);
      nas::Tensor summed = base, written(nas::Shape{1});
      b.forward_into(x, written, false);
      b.forward_into(x, summed, true);
      REQUIRE(written.shape() == y.shape());
      for (std::size_t i = 0; i < y.numel(); ++i) {
        REQUIRE(written[i] == y[i]);
        REQUIRE(summed[i] == base[i] + y[i]);
      }
      nas::Tensor wrong(nas::Shape{2, 3, 5, 4});
      CHECK_THROWS_AS(b.forward_into(x, wrong, true), nas::ConfigError);
      (void)b.forward_into(x, summed, true);  // the last forward before backward must succeed
      const nas::Tensor& dxa = a.backward(dy);
      const nas::Tensor& dxb = b.backward(dy);
      for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(dxb[i] == dxa[i]);
    }
}

TEST_CASE("A ReLU holding its pattern runs itself before a convolution, in training and evaluation", "[tensor][sequential]") {
  // ReLU -> 1x1 conv normally runs as one convolution of max(x, 0); a held pattern must win
  // over that fusion: after recording on x, the input -x passes where x did, negated.
  nas::Rng rng(4);
  nas::Sequential net;
  auto& relu = net.emplace<nas::ReLU>();
  auto& conv = net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 1, .kernel = 1, .padding = 0}, rng);
  conv.weight().value[0] = 1.0f;
  conv.weight().value[1] = 10.0f;
  nas::Tensor x(nas::Shape{1, 2, 1, 2});
  x[0] = 1.0f;   // channel 0: +1 then -2
  x[1] = -2.0f;
  x[2] = -3.0f;  // channel 1: -3 then +4
  x[3] = 4.0f;
  nas::Tensor neg(x.shape());
  for (std::size_t i = 0; i < x.numel(); ++i) neg[i] = -x[i];
  const float b = 0.0f;  // Conv2d has no bias by default
  for (const bool training : {true, false}) {
    net.train(training);
    relu.hold_pattern(true);
    (void)net.forward(x);                   // records: position 0 passes channel 0, position 1 channel 1
    const nas::Tensor y = net.forward(neg);  // -x through the recorded pattern
    CHECK(y[0] == Approx(-1.0f + b));
    CHECK(y[1] == Approx(-40.0f + b));
    if (training) {
      nas::Tensor dy(y.shape());
      dy.fill(1.0f);
      const nas::Tensor& dx = net.backward(dy);
      CHECK(dx[0] == Approx(1.0f));   // passes: the weight
      CHECK(dx[1] == 0.0f);           // held off
      CHECK(dx[2] == 0.0f);
      CHECK(dx[3] == Approx(10.0f));
    }
    relu.hold_pattern(false);  // released: max(-x, 0) again
    const nas::Tensor z = net.forward(neg);
    CHECK(z[0] == Approx(0.0f * 1.0f + 3.0f * 10.0f + b));
    CHECK(z[1] == Approx(2.0f * 1.0f + 0.0f * 10.0f + b));
  }
}
