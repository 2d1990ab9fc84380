// Softmax cross-entropy: values and gradients against torch.nn.functional.cross_entropy.
#include <catch2/catch.hpp>

#include <nas/tensor/loss.hpp>

#include <vector>

namespace {
nas::Tensor logits() {
  nas::Tensor z({2, 3});
  const float v[6] = {1.0f, 2.0f, 0.5f, 0.0f, -1.0f, 3.0f};
  for (int i = 0; i < 6; ++i) z[static_cast<std::size_t>(i)] = v[i];
  return z;
}
const std::vector<int> labels = {1, 0};
}  // namespace

TEST_CASE("SoftmaxCrossEntropy equals torch's cross_entropy and its gradient", "[tensor][loss]") {
  nas::SoftmaxCrossEntropy ce;
  REQUIRE(ce.forward(logits(), labels) == Approx(1.765126347541809));
  const double g[6] = {0.11561194062, -0.18573415279, 0.07012218982, -0.47669368983, 0.00857391115, 0.46811977029};
  for (int i = 0; i < 6; ++i) REQUIRE(ce.backward()[static_cast<std::size_t>(i)] == Approx(g[i]).epsilon(1e-5));
}

TEST_CASE("SoftmaxCrossEntropy with label smoothing equals torch's label_smoothing=0.1", "[tensor][loss]") {
  nas::SoftmaxCrossEntropy ce(0.1);
  REQUIRE(ce.forward(logits(), labels) == Approx(1.7734596729278564));
  const double g[6] = {0.09894527494, -0.15240082144, 0.05345552415, -0.44336035848, -0.00809275638, 0.45145308971};
  for (int i = 0; i < 6; ++i) REQUIRE(ce.backward()[static_cast<std::size_t>(i)] == Approx(g[i]).epsilon(1e-5));
}

TEST_CASE("SoftmaxCrossEntropy gradient matches finite differences of the loss", "[tensor][loss]") {
  nas::Rng rng(9);
  for (double smoothing : {0.0, 0.2}) {
    nas::SoftmaxCrossEntropy ce(smoothing);
    nas::Tensor z({4, 5});
    z.fill_normal(rng, 0.0f, 2.0f);
    const std::vector<int> y = {0, 4, 2, 2};
    ce.forward(z, y);
    const nas::Tensor g = ce.backward();
    for (std::size_t i = 0; i < z.numel(); ++i) {
      const float saved = z[i];
      z[i] = saved + 1e-2f;
      const double lp = ce.forward(z, y);
      z[i] = saved - 1e-2f;
      const double lm = ce.forward(z, y);
      z[i] = saved;
      REQUIRE(g[i] == Approx((lp - lm) / 2e-2).margin(1e-4));
    }
  }
}

TEST_CASE("SoftmaxCrossEntropy is stable for large logits and rejects bad labels", "[tensor][loss]") {
  nas::SoftmaxCrossEntropy ce;
  nas::Tensor z({1, 2});
  z[0] = 1000.0f;
  z[1] = 0.0f;
  REQUIRE(ce.forward(z, std::vector<int>{0}) == Approx(0.0).margin(1e-12));
  REQUIRE(ce.forward(z, std::vector<int>{1}) == Approx(1000.0));
  REQUIRE_THROWS_AS(ce.forward(z, std::vector<int>{2}), nas::ConfigError);
  REQUIRE_THROWS_AS(ce.forward(z, std::vector<int>{0, 1}), nas::ConfigError);
  REQUIRE(nas::count_correct(logits(), labels) == 1);
}
