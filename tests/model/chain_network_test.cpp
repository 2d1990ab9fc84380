// ChainSpace networks: plan against a hand count, built network against its plan, op keys, training.
#include <catch2/catch.hpp>

#include <nas/data/synthetic.hpp>
#include <nas/estimate/trained.hpp>
#include <nas/hw/cost.hpp>
#include <nas/model/chain_network.hpp>
#include <nas/model/graph.hpp>
#include <nas/model/reference.hpp>
#include <nas/testing/gradcheck.hpp>
#include <nas/testing/graph_gradcheck.hpp>

#include <set>

namespace {
// Stem 8, two stages (8 channels at stride 1, 16 at stride 2), head 32, width 1 only.
nas::ChainSpace small_space() {
  nas::ChainSpaceOptions o;
  o.kernels = {3, 5};
  o.expansions = {3, 4};
  o.depths = {1, 2};
  o.widths = {1.0};
  o.stem_channels = 8;
  o.stages = {{8, 1}, {16, 2}};
  o.head_channels = 32;
  return nas::ChainSpace(o);
}
const nas::NetworkInput small_input{1, 8, 8, 10};
}  // namespace

TEST_CASE("a ChainSpace network's parameters and MACs equal the hand count and model_cost(plan)", "[model][chain]") {
  const nas::ChainSpace s = small_space();
  const nas::ChainArch a = s.decode("w1|k3e3se|k5e4,k3e3");
  const nas::NetworkPlan plan = nas::plan_network(s, a, small_input);
  // By hand (1x8x8 input, 10 classes):
  //   stem: 3x3 conv 1 -> 8 (72) + BN (16)                                            =   88
  //   stage 0, k3 e3 SE, 8 -> 8 (mid 24, SE to 2): 8*24 + 48 + 24*9 + 48
  //     + SE (24*2 + 2 + 2*24 + 24) + 24*8 + 16                                       =  834
  //   stage 1, k5 e4, 8 -> 16 stride 2 (mid 32): 8*32 + 64 + 32*25 + 64 + 32*16 + 32  = 1728
  //   stage 1, k3 e3, 16 -> 16 (mid 48): 16*48 + 96 + 48*9 + 96 + 48*16 + 32          = 2192
  //   head: 1x1 conv 16 -> 32 (512) + BN (64)                                         =  576
  //   classifier 32 -> 10 with bias                                                   =  330
  const std::size_t hand = 88 + 834 + 1728 + 2192 + 576 + 330;
  REQUIRE(hand == 5748);
  REQUIRE(plan.params() == hand);
  // MACs: stem 72*64; block 0 at 8x8: (192 + 216 + 192)*64 + 122 (SE); block 1: expansion
  // at 8x8 256*64, depthwise and projection at 4x4 (800 + 512)*16; block 2 at 4x4
  // (768 + 432 + 768)*16; head 512*16; classifier 330.
  const double hand_macs = 72.0 * 64 + (600.0 * 64 + 122) + (256.0 * 64 + 1312.0 * 16) + 1968.0 * 16 + 512.0 * 16 + 330;
  REQUIRE(plan.macs() == hand_macs);
  REQUIRE(nas::model_cost(plan).params == hand);
  REQUIRE(nas::model_cost(plan).macs == hand_macs);

  nas::ChainNetwork net(plan);
  REQUIRE(net.num_parameters() == hand);
  REQUIRE(net.macs() == hand_macs);
  REQUIRE(nas::model_cost(net).params == hand);
  REQUIRE(net.output_shape({3, 1, 8, 8}) == nas::Shape{3, 10});
  // The ops in order: stem (3), the three blocks, head conv, pooling, classifier.
  REQUIRE(plan.ops.size() == 9);
  REQUIRE(plan.ops[3].kind == "mbconv_e3_se");
  REQUIRE(plan.ops[3].key().str() == "mbconv_e3_se:c8-8:h8w8:k3:s1:g24");
  REQUIRE(plan.ops[4].key().str() == "mbconv_e4:c8-16:h8w8:k5:s2:g32");
  REQUIRE(plan.ops[4].out == nas::ImageShape{16, 4, 4});
  REQUIRE(plan.ops[6].kind == "head_conv");
  REQUIRE(plan.space == "ChainSpace");
  REQUIRE(plan.arch_text == "w1|k3e3se|k5e4,k3e3");
}

TEST_CASE("the width multiplier scales every channel count with MobileNetV2's rounding", "[model][chain]") {
  const nas::ChainSpace s;  // stem 16, stages 16/24/40/80, head 128
  const nas::NetworkPlan half = nas::plan_network(s, s.decode("w0.5|k3e3|k3e3|k3e3|k3e3"), {1, 28, 28, 10});
  REQUIRE(half.ops[0].out.channels == 8);
  std::vector<int> block_out;
  for (const auto& op : half.ops)
    if (op.role == nas::OpRole::block) block_out.push_back(op.out.channels);
  REQUIRE(block_out == std::vector<int>{8, 16, 24, 40});  // 12 -> 16, 20 -> 24
  REQUIRE(half.ops[half.ops.size() - 3].out.channels == 64);
  // 28 -> 28 -> 14 -> 7 -> 4.
  REQUIRE(half.ops[half.ops.size() - 3].in.height == 4);
  REQUIRE_THROWS_WITH(nas::plan_network(s, s.decode("w0.5|k3e3|k3e3|k3e3|k3e3"), {1, 0, 28, 10}),
                      Catch::Contains("plan_network(ChainSpace)"));
}

TEST_CASE("the built ChainSpace network trains: backward matches finite differences", "[model][chain]") {
  const nas::ChainSpace s = small_space();
  nas::ChainNetwork net(s, s.decode("w1|k3e3se|k5e4,k3e3"), small_input, {.seed = 4});
  nas::Rng rng(5);
  nas::Tensor x({4, 1, 8, 8});
  x.fill_normal(rng);
  // ReLUs after BatchNorm: kinks, so one-sided differences count too.
  const auto r = nas::testing::gradcheck(net, x, {.eps = 1e-3, .max_checks = 16, .floor = 0.2, .check_parameters = false,
                                                  .kink_tolerant = true});
  INFO(r.worst);
  REQUIRE(r.max_error < 5e-2);
}

TEST_CASE("space_keys covers every op of every ChainSpace network, and each key plans and builds", "[model][chain]") {
  const nas::ChainSpace s = small_space();
  const auto keys = nas::space_keys(s, small_input);
  // Stem 3 + stage 0 (8 block choices; its first and second positions have the same
  // geometry, 8 -> 8 at 8x8, stride 1) + stage 1 (8 at the first position, 8 -> 16 at
  // stride 2, and 8 at the second, 16 -> 16 at 4x4) + head 3 (head_conv, pooling, classifier).
  REQUIRE(keys.size() == 3 + 8 + 16 + 3);
  const std::set<nas::OpKey> all(keys.begin(), keys.end());
  REQUIRE(all.size() == keys.size());
  for (unsigned long long i = 0; i < s.size().to_u64(); ++i)
    for (const auto& op : nas::plan_network(s, s.arch(i), small_input).ops) REQUIRE(all.count(op.key()) == 1);
  nas::Rng rng(1);
  for (const auto& k : keys) {
    INFO(k.str());
    const nas::PlannedOp op = nas::plan_op(k);
    REQUIRE(op.key() == k);
    REQUIRE(nas::OpKey::parse(k.str()) == k);
    const auto m = nas::make_op(op, rng);
    REQUIRE(m->num_parameters() == op.params);
    REQUIRE(m->macs(nas::Shape{1, k.in_channels, k.height, k.width}) == op.macs);
  }
  // A key whose groups disagree with its expansion does not describe a block.
  REQUIRE_THROWS_WITH(nas::plan_op(nas::OpKey::parse("mbconv_e3:c8-8:h8w8:k3:s1:g16")), Catch::Contains("does not describe"));
  // The default space on 28x28: every key of sampled networks is listed.
  const nas::ChainSpace def;
  const auto def_keys = nas::space_keys(def, {1, 28, 28, 10});
  const std::set<nas::OpKey> def_all(def_keys.begin(), def_keys.end());
  for (int t = 0; t < 50; ++t)
    for (const auto& op : nas::plan_network(def, def.sample(rng), {1, 28, 28, 10}).ops) REQUIRE(def_all.count(op.key()) == 1);
}

TEST_CASE("TrainedEstimator trains a ChainSpace network on synthetic data above chance", "[model][chain][training]") {
  const auto d = nas::make_synthetic(
      {.classes = 4, .channels = 1, .height = 8, .width = 8, .train = 256, .test = 128, .noise = 0.3, .max_shift = 1, .seed = 3});
  nas::TrainedEstimator<nas::ChainSpace> est(small_space(), d.train, d.test,
                                             {.epochs = 6.0, .batch_size = 32, .lr = 0.05, .threads = 1, .seed = 1});
  const auto e = est.evaluate(small_space().decode("w1|k3e3se|k5e4,k3e3"));
  INFO(e.reason);
  REQUIRE(e.ok());
  CHECK(e.score > 60.0);  // chance is 25%
  CHECK(e.metrics.get_or("params", 0) == 5748 - 330 + (32 * 4 + 4));
}

TEST_CASE("a ChainSpace network with SE traces; the double executor agrees with it and with finite differences",
          "[model][chain][graph]") {
  const nas::ChainSpace s = small_space();
  nas::ChainNetwork net(s, s.decode("w1|k3e3se|k5e4,k3e3se"), small_input, {.seed = 6});
  const nas::Shape in{3, 1, 8, 8};
  nas::Rng rng(7);
  nas::Tensor x(in);
  nas::testing::fill_away_from_zero(x, rng);
  const nas::NetworkGraph g = nas::trace(net, in);
  REQUIRE(g.count(nas::NodeKind::channel_scale) == 2);
  REQUIRE(g.count(nas::NodeKind::sigmoid) == 2);
  REQUIRE(g.count(nas::NodeKind::add) == 2);  // blocks 0 and 2 keep their shape
  REQUIRE(g.named_parameters().size() == net.named_parameters().size());
  nas::ReferenceExecutor ex(g, {.batch_norm = nas::BatchNormMode::batch_statistics});
  for (const auto& e : nas::testing::graph_gradcheck(ex, x)) {
    INFO(e.name << " " << e.detail);
    CHECK(e.error < 1e-6);
  }
  for (const auto& e : nas::testing::compare_with_reference(net, x)) {
    INFO(e.name);
    CHECK(e.error < (e.name == "output" ? 1e-5 : 1e-3));
  }
}

TEST_CASE("a ChainSpace network in evaluation mode (fused, running statistics) agrees with the double executor",
          "[model][chain][graph]") {
  const nas::ChainSpace s = small_space();
  nas::ChainNetwork net(s, s.decode("w1|k3e3se|k5e4,k3e3se"), small_input, {.seed = 8});
  const nas::Shape in{4, 1, 8, 8};
  nas::Rng rng(9);
  for (int k = 0; k < 3; ++k) {  // move the running statistics away from their initial values
    nas::Tensor warm(in);
    nas::testing::fill_away_from_zero(warm, rng);
    (void)net.forward(warm);
  }
  net.eval();
  nas::Tensor x(in);
  nas::testing::fill_away_from_zero(x, rng);
  for (const auto& e : nas::testing::compare_with_reference(net, x)) {
    INFO(e.name);
    CHECK(e.error < (e.name == "output" ? 1e-5 : 1e-3));
  }
}
