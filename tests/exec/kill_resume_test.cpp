// Crash-safe resume: a search killed with SIGKILL and resumed from its journal ends with the uninterrupted history.
#include <catch2/catch.hpp>

#include <nas/exec/driver.hpp>
#include <nas/exec/serial.hpp>
#include <nas/report/journal.hpp>
#include <nas/report/journal_reader.hpp>
#include <nas/search/asha.hpp>
#include <nas/search/evolution.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/testing/fidelity_toy.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

struct Deterministic {
  const OneMaxSpace* space;
  std::size_t kill_at = static_cast<std::size_t>(-1);  // raise SIGKILL inside this evaluation (0-based)
  std::size_t calls = 0;
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity f) {
    if (calls++ == kill_at) std::raise(SIGKILL);
    return nas::testing::fidelity_evaluation(*space, a, f);
  }
};

// Kills the process right after the journal has flushed trial `at`, before the state is told.
struct KillAfterTrial {
  std::size_t at;
  template <class Arch>
  void on_trial(const nas::Trial<Arch>& t, const nas::History<Arch>&) const {
    if (t.index == at) std::raise(SIGKILL);
  }
};

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nas_kill_" + std::to_string(::getpid()) + "_" + name)).string();
}

template <class Strategy>
void kill_and_resume(const Strategy& strategy, const std::string& label) {
  const OneMaxSpace space(8, 4, 7);
  const nas::Budget budget{.evaluations = 90};
  nas::Serial serial;
  Deterministic ref_est{&space};
  auto ref_state = strategy.start(space);
  const auto reference = nas::drive(ref_state, ref_est, serial, budget, {});
  REQUIRE(reference.history.size() == 90);

  nas::Rng pick(2024);  // the kill points: printed, reproducible
  for (int round = 0; round < 6; ++round) {
    const std::size_t point = 1 + pick.index(88);
    const bool in_evaluation = round % 2 == 0;  // killed mid-evaluation, or between journal and tell
    const bool torn_line = round % 3 == 1;      // and the last line half written
    INFO(label << ": killed at trial " << point << (in_evaluation ? " inside the evaluation" : " after the journal flush")
               << (torn_line ? ", last line torn" : ""));
    const std::string path = temp_path(label + std::to_string(round) + ".jsonl");
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto journal = nas::make_journal(path, space);
      journal.write_run(R"({"strategy":")" + label + R"(","seed":1})");
      Deterministic est{&space, in_evaluation ? point : static_cast<std::size_t>(-1)};
      auto state = strategy.start(space);
      KillAfterTrial killer{in_evaluation ? static_cast<std::size_t>(-1) : point};
      nas::drive(state, est, serial, budget, {}, journal, killer);
      ::_exit(0);  // not reached when the kill point is inside the run
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    if (torn_line) std::ofstream(path, std::ios::app) << R"({"trial":)" << point + 1 << R"(,"id":)";

    auto contents = nas::read_journal(path, space);
    CHECK(contents.warnings.size() == (torn_line ? 1u : 0u));
    REQUIRE(contents.run.has_value());
    CHECK((*contents.run)["strategy"] == label);
    CHECK(contents.trials.size() == (in_evaluation ? point : point + 1));

    auto journal = nas::make_journal(path, space, {.append = true});
    Deterministic est{&space};
    auto state = strategy.start(space);
    const auto resumed = nas::resume(state, est, serial, budget, {}, std::span<const nas::ReplayTrial<ChoiceArch>>(contents.trials), journal);
    REQUIRE(resumed.history.size() == reference.history.size());
    for (std::size_t i = 0; i < reference.history.size(); ++i) {
      INFO("trial " << i);
      CHECK(resumed.history[i].arch == reference.history[i].arch);
      CHECK(resumed.history[i].fidelity == reference.history[i].fidelity);
      CHECK(resumed.history[i].eval.score == reference.history[i].eval.score);
      CHECK(resumed.history[i].total_cost == reference.history[i].total_cost);
    }
    CHECK(resumed.best == reference.best);
    CHECK(est.calls == reference.history.size() - contents.trials.size());  // nothing evaluated twice

    // The journal on disk now holds the whole run, once, and reads back as it.
    const auto whole = nas::read_journal(path, space);
    CHECK(whole.warnings.empty());
    REQUIRE(whole.trials.size() == reference.history.size());
    for (std::size_t i = 0; i < whole.trials.size(); ++i) CHECK(whole.trials[i].arch == reference.history[i].arch);
    std::filesystem::remove(path);
  }
}

}  // namespace

TEST_CASE("REA killed with SIGKILL at random points and resumed from its journal gives the uninterrupted history", "[exec][resume][kill]") {
  kill_and_resume(nas::RegularizedEvolution({.population = 10, .sample = 3, .seed = 1}), "rea");
}
TEST_CASE("ASHA killed with SIGKILL at random points and resumed from its journal gives the uninterrupted history", "[exec][resume][kill]") {
  kill_and_resume(nas::Asha({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 1}), "asha");
}
TEST_CASE("Hyperband killed with SIGKILL at random points and resumed from its journal gives the uninterrupted history", "[exec][resume][kill]") {
  kill_and_resume(nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 1}), "hyperband");
}

TEST_CASE("read_journal rejects a malformed line in the middle and names it", "[exec][resume]") {
  const OneMaxSpace space(3, 2, 1);
  const std::string path = temp_path("bad.jsonl");
  std::ofstream(path) << "{\"run\":{}}\nnot json\n{\"trial\":0}\n";
  CHECK_THROWS_WITH(nas::read_journal(path, space), Catch::Contains("line 2: not a JSON object"));
  std::ofstream(path) << "{\"trial\":0,\"arch\":\"0,1,1\"}\n{}\n";
  CHECK_THROWS_WITH(nas::read_journal(path, space), Catch::Contains("line 1:"));
  std::filesystem::remove(path);
}
