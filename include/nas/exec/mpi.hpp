// Mpi: evaluations on other MPI processes (rank 0 drives the search, the other ranks evaluate); needs <mpi.h>.
#pragma once

// Compiled only where MPI's header is on the include path (Debian libopenmpi-dev, and a
// target linked to MPI::MPI_CXX, e.g. with -DNAS_WITH_MPI=ON); elsewhere this header is empty.
#if __has_include(<mpi.h>)
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nas/core/ask_tell.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/exec/driver.hpp"
#include "nas/exec/thread_pool.hpp"

namespace nas::mpi {

namespace detail {
inline constexpr int tag_work = 1, tag_result = 2, tag_stop = 3;

// Evaluations and proposals travel as flat byte strings: doubles and lengths in native
// form (the ranks of one job run the same build), strings as bytes.
struct Writer {
  std::string out;
  void num(double v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    num(static_cast<double>(s.size()));
    out += s;
  }
};
struct Reader {
  const std::string& in;
  std::size_t at = 0;
  double num() {
    if (at + sizeof(double) > in.size()) throw DataError("nas::mpi: truncated message");
    double v;
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  std::string str() {
    const auto n = static_cast<std::size_t>(num());
    if (at + n > in.size()) throw DataError("nas::mpi: truncated message");
    std::string s = in.substr(at, n);
    at += n;
    return s;
  }
};

inline std::string pack(const Evaluation& e) {
  Writer w;
  w.num(e.score);
  w.num(e.cost_seconds);
  w.num(e.epochs);
  w.num(e.ok() ? 0.0 : 1.0);
  w.str(e.reason);
  w.num(static_cast<double>(e.metrics.size()));
  for (const auto& m : e.metrics) {
    w.str(m.name);
    w.num(m.value);
  }
  return w.out;
}
inline Evaluation unpack(const std::string& bytes) {
  Reader r{bytes};
  Evaluation e;
  e.score = r.num();
  e.cost_seconds = r.num();
  e.epochs = r.num();
  e.status = r.num() == 0.0 ? Status::ok : Status::failed;
  e.reason = r.str();
  const auto n = static_cast<std::size_t>(r.num());
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = r.str();
    e.metrics.set(name, r.num());
  }
  return e;
}

inline std::string receive(int source, int tag, MPI_Comm comm, MPI_Status* status_out = nullptr) {
  MPI_Status st;
  MPI_Probe(source, tag, comm, &st);
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string buf(static_cast<std::size_t>(n), '\0');
  MPI_Recv(buf.data(), n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
  if (status_out) *status_out = st;
  return buf;
}
}  // namespace detail

/// MPI for the life of the object (MPI_Init_thread with MPI_THREAD_SERIALIZED, then
/// MPI_Finalize). Make one at the top of main, on every rank.
class Session {
 public:
  Session(int& argc, char**& argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    if (provided < MPI_THREAD_SERIALIZED) throw ConfigError("nas::mpi::Session: MPI offers no MPI_THREAD_SERIALIZED");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { MPI_Finalize(); }
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

/// What an evaluating rank hands its estimator in the EvalContext (see nas::drive).
struct ServeOptions {
  std::uint64_t seed = 0;  ///< the run's DriveOptions::seed: EvalContext::rng is trial_rng(seed, id), as on a thread
  unsigned threads = 1;    ///< EvalContext::threads: the cores this rank's evaluations may use
};

/// On ranks 1..n-1: evaluates what rank 0 sends until it says stop. `space.decode` reads
/// the architecture; the estimator gets an EvalContext (trial id, worker = rank - 1, the
/// options' threads, the trial's Rng stream) when it takes one. An estimator exception
/// other than ConfigError/DataError is sent back as a failed evaluation (those two end
/// the whole job through MPI_Abort).
template <class Space, class Est>
void serve(const Space& space, Est& estimator, MPI_Comm comm = MPI_COMM_WORLD, ServeOptions options = {}) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  for (;;) {
    MPI_Status st;
    const std::string msg = detail::receive(0, MPI_ANY_TAG, comm, &st);
    if (st.MPI_TAG == detail::tag_stop) return;
    detail::Reader r{msg};
    const auto id = static_cast<std::size_t>(r.num());
    const Fidelity fidelity{r.num()};
    const Proposal<typename Space::Arch> proposal{id, space.decode(r.str()), fidelity};
    EvalContext context{.trial_id = id,
                        .worker = static_cast<std::size_t>(std::max(0, rank - 1)),
                        .threads = std::max(1u, options.threads),
                        .rng = trial_rng(options.seed, id)};
    std::exception_ptr fatal;
    const Evaluation e = nas::detail::evaluate_in_context(estimator, proposal, context, fatal);
    if (fatal) {
      try {
        std::rethrow_exception(fatal);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "nas::mpi::serve: %s\n", ex.what());
      }
      MPI_Abort(comm, 2);
    }
    detail::Writer w;
    w.num(static_cast<double>(id));
    const std::string out = w.out + detail::pack(e);
    MPI_Send(out.data(), static_cast<int>(out.size()), MPI_CHAR, 0, detail::tag_result, comm);
  }
}

/// On rank 0: the executor whose worker w is rank w + 1 (see Serial for the executor
/// contract). A local proxy thread per rank sends it a proposal and waits for its
/// result; MPI calls are serialized by a lock and the wait polls, so one slow
/// evaluation never blocks the others. Pair it with RemoteEstimator. Tells the other
/// ranks to stop when destroyed.
class Executor {
 public:
  explicit Executor(const Session& session, MPI_Comm comm = MPI_COMM_WORLD)
      : comm_(comm), workers_(static_cast<std::size_t>(session.size() - 1)) {
    if (session.rank() != 0) throw ConfigError("nas::mpi::Executor: made on rank " + std::to_string(session.rank()) + " (rank 0 drives)");
    if (workers_ == 0) throw ConfigError("nas::mpi::Executor: 1 process: run with mpirun -np N, N >= 2");
    pool_ = std::make_unique<ThreadPool>(workers_);
  }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor() {
    pool_.reset();  // every posted task has run
    for (std::size_t w = 0; w < workers_; ++w) MPI_Send(nullptr, 0, MPI_CHAR, static_cast<int>(w + 1), detail::tag_stop, comm_);
  }

  [[nodiscard]] std::size_t workers() const noexcept { return workers_; }
  void post(std::function<void(std::size_t)> task) { pool_->post(std::move(task)); }

  /// Sends one evaluation to rank worker + 1 and waits for it (called by RemoteEstimator).
  Evaluation evaluate_remote(std::size_t worker, std::size_t id, const std::string& arch, Fidelity fidelity) {
    const int rank = static_cast<int>(worker + 1);
    detail::Writer w;
    w.num(static_cast<double>(id));
    w.num(fidelity.epochs);
    w.str(arch);
    {
      std::lock_guard lock(mutex_);
      MPI_Send(w.out.data(), static_cast<int>(w.out.size()), MPI_CHAR, rank, detail::tag_work, comm_);
    }
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        int ready = 0;
        MPI_Status st;
        MPI_Iprobe(rank, detail::tag_result, comm_, &ready, &st);
        if (ready) {
          const std::string msg = detail::receive(rank, detail::tag_result, comm_);
          detail::Reader r{msg};
          (void)r.num();
          return detail::unpack(msg.substr(r.at));
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  MPI_Comm comm_;
  std::size_t workers_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex mutex_;
};

/// The estimator rank 0 hands nas::drive with an mpi::Executor: it sends each evaluation
/// to the worker's rank (architectures travel as `space.encode` text).
template <class Space>
class RemoteEstimator {
 public:
  RemoteEstimator(const Space& space, Executor& executor) : space_(&space), executor_(&executor) {}
  Evaluation evaluate(const typename Space::Arch& arch, Fidelity fidelity, EvalContext& c) {
    return executor_->evaluate_remote(c.worker, c.trial_id, std::string(space_->encode(arch)), fidelity);
  }
  Evaluation evaluate(const typename Space::Arch&, Fidelity) {
    throw ConfigError("nas::mpi::RemoteEstimator: use it through nas::drive with an mpi::Executor");
  }

 private:
  const Space* space_;
  Executor* executor_;
};

}  // namespace nas::mpi

#endif
