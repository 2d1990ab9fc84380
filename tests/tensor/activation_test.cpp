// ReLU and SiLU: values and gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/testing/gradcheck.hpp>

#include <cmath>

TEST_CASE("ReLU zeroes negatives and passes gradient only where the input was positive", "[tensor][relu]") {
  nas::ReLU relu;
  nas::Tensor x({1, 4});
  x[0] = -1.0f;
  x[1] = 0.0f;
  x[2] = 2.0f;
  x[3] = -3.0f;
  const nas::Tensor& y = relu.forward(x);
  REQUIRE(y[0] == 0.0f);
  REQUIRE(y[2] == 2.0f);
  nas::Tensor dy({1, 4});
  dy.fill(5.0f);
  const nas::Tensor& dx = relu.backward(dy);
  REQUIRE(dx[0] == 0.0f);
  REQUIRE(dx[1] == 0.0f);
  REQUIRE(dx[2] == 5.0f);
  nas::Rng rng(1);
  nas::Tensor big({2, 3, 4, 4});
  nas::testing::fill_away_from_zero(big, rng);
  const auto r = nas::testing::gradcheck(relu, big);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-3);
}

TEST_CASE("SiLU computes x * sigmoid(x) and its derivative", "[tensor][silu]") {
  nas::SiLU silu;
  nas::Tensor x({1, 3});
  x[0] = -2.0f;
  x[1] = 0.0f;
  x[2] = 1.5f;
  const nas::Tensor& y = silu.forward(x);
  REQUIRE(y[0] == Approx(-2.0 / (1.0 + std::exp(2.0))));
  REQUIRE(y[1] == 0.0f);
  REQUIRE(y[2] == Approx(1.5 / (1.0 + std::exp(-1.5))));
  nas::Rng rng(2);
  nas::Tensor big({2, 3, 3, 3});
  big.fill_normal(rng, 0.0f, 2.0f);
  const auto r = nas::testing::gradcheck(silu, big, {.eps = 1e-2});
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-3);
}
