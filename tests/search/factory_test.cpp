// make_strategy: strategies by name with their options, and the error for a name it does not know.
#include <catch2/catch.hpp>

#include <nas/search/factory.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/testing/recorder.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <string>

namespace {

using nas::testing::OneMaxSpace;
using nas::testing::ToyEstimator;

// OneMaxSpace without its categorical members: a space Reinforce cannot run on.
struct PlainSpace {
  using Arch = nas::testing::ChoiceArch;
  const OneMaxSpace* inner;
  [[nodiscard]] Arch sample(nas::Rng& rng) const { return inner->sample(rng); }
  [[nodiscard]] Arch mutate(const Arch& a, nas::Rng& rng) const { return inner->mutate(a, rng); }
  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const { return inner->neighbors(a); }
  [[nodiscard]] std::string encode(const Arch& a) const { return inner->encode(a); }
  [[nodiscard]] Arch decode(std::string_view s) const { return inner->decode(s); }
  [[nodiscard]] nas::SpaceSize size() const { return inner->size(); }
};

}  // namespace

TEST_CASE("make_strategy builds each named strategy with the options that concern it", "[search][factory]") {
  const nas::StrategyOptions o{.seed = 9, .fidelity = nas::Fidelity{12}, .dedup = true, .population = 7, .sample = 2,
                               .learning_rate = 0.2, .momentum = 0.5, .eta = 4.0, .fidelities = {12, 200}};
  const auto rs = nas::make_strategy("rs", o);
  const auto& rs_o = std::get<nas::RandomSearch>(rs.variant()).options();
  CHECK(rs_o.dedup);
  CHECK(rs_o.seed == 9);
  CHECK(rs_o.fidelity.epochs == 12);
  const auto rea = nas::make_strategy("rea", o);
  const auto& rea_o = std::get<nas::RegularizedEvolution>(rea.variant()).options();
  CHECK(rea_o.population == 7);
  CHECK(rea_o.sample == 2);
  CHECK(rea_o.fidelity.epochs == 12);
  const auto rl = nas::make_strategy("reinforce", o);  // kept: options() refers into the strategy
  const auto& rl_o = std::get<nas::Reinforce>(rl.variant()).options();
  CHECK(rl_o.learning_rate == 0.2);
  CHECK(rl_o.momentum == 0.5);
  CHECK(std::get<nas::LocalSearch>(nas::make_strategy("ls", o).variant()).options().seed == 9);
  const auto hb = nas::make_strategy("hyperband", o);
  const auto& hb_o = std::get<nas::Hyperband<>>(hb.variant()).options();
  CHECK(hb_o.eta == 4.0);
  CHECK(hb_o.fidelities == std::vector<double>{12, 200});
  CHECK(std::get<nas::SuccessiveHalving<>>(nas::make_strategy("sh", o).variant()).options().seed == 9);

  CHECK(hb.multi_fidelity());
  CHECK(nas::make_strategy("sh").multi_fidelity());
  CHECK(!rea.multi_fidelity());
  CHECK(!rs.multi_fidelity());
  CHECK(rea.name() == "rea");
  for (const auto name : nas::strategy_names) CHECK(nas::make_strategy(name).name() == name);
}

TEST_CASE("make_strategy rejects an unknown name with a ConfigError listing the known ones", "[search][factory]") {
  try {
    (void)nas::make_strategy("evolution");
    FAIL("no exception");
  } catch (const nas::ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "make_strategy: unknown strategy 'evolution' (known: rs, rea, reinforce, ls, sh, hyperband)");
  }
  CHECK_THROWS_AS(nas::make_strategy(""), nas::ConfigError);
  CHECK_THROWS_AS(nas::make_strategy("REA"), nas::ConfigError);  // names are lower case
}

TEST_CASE("a strategy made by name runs exactly as the strategy built directly", "[search][factory]") {
  const OneMaxSpace space(10, 4, 3);
  const nas::Budget budget{.evaluations = 40};
  ToyEstimator<OneMaxSpace> e1(space, {.noise = 0.05, .seed = 1}), e2(space, {.noise = 0.05, .seed = 1});
  nas::testing::Recorder rec;
  const auto by_name = nas::make_strategy("rea", {.seed = 5, .population = 8, .sample = 3}).run(space, e1, budget, rec);
  const auto direct = nas::RegularizedEvolution({.population = 8, .sample = 3, .seed = 5}).run(space, e2, budget);
  REQUIRE(by_name.history.size() == direct.history.size());
  for (std::size_t i = 0; i < direct.history.size(); ++i) REQUIRE(by_name.history[i].arch == direct.history[i].arch);
  CHECK(rec.trials == 40);  // callbacks pass through
  CHECK(rec.generations >= 1);
}

TEST_CASE("reinforce by name runs over categorical(space) and refuses a space without one", "[search][factory]") {
  const nas::Nb201Space nb201;
  auto score = [](const nas::Nb201Arch& a, nas::Fidelity) { return static_cast<double>(a.code() % 97); };
  nas::testing::FunctionEstimator f1(score), f2(score);
  const auto by_name = nas::make_strategy("reinforce", {.seed = 2}).run(nb201, f1, nas::Budget{.evaluations = 25});
  const auto direct = nas::Reinforce({.seed = 2}).run(nas::categorical(nb201), f2, nas::Budget{.evaluations = 25});
  REQUIRE(by_name.history.size() == 25);
  for (std::size_t i = 0; i < 25; ++i) REQUIRE(by_name.history[i].arch == direct.history[i].arch);

  const OneMaxSpace onemax(6, 3, 1);
  const PlainSpace plain{&onemax};
  ToyEstimator<OneMaxSpace> est(onemax);
  CHECK_THROWS_AS(nas::make_strategy("reinforce").run(plain, est, nas::Budget{.evaluations = 5}), nas::ConfigError);
  // The other strategies run on it.
  CHECK(nas::make_strategy("ls").run(plain, est, nas::Budget{.evaluations = 5}).history.size() == 5);
}
