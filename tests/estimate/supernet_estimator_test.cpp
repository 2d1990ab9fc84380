// SupernetEstimator: BN recalibration changes only the statistics, leaves the shared state intact, and ranks paths.
#include <catch2/catch.hpp>

#include <nas/data/synthetic.hpp>
#include <nas/estimate/supernet_estimator.hpp>
#include <nas/search/categorical_view.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/oneshot.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/tensor/activation.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/compare.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <map>
#include <string>
#include <vector>

namespace {

using nas::testing::same_bits;

const nas::Nb201Space nb201;

std::map<std::string, nas::Tensor> snapshot(nas::Module& m) {
  std::map<std::string, nas::Tensor> s;
  for (auto& np : m.named_state()) s[np.path] = np.parameter->value;
  return s;
}

nas::TrainTest toy_data() {
  return nas::make_synthetic({.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 256, .test = 128, .noise = 0.3, .seed = 8});
}

// A supernet trained for a few uniform single-path epochs on the toy problem (shared by
// the tests below: each copies nothing and must leave it as it found it).
nas::Supernet<nas::Nb201Space>& trained_supernet() {
  static const auto data = toy_data();
  static const auto super = [] {
    auto s = std::make_unique<nas::Supernet<nas::Nb201Space>>(nb201, nas::NetworkInput::of(data.train),
                                                               nas::SupernetOptions{.channels = 8, .cells = 1, .seed = 4});
    (void)nas::OneShot<nas::UniformPaths>({.epochs = 10, .batch_size = 32, .lr = 0.05, .seed = 1}).train(*s, nb201, data.train);
    return s;
  }();
  return *super;
}

const auto good_path = nb201.decode("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
const auto bad_path = nb201.decode("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|");  // the cell outputs zeros

}  // namespace

TEST_CASE("recalibrate_batch_norm sets each BatchNorm's statistics to the mean over batches of the batch statistics",
          "[estimate][supernet]") {
  // BN -> ReLU -> BN: the second BatchNorm sees the first one's output normalised with
  // batch statistics.
  nas::Sequential net;
  auto& bn1 = net.emplace<nas::BatchNorm2d>(2);
  net.emplace<nas::ReLU>();
  auto& bn2 = net.emplace<nas::BatchNorm2d>(2);
  std::vector<nas::Tensor> batches;
  for (int b = 0; b < 3; ++b) {
    nas::Tensor x = nas::testing::random_tensor(nas::Shape{4, 2, 3, 3}, 10 + static_cast<std::uint64_t>(b));
    for (std::size_t i = 0; i < x.numel(); ++i) x[i] = x[i] * static_cast<float>(1 + b) + static_cast<float>(b);
    batches.push_back(x);
  }
  // The expected statistics, in double: per batch, mean and unbiased variance per channel.
  auto stats = [](const std::vector<double>& v) {
    double m = 0, ss = 0;
    for (double a : v) m += a;
    m /= static_cast<double>(v.size());
    for (double a : v) ss += (a - m) * (a - m);
    return std::pair{m, ss / static_cast<double>(v.size() - 1)};
  };
  double mean1[2] = {0, 0}, var1[2] = {0, 0}, mean2[2] = {0, 0}, var2[2] = {0, 0};
  for (const auto& x : batches)
    for (int c = 0; c < 2; ++c) {
      std::vector<double> v;
      for (int n = 0; n < 4; ++n)
        for (int i = 0; i < 9; ++i) v.push_back(x[static_cast<std::size_t>((n * 2 + c) * 9 + i)]);
      const auto [m, var] = stats(v);
      const double biased = var * static_cast<double>(v.size() - 1) / static_cast<double>(v.size());
      std::vector<double> h;
      for (double a : v) h.push_back(std::max(0.0, (a - m) / std::sqrt(biased + 1e-5)));
      const auto [m2, var2c] = stats(h);
      mean1[c] += m / 3;
      var1[c] += var / 3;
      mean2[c] += m2 / 3;
      var2[c] += var2c / 3;
    }
  const auto weights = bn1.named_parameters();
  net.eval();
  nas::recalibrate_batch_norm(net, batches);
  CHECK(!net.is_training());  // the mode it found
  for (int c = 0; c < 2; ++c) {
    const auto k = static_cast<std::size_t>(c);
    CHECK(bn1.running_mean()[k] == Approx(mean1[c]).epsilon(1e-5));
    CHECK(bn1.running_var()[k] == Approx(var1[c]).epsilon(1e-5));
    CHECK(bn2.running_mean()[k] == Approx(mean2[c]).epsilon(1e-4));
    CHECK(bn2.running_var()[k] == Approx(var2[c]).epsilon(1e-4));
  }
  for (auto& np : bn1.named_parameters()) CHECK(std::all_of(np.parameter->grad.begin(), np.parameter->grad.end(), [](float g) { return g == 0.0f; }));
  REQUIRE_THROWS_WITH(nas::recalibrate_batch_norm(net, std::vector<nas::Tensor>{}), "recalibrate_batch_norm: no calibration batches");
}

TEST_CASE("a SupernetEstimator evaluation leaves every weight and statistic of the supernet as it found it, in any order",
          "[estimate][supernet]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  const auto before = snapshot(super);
  nas::SupernetEstimator<nas::Nb201Space> est(super, data.train, data.test, {.calibration_batches = 4, .batch_size = 32});
  const auto a1 = est.evaluate(good_path);
  const auto b = est.evaluate(nb201.decode("|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"));
  const auto a2 = est.evaluate(good_path);
  REQUIRE(a1.ok());
  CHECK(a1.score == a2.score);
  CHECK(a1.metrics.get(nas::metric::valid_loss) == a2.metrics.get(nas::metric::valid_loss));
  CHECK(b.metrics.get(nas::metric::valid_loss) != a1.metrics.get(nas::metric::valid_loss));
  const auto after = snapshot(super);
  for (const auto& [p, v] : before) {
    INFO(p);
    CHECK(same_bits(v, after.at(p)));
  }
  // Recalibration is what differs from scoring with the shared training statistics.
  nas::SupernetEstimator<nas::Nb201Space> plain(super, data.train, data.test, {.calibration_batches = 0});
  CHECK(plain.evaluate(good_path).metrics.get(nas::metric::valid_loss) != a1.metrics.get(nas::metric::valid_loss));
}

TEST_CASE("a SupernetEstimator score equals the stand-alone network's with inherited weights, recalibrated alike",
          "[estimate][supernet]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  nas::SupernetEstimator<nas::Nb201Space> est(super, data.train, data.test, {.calibration_batches = 3, .batch_size = 32});
  nas::Rng rng(5);
  for (int t = 0; t < 3; ++t) {
    const auto arch = nb201.sample(rng);
    INFO(nb201.encode(arch));
    const auto e = est.evaluate(arch);
    nas::CellNetwork<nas::Nb201Space> net(nb201, arch, super.input(), {.channels = 8, .cells = 1});
    super.copy_to(net);
    nas::recalibrate_batch_norm(net, est.calibration_batches());
    const auto r = nas::evaluate_network(net, data.test);
    CHECK(e.score == r.accuracy);
    CHECK(e.metrics.get(nas::metric::valid_loss) == r.loss);  // the NB201 path is bit-identical to its network
  }
}

TEST_CASE("on a toy problem the trained supernet ranks a known-good path above a known-bad one", "[estimate][supernet]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  nas::SupernetEstimator<nas::Nb201Space> est(super, data.train, data.test, {.calibration_batches = 4, .batch_size = 32});
  const double good = est.evaluate(good_path).score, bad = est.evaluate(bad_path).score;
  INFO("good " << good << "%, bad " << bad << "%");
  CHECK(bad < 40.0);  // four classes: chance is 25%
  CHECK(good > bad + 30.0);
}

TEST_CASE("discrete strategies search on a SupernetEstimator unchanged", "[estimate][supernet]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  nas::SupernetEstimator<nas::Nb201Space> est(super, data.train, data.test, {.calibration_batches = 2, .batch_size = 32});
  const nas::Budget budget{.evaluations = 12};
  const auto rea = nas::RegularizedEvolution({.population = 6, .sample = 3, .seed = 2}).run(nb201, est, budget);
  const auto rs = nas::RandomSearch({.seed = 2}).run(nb201, est, budget);
  const auto view = nas::categorical(nb201);
  const auto rl = nas::Reinforce({.seed = 2}).run(view, est, budget);
  for (const auto* r : {&rea, &rs, &rl}) {
    REQUIRE(r->found);
    CHECK(r->history.size() == 12);
    // The recommended architecture scores the same when evaluated again: no state leaks.
    CHECK(est.evaluate(r->best).score == r->best_eval.score);
  }
}

TEST_CASE("few-shot sub-supernets are routed to by the architecture's op on the split edge", "[estimate][supernet][fewshot]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  nas::FewShotSupernet<nas::Nb201Space> few(nb201, super, 0);
  nas::SupernetEstimator<nas::Nb201Space> split(few.router(), data.train, data.test, {.calibration_batches = 2, .batch_size = 32});
  nas::SupernetEstimator<nas::Nb201Space> whole(super, data.train, data.test, {.calibration_batches = 2, .batch_size = 32});
  // Untrained sub-supernets are copies: the same scores as the supernet.
  CHECK(split.evaluate(good_path).score == whole.evaluate(good_path).score);
  // Move sub-supernet 3's weights: only architectures with nor_conv_3x3 on edge 0 see it.
  for (nas::Parameter* p : few.sub(3).parameters()) p->value.fill(0.0f);
  CHECK(split.evaluate(good_path).score != whole.evaluate(good_path).score);
  const auto other = nb201.decode("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  CHECK(split.evaluate(other).score == whole.evaluate(other).score);
}

TEST_CASE("SupernetEstimator rejects bad options and data", "[estimate][supernet][options]") {
  const auto data = toy_data();
  auto& super = trained_supernet();
  REQUIRE_THROWS_WITH(nas::SupernetEstimator<nas::Nb201Space>(super, data.train, data.test, {.batch_size = 1}),
                      "SupernetEstimator: batch_size (1) must be >= 2 (BatchNorm needs a batch)");
  const auto rgb = nas::make_synthetic({.classes = 4, .channels = 3, .height = 8, .width = 8, .train = 32, .test = 16});
  nas::SupernetEstimator<nas::Nb201Space> est(super, rgb.train, rgb.test);
  REQUIRE_THROWS_WITH(est.evaluate(good_path),
                      "SupernetEstimator::evaluate: the supernet takes 1x8x8 images of 4 classes, the data differ");
}
