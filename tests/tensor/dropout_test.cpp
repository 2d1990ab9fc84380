// Dropout: inverted scaling, seeded masks, identity in evaluation, gradient through the mask.
#include <catch2/catch.hpp>

#include <nas/tensor/dropout.hpp>
#include <nas/testing/gradcheck.hpp>

TEST_CASE("Dropout keeps about 1-p of the elements, scaled by 1/(1-p)", "[tensor][dropout]") {
  nas::Dropout drop(0.25, 42);
  nas::Tensor x({1, 10000});
  x.fill(1.0f);
  const nas::Tensor& y = drop.forward(x);
  int kept = 0;
  for (float v : y) {
    REQUIRE((v == 0.0f || v == Approx(1.0 / 0.75)));
    kept += v != 0.0f;
  }
  REQUIRE(kept > 7200);
  REQUIRE(kept < 7800);
}

TEST_CASE("Dropout is the identity in evaluation mode", "[tensor][dropout]") {
  nas::Dropout drop(0.5, 1);
  drop.eval();
  nas::Tensor x({2, 8});
  x.fill(3.0f);
  REQUIRE(&drop.forward(x) == &x);
}

TEST_CASE("Dropout masks repeat for the same seed and the gradient goes through the mask", "[tensor][dropout]") {
  nas::Dropout a(0.5, 7), b(0.5, 7);
  nas::Rng rng(3);
  nas::Tensor x({4, 16});
  x.fill_normal(rng);
  const nas::Tensor ya = a.forward(x);
  const nas::Tensor& yb = b.forward(x);
  for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(ya[i] == yb[i]);
  nas::Dropout c(0.3, 0);
  nas::testing::GradcheckOptions o;
  o.before_forward = [&c] { c.reseed(11); };
  const auto r = nas::testing::gradcheck(c, x, o);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-3);
  REQUIRE_THROWS_AS(nas::Dropout(1.0), nas::ConfigError);
}
