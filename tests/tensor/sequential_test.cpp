// Sequential and the Module interface: chaining, parameter paths, modes, gradient accumulation.
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/gradcheck.hpp>

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
  const auto r = nas::testing::gradcheck(net, x, {.eps = 1e-3, .floor = 0.2});
  INFO(r.worst);
  REQUIRE(r.max_error < 3e-2);
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
