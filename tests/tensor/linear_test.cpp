// Linear: y = x W^T + b, gradients, MACs.
#include <catch2/catch.hpp>

#include <nas/tensor/linear.hpp>
#include <nas/testing/gradcheck.hpp>

TEST_CASE("Linear computes x W^T + b", "[tensor][linear]") {
  nas::Rng rng(1);
  nas::Linear fc({.in_features = 3, .out_features = 2}, rng);
  for (std::size_t i = 0; i < 6; ++i) fc.weight().value[i] = static_cast<float>(i + 1);  // [[1,2,3],[4,5,6]]
  fc.bias().value[0] = 0.5f;
  fc.bias().value[1] = -1.0f;
  nas::Tensor x({2, 3});
  x[0] = 1;
  x[1] = 0;
  x[2] = -1;
  x[3] = 2;
  x[4] = 1;
  x[5] = 0;
  const nas::Tensor& y = fc.forward(x);
  REQUIRE(y.shape() == nas::Shape{2, 2});
  REQUIRE(y.at(0, 0) == Approx(1 - 3 + 0.5));
  REQUIRE(y.at(0, 1) == Approx(4 - 6 - 1.0));
  REQUIRE(y.at(1, 0) == Approx(2 + 2 + 0.5));
  REQUIRE(y.at(1, 1) == Approx(8 + 5 - 1.0));
}

TEST_CASE("Linear backward matches finite differences, with and without bias, on [N, C, 1, 1] input", "[tensor][linear]") {
  nas::Rng rng(2);
  for (bool bias : {true, false}) {
    nas::Linear fc({.in_features = 6, .out_features = 4, .bias = bias}, rng);
    nas::Tensor x({3, 6, 1, 1});
    x.fill_normal(rng);
    const auto r = nas::testing::gradcheck(fc, x);
    INFO(r.worst);
    REQUIRE(r.max_error < 1e-2);
    REQUIRE(fc.output_shape(x.shape()) == nas::Shape{3, 4});
  }
}

TEST_CASE("Linear counts in*out (+out with bias) MACs and its parameters", "[tensor][linear]") {
  nas::Rng rng(3);
  nas::Linear fc({.in_features = 64, .out_features = 10}, rng);
  REQUIRE(fc.macs({1, 64}) == 64.0 * 10 + 10);
  REQUIRE(fc.num_parameters() == 650);
  nas::Linear nb({.in_features = 64, .out_features = 10, .bias = false}, rng);
  REQUIRE(nb.macs({1, 64}) == 640.0);
  REQUIRE_THROWS_AS(fc.output_shape({1, 63}), nas::ConfigError);
}
