// What the side-by-side benchmark programs share: the peer process they talk to over
// pipes, median/min/max summaries, and the facts about the machine a report must state.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "nas/tensor/conv_kernels.hpp"

namespace nas_bench {

/// Median with min and max: what every report row quotes.
struct Stats {
  double median = 0, min = 0, max = 0;
};

inline Stats summarize(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("summarize: no samples");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

/// PyTorch's CPU tensors come from glibc malloc, which by default returns large blocks to
/// the kernel on free and page-faults them back on the next step, so its step time varies
/// by 2x and more from run to run. Run through this prefix, the peer keeps its heap
/// (tensors below 32 MiB stay out of mmap, freed memory is not trimmed): its fastest
/// and steadiest state, the one to compare against.
inline std::vector<std::string> keep_heap(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/usr/bin/env", "MALLOC_MMAP_THRESHOLD_=33554432", "MALLOC_TRIM_THRESHOLD_=17179869184",
                             "MALLOC_TOP_PAD_=268435456"});
  return argv;
}
inline constexpr const char* keep_heap_note =
    "PyTorch runs with glibc malloc told to keep its heap (`MALLOC_MMAP_THRESHOLD_=33554432 "
    "MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=268435456`): with the defaults, freed activations go back "
    "to the kernel and are page-faulted in again every step, and its throughput varied by 2x and more between runs";

/// In a forked child: replaces the process with argv[0] (searched on PATH) and its
/// arguments; if that fails, says why and exits with 127.
[[noreturn]] inline void exec_or_exit(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::perror(("exec " + argv[0]).c_str());
  _exit(127);
}

/// A child process (the PyTorch peer) whose stdin and stdout are pipes to us, one line
/// per message. It is told "quit" and waited for on destruction.
class LineChild {
 public:
  explicit LineChild(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    if (argv.empty() || pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("LineChild: pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("LineChild: fork failed");
    if (pid_ == 0) {
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
      close(to_child[0]);
      close(to_child[1]);
      close(from_child[0]);
      close(from_child[1]);
      exec_or_exit(argv);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
  }
  LineChild(const LineChild&) = delete;
  LineChild& operator=(const LineChild&) = delete;
  ~LineChild() {
    if (in_) {
      std::fputs("quit\n", in_);
      std::fclose(in_);
    }
    if (out_) std::fclose(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  /// The next line the child writes (without its newline), or nothing if it died.
  std::optional<std::string> read_line() {
    if (!out_) return std::nullopt;
    std::string line;
    int c;
    while ((c = std::fgetc(out_)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
    if (c == EOF && line.empty()) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  /// Sends one command line and returns the reply line, or nothing if the child died.
  std::optional<std::string> ask(const std::string& command) {
    if (!in_ || std::fprintf(in_, "%s\n", command.c_str()) < 0 || std::fflush(in_) != 0) return std::nullopt;
    return read_line();
  }

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

/// Standard output of a shell command, trailing newlines and spaces removed.
inline std::string command_output(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg writes them.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one.empty() ? "unknown" : one + " " + five + " " + fifteen;
}

/// True when the first load average of `load` exceeds `cores`: wall-clock figures are then suspect.
inline bool overloaded(const std::string& load, double cores) { return std::atof(load.c_str()) > cores; }

/// "2026-11-30 00:09 UTC".
inline std::string utc_now() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

/// The CPU model name and the number of CPUs, as lscpu reports them.
struct Machine {
  std::string cpu, cores;
};
inline Machine machine() {
  return {command_output("lscpu | sed -n 's/^Model name: *//p'"), command_output("nproc")};
}

/// Measured single-core peak of the SIMD FMA the kernels are built with (nas's Vec:
/// AVX-512, AVX2 or scalar), in GFLOP/s: twelve independent FMA chains in registers,
/// best of five runs of about 0.1 s. Percentages of it say how much of the core is used.
inline double fma_peak_gflops() {
  using V = nas::kernels::detail::Vec;
  double best = 0.0;
  for (int run = 0; run < 5; ++run) {
    float one = 1.0f, tiny = 1e-8f, scale = 0.9999999f;
    const auto b = V::broadcast(&scale), c = V::broadcast(&tiny);
    typename V::type a[12];
    for (auto& v : a) v = V::broadcast(&one);
    const long iters = 4000000;
    const auto t0 = std::chrono::steady_clock::now();
    for (long k = 0; k < iters; ++k) {
      // Twelve named chains: a loop over an array may be kept in memory by the compiler.
      a[0] = V::fma(a[0], b, c), a[1] = V::fma(a[1], b, c), a[2] = V::fma(a[2], b, c), a[3] = V::fma(a[3], b, c);
      a[4] = V::fma(a[4], b, c), a[5] = V::fma(a[5], b, c), a[6] = V::fma(a[6], b, c), a[7] = V::fma(a[7], b, c);
      a[8] = V::fma(a[8], b, c), a[9] = V::fma(a[9], b, c), a[10] = V::fma(a[10], b, c), a[11] = V::fma(a[11], b, c);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    float sink = 0.0f;
    for (auto& v : a) sink += V::sum(v);
    if (sink == 12345.0f) std::puts("");  // keeps the chains alive
    best = std::max(best, static_cast<double>(iters) * 12.0 * 2.0 * V::width / s / 1e9);
  }
  return best;
}

/// printf("%.*f").
inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace nas_bench
