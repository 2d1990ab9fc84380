// The final-training plan's rules with known answers, and a whole plan on tiny data.
#include <catch2/catch.hpp>

#include <nas/data/synthetic.hpp>
#include <nas/estimate/final_plan.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/thread_probe.hpp>

#include <chrono>
#include <limits>
#include <vector>

TEST_CASE("ensemble_size is the floor of the epochs over the epochs per network, between 1 and the most", "[estimate][plan]") {
  CHECK(nas::ensemble_size(20.0, 7.0, 5) == 2);   // 900 s on 2 cores: about 20 epochs
  CHECK(nas::ensemble_size(13.9, 7.0, 5) == 1);
  CHECK(nas::ensemble_size(14.0, 7.0, 5) == 2);
  CHECK(nas::ensemble_size(100.0, 7.0, 5) == 5);  // capped
  CHECK(nas::ensemble_size(3.0, 7.0, 5) == 1);    // never below one
  CHECK(nas::ensemble_size(-4.0, 7.0, 5) == 1);   // no time left at all
  CHECK_THROWS_AS(nas::ensemble_size(10.0, 0.0, 5), nas::ConfigError);
  CHECK_THROWS_AS(nas::ensemble_size(10.0, 7.0, 0), nas::ConfigError);
}

TEST_CASE("epochs_at_width scales the measured epoch time by the work", "[estimate][plan]") {
  // 100 s, 5 s an epoch at 1 M MACs: 20 epochs; at 4 M MACs an epoch takes 20 s: 5 epochs.
  CHECK(nas::epochs_at_width(100.0, 5.0, 1e6, 1e6) == Approx(20.0));
  CHECK(nas::epochs_at_width(100.0, 5.0, 1e6, 4e6) == Approx(5.0));
}

TEST_CASE("augments: on always, off never, automatic from the threshold on", "[estimate][plan]") {
  CHECK(nas::augments(nas::Rule::on, 1.0, 12.0));
  CHECK_FALSE(nas::augments(nas::Rule::off, 50.0, 12.0));
  CHECK_FALSE(nas::augments(nas::Rule::automatic, 11.99, 12.0));
  CHECK(nas::augments(nas::Rule::automatic, 12.0, 12.0));
}

TEST_CASE("final_time keeps the reserves back and never trains less than the minimum", "[estimate][plan]") {
  const nas::FinalPlanOptions o;  // reserve 25 s, test reserve 12 s, at least 30 s
  const auto t = nas::final_time(500.0, o);
  CHECK(t.seconds == 475.0);
  CHECK(t.stop_seconds == 488.0);
  const auto short_time = nas::final_time(40.0, o);
  CHECK(short_time.seconds == 30.0);        // the minimum wins
  CHECK(short_time.stop_seconds == 30.0);   // and the hard stop is never before it
  const auto mid = nas::final_time(50.0, o);
  CHECK(mid.seconds == 30.0);
  CHECK(mid.stop_seconds == 38.0);
}

TEST_CASE("FinalPlanOptions names what is out of range", "[estimate][plan][options]") {
  CHECK_THROWS_WITH(nas::FinalPlanOptions{.members = -1}.validate("here"), Catch::Contains("here: members (-1)"));
  CHECK_THROWS_WITH(nas::FinalPlanOptions{.max_members = 0}.validate("here"), Catch::Contains("max_members (0)"));
  CHECK_THROWS_WITH(nas::FinalPlanOptions{.channels = -3}.validate("here"), Catch::Contains("channels (-3)"));
}

namespace {
const nas::TrainTest& tiny_data() {
  static const nas::TrainTest d = nas::make_synthetic(
      {.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 256, .test = 64, .noise = 0.3, .seed = 5});
  return d;
}
const nas::Nb201Arch conv_arch = nas::Nb201Space{}.decode(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|");
}  // namespace

TEST_CASE("plan_final_training with fixed choices keeps them and fills in the time", "[estimate][plan]") {
  const auto& d = tiny_data();
  const nas::TrainingOptions recipe{.network = {.channels = 4, .cells = 1}, .batch_size = 32, .threads = 1, .seed = 3};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1000);
  const auto p = nas::plan_final_training(nas::Nb201Space{}, conv_arch, recipe, d.train,
                                          {.channels = 6, .members = 3, .augment = nas::Rule::on}, deadline);
  CHECK(p.members == 3);
  CHECK(p.options.training.network.channels == 6);
  CHECK(p.options.training.augment.pad == 2);
  CHECK(p.options.training.augment.flip);
  CHECK(p.augment);
  CHECK(p.width_epochs.empty());  // no width was chosen
  CHECK(p.options.epoch_seconds > 0.0);
  // About 1000 s left, 25 kept back: 975 s or a little less (the probe took some).
  CHECK(p.options.seconds <= 975.0);
  CHECK(p.options.seconds > 900.0);
  CHECK(p.options.stop_seconds == Approx(p.options.seconds + 13.0).margin(1e-6));
  CHECK(p.epochs_per_network == Approx(p.options.seconds / 3 / p.options.epoch_seconds));
  CHECK(p.options.training.seed == 3);  // the rest of the recipe is kept
  CHECK(p.options.training.batch_size == 32);
}

TEST_CASE("plan_final_training chooses the widest network the time trains for widen_from epochs", "[estimate][plan]") {
  const auto& d = tiny_data();
  const nas::TrainingOptions recipe{.network = {.channels = 4, .cells = 1}, .batch_size = 32, .threads = 1, .seed = 3};
  // A deadline in the past: whatever the machine's speed, no wider network qualifies and
  // one network is trained for the minimum time.
  const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(100);
  const nas::FinalPlanOptions o{.base_channels = 4, .widths = {6, 8}, .augment = nas::Rule::automatic};
  const auto none = nas::plan_final_training(nas::Nb201Space{}, conv_arch, recipe, d.train, o, past);
  CHECK(none.members == 1);
  CHECK(none.options.training.network.channels == 4);
  REQUIRE(none.width_epochs.size() == 2);
  CHECK(none.width_epochs[0].first == 6);
  CHECK(none.width_epochs[1].first == 8);
  // Wider: more work per epoch, so the same (here negative) time is fewer epochs in size.
  CHECK(none.width_epochs[0].second / none.width_epochs[1].second > 1.0);
  CHECK(none.width_epochs[0].second < 0.0);
  CHECK(none.options.seconds == 30.0);
  CHECK(none.epochs_per_network == Approx(30.0 / none.options.epoch_seconds));
  CHECK(none.augment == (none.epochs_per_network >= 12.0));
  CHECK(none.options.training.augment.enabled() == none.augment);

  // With a day left every candidate qualifies: the last (widest) is chosen and timed.
  const auto day = std::chrono::steady_clock::now() + std::chrono::hours(24);
  const auto wide = nas::plan_final_training(nas::Nb201Space{}, conv_arch, recipe, d.train, o, day);
  CHECK(wide.options.training.network.channels == 8);
  CHECK(wide.members == 5);  // and the most networks
  CHECK(wide.augment);
}

TEST_CASE("probe_thread_counts runs each workload's warm-up and rounds and keeps the best round", "[tensor][threads]") {
  std::vector<std::pair<int, long>> calls;  // (workload, steps)
  const auto r = nas::probe_thread_counts(
      [&](int count) { return [&calls, count](long steps) { calls.emplace_back(count, steps); }; },
      {.counts = {1, 2, 3}, .rounds = 2, .warmup_steps = 5, .steps = 7});
  const std::vector<std::pair<int, long>> expected{{1, 5}, {2, 5}, {3, 5}, {1, 7}, {2, 7}, {3, 7}, {1, 7}, {2, 7}, {3, 7}};
  CHECK(calls == expected);  // warm-ups first, then the counts alternate round by round
  CHECK(r.counts == std::vector<int>{1, 2, 3});
  REQUIRE(r.rates.size() == 3);
  CHECK(r.threads == r.counts[nas::fastest_index(r.rates)]);
  CHECK_THROWS_AS(nas::probe_thread_counts([](int) { return [](long) {}; }, {.counts = {}}), nas::ConfigError);
  CHECK_THROWS_AS(nas::probe_thread_counts([](int) { return [](long) {}; }, {.counts = {0}}), nas::ConfigError);
}

TEST_CASE("fastest_index picks the highest rate and the earlier count on a tie", "[tensor][threads]") {
  CHECK(nas::fastest_index({100.0, 180.0}) == 1);
  CHECK(nas::fastest_index({250.0, 180.0}) == 0);
  CHECK(nas::fastest_index({180.0, 180.0}) == 0);  // a tie keeps fewer threads
  CHECK(nas::fastest_index({1.0, 3.0, 2.0}) == 1);
  CHECK_THROWS_AS(nas::fastest_index({}), nas::ConfigError);
}

TEST_CASE("plan_final_epochs plans by epochs alone: given width and networks, or C=16 and one, augmenting from augment_from",
          "[estimate][plan]") {
  const nas::TrainingOptions recipe{.network = {.channels = 99, .cells = 2}, .epochs = 50.0, .batch_size = 32, .seed = 4};
  const auto automatic = nas::plan_final_epochs(recipe, {}, 3.0);
  CHECK(automatic.options.training.network.channels == 16);
  CHECK(automatic.options.training.network.cells == 2);
  CHECK(automatic.options.training.epochs == 3.0);
  CHECK(automatic.options.training.batch_size == 32);
  CHECK(automatic.members == 1);
  CHECK_FALSE(automatic.augment);
  CHECK(automatic.options.training.augment.pad == 0);
  CHECK(automatic.options.seconds == 0.0);  // not timed: exactly the epochs
  CHECK(automatic.options.stop_seconds == 0.0);
  const auto given = nas::plan_final_epochs(recipe, {.channels = 24, .members = 3, .augment_from = 12.0}, 12.0);
  CHECK(given.options.training.network.channels == 24);
  CHECK(given.members == 3);
  CHECK(given.augment);  // 12 epochs reach augment_from
  CHECK(given.options.training.augment.pad == 2);
  CHECK_FALSE(nas::plan_final_epochs(recipe, {.augment = nas::Rule::off}, 40.0).augment);
  CHECK(nas::plan_final_epochs(recipe, {.augment = nas::Rule::on}, 1.0).augment);
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()})
    CHECK_THROWS_WITH(nas::plan_final_epochs(recipe, {}, bad), Catch::Contains("plan_final_epochs: epochs"));
  CHECK_THROWS_AS(nas::plan_final_epochs(recipe, {.members = -1}, 3.0), nas::ConfigError);
}

TEST_CASE("final_accuracy_options: the final training's length and its pace relative to the candidates'", "[estimate][plan]") {
  const auto& d = tiny_data();
  const nas::Nb201Space space;
  const nas::TrainedEstimator<nas::Nb201Space> search(
      space, d.train, d.test, {.network = {.channels = 4, .cells = 1}, .epochs = 1, .threads = 1, .seed = 3, .max_train = 100});
  const auto typical = space.decode(nas::nb201::best_cifar10);
  const nas::FinalPlanOptions rules;  // keeps 25 s back

  const auto same = nas::final_accuracy_options(search, typical, 4, 500.0, rules);
  CHECK(same.final_seconds == 475.0);
  CHECK(same.search_images_per_epoch == 100.0);  // the candidates' subset, not the whole split
  CHECK(same.slowdown == 1.0);                    // same width: same pace

  // Twice the width: the cells' convolutions do four times the work, the stem's and the
  // head's twice, so the pace falls by between 2 and 4 times.
  const auto wide = nas::final_accuracy_options(search, typical, 8, 500.0, rules);
  CHECK(wide.slowdown > 2.0);
  CHECK(wide.slowdown < 4.0);
  CHECK(nas::final_accuracy_options(search, typical, 8, 10.0, rules).final_seconds == 1.0);  // never below a second

  CHECK_THROWS_AS(nas::final_accuracy_options(search, typical, 0, 500.0, rules), nas::ConfigError);
  CHECK_THROWS_AS(nas::final_accuracy_options(search, typical, 8, 0.0, rules), nas::ConfigError);
}
