// compound_scale: EfficientNet's depth, width and resolution rules on ChainSpace networks.
#include <catch2/catch.hpp>

#include <nas/model/chain_network.hpp>
#include <nas/space/compound_scaling.hpp>

namespace {
std::vector<std::size_t> depths(const nas::ChainArch& a) {
  std::vector<std::size_t> v;
  for (const auto& s : a.stages) v.push_back(s.size());
  return v;
}
}  // namespace

TEST_CASE("compound scaling at phi = 0 leaves the network unchanged", "[model][compound_scaling]") {
  const nas::ChainSpace space;
  const nas::ChainArch a = space.decode("w0.75|k3e6se|k5e3,k7e4|k3e3,k3e3,k5e6|k5e4,k5e4,k3e3,k3e6se");
  const auto s = nas::compound_scale(space, a, 28, 28, 0.0);
  REQUIRE(s.arch == a);
  REQUIRE(s.height == 28);
  REQUIRE(s.width == 28);
  const auto p0 = nas::plan_network(space, a, {1, 28, 28, 10});
  const auto p1 = nas::plan_network(s.space, s.arch, {1, s.height, s.width, 10});
  REQUIRE(p1.params() == p0.params());
  REQUIRE(p1.macs() == p0.macs());
}

TEST_CASE("compound scaling follows EfficientNet's rounding at phi = 1 and 2", "[model][compound_scaling]") {
  const nas::CompoundScaling c;
  REQUIRE(c.flops_factor() == Approx(1.2 * 1.21 * 1.3225));  // 1.920, the paper's ~2
  const nas::ChainSpace space;  // stem 16, stages 16/24/40/80, head 128
  const nas::ChainArch a = space.decode("w1|k3e6se|k5e3,k7e4|k3e3,k3e3,k5e6|k5e4,k5e4,k3e3,k3e6se");
  const auto s1 = nas::compound_scale(space, a, 28, 28, 1.0);
  // Depth 1.2: ceil(1.2) = 2, ceil(2.4) = 3, ceil(3.6) = 4, ceil(4.8) = 5; new blocks repeat the last.
  REQUIRE(depths(s1.arch) == std::vector<std::size_t>{2, 3, 4, 5});
  REQUIRE(s1.arch.stages[1][2] == a.stages[1][1]);
  REQUIRE(s1.arch.width == Approx(1.1));
  REQUIRE(nas::compound_scale(space, space.decode("w0.75|k3e3|k3e3|k3e3|k3e3"), 28, 28, 1.0).space.encode(
              nas::compound_scale(space, space.decode("w0.75|k3e3|k3e3|k3e3|k3e3"), 28, 28, 1.0).arch) ==
          "w0.825|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3");
  REQUIRE(s1.height == 32);  // round(28 * 1.15 = 32.2)
  // Width 1.1: 16 * 1.1 = 17.6 -> 16; 24 * 1.1 = 26.4 -> 24; 44 -> 48; 88 -> 88; head 140.8 -> 144.
  const auto p1 = nas::plan_network(s1.space, s1.arch, {1, s1.height, s1.width, 10});
  REQUIRE(p1.ops[0].out.channels == 16);
  std::vector<int> stage_channels;
  for (const auto& op : p1.ops)
    if (op.role == nas::OpRole::block && (stage_channels.empty() || stage_channels.back() != op.out.channels))
      stage_channels.push_back(op.out.channels);
  REQUIRE(stage_channels == std::vector<int>{16, 24, 48, 88});
  REQUIRE(p1.ops[p1.ops.size() - 3].out.channels == 144);

  const auto s2 = nas::compound_scale(space, a, 28, 28, 2.0);
  // Depth 1.44: 2, 3 (2.88), 5 (4.32), 6 (5.76); width 1.21: stem 19.36 -> 16 would lose
  // more than 10%, so 24; resolution round(28 * 1.3225 = 37.03) = 37.
  REQUIRE(depths(s2.arch) == std::vector<std::size_t>{2, 3, 5, 6});
  REQUIRE(s2.height == 37);
  const auto p2 = nas::plan_network(s2.space, s2.arch, {1, s2.height, s2.width, 10});
  REQUIRE(p2.ops[0].out.channels == 24);
  // Each step of phi multiplies the MACs by roughly alpha beta^2 gamma^2 (rounding moves it).
  const double m0 = nas::plan_network(space, a, {1, 28, 28, 10}).macs();
  REQUIRE(p1.macs() > 1.3 * m0);
  REQUIRE(p2.macs() > 1.3 * p1.macs());
  REQUIRE(s2.space.contains(s2.arch));
}

TEST_CASE("compound scaling rejects a negative phi and coefficients below 1", "[model][compound_scaling]") {
  const nas::ChainSpace space;
  const nas::ChainArch a = space.decode("w1|k3e3|k3e3|k3e3|k3e3");
  REQUIRE_THROWS_WITH(nas::compound_scale(space, a, 28, 28, -1.0), Catch::Contains("compound_scale: phi (-1) must be"));
  REQUIRE_THROWS_WITH(nas::compound_scale(space, a, 28, 28, 1.0, {.alpha = 0.9}), Catch::Contains("alpha (0.9)"));
  nas::ChainArch outside = a;
  outside.width = 0.6;
  REQUIRE_THROWS_AS(nas::compound_scale(space, outside, 28, 28, 1.0), nas::ConfigError);
}
