// inference_latency_ms: what it runs and what it restores (never how fast: tests do not time the machine).
#include <catch2/catch.hpp>

#include <nas/hw/latency.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/latency.hpp>
#include <nas/tensor/threads.hpp>

#include <cmath>
#include <vector>

namespace {

// Counts forward passes and remembers the input shape and the mode it ran in.
struct CountingNet {
  bool training = true;
  int forwards = 0;
  int forwards_in_training = 0;
  nas::Shape seen{};
  nas::Tensor out{nas::Shape{1, 10}};
  [[nodiscard]] bool is_training() const { return training; }
  void eval() { training = false; }
  void train(bool on = true) { training = on; }
  const nas::Tensor& forward(const nas::Tensor& x) {
    ++forwards;
    forwards_in_training += training;
    seen = x.shape();
    return out;
  }
};

}  // namespace

TEST_CASE("inference_latency_ms runs one untimed pass and `repeats` timed ones in evaluation mode", "[hw][latency]") {
  CountingNet net;
  const double ms = nas::inference_latency_ms(net, nas::Shape{8, 3, 5, 5}, 7);
  CHECK(net.forwards == 8);
  CHECK(net.forwards_in_training == 0);
  CHECK(net.seen == nas::Shape{8, 3, 5, 5});
  CHECK(net.training);  // the mode it found
  CHECK(std::isfinite(ms));
  CHECK(ms >= 0.0);

  net.eval();
  (void)nas::inference_latency_ms(net, nas::Shape{1, 3, 5, 5}, 1);
  CHECK_FALSE(net.training);
}

TEST_CASE("the hw form takes a network input and a batch size", "[hw][latency]") {
  CountingNet net;
  const nas::NetworkInput in{.channels = 1, .height = 28, .width = 28, .classes = 10};
  (void)nas::inference_latency_ms(net, in, 64, 3);
  CHECK(net.seen == nas::Shape{64, 1, 28, 28});
  CHECK(net.forwards == 4);
}

TEST_CASE("inference_latency_ms rejects an empty batch or no repeats", "[hw][latency]") {
  CountingNet net;
  const nas::NetworkInput in{};
  CHECK_THROWS_AS(nas::inference_latency_ms(net, in, 0, 3), nas::ConfigError);
  CHECK_THROWS_AS(nas::inference_latency_ms(net, in, 1, 0), nas::ConfigError);
  CHECK_THROWS_AS(nas::inference_latency_ms(net, nas::Shape{0, 1, 2, 2}, 3), nas::ConfigError);
  CHECK(net.forwards == 0);
}

TEST_CASE("measure_networks_ms times every architecture's network once per round and restores the thread count",
          "[hw][latency]") {
  nas::set_num_threads(1);
  const nas::Nb201Space space;
  const nas::NetworkInput in{.channels = 1, .height = 8, .width = 8, .classes = 3};
  const nas::NetworkOptions net{.channels = 4, .cells = 1};
  const std::vector<nas::Nb201Arch> archs{space.decode(nas::nb201::best_cifar10), nas::Nb201Space::arch(0)};
  const auto one = nas::measure_networks_ms(space, archs, in, net, {.batch = 2, .threads = 2, .rounds = 1, .repeats = 2});
  CHECK(nas::num_threads() == 1);
  REQUIRE(one.ms.size() == 2);
  REQUIRE(one.spread.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(std::isfinite(one.ms[i]));
    CHECK(one.ms[i] > 0.0);
    CHECK(one.spread[i] == 0.0);  // one round: no spread
  }
  const auto three = nas::measure_networks_ms(space, archs, in, net, {.rounds = 3, .repeats = 1});
  for (double s : three.spread) CHECK(s >= 0.0);
  CHECK(nas::measure_networks_ms(space, {}, in, net).ms.empty());
  CHECK_THROWS_WITH(nas::measure_networks_ms(space, archs, in, net, {.rounds = 0}), Catch::Contains("rounds (0)"));
  CHECK_THROWS_AS(nas::measure_networks_ms(space, archs, in, net, {.warmup = -1}), nas::ConfigError);
}

TEST_CASE("profile_calibrated profiles the space's keys and fits the overhead on the networks asked for", "[hw][latency]") {
  nas::set_num_threads(1);
  const nas::Nb201Space space;
  const nas::NetworkInput in{.channels = 1, .height = 8, .width = 8, .classes = 3};
  const nas::NetworkOptions net{.channels = 4, .cells = 1};
  const nas::LatencyProfileOptions quick{.batch = 1, .threads = 1, .warmup = 1, .rounds = 1, .repeats = 1, .min_sample_ms = 0.0};
  const auto table = nas::profile_calibrated(space, in, net, {.profile = quick, .networks = 3, .repeats = 2});
  CHECK(nas::num_threads() == 1);
  CHECK(table.entries().size() == nas::space_keys(space, in, net).size());
  CHECK(table.overhead_fit() == "Theil-Sen fit on 3 networks measured end to end");
  CHECK(table.scale() > 0.0);
  nas::Rng rng(5);
  for (int i = 0; i < 5; ++i) CHECK(std::isfinite(table.predict_ms(nas::plan_network(space, space.sample(rng), in, net))));
  CHECK_THROWS_WITH(nas::profile_calibrated(space, in, net, {.profile = quick, .networks = 0}), Catch::Contains("networks is 0"));
}
