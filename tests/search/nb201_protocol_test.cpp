// Strategies on the shipped NAS-Bench-201 table under the benchmark's protocol.
#include <catch2/catch.hpp>

#include <nas/estimate/tabular.hpp>
#include <nas/search/categorical_view.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/nb201_protocol.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/space/nb201_space.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace {
std::shared_ptr<const nas::Nb201Table> shipped_table() {
  const auto path = std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201" / "nb201.csv.gz";
  if (!std::filesystem::exists(path)) return nullptr;
  static const auto table = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load(path));
  return table;
}

template <class Strategy, class Space>
double mean_test(const Space& space, const nas::TabularEstimator& est, std::uint64_t runs, Strategy make) {
  double sum = 0;
  for (std::uint64_t r = 0; r < runs; ++r) {
    nas::TabularEstimator e = est;
    const auto result = make(r + 1).run(space, e, nas::Budget{.cost_seconds = 12000});
    REQUIRE(result.found);
    sum += e.record(result.best).test[0];
  }
  return sum / static_cast<double>(runs);
}
}  // namespace

TEST_CASE("On NAS-Bench-201 CIFAR-10, regularized evolution beats random search over 100 runs of 12000 s",
          "[search][nb201]") {
  const auto table = shipped_table();
  if (!table) {
    WARN("SKIPPED: data/nb201/nb201.csv.gz is absent");
    return;
  }
  const nas::Nb201Space space;
  const nas::TabularEstimator est(table, {.dataset = nas::Nb201Dataset::cifar10, .metrics = false});
  const double rs = mean_test(space, est, 100, [](std::uint64_t s) { return nas::RandomSearch({.fidelity = {12}, .seed = s}); });
  const double rea = mean_test(space, est, 100, [](std::uint64_t s) {
    return nas::RegularizedEvolution({.population = 10, .sample = 3, .fidelity = {12}, .seed = s});
  });
  const double rl = mean_test(nas::categorical(space), est, 100,
                              [](std::uint64_t s) { return nas::Reinforce({.learning_rate = 0.01, .fidelity = {12}, .seed = s}); });
  std::printf("NB201 CIFAR-10, 100 runs x 12000 s: mean test accuracy RS %.2f, REA %.2f, REINFORCE %.2f (optimum %.2f)\n", rs, rea,
              rl, est.oracle().best_test);
  REQUIRE(rea > rs);
  REQUIRE(rs > 93.0);
  REQUIRE(rl > 93.0);
}

TEST_CASE("Successive halving on NAS-Bench-201 recommends a cell evaluated at 200 epochs", "[search][nb201]") {
  const auto table = shipped_table();
  if (!table) {
    WARN("SKIPPED: data/nb201/nb201.csv.gz is absent");
    return;
  }
  const nas::Nb201Space space;
  nas::TabularEstimator est(table);
  const auto r = nas::SuccessiveHalving({.eta = 3, .fidelities = {12, 200}, .seed = 3}).run(space, est, nas::Budget{.cost_seconds = 12000});
  REQUIRE(r.found);
  REQUIRE(r.best_eval.epochs == 200.0);
  // The 200-epoch evaluation is charged the whole training time of the cell.
  REQUIRE(r.best_eval.cost_seconds == Approx(est.record(r.best).train_time_s[0]));
  REQUIRE(r.best_eval.score == Approx(est.record(r.best).valid[0]));
}

TEST_CASE("recommendations replays what a strategy would recommend after each trial", "[search][nb201]") {
  nas::History<int> h;
  const auto add = [&](int arch, double epochs, double score, bool ok = true) {
    nas::Trial<int> t;
    t.arch = arch;
    t.fidelity = nas::Fidelity{epochs};
    t.eval = ok ? nas::Evaluation{.score = score} : nas::Evaluation::failed("x");
    h.push(std::move(t));
  };
  add(0, 12, 50, false);  // a failed first trial recommends nothing
  add(1, 12, 60);
  add(2, 12, 70);
  add(3, 200, 65);        // lower score, higher fidelity
  add(4, 12, 90);
  const auto none = static_cast<std::size_t>(-1);
  CHECK(nas::recommendations(h, false) == std::vector<std::size_t>{none, 1, 2, 2, 4});
  CHECK(nas::recommendations(h, true) == std::vector<std::size_t>{none, 1, 2, 3, 3});
}

TEST_CASE("run_nb201_protocol gives the same summary on 1 and 2 threads, below the table's optimum", "[search][nb201]") {
  const auto table = shipped_table();
  REQUIRE(table);
  const nas::Nb201ProtocolSettings settings;
  const auto one = nas::run_nb201_protocol("rea", "cifar10", settings, table, 20, 12000, 7, 1);
  const auto two = nas::run_nb201_protocol("rea", "cifar10", settings, table, 20, 12000, 7, 2);
  CHECK(one.test_mean == two.test_mean);
  CHECK(one.valid_mean == two.valid_mean);
  REQUIRE(one.curve.size() == two.curve.size());
  for (std::size_t g = 0; g < one.curve.size(); ++g)  // NaN where too few runs recommend anything yet
    CHECK((one.curve[g] == two.curve[g] || (std::isnan(one.curve[g]) && std::isnan(two.curve[g]))));
  CHECK(one.valid_mean <= one.optimum_valid);
  CHECK(one.test_mean > 90.0);  // REA at 12000 s is within a few points of the 94.37 optimum
  CHECK(one.runs == 20);
}
