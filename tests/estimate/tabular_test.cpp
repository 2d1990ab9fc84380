// TabularEstimator: the NAS-Bench-201 protocol (12-epoch score and cost), fidelities, metrics.
#include <catch2/catch.hpp>

#include <nas/estimate/tabular.hpp>

#include <filesystem>
#include <memory>
#include <set>

namespace {

std::shared_ptr<const nas::Nb201Table> shared_table() {
  static const auto t = std::make_shared<const nas::Nb201Table>(
      nas::Nb201Table::load(std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201" / "nb201.csv.gz"));
  return t;
}

const nas::Nb201Arch kOptimum{{3, 3, 3, 1, 3, 2}};  // index 6111

}  // namespace

static_assert(nas::check_estimator<nas::TabularEstimator, nas::Nb201Arch>());

TEST_CASE("TabularEstimator by default scores the 12-epoch valid accuracy and charges 12/200 of the time",
          "[estimate][tabular]") {
  const nas::TabularEstimator est(shared_table());
  const auto& r = shared_table()->at(6111);
  const auto e = est.evaluate(kOptimum, nas::Fidelity{});
  REQUIRE(e.ok());
  // The published row 6111 (cifar10_valid_12ep, train_time_s_cifar10valid, ...), as
  // printed in the table file: the estimator must pick these columns, not others.
  REQUIRE(e.score == Approx(84.384).margin(1e-9));
  REQUIRE(e.cost_seconds == Approx(2879.749334 * 0.06).epsilon(1e-12));  // 12 of 200 epochs
  REQUIRE(e.epochs == 12.0);
  REQUIRE(e.metrics.get("test_accuracy") == Approx(88.79).margin(1e-9));
  REQUIRE(e.metrics.get("valid_accuracy_200") == Approx(91.606667).margin(1e-9));
  REQUIRE(e.metrics.get("test_accuracy_200") == Approx(94.373333).margin(1e-9));
  // Counts under the shared names, not the table's millions.
  REQUIRE(e.metrics.get(nas::metric::params) == Approx(1073466.0).margin(1e-3));
  REQUIRE(e.metrics.get(nas::metric::macs) == Approx(153272970.0).margin(1e-1));
  REQUIRE(!e.metrics.contains("params_m"));
  REQUIRE(!e.metrics.contains("flops_m"));
  REQUIRE(est.score(kOptimum) == e.score);
  REQUIRE(&est.record(kOptimum) == &r);
}

TEST_CASE("TabularEstimator at 200 epochs scores the final valid accuracy at full cost", "[estimate][tabular]") {
  const nas::TabularEstimator est(shared_table(), {.dataset = nas::Nb201Dataset::cifar100});
  const nas::Nb201Arch skip{{1, 1, 1, 1, 1, 1}};
  const auto e = est.evaluate(skip, nas::Fidelity{200});
  REQUIRE(e.score == Approx(15.033).margin(1e-3));
  REQUIRE(e.cost_seconds == Approx(1148.11732).margin(1e-9));  // train_time_s_cifar100 of row 1835
  REQUIRE(e.epochs == 200.0);
  REQUIRE(e.metrics.get("test_accuracy") == Approx(15.607).margin(1e-3));
  const auto twelve = est.evaluate(skip, nas::Fidelity{12});
  REQUIRE(twelve.score == Approx(10.32).margin(1e-9));
  REQUIRE(twelve.cost_seconds == Approx(1148.11732 * 12.0 / 200.0).epsilon(1e-12));
}

TEST_CASE("TabularEstimator rounds other fidelities up to the next schedule, or rejects them", "[estimate][tabular]") {
  const nas::TabularEstimator lenient(shared_table(), {.dataset = nas::Nb201Dataset::imagenet16});
  REQUIRE(lenient.evaluate(kOptimum, nas::Fidelity{3}).score == Approx(37.133333).margin(1e-9));
  REQUIRE(lenient.evaluate(kOptimum, nas::Fidelity{3}).epochs == 12.0);
  REQUIRE(lenient.evaluate(kOptimum, nas::Fidelity{50}).score == Approx(45.555556).margin(1e-9));
  REQUIRE(lenient.evaluate(kOptimum, nas::Fidelity{50}).cost_seconds == Approx(17474.318958).margin(1e-9));
  REQUIRE_THROWS_AS(lenient.evaluate(kOptimum, nas::Fidelity{201}), nas::ConfigError);
  const nas::TabularEstimator strict(shared_table(), {.fidelity_rule = nas::Nb201FidelityRule::exact});
  REQUIRE_THROWS_WITH(strict.evaluate(kOptimum, nas::Fidelity{50}), Catch::Contains("50") && Catch::Contains("exact"));
  REQUIRE(strict.evaluate(kOptimum, nas::Fidelity{200}).epochs == 200.0);
  const nas::TabularEstimator full_default(shared_table(), {.default_epochs = 200});
  REQUIRE(full_default.evaluate(kOptimum).epochs == 200.0);
  REQUIRE_THROWS_AS(nas::TabularEstimator(shared_table(), {.default_epochs = 0}), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::TabularEstimator(shared_table(), {.default_epochs = 30, .fidelity_rule = nas::Nb201FidelityRule::exact}),
                    nas::ConfigError);
}

TEST_CASE("TabularEstimator without metrics returns score and cost only", "[estimate][tabular]") {
  const nas::TabularEstimator est(shared_table(), {.metrics = false});
  const auto e = est.evaluate(kOptimum);
  REQUIRE(e.metrics.empty());
  REQUIRE(e.score == Approx(84.384).margin(1e-9));
}

TEST_CASE("TabularEstimator copies share the table and agree", "[estimate][tabular]") {
  const nas::TabularEstimator a(shared_table());
  const nas::TabularEstimator b = a;
  REQUIRE(&a.table() == &b.table());
  nas::Rng rng(5);
  const nas::Nb201Space space;
  for (int i = 0; i < 200; ++i) {
    const auto arch = space.sample(rng);
    REQUIRE(a.evaluate(arch).score == b.evaluate(arch).score);
    REQUIRE(a.score(arch) == shared_table()->at(nas::Nb201Space::index(arch)).valid_12ep[0]);
  }
}

TEST_CASE("TabularEstimator oracle finds the benchmark's optima", "[estimate][tabular]") {
  const auto c10 = nas::TabularEstimator(shared_table()).oracle();
  REQUIRE(c10.best_test_index == 6111);
  REQUIRE(c10.best_test == Approx(94.3733).margin(1e-4));
  REQUIRE(c10.best_valid == Approx(91.6067).margin(1e-4));
  REQUIRE(c10.best_valid_index == 6111);
  const auto c100 = nas::TabularEstimator(shared_table(), {.dataset = nas::Nb201Dataset::cifar100}).oracle();
  REQUIRE(c100.best_test_index == 9930);
  REQUIRE(c100.best_test == Approx(73.5133).margin(1e-4));
  REQUIRE(c100.best_valid == Approx(73.4933).margin(1e-4));
  const auto in16 = nas::TabularEstimator(shared_table(), {.dataset = nas::Nb201Dataset::imagenet16}).oracle();
  REQUIRE(in16.best_valid == Approx(46.7333).margin(1e-4));
  REQUIRE(in16.best_test == Approx(47.3111).margin(1e-4));
}

TEST_CASE("nb201::resnet is the benchmark's ResNet cell: index 11472, 93.91 % CIFAR-10 test", "[estimate][tabular]") {
  const nas::Nb201Space space;
  const nas::Nb201Arch resnet = space.decode(nas::nb201::resnet);
  CHECK(space.encode(resnet) == nas::nb201::resnet);
  const nas::Nb201Record& r = shared_table()->at(resnet);
  CHECK(r.index == 11472);
  CHECK(r.test[0] == Approx(93.91));
  // Its output node sums the input and the two convolutions in a row: nothing is dead.
  CHECK(resnet.ops[5] == nas::nb201::skip);
}

TEST_CASE("TabularEstimator per-seed mode draws single runs at 200 epochs, cifar10 only", "[estimate][tabular]") {
  REQUIRE_THROWS_WITH(nas::TabularEstimator(shared_table(), {.per_seed = true}), Catch::Contains("load_seeds"));
  auto with_seeds = std::make_shared<nas::Nb201Table>(*shared_table());
  with_seeds->load_seeds(std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201" / "nb201_seeds.csv.gz");
  REQUIRE_THROWS_WITH(nas::TabularEstimator(with_seeds, {.dataset = nas::Nb201Dataset::cifar100, .per_seed = true}),
                      Catch::Contains("cifar10 only"));
  const nas::TabularEstimator noisy(with_seeds, {.per_seed = true, .seed = 3});
  const auto runs = with_seeds->seeds(6111);
  std::set<double> seen;
  for (int i = 0; i < 200; ++i) {
    const auto e = noisy.evaluate(kOptimum, nas::Fidelity{200});
    bool is_a_run = false;
    for (const auto& r : runs)
      if (r.cifar10_valid == e.score && r.seed == e.metrics.get("seed")) is_a_run = true;
    REQUIRE(is_a_run);
    seen.insert(e.score);
  }
  REQUIRE(seen.size() == runs.size());  // every run shows up
  // 12-epoch evaluations are still the means.
  REQUIRE(noisy.evaluate(kOptimum, nas::Fidelity{12}).score == with_seeds->at(6111).valid_12ep[0]);
}
