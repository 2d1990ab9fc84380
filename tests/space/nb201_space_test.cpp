// Nb201Space: encoding, official index, mutation, neighbours, isomorphism classes.
#include <catch2/catch.hpp>

#include <nas/space/nb201_space.hpp>

#include <set>
#include <sstream>
#include <unordered_set>

using nas::Nb201Arch;
using nas::Nb201Space;

static_assert(nas::check_search_space<Nb201Space>());
static_assert(nas::SearchSpace<Nb201Space>);

namespace {
constexpr const char* kOptimum =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
}

TEST_CASE("Nb201Space encodes in the benchmark's exact string form", "[space][nb201]") {
  const Nb201Space s;
  const Nb201Arch a{{nas::nb201::conv3x3, nas::nb201::conv3x3, nas::nb201::avg_pool, nas::nb201::skip,
                     nas::nb201::conv3x3, nas::nb201::skip}};
  REQUIRE(s.encode(a) ==
          "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|");
  std::ostringstream os;
  os << a;
  REQUIRE(os.str() == s.encode(a));
  REQUIRE(a.op_name(2) == "avg_pool_3x3");
}

TEST_CASE("Nb201Space decode inverts encode for every cell", "[space][nb201]") {
  const Nb201Space s;
  for (std::uint16_t c = 0; c < 15625; ++c) {
    const auto a = Nb201Arch::from_code(c);
    REQUIRE(a.code() == c);
    REQUIRE(s.decode(s.encode(a)) == a);
  }
}

TEST_CASE("Nb201Space index and arch are inverse over all 15,625 cells", "[space][nb201]") {
  std::set<std::size_t> seen;
  for (std::size_t i = 0; i < Nb201Space::num_archs; ++i) {
    const auto a = Nb201Space::arch(i);
    REQUIRE(Nb201Space::index(a) == i);
    seen.insert(a.code());
  }
  REQUIRE(seen.size() == 15625);
  REQUIRE_THROWS_AS(Nb201Space::arch(15625), nas::ConfigError);
}

TEST_CASE("Nb201Space index is the official NAS-Bench-201 index", "[space][nb201]") {
  const Nb201Space s;
  // Rows of the benchmark (the AutoDL code asserts rows 0 and 9 after its shuffle).
  REQUIRE(s.encode(Nb201Space::arch(0)) ==
          "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|");
  REQUIRE(s.encode(Nb201Space::arch(9)) == "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|");
  REQUIRE(Nb201Space::index(s.decode(kOptimum)) == 6111);
  const Nb201Arch all_skip{{1, 1, 1, 1, 1, 1}};
  REQUIRE(Nb201Space::index(all_skip) == 1835);
}

TEST_CASE("Nb201Space decode names the bad token and its offset", "[space][nb201]") {
  const Nb201Space s;
  auto message = [&](std::string_view text) {
    try {
      (void)s.decode(text);
    } catch (const nas::ParseError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string bad_op = "|nor_conv_3x3~0|+|nor_conv_3x3~0|conv~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
  REQUIRE_THAT(message(bad_op), Catch::Contains("'conv'") && Catch::Contains("offset 33"));
  const std::string bad_input = "|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
  REQUIRE_THAT(message(bad_input), Catch::Contains("'1'") && Catch::Contains("offset 14"));
  REQUIRE_THAT(message("|nor_conv_3x3~0|"), Catch::Contains("end of text") && Catch::Contains("offset 16"));
  REQUIRE_THAT(message(std::string(kOptimum) + "x"), Catch::Contains("trailing") && Catch::Contains("'x'"));
  REQUIRE_THAT(message(""), Catch::Contains("offset 0"));
  REQUIRE_THROWS_AS(s.decode("|none~0|+|none~0|none~1|+|none~0|none~1|"), nas::ParseError);
}

TEST_CASE("Nb201Space mutate changes exactly one edge to a different op", "[space][nb201]") {
  const Nb201Space s;
  nas::Rng rng(11);
  std::array<int, 5> new_ops{};
  for (int t = 0; t < 2000; ++t) {
    const auto a = s.sample(rng);
    const auto b = s.mutate(a, rng);
    int changed = 0;
    for (std::size_t e = 0; e < 6; ++e)
      if (a.ops[e] != b.ops[e]) {
        ++changed;
        ++new_ops[b.ops[e]];
      }
    REQUIRE(changed == 1);
  }
  for (int count : new_ops) REQUIRE(count > 300);  // every op is reachable
}

TEST_CASE("Nb201Space neighbors are the 24 distinct single-edge changes", "[space][nb201]") {
  const Nb201Space s;
  nas::Rng rng(3);
  for (int t = 0; t < 50; ++t) {
    const auto a = s.sample(rng);
    const auto n = s.neighbors(a);
    REQUIRE(n.size() == 24);
    std::unordered_set<Nb201Arch> distinct(n.begin(), n.end());
    REQUIRE(distinct.size() == 24);
    REQUIRE(distinct.count(a) == 0);
    for (const auto& b : n) {
      int changed = 0;
      for (std::size_t e = 0; e < 6; ++e) changed += a.ops[e] != b.ops[e];
      REQUIRE(changed == 1);
    }
  }
}

TEST_CASE("Nb201Space sample covers the space uniformly enough", "[space][nb201]") {
  const Nb201Space s;
  nas::Rng rng(5);
  std::array<std::array<int, 5>, 6> counts{};
  for (int t = 0; t < 10000; ++t) {
    const auto a = s.sample(rng);
    for (std::size_t e = 0; e < 6; ++e) ++counts[e][a.ops[e]];
  }
  for (const auto& edge : counts)
    for (int c : edge) REQUIRE((c > 1700 && c < 2300));
  REQUIRE(s.size() == nas::SpaceSize(15625));
}

TEST_CASE("Nb201Space isomorphism classes: 6,466, and known equivalences", "[space][nb201]") {
  REQUIRE(Nb201Space::num_iso_classes() == 6466);
  const Nb201Space s;
  // A skip edge passes its source through: conv3x3 after a skip equals conv3x3 on the input.
  const auto a = s.decode("|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|");
  const auto b = s.decode("|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|");
  REQUIRE(Nb201Space::isomorphic(a, b));
  REQUIRE(Nb201Space::unique_str(a) == Nb201Space::unique_str(b));
  REQUIRE(Nb201Space::unique_str(a) == "#+#+(0)@nor_conv_3x3");
  // An edge out of a node that only receives zeros does not matter.
  const auto c = s.decode("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|");
  const auto d = s.decode("|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|skip_connect~1|skip_connect~2|");
  REQUIRE(Nb201Space::isomorphic(c, d));
  // Different ops on the only path are not isomorphic.
  const auto e = s.decode("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|");
  REQUIRE_FALSE(Nb201Space::isomorphic(c, e));
  // The representative is the smallest index of the class, and canonical() returns it.
  REQUIRE(Nb201Space::iso_rep(a) <= std::min(Nb201Space::index(a), Nb201Space::index(b)));
  REQUIRE(Nb201Space::index(Nb201Space::canonical(a)) == Nb201Space::iso_rep(a));
  REQUIRE(Nb201Space::iso_rep(Nb201Space::canonical(a)) == Nb201Space::iso_rep(a));
}

TEST_CASE("Nb201Space::connected tells whether the output sees the input", "[space][nb201]") {
  const Nb201Space s;
  REQUIRE(Nb201Space::connected(s.decode(kOptimum)));
  REQUIRE_FALSE(Nb201Space::connected(s.decode("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")));
  REQUIRE_FALSE(Nb201Space::connected(s.decode("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")));
  REQUIRE(Nb201Space::connected(s.decode("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")));
  // A cell without an input-output path has a unique string that never mentions the input.
  std::size_t disconnected = 0;
  for (std::size_t i = 0; i < Nb201Space::num_archs; ++i) {
    const auto a = Nb201Space::arch(i);
    const bool mentions_input = Nb201Space::unique_str(a).find('0') != std::string::npos;
    REQUIRE(mentions_input == Nb201Space::connected(a));
    disconnected += !Nb201Space::connected(a);
  }
  REQUIRE(disconnected > 0);
}
