// Recorder: a callback that counts every hook it receives and can ask the run to stop.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "nas/core/callbacks.hpp"
#include "nas/core/history.hpp"

namespace nas::testing {

/// Counts each callback hook (on_begin, on_trial, on_generation, on_epoch, on_end) and
/// remembers the scores and generations it saw. With `stop_after_trials` set, on_trial
/// returns true at that trial, so tests can check that returning true stops a run.
struct Recorder {
  std::optional<std::size_t> stop_after_trials{};

  std::size_t begins = 0;
  std::size_t trials = 0;
  std::size_t generations = 0;
  std::size_t epochs = 0;
  std::size_t ends = 0;
  std::size_t history_size_at_end = 0;
  std::vector<double> scores{};
  std::vector<std::size_t> generation_ids{};

  void on_begin(const RunInfo&) { ++begins; }

  template <class Arch>
  bool on_trial(const Trial<Arch>& t, const History<Arch>&) {
    ++trials;
    scores.push_back(t.eval.score);
    return stop_after_trials && trials >= *stop_after_trials;
  }

  template <class Arch>
  void on_generation(std::size_t g, const History<Arch>&) {
    ++generations;
    generation_ids.push_back(g);
  }

  void on_epoch(const EpochInfo&) { ++epochs; }

  template <class Arch>
  void on_end(const History<Arch>& h) {
    ++ends;
    history_size_at_end = h.size();
  }
};

}  // namespace nas::testing
