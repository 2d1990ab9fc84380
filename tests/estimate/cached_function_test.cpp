// Cached<Est> memoization and FunctionEstimator adapters.
#include <catch2/catch.hpp>

#include <nas/estimate/cached.hpp>
#include <nas/estimate/function.hpp>
#include <nas/space/nb201_space.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

using nas::Nb201Arch;

namespace {
// Counts calls; score = first op code, cost 10 s, epochs as asked.
struct CountingEstimator {
  using Arch = Nb201Arch;
  int calls = 0;
  nas::Evaluation evaluate(const Nb201Arch& a, nas::Fidelity f) {
    ++calls;
    nas::Evaluation e;
    e.score = a.ops[0] + f.epochs / 1000.0;
    e.cost_seconds = 10.0;
    e.epochs = f.epochs;
    e.metrics.set("calls", calls);
    return e;
  }
};
}  // namespace

static_assert(nas::check_estimator<nas::Cached<CountingEstimator>, Nb201Arch>());
static_assert(nas::check_estimator<nas::FunctionEstimator<Nb201Arch>, Nb201Arch>());

TEST_CASE("Cached evaluates each (arch, fidelity) once and charges nothing for hits", "[estimate][cached]") {
  nas::Cached<CountingEstimator> est(CountingEstimator{});
  const Nb201Arch a{{3, 0, 0, 0, 0, 0}}, b{{4, 0, 0, 0, 0, 0}};
  const auto first = est.evaluate(a, nas::Fidelity{12});
  REQUIRE(first.cost_seconds == 10.0);
  const auto again = est.evaluate(a, nas::Fidelity{12});
  REQUIRE(again.cost_seconds == 0.0);
  REQUIRE(again.score == first.score);
  REQUIRE(again.epochs == 12.0);
  REQUIRE(again.metrics.get("calls") == 1.0);
  REQUIRE(est.hits() == 1);
  REQUIRE(est.misses() == 1);
  (void)est.evaluate(a, nas::Fidelity{200});  // another fidelity is another key
  (void)est.evaluate(b, nas::Fidelity{12});
  REQUIRE(est.misses() == 3);
  REQUIRE(est.size() == 3);
  REQUIRE(est.inner().calls == 3);
  REQUIRE(est.contains(b, nas::Fidelity{12}));
  REQUIRE_FALSE(est.contains(b, nas::Fidelity{200}));
  est.clear();
  REQUIRE(est.size() == 0);
  REQUIRE(est.hits() == 0);
}

TEST_CASE("Cached with charge_hits repeats the original cost", "[estimate][cached]") {
  nas::Cached<CountingEstimator> est(CountingEstimator{}, /*charge_hits=*/true);
  const Nb201Arch a{};
  (void)est.evaluate(a, nas::Fidelity{});
  REQUIRE(est.evaluate(a, nas::Fidelity{}).cost_seconds == 10.0);
  REQUIRE(est.inner().calls == 1);
}

TEST_CASE("FunctionEstimator adapts score functions and full evaluators", "[estimate][function]") {
  nas::FunctionEstimator<Nb201Arch> by_score([](const Nb201Arch& a) { return 1.0 * a.ops[1]; });
  REQUIRE(by_score.evaluate(Nb201Arch{{0, 4, 0, 0, 0, 0}}, {}).score == 4.0);
  nas::FunctionEstimator<Nb201Arch> full([](const Nb201Arch&, nas::Fidelity f) {
    nas::Evaluation e;
    e.score = 0.5;
    e.cost_seconds = f.epochs * 2;
    e.epochs = f.epochs;
    return e;
  });
  const auto e = full.evaluate(Nb201Arch{}, nas::Fidelity{3});
  REQUIRE(e.score == 0.5);
  REQUIRE(e.cost_seconds == 6.0);
  auto typed = nas::make_function_estimator<Nb201Arch>([](const Nb201Arch&, nas::Fidelity f) { return f.epochs; });
  REQUIRE(typed.evaluate(Nb201Arch{}, nas::Fidelity{7}).score == 7.0);
}

TEST_CASE("FunctionEstimator turns NaN scores and exceptions into failed evaluations", "[estimate][function]") {
  nas::FunctionEstimator<Nb201Arch> nan_score([](const Nb201Arch&) { return std::numeric_limits<double>::quiet_NaN(); });
  const auto e = nan_score.evaluate(Nb201Arch{}, {});
  REQUIRE_FALSE(e.ok());
  REQUIRE_THAT(e.reason, Catch::Contains("non-finite"));
  nas::FunctionEstimator<Nb201Arch> throws([](const Nb201Arch&) -> double { throw std::runtime_error("diverged"); });
  const auto f = throws.evaluate(Nb201Arch{}, {});
  REQUIRE_FALSE(f.ok());
  REQUIRE_THAT(f.reason, Catch::Contains("diverged"));
  REQUIRE_FALSE(nas::better(f, nas::Evaluation{}));
}
