// read_journal: a JSONL journal read back (with nlohmann/json) as the trials nas::resume replays.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nas/core/ask_tell.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"

namespace nas {

/// What read_journal found.
template <class Arch>
struct JournalContents {
  std::optional<nlohmann::json> run;      ///< the `{"run":...}` line's object, if the journal has one
  std::vector<ReplayTrial<Arch>> trials;  ///< every complete trial line, in order
  std::vector<std::string> warnings;      ///< e.g. a truncated last line that was dropped
};

struct JournalReadOptions {
  /// Cut a truncated last line (a run killed mid-write) off the file, so that a resumed
  /// run appending to it leaves a well-formed journal.
  bool repair = true;
};

namespace detail {
inline double journal_number(const nlohmann::json& v, double if_null) {
  return v.is_null() ? if_null : v.get<double>();
}
}  // namespace detail

/// Reads a journal written by JsonlJournal (nas/report/journal.hpp), decoding each
/// architecture with `space.decode`. A last line without its newline, or one that is
/// not valid JSON, is what a run killed mid-write leaves: it is dropped with a warning
/// (and cut off the file with `repair`). Any other malformed line throws ParseError
/// naming the file, the line and what is wrong.
template <class Space>
[[nodiscard]] JournalContents<typename Space::Arch> read_journal(const std::string& path, const Space& space,
                                                                  JournalReadOptions options = {}) {
  using Arch = typename Space::Arch;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("read_journal: cannot open '" + path + "': " + std::strerror(errno));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();

  JournalContents<Arch> out;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    const std::size_t nl = text.find('\n', pos);
    const bool complete = nl != std::string::npos;
    const std::string line = text.substr(pos, complete ? nl - pos : std::string::npos);
    const std::size_t next = complete ? nl + 1 : text.size();
    const bool last = next >= text.size();
    const std::string where = "read_journal: '" + path + "' line " + std::to_string(line_no);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !complete) {
      if (!last) throw ParseError(where + ": not a JSON object (" + line.substr(0, 60) + ")");
      out.warnings.push_back(where + ": truncated last line (" + std::to_string(line.size()) +
                             " bytes, the run was killed mid-write) dropped");
      if (options.repair) std::filesystem::resize_file(path, pos);
      break;
    }
    pos = next;
    if (line.empty()) continue;
    if (!j.is_object()) throw ParseError(where + ": not a JSON object");
    if (j.contains("run")) {
      out.run = j["run"];
      continue;
    }
    try {
      ReplayTrial<Arch> t;
      t.id = j.at("id").get<std::size_t>();
      t.asked = j.at("asked").get<std::size_t>();
      t.arch = space.decode(j.at("arch").get<std::string>());
      t.fidelity = Fidelity{j.at("fidelity").get<double>()};
      const bool ok = j.at("status").get<std::string>() == "ok";
      Evaluation& e = t.eval;
      e.status = ok ? Status::ok : Status::failed;
      e.reason = j.value("reason", std::string{});
      e.score = detail::journal_number(j.at("score"), -std::numeric_limits<double>::infinity());
      e.cost_seconds = detail::journal_number(j.at("cost"), 0.0);
      e.epochs = detail::journal_number(j.at("epochs"), 0.0);
      if (j.contains("metrics"))
        for (const auto& [name, value] : j["metrics"].items())
          e.metrics.set(name, detail::journal_number(value, std::numeric_limits<double>::quiet_NaN()));
      t.wall_seconds = detail::journal_number(j.value("wall", nlohmann::json(0.0)), 0.0);
      out.trials.push_back(std::move(t));
    } catch (const nlohmann::json::exception& ex) {
      throw ParseError(where + ": " + ex.what());
    } catch (const ParseError& ex) {
      throw ParseError(where + ": " + ex.what());
    }
  }
  return out;
}

}  // namespace nas
