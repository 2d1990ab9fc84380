// SearchJob: one search whose evaluations run on a thread pool, or on the other processes when mpirun started it.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/error.hpp"
#include "nas/core/run.hpp"
#include "nas/exec/driver.hpp"
#include "nas/exec/mpi.hpp"  // empty unless <mpi.h> is on the include path
#include "nas/exec/thread_pool.hpp"
#include "nas/search/factory.hpp"

namespace nas {

/// Whether this build can spread evaluations over MPI processes: <mpi.h> was on the
/// include path (a target linked to MPI::MPI_CXX), so nas/exec/mpi.hpp is not empty.
#if __has_include(<mpi.h>)
inline constexpr bool mpi_built_in = true;
#else
inline constexpr bool mpi_built_in = false;
#endif

/// How this process was started, read from the environment an MPI launcher sets, so
/// that a plain run never initializes MPI (and needs no MPI runtime).
struct Launch {
  int processes = 1;  ///< processes of the job; 1 when no launcher started it
  int rank = 0;       ///< this process's rank; rank 0 drives the search
  /// Started by mpirun with at least 2 processes: rank 0 drives, the others evaluate.
  [[nodiscard]] bool mpi() const noexcept { return processes >= 2; }
  /// This process drives the search (and writes the files, prints the report).
  [[nodiscard]] bool drives() const noexcept { return rank == 0; }
};

namespace detail {

inline int launch_variable(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return -1;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0 || v > (1L << 24))
    throw ConfigError(std::string("detect_launch: ") + name + " is '" + text + "', expected a whole number >= 0");
  return static_cast<int>(v);
}

}  // namespace detail

/// The Launch an MPI launcher announces: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE and
/// OMPI_COMM_WORLD_RANK, MPICH's Hydra and Slurm's PMI set PMI_SIZE and PMI_RANK; with
/// neither, a plain run of one process. A malformed value throws ConfigError naming it.
[[nodiscard]] inline Launch detect_launch() {
  constexpr const char* names[][2] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, {"PMI_SIZE", "PMI_RANK"}};
  for (const auto& [size_name, rank_name] : names) {
    const int size = detail::launch_variable(size_name);
    if (size < 1) continue;
    const int rank = std::max(0, detail::launch_variable(rank_name));
    if (rank >= size)
      throw ConfigError(std::string("detect_launch: ") + rank_name + " (" + std::to_string(rank) + ") is not below " + size_name +
                        " (" + std::to_string(size) + ")");
    return {size, rank};
  }
  return {};
}

/// Options of a SearchJob.
struct SearchJobOptions {
  std::string program = "search";  ///< names the program in messages ("nb201_search: ...")
  /// Evaluations at once on a thread pool when not under mpirun (>= 1).
  std::size_t workers = 1;
  /// Whether the command line set `workers` (--workers): under mpirun it must then be the
  /// number of evaluating ranks, processes - 1; left unset it becomes that.
  bool workers_given = false;
  std::uint64_t seed = 0;  ///< DriveOptions::seed: each trial's EvalContext::rng
  /// DriveOptions::threads: cores the thread pool's workers share (0: all of them); under
  /// mpirun each evaluating rank's EvalContext::threads (0: 1).
  unsigned threads = 0;
};

/// One search of an AnyStrategy, run where the process's launch says:
///
/// - started plainly (or by mpirun with 1 process): nas::drive on a ThreadPool of
///   `options.workers` threads, one estimator per worker from `per_worker(make)`;
/// - started by mpirun with N >= 2 processes (and built with MPI, see mpi_built_in):
///   rank 0 drives with nas::mpi::Executor and nas::mpi::RemoteEstimator, and ranks 1 to
///   N-1 each make their own estimator, `make(rank - 1)`, and evaluate what rank 0 sends
///   (nas::mpi::serve) until the search ends.
///
/// Make the job right after parsing the command line, on every process: its constructor
/// checks the launch against the options (a ConfigError, "--workers 3: under mpirun -np 3
/// it must be 2 ...", for --workers that does not fit, or mpirun without MPI in the
/// build), so that every rank refuses bad options before any work. `drives()` (or the
/// Launch's, before the job exists) tells the program whether to print and write files.
///
/// MPI lives for the duration of run() only (MPI_Init at its start, MPI_Finalize at its
/// end), so the driving rank's work after the search (final training, reports) has the
/// machines to itself, and a job runs one search.
class SearchJob {
 public:
  explicit SearchJob(SearchJobOptions options, Launch launch = detect_launch())
      : options_(std::move(options)), launch_(launch) {
    if (options_.workers == 0) throw ConfigError("--workers 0 must be >= 1");
    if (!launch_.mpi()) return;
    if (!mpi_built_in)
      throw ConfigError("started by mpirun with " + std::to_string(launch_.processes) +
                        " processes, but this build has no MPI (install libopenmpi-dev and rebuild with -DNAS_WITH_MPI=ON), "
                        "or run it without mpirun");
    const auto evaluating = static_cast<std::size_t>(launch_.processes - 1);
    if (options_.workers_given && options_.workers != evaluating)
      throw ConfigError("--workers " + std::to_string(options_.workers) + ": under mpirun -np " +
                        std::to_string(launch_.processes) + " it must be " + std::to_string(evaluating) +
                        " (one worker per rank but rank 0) or left out");
    options_.workers = evaluating;
  }

  [[nodiscard]] const SearchJobOptions& options() const noexcept { return options_; }
  [[nodiscard]] const Launch& launch() const noexcept { return launch_; }
  /// Started by mpirun with at least 2 processes.
  [[nodiscard]] bool mpi() const noexcept { return launch_.mpi(); }
  /// This process drives the search: it alone prints and writes files.
  [[nodiscard]] bool drives() const noexcept { return launch_.drives(); }
  /// Evaluations at once: the thread pool's workers, or the evaluating ranks under mpirun.
  [[nodiscard]] std::size_t workers() const noexcept { return options_.workers; }
  /// Threads each worker's estimator should train on, of `threads` given on the command
  /// line: its share of them on a thread pool (at least 1), all of them under mpirun,
  /// where every evaluating rank has its own (and maybe its own machine's) cores.
  [[nodiscard]] int threads_per_worker(int threads) const noexcept {
    if (launch_.mpi()) return threads;
    return std::max(1, threads / static_cast<int>(options_.workers));
  }

  /// Runs the search. `make(worker)` returns the estimator of a worker. On the driving
  /// process `driver(search)` is called, where `search(replay, callbacks...)` replays
  /// `replay` (std::span<const ReplayTrial<Arch>>; empty for a fresh run) and runs the
  /// search to the end of `budget` with the callbacks (nas::resume); `driver` returns what
  /// `search` returned, and so does run(). Reading a journal and opening one belong in
  /// `driver`: under mpirun the evaluating ranks are then already waiting, and an
  /// exception thrown there releases them before it leaves run(). On an evaluating rank
  /// run() returns nothing once the search is over; an estimator's ConfigError or
  /// DataError there ends the whole job with its message (MPI_Abort), any other exception
  /// of an evaluation comes back to rank 0 as a failed trial.
  template <class Space, class Make, class Driver>
  std::optional<Result<typename Space::Arch>> run(const AnyStrategy& strategy, const Space& space, const PerWorker<Make>& make,
                                                  const Budget& budget, Driver&& driver) {
    using Arch = typename Space::Arch;
    if (ran_) throw ConfigError("SearchJob::run: a job runs one search (MPI cannot start twice in one process)");
    ran_ = true;
    const DriveOptions drive_options{.strategy = strategy.name(), .seed = options_.seed, .threads = options_.threads};
    if (!launch_.mpi()) {
      ThreadPool pool(options_.workers);
      return driver([&](std::span<const ReplayTrial<Arch>> replay, auto&&... callbacks) {
        return drive_any(strategy, space, make, pool, budget, drive_options, replay, callbacks...);
      });
    }
#if __has_include(<mpi.h>)
    int argc = 0;
    char** argv = nullptr;
    mpi::Session session(argc, argv);
    if (session.size() != launch_.processes || session.rank() != launch_.rank) {
      std::fprintf(stderr, "%s: MPI has %d processes and this one is rank %d, but the launcher announced %d and rank %d\n",
                   options_.program.c_str(), session.size(), session.rank(), launch_.processes, launch_.rank);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (session.rank() != 0) {
      serve_here(space, make, session.rank());
      return std::nullopt;
    }
    mpi::Executor executor(session);  // its destructor tells the other ranks to stop, also on an exception
    mpi::RemoteEstimator<Space> remote(space, executor);
    return driver([&](std::span<const ReplayTrial<Arch>> replay, auto&&... callbacks) {
      return drive_any(strategy, space, remote, executor, budget, drive_options, replay, callbacks...);
    });
#else
    throw ConfigError("SearchJob::run: started by mpirun, but this build has no MPI");
#endif
  }

 private:
  // The strategy's state over `space` (Reinforce over categorical(space)), driven on
  // `executor` after replaying `replay`.
  template <class Space, class Est, class Executor, class... Callbacks>
  static Result<typename Space::Arch> drive_any(const AnyStrategy& strategy, const Space& space, Est& estimator, Executor& executor,
                                                const Budget& budget, const DriveOptions& options,
                                                std::span<const ReplayTrial<typename Space::Arch>> replay, Callbacks&... callbacks) {
    return std::visit(
        [&](const auto& s) -> Result<typename Space::Arch> {
          const auto go = [&](const auto& sp) {
            auto state = [&] {
              if constexpr (requires { s.start(sp, budget); })
                return s.start(sp, budget);  // successive halving sizes its rungs from the budget
              else
                return s.start(sp);
            }();
            return resume(state, estimator, executor, budget, options, replay, callbacks...);
          };
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, Reinforce> || CategoricalSpace<Space>)
            return go(space);
          else if constexpr (requires { categorical(space); })
            return go(categorical(space));
          else
            throw ConfigError("SearchJob::run: reinforce needs a categorical space or a categorical(space) view of it");
        },
        strategy.variant());
  }

#if __has_include(<mpi.h>)
  // An evaluating rank: its own estimator, serving until rank 0 says stop. Nothing may
  // leave here as an exception: rank 0 would wait for this rank for ever.
  template <class Space, class Make>
  void serve_here(const Space& space, const PerWorker<Make>& make, int rank) {
    try {
      auto estimator = make.make(static_cast<std::size_t>(rank - 1));
      mpi::serve(space, estimator, MPI_COMM_WORLD, {.seed = options_.seed, .threads = std::max(1u, options_.threads)});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: rank %d: %s\n", options_.program.c_str(), rank, e.what());
      MPI_Abort(MPI_COMM_WORLD, dynamic_cast<const ConfigError*>(&e) ? 2 : 1);
    } catch (...) {
      std::fprintf(stderr, "%s: rank %d: an unknown exception\n", options_.program.c_str(), rank);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
#endif

  SearchJobOptions options_;
  Launch launch_;
  bool ran_ = false;
};

}  // namespace nas
