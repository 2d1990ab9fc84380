// Multi-fidelity strategies over the trained estimator: resumed evaluations are charged their extra epochs only, and a
// promoted candidate whose network was evicted from the estimator's cache is reported as restarted.
#include <catch2/catch.hpp>

#include <nas/data/synthetic.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/exec/driver.hpp>
#include <nas/exec/thread_pool.hpp>
#include <nas/search/successive_halving.hpp>

namespace {

const nas::TrainTest& synthetic() {
  static const nas::TrainTest d = nas::make_synthetic(
      {.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 128, .test = 64, .noise = 0.3, .max_shift = 1, .seed = 3});
  return d;
}

nas::TrainingOptions tiny(std::size_t cache) {
  return {.network = {.channels = 4, .cells = 1}, .epochs = 1.0, .max_epochs = 3.0, .batch_size = 32, .lr = 0.05, .threads = 1,
          .seed = 1, .cache_size = cache};
}

// Successive halving over 6 candidates at 1 epoch, the best 2 continued to 3 epochs.
nas::Result<nas::Nb201Arch> halving(nas::TrainedEstimator<nas::Nb201Space>& est) {
  return nas::SuccessiveHalving({.eta = 3.0, .min_fidelity = 1.0, .max_fidelity = 3.0, .candidates = 6, .seed = 2})
      .run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 8});
}

}  // namespace

TEST_CASE("A promoted candidate resumes and is charged its extra epochs; the budget is charged what each evaluation cost",
          "[exec][trained]") {
  const auto& d = synthetic();
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, tiny(16));
  const auto r = halving(est);
  REQUIRE(r.history.size() == 8);
  double charged = 0.0, epochs = 0.0;
  for (const auto& t : r.history) {
    charged += t.eval.cost_seconds;
    epochs += t.eval.epochs;
    if (t.fidelity.epochs == 3.0) {
      CHECK(t.eval.metrics.get_or("resumed_from_epochs", -1) == 1.0);
      CHECK(t.eval.epochs == 2.0);  // the extra epochs only
    }
  }
  CHECK(r.history.total_cost() == Approx(charged));
  CHECK(epochs == 6 * 1.0 + 2 * 2.0);
}

TEST_CASE("A promoted candidate evicted from the trained estimator's cache is reported as restarted and trains in full",
          "[exec][trained]") {
  const auto& d = synthetic();
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, tiny(1));  // keeps the last network only
  const auto r = halving(est);
  REQUIRE(r.history.size() == 8);
  std::size_t restarted = 0;
  for (std::size_t i = 6; i < 8; ++i) {
    const auto& t = r.history[i];
    REQUIRE(t.fidelity.epochs == 3.0);
    const double from = t.eval.metrics.get_or("resumed_from_epochs", -1);
    if (from == 0.0) {
      ++restarted;
      CHECK(t.eval.epochs == 3.0);  // trained from scratch, and charged for it
    } else {
      CHECK(from == 1.0);
      CHECK(t.eval.epochs == 2.0);
    }
  }
  // Only the last candidate of the rung is still cached, so at least one of the two is not.
  CHECK(restarted >= 1);

  // Restarted or resumed, the 3-epoch result is the same training: equal to the large-cache run.
  nas::TrainedEstimator<nas::Nb201Space> roomy({}, d.train, d.test, tiny(16));
  const auto ref = halving(roomy);
  for (std::size_t i = 0; i < 8; ++i) CHECK(ref.history[i].eval.score == r.history[i].eval.score);
}
