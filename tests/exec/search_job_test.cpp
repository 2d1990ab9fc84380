// SearchJob and run_journaled: how a launch is read, the options it refuses, its thread-pool
// run against nas::drive, and the journal it writes, resumes and checks.
// (Under mpirun: exec/mpi_programs_equal_threads, tests/exec/mpi_programs.cmake.)
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nas/exec/driver.hpp>
#include <nas/exec/search_job.hpp>
#include <nas/exec/thread_pool.hpp>
#include <nas/report/journal_reader.hpp>
#include <nas/report/journaled_search.hpp>
#include <nas/search/factory.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/testing/fidelity_toy.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

// Deterministic: the score depends on the arch and the fidelity only.
struct OneMaxScore {
  const OneMaxSpace* space;
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity f) const { return nas::testing::fidelity_evaluation(*space, a, f); }
};

// Sets (or, with nullptr, unsets) an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

struct NoLauncher {
  ScopedEnv a{"OMPI_COMM_WORLD_SIZE", nullptr}, b{"OMPI_COMM_WORLD_RANK", nullptr}, c{"PMI_SIZE", nullptr},
      d{"PMI_RANK", nullptr};
};

// The message of the ConfigError that `f` throws (or says that it threw none).
template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const nas::ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError thrown)";
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nas_search_job_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

auto one_max_workers(const OneMaxSpace& space) {
  return nas::per_worker([&space](std::size_t) { return OneMaxScore{&space}; });
}

}  // namespace

TEST_CASE("detect_launch reads Open MPI's and PMI's variables, and a plain run from their absence", "[exec][search_job]") {
  NoLauncher none;
  SECTION("no launcher") {
    const nas::Launch l = nas::detect_launch();
    CHECK(l.processes == 1);
    CHECK(l.rank == 0);
    CHECK_FALSE(l.mpi());
    CHECK(l.drives());
  }
  SECTION("Open MPI's mpirun") {
    ScopedEnv size("OMPI_COMM_WORLD_SIZE", "3"), rank("OMPI_COMM_WORLD_RANK", "2");
    const nas::Launch l = nas::detect_launch();
    CHECK(l.processes == 3);
    CHECK(l.rank == 2);
    CHECK(l.mpi());
    CHECK_FALSE(l.drives());
  }
  SECTION("MPICH's Hydra (PMI)") {
    ScopedEnv size("PMI_SIZE", "2"), rank("PMI_RANK", "0");
    const nas::Launch l = nas::detect_launch();
    CHECK(l.processes == 2);
    CHECK(l.drives());
  }
  SECTION("mpirun -np 1 is a plain run") {
    ScopedEnv size("OMPI_COMM_WORLD_SIZE", "1"), rank("OMPI_COMM_WORLD_RANK", "0");
    CHECK_FALSE(nas::detect_launch().mpi());
  }
  SECTION("a malformed value names the variable") {
    ScopedEnv size("OMPI_COMM_WORLD_SIZE", "three");
    CHECK_THAT(config_error_of([&] { (void)nas::detect_launch(); }),
               Catch::Matchers::Contains("OMPI_COMM_WORLD_SIZE is 'three'"));
  }
  SECTION("a rank beyond the size") {
    ScopedEnv size("PMI_SIZE", "2"), rank("PMI_RANK", "2");
    CHECK_THAT(config_error_of([&] { (void)nas::detect_launch(); }),
               Catch::Matchers::Contains("PMI_RANK (2) is not below PMI_SIZE (2)"));
  }
}

TEST_CASE("SearchJob refuses 0 workers, and mpirun when the build has no MPI or --workers does not fit the ranks",
          "[exec][search_job]") {
  CHECK_THAT(config_error_of([&] { (void)nas::SearchJob({.workers = 0}, nas::Launch{}); }),
             Catch::Matchers::Contains("--workers 0 must be >= 1"));
  if constexpr (nas::mpi_built_in) {
    CHECK_THAT(config_error_of([&] {
                 (void)nas::SearchJob({.workers = 3, .workers_given = true}, nas::Launch{3, 1});
               }),
               Catch::Matchers::Contains("--workers 3: under mpirun -np 3 it must be 2"));
    const nas::SearchJob job({.workers = 5}, nas::Launch{4, 0});  // left at its default: one per evaluating rank
    CHECK(job.workers() == 3);
    CHECK(job.threads_per_worker(2) == 2);  // every rank has its own threads
  } else {
    CHECK_THAT(config_error_of([&] {
                 (void)nas::SearchJob({.workers = 2}, nas::Launch{3, 0});
               }),
               Catch::Matchers::Contains("started by mpirun with 3 processes, but this build has no MPI"));
  }
}

TEST_CASE("SearchJob on a thread pool shares the threads among the workers and gives nas::drive's history",
          "[exec][search_job]") {
  const OneMaxSpace space(8, 4, 3);
  const nas::Budget budget{.evaluations = 90};
  nas::SearchJob job({.workers = 3}, nas::Launch{});
  CHECK(job.workers() == 3);
  CHECK(job.threads_per_worker(7) == 2);
  CHECK(job.threads_per_worker(2) == 1);
  const auto strategy = nas::make_strategy("sh", {.seed = 5, .eta = 3, .min_fidelity = 1, .max_fidelity = 9});
  const auto by_job = job.run(strategy, space, one_max_workers(space), budget,
                              [](auto&& search) { return search(std::span<const nas::ReplayTrial<ChoiceArch>>{}); });
  REQUIRE(by_job);
  nas::ThreadPool pool(3);
  auto state = std::get<nas::SuccessiveHalving<>>(strategy.variant()).start(space, budget);
  const auto by_drive = nas::drive(state, OneMaxScore{&space}, pool, budget, {.strategy = "sh", .seed = 0});
  CHECK(nas::testing::history_difference(by_job->history, by_drive.history, {.total_cost = false}).empty());
  CHECK(by_job->best == by_drive.best);

  // One search per job: MPI could not start a second time in the process.
  CHECK_THAT(config_error_of([&] {
               (void)job.run(strategy, space, one_max_workers(space), budget,
                             [](auto&& search) { return search(std::span<const nas::ReplayTrial<ChoiceArch>>{}); });
             }),
             Catch::Matchers::Contains("a job runs one search"));
}

TEST_CASE("SearchJob runs reinforce over the categorical view of the space", "[exec][search_job]") {
  const nas::Nb201Space space;
  nas::SearchJob job({.workers = 2}, nas::Launch{});
  const auto score = [](const nas::Nb201Arch& a) {
    double s = 0;
    for (auto op : a.ops) s += op == nas::nb201::conv3x3 ? 1.0 : 0.0;
    return s;
  };
  const auto r =
      job.run(nas::make_strategy("reinforce", {.seed = 2}), space, nas::per_worker([&](std::size_t) {
                return nas::testing::FunctionEstimator{[&](const nas::Nb201Arch& a, nas::Fidelity) { return score(a); }};
              }),
              {.evaluations = 40}, [](auto&& search) { return search(std::span<const nas::ReplayTrial<nas::Nb201Arch>>{}); });
  REQUIRE(r);
  CHECK(r->history.size() == 40);
  CHECK(r->best_eval.score == score(r->best));
}

TEST_CASE(
    "run_journaled writes the run line, resumes a cut journal to the uninterrupted trials, and refuses another run's journal",
    "[exec][search_job][resume]") {
  const OneMaxSpace space(8, 4, 3);
  const nas::Budget budget{.evaluations = 60};
  const auto strategy = nas::make_strategy("rea", {.seed = 7, .population = 8, .sample = 3});
  const nlohmann::json run = {{"strategy", "rea"}, {"seed", 7}};
  const std::string full = temp_path("full.jsonl"), cut = temp_path("cut.jsonl"), copy = temp_path("copy.jsonl");

  nas::SearchJob first({.workers = 2}, nas::Launch{});
  const auto whole = nas::run_journaled(first, strategy, space, one_max_workers(space), budget, {.path = full, .run = run});
  REQUIRE(whole);
  const auto lines = lines_of(full);
  REQUIRE(lines.size() == 61);
  CHECK(nlohmann::json::parse(lines[0])["run"] == run);

  // Cut after the run line and 25 trials, as a run killed there leaves it.
  {
    std::ofstream out(cut);
    for (std::size_t i = 0; i < 26; ++i) out << lines[i] << '\n';
  }
  SECTION("resumed in place") {
    nas::SearchJob again({.workers = 2}, nas::Launch{});
    const auto resumed = nas::run_journaled(again, strategy, space, one_max_workers(space), budget, {.resume = cut, .run = run});
    REQUIRE(resumed);
    CHECK(nas::testing::history_difference(whole->history, resumed->history, {.total_cost = false}).empty());
    const auto journaled = nas::read_journal(cut, space);
    REQUIRE(journaled.trials.size() == 60);
    for (std::size_t i = 0; i < 60; ++i) CHECK(journaled.trials[i].arch == whole->history[i].arch);
  }
  SECTION("resumed into another file, which gets the whole journal") {
    nas::SearchJob again({.workers = 1}, nas::Launch{});
    const auto resumed =
        nas::run_journaled(again, strategy, space, one_max_workers(space), budget, {.path = copy, .resume = cut, .run = run});
    REQUIRE(resumed);
    CHECK(nas::testing::history_difference(whole->history, resumed->history, {.total_cost = false}).empty());
    CHECK(lines_of(copy).size() == 61);
    CHECK(lines_of(cut).size() == 26);  // the journal resumed from is left as it was
  }
  SECTION("another run's journal is refused before any evaluation") {
    nas::SearchJob again({.workers = 2}, nas::Launch{});
    const nlohmann::json other = {{"strategy", "rea"}, {"seed", 8}};
    CHECK_THAT(config_error_of([&] {
                 (void)nas::run_journaled(again, strategy, space, one_max_workers(space), budget, {.resume = cut, .run = other});
               }),
               Catch::Matchers::Contains("--resume " + cut +
                                         ": the journal's run {\"seed\":7,\"strategy\":\"rea\"} does not "
                                         "match this command's {\"seed\":8,\"strategy\":\"rea\"}"));
    CHECK(lines_of(cut).size() == 26);
  }
  SECTION("a journal without a run line: refused, or replayed when the run line is not required") {
    {
      std::ofstream out(cut);
      for (std::size_t i = 1; i < 26; ++i) out << lines[i] << '\n';
    }
    nas::SearchJob strict({.workers = 2}, nas::Launch{});
    CHECK_THAT(config_error_of([&] {
                 (void)nas::run_journaled(strict, strategy, space, one_max_workers(space), budget, {.resume = cut, .run = run});
               }),
               Catch::Matchers::Contains("the journal's run (none) does not match"));
    nas::SearchJob lenient({.workers = 2}, nas::Launch{});
    const auto resumed = nas::run_journaled(lenient, strategy, space, one_max_workers(space), budget,
                                            {.resume = cut, .run = run, .require_run = false});
    REQUIRE(resumed);
    CHECK(nas::testing::history_difference(whole->history, resumed->history, {.total_cost = false}).empty());
  }
  std::filesystem::remove(full);
  std::filesystem::remove(cut);
  std::filesystem::remove(copy);
}
