// JsonlJournal callback: one JSON line per trial, flushed at once so a crash loses nothing.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "nas/core/callbacks.hpp"
#include "nas/core/error.hpp"
#include "nas/core/history.hpp"
#include "nas/report/json.hpp"

namespace nas {

struct JournalOptions {
  bool append = false;  ///< add to an existing file instead of starting it anew
};

/// Writes every trial of a search as one JSON object per line (JSON Lines):
///
///     {"trial":0,"id":0,"asked":1,"strategy":"RandomSearch","arch":"|nor_conv_3x3~0|+...",
///      "fidelity":0,"epochs":200,"score":93.76,"cost":2000.1,"total_cost":2000.1,"wall":0.01,
///      "status":"ok","reason":"","metrics":{"valid_accuracy":91.2,"params":1.07e6}}
///
/// `id` is the proposal the trial answers and `asked` how many proposals the strategy
/// had made when it was told: with them, read_journal (nas/report/journal_reader.hpp)
/// and nas::resume replay the run. A program may first write one line
/// `{"run":{...}}` with its options and seed (write_run), which resume checks.
///
/// `arch` is the architecture's text encoding (from the encoder given, usually the
/// space's `encode`); `fidelity` the epochs asked for (0 = the estimator's default),
/// `epochs` those spent; `cost` and `total_cost` in cost-seconds; `wall` the real
/// seconds since the run began. Non-finite numbers are written as null. Each line is
/// flushed as soon as it is written, so a run that dies keeps every finished trial.
///
/// Arch: the architecture type of the search (any type the encoder accepts).
template <class Arch>
class JsonlJournal {
 public:
  using Encoder = std::function<std::string(const Arch&)>;

  /// Opens (creates or truncates, or appends to) `path`; throws DataError naming the
  /// path when it cannot be opened.
  JsonlJournal(const std::string& path, Encoder encode, JournalOptions options = {})
      : path_(path), encode_(std::move(encode)) {
    if (!encode_) throw ConfigError("JsonlJournal: no encoder given for '" + path + "'");
    file_ = std::fopen(path.c_str(), options.append ? "ab" : "wb");
    if (!file_) throw DataError("JsonlJournal: cannot open '" + path + "' for writing: " + std::strerror(errno));
  }
  JsonlJournal(const JsonlJournal&) = delete;
  JsonlJournal& operator=(const JsonlJournal&) = delete;
  JsonlJournal(JsonlJournal&& other) noexcept
      : path_(std::move(other.path_)), encode_(std::move(other.encode_)), strategy_(std::move(other.strategy_)),
        file_(std::exchange(other.file_, nullptr)), lines_(other.lines_) {}
  JsonlJournal& operator=(JsonlJournal&&) = delete;
  ~JsonlJournal() {
    if (file_) std::fclose(file_);
  }

  void on_begin(const RunInfo& info) { strategy_ = info.strategy; }

  template <class A>
  void on_trial(const Trial<A>& t, const History<A>&) {
    static_assert(std::is_same_v<A, Arch>,
                  "JsonlJournal<Arch>: the search's architecture type is not the journal's Arch");
    write(t);
  }

  /// Writes one trial as a line (also usable without a search, e.g. to log evaluations).
  void write(const Trial<Arch>& t) {
    JsonWriter j;
    j.begin_object();
    j.field("trial", t.index);
    j.field("id", t.id);
    j.field("asked", t.asked);
    if (!strategy_.empty()) j.field("strategy", strategy_);
    j.field("arch", encode_(t.arch));
    j.field("fidelity", t.fidelity.epochs);
    j.field("epochs", t.eval.epochs);
    j.field("score", t.eval.score);
    j.field("cost", t.eval.cost_seconds);
    j.field("total_cost", t.total_cost);
    j.field("wall", t.wall_seconds);
    j.field("status", t.eval.ok() ? "ok" : "failed");
    j.field("reason", t.eval.reason);
    j.key("metrics").begin_object();
    for (const auto& m : t.eval.metrics) j.field(m.name, m.value);
    j.end_object();
    j.end_object();
    put(j.str());
  }

  /// Writes the `{"run":...}` line: `run_json` is a JSON object (the run's options, seed).
  void write_run(const std::string& run_json) { put("{\"run\":" + run_json + "}"); }

 private:
  void put(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF ||
        std::fflush(file_) != 0)
      throw DataError("JsonlJournal: write failed on '" + path_ + "': " + std::strerror(errno));
    ++lines_;
  }

 public:
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Lines written so far.
  [[nodiscard]] std::size_t lines() const noexcept { return lines_; }

 private:
  std::string path_;
  Encoder encode_;
  std::string strategy_;
  std::FILE* file_ = nullptr;
  std::size_t lines_ = 0;
};

/// A journal that encodes architectures with `space.encode` (the space must outlive it).
template <class Space>
[[nodiscard]] JsonlJournal<typename Space::Arch> make_journal(const std::string& path, const Space& space,
                                                              JournalOptions options = {}) {
  return JsonlJournal<typename Space::Arch>(
      path, [&space](const typename Space::Arch& a) { return std::string(space.encode(a)); }, options);
}

}  // namespace nas
