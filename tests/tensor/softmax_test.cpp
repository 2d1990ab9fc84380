// softmax: known values, stability for large logits, rows, and the size checks.
#include <catch2/catch.hpp>

#include <nas/tensor/softmax.hpp>

#include <array>
#include <cmath>
#include <vector>

TEST_CASE("softmax gives the normalised exponentials", "[tensor][softmax]") {
  const std::array<double, 3> z{0.0, std::log(2.0), std::log(5.0)};  // e^z = 1, 2, 5
  std::array<double, 3> p{};
  nas::softmax(std::span<const double>(z), std::span<double>(p));
  CHECK(p[0] == Approx(1.0 / 8.0));
  CHECK(p[1] == Approx(2.0 / 8.0));
  CHECK(p[2] == Approx(5.0 / 8.0));

  const std::array<float, 4> zeros{};
  std::array<double, 4> uniform{};
  nas::softmax(std::span<const float>(zeros), std::span<double>(uniform));
  for (double u : uniform) CHECK(u == 0.25);
}

TEST_CASE("softmax does not overflow for large logits and is shift invariant", "[tensor][softmax]") {
  std::vector<float> big{1000.0f, 1001.0f}, small{0.0f, 1.0f}, pb(2), ps(2);
  nas::softmax(std::span<const float>(big), std::span<float>(pb));
  nas::softmax(std::span<const float>(small), std::span<float>(ps));
  CHECK(std::isfinite(pb[0]));
  CHECK(pb[0] == Approx(ps[0]));
  CHECK(pb[1] == Approx(1.0 / (1.0 + std::exp(-1.0))));
  // In place.
  nas::softmax(std::span<const float>(big), std::span<float>(big));
  CHECK(big[1] == Approx(pb[1]));
}

TEST_CASE("softmax_rows normalises each row on its own", "[tensor][softmax]") {
  const std::vector<float> z{0.0f, 0.0f, 5.0f, 5.0f, 0.0f, 0.0f};
  std::vector<float> p(6);
  nas::softmax_rows(std::span<const float>(z), std::span<float>(p), 3);
  CHECK(p[0] == Approx(p[1]));
  CHECK(p[0] + p[1] + p[2] == Approx(1.0));
  CHECK(p[3] + p[4] + p[5] == Approx(1.0));
  CHECK(p[3] == Approx(std::exp(5.0) / (std::exp(5.0) + 2.0)));
}

TEST_CASE("softmax rejects mismatched or empty rows", "[tensor][softmax]") {
  std::vector<float> z(3), p(2), none;
  CHECK_THROWS_AS(nas::softmax(std::span<const float>(z), std::span<float>(p)), nas::ConfigError);
  CHECK_THROWS_AS(nas::softmax(std::span<const float>(none), std::span<float>(none)), nas::ConfigError);
  std::vector<float> q(3);
  CHECK_THROWS_WITH(nas::softmax_rows(std::span<const float>(z), std::span<float>(q), 2), Catch::Contains("rows of 2"));
}
