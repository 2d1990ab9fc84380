// ChainSpace: exact size, numbering, text form and its errors, mutation and neighbours.
#include <catch2/catch.hpp>

#include <nas/space/chain_space.hpp>

#include <set>
#include <sstream>
#include <string>

using nas::ChainArch;
using nas::ChainBlock;
using nas::ChainSpace;

static_assert(nas::check_search_space<ChainSpace>());
static_assert(nas::SearchSpace<ChainSpace>);

namespace {
// Two stages, kernels 3/5, expansion 3 only, SE on/off, depths 1 or 2, widths 0.5 and 1.
ChainSpace small_space() {
  nas::ChainSpaceOptions o;
  o.kernels = {3, 5};
  o.expansions = {3};
  o.depths = {1, 2};
  o.widths = {0.5, 1.0};
  o.stages = {{8, 1}, {16, 2}};
  return ChainSpace(o);
}

std::string parse_error(const ChainSpace& s, const std::string& text) {
  try {
    (void)s.decode(text);
  } catch (const nas::ParseError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("ChainSpace size equals the hand count", "[space][chain]") {
  // Small space: B = 2 kernels x 1 expansion x 2 (SE) = 4 block choices; a stage of depth 1
  // or 2 has 4 + 16 = 20 forms; two stages and two widths: 2 x 20 x 20 = 800.
  const ChainSpace small = small_space();
  REQUIRE(small.block_choices() == 4);
  REQUIRE(small.size() == nas::SpaceSize(800));
  // Default: B = 3 x 3 x 2 = 18; a stage has 18 + 324 + 5832 + 104976 = 111150 forms;
  // 3 widths x 111150^4 = 457,887,853,302,018,750,000 (above 2^64 = 18,446,744,073,709,551,616).
  const ChainSpace def;
  REQUIRE(def.block_choices() == 18);
  REQUIRE(def.size().to_string() == "457887853302018750000");
  REQUIRE_FALSE(def.size().fits_u64());
  // Without SE: B = 9, a stage 9 + 81 + 729 + 6561 = 7380 forms, 3 x 7380^4.
  nas::ChainSpaceOptions no_se;
  no_se.squeeze_excite = false;
  REQUIRE(ChainSpace(no_se).size().to_string() == "8899112602080000");
}

TEST_CASE("ChainSpace index and arch number every member of a small space once", "[space][chain]") {
  const ChainSpace s = small_space();
  std::set<ChainArch> seen;
  std::set<std::string> texts;
  for (unsigned long long i = 0; i < 800; ++i) {
    const ChainArch a = s.arch(i);
    REQUIRE(s.contains(a));
    REQUIRE(s.index(a) == nas::SpaceSize(i));
    seen.insert(a);
    texts.insert(s.encode(a));
  }
  REQUIRE(seen.size() == 800);
  REQUIRE(texts.size() == 800);
  REQUIRE_THROWS_AS(s.arch(800), nas::ConfigError);
  // The numbering's first and last members.
  REQUIRE(s.encode(s.arch(0)) == "w0.5|k3e3|k3e3");
  REQUIRE(s.encode(s.arch(799)) == "w1|k5e3se,k5e3se|k5e3se,k5e3se");
}

TEST_CASE("ChainSpace decode inverts encode", "[space][chain]") {
  const ChainSpace s;
  const ChainArch a{0.75, {{{3, 6, true}, {5, 3, false}}, {{7, 4, true}}, {{3, 3, false}, {3, 3, false}, {5, 6, false}}, {{5, 4, false}}}};
  REQUIRE(s.encode(a) == "w0.75|k3e6se,k5e3|k7e4se|k3e3,k3e3,k5e6|k5e4");
  REQUIRE(s.decode("w0.75|k3e6se,k5e3|k7e4se|k3e3,k3e3,k5e6|k5e4") == a);
  std::ostringstream os;
  os << a;
  REQUIRE(os.str() == s.encode(a));
  nas::Rng rng(7);
  for (int i = 0; i < 500; ++i) {
    const ChainArch b = s.sample(rng);
    REQUIRE(s.decode(s.encode(b)) == b);
    REQUIRE(s.arch(s.index(b)) == b);
  }
}

TEST_CASE("ChainSpace decode errors name the offset, the token and what is allowed", "[space][chain]") {
  const ChainSpace s;
  const std::string good = "w1|k3e3|k3e3|k3e3|k3e3";
  REQUIRE(s.decode(good).width == 1.0);
  REQUIRE_THAT(parse_error(s, "w0.6|k3e3|k3e3|k3e3|k3e3"),
               Catch::Contains("width not in the space (0.5, 0.75, 1): '0.6' at offset 1"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3|k9e3|k3e3|k3e3"), Catch::Contains("kernel not in the space (3, 5, 7): 'k9' at offset 8"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3|k3e5|k3e3|k3e3"),
               Catch::Contains("expansion not in the space (3, 4, 6): 'e5' at offset 10"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3|k3e3x|k3e3|k3e3"), Catch::Contains("'x' at offset 12"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3|k3e3|k3e3"), Catch::Contains("3 stages, the space 4"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3|k3e3|k3e3|k3e3|k3e3"), Catch::Contains("more stages than the space's 4"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3,k3e3,k3e3,k3e3,k3e3|k3e3|k3e3|k3e3"),
               Catch::Contains("stage 0 has 5 blocks, not one of the space's depths (1, 2, 3, 4)"));
  REQUIRE_THAT(parse_error(s, "w1|k3e3||k3e3|k3e3"), Catch::Contains("'(empty)' at offset 8"));
  REQUIRE_THAT(parse_error(s, "x1|k3e3"), Catch::Contains("expected 'w<width>' but found 'x' at offset 0"));
  nas::ChainSpaceOptions no_se;
  no_se.squeeze_excite = false;
  REQUIRE_THAT(parse_error(ChainSpace(no_se), "w1|k3e3se|k3e3|k3e3|k3e3"),
               Catch::Contains("squeeze-and-excitation is not a choice of this space: 'se' at offset 7"));
}

TEST_CASE("ChainSpace rejects bad options and architectures outside it", "[space][chain]") {
  nas::ChainSpaceOptions o;
  o.kernels = {3, 4};
  REQUIRE_THROWS_WITH(ChainSpace(o), Catch::Contains("ChainSpace: kernels (3, 4) must be distinct odd sizes"));
  o = {};
  o.widths = {1.0, 1.0};
  REQUIRE_THROWS_WITH(ChainSpace(o), Catch::Contains("widths (1, 1) must be distinct"));
  o = {};
  o.stages = {};
  REQUIRE_THROWS_WITH(ChainSpace(o), Catch::Contains("no stages"));
  const ChainSpace s;
  ChainArch a = s.decode("w1|k3e3|k3e3|k3e3|k3e3");
  a.stages[2][0].kernel = 9;
  REQUIRE_FALSE(s.contains(a));
  REQUIRE_THROWS_WITH(s.encode(a), Catch::Contains("ChainSpace::encode: block 0 of stage 2 (k9e3) is not in the space"));
}

TEST_CASE("ChainSpace mutate changes one decision and stays among the neighbours", "[space][chain]") {
  const ChainSpace s;
  nas::Rng rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const ChainArch a = s.sample(rng);
    const auto ns = s.neighbors(a);
    // Neighbours: width 2 others, 4 stages x 3 other depths, per block 2 kernels + 2 expansions + SE.
    REQUIRE(ns.size() == 2 + 4 * 3 + 5 * a.num_blocks());
    const std::set<ChainArch> nset(ns.begin(), ns.end());
    REQUIRE(nset.size() == ns.size());
    REQUIRE(nset.count(a) == 0);
    const ChainArch m = s.mutate(a, rng);
    REQUIRE(m != a);
    REQUIRE(nset.count(m) == 1);
    REQUIRE(s.contains(m));
  }
  // A deeper stage repeats its last block; a shallower one drops its last blocks.
  const ChainArch a = s.decode("w1|k3e3,k5e6se|k3e3|k3e3|k3e3");
  const auto ns = s.neighbors(a);
  REQUIRE(std::count(ns.begin(), ns.end(), s.decode("w1|k3e3,k5e6se,k5e6se,k5e6se|k3e3|k3e3|k3e3")) == 1);
  REQUIRE(std::count(ns.begin(), ns.end(), s.decode("w1|k3e3|k3e3|k3e3|k3e3")) == 1);
}

TEST_CASE("ChainSpace channels round as MobileNetV2 does", "[space][chain]") {
  REQUIRE(ChainSpace::make_divisible(16 * 0.5, 8) == 8);
  REQUIRE(ChainSpace::make_divisible(24 * 0.5, 8) == 16);   // 12 rounds up to 16
  REQUIRE(ChainSpace::make_divisible(24 * 0.75, 8) == 24);  // 18 -> 16 would lose more than 10%
  REQUIRE(ChainSpace::make_divisible(40 * 0.75, 8) == 32);
  REQUIRE(ChainSpace::make_divisible(3.0, 8) == 8);
}
