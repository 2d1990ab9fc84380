// Training and inference throughput and batch-1 latency of NAS-Bench-201 networks and a
// DARTS-V2 network: nas against PyTorch in its default and its expert configurations,
// side by side.
//
// One run alternates nas and PyTorch repeats (A B C ... A B C ...) after warming every side
// alike. PyTorch lives in a long-lived child process (benchmarks/torch_nb201.py, run by
// /usr/bin/python3) that builds the same networks (the DARTS one from nas's own
// export_pytorch twin, weights included) and, on command, times R repeats of a mode in
// one configuration (default, channels_last, frozen TorchScript, ...). Ratios compare nas
// with the fastest configuration of each row, and with the default. Peak memory is
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
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "peer.hpp"

#include "nas/hw/latency_table.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/export_pytorch.hpp"
#include "nas/model/graph.hpp"
#include "nas/report/cli.hpp"
#include "nas/report/program.hpp"
#include "nas/report/svg.hpp"
#include "nas/space/cell_space.hpp"
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

// DARTS-V2 (Liu et al., ICLR 2019, genotypes.py of the paper's code): sep_conv, dil_conv,
// skip and max pool.
const char* const kDartsV2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
constexpr int kDartsCells = 8;
constexpr int kDartsChannels = 16;

struct NetSpec {
  std::string key;    // short id used in the protocol and the CSV
  std::string label;  // what the report calls it
  int cells;          // N: cells per stage (NB201); all cells (DARTS)
  int channels;       // C: channels of the first stage (NB201) or the first cells (DARTS)
  std::string arch;
  bool darts = false;  // a CellSpace::darts() genotype rather than an NB201 cell
  [[nodiscard]] std::string space() const { return darts ? "darts" : "nb201"; }
};

std::vector<NetSpec> networks() {
  return {{"a", "(a) N=1, C=16", 1, 16, kBestArch},
          {"b", "(b) N=5, C=16", 5, 16, kBestArch},
          {"c", "(c) DARTS-V2, " + std::to_string(kDartsCells) + " cells, C=" + std::to_string(kDartsChannels), kDartsCells,
           kDartsChannels, kDartsV2, true}};
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
  const nas::NetworkInput input{.channels = kInChannels, .height = kImage, .width = kImage, .classes = kClasses};
  const nas::NetworkOptions options{.channels = spec.channels, .cells = spec.cells, .seed = 0};
  if (spec.darts) {
    const auto space = nas::CellSpace::darts();
    return nas::make_network(space, space.decode(spec.arch), input, options);
  }
  const nas::Nb201Space space;
  return nas::make_network(space, space.decode(spec.arch), input, options);
}

/// Writes the network of `spec` as a torch.nn module with nas's initial weights
/// (export_pytorch) into `dir`; returns the Python file. PyTorch's twin of a DARTS network.
std::filesystem::path export_twin(const NetSpec& spec, const std::filesystem::path& dir) {
  auto net = make_network(spec);
  std::filesystem::create_directories(dir);
  const auto py = dir / ("network_" + spec.key + ".py");
  nas::export_pytorch(nas::trace(*net, nas::Shape{kBatch, kInChannels, kImage, kImage}), py);
  return py;
}

// ---------------------------------------------------------------------------------------
// The nas side: the same network built from the NB201 encoding, a fixed random batch,
// cross-entropy loss and SGD with momentum.
class NasSide {
 public:
  explicit NasSide(const NetSpec& spec, int batch = kBatch)
      : net_(make_network(spec)),
        x_(nas::Shape{batch, kInChannels, kImage, kImage}),
        optimizer_(net_->parameters(), nas::SGD::Options{.lr = 0.01, .momentum = 0.9}) {
    nas::Rng rng(1);
    x_.fill_normal(rng);
    labels_.resize(static_cast<std::size_t>(batch));
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
  /// Wall seconds of each of `calls` inference calls, timed one by one.
  std::vector<double> latency(int calls) {
    set_mode("infer");
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(calls));
    for (int k = 0; k < calls; ++k) {
      const auto t0 = Clock::now();
      infer_step();
      out.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return out;
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

/// One PyTorch configuration's figures in a row.
struct Peer {
  std::string config;
  Stats ips, cpu;  // images per wall-clock second, per CPU second
};

/// One row of the report: a network, a mode ("train", "infer", or "latency": batch 1,
/// one image per call, where the figures are 1 / seconds per image), a thread count, nas's
/// figures and those of every PyTorch configuration that ran.
struct Row {
  std::string net, mode;
  int threads = 0, steps = 0;
  Stats nas, nas_cpu;
  std::vector<Peer> peers;  // the default configuration first
  [[nodiscard]] bool has_torch() const { return !peers.empty(); }
  /// The PyTorch configuration with the highest median throughput (lowest latency).
  [[nodiscard]] const Peer& fastest() const {
    return *std::max_element(peers.begin(), peers.end(),
                             [](const Peer& a, const Peer& b) { return a.ips.median < b.ips.median; });
  }
  [[nodiscard]] const Peer& default_peer() const { return peers.front(); }
  [[nodiscard]] const Peer* peer(const std::string& config) const {
    for (const auto& p : peers)
      if (p.config == config) return &p;
    return nullptr;
  }
  [[nodiscard]] double ratio() const { return nas.median / fastest().ips.median; }
  [[nodiscard]] double default_ratio() const { return nas.median / default_peer().ips.median; }
  [[nodiscard]] double cpu_ratio() const { return nas_cpu.median / fastest().cpu.median; }
};

/// Median over samples of seconds, turned into a rate (1 / s): its min is 1 / the slowest.
Stats rate_of(const std::vector<double>& seconds_all, const std::vector<double>& repeat_medians) {
  const Stats s = summarize(seconds_all), r = summarize(repeat_medians);
  return {1.0 / s.median, 1.0 / r.max, 1.0 / r.min};
}

const char* mode_name(const std::string& mode) {
  return mode == "train" ? "training" : mode == "infer" ? "inference" : "latency, batch 1";
}

struct MemRow {
  std::string net;
  int threads = 0;
  double nas_mib = 0, torch_mib = 0;
  double nas_base_mib = 0, torch_base_mib = 0;  // before the network was built
  bool has_torch = false;
  double alloc_calls = 0, alloc_bytes = 0;
};

/// A bar chart of the ratios against the fastest PyTorch configuration (one group per
/// network and mode, one bar per thread count) with the parity line at 1.
void write_ratio_chart(const std::vector<Row>& rows, const std::vector<int>& thread_counts, const std::filesystem::path& file) {
  // "(a) train": the network's tag and the mode, short enough to stand unrotated under a bar group.
  auto category = [](const Row& r) {
    return r.net.substr(0, r.net.find(' ')) + (r.mode == "train" ? " train" : r.mode == "infer" ? " infer" : " b=1");
  };
  std::vector<std::string> categories;
  for (const auto& r : rows) {
    const std::string c = category(r);
    if (std::find(categories.begin(), categories.end(), c) == categories.end()) categories.push_back(c);
  }
  nas::BarChart chart({.title = "nas / fastest PyTorch configuration (higher is better)",
                       .y_label = "nas img/s / fastest PyTorch img/s"});
  chart.categories(categories);
  for (int t : thread_counts) {
    std::vector<double> values(categories.size(), std::numeric_limits<double>::quiet_NaN());
    for (const auto& r : rows)
      if (r.threads == t && r.has_torch()) {
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

/// Sends one command to the PyTorch child; returns nothing on "ok", or the child's error
/// line (a configuration that does not work for a network is reported, not fatal).
std::optional<std::string> ask_status(LineChild& child, const std::string& command) {
  auto line = child.ask(command);
  if (!line || line->empty()) throw std::runtime_error("training_vs_torch: the PyTorch child died on '" + command + "'");
  if (line->rfind("ok", 0) == 0) return std::nullopt;
  return line->rfind("error ", 0) == 0 ? line->substr(6) : *line;
}

/// A PyTorch configuration that could not be prepared for a network, and why.
struct Failure {
  std::string net, mode, config, reason;
};

}  // namespace

namespace {

int training_main(int argc, char** argv) {
  CLI::App app{"Training and inference throughput and batch-1 latency of NAS-Bench-201 and DARTS networks: nas against "
               "PyTorch in its default and expert configurations"};
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
  std::vector<std::string> net_keys{"a", "b", "c"};
  std::vector<std::string> modes{"train", "infer", "latency"};
  app.add_option("--out", out_dir, "Directory for training.md, training.csv, training_configs.csv and training.svg");
  app.add_option("--repeats", repeats, "Timed repeats per side (>= 7 for the report)")->check(CLI::Range(1, 1000));
  app.add_option("--seconds", repeat_seconds, "Target seconds per repeat")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup_seconds, "Warm-up seconds per side and configuration")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", thread_counts, "Thread counts, each in [1, 256]")->delimiter(',');
  app.add_option("--python", python, "Python interpreter with torch");
  app.add_option("--script", script, "The PyTorch peer script");
  app.add_option("--only", only, "Run only one side to measure its peak memory (nas)")->check(CLI::IsMember({"nas"}));
  app.add_option("--net", only_net, "Network for --only (a, b or c)");
  app.add_option("--only-threads", only_threads, "Threads for --only")->check(CLI::Range(1, 256));
  app.add_option("--mem-steps", mem_steps, "Training steps in the memory runs")->check(CLI::Range(1, 1000));
  app.add_option("--nets", net_keys, "Networks to run: a (NB201 N=1, C=16), b (NB201 N=5, C=16), c (DARTS-V2)")
      ->delimiter(',');
  app.add_option("--modes", modes, "What to time: train, infer, latency (batch 1)")->delimiter(',');
  app.add_option("--profile-steps", profile_steps, "Training steps timed block by block (0: no profile)")
      ->check(CLI::Range(0, 1000));
  if (auto status = nas::parse_command_line(app, argc, argv)) return *status;
  std::string command_line = "training_vs_torch";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];

  // Every option is checked before any work.
  auto find_net = [&](const std::string& option, const std::string& key) -> NetSpec {
    for (const auto& n : networks())
      if (n.key == key) return n;
    throw nas::ConfigError(option + " '" + key + "' must be one of: a, b, c");
  };
  const NetSpec only_spec = find_net("--net", only_net);
  if (only == "nas") return only_nas(only_spec, only_threads, mem_steps);
  std::vector<NetSpec> nets;
  for (const auto& k : net_keys) nets.push_back(find_net("--nets", k));
  if (nets.empty()) throw nas::ConfigError("--nets is empty (expected some of a, b, c)");
  if (thread_counts.empty()) throw nas::ConfigError("--threads is empty (expected thread counts in [1, 256])");
  for (int t : thread_counts)
    if (t < 1 || t > 256) throw nas::ConfigError("--threads " + std::to_string(t) + " must be in [1, 256]");
  for (const auto& m : modes) nas::require_one_of("--modes", m, {"train", "infer", "latency"});
  auto wants = [&](const char* m) { return std::find(modes.begin(), modes.end(), m) != modes.end(); };
  if (!out_dir.empty()) nas::require_writable_directory("--out", out_dir);

  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();

  // PyTorch available?
  std::unique_ptr<LineChild> torch;
  std::string torch_version;
  const std::string load_before = load_average();
  // Measured again after the timed runs; the higher of the two is the peak (a busy
  // neighbour can only lower one of them).
  double core_peak = nas_bench::fma_peak_gflops();
  const double core_peak_before = core_peak;
  std::printf("measured FMA peak: %.0f GFLOP/s per core\n", core_peak);
  const bool have_torch = std::filesystem::exists(python) && std::filesystem::exists(script) &&
                          std::system((python + " -c 'import torch' 2>/dev/null").c_str()) == 0;
  if (!have_torch)
    std::printf("PyTorch not found for %s: install it with `sudo apt-get install python3-torch`; "
                "the PyTorch columns are skipped.\n", python.c_str());

  // PyTorch's twin of each DARTS network: nas's own network written as a torch.nn module
  // with the same initial weights (export_pytorch), so both sides run one definition.
  const std::filesystem::path twin_dir =
      std::filesystem::temp_directory_path() / ("training_vs_torch." + std::to_string(getpid()));
  std::map<std::string, std::filesystem::path> twins;
  if (have_torch)
    for (const auto& net : nets)
      if (net.darts) twins[net.key] = export_twin(net, twin_dir);
  struct RemoveTwins {
    std::filesystem::path dir;
    ~RemoveTwins() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_twins{twin_dir};
  auto torch_build_command = [&](const NetSpec& net) {
    return net.darts ? "load " + net.key + " " + twins.at(net.key).string()
                     : "build " + net.key + " " + std::to_string(net.cells) + " " + std::to_string(net.channels) + " " +
                           net.arch;
  };

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
            net.darts ? std::vector<std::string>{python, script, "--rss-module", twins.at(net.key).string(),
                                                 std::to_string(t), std::to_string(mem_steps + 2)}
                      : std::vector<std::string>{python, script, "--rss", std::to_string(net.cells),
                                                 std::to_string(net.channels), net.arch, std::to_string(t),
                                                 std::to_string(mem_steps + 2)}));
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

  // 2. Throughput and latency, alternating nas and every PyTorch configuration.
  std::map<std::string, std::vector<std::string>> torch_configs;
  if (have_torch) {
    torch = std::make_unique<LineChild>(nas_bench::keep_heap({python, script}));
    auto v = ask_ok(*torch, "version");
    if (!v) throw std::runtime_error("training_vs_torch: the PyTorch child did not answer");
    torch_version = *v;
    for (const std::string mode : {"train", "infer"}) {
      std::istringstream in(*ask_ok(*torch, "configs " + mode));
      for (std::string c; in >> c;) torch_configs[mode].push_back(c);
    }
  }
  std::vector<Row> rows;
  std::vector<Failure> failures;
  std::vector<std::pair<std::size_t, std::size_t>> param_counts;
  std::vector<double> flops;
  // The configurations of `mode` that PyTorch could prepare for this network at this batch.
  auto usable_configs = [&](const NetSpec& net, const std::string& mode, int batch) {
    std::vector<std::string> ok;
    if (!torch) return ok;
    for (const auto& c : torch_configs[mode]) {
      const auto err = ask_status(*torch, "prepare " + net.key + " " + mode + " " + c + " " + std::to_string(batch));
      if (err) {
        failures.push_back({net.label, batch == 1 ? "latency" : mode, c, *err});
        std::printf("%s %s: PyTorch configuration %s failed: %s\n", net.label.c_str(), mode.c_str(), c.c_str(),
                    err->c_str());
      } else {
        ok.push_back(c);
      }
    }
    return ok;
  };
  auto print_row = [](const Row& row) {
    const bool lat = row.mode == "latency";
    auto show = [&](const Stats& s) {
      return lat ? fmt(1e3 / s.median, 3) + " ms [" + fmt(1e3 / s.max, 3) + "-" + fmt(1e3 / s.min, 3) + "]"
                 : fmt(s.median, 1) + " img/s [" + fmt(s.min, 1) + "-" + fmt(s.max, 1) + "]";
    };
    std::printf("%s %s, threads %d (%d %s/repeat): nas %s\n", row.net.c_str(), mode_name(row.mode), row.threads, row.steps,
                lat ? "calls" : "steps", show(row.nas).c_str());
    for (const auto& p : row.peers)
      std::printf("    PyTorch %-26s %s, nas / it %.2f\n", p.config.c_str(), show(p.ips).c_str(),
                  row.nas.median / p.ips.median);
    if (row.has_torch())
      std::printf("    fastest PyTorch: %s, ratio %.2f (default: %.2f)\n", row.fastest().config.c_str(), row.ratio(),
                  row.default_ratio());
    std::fflush(stdout);
  };
  for (const auto& net : nets) {
    NasSide nas_side(net);
    std::size_t torch_params = 0;
    if (torch) torch_params = static_cast<std::size_t>(field(*ask_ok(*torch, torch_build_command(net)), "params"));
    param_counts.emplace_back(nas_side.params(), torch_params);
    flops.push_back(nas_side.forward_flops());
    std::printf("%s: parameters nas %zu, PyTorch %zu%s\n", net.label.c_str(), nas_side.params(), torch_params,
                torch && torch_params != nas_side.params() ? "  (MISMATCH)" : "");
    std::fflush(stdout);
    for (const std::string mode : {"train", "infer"}) {
      if (!wants(mode.c_str())) continue;
      const std::vector<std::string> configs = usable_configs(net, mode, kBatch);
      for (int t : thread_counts) {
        nas::set_num_threads(t);
        // One repeat of `steps` steps of a configuration in the child: its wall and CPU seconds.
        auto torch_run = [&](const std::string& config, int steps) {
          const auto v = parse_doubles(*ask_ok(*torch, "run " + net.key + " " + mode + " " + std::to_string(t) + " " +
                                                   std::to_string(steps) + " 1 " + config + " " + std::to_string(kBatch)));
          if (v.size() != 2) throw std::runtime_error("training_vs_torch: the PyTorch child sent no timing");
          return Timing{v[0], v[1]};
        };
        // Warm-up, the same on every side: two steps each to learn the step time, then
        // about warmup_seconds each.
        double nas_step = nas_side.run(mode, 2, 1)[0].wall / 2;
        std::vector<double> torch_step;
        for (const auto& c : configs) torch_step.push_back(torch_run(c, 2).wall / 2);
        const int nas_warm = std::max(1, static_cast<int>(warmup_seconds / nas_step));
        nas_step = nas_side.run(mode, nas_warm, 1)[0].wall / nas_warm;
        double total_step = nas_step;
        for (std::size_t k = 0; k < configs.size(); ++k) {
          const int w = std::max(1, static_cast<int>(warmup_seconds / torch_step[k]));
          torch_step[k] = torch_run(configs[k], w).wall / w;
          total_step += torch_step[k];
        }
        const double mean_step = total_step / static_cast<double>(configs.size() + 1);
        const int steps = std::max(1, static_cast<int>(std::lround(repeat_seconds / mean_step)));
        std::vector<double> nas_ips, nas_cpu;
        std::vector<std::vector<double>> torch_ips(configs.size()), torch_cpu(configs.size());
        for (int r = 0; r < repeats; ++r) {
          const Timing a = nas_side.run(mode, steps, 1)[0];
          nas_ips.push_back(kBatch * steps / a.wall);
          nas_cpu.push_back(kBatch * steps / a.cpu);
          for (std::size_t k = 0; k < configs.size(); ++k) {
            const Timing b = torch_run(configs[k], steps);
            torch_ips[k].push_back(kBatch * steps / b.wall);
            torch_cpu[k].push_back(kBatch * steps / b.cpu);
          }
        }
        Row row{net.label, mode, t, steps, summarize(nas_ips), summarize(nas_cpu), {}};
        for (std::size_t k = 0; k < configs.size(); ++k)
          row.peers.push_back({configs[k], summarize(torch_ips[k]), summarize(torch_cpu[k])});
        print_row(row);
        rows.push_back(row);
      }
    }
    if (wants("latency")) {
      // Batch 1: each call is one image, timed on its own; the median over all calls of a
      // side, [min-max] over the medians of its repeats.
      NasSide lat_side(net, 1);
      const std::vector<std::string> configs = usable_configs(net, "infer", 1);
      for (int t : thread_counts) {
        nas::set_num_threads(t);
        auto torch_lat = [&](const std::string& config, int calls) {
          auto v = parse_doubles(*ask_ok(*torch, "lat " + net.key + " " + config + " " + std::to_string(t) + " " +
                                                     std::to_string(calls)));
          if (v.size() != static_cast<std::size_t>(calls))
            throw std::runtime_error("training_vs_torch: the PyTorch child sent " + std::to_string(v.size()) +
                                     " latencies for " + std::to_string(calls) + " calls");
          return v;
        };
        auto median = [](const std::vector<double>& v) { return summarize(v).median; };
        auto warm_calls = [&](double seconds_per_call) {
          return std::max(1, static_cast<int>(warmup_seconds / seconds_per_call));
        };
        double nas_call = median(lat_side.latency(5));
        std::vector<double> torch_call;
        for (const auto& c : configs) torch_call.push_back(median(torch_lat(c, 5)));
        nas_call = median(lat_side.latency(warm_calls(nas_call)));
        double total = nas_call;
        for (std::size_t k = 0; k < configs.size(); ++k) {
          torch_call[k] = median(torch_lat(configs[k], warm_calls(torch_call[k])));
          total += torch_call[k];
        }
        const int calls =
            std::max(20, static_cast<int>(std::lround(0.5 * repeat_seconds / (total / static_cast<double>(configs.size() + 1)))));
        std::vector<double> nas_all, nas_medians;
        std::vector<std::vector<double>> torch_all(configs.size()), torch_medians(configs.size());
        for (int r = 0; r < repeats; ++r) {
          const auto a = lat_side.latency(calls);
          nas_all.insert(nas_all.end(), a.begin(), a.end());
          nas_medians.push_back(median(a));
          for (std::size_t k = 0; k < configs.size(); ++k) {
            const auto b = torch_lat(configs[k], calls);
            torch_all[k].insert(torch_all[k].end(), b.begin(), b.end());
            torch_medians[k].push_back(median(b));
          }
        }
        const Stats nas_rate = rate_of(nas_all, nas_medians);
        Row row{net.label, "latency", t, calls, nas_rate, nas_rate, {}};
        for (std::size_t k = 0; k < configs.size(); ++k) {
          const Stats rate = rate_of(torch_all[k], torch_medians[k]);
          row.peers.push_back({configs[k], rate, rate});
        }
        print_row(row);
        rows.push_back(row);
      }
    }
  }
  torch.reset();
  const std::string load_after = load_average();
  const double core_peak_after = nas_bench::fma_peak_gflops();
  core_peak = std::max(core_peak_before, core_peak_after);
  std::printf("measured FMA peak after the timed runs: %.0f GFLOP/s per core\n", core_peak_after);

  // 3. Where a nas training step spends its time, one thread.
  struct Profile {
    std::string net;
    std::vector<std::tuple<std::string, double, double>> groups;
  };
  std::vector<Profile> profiles;
  if (profile_steps > 0)
    for (const auto& net : nets) {
      if (net.darts) continue;  // the grouping below follows the NB201 skeleton
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

  // 4. The report.
  const std::filesystem::path dir(out_dir);
  auto net_index = [&](const std::string& label) {
    std::size_t ni = 0;
    while (nets[ni].label != label) ++ni;
    return ni;
  };
  {
    std::ofstream csv(dir / "training.csv");
    csv << "network,mode,threads,steps_per_repeat,nas_ips_median,nas_ips_min,nas_ips_max,fastest_torch_config,"
           "fastest_torch_ips_median,fastest_torch_ips_min,fastest_torch_ips_max,ratio_vs_fastest,default_torch_ips_median,"
           "ratio_vs_default,nas_ips_per_cpu_s,fastest_torch_ips_per_cpu_s,cpu_ratio_vs_fastest\n";
    for (const auto& r : rows) {
      csv << '"' << r.net << "\"," << r.mode << ',' << r.threads << ',' << r.steps << ',' << fmt(r.nas.median, 2) << ','
          << fmt(r.nas.min, 2) << ',' << fmt(r.nas.max, 2) << ',';
      if (r.has_torch()) {
        const Peer& f = r.fastest();
        csv << f.config << ',' << fmt(f.ips.median, 2) << ',' << fmt(f.ips.min, 2) << ',' << fmt(f.ips.max, 2) << ','
            << fmt(r.ratio(), 3) << ',' << fmt(r.default_peer().ips.median, 2) << ',' << fmt(r.default_ratio(), 3) << ',';
        if (r.mode == "latency")
          csv << ",,";
        else
          csv << fmt(r.nas_cpu.median, 2) << ',' << fmt(f.cpu.median, 2) << ',' << fmt(r.cpu_ratio(), 3);
      } else {
        csv << ",,,,,,," << (r.mode == "latency" ? std::string() : fmt(r.nas_cpu.median, 2)) << ",,";
      }
      csv << '\n';
    }
    std::ofstream all(dir / "training_configs.csv");
    all << "network,mode,threads,side,ips_median,ips_min,ips_max,ips_per_cpu_s,nas_over_side\n";
    for (const auto& r : rows) {
      all << '"' << r.net << "\"," << r.mode << ',' << r.threads << ",nas," << fmt(r.nas.median, 2) << ','
          << fmt(r.nas.min, 2) << ',' << fmt(r.nas.max, 2) << ',' << (r.mode == "latency" ? "" : fmt(r.nas_cpu.median, 2))
          << ",1.000\n";
      for (const auto& p : r.peers)
        all << '"' << r.net << "\"," << r.mode << ',' << r.threads << ",torch:" << p.config << ','
            << fmt(p.ips.median, 2) << ',' << fmt(p.ips.min, 2) << ',' << fmt(p.ips.max, 2) << ','
            << (r.mode == "latency" ? "" : fmt(p.cpu.median, 2)) << ',' << fmt(r.nas.median / p.ips.median, 3) << '\n';
    }
  }
  write_ratio_chart(rows, thread_counts, dir / "training.svg");
  std::ofstream md(dir / "training.md");
  const auto [cpu, cores] = nas_bench::machine();
  const nas::MachineInfo info = nas::MachineInfo::this_machine();
  md << "# Training, inference and batch-1 latency: nas against PyTorch at its defaults and at its best\n\n";
  md << "Images per second for a training step (forward, cross-entropy, backward, SGD with momentum 0.9) and for "
        "inference (eval-mode forward) at batch "
     << kBatch << ", and milliseconds per image of single-image inference (batch 1), of two NAS-Bench-201 "
        "TinyNetworks and a DARTS-V2 network on 1x28x28 inputs (Fashion-MNIST shape), 10 classes, float32. PyTorch "
        "runs in its default configuration and in the configurations a CPU expert would pick (channels_last, frozen "
        "and optimized TorchScript, oneDNN); every ratio compares nas with the **fastest** PyTorch configuration "
        "measured in the same run for that row, and also with the default.\n\n";
  md << "## How it was produced\n\n";
  md << "- Command: `" << command_line << "` (built in Release with `-DNAS_NATIVE=ON`).\n";
  md << "- Date: " << utc_now() << "; load average (1, 5, 15 min) " << load_before << " before the throughput runs, "
     << load_after << " after (the machine is shared: other processes ran meanwhile, which is why sides alternate).\n";
  md << "- Machine: " << cpu << " (`lscpu` model name), " << cores << " cores, widest ISA " << info.isa
     << " (nas built for " << info.build_isa << "); threads ";
  for (std::size_t i = 0; i < thread_counts.size(); ++i) md << (i ? ", " : "") << thread_counts[i];
  md << " (nas: `nas::set_num_threads(n)`; PyTorch: `torch.set_num_threads(n)`).\n";
  md << "- PyTorch: " << (have_torch ? torch_version + " (CPU, `" + python + "`), model in `benchmarks/torch_nb201.py`"
                                     : std::string("not installed (`sudo apt-get install python3-torch`); columns skipped"))
     << ".\n";
  if (have_torch) md << "- " << nas_bench::keep_heap_note << ".\n";
  md << "- Architectures: NB201 (a) and (b) use the best CIFAR-10 architecture of NAS-Bench-201, `" << kBestArch
     << "`; (c) is DARTS-V2 (Liu et al., ICLR 2019), `" << kDartsV2 << "`, built by nas from its plan "
        "(`CellSpace::darts()`, " << kDartsCells << " cells with reductions at 1/3 and 2/3, C = " << kDartsChannels
     << ", stem 3C) and given to PyTorch as nas's own `export_pytorch` twin, initial weights included.\n";
  md << "- Method: one process; PyTorch runs in a long-lived child. For each network, thread count and mode every "
        "side (nas and each PyTorch configuration) gets the same warm-up (2 steps, then about "
     << warmup_seconds << " s), then " << repeats
     << " repeats alternate nas, PyTorch configuration 1, 2, ..., nas, ... Each repeat runs the same number of steps "
        "on every side (chosen for about "
     << repeat_seconds << " s on average). Figures are medians with [min-max] over the repeats. Batch-1 rows time "
        "every call on its own: the median over all calls of a side (the same number of calls on every side, at least "
        "20 per repeat, about half a second per repeat on average over the sides), [min-max] over the medians of the "
        "repeats.\n";
  md << "- Parameters (trainable, both sides count the same tensors):\n";
  for (std::size_t i = 0; i < nets.size(); ++i)
    md << "  - " << nets[i].label << ": nas " << param_counts[i].first << ", PyTorch "
       << (have_torch ? std::to_string(param_counts[i].second) : std::string("-"))
       << (have_torch && param_counts[i].first != param_counts[i].second ? " **(differ)**" : "") << "; forward "
       << fmt(flops[i] / 1e6, 1) << " MFLOP per image (2 x MACs as counted by `Module::macs`).\n";

  md << "\n## PyTorch configurations\n\n";
  md << "| mode | configuration | what it does | BatchNorm |\n|---|---|---|---|\n"
        "| training | `default` | the model as built, contiguous NCHW, `zero_grad(set_to_none=False)` | trained |\n"
        "| training | `channels_last` | model and input converted with `memory_format=torch.channels_last` | trained |\n"
        "| training | `channels_last_set_to_none` | channels_last and `zero_grad(set_to_none=True)` (gradients freed "
        "and allocated again by each backward, PyTorch 2's default) | trained |\n"
        "| inference | `eager` | `model.eval()` under `torch.no_grad()` (the default) | **not folded** |\n"
        "| inference | `eager_channels_last` | eager, model and input channels_last, under `torch.inference_mode()` | "
        "**not folded** |\n"
        "| inference | `mkldnn` | `torch.utils.mkldnn.to_mkldnn(model)` (oneDNN weights), input `.to_mkldnn()` per call "
        "| **not folded** |\n"
        "| inference | `jit_frozen` | `torch.jit.trace`, `torch.jit.freeze`, `torch.jit.optimize_for_inference` "
        "(oneDNN blocked layout kept between convolutions), contiguous input | folded |\n"
        "| inference | `jit_frozen_channels_last` | the same with model and input channels_last | folded |\n"
        "| inference | `jit_onednn_fusion` | `torch.jit.enable_onednn_fusion(True)` (oneDNN graph, LLGA), traced "
        "and frozen, channels_last | folded |\n\n";
  md << "nas folds BatchNorm into the preceding convolution in evaluation mode (`Sequential`), so the inference rows "
        "compare like with like against the frozen TorchScript configurations; the eager ones run BatchNorm as a "
        "layer of its own, as PyTorch does by default. Outputs: nas writes every activation and gradient into "
        "buffers kept from step to step; PyTorch's `nn.Module` calls have no preallocated-output form (`out=` exists "
        "only on single functional ops), so PyTorch allocates its activations per step in every configuration (from "
        "a heap kept warm, see above); `default` and `channels_last` keep the gradient buffers.\n\n";
  md << "Also tried before this run, on network (a) with one thread, and not kept as separate configurations: "
        "`torch.jit.freeze` without `optimize_for_inference` (slower than with it: about 1,320 and 1,650 img/s for "
        "contiguous and channels_last input against 2,040 and 1,850 with it, in a short trial while other builds "
        "ran); `torch.inference_mode()` instead of `torch.no_grad()` for the contiguous eager "
        "model (within noise, about 5 %); `torch.backends.mkldnn` is enabled by default in this build, there is "
        "nothing to switch on.\n";
  if (!failures.empty()) {
    md << "\nConfigurations that could not run (left out of the rows named):\n\n";
    for (const auto& f : failures) md << "- " << f.net << ", " << mode_name(f.mode) << ", `" << f.config << "`: " << f.reason << "\n";
  }

  const bool any_latency = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.mode == "latency"; });
  const bool any_batch = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.mode != "latency"; });
  if (any_batch) {
    md << "\n## Throughput at batch " << kBatch << " (images/second)\n\n";
    const double load = std::max(std::atof(load_before.c_str()), std::atof(load_after.c_str()));
    const int ncores = std::atoi(cores.c_str());
    if (ncores > 0 && load > ncores && *std::max_element(thread_counts.begin(), thread_counts.end()) > 1)
      md << "**Caution:** the 1-minute load average (" << fmt(load, 1) << ") exceeded the " << ncores
         << " cores during the run, so other processes shared the cores. Rows with more than one thread need several "
            "cores at once and then mostly measure waiting for descheduled threads; read them as unreliable. Rows with "
            "one thread are disturbed less, and alternating the sides spreads the disturbance over both.\n\n";
    md << "| network | mode | threads | nas img/s median [min-max] | fastest PyTorch configuration | its img/s median "
          "[min-max] | **ratio nas / fastest** | PyTorch default img/s | ratio nas / default | GFLOP/s nas, fastest "
          "PyTorch (% of peak) |\n";
    md << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
      if (r.mode == "latency") continue;
      const std::size_t ni = net_index(r.net);
      // A training step costs about 3x the forward pass (forward, input and weight gradients).
      const double flop_per_img = flops[ni] * (r.mode == "train" ? 3.0 : 1.0);
      const double gflops = r.nas.median * flop_per_img / 1e9;
      const double peak = core_peak * r.threads;
      md << "| " << r.net << " | " << mode_name(r.mode) << " | " << r.threads << " | " << fmt(r.nas.median, 1) << " ["
         << fmt(r.nas.min, 1) << "-" << fmt(r.nas.max, 1) << "] | ";
      if (r.has_torch()) {
        const Peer& f = r.fastest();
        md << "`" << f.config << "` | " << fmt(f.ips.median, 1) << " [" << fmt(f.ips.min, 1) << "-" << fmt(f.ips.max, 1)
           << "] | **" << fmt(r.ratio(), 2) << "** | " << fmt(r.default_peer().ips.median, 1) << " | "
           << fmt(r.default_ratio(), 2) << " |";
      } else {
        md << "- | - | - | - | - |";
      }
      md << " " << fmt(gflops, 1) << " (" << fmt(100.0 * gflops / peak, 0) << "%)";
      if (r.has_torch()) {
        const double tg = r.fastest().ips.median * flop_per_img / 1e9;
        md << ", " << fmt(tg, 1) << " (" << fmt(100.0 * tg / peak, 0) << "%)";
      }
      md << " |\n";
    }
    md << "\nPeak: " << fmt(core_peak, 0) << " GFLOP/s per core, measured in this run before and after the timed "
          "runs (" << fmt(core_peak_before, 0) << " and " << fmt(core_peak_after, 0) << "; the higher is used; "
       << nas::kernels::detail::Vec::width
       << "-float FMA, twelve independent chains in registers, best of five); the percentages use it times the "
          "thread count. Convolutions also load and store, so no real layer reaches it.\n\n"
          "![ratio against the fastest PyTorch configuration](training.svg)\n";
  }
  if (any_latency) {
    md << "\n## Batch-1 latency (milliseconds per image)\n\n";
    md << "| network | threads | nas ms median [min-max] | fastest PyTorch configuration | its ms median [min-max] | "
          "**ratio (PyTorch ms / nas ms)** | PyTorch default ms | ratio vs default |\n";
    md << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
      if (r.mode != "latency") continue;
      md << "| " << r.net << " | " << r.threads << " | " << fmt(1e3 / r.nas.median, 3) << " [" << fmt(1e3 / r.nas.max, 3)
         << "-" << fmt(1e3 / r.nas.min, 3) << "] | ";
      if (r.has_torch()) {
        const Peer& f = r.fastest();
        md << "`" << f.config << "` | " << fmt(1e3 / f.ips.median, 3) << " [" << fmt(1e3 / f.ips.max, 3) << "-"
           << fmt(1e3 / f.ips.min, 3) << "] | **" << fmt(r.ratio(), 2) << "** | "
           << fmt(1e3 / r.default_peer().ips.median, 3) << " | " << fmt(r.default_ratio(), 2) << " |\n";
      } else {
        md << "- | - | - | - | - |\n";
      }
    }
    md << "\nPyTorch's eager figures at batch 1 are not a timing accident: for one 1x28x28 image its eager "
          "convolutions with 3x3 kernels and these small planes do not go to oneDNN but to its im2col fallback "
          "(`aten::_slow_conv2d_forward` takes about 90 % of the time under `torch.autograd.profiler`, network (a), one "
          "thread). `to_mkldnn()` and the frozen graphs call oneDNN directly, hence their 5-15x lower latency.\n";
  }

  // Every configuration's figures, one table per mode.
  if (have_torch) {
    md << "\n## Every PyTorch configuration\n\n";
    md << "Medians of each configuration in the same repeats, with nas's ratio to it in parentheses; the fastest "
          "configuration of each row in bold.\n";
    for (const std::string mode : {"train", "infer", "latency"}) {
      const auto& configs = torch_configs[mode == "latency" ? "infer" : mode];
      if (std::none_of(rows.begin(), rows.end(), [&](const Row& r) { return r.mode == mode; })) continue;
      const bool lat = mode == "latency";
      md << "\n### " << (mode == "train" ? "Training" : mode == "infer" ? "Inference" : "Batch-1 latency") << " ("
         << (lat ? "ms per image" : "images/second") << ")\n\n";
      md << "| network | threads | nas |";
      for (const auto& c : configs) md << " `" << c << "` |";
      md << "\n|---|---|---|";
      for (std::size_t k = 0; k < configs.size(); ++k) md << "---|";
      md << "\n";
      for (const auto& r : rows) {
        if (r.mode != mode) continue;
        auto value = [&](const Stats& s) { return lat ? fmt(1e3 / s.median, 3) : fmt(s.median, 1); };
        md << "| " << r.net << " | " << r.threads << " | " << value(r.nas) << " |";
        for (const auto& c : configs) {
          const Peer* p = r.peer(c);
          if (!p) {
            md << " failed |";
            continue;
          }
          const bool best = p->config == r.fastest().config;
          md << " " << (best ? "**" : "") << value(p->ips) << " (" << fmt(r.nas.median / p->ips.median, 2) << ")"
             << (best ? "**" : "") << " |";
        }
        md << "\n";
      }
    }
  }

  if (any_batch) {
    md << "\n### Images per CPU second\n\n";
    md << "The same repeats measured in CPU time of all the process's threads (`CLOCK_PROCESS_CPUTIME_ID` for nas, "
          "`time.process_time()` for PyTorch), against the configuration that was fastest in wall time. On a loaded "
          "machine this is less disturbed by descheduling than wall time; with 2 threads it also counts the time "
          "threads spin at barriers.\n\n";
    md << "| network | mode | threads | nas img/CPU-s median [min-max] | fastest PyTorch configuration | its img/CPU-s "
          "median [min-max] | ratio |\n";
    md << "|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
      if (r.mode == "latency") continue;
      md << "| " << r.net << " | " << mode_name(r.mode) << " | " << r.threads << " | " << fmt(r.nas_cpu.median, 1) << " ["
         << fmt(r.nas_cpu.min, 1) << "-" << fmt(r.nas_cpu.max, 1) << "] | ";
      if (r.has_torch()) {
        const Peer& f = r.fastest();
        md << "`" << f.config << "` | " << fmt(f.cpu.median, 1) << " [" << fmt(f.cpu.min, 1) << "-" << fmt(f.cpu.max, 1)
           << "] | " << fmt(r.cpu_ratio(), 2) << " |\n";
      } else {
        md << "- | - | - |\n";
      }
    }
  }
  md << "\n";
  md << "## Peak memory of a training step\n\n";
  md << "Peak resident set size (`getrusage` max RSS) of a fresh process that builds one network and trains "
     << mem_steps
     << " steps (nas: `training_vs_torch --only nas`; PyTorch: `torch_nb201.py --rss`, or `--rss-module` for the DARTS "
        "twin, which includes the Python interpreter and the torch library).\n\n";
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
  md << "Issue 18's goal: **a ratio >= 1.0 against the fastest PyTorch configuration on every row** (training, "
        "inference and batch-1 latency; both NB201 networks and the DARTS network; 1 and 2 threads), on the machine at "
        "hand. The moonshot: 1.5 for training, 1.3 for inference.\n\n";
  if (!have_torch) {
    md << "PyTorch was not available, so the goal could not be checked.\n";
  } else {
    std::vector<const Row*> missed;
    for (const auto& r : rows)
      if (r.has_torch() && r.ratio() < 1.0) missed.push_back(&r);
    if (missed.empty()) {
      md << "Met in this run: every row is at 1.0 or above against the fastest PyTorch configuration.\n";
    } else {
      md << "**Not met**: " << missed.size() << " of " << rows.size()
         << " rows are below 1.0 against PyTorch's fastest configuration:\n\n";
      md << "| network | mode | threads | fastest PyTorch | ratio | nas is short by | PyTorch is faster by |\n"
            "|---|---|---|---|---|---|---|\n";
      for (const Row* r : missed)
        md << "| " << r->net << " | " << mode_name(r->mode) << " | " << r->threads << " | `" << r->fastest().config
           << "` | " << fmt(r->ratio(), 2) << " | " << fmt(100.0 * (1.0 - r->ratio()), 0) << " % of PyTorch's speed | "
           << fmt(1.0 / r->ratio(), 2) << "x |\n";
      md << "\n";
    }
    std::size_t default_met = 0, total = 0;
    for (const auto& r : rows)
      if (r.has_torch()) {
        ++total;
        default_met += r.default_ratio() >= 1.0 ? 1 : 0;
      }
    md << "Against PyTorch's default configuration alone, " << default_met << " of " << total
       << " rows are at 1.0 or above. Repeats of the whole program on this shared machine move a row's ratio by about "
          "10 %, so rows within 0.9-1.1 are not settled by one run.\n";
  }
  md << "\n## Known limits of the nas side\n"
        "\n"
        "- Against the expert configurations: frozen and optimized TorchScript runs each convolution in oneDNN with "
        "BatchNorm folded, the ReLU fused as a post-op and the activations kept in oneDNN's channel-blocked layout "
        "from one convolution to the next; channels_last does the same for training without the folding. nas runs "
        "plain NCHW direct kernels that copy each input into padded planes per op. Issue 18's layout and kernel "
        "work (a channel-blocked layout kept between layers, direct strided and depthwise kernels, oneDNN as an "
        "optional backend) is where the rows below 1.0 are to be won; this report only measures.\n"
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
  std::printf("wrote %s, %s, %s, %s\n", (dir / "training.md").c_str(), (dir / "training.csv").c_str(),
              (dir / "training_configs.csv").c_str(), (dir / "training.svg").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return nas::run_program("training_vs_torch", [&] { return training_main(argc, argv); });
}
