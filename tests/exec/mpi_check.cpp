// Run under mpirun -np 3: rank 0 drives searches whose evaluations run on ranks 1 and 2, and checks that
// the histories equal a 2-worker ThreadPool's for a deterministic estimator (whose noise comes from the
// trial's Rng stream, which serve hands it as a thread gets it). Exit status 0 when they do.
#include <nas/exec/driver.hpp>
#include <nas/exec/mpi.hpp>
#include <nas/exec/thread_pool.hpp>
#include <nas/search/hyperband.hpp>
#include <nas/search/random_search.hpp>
#include <nas/search/successive_halving.hpp>
#include <nas/testing/fidelity_toy.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

namespace {

using nas::testing::ChoiceArch;
using nas::testing::OneMaxSpace;

struct Deterministic {
  const OneMaxSpace* space;
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity f) const {
    if (a.choices[0] == 1 && a.choices[1] == 1) throw std::runtime_error("unlucky cell");  // failed trials travel too
    return nas::testing::fidelity_evaluation(*space, a, f);
  }
  // With a context: noise from the trial's Rng stream, the same on a thread and on a rank.
  nas::Evaluation evaluate(const ChoiceArch& a, nas::Fidelity f, nas::EvalContext& c) const {
    nas::Evaluation e = evaluate(a, f);
    e.metrics.set("noise", c.rng.uniform());
    return e;
  }
};
inline constexpr std::uint64_t drive_seed = 9;

template <class Strategy>
int compare(const char* name, const Strategy& strategy, const OneMaxSpace& space, nas::mpi::Executor& mpi, const nas::Budget& budget) {
  auto start = [&] {
    if constexpr (requires { strategy.start(space, budget); })
      return strategy.start(space, budget);
    else
      return strategy.start(space);
  };
  nas::ThreadPool pool(mpi.workers());
  auto s1 = start();
  auto s2 = start();
  const auto local = nas::drive(s1, Deterministic{&space}, pool, budget, {.seed = drive_seed});
  const auto remote = nas::drive(s2, nas::mpi::RemoteEstimator<OneMaxSpace>(space, mpi), mpi, budget, {.seed = drive_seed});
  int bad = local.history.size() != remote.history.size();
  for (std::size_t i = 0; !bad && i < local.history.size(); ++i) {
    const auto &a = local.history[i], &b = remote.history[i];
    bad += !(a.arch == b.arch) || !(a.fidelity == b.fidelity) || a.eval.score != b.eval.score || a.eval.ok() != b.eval.ok() ||
           a.eval.reason != b.eval.reason || a.eval.metrics.get("true_score") != b.eval.metrics.get("true_score") ||
           a.eval.metrics.get("noise") != b.eval.metrics.get("noise");
  }
  std::printf("%s: %zu trials on %zu MPI workers %s the thread pool's\n", name, remote.history.size(), mpi.workers(),
              bad ? "DIFFER from" : "equal");
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    nas::mpi::Session session(argc, argv);
    const OneMaxSpace space(6, 3, 4);
    if (session.rank() != 0) {
      Deterministic est{&space};
      nas::mpi::serve(space, est, MPI_COMM_WORLD, {.seed = drive_seed});
      return 0;
    }
    int bad = 0;
    {
      nas::mpi::Executor mpi(session);
      bad += compare("random search", nas::RandomSearch({.seed = 3}), space, mpi, {.evaluations = 60});
      bad += compare("successive halving", nas::SuccessiveHalving({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 3}), space, mpi,
                     {.evaluations = 80});
      bad += compare("hyperband", nas::Hyperband({.eta = 3, .min_fidelity = 1, .max_fidelity = 9, .seed = 3}), space, mpi, {.evaluations = 80});
    }
    return bad ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_check: %s\n", e.what());
    return 1;
  }
}
