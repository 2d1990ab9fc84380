// probe_thread_counts: times the same work at several thread counts, alternating, and picks the fastest.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// How probe_thread_counts times.
struct ThreadProbeOptions {
  std::vector<int> counts{1, 2};  ///< thread counts tried, in order (ties go to the earlier)
  int rounds = 3;                 ///< timed rounds per count, alternating between the counts
  long warmup_steps = 2;          ///< untimed steps per count first (buffers, caches)
  long steps = 4;                 ///< steps per timed round

  void validate(const char* where) const {
    if (counts.empty()) throw ConfigError(std::string(where) + ": no thread counts to try");
    for (int c : counts)
      if (c < 1) throw ConfigError(std::string(where) + ": thread count " + std::to_string(c) + " must be >= 1");
    if (rounds < 1 || steps < 1 || warmup_steps < 0)
      throw ConfigError(std::string(where) + ": rounds (" + std::to_string(rounds) + ") and steps (" + std::to_string(steps) +
                        ") must be >= 1 and warmup_steps (" + std::to_string(warmup_steps) + ") >= 0");
  }
};

/// What probe_thread_counts measured.
struct ThreadProbeResult {
  int threads = 1;                       ///< the fastest count
  std::vector<int> counts;               ///< the counts tried
  std::vector<double> rates;  ///< each count's best round, in steps per second (or what the caller scales them to)
};

/// The index of the highest rate; ties go to the earlier one.
[[nodiscard]] inline std::size_t fastest_index(const std::vector<double>& rates) {
  if (rates.empty()) throw ConfigError("fastest_index: no rates");
  std::size_t best = 0;
  for (std::size_t i = 1; i < rates.size(); ++i)
    if (rates[i] > rates[best]) best = i;
  return best;
}

/// On a shared machine two threads can be several times slower than one (threads wait
/// for each other when the other core is busy), so the right count is measured, not
/// assumed. `make(count)` is called with nas::set_num_threads(count) in force and returns
/// a workload `w` whose `w(steps)` runs that many more steps of the work; each workload
/// runs `warmup_steps` untimed, then the counts alternate for `rounds` timed rounds of
/// `steps` and each keeps its best round: another process can only slow a round down,
/// and a single round once chose 1 thread on a 2-core machine because a neighbour was
/// busy just then. Leaves the thread count at the last one timed; set the chosen one.
template <class MakeWorkload>
ThreadProbeResult probe_thread_counts(MakeWorkload&& make, const ThreadProbeOptions& o = {}) {
  o.validate("probe_thread_counts");
  using Workload = std::decay_t<std::invoke_result_t<MakeWorkload&, int>>;
  std::vector<Workload> work;
  work.reserve(o.counts.size());
  for (int c : o.counts) {
    set_num_threads(c);
    work.push_back(make(c));
    if (o.warmup_steps > 0) work.back()(o.warmup_steps);
  }
  ThreadProbeResult r;
  r.counts = o.counts;
  r.rates.assign(o.counts.size(), 0.0);
  for (int round = 0; round < o.rounds; ++round)
    for (std::size_t i = 0; i < o.counts.size(); ++i) {
      set_num_threads(o.counts[i]);
      const auto t0 = std::chrono::steady_clock::now();
      work[i](o.steps);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      r.rates[i] = std::max(r.rates[i], static_cast<double>(o.steps) / std::max(s, 1e-12));
    }
  r.threads = o.counts[fastest_index(r.rates)];
  return r;
}

}  // namespace nas
