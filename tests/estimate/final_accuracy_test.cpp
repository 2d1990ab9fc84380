// FinalAccuracy and the learning curve: ranking by what the final training delivers, fitted from a run's own data.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nas/data/synthetic.hpp>
#include <nas/estimate/final_accuracy.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/space/nb201_space.hpp>

namespace {

using Catch::Matchers::Contains;

const nas::Nb201Arch fast_cell = nas::Nb201Space::arch(1), slow_cell = nas::Nb201Space::arch(2);

// A short training's figures, fixed per cell: the fast cell trains an epoch in 1 s and
// reaches 73 %, the slow one takes 2 s and reaches 74 %.
struct Fixed {
  double fast_seconds = 1.0, slow_seconds = 2.0;
  bool with_metrics = true;
  int calls = 0;
  nas::Evaluation evaluate(const nas::Nb201Arch& a, nas::Fidelity) {
    ++calls;
    const bool fast = a == fast_cell;
    nas::Evaluation e;
    e.score = fast ? 73.0 : 74.0;
    e.epochs = calls > 2 ? 0.0 : 1.0;  // from the third call on: a cached run, nothing trained
    e.cost_seconds = fast ? fast_seconds : slow_seconds;
    if (with_metrics) e.metrics.set(nas::metric::train_seconds, calls > 2 ? 0.0 : e.cost_seconds).set(nas::metric::epochs_total, 1.0);
    return e;
  }
};

nas::FinalAccuracyOptions options(double final_seconds) {
  return {.final_seconds = final_seconds, .search_images_per_epoch = 2000, .slowdown = 1.0, .curve = {.exponent = 0.5, .floor = 0.25}};
}

}  // namespace

TEST_CASE("LearningCurve::error_after follows the power law towards its floor", "[final-accuracy]") {
  const nas::LearningCurve c{.exponent = 0.5, .floor = 0.25};
  // 4 times the images: (1/4)^0.5 = 1/2 of the part above the floor is left.
  CHECK(c.error_after(20.0, 100.0, 400.0) == Approx(20.0 * (0.25 + 0.75 * 0.5)));
  CHECK(c.error_after(20.0, 100.0, 100.0) == Approx(20.0));
  CHECK(c.error_after(20.0, 100.0, 1e12) == Approx(5.0).margin(1e-3));  // the plateau: a quarter of 20
  CHECK_THROWS_WITH((nas::LearningCurve{.exponent = 0.0}.validate("here")), Contains("exponent (0.000000) must be in (0, 2]"));
  CHECK_THROWS_WITH((nas::LearningCurve{.floor = 1.0}.validate("here")), Contains("floor (1.000000) must be in [0, 1)"));
}

// The synthetic case with a known answer. With x = (2000 / images_fast)^0.5 and
// images_fast = T / (1 s / 2000) = 2000 T, x = T^-0.5; the slow cell sees half the images,
// so its x is sqrt(2) times larger. Fast error 27 (0.25 + 0.75 x), slow 26 (0.25 + 0.75
// sqrt(2) x): the fast cell is better while 0.25 < (0.75 * 26 * sqrt(2) - 0.75 * 27) x, that
// is x > 0.03412, T < 859 s.
TEST_CASE("FinalAccuracy ranks a cell twice as fast above a slightly better slow one while the time left is short", "[final-accuracy]") {
  SECTION("100 s of final training: the fast cell") {
    Fixed inner;
    nas::FinalAccuracy objective(inner, options(100.0));
    const auto fast = objective.evaluate(fast_cell, nas::Fidelity{1});
    const auto slow = objective.evaluate(slow_cell, nas::Fidelity{1});
    // By hand: fast x = 0.1, error 27 * 0.325 = 8.775; slow x = 0.14142, error 26 * 0.356066 = 9.2577.
    CHECK(fast.score == Approx(100.0 - 8.775).epsilon(1e-6));
    CHECK(slow.score == Approx(100.0 - 9.25772).epsilon(1e-5));
    CHECK(fast.score > slow.score);
    CHECK(*fast.metrics.get("accuracy") == 73.0);  // the short training's accuracy is kept
    CHECK(*fast.metrics.get("seconds_per_image") == Approx(1.0 / 2000));
    CHECK(*slow.metrics.get("final_images") == Approx(100.0 / (2.0 / 2000)));
  }
  SECTION("near the threshold and far past it: the slow cell") {
    for (double seconds : {1000.0, 1e5}) {
      Fixed inner;
      nas::FinalAccuracy objective(inner, options(seconds));
      const auto fast = objective.evaluate(fast_cell, nas::Fidelity{1});
      const auto slow = objective.evaluate(slow_cell, nas::Fidelity{1});
      CHECK(slow.score > fast.score);
    }
    Fixed inner;
    nas::FinalAccuracy objective(inner, options(800.0));  // just inside the threshold
    const auto fast = objective.evaluate(fast_cell, nas::Fidelity{1});
    CHECK(fast.score > objective.evaluate(slow_cell, nas::Fidelity{1}).score);
  }
  SECTION("the slowdown of the final recipe moves the threshold, not the order at short times") {
    Fixed inner;
    auto o = options(100.0 * 8.0);
    o.slowdown = 8.0;  // 8 times the time at 8 times the cost per image: the same images as 100 s above
    nas::FinalAccuracy objective(inner, o);
    CHECK(objective.evaluate(fast_cell, nas::Fidelity{1}).score == Approx(100.0 - 8.775).epsilon(1e-6));
  }
}

TEST_CASE("FinalAccuracy keeps a cell's measured pace when a cached run trains nothing", "[final-accuracy]") {
  Fixed inner;
  nas::FinalAccuracy objective(inner, options(100.0));
  const double first = objective.evaluate(fast_cell, nas::Fidelity{1}).score;
  (void)objective.evaluate(slow_cell, nas::Fidelity{1});
  const auto again = objective.evaluate(fast_cell, nas::Fidelity{1});  // epochs 0, train_seconds 0
  CHECK(again.score == Approx(first));

  Fixed never;
  never.calls = 2;  // every call is a cached one: no pace to use
  nas::FinalAccuracy blind(never, options(100.0));
  const auto e = blind.evaluate(fast_cell, nas::Fidelity{1});
  CHECK_FALSE(e.ok());
  CHECK_THAT(e.reason, Contains("no training pace"));
}

TEST_CASE("FinalAccuracy refuses bad options and estimators without the metrics it reads", "[final-accuracy]") {
  Fixed inner;
  CHECK_THROWS_WITH(nas::FinalAccuracy(inner, options(0.0)), Contains("final_seconds (0.000000) must be a finite number > 0"));
  auto o = options(100.0);
  o.search_images_per_epoch = -1;
  CHECK_THROWS_WITH(nas::FinalAccuracy(inner, o), Contains("search_images_per_epoch (-1.000000)"));
  o = options(100.0);
  o.slowdown = std::nan("");
  CHECK_THROWS_WITH(nas::FinalAccuracy(inner, o), Contains("slowdown (nan)"));
  Fixed bare;
  bare.with_metrics = false;
  nas::FinalAccuracy objective(bare, options(100.0));
  CHECK_THROWS_WITH(objective.evaluate(fast_cell, nas::Fidelity{1}), Contains("no 'train_seconds' or 'epochs_total' metric"));
}

TEST_CASE("fit_learning_curve recovers a known curve from points at two length ratios", "[final-accuracy]") {
  const nas::LearningCurve truth{.exponent = 0.4, .floor = 0.3};
  std::vector<nas::CurvePoint> points;
  for (double error_lo : {20.0, 26.0, 31.0})
    for (double ratio : {3.0, 9.0}) points.push_back({1000, error_lo, 1000 * ratio, truth.error_after(error_lo, 1000, 1000 * ratio)});
  const auto fit = nas::fit_learning_curve(points, {.exponent = 0.8, .floor = 0.1}, 0.0);
  CHECK(fit.exponent == Approx(0.4).margin(0.011));
  CHECK(fit.floor == Approx(0.3).margin(0.011));
  // Nothing usable: the prior comes back.
  const std::vector<nas::CurvePoint> junk{{0, 10, 100, 5}, {100, 10, 100, 5}, {100, std::nan(""), 300, 5}};
  const auto none = nas::fit_learning_curve(junk, {.exponent = 0.7, .floor = 0.2});
  CHECK(none.exponent == 0.7);
  CHECK(none.floor == 0.2);
  CHECK_THROWS_WITH(nas::fit_learning_curve(points, {}, -1.0), Contains("prior_weight (-1.000000)"));
}

TEST_CASE("curve_points pairs each promoted cell's longer trainings with its shortest", "[final-accuracy]") {
  nas::History<nas::Nb201Arch> h;
  const auto add = [&](const nas::Nb201Arch& a, double epochs, double accuracy, bool ok = true) {
    nas::Trial<nas::Nb201Arch> t;
    t.arch = a;
    t.fidelity = nas::Fidelity{epochs};
    t.eval = ok ? nas::Evaluation{} : nas::Evaluation::failed("diverged");
    t.eval.score = accuracy;
    t.eval.metrics.set(nas::metric::epochs_total, epochs);
    h.push(t);
  };
  add(fast_cell, 1.0, 70.0);
  add(slow_cell, 1.0, 60.0);
  add(fast_cell, 3.0, 80.0);
  add(fast_cell, 9.0, 85.0);
  add(slow_cell, 3.0, 99.0, false);  // failed: not a point
  const auto p = nas::curve_points(h, 500.0);
  REQUIRE(p.size() == 2);
  CHECK(p[0].images_lo == 500.0);
  CHECK(p[0].error_lo == Approx(30.0));
  CHECK(p[0].images == 1500.0);
  CHECK(p[0].error == Approx(20.0));
  CHECK(p[1].images == 4500.0);
  CHECK(p[1].error == Approx(15.0));
  CHECK_THROWS_WITH(nas::curve_points(h, 0.0), Contains("images_per_epoch (0.000000) must be > 0"));
}

TEST_CASE("FinalAccuracy over real training: a Hyperband run gives curve points, and longer final training predicts more", "[final-accuracy]") {
  static const nas::TrainTest d = nas::make_synthetic(
      {.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 256, .test = 128, .noise = 0.3, .max_shift = 1, .seed = 3});
  const nas::Nb201Space space;
  nas::TrainedEstimator<nas::Nb201Space> trained(
      space, d.train, d.test,
      {.network = {.channels = 4, .cells = 1}, .epochs = 1, .max_epochs = 9, .batch_size = 32, .lr = 0.05, .threads = 1, .seed = 1,
       .cache_size = 16});
  nas::FinalAccuracy objective(trained, {.final_seconds = 60, .search_images_per_epoch = 256});
  const auto r = nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 2}).run(space, objective, {.evaluations = 20});
  REQUIRE(r.found);
  const auto points = nas::curve_points(r.history, 256.0);
  CHECK_FALSE(points.empty());  // promoted cells were trained longer
  for (const auto& t : r.history) {
    if (!t.eval.ok()) continue;
    const double acc = *t.eval.metrics.get("accuracy");
    CHECK(*t.eval.metrics.get(nas::metric::valid_accuracy) == acc);
    CHECK(t.eval.score >= acc);  // 60 s is far more training than a few epochs on 256 images
    CHECK(t.eval.score <= 100.0);
  }
}

TEST_CASE("FinalAccuracy made from a temporary owns its estimator", "[final-accuracy]") {
  nas::FinalAccuracy owned(Fixed{}, options(100.0));
  static_assert(std::is_same_v<decltype(owned), nas::FinalAccuracy<Fixed>>);
  Fixed inner;
  nas::FinalAccuracy referring(inner, options(100.0));
  static_assert(std::is_same_v<decltype(referring), nas::FinalAccuracy<Fixed&>>);
  CHECK(owned.evaluate(fast_cell, nas::Fidelity{1}).score == Approx(referring.evaluate(fast_cell, nas::Fidelity{1}).score));
  CHECK(inner.calls == 1);
}

// The defaults are the library's own fit to the measured cells the report lists: each
// cell's error after the search's short training (1 epoch on 2,000 images) and after its
// final training (epochs x 50,000 images) on the validation split.
TEST_CASE("LearningCurve's defaults are fit_learning_curve's answer on the measured cells", "[final-accuracy]") {
  std::vector<nas::CurvePoint> points;
  for (const char* name : {"search_controls_valid_60s.json", "search_controls_valid_120s.json"}) {
    std::ifstream in(std::filesystem::path(NAS_SOURCE_DIR) / "benchmarks" / "reports" / name);
    REQUIRE(in);
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& r : j.at("controls"))
      points.push_back({.images_lo = 2000.0,
                        .error_lo = 100.0 - r.at("short_accuracy").get<double>(),
                        .images = r.at("epochs_per_network").get<double>() * 50000.0,
                        .error = 100.0 - r.at("accuracy").get<double>()});
  }
  REQUIRE(points.size() == 22);
  const nas::LearningCurve fitted = nas::fit_learning_curve(points, {.exponent = 1.0, .floor = 0.5}, 0.0);
  const nas::LearningCurve defaults{};
  CHECK(fitted.exponent == Approx(defaults.exponent).margin(0.005));
  CHECK(fitted.floor == Approx(defaults.floor).margin(0.005));
}
