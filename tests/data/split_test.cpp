// Splits and subsets: disjoint, covering, stratified, reproducible by seed.
#include <catch2/catch.hpp>

#include <nas/data/split.hpp>
#include <nas/data/synthetic.hpp>

#include <algorithm>
#include <set>

namespace {
nas::Dataset labelled(std::vector<std::int32_t> labels, int classes) {
  nas::Dataset d;
  d.channels = 1;
  d.height = 1;
  d.width = 2;
  d.classes = classes;
  d.labels = std::move(labels);
  for (std::size_t i = 0; i < d.labels.size(); ++i) {
    d.images.push_back(static_cast<float>(i));
    d.images.push_back(-static_cast<float>(i));
  }
  return d;
}
}  // namespace

TEST_CASE("split_indices is disjoint, covers the data and is reproducible by seed", "[data][split]") {
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 1000; ++i) labels.push_back(i % 7 == 0 ? 0 : i % 3 + 1);
  const auto d = labelled(labels, 4);
  for (bool stratified : {true, false}) {
    const auto s = nas::split_indices(d, {.valid_fraction = 0.2, .seed = 5, .stratified = stratified});
    REQUIRE(s.valid.size() == 200);
    REQUIRE(s.train.size() == 800);
    std::set<std::size_t> all(s.train.begin(), s.train.end());
    for (auto i : s.valid) REQUIRE(all.insert(i).second);
    REQUIRE(all.size() == 1000);
    REQUIRE(*all.rbegin() == 999);
    const auto again = nas::split_indices(d, {.valid_fraction = 0.2, .seed = 5, .stratified = stratified});
    REQUIRE(again.valid == s.valid);
    const auto other = nas::split_indices(d, {.valid_fraction = 0.2, .seed = 6, .stratified = stratified});
    REQUIRE(other.valid != s.valid);
  }
}

TEST_CASE("a stratified split keeps class proportions", "[data][split]") {
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 900; ++i) labels.push_back(i < 600 ? 0 : (i < 800 ? 1 : 2));  // 600/200/100
  const auto d = labelled(labels, 3);
  const auto tv = nas::train_valid_split(d, {.valid_size = 90, .seed = 1});
  REQUIRE(tv.valid.class_counts() == std::vector<std::size_t>{60, 20, 10});
  REQUIRE(tv.train.class_counts() == std::vector<std::size_t>{540, 180, 90});
  // Images travel with their labels.
  for (std::size_t i = 0; i < tv.valid.size(); ++i) {
    const auto orig = static_cast<std::size_t>(tv.valid.image(i)[0]);
    REQUIRE(tv.valid.label(i) == d.label(orig));
    REQUIRE(tv.valid.image(i)[1] == -static_cast<float>(orig));
  }
}

TEST_CASE("split rejects a validation part larger than the data", "[data][split]") {
  const auto d = labelled({0, 1, 0}, 2);
  REQUIRE_THROWS_AS(nas::split_indices(d, {.valid_size = 4}), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::split_indices(d, {.valid_fraction = 1.5}), nas::ConfigError);
}

TEST_CASE("subsets are distinct, seeded, and balanced on request", "[data][split]") {
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 500; ++i) labels.push_back(i < 400 ? 0 : (i < 450 ? 1 : 2));
  const auto d = labelled(labels, 3);
  const auto a = nas::subset_indices(d, {.size = 60, .seed = 3});
  REQUIRE(a.size() == 60);
  REQUIRE(std::set<std::size_t>(a.begin(), a.end()).size() == 60);
  REQUIRE(a == nas::subset_indices(d, {.size = 60, .seed = 3}));
  const auto b = nas::subset(d, {.size = 60, .seed = 3, .balanced = true});
  REQUIRE(b.class_counts() == std::vector<std::size_t>{20, 20, 20});
  // When a class runs out, the others fill the rest.
  const auto c = nas::subset(d, {.size = 200, .seed = 3, .balanced = true});
  REQUIRE(c.class_counts() == std::vector<std::size_t>{100, 50, 50});
  REQUIRE_THROWS_AS(nas::subset_indices(d, {.size = 501}), nas::ConfigError);
}
