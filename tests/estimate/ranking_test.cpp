// Ranking diagnostics: scipy's documented examples, ties, perfect and reversed orders, top-k overlap.
#include <catch2/catch.hpp>

#include <nas/estimate/ranking.hpp>

#include <cmath>
#include <limits>
#include <vector>

TEST_CASE("Spearman's rho and Kendall's tau-b equal scipy's documented examples (with ties)", "[estimate][ranking]") {
  // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) -> 0.8207826816681233
  const std::vector<double> a{1, 2, 3, 4, 5}, b{5, 6, 7, 8, 7};
  CHECK(nas::spearman_rho(a, b) == Approx(0.8207826816681233).epsilon(1e-12));
  // scipy.stats.kendalltau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) -> -0.47140452079103173
  const std::vector<double> x{12, 2, 1, 12, 2}, y{1, 4, 7, 1, 0};
  CHECK(nas::kendall_tau(x, y) == Approx(-0.47140452079103173).epsilon(1e-12));
}

TEST_CASE("Rank correlations are 1 for the same order, -1 for the reverse, and ignore monotone transforms", "[estimate][ranking]") {
  const std::vector<double> a{0.3, 1.5, -2.0, 7.0, 4.0, 0.0};
  std::vector<double> up, down;
  for (double v : a) up.push_back(std::exp(v)), down.push_back(-v * v * v);
  CHECK(nas::spearman_rho(a, up) == Approx(1.0));
  CHECK(nas::kendall_tau(a, up) == Approx(1.0));
  CHECK(nas::spearman_rho(a, down) == Approx(-1.0));
  CHECK(nas::kendall_tau(a, down) == Approx(-1.0));
  const std::vector<double> flat(6, 2.0);
  CHECK(nas::spearman_rho(a, flat) == 0.0);  // a constant side carries no order
  CHECK(nas::kendall_tau(a, flat) == 0.0);
}

TEST_CASE("average_ranks gives tied values the mean of their ranks", "[estimate][ranking]") {
  CHECK(nas::average_ranks(std::vector<double>{10, 20, 20, 5}) == std::vector<double>{2, 3.5, 3.5, 1});
}

TEST_CASE("top_k_overlap counts the shared members of the two top-k sets", "[estimate][ranking]") {
  const std::vector<double> a{9, 8, 7, 1, 0}, b{0, 8, 9, 7, 1};  // top 2: {0, 1} and {2, 1}
  CHECK(nas::top_k_overlap(a, b, 2) == 0.5);
  CHECK(nas::top_k_overlap(a, b, 3) == Approx(2.0 / 3.0));
  CHECK(nas::top_k_overlap(a, a, 3) == 1.0);
  CHECK_THROWS_WITH(nas::top_k_overlap(a, b, 6), "top_k_overlap: k (6) must be in [1, 5]");
}

TEST_CASE("Rank correlations refuse mismatched, too short or non-finite inputs, naming them", "[estimate][ranking]") {
  const std::vector<double> a{1, 2, 3}, b{1, 2};
  CHECK_THROWS_WITH(nas::spearman_rho(a, b), "spearman_rho: 3 and 2 scores (need one pair per architecture)");
  CHECK_THROWS_WITH(nas::kendall_tau(std::vector<double>{1}, std::vector<double>{1}), "kendall_tau: 1 pairs (need at least 2)");
  const std::vector<double> c{1, std::numeric_limits<double>::quiet_NaN(), 3};
  CHECK_THROWS_WITH(nas::kendall_tau(a, c), Catch::Contains("pair 1 is not finite"));
}
