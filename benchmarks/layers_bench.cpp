// Google Benchmark kernels for the non-convolution layers at NAS shapes: BatchNorm2d
// (training, forward+backward), max/avg pooling and ReLU, batch 64.
#include <benchmark/benchmark.h>

#include <nas/core/rng.hpp>
#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/threads.hpp>

namespace {

constexpr int kBatch = 64;

// Arguments: channels, spatial size, threads.
void shapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (auto [c, hw] : {std::pair{16, 28}, std::pair{32, 14}, std::pair{64, 7}}) b->Args({c, hw, threads});
  b->ArgNames({"C", "HW", "threads"});
}

nas::Tensor random_input(int c, int hw, std::uint64_t seed) {
  nas::Tensor x({kBatch, c, hw, hw});
  nas::Rng rng(seed);
  x.fill_normal(rng);
  return x;
}

void set_counters(benchmark::State& state, int c, int hw) {
  const double bytes = 4.0 * kBatch * c * hw * hw;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(state.iterations() * kBatch);
}

template <class Layer>
void run_fwd_bwd(benchmark::State& state, Layer& layer) {
  const int c = static_cast<int>(state.range(0));
  const int hw = static_cast<int>(state.range(1));
  nas::set_num_threads(static_cast<int>(state.range(2)));
  const nas::Tensor x = random_input(c, hw, 1);
  nas::Tensor dy(layer.output_shape(x.shape()));
  nas::Rng rng(2);
  dy.fill_normal(rng);
  for (auto _ : state) {
    benchmark::DoNotOptimize(layer.forward(x).data());
    benchmark::DoNotOptimize(layer.backward(dy).data());
  }
  set_counters(state, c, hw);
}

void BM_BatchNorm2d_train(benchmark::State& state) {
  nas::BatchNorm2d bn(static_cast<int>(state.range(0)));
  bn.train(true);
  run_fwd_bwd(state, bn);
}
BENCHMARK(BM_BatchNorm2d_train)->Apply(shapes)->UseRealTime();

void BM_MaxPool3x3(benchmark::State& state) {
  nas::MaxPool2d pool({.kernel = 3, .stride = 1, .padding = 1});
  run_fwd_bwd(state, pool);
}
BENCHMARK(BM_MaxPool3x3)->Apply(shapes)->UseRealTime();

void BM_AvgPool3x3(benchmark::State& state) {
  nas::AvgPool2d pool({.kernel = 3, .stride = 1, .padding = 1});
  run_fwd_bwd(state, pool);
}
BENCHMARK(BM_AvgPool3x3)->Apply(shapes)->UseRealTime();

void BM_ReLU(benchmark::State& state) {
  nas::ReLU relu;
  run_fwd_bwd(state, relu);
}
BENCHMARK(BM_ReLU)->Apply(shapes)->UseRealTime();

}  // namespace
