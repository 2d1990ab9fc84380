// inference_latency_ms: what it runs and what it restores (never how fast: tests do not time the machine).
#include <catch2/catch.hpp>

#include <nas/hw/latency.hpp>
#include <nas/tensor/latency.hpp>

#include <cmath>

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
