// Identity, Zero and Flatten.
#include <catch2/catch.hpp>

#include <nas/tensor/shape_ops.hpp>

TEST_CASE("Identity returns its input and output gradient without copying", "[tensor][identity]") {
  nas::Identity id;
  nas::Tensor x({1, 2, 3, 3});
  REQUIRE(&id.forward(x) == &x);
  REQUIRE(&id.backward(x) == &x);
}

TEST_CASE("Zero outputs zeros of the strided shape and a zero input gradient", "[tensor][zero]") {
  nas::Zero z(2);
  nas::Tensor x({2, 3, 5, 4});
  x.fill(7.0f);
  const nas::Tensor& y = z.forward(x);
  REQUIRE(y.shape() == nas::Shape{2, 3, 3, 2});  // ceil(5/2), ceil(4/2) as x[:, :, ::2, ::2]
  for (float v : y) REQUIRE(v == 0.0f);
  nas::Tensor dy(y.shape());
  dy.fill(1.0f);
  const nas::Tensor& dx = z.backward(dy);
  REQUIRE(dx.shape() == x.shape());
  for (float v : dx) REQUIRE(v == 0.0f);
  nas::Zero widen(1, 8);
  REQUIRE(widen.output_shape(x.shape()) == nas::Shape{2, 8, 5, 4});
}

TEST_CASE("Flatten views [N, C, H, W] as [N, C*H*W] and restores the gradient shape", "[tensor][flatten]") {
  nas::Flatten f;
  nas::Tensor x({2, 3, 2, 2});
  x[13] = 4.0f;
  const nas::Tensor& y = f.forward(x);
  REQUIRE(y.shape() == nas::Shape{2, 12});
  REQUIRE(y.data() == x.data());
  REQUIRE(y.at(1, 1) == 4.0f);
  const nas::Tensor& dx = f.backward(y);
  REQUIRE(dx.shape() == x.shape());
}
