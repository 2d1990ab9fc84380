// ProgressBar and JsonlJournal as callbacks of a run: hooks fire, lines are JSON, nothing is lost.
#include <catch2/catch.hpp>

#include <nas/core/run.hpp>
#include <nas/report/journal.hpp>
#include <nas/report/progress.hpp>
#include <nas/search/evolution.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// Scores architecture a as a / 10; 3 fails with a NaN score, 5 carries a NaN metric.
struct ToyEstimator {
  nas::Evaluation evaluate(const int& a, nas::Fidelity) {
    nas::Evaluation e;
    e.score = a == 3 ? std::nan("") : a / 10.0;
    e.cost_seconds = 2.0;
    e.epochs = 1.0;
    e.metrics.set("params", 1000.0 * a).set("odd \"metric\"", a == 5 ? std::nan("") : 1.0);
    return e;
  }
};

template <class... Cs>
nas::Result<int> toy_run(std::size_t n, Cs&... cs) {
  ToyEstimator est;
  nas::Budget budget;
  budget.evaluations = n;
  nas::RunContext<int, ToyEstimator, Cs...> ctx("ToySearch", est, budget, cs...);
  for (int a = 0; !ctx.done(); ++a) {
    ctx.evaluate(a);
    if (a % 4 == 3) ctx.generation(static_cast<std::size_t>(a / 4));
  }
  ctx.epoch({.epoch = 1, .epochs = 2, .train_loss = 0.5});
  return ctx.finish();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

TEST_CASE("ProgressBar without a terminal prints every N trials and a summary at the end", "[report][progress]") {
  std::ostringstream out;
  nas::ProgressBar progress(out, false, {.every = 4});
  const auto r = toy_run(10, progress);
  REQUIRE(r.history.size() == 10);
  const std::string s = out.str();
  REQUIRE(s.find('\r') == std::string::npos);
  REQUIRE(s.find("\x1b") == std::string::npos);
  REQUIRE_THAT(s, Catch::Contains("ToySearch: trial 4/10 (40%)") && Catch::Contains("ToySearch: trial 8/10 (80%)"));
  REQUIRE_THAT(s, Catch::Contains("ToySearch: 10 trials (1 failed), best 0.9000"));
  REQUIRE(std::count(s.begin(), s.end(), '\n') == 3);
}

TEST_CASE("ProgressBar made in the call to run (a temporary) still reports", "[report][progress][callbacks]") {
  const nas::testing::OneMaxSpace space(8, 3, 1);
  nas::testing::ToyEstimator<nas::testing::OneMaxSpace> est(space);
  std::ostringstream out;
  const auto r = nas::RegularizedEvolution({.population = 4, .sample = 2, .seed = 3})
                     .run(space, est, nas::Budget{.evaluations = 8}, nas::ProgressBar(out, false, {.every = 4}));
  REQUIRE(r.history.size() == 8);
  REQUIRE_THAT(out.str(), Catch::Contains("RegularizedEvolution: trial 4/8") &&
                              Catch::Contains("RegularizedEvolution: 8 trials"));
}

TEST_CASE("ProgressBar on a terminal redraws one line with the budget share", "[report][progress]") {
  std::ostringstream out;
  nas::ProgressBar progress(out, true, {.refresh_seconds = 0.0});
  toy_run(5, progress);
  const std::string s = out.str();
  REQUIRE(std::count(s.begin(), s.end(), '\n') == 1);  // only after the final redraw
  REQUIRE(std::count(s.begin(), s.end(), '\r') >= 6);
  REQUIRE_THAT(s, Catch::Contains("[####################] ToySearch: trial 5/5 (100%)"));
  REQUIRE_THAT(s, Catch::Contains("epoch 1/2 loss 0.500") && Catch::Contains("left ~"));
  REQUIRE_THAT(progress.status(), Catch::Contains("best 0.4000") && Catch::Contains("1 failed"));
}

TEST_CASE("JsonlJournal writes one flushed JSON line per trial", "[report][journal]") {
  const auto path = (std::filesystem::temp_directory_path() / "nas_journal_test.jsonl").string();
  {
    nas::JsonlJournal<int> journal(path, [](const int& a) { return "arch-" + std::to_string(a); });
    ToyEstimator est;
    nas::Budget budget;
    budget.evaluations = 6;
    nas::RunContext<int, ToyEstimator, nas::JsonlJournal<int>> ctx("ToySearch", est, budget, journal);
    for (int a = 0; !ctx.done(); ++a) {
      ctx.evaluate(a);
      // Flushed: the file already holds every finished trial while the journal is open.
      REQUIRE(read_lines(path).size() == static_cast<std::size_t>(a + 1));
    }
    REQUIRE(journal.lines() == 6);
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 6);
  for (const auto& l : lines) {
    REQUIRE(l.front() == '{');
    REQUIRE(l.back() == '}');
    REQUIRE(std::count(l.begin(), l.end(), '{') == 2);
    REQUIRE(std::count(l.begin(), l.end(), '}') == 2);
    REQUIRE_THAT(l, Catch::Contains("\"strategy\":\"ToySearch\""));
  }
  REQUIRE(lines[2] ==
          R"({"trial":2,"id":2,"asked":3,"strategy":"ToySearch","arch":"arch-2","fidelity":0,"epochs":1,"score":0.2,"cost":2,)"
          R"("total_cost":6,"wall":)" + lines[2].substr(lines[2].find("\"wall\":") + 7, lines[2].find(",\"status") - lines[2].find("\"wall\":") - 7) +
          R"(,"status":"ok","reason":"","metrics":{"params":2000,"odd \"metric\"":1}})");
  REQUIRE_THAT(lines[3], Catch::Contains("\"status\":\"failed\"") && Catch::Contains("\"score\":null") &&
                             Catch::Contains("non-finite score"));
  REQUIRE_THAT(lines[5], Catch::Contains("\"odd \\\"metric\\\"\":null"));
  std::filesystem::remove(path);
}

TEST_CASE("JsonlJournal names a path it cannot open", "[report][journal]") {
  REQUIRE_THROWS_WITH(nas::JsonlJournal<int>("/nonexistent-dir/j.jsonl", [](const int&) { return std::string(); }),
                      Catch::Contains("/nonexistent-dir/j.jsonl"));
}

TEST_CASE("JsonlJournal appends when asked and works through make_journal with a space", "[report][journal]") {
  struct Space {
    using Arch = int;
    std::string encode(const int& a) const { return "#" + std::to_string(a); }
  } space;
  const auto path = (std::filesystem::temp_directory_path() / "nas_journal_append.jsonl").string();
  nas::Trial<int> t;
  t.arch = 7;
  { nas::make_journal(path, space).write(t); }
  { nas::make_journal(path, space, {.append = true}).write(t); }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  REQUIRE_THAT(lines[1], Catch::Contains("\"arch\":\"#7\""));
  std::filesystem::remove(path);
}

TEST_CASE("EpochLines prints one line per epoch and counts networks by restarting epochs", "[report][progress]") {
  std::ostringstream out;
  nas::EpochLines lines("final training", 2, out);
  lines({.epoch = 1, .epochs = 3, .train_loss = 0.5, .seconds = 10.0});
  lines({.epoch = 2, .epochs = 3, .train_loss = 0.25, .seconds = 20.0});
  lines.on_epoch({.epoch = 1, .epochs = 2, .train_loss = 0.75, .seconds = 4.0});
  CHECK(lines.network() == 2);
  CHECK(out.str() ==
        "final training (network 1 of 2): epoch 1 of 3, train loss 0.5000, 10 s elapsed, about 20 s left\n"
        "final training (network 1 of 2): epoch 2 of 3, train loss 0.2500, 30 s elapsed, about 15 s left\n"
        "final training (network 2 of 2): epoch 1 of 2, train loss 0.7500, 4 s elapsed, about 4 s left\n");
  std::ostringstream one;
  nas::EpochLines single("training", 1, one);
  single({.epoch = 3, .epochs = 3, .train_loss = 0.1, .seconds = 1.0});
  CHECK(one.str() == "training: epoch 3 of 3, train loss 0.1000, 1 s elapsed, about 0 s left\n");
}
