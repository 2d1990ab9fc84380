// OneShot: single-path training touches exactly the sampled ops, equals stand-alone training, fair counts are exact.
#include <catch2/catch.hpp>

#include <nas/data/synthetic.hpp>
#include <nas/model/supernet.hpp>
#include <nas/search/oneshot.hpp>
#include <nas/testing/compare.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nas::testing::rel_diff;
using nas::testing::same_bits;

const nas::Nb201Space nb201;

nas::TrainTest tiny_data(std::size_t train = 64, std::uint64_t seed = 3) {
  return nas::make_synthetic({.classes = 4, .channels = 1, .height = 8, .width = 8, .train = train, .test = 64, .seed = seed});
}

using Snapshot = std::map<std::string, nas::Tensor>;
Snapshot snapshot(nas::Module& m) {
  Snapshot s;
  for (auto& np : m.named_state()) s[np.path] = np.parameter->value;
  return s;
}

// A scripted sampler: the given paths in turn; before each draw it records the
// supernet's state (the weights after the previous step).
struct ScriptedPaths {
  std::vector<nas::Nb201Arch> paths;
  nas::Module* net = nullptr;
  std::vector<Snapshot> before{};
  std::size_t t = 0;
  void start(std::span<const std::size_t>) { t = 0; }
  void next(std::span<int> choices, nas::Rng&) {
    if (net) before.push_back(snapshot(*net));
    const auto& a = paths[t++ % paths.size()];
    for (std::size_t e = 0; e < 6; ++e) choices[e] = a.ops[e];
  }
};
static_assert(nas::PathSampler<ScriptedPaths>);
static_assert(nas::PathSampler<nas::UniformPaths> && nas::PathSampler<nas::FairPaths>);
static_assert(nas::LearnedPathSampler<nas::EnasController> && !nas::LearnedPathSampler<nas::UniformPaths>);

// The edge and op of a supernet state path "body.<k>.edges.<e>.<op>....", or e = -1.
std::pair<int, std::string> edge_op(const std::string& path) {
  const auto at = path.find(".edges.");
  if (at == std::string::npos) return {-1, ""};
  const std::size_t e0 = at + 7, dot = path.find('.', e0);
  const int e = std::stoi(path.substr(e0, dot - e0));
  const std::size_t op_end = path.find('.', dot + 1);
  return {e, path.substr(dot + 1, op_end - dot - 1)};
}

// Every conv op below feeds the output, so each of them receives a gradient.
const auto path_a = nb201.decode("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|");
const auto path_b = nb201.decode("|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_1x1~2|");

}  // namespace

TEST_CASE("a OneShot step changes exactly the sampled path's op weights; momentum and weight decay leave the others alone",
          "[search][oneshot]") {
  const auto data = tiny_data();
  nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1, .seed = 5});
  ScriptedPaths sampler{.paths = {path_a, path_b, path_a}, .net = &super};
  nas::OneShot<ScriptedPaths> trainer({.batch_size = 16, .momentum = 0.9, .weight_decay = 5e-4, .max_steps = 3}, sampler);
  const auto stats = trainer.train(super, nb201, data.train);
  REQUIRE(stats.steps == 3);
  const auto& before = trainer.sampler().before;
  REQUIRE(before.size() == 3);
  const Snapshot after = snapshot(super);
  // Step k trained path k: compare the state before step k with the state after it.
  const std::vector<nas::Nb201Arch> trained{path_a, path_b, path_a};
  for (std::size_t k = 0; k < 3; ++k) {
    const Snapshot& s0 = before[k];
    const Snapshot& s1 = k + 1 < 3 ? before[k + 1] : after;
    std::size_t moved = 0, still = 0;
    for (const auto& [path, v0] : s0) {
      const auto [e, op] = edge_op(path);
      const bool on_path = e < 0 || trained[k].op_name(static_cast<std::size_t>(e)) == op;
      INFO("step " << k << " " << path);
      if (on_path) {
        CHECK(!same_bits(v0, s1.at(path)));
        ++moved;
      } else {
        CHECK(same_bits(v0, s1.at(path)));
        ++still;
      }
    }
    CHECK(moved > 10);
    CHECK(still > 10);
  }
}

TEST_CASE("a OneShot step equals the same SGD step of the stand-alone network with the supernet's weights",
          "[search][oneshot]") {
  // One batch holds the whole training set, so both sides see the same images (in
  // another order: the loss and BN statistics are order-free up to float rounding).
  const auto data = tiny_data(32);
  const auto in = nas::NetworkInput::of(data.train);
  for (const auto& arch : {path_a, path_b}) {
    INFO(nb201.encode(arch));
    nas::Supernet<nas::Nb201Space> super(nb201, in, {.channels = 4, .cells = 1, .seed = 6});
    nas::CellNetwork<nas::Nb201Space> net(nb201, arch, in, {.channels = 4, .cells = 1, .seed = 1});
    super.copy_to(net);
    ScriptedPaths sampler{.paths = {arch}, .net = nullptr};
    const nas::OneShotOptions o{.batch_size = 32, .lr = 0.1, .weight_decay = 1e-3, .cosine = false, .grad_clip = 0.0, .max_steps = 1};
    nas::OneShot<ScriptedPaths>(o, sampler).train(super, nb201, data.train);

    nas::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = o.momentum, .weight_decay = 1e-3, .nesterov = true});
    nas::Tensor x(in.batch(32));
    std::copy(data.train.images.begin(), data.train.images.end(), x.data());
    const std::vector<int> labels(data.train.labels.begin(), data.train.labels.end());
    nas::SoftmaxCrossEntropy ce;
    net.train();
    sgd.zero_grad();
    (void)ce.forward(net.forward(x), labels);
    net.backward(ce.backward());
    sgd.step();

    const Snapshot s = snapshot(super);
    std::size_t compared = 0;
    for (auto& np : net.named_state()) {
      const std::string p = super.module_path(arch, np.path);
      REQUIRE(s.count(p) == 1);
      INFO(np.path << " rel diff " << rel_diff(s.at(p), np.parameter->value));
      CHECK(rel_diff(s.at(p), np.parameter->value) <= 2e-5);
      ++compared;
    }
    CHECK(compared > 20);
  }
}

TEST_CASE("FairPaths trains every op of every edge exactly once per round of num_ops paths", "[search][oneshot][fair]") {
  nas::FairPaths fair;
  const std::vector<std::size_t> k{5, 5, 5, 5, 5, 5, 3};  // a decision with fewer choices has shorter rounds
  fair.start(k);
  nas::Rng rng(9);
  std::vector<int> c(k.size());
  std::vector<std::vector<int>> per_round(k.size(), std::vector<int>(5, 0));
  for (int t = 0; t < 60; ++t) {
    fair.next(c, rng);
    for (std::size_t i = 0; i < k.size(); ++i) {
      ++per_round[i][static_cast<std::size_t>(c[i])];
      if ((t + 1) % static_cast<int>(k[i]) == 0) {
        for (std::size_t j = 0; j < k[i]; ++j) CHECK(per_round[i][j] == 1);
        per_round[i].assign(5, 0);
      }
    }
  }
  // Through OneShot, with FairNAS's strict fairness (5 paths per batch, one update): after
  // 3 steps, 3 paths of every op of every edge, and the rounds are not all in one order.
  const auto data = tiny_data();
  nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1});
  nas::OneShot<nas::FairPaths> trainer({.batch_size = 16, .paths_per_batch = 5, .max_steps = 3});
  const auto stats = trainer.train(super, nb201, data.train);
  CHECK(stats.steps == 3);
  CHECK(stats.paths == 15);
  for (const auto& edge : stats.counts)
    for (long n : edge) CHECK(n == 3);
  // Uniform sampling is not exact: over 15 paths some op of some edge is off 3.
  nas::OneShot<nas::UniformPaths> uniform({.batch_size = 16, .paths_per_batch = 5, .max_steps = 3});
  const auto u = uniform.train(super, nb201, data.train);
  bool uneven = false;
  for (const auto& edge : u.counts) {
    long sum = 0;
    for (long n : edge) {
      sum += n;
      uneven = uneven || n != 3;
    }
    CHECK(sum == 15);
  }
  CHECK(uneven);
}

TEST_CASE("the ENAS controller's policy moves towards the rewarded choices", "[search][oneshot][enas]") {
  nas::EnasController enas({.learning_rate = 0.05, .steps = 10});
  const std::vector<std::size_t> k{5, 5, 5};
  enas.start(k);
  nas::Rng rng(4);
  std::vector<int> c(3);
  for (int t = 0; t < 400; ++t) {
    enas.next(c, rng);
    double r = 0;
    for (int v : c) r += v == 2 ? 1.0 / 3 : 0.0;
    enas.learn(c, r);
  }
  const auto p = enas.policy().probabilities();
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("decision " << i << " p(2) = " << p[i * 5 + 2]);
    CHECK(p[i * 5 + 2] > 0.6);
  }
  CHECK(enas.policy().mode() == std::vector<int>{2, 2, 2});
}

TEST_CASE("ENAS training alternates shared-weight epochs with controller steps on validation batches",
          "[search][oneshot][enas]") {
  const auto data = tiny_data(64);
  nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1});
  nas::OneShot<nas::EnasController> trainer({.epochs = 2, .batch_size = 16}, nas::EnasController({.steps = 5}));
  REQUIRE_THROWS_WITH(trainer.train(super, nb201, data.train),
                      "OneShot::train: the sampler learns from validation accuracy; give a validation split");
  const auto stats = trainer.train(super, nb201, data.train, &data.test);
  CHECK(stats.steps == 8);
  REQUIRE(stats.controller_reward.size() == 2);
  for (double r : stats.controller_reward) CHECK((r >= 0.0 && r <= 1.0));
  // 10 REINFORCE steps moved the policy off uniform.
  const auto p = trainer.sampler().policy().probabilities();
  CHECK(std::any_of(p.begin(), p.end(), [](double v) { return std::abs(v - 0.2) > 1e-4; }));
}

TEST_CASE("OneShot is deterministic for a seed", "[search][oneshot]") {
  const auto data = tiny_data();
  auto run = [&](std::uint64_t seed) {
    nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1});
    nas::OneShot<nas::UniformPaths>({.batch_size = 16, .seed = seed}).train(super, nb201, data.train);
    return snapshot(super);
  };
  const Snapshot a = run(1), b = run(1), c = run(2);
  bool differs = false;
  for (const auto& [p, v] : a) {
    CHECK(same_bits(v, b.at(p)));
    differs = differs || !same_bits(v, c.at(p));
  }
  CHECK(differs);
}

TEST_CASE("OneShot frees the ops off the path without changing a bit, and gives back the supernet's setting",
          "[search][oneshot]") {
  const auto data = tiny_data();
  auto run = [&](bool release) {
    nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1});
    nas::OneShotOptions o{.batch_size = 16, .paths_per_batch = 2, .seed = 4};
    o.release_unsampled = release;
    nas::OneShot<nas::UniformPaths>(o).train(super, nb201, data.train);
    CHECK_FALSE(super.releases_inactive_ops());  // as it was before train()
    return snapshot(super);
  };
  CHECK(nas::OneShotOptions{}.release_unsampled);  // the default
  const Snapshot released = run(true), kept = run(false);
  for (const auto& [p, v] : kept) CHECK(same_bits(v, released.at(p)));
}

TEST_CASE("OneShot trains DARTS-space supernets too", "[search][oneshot]") {
  const auto data = tiny_data(32);
  const auto space = nas::CellSpace::darts();
  nas::Supernet<nas::CellSpace> super(space, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 3});
  const auto stats = nas::OneShot<nas::FairPaths>({.batch_size = 16}).train(super, space, data.train);
  CHECK(stats.steps == 2);
  CHECK(std::isfinite(stats.epoch_loss.at(0)));
}

TEST_CASE("OneShot rejects bad options and data naming the value", "[search][oneshot][options]") {
  const auto data = tiny_data();
  nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1});
  REQUIRE_THROWS_WITH(nas::OneShot<>({.epochs = 0}).train(super, nb201, data.train),
                      "OneShot::train: epochs (0.000000) must be finite and > 0");
  REQUIRE_THROWS_WITH(nas::OneShot<>({.paths_per_batch = 0}).train(super, nb201, data.train),
                      "OneShot::train: paths_per_batch (0) must be >= 1");
  REQUIRE_THROWS_WITH(nas::OneShot<>({.fixed = {{6, 0}}}).train(super, nb201, data.train),
                      "OneShot::train: fixed choice 0 of decision 6 (the space has 6 decisions)");
  REQUIRE_THROWS_WITH(nas::OneShot<>({.fixed = {{2, 5}}}).train(super, nb201, data.train),
                      "OneShot::train: fixed choice 5 of decision 2 (the space has 6 decisions, this one with 5 choices)");
  const auto other = nas::make_synthetic({.classes = 3, .channels = 1, .height = 8, .width = 8, .train = 16, .test = 8});
  REQUIRE_THROWS_WITH(nas::OneShot<>().train(super, nb201, other.train),
                      "OneShot::train: the training images are 1x8x8 with 3 classes; the supernet was built for 1x8x8 with 4");
}

TEST_CASE("few-shot sub-supernets start from the trained supernet and train only their op on the split edge",
          "[search][oneshot][fewshot]") {
  const auto data = tiny_data();
  nas::Supernet<nas::Nb201Space> super(nb201, nas::NetworkInput::of(data.train), {.channels = 4, .cells = 1, .seed = 2});
  nas::OneShot<nas::UniformPaths> trainer({.batch_size = 16});
  (void)trainer.train(super, nb201, data.train);
  const Snapshot trained = snapshot(super);
  nas::FewShotSupernet<nas::Nb201Space> few(nb201, super, 3);
  REQUIRE(few.size() == 5);
  for (std::size_t c = 0; c < 5; ++c) {
    const Snapshot s = snapshot(few.sub(c));
    for (const auto& [p, v] : trained) CHECK(same_bits(v, s.at(p)));
  }
  const auto stats = few.train(trainer, data.train);
  REQUIRE(stats.size() == 5);
  CHECK(trainer.options().fixed.empty());  // the trainer's options are given back
  for (std::size_t c = 0; c < 5; ++c) {
    INFO("sub-supernet " << c);
    for (std::size_t j = 0; j < 5; ++j) CHECK((stats[c].counts[3][j] > 0) == (j == c));
    // Edge 3's other ops never ran in this sub-supernet: still the trained supernet's.
    const Snapshot s = snapshot(few.sub(c));
    std::size_t kept = 0;
    for (const auto& [p, v] : trained) {
      const auto [e, op] = edge_op(p);
      if (e == 3 && op != nas::nb201_op_names[c]) {
        CHECK(same_bits(v, s.at(p)));
        ++kept;
      }
    }
    CHECK(kept > 0);
  }
  CHECK(&few.for_arch(path_a) == &few.sub(path_a.ops[3]));
  REQUIRE_THROWS_WITH((nas::FewShotSupernet<nas::Nb201Space>(nb201, super, 6)), "FewShotSupernet: decision 6 (the space has 6)");
}
