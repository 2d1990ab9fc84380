// drive() over Serial and ThreadPool: same runs as run(), pool equals serial for synchronous strategies, ASHA and async REA, failures, budgets, replay.
#include <catch2/catch.hpp>

#include <nas/exec/driver.hpp>
#include <nas/exec/serial.hpp>
#include <nas/exec/thread_pool.hpp>
#include <nas/search/asha.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/search/local_search.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/reinforce.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/testing/fidelity_toy.hpp>
#include <nas/testing/recorder.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

// Deterministic: the score depends on the arch and the fidelity only. Sleeps a time that
// depends on the arch (0..3 ms) so that a pool finishes evaluations out of order.
struct SlowOneMax {
  const OneMaxSpace* space;
  bool sleep = true;
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity f) const {
    if (sleep) std::this_thread::sleep_for(std::chrono::microseconds(std::hash<ChoiceArch>{}(a) % 3000));
    return nas::testing::fidelity_evaluation(*space, a, f);
  }
};

// A strategy's state for a run under `budget` (successive halving sizes its rungs from it).
template <class Strategy, class Space>
auto start_for(const Strategy& strategy, const Space& space, const nas::Budget& budget) {
  if constexpr (requires { strategy.start(space, budget); })
    return strategy.start(space, budget);
  else
    return strategy.start(space);
}

template <class Strategy>
void drive_serial_equals_run(const Strategy& strategy, const nas::Budget& budget) {
  const OneMaxSpace space(8, 4, 3);
  SlowOneMax est{&space, false};
  nas::testing::Recorder rec_run, rec_drive;
  const auto by_run = strategy.run(space, est, budget, rec_run);
  auto state = start_for(strategy, space, budget);
  nas::Serial serial;
  const auto by_drive = nas::drive(state, est, serial, budget, {.strategy = state.name()}, rec_drive);
  CHECK(nas::testing::history_difference(by_run.history, by_drive.history).empty());
  CHECK(by_run.best == by_drive.best);
  CHECK(by_run.stop_reason == by_drive.stop_reason);
  CHECK(rec_run.generation_ids == rec_drive.generation_ids);
  CHECK(rec_run.trials == rec_drive.trials);
}

}  // namespace

TEST_CASE("drive on the Serial executor makes the same run as each strategy's run()", "[exec][driver]") {
  const nas::Budget budget{.evaluations = 150};
  SECTION("random search") { drive_serial_equals_run(nas::RandomSearch({.dedup = true, .seed = 4}), budget); }
  SECTION("regularized evolution") { drive_serial_equals_run(nas::RegularizedEvolution({.population = 12, .sample = 4, .seed = 4}), budget); }
  SECTION("asynchronous REA serially") {
    drive_serial_equals_run(nas::RegularizedEvolution({.population = 12, .sample = 4, .seed = 4, .asynchronous = true}), budget);
  }
  SECTION("local search") { drive_serial_equals_run(nas::LocalSearch({.seed = 4}), budget); }
  SECTION("reinforce") { drive_serial_equals_run(nas::Reinforce({.learning_rate = 0.05, .seed = 4}), budget); }
  SECTION("successive halving") {
    drive_serial_equals_run(nas::SuccessiveHalving({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 4}), budget);
  }
  SECTION("hyperband") { drive_serial_equals_run(nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 4}), budget); }
  SECTION("asha") { drive_serial_equals_run(nas::Asha({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 4}), budget); }
}

TEST_CASE("A synchronous strategy on a 4-worker ThreadPool gives the serial history for a deterministic estimator", "[exec][driver][pool]") {
  const OneMaxSpace space(8, 4, 5);
  const SlowOneMax est{&space, true};
  const auto compare = [&](const auto& strategy, const nas::Budget& budget) {
    nas::Serial serial;
    nas::ThreadPool pool(4);
    auto s1 = start_for(strategy, space, budget);
    auto s2 = start_for(strategy, space, budget);
    const auto a = nas::drive(s1, est, serial, budget, {});
    const auto b = nas::drive(s2, est, pool, budget, {});
    CHECK(nas::testing::history_difference(a.history, b.history).empty());
    CHECK(a.best == b.best);
  };
  SECTION("successive halving: one rung is one batch") {
    compare(nas::SuccessiveHalving({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .candidates = 27, .seed = 1}), {.evaluations = 120});
  }
  SECTION("hyperband") { compare(nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 2}), {.evaluations = 120}); }
  SECTION("regularized evolution in batches of 4 children") {
    compare(nas::RegularizedEvolution({.population = 10, .sample = 3, .seed = 3, .batch = 4}), {.evaluations = 80});
  }
  SECTION("random search") { compare(nas::RandomSearch({.seed = 4}), {.evaluations = 60}); }
}

TEST_CASE("ASHA and asynchronous REA on a ThreadPool find the OneMax optimum and never exceed an evaluation budget", "[exec][driver][pool]") {
  const OneMaxSpace space(6, 3, 9);  // 729 architectures
  const SlowOneMax est{&space, true};
  nas::ThreadPool pool(4);
  for (std::uint64_t seed : {1u, 2u, 4u}) {  // with seed 3 ASHA never samples the optimum (a 3% event for 275 draws of 81)
    INFO("seed " << seed);
    auto rea = nas::RegularizedEvolution({.population = 16, .sample = 4, .seed = seed, .asynchronous = true}).start(space);
    const auto r1 = nas::drive(rea, est, pool, {.evaluations = 300}, {});
    CHECK(r1.history.size() == 300);
    CHECK(r1.best == space.optimum());
    const OneMaxSpace small(4, 3, 9);  // 81 architectures: ASHA samples uniformly, it has no model
    const SlowOneMax small_est{&small, true};
    auto asha = nas::Asha({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = seed}).start(small);
    const auto r2 = nas::drive(asha, small_est, pool, {.evaluations = 400}, {});
    CHECK(r2.history.size() == 400);
    CHECK(r2.best == small.optimum());
    CHECK(r2.best_eval.score == Approx(1.0 - 0.1 / 9));  // recommended at the top rung
  }
}

TEST_CASE("ASHA promotes the best third of a rung as soon as the rung allows", "[exec][asha]") {
  const OneMaxSpace space(6, 3, 9);
  SlowOneMax est{&space, false};
  const auto r = nas::Asha({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 5}).run(space, est, {.evaluations = 40});
  // Serially: three rung-0 results allow the first promotion, which comes at once.
  REQUIRE(r.history.size() == 40);
  CHECK(r.history[0].fidelity.epochs == 1);
  CHECK(r.history[1].fidelity.epochs == 1);
  CHECK(r.history[2].fidelity.epochs == 1);
  CHECK(r.history[3].fidelity.epochs == 3);
  double best_of_three = std::max({r.history[0].eval.score, r.history[1].eval.score, r.history[2].eval.score});
  CHECK(est.evaluate(r.history[3].arch, nas::Fidelity{1}).score == best_of_three);
  std::size_t top = 0;
  for (const auto& t : r.history) top += t.fidelity.epochs == 9;
  CHECK(top >= 1);
}

TEST_CASE("A worker that throws gives a failed trial and the search goes on; a ConfigError ends the run", "[exec][driver][failure]") {
  const OneMaxSpace space(6, 3, 1);
  struct Flaky {
    const OneMaxSpace* space;
    nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity) const {
      if (a.choices[0] == 0) throw std::runtime_error("worker lost");
      nas::Evaluation e;
      e.score = space->score(a);
      return e;
    }
  };
  nas::ThreadPool pool(3);
  auto state = nas::RandomSearch({.seed = 2}).start(space);
  const auto r = nas::drive(state, Flaky{&space}, pool, {.evaluations = 60}, {});
  REQUIRE(r.history.size() == 60);
  std::size_t failed = 0;
  for (const auto& t : r.history)
    if (!t.eval.ok()) {
      ++failed;
      CHECK(t.arch.choices[0] == 0);
      CHECK(t.eval.reason == "exception: worker lost");
    }
  CHECK(failed > 5);
  CHECK(failed < 60);

  struct Broken {
    nas::Evaluation evaluate(const ChoiceArch&, nas::Fidelity) const { throw nas::ConfigError("Broken: no data"); }
  };
  auto s2 = nas::RandomSearch({.seed = 2}).start(space);
  CHECK_THROWS_AS(nas::drive(s2, Broken{}, pool, {.evaluations = 60}, {}), nas::ConfigError);
}

TEST_CASE("EvalContext: a trial's Rng stream and thread share do not depend on the executor", "[exec][context]") {
  const OneMaxSpace space(6, 3, 1);
  struct Probe {
    std::mutex* m;
    std::map<std::size_t, std::uint64_t>* draws;
    std::set<unsigned>* shares;
    nas::Evaluation evaluate(const ChoiceArch&, nas::Fidelity) { return {}; }
    nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity, nas::EvalContext& c) {
      std::lock_guard lock(*m);
      (*draws)[c.trial_id] = c.rng();
      shares->insert(c.threads);
      nas::Evaluation e;
      e.score = static_cast<double>(a.choices[1]);
      return e;
    }
  };
  std::mutex m;
  std::map<std::size_t, std::uint64_t> serial_draws, pool_draws;
  std::set<unsigned> serial_shares, pool_shares;
  nas::Serial serial;
  nas::ThreadPool pool(4);
  auto s1 = nas::RandomSearch({.seed = 8}).start(space);
  auto s2 = nas::RandomSearch({.seed = 8}).start(space);
  nas::drive(s1, Probe{&m, &serial_draws, &serial_shares}, serial, {.evaluations = 40}, {.seed = 11, .threads = 8});
  nas::drive(s2, Probe{&m, &pool_draws, &pool_shares}, pool, {.evaluations = 40}, {.seed = 11, .threads = 8});
  CHECK(serial_draws.size() == 40);
  CHECK(serial_draws == pool_draws);
  CHECK(serial_shares == std::set<unsigned>{8});
  CHECK(pool_shares == std::set<unsigned>{2});
  CHECK(serial_draws[0] != serial_draws[1]);
}

TEST_CASE("per_worker gives each worker its own estimator", "[exec][context]") {
  const OneMaxSpace space(6, 3, 1);
  struct Owned {
    std::size_t worker;
    std::atomic<int>* wrong;
    nas::Evaluation evaluate(const ChoiceArch&, nas::Fidelity) { return {}; }
    nas::Evaluation evaluate(const ChoiceArch&, nas::Fidelity, nas::EvalContext& c) {
      if (c.worker != worker) ++*wrong;
      return {};
    }
  };
  std::atomic<int> wrong{0}, made{0};
  nas::ThreadPool pool(3);
  auto state = nas::RandomSearch({.seed = 1}).start(space);
  nas::drive(state, nas::per_worker([&](std::size_t w) {
               ++made;
               return Owned{w, &wrong};
             }),
             pool, {.evaluations = 50}, {});
  CHECK(made == 3);
  CHECK(wrong == 0);
}

TEST_CASE("Replaying the trials of an interrupted run and resuming gives the uninterrupted history", "[exec][resume]") {
  const OneMaxSpace space(8, 4, 2);
  SlowOneMax est{&space, false};
  const nas::Budget budget{.evaluations = 120};
  const auto check = [&](const auto& strategy) {
    nas::Serial serial;
    auto full_state = strategy.start(space);
    const auto full = nas::drive(full_state, est, serial, budget, {});
    for (std::size_t cut : {0u, 1u, 17u, 40u, 119u}) {
      INFO("resumed after " << cut << " trials");
      std::vector<nas::ReplayTrial<ChoiceArch>> journal;
      for (std::size_t i = 0; i < cut; ++i) {
        const auto& t = full.history[i];
        journal.push_back({t.id, t.asked, t.arch, t.fidelity, t.eval, t.wall_seconds});
      }
      auto state = strategy.start(space);
      const auto resumed = nas::resume(state, est, serial, budget, {}, std::span<const nas::ReplayTrial<ChoiceArch>>(journal));
      CHECK(nas::testing::history_difference(full.history, resumed.history).empty());
      CHECK(resumed.best == full.best);
    }
  };
  SECTION("regularized evolution") { check(nas::RegularizedEvolution({.population = 10, .sample = 3, .seed = 6})); }
  SECTION("asha") { check(nas::Asha({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 6})); }
  SECTION("hyperband") { check(nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 6})); }
  SECTION("reinforce") { check(nas::Reinforce({.learning_rate = 0.05, .seed = 6})); }
  SECTION("local search") { check(nas::LocalSearch({.seed = 6})); }
}

TEST_CASE("A journal that does not match the run is refused", "[exec][resume]") {
  const OneMaxSpace space(8, 4, 2);
  SlowOneMax est{&space, false};
  nas::Serial serial;
  auto a = nas::RandomSearch({.seed = 1}).start(space);
  const auto full = nas::drive(a, est, serial, {.evaluations = 5}, {});
  std::vector<nas::ReplayTrial<ChoiceArch>> journal;
  for (const auto& t : full.history) journal.push_back({t.id, t.asked, t.arch, t.fidelity, t.eval, 0.0});
  auto b = nas::RandomSearch({.seed = 2}).start(space);  // another seed proposes other archs
  CHECK_THROWS_WITH(nas::resume(b, est, serial, {.evaluations = 10}, {}, std::span<const nas::ReplayTrial<ChoiceArch>>(journal)),
                    Catch::Contains("resume: journal trial 0 (id 0) is not what the state proposes"));
}

TEST_CASE("The evaluation that crosses a cost budget is kept by default and discarded with Overrun::discard", "[exec][budget]") {
  const OneMaxSpace space(6, 3, 1);
  nas::testing::FunctionEstimator est{[](const ChoiceArch&, nas::Fidelity) { return 0.5; }, 10.0};  // 10 s per call
  const nas::RandomSearch rs({.seed = 1});
  const auto kept = rs.run(space, est, {.cost_seconds = 25});
  CHECK(kept.history.size() == 3);
  CHECK(kept.history.total_cost() == 30.0);
  const auto dropped = rs.run(space, est, {.cost_seconds = 25, .overrun = nas::Overrun::discard});
  CHECK(dropped.history.size() == 2);
  CHECK(dropped.history.total_cost() == 20.0);
  CHECK(dropped.stop_reason == "cost");
  const auto exact = rs.run(space, est, {.cost_seconds = 30, .overrun = nas::Overrun::discard});
  CHECK(exact.history.size() == 3);  // reaching the budget exactly is no overrun

  nas::ThreadPool pool(3);
  auto state = rs.start(space);
  const auto pooled = nas::drive(state, est, pool, {.cost_seconds = 25, .overrun = nas::Overrun::discard}, {});
  CHECK(pooled.history.size() == 2);
  CHECK(pooled.history.total_cost() == 20.0);
}
