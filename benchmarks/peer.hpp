// What the side-by-side benchmark programs share: the peer process they talk to over
// pipes, median/min/max summaries, and the facts about the machine a report must state.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      std::perror(("exec " + argv[0]).c_str());
      _exit(127);
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

/// printf("%.*f").
inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace nas_bench
