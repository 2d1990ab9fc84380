// NAS-Bench-201 table: load time and tabular query throughput on one core.
#include <benchmark/benchmark.h>

#include <nas/estimate/cached.hpp>
#include <nas/estimate/tabular.hpp>

#include <memory>
#include <vector>

namespace {

std::shared_ptr<const nas::Nb201Table> table() {
  static const auto t = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load(nas::default_nb201_path()));
  return t;
}

// Random cells queried in a loop (4096 of them, so the access pattern is not one cache line).
const std::vector<nas::Nb201Arch>& queries() {
  static const std::vector<nas::Nb201Arch> q = [] {
    nas::Rng rng(1);
    const nas::Nb201Space space;
    std::vector<nas::Nb201Arch> v;
    for (int i = 0; i < 4096; ++i) v.push_back(space.sample(rng));
    return v;
  }();
  return q;
}

void BM_TableLoadGzip(benchmark::State& state) {
  const auto path = nas::default_nb201_path();
  (void)nas::Nb201Space::index(nas::Nb201Arch{});  // the index tables are built once per process
  for (auto _ : state) benchmark::DoNotOptimize(nas::Nb201Table::load(path));
}
BENCHMARK(BM_TableLoadGzip)->Unit(benchmark::kMillisecond);

void BM_TableParseCsv(benchmark::State& state) {
  const std::string text = nas::read_file_bytes<std::string>(nas::default_nb201_path().string(), "tabular_bench");
  for (auto _ : state) benchmark::DoNotOptimize(nas::Nb201Table::parse(text, "nb201.csv"));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TableParseCsv)->Unit(benchmark::kMillisecond);

void BM_Gunzip(benchmark::State& state) {
  const auto path = nas::default_nb201_path();
  for (auto _ : state) benchmark::DoNotOptimize(nas::read_file_bytes<std::string>(path.string(), "tabular_bench"));
}
BENCHMARK(BM_Gunzip)->Unit(benchmark::kMillisecond);

template <bool Metrics>
void BM_TabularEvaluate(benchmark::State& state) {
  const nas::TabularEstimator est(table(), {.metrics = Metrics});
  const auto& q = queries();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(est.evaluate(q[i & 4095], nas::Fidelity{}));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TabularEvaluate<true>)->Name("BM_TabularEvaluate/metrics");
BENCHMARK(BM_TabularEvaluate<false>)->Name("BM_TabularEvaluate/score_and_cost");

void BM_TabularScore(benchmark::State& state) {
  const nas::TabularEstimator est(table());
  const auto& q = queries();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(est.score(q[i & 4095]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TabularScore);

void BM_CachedTabularHit(benchmark::State& state) {
  nas::Cached<nas::TabularEstimator> est(nas::TabularEstimator(table(), {.metrics = false}));
  const auto& q = queries();
  for (const auto& a : q) (void)est.evaluate(a, nas::Fidelity{});
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(est.evaluate(q[i & 4095], nas::Fidelity{}));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CachedTabularHit);

void BM_Nb201Index(benchmark::State& state) {
  const auto& q = queries();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(nas::Nb201Space::index(q[i & 4095]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Nb201Index);

void BM_Nb201Mutate(benchmark::State& state) {
  const nas::Nb201Space space;
  nas::Rng rng(2);
  nas::Nb201Arch a{};
  for (auto _ : state) {
    a = space.mutate(a, rng);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Nb201Mutate);

}  // namespace
