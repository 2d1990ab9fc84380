// CellSpace: counting, sampling, mutation, neighbours and the DARTS genotype text.
#include <catch2/catch.hpp>

#include <nas/space/cell_space.hpp>

#include <algorithm>
#include <deque>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_set>

using nas::CellArch;
using nas::CellSpace;
using nas::SpaceSize;

static_assert(nas::check_search_space<CellSpace>());

namespace {

// Every architecture reachable from `start` through neighbors(): a brute-force count.
std::size_t count_by_search(const CellSpace& s, const CellArch& start) {
  std::unordered_set<CellArch> seen{start};
  std::deque<CellArch> todo{start};
  while (!todo.empty()) {
    const CellArch a = todo.front();
    todo.pop_front();
    for (auto& n : s.neighbors(a))
      if (seen.insert(n).second) todo.push_back(std::move(n));
  }
  return seen.size();
}

// Every architecture by nested enumeration of each node's picks, keeping only the valid ones.
std::size_t count_by_enumeration(const CellSpace& s) {
  std::size_t total = 1;
  for (std::size_t node = 0; node < s.num_nodes(); ++node) {
    const std::size_t m = s.num_inputs() + node;
    std::size_t per_node = 0;
    for (std::size_t i0 = 0; i0 < m; ++i0)
      for (std::size_t i1 = 0; i1 < m; ++i1)
        for (std::size_t o0 = 0; o0 < s.ops().size(); ++o0)
          for (std::size_t o1 = 0; o1 < s.ops().size(); ++o1)
            per_node += !s.options().distinct_inputs || i0 < i1;
    total *= per_node;
  }
  return s.has_reduction() ? total * total : total;
}

int count_changes(const std::vector<nas::CellPick>& a, const std::vector<nas::CellPick>& b) {
  int changes = 0;
  for (std::size_t i = 0; i < a.size(); ++i) changes += (a[i].input != b[i].input) + (a[i].op != b[i].op);
  return changes;
}

}  // namespace

TEST_CASE("CellSpace::seed reproduces the seed's counts: 100, 225, 400, 625 and 5,625,000,000", "[space][cell]") {
  const auto s = CellSpace::seed();
  const auto per_node = s.choices_per_node();
  REQUIRE(per_node.size() == 4);
  REQUIRE(per_node[0] == SpaceSize(100));
  REQUIRE(per_node[1] == SpaceSize(225));
  REQUIRE(per_node[2] == SpaceSize(400));
  REQUIRE(per_node[3] == SpaceSize(625));
  REQUIRE(s.size() == SpaceSize(5'625'000'000ULL));
  REQUIRE(s.size().to_string(true) == "5,625,000,000");
}

TEST_CASE("CellSpace::darts counts two distinct inputs per node in both cells", "[space][cell]") {
  const auto s = CellSpace::darts();
  REQUIRE(s.ops().size() == 8);
  const SpaceSize cell = SpaceSize(64) * SpaceSize(192) * SpaceSize(384) * SpaceSize(640);
  REQUIRE(s.cell_size() == cell);
  REQUIRE(s.size() == cell * cell);
  REQUIRE(s.size().fits_u64());  // 9.1e18 still fits in 64 bits
  REQUIRE(s.size().to_string() == "9119789245425254400");
}

TEST_CASE("CellSpace size matches brute-force enumeration on small configurations", "[space][cell]") {
  nas::Rng rng(17);
  const std::vector<CellSpace::Options> configs{
      {.nodes = 2, .ops = {"a", "b"}},
      {.nodes = 1, .ops = {"a", "b", "c"}, .inputs = 2, .reduction = true},
      {.nodes = 3, .ops = {"a"}, .inputs = 1},
      {.nodes = 3, .ops = {"a", "b"}, .inputs = 2, .reduction = false, .distinct_inputs = true},
      {.nodes = 2, .ops = {"a", "b"}, .inputs = 3, .reduction = true, .distinct_inputs = true},
  };
  for (const auto& opt : configs) {
    const CellSpace s(opt);
    INFO("nodes " << opt.nodes << " ops " << opt.ops.size() << " inputs " << opt.inputs << " reduction "
                  << opt.reduction << " distinct " << opt.distinct_inputs);
    const std::size_t expected = count_by_enumeration(s);
    REQUIRE(s.size() == SpaceSize(expected));
    REQUIRE(count_by_search(s, s.sample(rng)) == expected);
  }
}

TEST_CASE("CellSpace encode/decode round-trips random architectures", "[space][cell]") {
  nas::Rng rng(23);
  for (const auto& s : {CellSpace::seed(), CellSpace::darts(),
                        CellSpace({.nodes = 6, .ops = {"x"}, .inputs = 3}),
                        CellSpace({.nodes = 1, .ops = {"p", "q"}, .inputs = 1, .reduction = true})}) {
    for (int t = 0; t < 300; ++t) {
      const auto a = s.sample(rng);
      s.check_arch(a, "test");
      REQUIRE(s.decode(s.encode(a)) == a);
    }
  }
}

TEST_CASE("CellSpace reads DARTS genotypes as printed by the DARTS code", "[space][cell]") {
  const auto s = CellSpace::darts();
  const std::string darts_v2 =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
      "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  const auto a = s.decode(darts_v2);
  // Node 2 was written (1, 0): with distinct inputs the picks are kept sorted by input.
  REQUIRE(a.normal[4] == nas::CellPick{0, static_cast<std::uint8_t>(s.op_code("skip_connect"))});
  REQUIRE(a.normal[5] == nas::CellPick{1, static_cast<std::uint8_t>(s.op_code("sep_conv_3x3"))});
  REQUIRE(a.reduce[2] == nas::CellPick{1, static_cast<std::uint8_t>(s.op_code("max_pool_3x3"))});
  REQUIRE(a.reduce[3] == nas::CellPick{2, static_cast<std::uint8_t>(s.op_code("skip_connect"))});
  REQUIRE(s.decode(s.encode(a)) == a);
  REQUIRE_THAT(s.encode(a), Catch::StartsWith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "));
  REQUIRE_THAT(s.encode(a), Catch::EndsWith("reduce_concat=range(2, 6))"));
  // Double quotes, other spacing and keyword order are accepted too.
  const auto seed = CellSpace::seed();
  const auto b = seed.decode(
      " Genotype( normal_concat = range(2,6) , normal = [(\"conv3x3\",0),(\"skip\",1),(\"none\",2),(\"maxpool\",0),"
      "(\"conv5x5\",3),(\"conv5x5\",3),(\"skip\",4),(\"skip\",0)] ) ");
  REQUIRE(b.normal[2] == nas::CellPick{2, 4});
  REQUIRE(seed.encode(b) ==
          "Genotype(normal=[('conv3x3', 0), ('skip', 1), ('none', 2), ('maxpool', 0), ('conv5x5', 3), ('conv5x5', 3), "
          "('skip', 4), ('skip', 0)], normal_concat=range(2, 6))");
}

TEST_CASE("CellSpace decode throws ParseError naming the token and offset", "[space][cell]") {
  const auto s = CellSpace::seed();
  auto message = [&](const CellSpace& space, std::string_view text) {
    try {
      (void)space.decode(text);
    } catch (const nas::ParseError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string good_tail =
      "('skip', 1), ('none', 2), ('maxpool', 0), ('conv5x5', 3), ('conv5x5', 3), ('skip', 4), ('skip', 0)]";
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv7x7', 0), " + good_tail + ")"),
               Catch::Contains("'conv7x7'") && Catch::Contains("offset 18"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 2), " + good_tail + ")"),
               Catch::Contains("'2'") && Catch::Contains("offset 29"));
  REQUIRE_THAT(message(s, "Genotyp(normal=[])"), Catch::Contains("'Genotyp'") && Catch::Contains("offset 0"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 0)])"), Catch::Contains("expected 8 picks"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 0), " + good_tail + ", reduce=[])"),
               Catch::Contains("no reduction cell") && Catch::Contains("'reduce'"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 0), " + good_tail + ", normal_concat=range(2, 5))"),
               Catch::Contains("concat"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 0), " + good_tail + ") extra"),
               Catch::Contains("trailing") && Catch::Contains("'extra'"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3, 0)])"), Catch::Contains("unterminated"));
  REQUIRE_THAT(message(s, "Genotype(normal=[('conv3x3', 0), " + good_tail), Catch::Contains("end of text"));
  REQUIRE_THAT(message(CellSpace::darts(), "Genotype(normal=[('none', 0), ('none', 0)"),
               Catch::Contains("same input twice"));
  REQUIRE_THAT(message(CellSpace::darts(), "Genotype(normal=[])"), Catch::Contains("expected 8 picks"));
}

TEST_CASE("CellSpace mutate changes exactly one choice", "[space][cell]") {
  nas::Rng rng(29);
  const CellSpace ordered = CellSpace::seed();
  const CellSpace both({.nodes = 3, .ops = {"a", "b", "c"}, .inputs = 2, .reduction = true});
  for (const auto* s : {&ordered, &both}) {
    int op_changes = 0, input_changes = 0;
    for (int t = 0; t < 2000; ++t) {
      const auto a = s->sample(rng);
      const auto b = s->mutate(a, rng);
      s->check_arch(b, "test");
      REQUIRE(count_changes(a.normal, b.normal) + count_changes(a.reduce, b.reduce) == 1);
      for (std::size_t i = 0; i < a.normal.size(); ++i) {
        op_changes += a.normal[i].op != b.normal[i].op;
        input_changes += a.normal[i].input != b.normal[i].input;
      }
    }
    REQUIRE(op_changes > 300);
    REQUIRE(input_changes > 300);
  }
}

TEST_CASE("CellSpace mutate with distinct inputs moves one pick and keeps the node valid", "[space][cell]") {
  nas::Rng rng(31);
  const auto s = CellSpace::darts();
  for (int t = 0; t < 2000; ++t) {
    const auto a = s.sample(rng);
    const auto b = s.mutate(a, rng);
    REQUIRE(a != b);
    s.check_arch(b, "test");  // inputs distinct and sorted
    // As multisets of picks, exactly one node of one cell differs, by one pick.
    int nodes_changed = 0;
    for (const auto* cells : {&a.normal, &a.reduce}) {
      const auto& other = cells == &a.normal ? b.normal : b.reduce;
      for (std::size_t n = 0; n < 4; ++n) {
        std::multiset<std::pair<int, int>> x{{(*cells)[2 * n].input, (*cells)[2 * n].op},
                                             {(*cells)[2 * n + 1].input, (*cells)[2 * n + 1].op}};
        std::multiset<std::pair<int, int>> y{{other[2 * n].input, other[2 * n].op},
                                             {other[2 * n + 1].input, other[2 * n + 1].op}};
        if (x != y) {
          ++nodes_changed;
          std::vector<std::pair<int, int>> common;
          std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(common));
          REQUIRE(common.size() == 1);
        }
      }
    }
    REQUIRE(nodes_changed == 1);
  }
}

TEST_CASE("CellSpace neighbors are distinct, one choice away, and counted exactly", "[space][cell]") {
  nas::Rng rng(37);
  const auto s = CellSpace::seed();
  for (int t = 0; t < 30; ++t) {
    const auto a = s.sample(rng);
    const auto n = s.neighbors(a);
    // Per pick: 4 other ops + (inputs available - 1) other inputs; nodes offer 2, 3, 4, 5 inputs.
    REQUIRE(n.size() == 2 * ((4 + 1) + (4 + 2) + (4 + 3) + (4 + 4)));
    const std::unordered_set<CellArch> distinct(n.begin(), n.end());
    REQUIRE(distinct.size() == n.size());
    REQUIRE(distinct.count(a) == 0);
    for (const auto& b : n) REQUIRE(count_changes(a.normal, b.normal) == 1);
  }
  const auto d = CellSpace::darts();
  const auto a = d.sample(rng);
  const auto n = d.neighbors(a);
  // Per pick: 7 other ops + (m - 2) inputs not used by the node; m = 2, 3, 4, 5; two cells.
  REQUIRE(n.size() == 2 * 2 * ((7 + 0) + (7 + 1) + (7 + 2) + (7 + 3)));
  REQUIRE(std::unordered_set<CellArch>(n.begin(), n.end()).size() == n.size());
}

TEST_CASE("CellSpace rejects bad options and foreign architectures", "[space][cell]") {
  REQUIRE_THROWS_AS(CellSpace({.nodes = 0}), nas::ConfigError);
  REQUIRE_THROWS_AS(CellSpace({.nodes = 2, .ops = {}}), nas::ConfigError);
  REQUIRE_THROWS_AS(CellSpace({.nodes = 2, .ops = {"a", "a"}}), nas::ConfigError);
  REQUIRE_THROWS_AS(CellSpace({.nodes = 2, .ops = {"a'b"}}), nas::ConfigError);
  REQUIRE_THROWS_AS(CellSpace({.nodes = 2, .ops = {"a"}, .inputs = 1, .distinct_inputs = true}), nas::ConfigError);
  const auto s = CellSpace::seed();
  nas::Rng rng(1);
  const auto d = CellSpace::darts().sample(rng);
  REQUIRE_THROWS_AS(s.encode(d), nas::ConfigError);
  REQUIRE_THROWS_AS(s.mutate(d, rng), nas::ConfigError);
  const CellSpace single({.nodes = 1, .ops = {"a"}, .inputs = 1});
  REQUIRE(single.size() == SpaceSize(1));
  REQUIRE(single.neighbors(single.sample(rng)).empty());
  REQUIRE_THROWS_AS(single.mutate(single.sample(rng), rng), nas::ConfigError);
}

TEST_CASE("CellSpace sizes beyond 64 bits are exact", "[space][cell]") {
  const CellSpace big({.nodes = 5, .ops = {"a", "b", "c", "d", "e", "f", "g", "h"}, .inputs = 2, .reduction = true});
  // Per node ((k + 2) * 8)^2 for k = 0..4, squared for two cells: about 3.1e29.
  SpaceSize cell(1);
  for (unsigned long long k = 0; k < 5; ++k) cell *= SpaceSize((k + 2) * 8 * (k + 2) * 8);
  REQUIRE(big.size() == cell * cell);
  REQUIRE_FALSE(big.size().fits_u64());
  REQUIRE(big.size().to_string() == "309834464941077422470594560000");
  // Beyond 2^128 the count refuses to wrap around.
  const CellSpace huge({.nodes = 7, .ops = {"a", "b", "c", "d", "e", "f", "g", "h"}, .inputs = 2, .reduction = true});
  REQUIRE_THROWS_AS(huge.size(), nas::ConfigError);
  std::ostringstream os;
  nas::Rng rng(2);
  os << CellSpace::seed().sample(rng);
  REQUIRE_THAT(os.str(), Catch::StartsWith("normal=["));
}
