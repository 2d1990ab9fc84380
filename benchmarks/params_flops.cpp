// Parameters and FLOPs of every NAS-Bench-201 cell, built as a network, against the table.
//
//     params_flops [path/to/nb201.csv.gz]
//
// Builds CellNetwork<Nb201Space> with C = 16, N = 5 for a 3x32x32 input and 10 classes for
// all 15,625 cells, counts parameters and multiply-accumulates, and compares them with the
// params_m_cifar10 / flops_m_cifar10 columns (millions, 6 and 5 decimals). Prints the
// agreement over all cells and over the cells the table does not flag.
#include <nas/estimate/nb201_table.hpp>
#include <nas/hw/cost.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  try {
    const auto path = argc > 1 ? std::filesystem::path(argv[1]) : nas::default_nb201_path();
    const auto table = nas::Nb201Table::load(path);
    const nas::Nb201Space space;
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t params_ok = 0, flops_ok = 0, both_ok = 0, unflagged = 0, unflagged_ok = 0, shown = 0;
    for (std::size_t i = 0; i < table.size(); ++i) {
      const auto& rec = table[i];
      const auto cost = nas::model_cost(space, rec.arch, {.channels = 3, .height = 32, .width = 32, .classes = 10},
                                        {.channels = 16, .cells = 5});
      // The table rounds to 6 decimals: compare at half a unit of the last place.
      const bool p = std::abs(cost.params_m() - rec.params_m[0]) <= 5e-7;
      const bool f = std::abs(cost.flops_m() - rec.flops_m[0]) <= 5e-6;
      params_ok += p;
      flops_ok += f;
      both_ok += p && f;
      if (!rec.bench_params_mismatch) {
        ++unflagged;
        unflagged_ok += p && f;
      }
      if (!(p && f) && shown++ < 10)
        std::printf("index %zu %s: params %.6f vs %.6f, FLOPs %.5f vs %.5f\n", i, rec.arch.str().c_str(), cost.params_m(),
                    rec.params_m[0], cost.flops_m(), rec.flops_m[0]);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("table: %s\n", path.string().c_str());
    std::printf("params agree for %zu of %zu cells, FLOPs for %zu, both for %zu\n", params_ok, table.size(), flops_ok, both_ok);
    std::printf("cells not flagged bench_params_mismatch: both agree for %zu of %zu\n", unflagged_ok, unflagged);
    std::printf("(%zu networks built in %.1f s)\n", table.size(), s);
    return unflagged_ok == unflagged ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "params_flops: %s\n", e.what());
    return 2;
  }
}
