// TrainedEstimator and final_training: learning, failure on NaN, resuming across fidelities, determinism.
#include <catch2/catch.hpp>

#include <filesystem>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stop_token>
#include <thread>
#include <vector>

#include <nas/data/synthetic.hpp>
#include <nas/model/save.hpp>
#include <nas/estimate/cached.hpp>
#include <nas/estimate/final_training.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/successive_halving.hpp>

namespace {

// 4 classes of 8x8 single-channel patterns with noise: learnable in a few epochs.
const nas::TrainTest& synthetic() {
  static const nas::TrainTest d = nas::make_synthetic(
      {.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 256, .test = 128, .noise = 0.3, .max_shift = 1, .seed = 3});
  return d;
}

nas::TrainingOptions tiny(double epochs = 1.0) {
  return {.network = {.channels = 4, .cells = 1}, .epochs = epochs, .batch_size = 32, .lr = 0.05, .threads = 1, .seed = 1};
}

const nas::Nb201Arch conv_arch = nas::Nb201Space{}.decode(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|");

// Accuracy (%) of the mean of `members`' class probabilities over `data`: argmax by hand.
double hand_accuracy(const std::vector<const std::vector<float>*>& members, const nas::Dataset& data) {
  const auto classes = static_cast<std::size_t>(data.classes);
  int hits = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    std::size_t best = 0;
    double best_p = -1.0;
    for (std::size_t k = 0; k < classes; ++k) {
      double p = 0.0;
      for (const auto* m : members) p += (*m)[i * classes + k];
      if (p > best_p) best_p = p, best = k;
    }
    hits += static_cast<int>(best) == data.labels[i];
  }
  return 100.0 * hits / static_cast<double>(data.size());
}

}  // namespace

TEST_CASE("training on synthetic data learns: validation accuracy well above chance", "[estimate][trained]") {
  const auto& d = synthetic();
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, tiny(6.0));
  const auto e = est.evaluate(conv_arch);
  INFO(e.reason);
  REQUIRE(e.ok());
  CHECK(e.score > 70.0);  // chance is 25%
  CHECK(e.metrics.get_or("valid_accuracy", -1) == e.score);
  // The score is the share of validation images the trained network gets right: train the
  // same run by hand and count its argmax hits one image at a time.
  nas::TrainingRun<nas::Nb201Space> run({}, conv_arch, d.train, tiny(6.0),
                                        nas::mix_seed(1, std::hash<nas::Nb201Arch>{}(conv_arch)));
  REQUIRE(run.train_to(run.steps_for(6.0), run.steps_for(6.0)));
  auto& net = run.network();
  net.eval();
  int hits = 0;
  nas::Tensor x(nas::Shape{1, 1, 8, 8});
  for (std::size_t i = 0; i < d.test.size(); ++i) {
    std::copy_n(d.test.images.data() + i * 64, 64, x.data());
    const nas::Tensor& logits = net.forward(x);
    int best = 0;
    for (int k = 1; k < 4; ++k)
      if (logits.data()[k] > logits.data()[best]) best = k;
    hits += best == d.test.labels[i];
  }
  CHECK(e.score == Approx(100.0 * hits / static_cast<double>(d.test.size())));
  CHECK(e.metrics.get_or("train_loss", 99) < std::log(4.0));
  CHECK(e.metrics.get_or("params", 0) > 0);
  CHECK(e.metrics.get_or(nas::metric::macs, 0) > 0);
  CHECK(e.epochs == Approx(6.0));
  CHECK(e.cost_seconds > 0.0);
}

TEST_CASE("the same seed and thread count give the same evaluation twice, on one and on two threads",
          "[estimate][trained][threads]") {
  const auto& d = synthetic();
  for (int threads : {1, 2}) {
    INFO(threads << " threads");
    auto o = tiny(1.0);
    o.threads = threads;
    o.network.channels = 16;  // planes enough for the parallel paths
    nas::TrainedEstimator<nas::Nb201Space> a({}, d.train, d.test, o);
    nas::TrainedEstimator<nas::Nb201Space> b({}, d.train, d.test, o);
    const auto ea = a.evaluate(conv_arch);
    const auto eb = b.evaluate(conv_arch);
    REQUIRE(ea.ok());
    CHECK(ea.score == eb.score);
    CHECK(ea.metrics.get_or("valid_loss", 0) == eb.metrics.get_or("valid_loss", 1));
    CHECK(ea.metrics.get_or("train_loss", 0) == eb.metrics.get_or("train_loss", 1));
  }
  nas::set_num_threads(1);
}

TEST_CASE("a NaN loss fails the evaluation with its reason and a search over it goes on", "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.lr = 1e12;
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, o);
  const auto e = est.evaluate(conv_arch);
  CHECK_FALSE(e.ok());
  CHECK(e.reason.find("loss became") != std::string::npos);
  CHECK(e.reason.find("epoch 1 step") != std::string::npos);

  nas::RandomSearch rs({.seed = 4});
  const auto result = rs.run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 3});
  CHECK(result.history.size() == 3);
  CHECK(result.history.failures() == 3);
  CHECK_FALSE(result.found);
}

TEST_CASE("exploding gradients under gradient clipping fail the evaluation before any weight turns NaN", "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.lr = 1e30;       // every step multiplies the weights' scale: the gradients overflow within a few steps
  o.grad_clip = 5.0;  // clipping a non-finite norm would write NaN into every weight
  nas::TrainingRun<nas::Nb201Space> run({}, conv_arch, d.train, o, 3);
  CHECK_FALSE(run.train_to(run.steps_per_epoch(), run.steps_per_epoch()));
  const std::string why = run.failure();
  INFO(why);
  // Whichever overflows first, the loss or the gradient norm, the run stops and says where.
  CHECK((why.rfind("gradient norm became", 0) == 0 || why.rfind("loss became", 0) == 0));
  CHECK(why.find(" at epoch 1 step ") != std::string::npos);
  // The weights are those of the last finite step: none is NaN.
  for (const auto* p : run.network().parameters())
    for (std::size_t i = 0; i < p->value.numel(); ++i) REQUIRE_FALSE(std::isnan(p->value.data()[i]));

  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, o);
  const auto e = est.evaluate(conv_arch);
  CHECK_FALSE(e.ok());
  CHECK((e.reason.rfind("gradient norm became", 0) == 0 || e.reason.rfind("loss became", 0) == 0));
}

TEST_CASE("resuming at a higher fidelity trains only the extra epochs and equals uninterrupted training",
          "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.max_epochs = 3.0;
  nas::TrainedEstimator<nas::Nb201Space> staged({}, d.train, d.test, o);
  const auto e1 = staged.evaluate(conv_arch, nas::Fidelity{1.0});
  CHECK(staged.cached_epochs(conv_arch) == Approx(1.0));
  const auto e3 = staged.evaluate(conv_arch, nas::Fidelity{3.0});
  REQUIRE(e3.ok());
  CHECK(e3.epochs == Approx(2.0));
  CHECK(e3.metrics.get_or("epochs_total", 0) == Approx(3.0));
  CHECK(e3.metrics.get_or("resumed_from_epochs", 0) == Approx(1.0));

  nas::TrainedEstimator<nas::Nb201Space> direct({}, d.train, d.test, o);
  const auto d3 = direct.evaluate(conv_arch, nas::Fidelity{3.0});
  CHECK(d3.epochs == Approx(3.0));
  CHECK(e3.score == d3.score);
  CHECK(e3.metrics.get_or("valid_loss", 0) == d3.metrics.get_or("valid_loss", 1));

  // Asking for less than a cached network has trains a fresh one.
  const auto again = staged.evaluate(conv_arch, nas::Fidelity{1.0});
  CHECK(again.score == e1.score);
  CHECK(again.metrics.get_or("resumed_from_epochs", -1) == 0.0);
}

TEST_CASE("fractional fidelities train that fraction of an epoch; fidelities beyond max_epochs are rejected",
          "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.max_epochs = 2.0;
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, o);
  const auto e = est.evaluate(conv_arch, nas::Fidelity{0.5});
  CHECK(e.epochs == Approx(0.5));
  CHECK_THROWS_AS(est.evaluate(conv_arch, nas::Fidelity{4.0}), nas::ConfigError);
}

TEST_CASE("successive halving with the trained estimator promotes and continues training", "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.max_epochs = 3.0;
  o.cache_size = 16;
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, o);
  nas::SuccessiveHalving sh({.eta = 3.0, .min_fidelity = 1.0, .max_fidelity = 3.0, .candidates = 6, .seed = 2});
  const auto result = sh.run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 8});
  REQUIRE(result.history.size() == 8);
  int promoted = 0;
  for (const auto& t : result.history) {
    if (t.fidelity.epochs == 3.0 && t.eval.ok()) {
      ++promoted;
      CHECK(t.eval.metrics.get_or("resumed_from_epochs", 0) == Approx(1.0));
      CHECK(t.eval.epochs == Approx(2.0));
      CHECK(t.eval.metrics.get_or("epochs_total", 0) == Approx(3.0));
    }
  }
  CHECK(promoted == 2);
}

TEST_CASE("Hyperband with the trained estimator promotes and continues training", "[estimate][trained]") {
  const auto& d = synthetic();
  auto o = tiny(1.0);
  o.max_epochs = 3.0;
  o.cache_size = 16;
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, o);
  // eta 3 over 1..3 epochs: bracket 1 trains 3 cells for 1 epoch and promotes the best to
  // 3 epochs; bracket 0 trains 2 new cells for 3 epochs from scratch. 6 evaluations.
  nas::Hyperband<> hb({.eta = 3.0, .min_fidelity = 1.0, .max_fidelity = 3.0, .seed = 4});
  const auto result = hb.run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 6});
  REQUIRE(result.history.size() == 6);
  int resumed = 0, fresh_full = 0, low = 0;
  for (const auto& t : result.history) {
    INFO(t.eval.reason);
    REQUIRE(t.eval.ok());
    CHECK(t.eval.metrics.get_or("epochs_total", 0) == Approx(t.fidelity.epochs));
    if (t.fidelity.epochs == 1.0) {
      ++low;
    } else if (t.eval.metrics.get_or("resumed_from_epochs", 0) == Approx(1.0)) {
      ++resumed;
      CHECK(t.eval.epochs == Approx(2.0));  // only the 2 extra epochs are trained and charged
    } else {
      ++fresh_full;
      CHECK(t.eval.epochs == Approx(3.0));
    }
  }
  CHECK(low == 3);
  CHECK(resumed == 1);
  CHECK(fresh_full == 2);
  REQUIRE(result.found);
}

TEST_CASE("the DARTS-space network trains through the same estimator", "[estimate][trained]") {
  const auto& d = synthetic();
  const nas::CellSpace space({.nodes = 2, .ops = {"sep_conv_3x3", "skip_connect", "max_pool_3x3", "none"}, .reduction = true,
                              .distinct_inputs = true});
  auto o = tiny(3.0);
  o.network = {.channels = 4, .cells = 3, .stem_multiplier = 1};
  nas::TrainedEstimator<nas::CellSpace> est(space, d.train, d.test, o);
  nas::Rng rng(5);
  const auto e = est.evaluate(space.sample(rng));
  INFO(e.reason);
  REQUIRE(e.ok());
  CHECK(e.score > 30.0);
}

TEST_CASE("final_training retrains from scratch, tests once and measures latency", "[estimate][trained]") {
  const auto& d = synthetic();
  nas::FinalTrainingOptions fo{.training = tiny(4.0), .latency_repeats = 3};
  const auto r = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  INFO(r.reason);
  REQUIRE(r.ok);
  CHECK(r.epochs == Approx(4.0));
  CHECK(r.test_accuracy > 60.0);
  CHECK(r.params > 0);
  CHECK(r.latency_ms_batch1 > 0.0);
  CHECK(r.latency_ms_batch64 > 0.0);
  const auto both = nas::concat(d.train, d.test);
  CHECK(both.size() == d.train.size() + d.test.size());
}

TEST_CASE("final_training saves the trained network, and a path it cannot write costs no result", "[estimate][trained]") {
  const auto& d = synthetic();
  const auto dir = std::filesystem::temp_directory_path() / "nas_final_save_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  nas::FinalTrainingOptions fo{.training = tiny(1.0), .latency_repeats = 0};
  fo.save_path = (dir / "net.nasstate").string();
  const auto r = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  REQUIRE(r.ok);
  CHECK(r.saved_path == fo.save_path);
  CHECK(r.save_error.empty());
  // The saved network is the trained one: it scores the test set as final_training did.
  auto loaded = nas::load_network(r.saved_path, nas::Nb201Space{});
  CHECK(nas::evaluate_network(*loaded, d.test, 256).accuracy == Approx(r.test_accuracy));

  fo.save_path = (dir / "missing" / "net.nasstate").string();  // a directory that does not exist
  const auto r2 = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  REQUIRE(r2.ok);
  CHECK(r2.test_accuracy == r.test_accuracy);  // same seed: the same network, measured and kept
  CHECK(r2.saved_path.empty());
  CHECK_THAT(r2.save_error, Catch::Contains("missing"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("final_training re-plans its horizon when training runs slower than the probe", "[estimate][trained]") {
  const auto& d = synthetic();
  // A probe figure of 5 ms per epoch plans 200 epochs for 1 s (given rather than timed, so
  // a loaded machine cannot change the first plan). Each finished epoch then sleeps 100 ms,
  // so that plan would run far past its second; re-planned from the measured speed,
  // training ends a much shorter schedule, complete, well before the hard stop.
  nas::FinalTrainingOptions fo{
      .training = tiny(1.0), .seconds = 1.0, .stop_seconds = 60.0, .epoch_seconds = 0.005, .latency_repeats = 1};
  std::size_t epochs_seen = 0;
  fo.training.on_epoch = [&](const nas::EpochInfo& e) {
    ++epochs_seen;
    CHECK(e.epochs >= e.epoch);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  const auto r = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  INFO(r.reason);
  REQUIRE(r.ok);
  CHECK_FALSE(r.cut_short);
  CHECK(r.epochs == Approx(r.planned_epochs));
  CHECK(r.planned_epochs < r.first_planned_epochs / 3.0);
  CHECK(r.planned_epochs < 15.0);  // about 1 s / 100 ms
  CHECK(std::isfinite(r.train_loss));
  CHECK(r.train_loss > 0.0);
  CHECK(epochs_seen == static_cast<std::size_t>(std::floor(r.epochs + 1e-9)));
  CHECK_THROWS_AS(nas::final_training(nas::Nb201Space{}, conv_arch,
                                      nas::FinalTrainingOptions{.training = tiny(1.0), .seconds = 1.0, .replan_every = 0.0},
                                      d.train, d.test),
                  nas::ConfigError);
}

TEST_CASE("probe_epoch_seconds times an epoch, and final_training plans from a given figure", "[estimate][trained]") {
  const auto& d = synthetic();
  const double epoch = nas::probe_epoch_seconds(nas::Nb201Space{}, conv_arch, tiny(1.0), d.train, {.steps = 5, .warmup = 1});
  CHECK(std::isfinite(epoch));
  CHECK(epoch > 0.0);
  // A figure passed in replaces the probe: 0.5 s of 0.1 s epochs is a first plan of 5 epochs.
  nas::FinalTrainingOptions fo{.training = tiny(1.0), .seconds = 0.5, .epoch_seconds = 0.1, .latency_repeats = 1};
  const auto r = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  INFO(r.reason);
  REQUIRE(r.ok);
  CHECK(r.first_planned_epochs == Approx(5.0));
  for (const nas::ProbeOptions bad : {nas::ProbeOptions{.steps = 2, .warmup = 1}, nas::ProbeOptions{.steps = 5, .warmup = 0},
                                    nas::ProbeOptions{.steps = 10, .warmup = 2, .rounds = 0}})
    CHECK_THROWS_AS(nas::probe_epoch_seconds(nas::Nb201Space{}, conv_arch, tiny(1.0), d.train, bad), nas::ConfigError);
  fo.epoch_seconds = -1.0;
  CHECK_THROWS_AS(nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test), nas::ConfigError);
}

TEST_CASE("final_training stops at stop_seconds and says it was cut short", "[estimate][trained]") {
  const auto& d = synthetic();
  // 10,000 planned epochs would take minutes; the hard stop ends training after ~0.2 s.
  nas::FinalTrainingOptions fo{.training = tiny(10000.0), .stop_seconds = 0.2, .latency_repeats = 1};
  const auto r = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  INFO(r.reason);
  REQUIRE(r.ok);
  REQUIRE(r.cut_short);
  CHECK(r.planned_epochs == Approx(10000.0));
  CHECK(r.epochs > 0.0);
  CHECK(r.epochs < 10000.0);
  // Without a stop the same options run to the plan (here a short one).
  nas::FinalTrainingOptions full{.training = tiny(1.0), .latency_repeats = 1};
  const auto r2 = nas::final_training(nas::Nb201Space{}, conv_arch, full, d.train, d.test);
  CHECK_FALSE(r2.cut_short);
  CHECK(r2.epochs == Approx(r2.planned_epochs));
  for (double bad : {-1.0, 1e30, std::numeric_limits<double>::quiet_NaN()})
    CHECK_THROWS_AS(nas::final_training(nas::Nb201Space{}, conv_arch,
                                        nas::FinalTrainingOptions{.training = tiny(1.0), .stop_seconds = bad}, d.train,
                                        d.test),
                    nas::ConfigError);
}

TEST_CASE("ensemble_scores averages probabilities: the ensemble can be right where each model is wrong",
          "[estimate][trained]") {
  nas::Dataset d{.channels = 1, .height = 1, .width = 1, .classes = 3};
  d.images = {0.0f, 0.0f};
  d.labels = {0, 2};
  // Image 0 (label 0): model a says class 1, model b says class 2, both give class 0 the
  // second place; the mean puts class 0 first. Image 1 (label 2): both say class 2.
  const std::vector<float> a = {0.40f, 0.45f, 0.15f, 0.1f, 0.1f, 0.8f};
  const std::vector<float> b = {0.40f, 0.15f, 0.45f, 0.2f, 0.2f, 0.6f};
  const auto one = nas::ensemble_scores({&a}, d);
  CHECK(one.accuracy == Approx(50.0));
  CHECK(one.loss == Approx(-(std::log(0.40) + std::log(0.8)) / 2.0));
  const auto both = nas::ensemble_scores({&a, &b}, d);
  CHECK(both.accuracy == Approx(100.0));
  CHECK(both.loss == Approx(-(std::log(0.40) + std::log(0.7)) / 2.0));
  const std::vector<float> short_set = {1.0f, 0.0f, 0.0f};
  CHECK_THROWS_AS(nas::ensemble_scores({&a, &short_set}, d), nas::ConfigError);
  CHECK_THROWS_AS(nas::ensemble_scores({}, d), nas::ConfigError);
}

TEST_CASE("ensemble_final_training trains members with their own seeds and tests their average", "[estimate][trained]") {
  const auto& d = synthetic();
  nas::FinalTrainingOptions fo{.training = tiny(4.0), .latency_repeats = 1};
  const auto e = nas::ensemble_final_training(nas::Nb201Space{}, conv_arch, fo, 3, d.train, d.test);
  INFO(e.reason);
  REQUIRE(e.ok);
  REQUIRE(e.members.size() == 3);
  CHECK(e.members_used == 3);
  // Member 0 is the network final_training trains with the same options.
  const auto single = nas::final_training(nas::Nb201Space{}, conv_arch, fo, d.train, d.test);
  CHECK(e.members[0].test_accuracy == single.test_accuracy);
  CHECK(e.members[0].test_loss == Approx(single.test_loss).epsilon(1e-5));  // from probabilities, not logits
  CHECK(e.members[0].latency_ms_batch1 > 0.0);
  CHECK(e.members[1].latency_ms_batch1 == 0.0);  // measured once: every member has the same architecture
  CHECK(e.members[1].test_loss != e.members[0].test_loss);  // other seeds, other networks
  // The kept probabilities are distributions, and each member's accuracy follows from them.
  std::vector<const std::vector<float>*> all;
  for (const auto& m : e.members) {
    REQUIRE(m.test_probabilities.size() == d.test.size() * 4);
    double row = 0.0;
    for (std::size_t k = 0; k < 4; ++k) row += m.test_probabilities[k];
    CHECK(row == Approx(1.0).margin(1e-5));
    CHECK(hand_accuracy({&m.test_probabilities}, d.test) == Approx(m.test_accuracy));
    all.push_back(&m.test_probabilities);
  }
  // The ensemble's figures are those of the members' mean probabilities, counted by hand.
  CHECK(e.test_accuracy == Approx(hand_accuracy(all, d.test)));
  double loss = 0.0;
  for (std::size_t i = 0; i < d.test.size(); ++i) {
    double p = 0.0;
    for (const auto* m : all) p += (*m)[i * 4 + static_cast<std::size_t>(d.test.labels[i])];
    loss -= std::log(p / static_cast<double>(all.size()));
  }
  CHECK(e.test_loss == Approx(loss / static_cast<double>(d.test.size())).epsilon(1e-6));
  INFO("members " << e.members[0].test_accuracy << ", " << e.members[1].test_accuracy << ", " << e.members[2].test_accuracy);
  CHECK(e.test_accuracy > 60.0);
  CHECK_THROWS_AS(nas::ensemble_final_training(nas::Nb201Space{}, conv_arch, fo, 0, d.train, d.test), nas::ConfigError);
}

TEST_CASE("ensemble_final_training shares a time budget out among its members", "[estimate][trained]") {
  const auto& d = synthetic();
  nas::FinalTrainingOptions fo{.training = tiny(1.0), .seconds = 1.5, .stop_seconds = 3.0, .latency_repeats = 1};
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = nas::ensemble_final_training(nas::Nb201Space{}, conv_arch, fo, 2, d.train, d.test);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(e.reason);
  REQUIRE(e.ok);
  REQUIRE(e.members.size() == 2);
  for (const auto& m : e.members) {
    CHECK(m.train_seconds < 1.5);  // about 0.75 s each, not the whole budget
    CHECK(m.epochs > 0.0);         // what 0.75 s buy depends on the machine (and a sanitizer's slowdown)
  }
  CHECK(took < 3.0 + 2.0);  // the hard stop, plus testing
}

TEST_CASE("an epoch trained in chunks reports the mean loss of the whole epoch", "[estimate][trained]") {
  const auto& d = synthetic();
  const auto o = tiny(2.0);
  nas::TrainingRun<nas::Nb201Space> whole(nas::Nb201Space{}, conv_arch, d.train, o, 5);
  nas::TrainingRun<nas::Nb201Space> chunked(nas::Nb201Space{}, conv_arch, d.train, o, 5);
  const long steps = 2 * whole.steps_per_epoch();
  std::vector<nas::EpochInfo> a, b;
  REQUIRE(whole.train_to(steps, steps, [&](const nas::EpochInfo& e) { a.push_back(e); }));
  for (long done = 0; done < steps;) {  // chunks of 3 steps: epochs of 8 steps end mid-chunk
    done = std::min(steps, done + 3);
    REQUIRE(chunked.train_to(done, steps, [&](const nas::EpochInfo& e) { b.push_back(e); }));
  }
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(b[i].epoch == a[i].epoch);
    CHECK(b[i].train_loss == a[i].train_loss);  // same seed, one thread: the same steps
    CHECK(b[i].seconds > 0.0);
  }
}

namespace {
// Records each epoch a run's callbacks hear about, and the trial count at that moment.
struct EpochLog {
  std::vector<nas::EpochInfo> epochs;
  std::vector<std::size_t> trials_before;
  std::size_t trials = 0;
  bool stop_at_first_epoch = false;
  bool on_epoch(const nas::EpochInfo& e) {
    epochs.push_back(e);
    trials_before.push_back(trials);
    return stop_at_first_epoch;
  }
  template <class Arch>
  void on_trial(const nas::Trial<Arch>&, const nas::History<Arch>&) {
    ++trials;
  }
};
}  // namespace

TEST_CASE("a search with the trained estimator tells its callbacks each epoch as it trains", "[estimate][trained][callbacks]") {
  const auto& d = synthetic();
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, tiny(2.0));  // 2 epochs of 8 steps per candidate
  EpochLog log;
  std::size_t option_epochs = 0;
  auto with_option = tiny(2.0);
  with_option.on_epoch = [&](const nas::EpochInfo&) { ++option_epochs; };
  nas::TrainedEstimator<nas::Nb201Space> est2({}, d.train, d.test, with_option);
  const auto r = nas::RandomSearch({.seed = 4}).run(nas::Nb201Space{}, est2, nas::Budget{.evaluations = 3}, log);
  REQUIRE(r.history.size() == 3);
  REQUIRE(log.epochs.size() == 6);  // 3 candidates x 2 epochs, each epoch before its trial is recorded
  for (std::size_t i = 0; i < log.epochs.size(); ++i) {
    CHECK(log.epochs[i].epoch == i % 2 + 1);
    CHECK(log.epochs[i].epochs == 2);
    CHECK(std::isfinite(log.epochs[i].train_loss));
    CHECK(log.trials_before[i] == i / 2);
  }
  CHECK(option_epochs == 6);  // TrainingOptions::on_epoch still hears every epoch too

  // A hook returning true stops the run after the evaluation in progress.
  EpochLog stopper;
  stopper.stop_at_first_epoch = true;
  const auto s = nas::RandomSearch({.seed = 4}).run(nas::Nb201Space{}, est, nas::Budget{.evaluations = 3}, stopper);
  CHECK(s.history.size() == 1);
  CHECK(s.stop_reason == "callback");
  CHECK(stopper.epochs.size() == 2);
}

TEST_CASE("the epoch sink reaches through Cached to the trained estimator on a miss only", "[estimate][trained][callbacks]") {
  const auto& d = synthetic();
  nas::Cached cached(nas::TrainedEstimator<nas::Nb201Space>({}, d.train, d.test, tiny(1.0)));
  EpochLog log;
  const nas::Nb201Space space;
  nas::Rng rng(2);
  const auto arch = space.sample(rng);
  // The same architecture twice through a strategy's RunContext: trained once, then a hit.
  nas::RunContext<nas::Nb201Arch, decltype(cached), EpochLog&> ctx("test", cached, nas::Budget{.evaluations = 3}, log);
  ctx.evaluate(arch);
  ctx.evaluate(arch);  // a hit: nothing trains
  CHECK(log.epochs.size() == 1);
  CHECK(cached.hits() == 1);
}

TEST_CASE("an executor's evaluation trains on the worker's share of threads and leaves the caller's count alone",
          "[estimate][trained][threads]") {
  const auto& d = synthetic();
  nas::set_num_threads(1);
  auto shared = tiny(1.0);
  shared.threads = 0;  // take the share the context gives
  nas::TrainedEstimator<nas::Nb201Space> est({}, d.train, d.test, shared);
  nas::Evaluation on_worker;
  std::thread worker([&] {
    nas::EvalContext ctx{.trial_id = 0, .worker = 0, .threads = 2};
    on_worker = est.evaluate(conv_arch, {}, ctx);
  });
  worker.join();
  REQUIRE(on_worker.ok());
  CHECK(on_worker.metrics.get_or(nas::metric::threads, 0) == 2.0);
  CHECK(nas::num_threads() == 1);
  // A fixed count wins over the share; a stopped run's evaluation fails before training.
  auto fixed = tiny(1.0);
  fixed.threads = 1;
  nas::TrainedEstimator<nas::Nb201Space> pinned({}, d.train, d.test, fixed);
  nas::EvalContext ctx{.threads = 2};
  CHECK(pinned.evaluate(conv_arch, {}, ctx).metrics.get_or(nas::metric::threads, 0) == 1.0);
  std::stop_source stop;
  stop.request_stop();
  nas::EvalContext stopped{.threads = 2, .stop = stop.get_token()};
  const auto e = pinned.evaluate(conv_arch, {}, stopped);
  CHECK_FALSE(e.ok());
  CHECK(e.reason.find("stopped") != std::string::npos);
}
