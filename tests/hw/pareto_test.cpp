// Pareto tools against brute force and hand-computed hypervolumes; MnasNet's reward and the latency objectives.
#include <catch2/catch.hpp>

#include <nas/core/rng.hpp>
#include <nas/hw/objectives.hpp>
#include <nas/hw/pareto.hpp>

#include <cmath>
#include <vector>

namespace {

using Points = std::vector<std::vector<double>>;

// Random points on a small integer grid, so that ties and duplicates occur.
Points grid_points(std::size_t n, std::size_t dims, int levels, nas::Rng& rng) {
  Points p(n, std::vector<double>(dims));
  for (auto& q : p)
    for (auto& v : q) v = static_cast<double>(rng.index(static_cast<std::size_t>(levels)));
  return p;
}

// Front k by definition: the points of the remaining set that no remaining point dominates.
std::vector<std::vector<std::size_t>> brute_fronts(const Points& p) {
  std::vector<std::vector<std::size_t>> fronts;
  std::vector<char> left(p.size(), 1);
  std::size_t remaining = p.size();
  while (remaining > 0) {
    std::vector<std::size_t> f;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (!left[i]) continue;
      bool dominated = false;
      for (std::size_t j = 0; j < p.size() && !dominated; ++j) dominated = left[j] && nas::dominates(p[j], p[i]);
      if (!dominated) f.push_back(i);
    }
    for (std::size_t i : f) left[i] = 0;
    remaining -= f.size();
    fronts.push_back(f);
  }
  return fronts;
}

// Exact volume for integer points by counting the unit cells [c, c+1)^d below ref that
// some point weakly dominates.
double brute_hypervolume(const Points& p, const std::vector<int>& ref) {
  const std::size_t d = ref.size();
  std::vector<int> cell(d, 0);
  double count = 0;
  for (;;) {
    bool covered = false;
    for (const auto& q : p) {
      bool all = true;
      for (std::size_t i = 0; i < d && all; ++i) all = q[i] <= cell[i];
      if (all) {
        covered = true;
        break;
      }
    }
    count += covered ? 1 : 0;
    std::size_t i = 0;
    while (i < d && ++cell[i] == ref[i]) cell[i++] = 0;
    if (i == d) break;
  }
  return count;
}

}  // namespace

TEST_CASE("dominates needs no worse in every coordinate and better in one", "[hw][pareto]") {
  const std::vector<double> a{1, 2}, b{1, 3}, c{0, 4};
  CHECK(nas::dominates(a, b));
  CHECK_FALSE(nas::dominates(b, a));
  CHECK_FALSE(nas::dominates(a, a));  // equal points do not dominate each other
  CHECK_FALSE(nas::dominates(a, c));
  CHECK_FALSE(nas::dominates(c, a));
  const std::vector<nas::Objective> obj{{"acc", nas::Sense::maximize}, {"ms", nas::Sense::minimize}};
  CHECK(nas::to_minimized(std::vector<double>{90, 5}, obj) == std::vector<double>{-90, 5});
}

TEST_CASE("non_dominated_sort and pareto_front equal the definition on random points with ties", "[hw][pareto]") {
  nas::Rng rng(7);
  for (std::size_t dims : {2u, 3u})
    for (int trial = 0; trial < 40; ++trial) {
      const Points p = grid_points(1 + rng.index(60), dims, 6, rng);
      INFO("dims " << dims << ", trial " << trial << ", " << p.size() << " points");
      const auto fronts = nas::non_dominated_sort(p);
      REQUIRE(fronts == brute_fronts(p));
      CHECK(nas::pareto_front(p) == fronts.front());
    }
  CHECK(nas::non_dominated_sort({}).empty());
  CHECK_THROWS_WITH(nas::non_dominated_sort({{1, 2}, {1, 2, 3}}), Catch::Contains("point 1 has 3 coordinates"));
}

TEST_CASE("crowding distance: extremes are infinite, inner points sum normalized neighbour gaps", "[hw][pareto]") {
  const Points p{{0, 4}, {1, 2}, {2, 1}, {4, 0}};
  const std::vector<std::size_t> front{0, 1, 2, 3};
  const auto d = nas::crowding_distance(p, front);
  CHECK(std::isinf(d[0]));
  CHECK(std::isinf(d[3]));
  // point 1: x gap (2 - 0) / 4, y gap (4 - 1) / 4; point 2: x (4 - 1) / 4, y (2 - 0) / 4.
  CHECK(d[1] == Approx(0.5 + 0.75));
  CHECK(d[2] == Approx(0.75 + 0.5));
}

TEST_CASE("hypervolume equals hand-computed areas and volumes", "[hw][pareto]") {
  CHECK(nas::hypervolume({{1, 3}, {2, 2}, {3, 1}}, std::vector<double>{4, 4}) == 6.0);
  CHECK(nas::hypervolume({{1, 3}, {2, 2}, {3, 1}, {3, 3}}, std::vector<double>{4, 4}) == 6.0);  // a dominated point adds nothing
  CHECK(nas::hypervolume({{5, 1}}, std::vector<double>{4, 4}) == 0.0);  // beyond the reference point
  CHECK(nas::hypervolume({}, std::vector<double>{4, 4}) == 0.0);
  CHECK(nas::hypervolume({{1, 1, 1}}, std::vector<double>{2, 2, 2}) == 1.0);
  // Boxes of 2 and 4 overlapping in a unit cube.
  CHECK(nas::hypervolume({{0, 1, 1}, {1, 0, 0}}, std::vector<double>{2, 2, 2}) == 5.0);
  CHECK_THROWS_WITH(nas::hypervolume({{1, 1, 1, 1}}, std::vector<double>{2, 2, 2, 2}), Catch::Contains("2 or 3 supported"));
}

TEST_CASE("hypervolume equals a cell count on random integer points in 2-D and 3-D", "[hw][pareto]") {
  nas::Rng rng(11);
  for (std::size_t dims : {2u, 3u})
    for (int trial = 0; trial < 30; ++trial) {
      const Points p = grid_points(1 + rng.index(25), dims, 8, rng);
      const std::vector<int> ref(dims, 8);
      const std::vector<double> refd(ref.begin(), ref.end());
      INFO("dims " << dims << ", trial " << trial);
      CHECK(nas::hypervolume(p, refd) == brute_hypervolume(p, ref));
    }
}

TEST_CASE("ParetoArchive keeps exactly the non-dominated points, in the objectives' own senses", "[hw][pareto]") {
  const std::vector<nas::Objective> obj{{"acc", nas::Sense::maximize}, {"ms", nas::Sense::minimize}};
  nas::ParetoArchive<int> archive(obj);
  nas::Rng rng(3);
  Points seen;
  for (int i = 0; i < 300; ++i) {
    std::vector<double> v{static_cast<double>(rng.index(20)), static_cast<double>(rng.index(20))};
    archive.add(i, v);
    seen.push_back(nas::to_minimized(v, obj));
  }
  std::vector<int> expected;
  for (std::size_t i : nas::pareto_front(seen)) expected.push_back(static_cast<int>(i));
  std::vector<int> got;
  for (const auto& e : archive.entries()) got.push_back(e.arch);
  std::sort(got.begin(), got.end());
  CHECK(got == expected);
  const std::vector<double> ref{0, 20};
  CHECK(archive.hypervolume(ref) == nas::hypervolume(seen, std::vector<double>{0, 20}));
  const int held = archive.entries().front().arch;
  CHECK_FALSE(archive.add(held, {100, 0}));  // an architecture already held is not added again
  CHECK(archive.size() == expected.size());
}

TEST_CASE("mnas_reward is accuracy x (latency / target)^w with the paper's soft and hard exponents", "[hw][objectives]") {
  using O = nas::MnasRewardOptions;
  CHECK(nas::mnas_reward(0.75, 10.0, O::soft(10.0)) == Approx(0.75));
  CHECK(nas::mnas_reward(0.75, 20.0, O::soft(10.0)) == Approx(0.75 * std::pow(2.0, -0.07)));
  CHECK(nas::mnas_reward(0.75, 5.0, O::soft(10.0)) == Approx(0.75 * std::pow(0.5, -0.07)));  // faster earns more
  CHECK(nas::mnas_reward(0.75, 5.0, O::hard(10.0)) == Approx(0.75));                         // alpha = 0 below T
  CHECK(nas::mnas_reward(0.75, 20.0, O::hard(10.0)) == Approx(0.375));                       // beta = -1 above T
  CHECK_THROWS_WITH(nas::mnas_reward(0.75, 5.0, O::soft(0.0)), Catch::Contains("target_ms (0.000000) must be"));
  CHECK_THROWS_WITH(nas::mnas_reward(0.75, 0.0, O::soft(1.0)), Catch::Contains("latency_ms (0.000000) must be > 0"));
}

namespace {
// An accuracy estimator of ints: score = value, counting its calls.
struct IntAccuracy {
  int calls = 0;
  nas::Evaluation evaluate(int a, nas::Fidelity) {
    ++calls;
    nas::Evaluation e;
    e.score = a;
    e.cost_seconds = 1.0;
    e.metrics.set("valid_accuracy", a);
    return e;
  }
};
// Latency = 2 ms per unit.
struct IntLatency {
  nas::Evaluation evaluate(int a, nas::Fidelity) const {
    nas::Evaluation e;
    e.metrics.set("latency_ms", 2.0 * a);
    return e;
  }
};
}  // namespace

TEST_CASE("MnasReward scores by the reward and keeps accuracy and latency as metrics", "[hw][objectives]") {
  IntAccuracy acc;
  IntLatency lat;
  nas::MnasReward reward(acc, lat, nas::MnasRewardOptions::soft(10.0));
  const auto e = reward.evaluate(10, {});
  CHECK(e.score == Approx(10.0 * std::pow(2.0, -0.07)));
  CHECK(*e.metrics.get("accuracy") == 10.0);
  CHECK(*e.metrics.get("latency_ms") == 20.0);
  CHECK(*e.metrics.get("reward") == Approx(e.score));
  CHECK(e.cost_seconds == 1.0);
}

TEST_CASE("LatencyConstraint fails networks above the limit without paying for their accuracy", "[hw][objectives]") {
  IntAccuracy acc;
  IntLatency lat;
  nas::LatencyConstraint limited(acc, lat, 10.0);
  const auto slow = limited.evaluate(6, {});  // 12 ms
  CHECK_FALSE(slow.ok());
  CHECK_THAT(slow.reason, Catch::Contains("latency 12.000000 ms above the limit of 10.000000 ms"));
  CHECK(acc.calls == 0);
  const auto fast = limited.evaluate(5, {});  // 10 ms: at the limit is allowed
  CHECK(fast.ok());
  CHECK(fast.score == 5.0);
  CHECK(*fast.metrics.get("latency_ms") == 10.0);
  CHECK(acc.calls == 1);
  CHECK_THROWS_AS(nas::LatencyConstraint(acc, lat, -1.0), nas::ConfigError);
}

TEST_CASE("compare_fronts gives the hypervolume ratio and counts true-front points found", "[hw][pareto]") {
  const std::vector<std::vector<double>> truth{{1, 3}, {2, 2}, {3, 1}};
  const std::vector<double> ref{4, 4};
  const auto q = nas::compare_fronts({{1, 3}, {3, 1}, {3, 3}}, truth, ref);
  CHECK(q.true_hypervolume == 6.0);
  CHECK(q.hypervolume == 5.0);
  CHECK(q.ratio == Approx(5.0 / 6.0));
  CHECK(q.true_points == 3);
  CHECK(q.found_points == 2);
  // At t = (2, 2) the best found point with second coordinate <= 2 is (3, 1): gap 1.
  CHECK(q.mean_gap == Approx(1.0 / 3.0));
  CHECK(q.max_gap == 1.0);
  CHECK(q.median_gap == 0.0);
  const auto same = nas::compare_fronts(truth, truth, ref);
  CHECK(same.ratio == 1.0);
  CHECK(same.mean_gap == 0.0);
}
