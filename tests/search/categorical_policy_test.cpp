// CategoricalPolicy: entropy, the entropy bonus's known optimum softmax(momentum * r / beta), option checks.
#include <catch2/catch.hpp>

#include <nas/search/categorical_policy.hpp>

#include <cmath>
#include <vector>

namespace {

// Runs a one-decision bandit with deterministic rewards r[k] and returns the probabilities
// averaged over the last `average` of `steps` updates.
std::vector<double> bandit(const std::vector<double>& r, double beta, int steps, int average, std::uint64_t seed) {
  const std::size_t k = r.size();
  nas::CategoricalPolicy policy(std::vector<std::size_t>{k}, {.learning_rate = 0.003, .momentum = 0.9, .entropy_weight = beta});
  nas::Rng rng(seed);
  std::vector<double> mean(k, 0.0);
  for (int t = 0; t < steps; ++t) {
    const auto c = policy.sample(rng);
    policy.update(c, r[static_cast<std::size_t>(c[0])]);
    if (t >= steps - average) {
      const auto p = policy.probabilities();
      for (std::size_t j = 0; j < k; ++j) mean[j] += p[j] / average;
    }
  }
  return mean;
}

}  // namespace

TEST_CASE("CategoricalPolicy's entropy is log k when uniform and falls as the policy learns", "[search][policy]") {
  nas::CategoricalPolicy policy(std::vector<std::size_t>{5, 2, 1}, {.learning_rate = 0.05});
  CHECK(policy.entropy(0) == Approx(std::log(5.0)));
  CHECK(policy.entropy(1) == Approx(std::log(2.0)));
  CHECK(policy.entropy(2) == Approx(0.0).margin(1e-12));
  CHECK(policy.mean_entropy() == Approx((std::log(5.0) + std::log(2.0)) / 3));
  REQUIRE_THROWS_WITH(policy.entropy(3), "CategoricalPolicy: decision 3 of 3");
  nas::Rng rng(1);
  for (int t = 0; t < 300; ++t) {
    const auto c = policy.sample(rng);
    policy.update(c, c[0] == 2 ? 1.0 : 0.0);
  }
  CHECK(policy.entropy(0) < 0.5 * std::log(5.0));
}

TEST_CASE("with an entropy bonus beta, a bandit's policy settles at softmax(momentum * r / beta) and without it on the best arm",
          "[search][policy]") {
  // The advantage is momentum (0.9) times R less the baseline before it took R in, so the
  // entropy-regularised optimum is softmax(0.9 r / beta).
  const std::vector<double> r{2.0, 1.0, 0.0};
  for (const double beta : {1.0, 2.0}) {
    const auto p = bandit(r, beta, 40000, 20000, 3);
    double z = 0.0;
    for (double x : r) z += std::exp(0.9 * x / beta);
    for (std::size_t j = 0; j < r.size(); ++j) {
      const double want = std::exp(0.9 * r[j] / beta) / z;
      INFO("beta " << beta << ", arm " << j << ": " << p[j] << " against " << want);
      CHECK(p[j] == Approx(want).margin(0.01));
    }
  }
  const auto greedy = bandit(r, 0.0, 40000, 1000, 3);
  CHECK(greedy[0] > 0.99);
}

TEST_CASE("CategoricalPolicy rejects a negative or non-finite entropy weight, naming its caller", "[search][policy][options]") {
  const std::vector<std::size_t> k{3};
  REQUIRE_THROWS_WITH(nas::CategoricalPolicy(k, {.entropy_weight = -1.0}, "EnasController"),
                      "EnasController: entropy_weight (-1.000000) must be finite and >= 0");
  REQUIRE_THROWS_AS(nas::CategoricalPolicy(k, {.entropy_weight = std::nan("")}), nas::ConfigError);
}
