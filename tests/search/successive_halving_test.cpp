// SuccessiveHalving and Hyperband: rung sizes, the promoted sets and the recommendation, on deterministic toys.
#include <catch2/catch.hpp>

#include <nas/search/hyperband.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/testing/choice_space.hpp>
#include <nas/testing/toy_estimator.hpp>

#include <algorithm>
#include <map>
#include <vector>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::ChoiceSpace;

// A deterministic value per architecture of a 3x10 space (distinct for distinct archs).
double value(const ChoiceArch& a) { return a.choices[0] * 100.0 + a.choices[1] * 10.0 + a.choices[2]; }

// Rankings that reverse between fidelities: at 1 epoch the highest value leads, at 3
// epochs the lowest, at 9 epochs the highest again. Promotion must use the current rung.
double reversing(const ChoiceArch& a, nas::Fidelity f) { return f.epochs == 3.0 ? -value(a) : value(a); }

std::vector<ChoiceArch> archs_at(const nas::History<ChoiceArch>& h, std::size_t from, std::size_t count) {
  std::vector<ChoiceArch> out;
  for (std::size_t i = from; i < from + count; ++i) out.push_back(h[i].arch);
  return out;
}

std::vector<ChoiceArch> top_by(std::vector<ChoiceArch> archs, std::size_t k, double epochs) {
  std::stable_sort(archs.begin(), archs.end(), [&](const ChoiceArch& a, const ChoiceArch& b) {
    return reversing(a, {epochs}) > reversing(b, {epochs});
  });
  archs.resize(k);
  return archs;
}

bool same_set(std::vector<ChoiceArch> a, std::vector<ChoiceArch> b) {
  const auto less = [](const ChoiceArch& x, const ChoiceArch& y) { return x.choices < y.choices; };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  return a == b;
}

}  // namespace

TEST_CASE("SuccessiveHalving evaluates 9, 3, 1 candidates at 1, 3, 9 epochs and promotes the top third of each rung",
          "[search][halving]") {
  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::SuccessiveHalving sh({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .candidates = 9, .seed = 5});
  const auto r = sh.run(space, est, nas::Budget{.evaluations = 13});
  const auto& h = r.history;
  REQUIRE(h.size() == 13);
  for (std::size_t i = 0; i < 9; ++i) REQUIRE(h[i].fidelity.epochs == 1.0);
  for (std::size_t i = 9; i < 12; ++i) REQUIRE(h[i].fidelity.epochs == 3.0);
  REQUIRE(h[12].fidelity.epochs == 9.0);

  const auto rung0 = archs_at(h, 0, 9);
  const auto rung1 = archs_at(h, 9, 3);
  REQUIRE(same_set(rung1, top_by(rung0, 3, 1.0)));  // best three at 1 epoch
  const auto winner = top_by(rung1, 1, 3.0);        // best at 3 epochs = lowest value of those
  REQUIRE(h[12].arch == winner[0]);
  // The recommendation is the last rung's winner, not the best 1-epoch score.
  REQUIRE(r.best == winner[0]);
  REQUIRE(r.best_eval.score == value(winner[0]));
  REQUIRE(r.history.best()->fidelity.epochs != 9.0);
}

TEST_CASE("SuccessiveHalving's ladder is min*eta^k below max, then max", "[search][halving]") {
  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::SuccessiveHalving sh({.eta = 3, .min_fidelity = 2, .max_fidelity = 20, .candidates = 9});
  const auto r = sh.run(space, est, nas::Budget{.evaluations = 13});
  std::map<double, int> per_rung;
  for (const auto& t : r.history) ++per_rung[t.fidelity.epochs];
  REQUIRE(per_rung == std::map<double, int>{{2.0, 9}, {6.0, 3}, {18.0, 1}});
  // 18 is below 20, so a fourth rung at max_fidelity follows with a single candidate.
  const auto r2 = sh.run(space, est, nas::Budget{.evaluations = 14});
  REQUIRE(r2.history.back().fidelity.epochs == 20.0);
  REQUIRE(r2.best == r2.history.back().arch);
}

TEST_CASE("SuccessiveHalving repeats brackets with fresh candidates until the budget is spent", "[search][halving]") {
  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::SuccessiveHalving sh({.eta = 3, .fidelities = {1, 3, 9}, .candidates = 9, .seed = 2});
  const auto r = sh.run(space, est, nas::Budget{.evaluations = 13 * 3 + 4});
  std::map<double, int> per_rung;
  for (const auto& t : r.history) ++per_rung[t.fidelity.epochs];
  REQUIRE(per_rung == std::map<double, int>{{1.0, 31}, {3.0, 9}, {9.0, 3}});
  // Best of the three 9-epoch winners.
  double best9 = -1e9;
  for (const auto& t : r.history)
    if (t.fidelity.epochs == 9.0) best9 = std::max(best9, t.eval.score);
  REQUIRE(r.best_eval.score == best9);
}

TEST_CASE("SuccessiveHalving derives its candidates from an evaluation budget", "[search][halving]") {
  const nas::SuccessiveHalving sh({.eta = 3, .fidelities = {1, 3, 9}});
  // n + floor(n/3) + floor(n/9) <= 40 is largest at n = 28 (28 + 9 + 3 = 40; 29 + 9 + 3 = 41).
  REQUIRE(sh.initial_candidates(3, nas::Budget{.evaluations = 40}) == 28);
  // Without an evaluation budget: eta^(rungs - 1).
  REQUIRE(sh.initial_candidates(3, nas::Budget{.cost_seconds = 100.0}) == 9);
  REQUIRE(nas::SuccessiveHalving({.candidates = 5}).initial_candidates(3, nas::Budget{.evaluations = 40}) == 5);
}

TEST_CASE("SuccessiveHalving promotes only ok candidates", "[search][halving]") {
  const ChoiceSpace space(3, 10);
  // The three best 1-epoch values fail; the promoted set is the next three.
  nas::testing::FunctionEstimator est{[](const ChoiceArch& a, nas::Fidelity f) {
    return a.choices[0] >= 7 ? std::numeric_limits<double>::quiet_NaN() : value(a) + f.epochs;
  }};
  const nas::SuccessiveHalving sh({.eta = 3, .fidelities = {1, 3}, .candidates = 30, .seed = 9});
  const auto r = sh.run(space, est, nas::Budget{.evaluations = 40});
  std::vector<ChoiceArch> ok0;
  for (std::size_t i = 0; i < 30; ++i)
    if (r.history[i].eval.ok()) ok0.push_back(r.history[i].arch);
  REQUIRE(ok0.size() >= 10);
  REQUIRE(same_set(archs_at(r.history, 30, 10), top_by(ok0, 10, 1.0)));
  for (std::size_t i = 30; i < 40; ++i) REQUIRE(r.history[i].eval.ok());
}

TEST_CASE("Hyperband runs Li et al.'s brackets: 9@1->3@3->1@9, 5@3->1@9, 3@9", "[search][hyperband]") {
  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::Hyperband hb({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 4});
  REQUIRE(hb.hyperband_ladder() == std::vector<double>{1, 3, 9});
  REQUIRE(hb.bracket_size(2, 2) == 9);
  REQUIRE(hb.bracket_size(1, 2) == 5);
  REQUIRE(hb.bracket_size(0, 2) == 3);
  const auto r = hb.run(space, est, nas::Budget{.evaluations = 22});
  std::vector<double> fidelities;
  for (const auto& t : r.history) fidelities.push_back(t.fidelity.epochs);
  const std::vector<double> expected{1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 9, 3, 3, 3, 3, 3, 9, 9, 9, 9};
  REQUIRE(fidelities == expected);
  // Bracket 1 promotes the best 3-epoch score of its five (the lowest value).
  REQUIRE(r.history[18].arch == top_by(archs_at(r.history, 13, 5), 1, 3.0)[0]);
  // The recommendation: the best score among the six 9-epoch evaluations.
  double best9 = -1e9;
  for (const auto& t : r.history)
    if (t.fidelity.epochs == 9.0) best9 = std::max(best9, t.eval.score);
  REQUIRE(r.best_eval.score == best9);
  REQUIRE(r.best_eval.score == value(r.best));
}

TEST_CASE("Hyperband rounds its ladder down from max_fidelity and accepts an explicit two-rung ladder",
          "[search][hyperband]") {
  // max/min = 200/12: s_max = floor(log3 16.7) = 2, rungs 200/9, 200/3, 200.
  const nas::Hyperband hb({.eta = 3, .min_fidelity = 12, .max_fidelity = 200});
  const auto ladder = hb.hyperband_ladder();
  REQUIRE(ladder.size() == 3);
  REQUIRE(ladder[0] == Approx(200.0 / 9));
  REQUIRE(ladder[2] == 200.0);

  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::Hyperband two({.eta = 4, .fidelities = {12, 200}});
  // s_max = 1: bracket 1 has ceil(2/2 * 4) = 4 at 12 then 1 at 200; bracket 0 has 2 at 200.
  const auto r = two.run(space, est, nas::Budget{.evaluations = 7});
  std::vector<double> fidelities;
  for (const auto& t : r.history) fidelities.push_back(t.fidelity.epochs);
  REQUIRE(fidelities == std::vector<double>{12, 12, 12, 12, 200, 200, 200});
}

TEST_CASE("SuccessiveHalving and Hyperband reject bad ladders with the value in the message", "[search][options]") {
  const ChoiceSpace space(3, 10);
  nas::testing::FunctionEstimator est{reversing};
  const nas::Budget budget{.evaluations = 10};
  REQUIRE_THROWS_WITH(nas::SuccessiveHalving({.eta = 1}).run(space, est, budget),
                      Catch::Contains("SuccessiveHalving::run") && Catch::Contains("eta (1) must be > 1"));
  REQUIRE_THROWS_WITH(nas::SuccessiveHalving({.fidelities = {12, 12}}).run(space, est, budget),
                      Catch::Contains("12 follows 12"));
  REQUIRE_THROWS_WITH(nas::Hyperband({.min_fidelity = 10, .max_fidelity = 5}).run(space, est, budget),
                      Catch::Contains("Hyperband::run") && Catch::Contains("max_fidelity (5)") && Catch::Contains("(10)"));
  REQUIRE_THROWS_AS(nas::Hyperband({.min_fidelity = 0}).run(space, est, budget), nas::ConfigError);
}
