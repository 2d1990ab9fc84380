// Training and inference throughput of NAS-Bench-201 networks: nas against PyTorch, side by side.
//
// One run alternates nas and PyTorch repeats (A B A B) after warming both. PyTorch lives
// in a long-lived child process (benchmarks/torch_nb201.py, run by /usr/bin/python3) that
// builds the same networks and, on command, times R repeats of a mode. Peak memory is
// measured in fresh child processes that run only one side; heap allocations per nas
// training step are counted by interposing malloc in this program.
//
//   training_vs_torch --out benchmarks/reports      (writes training.md/.csv/.svg)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "peer.hpp"

#include "nas/model/cell_network.hpp"
#include "nas/report/svg.hpp"
#include "nas/space/nb201_space.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/threads.hpp"

// ---------------------------------------------------------------------------------------
// Counting allocator. Every heap allocation of this process (operator new, Eigen's and
// the workspace's aligned buffers, OpenMP) goes through malloc and friends; defining them
// here interposes glibc's versions, which we then call through their __libc_ aliases.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_alloc_calls{0};
std::atomic<std::size_t> g_alloc_bytes{0};
inline void count_alloc(std::size_t bytes) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_alloc_calls.fetch_add(1, std::memory_order_relaxed);
    g_alloc_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  count_alloc(n);
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
  count_alloc(k * n);
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
  count_alloc(n);
  return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(std::size_t a, std::size_t n) {
  count_alloc(n);
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  count_alloc(n);
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  count_alloc(n);
  void* p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

namespace {

using nas_bench::load_average;
using nas_bench::Stats;
using nas_bench::summarize;
using nas_bench::utc_now;
const auto fmt = nas_bench::fixed;

using Clock = std::chrono::steady_clock;

constexpr int kBatch = 64;
constexpr int kImage = 28;
constexpr int kInChannels = 1;
constexpr int kClasses = 10;
const char* const kBestArch =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";

struct NetSpec {
  std::string key;    // short id used in the protocol and the CSV
  std::string label;  // what the report calls it
  int cells;          // N: cells per stage
  int channels;       // C: channels of the first stage
  std::string arch;
};

std::vector<NetSpec> networks() {
  return {{"a", "(a) N=1, C=16", 1, 16, kBestArch}, {"b", "(b) N=5, C=16", 5, 16, kBestArch}};
}

/// Wall-clock and CPU seconds (all threads of the process) of one timed repeat.
struct Timing {
  double wall = 0, cpu = 0;
};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::unique_ptr<nas::Module> make_network(const NetSpec& spec) {
  const nas::Nb201Space space;
  return nas::make_network(space, space.decode(spec.arch),
                           nas::NetworkInput{.channels = kInChannels, .height = kImage, .width = kImage, .classes = kClasses},
                           nas::NetworkOptions{.channels = spec.channels, .cells = spec.cells, .seed = 0});
}

// ---------------------------------------------------------------------------------------
// The nas side: the same network built from the NB201 encoding, a fixed random batch,
// cross-entropy loss and SGD with momentum.
class NasSide {
 public:
  explicit NasSide(const NetSpec& spec)
      : net_(make_network(spec)),
        x_(nas::Shape{kBatch, kInChannels, kImage, kImage}),
        optimizer_(net_->parameters(), nas::SGD::Options{.lr = 0.01, .momentum = 0.9}) {
    nas::Rng rng(1);
    x_.fill_normal(rng);
    labels_.resize(kBatch);
    for (auto& y : labels_) y = static_cast<int>(rng.uniform_int(0, kClasses - 1));
  }
  [[nodiscard]] std::size_t params() const { return net_->num_parameters(); }
  /// Forward FLOPs per image, 2 x multiply-accumulates.
  [[nodiscard]] double forward_flops() const {
    return 2.0 * net_->macs(nas::Shape{1, kInChannels, kImage, kImage});
  }
  nas::Module& network() { return *net_; }

  void train_step() {
    optimizer_.zero_grad();
    loss_.forward(net_->forward(x_), labels_);
    net_->backward(loss_.backward());
    optimizer_.step();
  }
  void infer_step() { net_->forward(x_); }
  void set_mode(const std::string& mode) { net_->train(mode == "train"); }

  /// Where a training step spends its time: the network's top-level blocks run one by one
  /// (as its Sequential body does) with a clock around each forward and backward, grouped
  /// into stem, the cells of each stage, the reduction blocks and the head; plus loss and
  /// the optimizer. Returns (group, forward seconds/step, backward seconds/step).
  std::vector<std::tuple<std::string, double, double>> profile(int steps) {
    std::vector<nas::Module*> blocks;
    net_->for_each_child([&](const std::string&, nas::Module& body) {
      body.for_each_child([&](const std::string&, nas::Module& m) { blocks.push_back(&m); });
    });
    // Group of each block: 0 stem, then cells / reduction alternating, last the head.
    std::vector<std::string> group(blocks.size());
    int stage = 1;
    bool seen_cell = false;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const std::string t = blocks[i]->type_name();
      if (t == "ResNetBasicBlock") {
        group[i] = "reduction block " + std::to_string(stage) + " -> " + std::to_string(stage + 1);
        ++stage;
      } else if (t.find("Cell") != std::string::npos) {
        group[i] = "cells, stage " + std::to_string(stage);
        seen_cell = true;
      } else {
        group[i] = seen_cell ? "head (BN, ReLU, pool, linear)" : "stem (conv, BN)";
      }
    }
    std::vector<std::string> names;
    for (const auto& g : group)
      if (std::find(names.begin(), names.end(), g) == names.end()) names.push_back(g);
    std::vector<double> fwd(names.size()), bwd(names.size());
    auto index = [&](std::size_t i) {
      return static_cast<std::size_t>(std::find(names.begin(), names.end(), group[i]) - names.begin());
    };
    double other = 0;
    set_mode("train");
    for (int s = 0; s < steps; ++s) {
      auto t0 = Clock::now();
      optimizer_.zero_grad();
      other += std::chrono::duration<double>(Clock::now() - t0).count();
      const nas::Tensor* h = &x_;
      for (std::size_t i = 0; i < blocks.size(); ++i) {
        t0 = Clock::now();
        h = &blocks[i]->forward(*h);
        fwd[index(i)] += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      t0 = Clock::now();
      loss_.forward(*h, labels_);
      other += std::chrono::duration<double>(Clock::now() - t0).count();
      const nas::Tensor* g = &loss_.backward();
      for (std::size_t i = blocks.size(); i-- > 0;) {
        t0 = Clock::now();
        g = &blocks[i]->backward(*g);
        bwd[index(i)] += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      t0 = Clock::now();
      optimizer_.step();
      other += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::vector<std::tuple<std::string, double, double>> out;
    for (std::size_t k = 0; k < names.size(); ++k) out.emplace_back(names[k], fwd[k] / steps, bwd[k] / steps);
    out.emplace_back("loss, zero_grad, SGD step", other / steps, 0.0);
    return out;
  }
  /// Wall and CPU seconds for each of `repeats` repeats of `steps` steps.
  std::vector<Timing> run(const std::string& mode, int steps, int repeats) {
    set_mode(mode);
    const bool train = mode == "train";
    std::vector<Timing> times;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      const double c0 = process_cpu_seconds();
      for (int s = 0; s < steps; ++s) train ? train_step() : infer_step();
      times.push_back({std::chrono::duration<double>(Clock::now() - t0).count(), process_cpu_seconds() - c0});
    }
    return times;
  }

 private:
  std::unique_ptr<nas::Module> net_;
  nas::Tensor x_;
  std::vector<int> labels_;
  nas::SoftmaxCrossEntropy loss_;
  nas::SGD optimizer_;
};

using nas_bench::LineChild;

/// Sends one command to the PyTorch child; returns the reply without its "ok " prefix, or
/// nothing if the child died. A reply other than "ok ..." is the child's error message.
std::optional<std::string> ask_ok(LineChild& child, const std::string& command) {
  auto line = child.ask(command);
  if (!line || line->empty()) return std::nullopt;
  if (line->rfind("ok", 0) != 0) throw std::runtime_error("torch child: '" + command.substr(0, 60) + "' -> " + *line);
  return line->size() > 3 ? line->substr(3) : std::string();
}

/// Runs a program to completion and returns its standard output.
std::string run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("run_capture: pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("run_capture: fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    nas_bench::exec_or_exit(argv);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("run_capture: '" + argv[0] + "' failed");
  return out;
}

std::vector<double> parse_doubles(const std::string& s) {
  std::vector<double> v;
  std::istringstream in(s);
  for (double d; in >> d;) v.push_back(d);
  return v;
}

/// Value after `key` in a "key value key value" line.
double field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  for (std::string k; in >> k;)
    if (k == key) {
      double v = 0;
      in >> v;
      return v;
    }
  throw std::runtime_error("field: '" + key + "' missing in '" + line + "'");
}

struct Row {
  std::string net, mode;
  int threads = 0, steps = 0;
  Stats nas, torch;          // images per wall-clock second
  Stats nas_cpu, torch_cpu;  // images per CPU second (all threads)
  bool has_torch = false;
  [[nodiscard]] double ratio() const { return nas.median / torch.median; }
  [[nodiscard]] double cpu_ratio() const { return nas_cpu.median / torch_cpu.median; }
};

struct MemRow {
  std::string net;
  int threads = 0;
  double nas_mib = 0, torch_mib = 0;
  double nas_base_mib = 0, torch_base_mib = 0;  // before the network was built
  bool has_torch = false;
  double alloc_calls = 0, alloc_bytes = 0;
};

/// A bar chart of the throughput ratios (one group per network and mode, one bar per
/// thread count) with the parity line at 1.
void write_ratio_chart(const std::vector<Row>& rows, const std::vector<int>& thread_counts, const std::filesystem::path& file) {
  // "(a) train": the network's tag and the mode, short enough to stand unrotated under a bar group.
  auto category = [](const Row& r) { return r.net.substr(0, r.net.find(' ')) + (r.mode == "train" ? " train" : " infer"); };
  std::vector<std::string> categories;
  for (const auto& r : rows) {
    const std::string c = category(r);
    if (std::find(categories.begin(), categories.end(), c) == categories.end()) categories.push_back(c);
  }
  nas::BarChart chart({.title = "Throughput ratio nas / PyTorch (higher is better)", .y_label = "nas img/s / PyTorch img/s"});
  chart.categories(categories);
  for (int t : thread_counts) {
    std::vector<double> values(categories.size(), std::numeric_limits<double>::quiet_NaN());
    for (const auto& r : rows)
      if (r.threads == t && r.has_torch) {
        const std::string c = category(r);
        values[static_cast<std::size_t>(std::find(categories.begin(), categories.end(), c) - categories.begin())] = r.ratio();
      }
    chart.add(std::to_string(t) + (t == 1 ? " thread" : " threads"), values);
  }
  chart.reference(1.0, "parity").value_labels(2);
  chart.save(file.string());
}

// ---------------------------------------------------------------------------------------
// `--only nas`: a fresh process that trains one network a few steps and reports its peak
// RSS, parameter count and the heap allocations of the steps after the warm-up ones.
int only_nas(const NetSpec& spec, int threads, int steps) {
  nas::set_num_threads(threads);
  const double base_kib = max_rss_mib() * 1024.0;  // the program and its libraries, before any network exists
  NasSide side(spec);
  const int warm = 2;
  for (int s = 0; s < warm; ++s) side.train_step();
  g_alloc_calls = 0;
  g_alloc_bytes = 0;
  g_counting = true;
  for (int s = 0; s < steps; ++s) side.train_step();
  g_counting = false;
  const auto calls = static_cast<double>(g_alloc_calls.load()), bytes = static_cast<double>(g_alloc_bytes.load());
  const double rss_kib = max_rss_mib() * 1024.0;
  const std::size_t params = side.params();
  std::printf("params %zu rss_kib %.0f base_kib %.0f alloc_calls %.3f alloc_bytes %.1f\n", params, rss_kib, base_kib,
              calls / steps, bytes / steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training and inference throughput of NAS-Bench-201 networks: nas against PyTorch"};
  std::string out_dir;
  int repeats = 7;
  double repeat_seconds = 1.0;
  double warmup_seconds = 2.0;
  std::vector<int> thread_counts{1, 2};
  std::string python = "/usr/bin/python3";
  std::string script = std::string(NAS_SOURCE_DIR) + "/benchmarks/torch_nb201.py";
  std::string only;
  std::string only_net = "a";
  int only_threads = 1;
  int mem_steps = 4;
  int profile_steps = 4;
  std::vector<std::string> net_keys{"a", "b"};
  app.add_option("--out", out_dir, "Directory for training.md, training.csv and training.svg");
  app.add_option("--repeats", repeats, "Timed repeats per side (>= 7 for the report)")->check(CLI::Range(1, 1000));
  app.add_option("--seconds", repeat_seconds, "Target seconds per repeat")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup_seconds, "Warm-up seconds per side and configuration")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", thread_counts, "Thread counts")->delimiter(',');
  app.add_option("--python", python, "Python interpreter with torch");
  app.add_option("--script", script, "The PyTorch peer script");
  app.add_option("--only", only, "Run only one side to measure its peak memory (nas)")->check(CLI::IsMember({"nas"}));
  app.add_option("--net", only_net, "Network for --only (a or b)");
  app.add_option("--only-threads", only_threads, "Threads for --only");
  app.add_option("--mem-steps", mem_steps, "Training steps in the memory runs")->check(CLI::Range(1, 1000));
  app.add_option("--nets", net_keys, "Networks to run: a (N=1, C=16), b (N=5, C=16)")->delimiter(',');
  app.add_option("--profile-steps", profile_steps, "Training steps timed block by block (0: no profile)")
      ->check(CLI::Range(0, 1000));
  CLI11_PARSE(app, argc, argv);
  std::string command_line = "training_vs_torch";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];

  auto find_net = [&](const std::string& key) -> NetSpec {
    for (const auto& n : networks())
      if (n.key == key) return n;
    throw nas::ConfigError("training_vs_torch: network '" + key + "' (expected a or b)");
  };
  if (only == "nas") return only_nas(find_net(only_net), only_threads, mem_steps);
  std::vector<NetSpec> nets;
  for (const auto& k : net_keys) nets.push_back(find_net(k));

  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();

  // PyTorch available?
  std::unique_ptr<LineChild> torch;
  std::string torch_version;
  const std::string load_before = load_average();
  const double core_peak = nas_bench::fma_peak_gflops();
  std::printf("measured FMA peak: %.0f GFLOP/s per core\n", core_peak);
  const bool have_torch = std::filesystem::exists(python) && std::filesystem::exists(script) &&
                          std::system((python + " -c 'import torch' 2>/dev/null").c_str()) == 0;
  if (!have_torch)
    std::printf("PyTorch not found for %s: install it with `sudo apt-get install python3-torch`; "
                "the PyTorch columns are skipped.\n", python.c_str());

  // 1. Peak memory and allocations, each side alone in a fresh process.
  std::vector<MemRow> mem;
  for (const auto& net : nets)
    for (int t : thread_counts) {
      MemRow m;
      m.net = net.label;
      m.threads = t;
      const std::string nas_out = run_capture({self, "--only", "nas", "--net", net.key, "--only-threads",
                                               std::to_string(t), "--mem-steps", std::to_string(mem_steps)});
      m.nas_mib = field(nas_out, "rss_kib") / 1024.0;
      m.nas_base_mib = field(nas_out, "base_kib") / 1024.0;
      m.alloc_calls = field(nas_out, "alloc_calls");
      m.alloc_bytes = field(nas_out, "alloc_bytes");
      if (have_torch) {
        const std::string py_out = run_capture(nas_bench::keep_heap(
            {python, script, "--rss", std::to_string(net.cells), std::to_string(net.channels), net.arch,
             std::to_string(t), std::to_string(mem_steps + 2)}));
        m.torch_mib = field(py_out, "rss_kib") / 1024.0;
        m.torch_base_mib = field(py_out, "base_kib") / 1024.0;
        m.has_torch = true;
      }
      std::printf("memory %s threads %d: nas %.1f MiB, PyTorch %s MiB, nas allocations/step %.1f (%.0f bytes)\n",
                  net.label.c_str(), t, m.nas_mib, m.has_torch ? fmt(m.torch_mib, 1).c_str() : "-", m.alloc_calls,
                  m.alloc_bytes);
      std::fflush(stdout);
      mem.push_back(m);
    }

  // 2. Throughput, alternating.
  if (have_torch) {
    torch = std::make_unique<LineChild>(nas_bench::keep_heap({python, script}));
    auto v = ask_ok(*torch, "version");
    if (!v) throw std::runtime_error("training_vs_torch: the PyTorch child did not answer");
    torch_version = *v;
  }
  std::vector<Row> rows;
  std::vector<std::pair<std::size_t, std::size_t>> param_counts;
  std::vector<double> flops;
  for (const auto& net : nets) {
    NasSide nas_side(net);
    std::size_t torch_params = 0;
    if (torch) torch_params = static_cast<std::size_t>(field(*ask_ok(*torch, "build " + net.key + " " + std::to_string(net.cells) + " " +
                                                                         std::to_string(net.channels) + " " + net.arch),
                                                             "params"));
    param_counts.emplace_back(nas_side.params(), torch_params);
    flops.push_back(nas_side.forward_flops());
    std::printf("%s: parameters nas %zu, PyTorch %zu%s\n", net.label.c_str(), nas_side.params(), torch_params,
                torch && torch_params != nas_side.params() ? "  (MISMATCH)" : "");
    for (int t : thread_counts)
      for (const std::string mode : {"train", "infer"}) {
        nas::set_num_threads(t);
        // One repeat of `steps` steps in the child: its wall and CPU seconds.
        auto torch_run = [&](int steps) {
          const auto v = parse_doubles(*ask_ok(*torch, "run " + net.key + " " + mode + " " + std::to_string(t) + " " +
                                                   std::to_string(steps) + " 1"));
          if (v.size() != 2) throw std::runtime_error("training_vs_torch: the PyTorch child sent no timing");
          return Timing{v[0], v[1]};
        };
        // Warm-up: two steps each to learn the step time, then about warmup_seconds each.
        double nas_step = nas_side.run(mode, 2, 1)[0].wall / 2;
        double torch_step = torch ? torch_run(2).wall / 2 : nas_step;
        const int nas_warm = std::max(1, static_cast<int>(warmup_seconds / nas_step));
        nas_step = nas_side.run(mode, nas_warm, 1)[0].wall / nas_warm;
        if (torch) {
          const int w = std::max(1, static_cast<int>(warmup_seconds / torch_step));
          torch_step = torch_run(w).wall / w;
        }
        const int steps = std::max(1, static_cast<int>(std::lround(repeat_seconds / (0.5 * (nas_step + torch_step)))));
        std::vector<double> nas_ips, torch_ips, nas_cpu, torch_cpu;
        for (int r = 0; r < repeats; ++r) {
          const Timing a = nas_side.run(mode, steps, 1)[0];
          nas_ips.push_back(kBatch * steps / a.wall);
          nas_cpu.push_back(kBatch * steps / a.cpu);
          if (torch) {
            const Timing b = torch_run(steps);
            torch_ips.push_back(kBatch * steps / b.wall);
            torch_cpu.push_back(kBatch * steps / b.cpu);
          }
        }
        Row row{net.label, mode, t, steps, summarize(nas_ips), {}, summarize(nas_cpu), {}, static_cast<bool>(torch)};
        if (torch) {
          row.torch = summarize(torch_ips);
          row.torch_cpu = summarize(torch_cpu);
        }
        std::printf("%s %-5s threads %d (%d steps/repeat): nas %.1f img/s [%.1f-%.1f]", net.label.c_str(), mode.c_str(), t,
                    steps, row.nas.median, row.nas.min, row.nas.max);
        if (torch)
          std::printf(", PyTorch %.1f img/s [%.1f-%.1f], ratio %.2f (per CPU second: nas %.1f, PyTorch %.1f, ratio %.2f)",
                      row.torch.median, row.torch.min, row.torch.max, row.ratio(), row.nas_cpu.median, row.torch_cpu.median,
                      row.cpu_ratio());
        std::printf("\n");
        std::fflush(stdout);
        rows.push_back(row);
      }
  }
  torch.reset();
  const std::string load_after = load_average();

  // 3. Where a nas training step spends its time, one thread.
  struct Profile {
    std::string net;
    std::vector<std::tuple<std::string, double, double>> groups;
  };
  std::vector<Profile> profiles;
  if (profile_steps > 0)
    for (const auto& net : nets) {
      nas::set_num_threads(1);
      NasSide side(net);
      side.run("train", 2, 1);
      Profile p{net.label, side.profile(profile_steps)};
      double total = 0;
      for (const auto& [name, f, b] : p.groups) total += f + b;
      std::printf("profile %s, 1 thread, %.1f ms/step:\n", net.label.c_str(), total * 1e3);
      for (const auto& [name, f, b] : p.groups)
        std::printf("  %-32s forward %7.1f ms  backward %7.1f ms  (%4.1f%%)\n", name.c_str(), f * 1e3, b * 1e3,
                    100.0 * (f + b) / total);
      profiles.push_back(std::move(p));
    }

  if (out_dir.empty()) return 0;

  // 3. The report.
  std::filesystem::create_directories(out_dir);
  const std::filesystem::path dir(out_dir);
  {
    std::ofstream csv(dir / "training.csv");
    csv << "network,mode,threads,steps_per_repeat,nas_ips_median,nas_ips_min,nas_ips_max,torch_ips_median,torch_ips_min,"
           "torch_ips_max,throughput_ratio,nas_ips_per_cpu_s,torch_ips_per_cpu_s,cpu_throughput_ratio\n";
    for (const auto& r : rows) {
      csv << '"' << r.net << "\"," << r.mode << ',' << r.threads << ',' << r.steps << ',' << fmt(r.nas.median, 2) << ','
          << fmt(r.nas.min, 2) << ',' << fmt(r.nas.max, 2) << ',';
      if (r.has_torch)
        csv << fmt(r.torch.median, 2) << ',' << fmt(r.torch.min, 2) << ',' << fmt(r.torch.max, 2) << ',' << fmt(r.ratio(), 3)
            << ',' << fmt(r.nas_cpu.median, 2) << ',' << fmt(r.torch_cpu.median, 2) << ',' << fmt(r.cpu_ratio(), 3);
      else
        csv << ",,,," << fmt(r.nas_cpu.median, 2) << ",,";
      csv << '\n';
    }
  }
  write_ratio_chart(rows, thread_counts, dir / "training.svg");
  std::ofstream md(dir / "training.md");
  const auto [cpu, cores] = nas_bench::machine();
  md << "# Training throughput: nas against PyTorch on NAS-Bench-201 networks\n\n";
  md << "Images per second for a training step (forward, cross-entropy, backward, SGD with momentum 0.9) and for "
        "inference (eval-mode forward) of the NAS-Bench-201 TinyNetwork on 1x28x28 inputs (Fashion-MNIST shape), "
        "10 classes, batch "
     << kBatch << ", float32.\n\n";
  md << "## How it was produced\n\n";
  md << "- Command: `" << command_line << "` (built in Release with `-DNAS_NATIVE=ON`).\n";
  md << "- Date: " << utc_now() << "; load average (1, 5, 15 min) " << load_before << " before the throughput runs, "
     << load_after << " after (the machine is shared: other processes ran meanwhile, which is why sides alternate).\n";
  md << "- Machine: " << cpu << ", " << cores << " cores; threads " ;
  for (std::size_t i = 0; i < thread_counts.size(); ++i) md << (i ? ", " : "") << thread_counts[i];
  md << " (nas: `nas::set_num_threads(n)`; PyTorch: `torch.set_num_threads(n)`).\n";
  md << "- PyTorch: " << (have_torch ? torch_version + " (CPU, `" + python + "`), model in `benchmarks/torch_nb201.py`"
                                     : std::string("not installed (`sudo apt-get install python3-torch`); columns skipped"))
     << ".\n";
  if (have_torch) md << "- " << nas_bench::keep_heap_note << ".\n";
  md << "- Architecture (best CIFAR-10 architecture of NAS-Bench-201): `" << kBestArch << "`.\n";
  md << "- Method: one process; PyTorch runs in a long-lived child. For each network, thread count and mode both sides "
        "are warmed up (2 steps, then about "
     << warmup_seconds << " s each), then " << repeats
     << " repeats alternate nas, PyTorch, nas, PyTorch, ... Each repeat runs the same number of steps on both sides "
        "(chosen for about "
     << repeat_seconds << " s). Figures are medians with [min-max] over the repeats; the ratio is the nas median over "
        "the PyTorch median (higher is better for nas).\n";
  md << "- Parameters (trainable, both sides count the same tensors):\n";
  for (std::size_t i = 0; i < nets.size(); ++i)
    md << "  - " << nets[i].label << ": nas " << param_counts[i].first << ", PyTorch "
       << (have_torch ? std::to_string(param_counts[i].second) : std::string("-"))
       << (have_torch && param_counts[i].first != param_counts[i].second ? " **(differ)**" : "") << "; forward "
       << fmt(flops[i] / 1e6, 1) << " MFLOP per image (2 x MACs as counted by `Module::macs`).\n";
  md << "\n## Throughput (images/second)\n\n";
  {
    const double load = std::max(std::atof(load_before.c_str()), std::atof(load_after.c_str()));
    const int ncores = std::atoi(cores.c_str());
    if (ncores > 0 && load > ncores && *std::max_element(thread_counts.begin(), thread_counts.end()) > 1)
      md << "**Caution:** the 1-minute load average (" << fmt(load, 1) << ") exceeded the " << ncores
         << " cores during the run, so other processes shared the cores. Rows with more than one thread need several "
            "cores at once and then mostly measure waiting for descheduled threads; read them as unreliable. Rows with "
            "one thread are disturbed less, and alternating the sides spreads the disturbance over both.\n\n";
  }
  md << "| network | mode | threads | nas img/s median [min-max] | PyTorch img/s median [min-max] | throughput ratio "
        "(nas/PyTorch) | GFLOP/s nas, PyTorch (% of peak) |\n";
  md << "|---|---|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& r = rows[k];
    std::size_t ni = 0;
    while (nets[ni].label != r.net) ++ni;
    // A training step costs about 3x the forward pass (forward, input and weight gradients).
    const double flop_per_img = flops[ni] * (r.mode == "train" ? 3.0 : 1.0);
    const double gflops = r.nas.median * flop_per_img / 1e9;
    const double peak = core_peak * r.threads;
    md << "| " << r.net << " | " << (r.mode == "train" ? "training" : "inference") << " | " << r.threads << " | "
       << fmt(r.nas.median, 1) << " [" << fmt(r.nas.min, 1) << "-" << fmt(r.nas.max, 1) << "] | ";
    if (r.has_torch)
      md << fmt(r.torch.median, 1) << " [" << fmt(r.torch.min, 1) << "-" << fmt(r.torch.max, 1) << "] | "
         << fmt(r.ratio(), 2) << " |";
    else
      md << "- | - |";
    md << " " << fmt(gflops, 1) << " (" << fmt(100.0 * gflops / peak, 0) << "%)";
    if (r.has_torch) {
      const double tg = r.torch.median * flop_per_img / 1e9;
      md << ", " << fmt(tg, 1) << " (" << fmt(100.0 * tg / peak, 0) << "%)";
    }
    md << " |\n";
  }
  md << "\nPeak: " << fmt(core_peak, 0) << " GFLOP/s per core, measured in this run (" << nas::kernels::detail::Vec::width
     << "-float FMA, twelve independent chains in registers, best of five); the percentages use it times the "
        "thread count. Convolutions also load and store, so no real layer reaches it.\n\n"
        "![throughput ratio](training.svg)\n\n";
  md << "### Images per CPU second\n\n";
  md << "The same repeats measured in CPU time of all the process's threads (`CLOCK_PROCESS_CPUTIME_ID` for nas, "
        "`time.process_time()` for PyTorch). On a loaded machine this is less disturbed by descheduling than wall "
        "time; with 2 threads it also counts the time threads spin at barriers.\n\n";
  md << "| network | mode | threads | nas img/CPU-s median [min-max] | PyTorch img/CPU-s median [min-max] | ratio |\n";
  md << "|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    md << "| " << r.net << " | " << (r.mode == "train" ? "training" : "inference") << " | " << r.threads << " | "
       << fmt(r.nas_cpu.median, 1) << " [" << fmt(r.nas_cpu.min, 1) << "-" << fmt(r.nas_cpu.max, 1) << "] | ";
    if (r.has_torch)
      md << fmt(r.torch_cpu.median, 1) << " [" << fmt(r.torch_cpu.min, 1) << "-" << fmt(r.torch_cpu.max, 1) << "] | "
         << fmt(r.cpu_ratio(), 2) << " |\n";
    else
      md << "- | - |\n";
  }
  md << "\n";
  md << "## Peak memory of a training step\n\n";
  md << "Peak resident set size (`getrusage` max RSS) of a fresh process that builds one network and trains "
     << mem_steps << " steps (nas: `training_vs_torch --only nas`; PyTorch: `torch_nb201.py --rss`, which includes "
        "the Python interpreter and the torch library).\n\n";
  md << "The columns in parentheses are the peak before the network was built (program, interpreter and "
        "libraries); the difference is what the network and its training step add.\n\n";
  md << "| network | threads | nas MiB (before network) | PyTorch MiB (before network) | network + step: nas MiB | "
        "network + step: PyTorch MiB |\n|---|---|---|---|---|---|\n";
  for (const auto& m : mem) {
    md << "| " << m.net << " | " << m.threads << " | " << fmt(m.nas_mib, 1) << " (" << fmt(m.nas_base_mib, 1) << ") | ";
    if (m.has_torch)
      md << fmt(m.torch_mib, 1) << " (" << fmt(m.torch_base_mib, 1) << ") | " << fmt(m.nas_mib - m.nas_base_mib, 1) << " | "
         << fmt(m.torch_mib - m.torch_base_mib, 1) << " |\n";
    else
      md << "- | " << fmt(m.nas_mib - m.nas_base_mib, 1) << " | - |\n";
  }
  md << "\n## Heap allocations per nas training step\n\n";
  md << "Counted by interposing `malloc`/`calloc`/`realloc`/`aligned_alloc`/`posix_memalign` in the benchmark "
        "program (this covers `operator new`, Eigen and the workspace), over "
     << mem_steps << " steps after 2 warm-up steps. The goal is zero.\n\n";
  md << "| network | threads | allocations/step | bytes/step |\n|---|---|---|---|\n";
  for (const auto& m : mem)
    md << "| " << m.net << " | " << m.threads << " | " << fmt(m.alloc_calls, 1) << " | " << fmt(m.alloc_bytes, 0) << " |\n";
  if (!profiles.empty()) {
    md << "\n## Where a nas training step spends its time\n\n";
    md << "One thread, " << profile_steps << " steps after 2 warm-up steps, the network's top-level blocks timed one by "
          "one (a clock around each block's forward and backward).\n\n";
    for (const auto& p : profiles) {
      double total = 0;
      for (const auto& [name, f, b] : p.groups) total += f + b;
      md << "**" << p.net << "**: " << fmt(total * 1e3, 1) << " ms per step\n\n";
      md << "| part | forward ms | backward ms | share |\n|---|---|---|---|\n";
      for (const auto& [name, f, b] : p.groups)
        md << "| " << name << " | " << fmt(f * 1e3, 1) << " | " << fmt(b * 1e3, 1) << " | " << fmt(100.0 * (f + b) / total, 1)
           << "% |\n";
      md << "\n";
    }
  }
  md << "\n## Goal\n\n";
  bool all_met = have_torch;
  for (const auto& r : rows)
    if (!r.has_torch || r.ratio() < 1.0) all_met = false;
  if (!have_torch)
    md << "PyTorch was not available, so the goal (ratio >= 1.0 for training and inference, both sizes) could not be "
          "checked.\n";
  else if (all_met) {
    md << "Met in this run: the throughput ratio is at least 1.0 in every row.";
    const Row* lowest = nullptr;
    for (const auto& r : rows)
      if (!lowest || r.ratio() < lowest->ratio()) lowest = &r;
    // Repeats of the whole program on this shared machine move a row's ratio by about 10 %.
    if (lowest && lowest->ratio() < 1.1)
      md << " The smallest margin, " << fmt(lowest->ratio(), 2) << " (" << lowest->net << ", "
         << (lowest->mode == "train" ? "training" : "inference") << ", " << lowest->threads
         << (lowest->threads == 1 ? " thread" : " threads")
         << "), is within the run-to-run spread of this shared machine: a repeat can put that row just below 1.0.";
    md << "\n";
  } else {
    md << "The goal (throughput ratio >= 1.0 for training and inference, both sizes, every thread count) is not met. "
          "Rows below 1.0:\n\n";
    for (const auto& r : rows)
      if (r.ratio() < 1.0)
        md << "- " << r.net << ", " << (r.mode == "train" ? "training" : "inference") << ", " << r.threads
           << (r.threads == 1 ? " thread: " : " threads: ") << fmt(r.ratio(), 3) << "\n";
  }
  md << "\n## Known limits of the nas side\n"
        "\n"
        "- Both sides stay far below the measured FMA peak (the percentages above). The direct kernel reaches about two "
        "thirds of it on data already in L1; in the networks, the copies into padded planes and out of the output "
        "block (rows of 7 to 28 floats) and the loads of activations from L2 and memory take the rest.\n"
        "- dx of stride-2 convolutions (the first convolution of each reduction block) still runs on im2col + Eigen "
        "GEMM; their forward pass and dw, like every other convolution's, run on the direct kernels.\n"
        "- The weight gradient sweeps end in horizontal sums, which costs most on the 7x7 planes of the last stage.\n"
        "- Memory: modules keep their buffers from step to step, so that no step allocates. A ReLU-Conv-BN on an "
        "edge into a node with several inputs keeps two activation-sized buffers: the convolution's output (which "
        "BatchNorm's input gradient then overwrites) and the convolution's input gradient. The ReLU runs inside the "
        "convolution, and BatchNorm writes straight into the node's sum and recomputes its normalised input in "
        "backward. PyTorch's autograd keeps the ReLU's and the convolution's outputs but frees each gradient once "
        "it is used, hence the remaining difference on (b).\n"
        "";
  std::printf("wrote %s, %s, %s\n", (dir / "training.md").c_str(), (dir / "training.csv").c_str(),
              (dir / "training.svg").c_str());
  return 0;
}
