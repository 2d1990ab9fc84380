// categorical(space) for Nb201Space and CellSpace: the mapping round trips and counts the space.
#include <catch2/catch.hpp>

#include <nas/search/categorical_view.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/testing/toy_estimator.hpp>

#include <set>

static_assert(nas::CategoricalSpace<decltype(nas::categorical(std::declval<const nas::Nb201Space&>()))>);
static_assert(nas::CategoricalSpace<decltype(nas::categorical(std::declval<const nas::CellSpace&>()))>);

namespace {
template <class View>
nas::SpaceSize product_of_choices(const View& v) {
  nas::SpaceSize s(1);
  for (std::size_t i = 0; i < v.num_decisions(); ++i) s *= nas::SpaceSize(v.num_choices(i));
  return s;
}

template <class View>
void require_round_trips(const View& v, int n) {
  nas::Rng rng(5);
  for (int i = 0; i < n; ++i) {
    const auto a = v.sample(rng);
    const auto c = v.to_choices(a);
    REQUIRE(c.size() == v.num_decisions());
    for (std::size_t d = 0; d < c.size(); ++d) {
      REQUIRE(c[d] >= 0);
      REQUIRE(static_cast<std::size_t>(c[d]) < v.num_choices(d));
    }
    REQUIRE(v.from_choices(c) == a);
  }
}
}  // namespace

TEST_CASE("categorical(Nb201Space) is 6 decisions of 5 ops covering all 15625 cells", "[search][categorical]") {
  const nas::Nb201Space space;
  const auto v = nas::categorical(space);
  REQUIRE(v.num_decisions() == 6);
  REQUIRE(product_of_choices(v) == space.size());
  require_round_trips(v, 200);
  const std::vector<int> c{3, 3, 3, 3, 3, 3};
  REQUIRE(v.encode(v.from_choices(c)) == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  const std::vector<int> bad{3, 3, 5, 3, 3, 3};
  REQUIRE_THROWS_WITH(v.from_choices(bad), Catch::Contains("choice 5 of decision 2"));
}

TEST_CASE("categorical(CellSpace) covers the seed space and the DARTS space exactly", "[search][categorical]") {
  const auto seed = nas::CellSpace::seed();
  const auto vs = nas::categorical(seed);
  REQUIRE(vs.num_decisions() == 16);
  REQUIRE(product_of_choices(vs) == seed.size());  // 5,625,000,000
  require_round_trips(vs, 300);

  const auto darts = nas::CellSpace::darts();
  const auto vd = nas::categorical(darts);
  REQUIRE(vd.num_decisions() == 24);
  REQUIRE(product_of_choices(vd) == darts.size());
  require_round_trips(vd, 300);
  // Every input pair of the last node (m = 5: 10 pairs) decodes to distinct sorted inputs.
  std::set<std::pair<int, int>> pairs;
  nas::Rng rng(1);
  std::vector<int> c = vd.to_choices(darts.sample(rng));
  for (int p = 0; p < 10; ++p) {
    c[9] = p;
    const auto a = vd.from_choices(c);
    REQUIRE(a.normal[6].input < a.normal[7].input);
    pairs.insert({a.normal[6].input, a.normal[7].input});
  }
  REQUIRE(pairs.size() == 10);
}

TEST_CASE("Reinforce runs on the NB201 space through its categorical view", "[search][categorical][reinforce]") {
  const nas::Nb201Space space;
  const auto view = nas::categorical(space);
  // Score: number of 3x3 convolutions; the optimum is the all-conv3x3 cell.
  nas::testing::FunctionEstimator est{[](const nas::Nb201Arch& a, nas::Fidelity) {
    double s = 0;
    for (auto o : a.ops) s += o == nas::nb201::conv3x3;
    return s;
  }};
  const auto r = nas::Reinforce({.learning_rate = 0.1, .seed = 2}).run(view, est, nas::Budget{.evaluations = 400});
  REQUIRE(r.best_eval.score == 6.0);
}
