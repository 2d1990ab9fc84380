// run_journaled: a SearchJob's search with its JSONL journal, fresh or resumed from an earlier journal (needs nlohmann/json).
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/error.hpp"
#include "nas/core/run.hpp"
#include "nas/exec/driver.hpp"
#include "nas/exec/search_job.hpp"
#include "nas/report/journal.hpp"
#include "nas/report/journal_reader.hpp"
#include "nas/search/factory.hpp"

namespace nas {

/// Where run_journaled keeps the search's journal, and what it resumes.
struct JobJournal {
  /// The journal written: a fresh run starts it anew, a resumed run appends to it (after
  /// copying `resume` there when that is another file). Empty: the journal is `resume`
  /// itself when resuming, and none otherwise.
  std::string path{};
  /// A journal to continue (nas::resume replays its trials); empty for a fresh run.
  std::string resume{};
  /// The run's identity (program, strategy, options, seed): written as the journal's
  /// first line, `{"run":...}`, in a fresh run, and compared with a resumed journal's.
  std::optional<nlohmann::json> run{};
  /// Refuse a resumed journal that has no run line. Off: a warning, and the replay still
  /// refuses trials that the state would not have proposed.
  bool require_run = true;
};

/// Runs `job`'s search (see SearchJob::run) with a journal as the last callback. On the
/// driving process, before any evaluation: a resumed journal is read (its warnings
/// printed as "<program>: warning: ..."), its run line checked against `journal.run`
/// (a mismatch is a ConfigError naming both), and its trials replayed. Returns the
/// result on the driving process, nothing on an evaluating MPI rank.
template <class Space, class Make, class... Callbacks>
std::optional<Result<typename Space::Arch>> run_journaled(SearchJob& job, const AnyStrategy& strategy, const Space& space,
                                                          const PerWorker<Make>& make, const Budget& budget,
                                                          const JobJournal& journal, Callbacks&&... callbacks) {
  using Arch = typename Space::Arch;
  const std::string& program = job.options().program;
  return job.run(strategy, space, make, budget, [&](auto&& search) -> Result<Arch> {
    std::vector<ReplayTrial<Arch>> replay;
    const bool resuming = !journal.resume.empty();
    std::string path = journal.path;
    if (resuming) {
      auto contents = read_journal(journal.resume, space);
      for (const auto& w : contents.warnings) std::fprintf(stderr, "%s: warning: %s\n", program.c_str(), w.c_str());
      if (journal.run && (contents.run ? *contents.run != *journal.run : journal.require_run))
        throw ConfigError("--resume " + journal.resume + ": the journal's run " +
                          (contents.run ? contents.run->dump() : std::string("(none)")) + " does not match this command's " +
                          journal.run->dump());
      if (journal.run && !contents.run)
        std::fprintf(stderr, "%s: warning: --resume %s: the journal has no run line; its trials are checked as they replay\n",
                     program.c_str(), journal.resume.c_str());
      replay = std::move(contents.trials);
      if (path.empty()) {
        path = journal.resume;
      } else {
        std::error_code ec;
        if (!std::filesystem::exists(path) || !std::filesystem::equivalent(journal.resume, path))
          std::filesystem::copy_file(journal.resume, path, std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) throw DataError("run_journaled: cannot copy '" + journal.resume + "' to '" + path + "': " + ec.message());
      }
      std::fprintf(stderr, "%s: resuming %s after %zu journaled trials\n", program.c_str(), journal.resume.c_str(), replay.size());
    }
    const std::span<const ReplayTrial<Arch>> trials(replay);
    if (path.empty()) return search(trials, callbacks...);
    auto jsonl = make_journal(path, space, {.append = resuming});
    if (!resuming && journal.run) jsonl.write_run(journal.run->dump());
    return search(trials, callbacks..., jsonl);
  });
}

}  // namespace nas
