// Conv2d kernels at the shapes a NAS network meets (stem 28x28 with 16 channels, then 14x14
// with 32 and 7x7 with 64), kernels 1/3/5, batch 64, at 1 and 2 threads.
// Arguments: channels, image size, kernel size, threads. FLOPs count 2 x MACs.
#include <benchmark/benchmark.h>

#include <nas/tensor/conv_kernels.hpp>
#include <nas/tensor/threads.hpp>
#include <nas/tensor/workspace.hpp>

#include <random>
#include <vector>

namespace {

constexpr int kBatch = 64;

struct Layer {
  nas::kernels::Conv2dShape s;
  std::vector<float> x, w, b, y, dy, dx, dw, db;
  nas::Workspace ws;

  explicit Layer(const benchmark::State& state) {
    const int c = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
    const int k = static_cast<int>(state.range(2));
    s.batch = kBatch;
    s.in_channels = s.out_channels = c;
    s.in_h = s.in_w = h;
    s.kernel_h = s.kernel_w = k;
    s.pad_h = s.pad_w = k / 2;
    std::mt19937 gen(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const auto fill = [&](std::vector<float>& v, std::size_t n) {
      v.resize(n);
      for (auto& e : v) e = u(gen);
    };
    const std::size_t act = static_cast<std::size_t>(kBatch) * c * h * h;
    fill(x, act);
    fill(dy, act);
    fill(w, static_cast<std::size_t>(c) * c * k * k);
    fill(b, static_cast<std::size_t>(c));
    y.resize(act);
    dx.resize(act);
    dw.assign(w.size(), 0.0f);
    db.assign(b.size(), 0.0f);
  }
  double forward_flops() const {
    return 2.0 * s.batch * s.out_channels * s.in_channels * s.kernel_h * s.kernel_w * s.out_h() *
           static_cast<double>(s.out_w());
  }
};

void report(benchmark::State& state, double flops_per_iteration) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kBatch);
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void BM_conv2d_forward(benchmark::State& state) {
  nas::set_num_threads(static_cast<int>(state.range(3)));
  Layer l(state);
  for (auto _ : state) {
    nas::kernels::conv2d_forward(l.s, l.x.data(), l.w.data(), l.b.data(), l.y.data(), l.ws);
    benchmark::DoNotOptimize(l.y.data());
    benchmark::ClobberMemory();
  }
  report(state, l.forward_flops());
}

// dx and dw (and dbias): twice the forward FLOPs.
void BM_conv2d_backward(benchmark::State& state) {
  nas::set_num_threads(static_cast<int>(state.range(3)));
  Layer l(state);
  for (auto _ : state) {
    nas::kernels::conv2d_backward(l.s, l.x.data(), l.w.data(), l.dy.data(), l.dx.data(), l.dw.data(), l.db.data(),
                                  l.ws);
    benchmark::DoNotOptimize(l.dx.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * l.forward_flops());
}

void nas_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "HW", "k", "threads"});
  for (int threads : {1, 2})
    for (auto [c, h] : {std::pair{16, 28}, std::pair{32, 14}, std::pair{64, 7}})
      for (int k : {1, 3, 5}) b->Args({c, h, k, threads});
  b->UseRealTime()->MinTime(0.2)->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_conv2d_forward)->Apply(nas_shapes);
BENCHMARK(BM_conv2d_backward)->Apply(nas_shapes);
