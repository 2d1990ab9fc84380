// Side-by-side timing of nas's convolution kernels and PyTorch's Conv2d, forward + backward,
// alternating repeats in one run; writes tensor.md, tensor.csv, tensor.json and tensor.svg.
//
//   tensor_vs_torch --out benchmarks/reports [--repeats 9] [--threads 1,2]
#include <cstdlib>
#include "peer.hpp"

#include <nas/report/svg.hpp>
#include <nas/tensor/conv_kernels.hpp>
#include <nas/tensor/threads.hpp>
#include <nas/tensor/workspace.hpp>

#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nas_bench::fixed;
using nas_bench::load_average;
using nas_bench::Stats;
using nas_bench::summarize;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The Python timing process: one command per line on its stdin, one answer per line on
/// its stdout; its first line is "torch <version>" when PyTorch imports.
class TorchProcess {
 public:
  TorchProcess(const std::string& python, const std::string& script) : child_(nas_bench::keep_heap({python, script})) {
    const std::string hello = child_.read_line().value_or("");
    if (hello.rfind("torch ", 0) == 0) {
      version_ = hello.substr(6);
    } else {
      std::cerr << "tensor_vs_torch: PyTorch is not available (" << (hello.empty() ? "no answer" : hello)
                << "); install it with: sudo apt-get install python3-torch\n";
    }
  }
  bool ok() const { return !version_.empty(); }
  const std::string& version() const { return version_; }
  std::string ask(const std::string& command) { return child_.ask(command).value_or(""); }

 private:
  nas_bench::LineChild child_;
  std::string version_;
};

/// One convolution layer's forward + backward on nas's kernels, with its own buffers.
struct NasConv {
  nas::kernels::Conv2dShape shape;
  std::vector<float> x, w, b, y, dy, dx, dw, db;
  nas::Workspace ws;
  bool bias = false;

  NasConv(int n, int c, int h, int k, bool with_bias) : bias(with_bias) {
    shape.batch = n;
    shape.in_channels = shape.out_channels = c;
    shape.in_h = shape.in_w = h;
    shape.kernel_h = shape.kernel_w = k;
    shape.pad_h = shape.pad_w = k / 2;
    std::mt19937 gen(1);
    std::normal_distribution<float> normal;
    const auto fill = [&](std::vector<float>& v, std::size_t size, float scale) {
      v.resize(size);
      for (auto& e : v) e = scale * normal(gen);
    };
    const std::size_t act = static_cast<std::size_t>(n) * c * h * h;
    fill(x, act, 1.0f);
    fill(dy, act, 1.0f);
    fill(w, static_cast<std::size_t>(c) * c * k * k, 1.0f / std::sqrt(static_cast<float>(c * k * k)));
    fill(b, static_cast<std::size_t>(c), 0.1f);
    y.resize(act);
    dx.resize(act);
    dw.assign(w.size(), 0.0f);
    db.assign(b.size(), 0.0f);
  }
  std::size_t params() const { return w.size() + (bias ? b.size() : 0); }
  void step() {
    nas::kernels::conv2d_forward(shape, x.data(), w.data(), bias ? b.data() : nullptr, y.data(), ws);
    nas::kernels::conv2d_backward(shape, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                                  bias ? db.data() : nullptr, ws);
  }
  /// Seconds per step over `iters` steps.
  double time(int iters) {
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) step();
    return seconds_since(t0) / iters;
  }
};

/// Eigen's single-precision GEMM rate (GFLOP/s) for square matrices of side `n`.
Stats gemm_gflops(int n, int repeats) {
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const int iters = 5;
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) c.noalias() = a * b;
    rates.push_back(2.0 * n * n * static_cast<double>(n) * iters / seconds_since(t0) / 1e9);
  }
  return summarize(rates);
}

struct Row {
  std::string layer;
  int kernel = 0, threads = 0;
  std::size_t nas_params = 0, torch_params = 0;
  Stats nas_ms, torch_ms;
  double ratio = NAN, gflops = 0, gflops_best = 0, gemm_fraction = 0;
  bool has_torch = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("nas convolution kernels vs PyTorch Conv2d, forward + backward, side by side");
  std::string out_dir;
  int repeats = 9;
  std::vector<int> thread_counts{1, 2};
  std::vector<int> kernels{3, 1, 5};
  int batch = 64, channels = 16, size = 28;
  bool bias = false;
  double repeat_seconds = 0.15;
  double warm_seconds = 3.0;
  std::string python = "/usr/bin/python3";
  std::string script = std::string(NAS_SOURCE_DIR) + "/benchmarks/torch_conv.py";
  app.add_option("--out", out_dir, "Directory for tensor.md/.csv/.json/.svg (nothing written when empty)");
  app.add_option("--repeats", repeats, "Timed repeats per side (>= 7 for the report)")->check(CLI::Range(1, 1000));
  app.add_option("--threads", thread_counts, "Thread counts")->delimiter(',');
  app.add_option("--kernels", kernels, "Kernel sizes (padding k/2)")->delimiter(',');
  app.add_option("--batch", batch, "Batch size")->check(CLI::Range(1, 4096));
  app.add_option("--channels", channels, "Input and output channels")->check(CLI::Range(1, 4096));
  app.add_option("--size", size, "Image height and width")->check(CLI::Range(1, 4096));
  app.add_flag("--bias", bias, "Give both convolutions a bias");
  app.add_option("--repeat-seconds", repeat_seconds, "Approximate length of one nas repeat");
  app.add_option("--warm-seconds", warm_seconds, "PyTorch warm-up per shape (nas warms a third of it)");
  app.add_option("--python", python, "Python interpreter with torch");
  app.add_option("--script", script, "The PyTorch timing script");
  CLI11_PARSE(app, argc, argv);

  std::string command = "tensor_vs_torch";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];

  TorchProcess torch(python, script);
  const auto [cpu, cores] = nas_bench::machine();
  const std::string date = nas_bench::utc_now();
  const std::string torch_config = torch.ok() ? torch.ask("config") : "";
  const std::string load_before = load_average();
  const double core_peak = nas_bench::fma_peak_gflops();
  std::cout << "measured FMA peak: " << fixed(core_peak, 0) << " GFLOP/s per core\n";
  std::cout << "machine: " << cpu << ", " << cores << " CPUs; PyTorch " << (torch.ok() ? torch.version() : "missing")
            << "\n";

  std::vector<Row> rows;
  std::vector<std::pair<int, Stats>> gemm;
  const int gemm_n = 512;
  for (int threads : thread_counts) {
    nas::set_num_threads(threads);
    gemm.emplace_back(threads, gemm_gflops(gemm_n, repeats));
    std::cout << "Eigen SGEMM " << gemm_n << "^3, " << threads << " threads: " << fixed(gemm.back().second.median, 1)
              << " GFLOP/s\n";
    for (int k : kernels) {
      Row row;
      row.layer = "conv" + std::to_string(k) + "x" + std::to_string(k);
      row.kernel = k;
      row.threads = threads;
      NasConv layer(batch, channels, size, k, bias);
      row.nas_params = layer.params();
      // Warm-up of both sides: PyTorch is slower in its first steps of a new shape.
      const double first = layer.time(3);
      for (const auto t0 = Clock::now(); seconds_since(t0) < warm_seconds / 3;) layer.step();
      const int iters = std::max(1, static_cast<int>(repeat_seconds / std::max(first, 1e-6)));
      const std::string run = "run " + std::to_string(batch) + " " + std::to_string(channels) + " " +
                              std::to_string(size) + " " + std::to_string(k) + " " + std::to_string(threads) + " " +
                              (bias ? "1" : "0") + " ";
      row.has_torch = torch.ok();
      if (row.has_torch) {
        row.torch_params = std::stoul(torch.ask("params " + std::to_string(channels) + " " + std::to_string(k) + " " +
                                                (bias ? "1" : "0")));
        torch.ask("warm" + run.substr(3) + fixed(warm_seconds, 2));
      }
      layer.time(iters);
      std::vector<double> nas_t, torch_t;
      for (int r = 0; r < repeats; ++r) {
        nas_t.push_back(layer.time(iters) * 1e3);
        if (row.has_torch) torch_t.push_back(std::stod(torch.ask(run + std::to_string(iters))) * 1e3);
      }
      row.nas_ms = summarize(nas_t);
      const double flops = 3.0 * 2.0 * batch * channels * channels * k * k * static_cast<double>(size) * size;
      row.gflops = flops / (row.nas_ms.median * 1e-3) / 1e9;
      row.gflops_best = flops / (row.nas_ms.min * 1e-3) / 1e9;
      row.gemm_fraction = row.gflops / gemm.back().second.median;
      if (row.has_torch) {
        row.torch_ms = summarize(torch_t);
        row.ratio = row.nas_ms.median / row.torch_ms.median;
      }
      std::cout << row.layer << " " << threads << " thr: nas " << fixed(row.nas_ms.median, 3) << " ms ["
                << fixed(row.nas_ms.min, 3) << "-" << fixed(row.nas_ms.max, 3) << "]";
      if (row.has_torch)
        std::cout << ", PyTorch " << fixed(row.torch_ms.median, 3) << " ms [" << fixed(row.torch_ms.min, 3) << "-"
                  << fixed(row.torch_ms.max, 3) << "], ratio " << fixed(row.ratio, 2);
      std::cout << ", nas " << fixed(row.gflops, 1) << " GFLOP/s; params nas " << row.nas_params << " / PyTorch "
                << (row.has_torch ? std::to_string(row.torch_params) : "-") << "\n";
      rows.push_back(row);
    }
  }

  const std::string load_after = load_average();
  std::cout << "load average (1, 5, 15 min): before " << load_before << ", after " << load_after << "\n";
  if (out_dir.empty()) return 0;
  std::filesystem::create_directories(out_dir);
  const std::string shape_text = std::to_string(channels) + "->" + std::to_string(channels) + ", " +
                                 std::to_string(size) + "x" + std::to_string(size) + ", batch " +
                                 std::to_string(batch) + (bias ? ", with bias" : ", no bias");

  // CSV
  {
    std::ofstream csv(out_dir + "/tensor.csv");
    csv << "layer,kernel,threads,batch,channels,size,bias,nas_params,torch_params,nas_ms_median,nas_ms_min,nas_ms_max,"
           "torch_ms_median,torch_ms_min,torch_ms_max,ratio_nas_over_torch,nas_gflops,nas_gflops_best,eigen_gemm_gflops,"
           "fraction_of_gemm\n";
    for (const auto& r : rows) {
      double g = 0;
      for (const auto& [t, s] : gemm)
        if (t == r.threads) g = s.median;
      csv << r.layer << "," << r.kernel << "," << r.threads << "," << batch << "," << channels << "," << size << ","
          << (bias ? 1 : 0) << "," << r.nas_params << "," << (r.has_torch ? std::to_string(r.torch_params) : "") << ","
          << fixed(r.nas_ms.median, 4) << "," << fixed(r.nas_ms.min, 4) << "," << fixed(r.nas_ms.max, 4) << ","
          << (r.has_torch ? fixed(r.torch_ms.median, 4) + "," + fixed(r.torch_ms.min, 4) + "," +
                                fixed(r.torch_ms.max, 4) + "," + fixed(r.ratio, 4)
                          : std::string(",,,"))
          << "," << fixed(r.gflops, 2) << "," << fixed(r.gflops_best, 2) << "," << fixed(g, 2) << "," << fixed(r.gemm_fraction, 4) << "\n";
    }
  }
  // JSON
  {
    nlohmann::json j;
    j["command"] = command;
    j["date"] = date;
    j["cpu"] = cpu;
    j["cpus"] = cores;
    j["torch"] = torch.ok() ? torch.version() : "";
    j["torch_config"] = torch_config;
    j["load_average_before"] = load_before;
    j["load_average_after"] = load_after;
    j["shape"] = {{"batch", batch}, {"channels", channels}, {"size", size}, {"bias", bias}};
    j["repeats"] = repeats;
    for (const auto& [t, s] : gemm)
      j["eigen_gemm"].push_back({{"threads", t}, {"n", gemm_n}, {"gflops_median", s.median}, {"gflops_min", s.min},
                                 {"gflops_max", s.max}});
    for (const auto& r : rows) {
      nlohmann::json e{{"layer", r.layer},
                       {"threads", r.threads},
                       {"nas_params", r.nas_params},
                       {"nas_ms", {{"median", r.nas_ms.median}, {"min", r.nas_ms.min}, {"max", r.nas_ms.max}}},
                       {"nas_gflops", r.gflops},
                       {"nas_gflops_best", r.gflops_best},
                       {"fraction_of_gemm", r.gemm_fraction}};
      if (r.has_torch) {
        e["torch_params"] = r.torch_params;
        e["torch_ms"] = {{"median", r.torch_ms.median}, {"min", r.torch_ms.min}, {"max", r.torch_ms.max}};
        e["ratio_nas_over_torch"] = r.ratio;
      }
      j["rows"].push_back(e);
    }
    std::ofstream(out_dir + "/tensor.json") << j.dump(2) << "\n";
  }
  // SVG: ratio per layer, one series per thread count.
  bool any_torch = false;
  for (const auto& r : rows) any_torch = any_torch || r.has_torch;
  if (any_torch) {
    nas::BarChart chart({.title = "nas / PyTorch time, Conv2d forward + backward (" + shape_text + ")",
                         .y_label = "ratio (nas/PyTorch), lower is faster"});
    std::vector<std::string> names;
    for (int k : kernels) names.push_back("conv" + std::to_string(k) + "x" + std::to_string(k));
    chart.categories(names);
    for (int t : thread_counts) {
      std::vector<double> values;
      for (int k : kernels)
        for (const auto& r : rows)
          if (r.threads == t && r.kernel == k) values.push_back(r.has_torch ? r.ratio : NAN);
      chart.add(std::to_string(t) + (t == 1 ? " thread" : " threads"), values);
    }
    chart.reference(1.0, "parity").value_labels(2);
    chart.save(out_dir + "/tensor.svg");
  }
  // Markdown
  {
    std::ofstream md(out_dir + "/tensor.md");
    md << "# Convolution kernels: nas vs PyTorch\n\n";
    md << "Conv2d " << shape_text << ", padding k/2, stride 1, float32: one training step of the layer = forward, "
       << "dx and dw" << (bias ? " and dbias" : "") << ". Both sides run in one process pair, alternating repeats "
       << "(nas, PyTorch, nas, ...) after a warm-up of each; each repeat times a run of steps; the table gives the "
       << "median time per step over " << repeats << " repeats with [min-max].\n\n";
    md << "- Command: `" << command << "` (build with `-DCMAKE_BUILD_TYPE=Release -DNAS_NATIVE=ON`)\n";
    md << "- Date: " << date << "\n";
    md << "- Machine: " << cpu << ", " << cores << " CPUs (lscpu)\n";
    md << "- PyTorch: " << (torch.ok() ? torch.version() + " (" + python + ", `torch.set_num_threads(n)`)"
                                       : std::string("missing: install with `sudo apt-get install python3-torch`"))
       << "\n";
    if (torch.ok()) md << "- PyTorch build: " << torch_config << "\n";
    if (torch.ok()) md << "- " << nas_bench::keep_heap_note << ".\n";
    md << "- Load average (1, 5, 15 min) of the machine, which other jobs share: before " << load_before
       << ", after " << load_after << ".";
    if (const double n = std::atof(cores.c_str()); nas_bench::overloaded(load_before, n) || nas_bench::overloaded(load_after, n))
      md << " With more runnable jobs than cores, absolute times here are several times those of a quiet machine"
         << " and vary from repeat to repeat; the alternation keeps the ratio fair.";
    md << "\n";
    md << "- Threads: ";
    for (std::size_t i = 0; i < thread_counts.size(); ++i) md << (i ? ", " : "") << thread_counts[i];
    md << " (nas::set_num_threads and torch.set_num_threads)\n";
    md << "- FLOPs per step: 3 x 2 x MACs of the forward pass.\n";
    md << "- Eigen SGEMM (" << gemm_n << "x" << gemm_n << "x" << gemm_n << ") on this machine, median [min-max]: ";
    for (std::size_t i = 0; i < gemm.size(); ++i)
      md << (i ? "; " : "") << gemm[i].first << " thread" << (gemm[i].first == 1 ? "" : "s") << " "
         << fixed(gemm[i].second.median, 1) << " GFLOP/s [" << fixed(gemm[i].second.min, 1) << "-"
         << fixed(gemm[i].second.max, 1) << "]";
    md << "\n- Measured FMA peak of one core: " << fixed(core_peak, 0) << " GFLOP/s ("
       << nas::kernels::detail::Vec::width
       << "-float FMA, twelve independent chains in registers, best of five); convolutions also load and store, "
          "so neither side reaches it.";
    md << "\n\n";
    md << "| layer | threads | params nas / PyTorch | nas ms | PyTorch ms | ratio (nas/PyTorch) | nas GFLOP/s | "
          "nas GFLOP/s, best repeat | fraction of Eigen GEMM |\n";
    md << "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
      md << "| " << r.layer << " | " << r.threads << " | " << r.nas_params << " / "
         << (r.has_torch ? std::to_string(r.torch_params) : "-") << " | " << fixed(r.nas_ms.median, 3) << " ["
         << fixed(r.nas_ms.min, 3) << "-" << fixed(r.nas_ms.max, 3) << "] | ";
      if (r.has_torch)
        md << fixed(r.torch_ms.median, 3) << " [" << fixed(r.torch_ms.min, 3) << "-" << fixed(r.torch_ms.max, 3)
           << "] | " << fixed(r.ratio, 2) << " | ";
      else
        md << "- | - | ";
      md << fixed(r.gflops, 1) << " | " << fixed(r.gflops_best, 1) << " | " << fixed(r.gemm_fraction, 2) << " |\n";
    }
    md << "\n";
    md << "nas GFLOP/s is from the median time, the fraction compares it with the median Eigen GEMM rate at the same "
          "thread count.";
    bool over_one = false;
    for (const auto& r : rows) over_one = over_one || r.gemm_fraction > 1.0;
    if (over_one)
      md << " A fraction above 1 means the GEMM measurement itself was slowed by other jobs on the shared cores "
            "(its rate falls when more threads run than cores are free), not that the kernels beat a GEMM.";
    md << "\n\n";
    if (any_torch) md << "![ratio](tensor.svg)\n\n";
    std::vector<std::string> missed;
    for (const auto& r : rows)
      if (r.has_torch && !(r.ratio <= 1.0))
        missed.push_back(r.layer + " at " + std::to_string(r.threads) + " thread" + (r.threads == 1 ? "" : "s") +
                         " (" + fixed(r.ratio, 2) + ")");
    md << "## Goal: ratio (nas/PyTorch) <= 1.0\n\n";
    if (!any_torch)
      md << "Not measured: PyTorch is missing.\n\n";
    else if (missed.empty())
      md << "Met for every row of this run.\n\n";
    else {
      md << "Missed in this run for: ";
      for (std::size_t i = 0; i < missed.size(); ++i) md << (i ? ", " : "") << missed[i];
      md << ".\n\n";
    }
    md << "## What the kernels do\n\n"
       << "Stride 1 (these layers): images are copied into zero-padded planes whose rows share their zero columns "
       << "(a row's right padding is the next row's left padding), and small images are stacked in one plane sharing "
       << "their zero rows. Read as one flat vector, output pixel (i, j) sits at i R + j for row pitch R, and tap "
       << "(ki, kj) reads the input shifted by ki R + kj, so the convolution is a sum of shifted contiguous vectors; "
       << "the few extra columns per row are computed and dropped. A register block of output channels x SIMD "
       << "vectors of positions accumulates over (input channel, tap) with one broadcast-FMA per multiply-add "
       << "(AVX-512, AVX2 + FMA, or scalar, chosen at compile time). A 1x1 kernel without padding runs the same "
       << "block on the planes in place. Other strides split the input into stride phases and run the same kernel. "
       << "At stride 1, dx is the same kernel applied to dy padded by k - 1 - p with the weights transposed and "
       << "flipped. dw, at any stride, is a blocked dot product over positions of dy with the shifted input on the "
       << "same stacked phase layout. Images are handed to threads dynamically, in a number of work items that "
       << "divides evenly among them; dw and dbias are summed per fixed chunk of images and the chunks added in "
       << "order, so results are bit-identical run to run (and across 1 to 4 threads).\n\n";
    md << "## Known limits\n\n"
       << "- At one thread oneDNN can be faster on the 3x3 and 5x5 layers. Its JIT kernels vectorise over blocks of "
       << "channels in a blocked layout, so they need neither padded copies nor extra columns; nas's kernels work "
       << "on plain NCHW and pay for both. nas against oneDNN itself, per shape of the NB201 and DARTS networks and "
       << "per pass, with and without its blocked layout kept: [dnnl.md](dnnl.md) (benchmarks/dnnl_conv).\n"
       << "- dx of strided convolutions runs on im2col + Eigen GEMM per image.\n"
       << "- Parallelism is over images: a batch smaller than the thread count leaves threads idle.\n"
       << "- Small planes with large kernels compute many padded positions (7x7 with a 5x5 kernel: 49 useful of "
       << "81 per image).\n"
       << "- Without -march=native (or -mavx2 -mfma) the kernels compile to scalar code.\n";
  }
  std::cout << "wrote " << out_dir << "/tensor.{md,csv,json,svg}\n";
  return 0;
}
