// A DARTS search process killed with SIGKILL resumes from its last per-epoch checkpoint and ends bit-identical.
#include <catch2/catch.hpp>

#include "darts_fixtures.hpp"

#include <nas/search/darts.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

struct KillAfter {
  std::size_t epoch;
  void on_darts_epoch(const nas::DartsEpoch<nas::Nb201Arch>& e) {
    if (e.epoch == epoch) std::raise(SIGKILL);
  }
};

}  // namespace

TEST_CASE("a DARTS-V2 search killed by SIGKILL after its second checkpoint resumes to the uninterrupted result",
          "[search][darts]") {
  const nas::Nb201Space space;
  const nas::Dataset data = nas_test::tiny_data(96, 3);
  nas::DartsOptions o = nas_test::tiny_options();
  o.epochs = 4;  // checkpoints to kill between
  o.max_steps_per_epoch = 2;
  o.supernet.seed = 2;
  o.seed = 9;
  const auto straight = nas::DartsV2(o).run(space, data);

  const auto path = std::filesystem::temp_directory_path() / ("nas_darts_kill_" + std::to_string(getpid()) + ".nasstate");
  std::filesystem::remove(path);
  o.checkpoint = path.string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    KillAfter k{2};
    (void)nas::DartsV2(o).run(space, data, k);
    _exit(0);  // not reached: killed at the end of epoch 2
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  REQUIRE(std::filesystem::exists(path));

  const auto resumed = nas::DartsV2(o).run(space, data);
  CHECK(resumed.first_epoch == 3);
  CHECK(resumed.genotype == straight.genotype);
  REQUIRE(resumed.alpha.size() == straight.alpha.size());
  for (std::size_t r = 0; r < resumed.alpha.size(); ++r)
    CHECK(std::memcmp(resumed.alpha[r].data(), straight.alpha[r].data(), resumed.alpha[r].size() * sizeof(float)) == 0);
  CHECK(resumed.epochs.back().train_loss == straight.epochs.back().train_loss);
  std::filesystem::remove(path);
}
