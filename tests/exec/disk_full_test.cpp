// A disk that fills up: the journal's write fails with a clear error, and every trial journaled before it survives and resumes.
#include <catch2/catch.hpp>

#include <nas/exec/driver.hpp>
#include <nas/exec/serial.hpp>
#include <nas/report/journal.hpp>
#include <nas/report/journal_reader.hpp>
#include <nas/search/evolution.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

struct Scores {
  const OneMaxSpace* space;
  std::size_t calls = 0;
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity) {
    ++calls;
    nas::Evaluation e;
    e.score = space->score(a);
    e.cost_seconds = 1.0;
    return e;
  }
};

}  // namespace

TEST_CASE("a journal on a full device fails its first write with an error naming the file and the cause", "[exec][disk]") {
  if (!std::filesystem::exists("/dev/full")) {
    WARN("SKIPPED: no /dev/full on this system");
    return;
  }
  const OneMaxSpace space(4, 3, 7);
  auto journal = nas::make_journal("/dev/full", space);
  CHECK_THROWS_AS(journal.write_run(R"({"strategy":"rea"})"), nas::DataError);
  CHECK_THROWS_WITH(journal.write_run(R"({"strategy":"rea"})"),
                    Catch::Contains("/dev/full") && Catch::Contains("No space left on device"));
}

TEST_CASE("a disk that fills up mid-run stops the search with a clear error and keeps every journaled trial", "[exec][disk]") {
  const OneMaxSpace space(8, 4, 7);
  const nas::RegularizedEvolution rea({.population = 10, .sample = 3, .seed = 1});
  const nas::Budget budget{.evaluations = 80};
  nas::Serial serial;
  Scores ref_est{&space};
  auto ref_state = rea.start(space);
  const auto reference = nas::drive(ref_state, ref_est, serial, budget, {});
  REQUIRE(reference.history.size() == 80);

  const auto dir = std::filesystem::temp_directory_path() / ("nas_disk_full_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "journal.jsonl").string(), message_path = (dir / "message.txt").string();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The file-size limit stands in for a full disk: a write past 4 KB fails (EFBIG).
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 0;
    try {
      auto journal = nas::make_journal(path, space);
      Scores est{&space};
      auto state = rea.start(space);
      nas::drive(state, est, serial, budget, {}, journal);
    } catch (const nas::DataError& e) {
      std::ofstream(message_path) << e.what();
      code = 3;
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 3);  // a DataError, neither a crash nor a finished run
  std::string message;
  std::getline(std::ifstream(message_path), message);
  INFO(message);
  CHECK(message.find("write failed") != std::string::npos);
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find("File too large") != std::string::npos);

  // What reached the disk reads back: whole trials of the run (a torn last line dropped).
  auto contents = nas::read_journal(path, space);
  INFO(contents.trials.size() << " trials journaled before the disk filled");
  REQUIRE(contents.trials.size() >= 5);
  REQUIRE(contents.trials.size() < 80);
  for (std::size_t i = 0; i < contents.trials.size(); ++i) CHECK(contents.trials[i].arch == reference.history[i].arch);
  CHECK(std::filesystem::file_size(path) <= 4096);

  // With room again, the search resumes from them and ends as the uninterrupted one did.
  auto journal = nas::make_journal(path, space, {.append = true});
  Scores est{&space};
  auto state = rea.start(space);
  const auto resumed = nas::resume(state, est, serial, budget, {},
                                   std::span<const nas::ReplayTrial<ChoiceArch>>(contents.trials), journal);
  REQUIRE(resumed.history.size() == 80);
  for (std::size_t i = 0; i < 80; ++i) CHECK(resumed.history[i].arch == reference.history[i].arch);
  CHECK(est.calls == 80 - contents.trials.size());
  std::filesystem::remove_all(dir);
}
