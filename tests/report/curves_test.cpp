// Curves across runs: grids, step sampling, point-wise statistics.
#include <catch2/catch.hpp>

#include <nas/report/curves.hpp>

#include <cmath>
#include <limits>

TEST_CASE("grids include both ends and are evenly spaced", "[report][curves]") {
  const auto g = nas::linear_grid(0.0, 10.0, 6);
  REQUIRE(g == std::vector<double>{0, 2, 4, 6, 8, 10});
  const auto l = nas::log_grid(1.0, 1000.0, 4);
  REQUIRE(l[0] == 1.0);
  REQUIRE(l[1] == Approx(10.0));
  REQUIRE(l[2] == Approx(100.0));
  REQUIRE(l[3] == 1000.0);
  REQUIRE_THROWS_AS(nas::log_grid(0.0, 1.0, 3), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::linear_grid(0.0, 1.0, 1), nas::ConfigError);
}

TEST_CASE("step_at holds the last value at or before each grid point", "[report][curves]") {
  const auto v = nas::step_at({1.0, 3.0, 7.0}, {0.5, 0.6, 0.9}, {0.0, 1.0, 2.0, 3.0, 6.9, 7.0, 100.0});
  REQUIRE(std::isnan(v[0]));
  REQUIRE(v[1] == 0.5);
  REQUIRE(v[2] == 0.5);
  REQUIRE(v[3] == 0.6);
  REQUIRE(v[4] == 0.6);
  REQUIRE(v[5] == 0.9);
  REQUIRE(v[6] == 0.9);
  REQUIRE_THROWS_AS(nas::step_at({2.0, 1.0}, {0, 0}, {1.0}), nas::ConfigError);
}

TEST_CASE("summarize_curves gives mean, sample std and quantiles, skipping non-finite values", "[report][curves]") {
  const double ninf = -std::numeric_limits<double>::infinity();
  const auto s = nas::summarize_curves({{1.0, ninf, 2.0}, {3.0, ninf, 4.0}, {5.0, 7.0, 6.0}, {7.0, ninf, 8.0}});
  REQUIRE(s.mean[0] == Approx(4.0));
  REQUIRE(s.std[0] == Approx(std::sqrt(20.0 / 3.0)));
  REQUIRE(s.median[0] == Approx(4.0));
  REQUIRE(s.lower[0] == Approx(2.5));  // numpy.quantile([1,3,5,7], 0.25)
  REQUIRE(s.upper[0] == Approx(5.5));
  REQUIRE(s.count[1] == 1);
  REQUIRE(s.mean[1] == 7.0);
  REQUIRE(s.std[1] == 0.0);
  const auto none = nas::summarize_curves({{std::nan("")}});
  REQUIRE(none.count[0] == 0);
  REQUIRE(std::isnan(none.mean[0]));
  REQUIRE_THROWS_AS(nas::summarize_curves({{1.0}, {1.0, 2.0}}), nas::ConfigError);
}
