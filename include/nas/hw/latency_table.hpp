// LatencyTable: per-op latencies measured on this machine (or loaded from another), and the latency of a planned network predicted from them.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/read_file.hpp"
#include "nas/model/plan.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/sequential.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/threads.hpp"

namespace nas {

/// What a latency table was measured on: the CPU's model name and widest vector ISA (from
/// /proc/cpuinfo; "unknown" elsewhere) and the ISA the measuring program was compiled for.
struct MachineInfo {
  std::string model = "unknown";
  std::string isa = "unknown";        ///< widest of the CPU's flags: avx512f, avx2, avx, sse4_2, neon, ...
  std::string build_isa = "generic";  ///< widest the library's code was compiled for

  /// The machine this program runs on.
  [[nodiscard]] static MachineInfo this_machine() {
    MachineInfo m;
#if defined(__AVX512F__)
    m.build_isa = "avx512f";
#elif defined(__AVX2__)
    m.build_isa = "avx2";
#elif defined(__AVX__)
    m.build_isa = "avx";
#elif defined(__SSE4_2__)
    m.build_isa = "sse4_2";
#elif defined(__ARM_NEON)
    m.build_isa = "neon";
#endif
    std::ifstream in("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(in, line)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      std::string value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (m.model == "unknown" && name == "model name") m.model = value;
      if (flags.empty() && (name == "flags" || name == "Features")) flags = " " + value + " ";
    }
    for (const char* isa : {"avx512f", "avx2", "avx", "sse4_2", "asimd", "neon"})
      if (flags.find(std::string(" ") + isa + " ") != std::string::npos) {
        m.isa = isa;
        break;
      }
    return m;
  }
  friend bool operator==(const MachineInfo&, const MachineInfo&) = default;
};

/// One op configuration's measured latency: the milliseconds of one forward pass of a batch
/// of LatencyTable::batch() inputs (see LatencyProfileOptions for the statistic), the 10th
/// and 90th percentiles of the samples (the spread), and how many samples were taken.
struct LatencyEntry {
  OpKey key;
  double ms = 0.0;
  double p10_ms = 0.0;
  double p90_ms = 0.0;
  int samples = 0;
};

/// How LatencyTable::profile measures.
///
/// Each op is timed `rounds` times, interleaved with the other ops (round r times every op
/// once before round r + 1 starts), `repeats` samples per round; a sample runs the op often
/// enough to take at least `min_sample_ms` and reports the time of one run. The entry is
/// the fastest of all samples: on a shared machine other processes take whole scheduler
/// slices (about 4 ms on a Linux VM), so a sample is either undisturbed or longer by a
/// slice or more; the median of such samples measures how busy the machine was, the
/// minimum what the op costs. Interleaving gives every op its chance at a quiet moment.
/// The spread (p10, p90) over all samples is recorded beside it.
struct LatencyProfileOptions {
  int batch = 1;
  int threads = 1;  ///< pinned with set_num_threads() while measuring (restored afterwards)
  int warmup = 3;   ///< untimed runs per op before its first sample (buffers, caches)
  int rounds = 7;
  int repeats = 5;
  double min_sample_ms = 0.2;
  std::uint64_t seed = 0;  ///< weights and inputs of the probes

  void validate(const char* where) const {
    if (batch < 1 || threads < 1 || warmup < 0 || rounds < 1 || repeats < 1 || !(min_sample_ms >= 0.0) ||
        !std::isfinite(min_sample_ms))
      throw ConfigError(std::string(where) + ": batch (" + std::to_string(batch) + "), threads (" + std::to_string(threads) +
                        "), rounds (" + std::to_string(rounds) + ") and repeats (" + std::to_string(repeats) +
                        ") must be >= 1, warmup (" + std::to_string(warmup) + ") and min_sample_ms (" +
                        std::to_string(min_sample_ms) + ") >= 0");
  }
};

namespace detail {

// The q-quantile (0..1) of `v` by linear interpolation between order statistics.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// A batch_norm that the network's evaluation forward folds into the convolution before it:
// the stem's (Sequential fuses Conv2d -> BatchNorm2d). Its cost is in the stem_conv entry.
inline bool folded_into_previous(const NetworkPlan& plan, std::size_t i) {
  return i > 0 && plan.ops[i].kind == "batch_norm" && plan.ops[i - 1].kind == "stem_conv" && plan.ops[i - 1].runs;
}

// One op configuration set up to run as the network's evaluation forward runs it.
struct LatencyProbe {
  std::unique_ptr<Module> module;
  Tensor x;
  Tensor target;
  bool edge = false;    // a cell edge: its output is summed into a node
  bool direct = false;  // ... written straight into the node's sum (fused convolution)
  int inner = 1;        // runs per sample

  void run() {
    if (direct) {
      module->forward_into(x, target, true);
      return;
    }
    const Tensor& y = module->forward(x);
    if (edge) add_into(target, y);
  }
};

// Cell edges run inside CellDag: an op whose evaluation forward ends in a fused convolution
// adds straight into the node's sum (forward_into), any other op's output is added to it.
// The stem convolution runs with its BatchNorm folded in, as the network's Sequential does.
inline LatencyProbe make_probe(const OpKey& key, int batch, Rng& rng) {
  const PlannedOp op = plan_op(key);
  LatencyProbe p;
  if (op.kind == "stem_conv") {
    auto seq = std::make_unique<Sequential>();
    seq->add(make_op(op, rng));
    seq->emplace<BatchNorm2d>(BatchNorm2d::Options{.channels = op.out.channels});
    p.module = std::move(seq);
  } else {
    p.module = make_op(op, rng);
  }
  p.module->eval();
  p.x = Tensor(Shape{batch, op.in.channels, op.in.height, op.in.width});
  p.x.fill_normal(rng);
  p.edge = op.role == OpRole::edge;
  if (p.edge) {
    p.target = Tensor(Shape{batch, op.out.channels, op.out.height, op.out.width});
    p.target.fill_normal(rng);
    p.direct = p.module->forward_into_is_direct();
  }
  return p;
}

}  // namespace detail

/// Latencies of op configurations (OpKey) on one machine, at one thread count and batch
/// size, and the latency of a planned network predicted from them:
///
///     predicted(plan) = scale x (sum over the plan's running ops of entry(op.key()).ms) + overhead_ms
///
/// Ops that do not run (`none` edges, edges that cannot reach the cell output; see
/// PlannedOp::runs) cost nothing, and the stem's BatchNorm is folded into the stem
/// convolution's entry, because that is what the network's evaluation forward runs.
///
/// scale and overhead_ms are the per-network overhead: what the sum of ops, each timed
/// alone with its weights and input hot in cache, leaves out. Part of it is fixed (the
/// network's own loop, node buffers, CellDag's copies), part grows with the network
/// (weights and activations that no longer sit in the caches when an op runs inside the
/// network). calibrate() fits both on a few architectures measured end to end (robust
/// Theil-Sen regression); uncalibrated, scale is 1 and the overhead 0.
///
/// profile() measures a list of keys on this machine; for a space, the keys are
/// space_keys(space, input, options) (any space whose plans list op keys: NAS-Bench-201,
/// DARTS, ...; the op kinds must be ones plan_op() and make_op() know). save() and load()
/// keep a table as CSV with the machine, thread count and batch size in `#` lines above
/// the entries, so a table made on another device can be brought in and used as it is.
class LatencyTable {
 public:
  LatencyTable() = default;
  LatencyTable(MachineInfo machine, int threads, int batch, std::vector<LatencyEntry> entries)
      : machine_(std::move(machine)), threads_(threads), batch_(batch) {
    if (threads < 1 || batch < 1)
      throw ConfigError("LatencyTable: threads (" + std::to_string(threads) + ") and batch (" + std::to_string(batch) +
                        ") must be >= 1");
    for (auto& e : entries) add(std::move(e), "LatencyTable");
  }

  /// Measures every key on this machine now (see LatencyProfileOptions). The machine is
  /// this_machine(); scale 1 and overhead 0 until calibrate().
  [[nodiscard]] static LatencyTable profile(const std::vector<OpKey>& keys, const LatencyProfileOptions& o = {}) {
    o.validate("LatencyTable::profile");
    if (keys.empty()) throw ConfigError("LatencyTable::profile: no op keys to measure");
    const int threads_before = num_threads();
    set_num_threads(o.threads);
    Rng rng(o.seed);
    std::vector<detail::LatencyProbe> probes;
    probes.reserve(keys.size());
    for (const auto& k : keys) probes.push_back(detail::make_probe(k, o.batch, rng));
    using clock = std::chrono::steady_clock;
    auto ms_since = [](clock::time_point t0) { return std::chrono::duration<double, std::milli>(clock::now() - t0).count(); };
    for (auto& p : probes) {
      for (int w = 0; w < std::max(1, o.warmup); ++w) p.run();
      const auto t0 = clock::now();
      p.run();
      const double one = ms_since(t0);
      p.inner = one >= o.min_sample_ms ? 1 : static_cast<int>(std::min(10000.0, std::ceil(o.min_sample_ms / std::max(one, 1e-6))));
    }
    std::vector<std::vector<double>> samples(keys.size());
    for (int r = 0; r < o.rounds; ++r)
      for (std::size_t i = 0; i < probes.size(); ++i) {
        auto& p = probes[i];
        p.run();  // back in cache after the other ops ran
        for (int s = 0; s < o.repeats; ++s) {
          const auto t0 = clock::now();
          for (int k = 0; k < p.inner; ++k) p.run();
          samples[i].push_back(ms_since(t0) / p.inner);
        }
      }
    set_num_threads(threads_before);
    std::vector<LatencyEntry> entries;
    for (std::size_t i = 0; i < keys.size(); ++i)
      entries.push_back(LatencyEntry{keys[i], detail::quantile(samples[i], 0.0), detail::quantile(samples[i], 0.1),
                                     detail::quantile(samples[i], 0.9), static_cast<int>(samples[i].size())});
    return LatencyTable(MachineInfo::this_machine(), o.threads, o.batch, std::move(entries));
  }

  /// Profiles every op configuration some architecture of `space` puts in its network of
  /// (input, options): space_keys(space, input, options).
  template <class Space>
  [[nodiscard]] static LatencyTable profile(const Space& space, const NetworkInput& input, const NetworkOptions& options,
                                            const LatencyProfileOptions& o = {}) {
    return profile(space_keys(space, input, options), o);
  }

  [[nodiscard]] const MachineInfo& machine() const noexcept { return machine_; }
  [[nodiscard]] int threads() const noexcept { return threads_; }
  [[nodiscard]] int batch() const noexcept { return batch_; }
  [[nodiscard]] const std::vector<LatencyEntry>& entries() const noexcept { return entries_; }
  [[nodiscard]] double overhead_ms() const noexcept { return overhead_ms_; }
  [[nodiscard]] double scale() const noexcept { return scale_; }
  /// How scale and overhead were obtained (calibrate()'s description, or "" when not fitted).
  [[nodiscard]] const std::string& overhead_fit() const noexcept { return overhead_fit_; }

  /// The entry of `key`, or nullptr.
  [[nodiscard]] const LatencyEntry* find(const OpKey& key) const {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  /// Sum of the entries of the plan's running ops (without the overhead), in ms per pass of
  /// a batch of batch() images. Throws ConfigError naming the first op without an entry.
  [[nodiscard]] double ops_ms(const NetworkPlan& plan) const {
    double sum = 0.0;
    for (std::size_t i = 0; i < plan.ops.size(); ++i) {
      const PlannedOp& op = plan.ops[i];
      if (!op.runs || detail::folded_into_previous(plan, i)) continue;
      const LatencyEntry* e = find(op.key());
      if (!e)
        throw ConfigError("LatencyTable: no entry for op " + std::to_string(i) + " (" + op.key().str() + ") of the " +
                          plan.space + " network " + plan.arch_text + " (the table has " + std::to_string(entries_.size()) +
                          " keys; profile the space's keys for this input and these options)");
      sum += e->ms;
    }
    return sum;
  }
  /// The predicted latency of the plan's network: scale() x ops_ms(plan) + overhead_ms().
  [[nodiscard]] double predict_ms(const NetworkPlan& plan) const { return scale_ * ops_ms(plan) + overhead_ms_; }

  /// Fits the per-network overhead on networks measured end to end at this table's batch
  /// and thread count (ops_ms[i]: their ops_ms(), measured_ms[i]: their forward_pass_ms()):
  /// measured = scale x ops + overhead_ms by Theil-Sen regression (scale: the median of
  /// the slopes between all pairs of networks; overhead: the median of measured - scale x
  /// ops), so that a few disturbed measurements cannot move it. With one network, or all
  /// sums equal, the scale stays 1 and the overhead is the median residual.
  void calibrate(const std::vector<double>& ops_ms, const std::vector<double>& measured_ms) {
    if (ops_ms.empty() || ops_ms.size() != measured_ms.size())
      throw ConfigError("LatencyTable::calibrate: " + std::to_string(ops_ms.size()) + " sums of ops and " +
                        std::to_string(measured_ms.size()) + " measurements (need the same number, at least one)");
    for (std::size_t i = 0; i < ops_ms.size(); ++i)
      if (!std::isfinite(ops_ms[i]) || !std::isfinite(measured_ms[i]))
        throw ConfigError("LatencyTable::calibrate: network " + std::to_string(i) + " has a non-finite latency");
    std::vector<double> slopes;
    for (std::size_t i = 0; i < ops_ms.size(); ++i)
      for (std::size_t j = i + 1; j < ops_ms.size(); ++j)
        if (ops_ms[j] != ops_ms[i]) slopes.push_back((measured_ms[j] - measured_ms[i]) / (ops_ms[j] - ops_ms[i]));
    double scale = slopes.empty() ? 1.0 : detail::quantile(slopes, 0.5);
    if (!(scale > 0.0)) scale = 1.0;  // a degenerate sample: fall back to the overhead alone
    std::vector<double> residual;
    for (std::size_t i = 0; i < ops_ms.size(); ++i) residual.push_back(measured_ms[i] - scale * ops_ms[i]);
    set_calibration(scale, detail::quantile(residual, 0.5),
                    "Theil-Sen fit on " + std::to_string(ops_ms.size()) + " networks measured end to end");
  }
  /// Sets predicted = scale x ops + overhead_ms (`how` says where the figures come from).
  void set_calibration(double scale, double overhead_ms, std::string how) {
    if (!(scale > 0.0) || !std::isfinite(scale) || !std::isfinite(overhead_ms))
      throw ConfigError("LatencyTable::set_calibration: scale " + std::to_string(scale) + " and overhead " +
                        std::to_string(overhead_ms) + " ms (expected a finite scale > 0 and a finite overhead)");
    scale_ = scale;
    overhead_ms_ = overhead_ms;
    overhead_fit_ = std::move(how);
  }

  /// The CSV form save() writes and parse() reads:
  ///
  ///     # nas-latency-table 1
  ///     # machine: Intel(R) Xeon(R) Processor
  ///     # isa: avx512f
  ///     # build_isa: avx512f
  ///     # threads: 1
  ///     # batch: 1
  ///     # scale: 1.08
  ///     # overhead_ms: -0.0312
  ///     # overhead_fit: Theil-Sen fit on 20 networks measured end to end
  ///     key,ms,p10_ms,p90_ms,samples
  ///     nor_conv_3x3:c16-16:h32w32:k3:s1,0.0841,0.0832,0.0866,35
  ///
  /// Times are milliseconds per forward pass of a batch of `batch` images.
  [[nodiscard]] std::string to_csv() const {
    std::ostringstream os;
    os.precision(9);
    os << "# nas-latency-table 1\n# machine: " << machine_.model << "\n# isa: " << machine_.isa
       << "\n# build_isa: " << machine_.build_isa << "\n# threads: " << threads_ << "\n# batch: " << batch_
       << "\n# scale: " << scale_ << "\n# overhead_ms: " << overhead_ms_ << "\n# overhead_fit: " << overhead_fit_ << "\nkey,ms,p10_ms,p90_ms,samples\n";
    for (const auto& e : entries_)
      os << e.key.str() << ',' << e.ms << ',' << e.p10_ms << ',' << e.p90_ms << ',' << e.samples << '\n';
    return os.str();
  }
  void save(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary);
    out << to_csv();
    if (!out) throw DataError("LatencyTable::save: cannot write " + path.string());
  }

  [[nodiscard]] static LatencyTable load(const std::filesystem::path& path) {
    return parse(read_file_bytes<std::string>(path.string(), "LatencyTable::load"), path.string());
  }

  /// Reads to_csv()'s form (`name` is used in errors). A malformed table gets a DataError
  /// "<name>:<line>: field '<field>': <what is wrong>"; `#` lines other than the known
  /// fields are ignored; `threads` and `batch` are required ("<name>: field 'batch':
  /// missing ..." when absent).
  [[nodiscard]] static LatencyTable parse(std::string_view text, const std::string& name) {
    LatencyTable t;
    std::size_t line_no = 0, pos = 0;
    auto fail = [&](std::string_view field, const std::string& what) -> DataError {
      return DataError(name + ":" + std::to_string(line_no) + ": field '" + std::string(field) + "': " + what);
    };
    auto to_int = [&](std::string_view s, std::string_view field, long lo) {
      long v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > std::numeric_limits<int>::max())
        throw fail(field, "'" + std::string(s) + "' is not an integer >= " + std::to_string(lo));
      return static_cast<int>(v);
    };
    auto to_double = [&](std::string_view s, std::string_view field, bool allow_negative) {
      double v = 0.0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || (!allow_negative && v < 0.0))
        throw fail(field, "'" + std::string(s) + "' is not a finite number" + (allow_negative ? "" : " >= 0"));
      return v;
    };
    bool header = false, have_threads = false, have_batch = false;
    std::vector<LatencyEntry> entries;
    while (pos <= text.size()) {
      const std::size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (line[0] == '#') {
        if (header) throw fail("#", "a '#' line after the column header");
        std::string_view body = line.substr(1);
        while (!body.empty() && body.front() == ' ') body.remove_prefix(1);
        const std::size_t colon = body.find(':');
        if (colon == std::string_view::npos) continue;  // e.g. the format line
        const std::string_view field = body.substr(0, colon);
        std::string_view value = body.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (field == "machine") t.machine_.model = std::string(value);
        else if (field == "isa") t.machine_.isa = std::string(value);
        else if (field == "build_isa") t.machine_.build_isa = std::string(value);
        else if (field == "threads") t.threads_ = to_int(value, field, 1), have_threads = true;
        else if (field == "batch") t.batch_ = to_int(value, field, 1), have_batch = true;
        else if (field == "overhead_ms") t.overhead_ms_ = to_double(value, field, true);
        else if (field == "scale") {
          t.scale_ = to_double(value, field, false);
          if (!(t.scale_ > 0.0)) throw fail(field, "'" + std::string(value) + "' is not a number > 0");
        }
        else if (field == "overhead_fit") t.overhead_fit_ = std::string(value);
        continue;
      }
      std::vector<std::string_view> f;
      for (std::size_t s = 0;;) {
        const std::size_t c = line.find(',', s);
        f.push_back(line.substr(s, c == std::string_view::npos ? std::string_view::npos : c - s));
        if (c == std::string_view::npos) break;
        s = c + 1;
      }
      static constexpr std::string_view columns[] = {"key", "ms", "p10_ms", "p90_ms", "samples"};
      if (!header) {
        for (std::size_t c = 0; c < 5; ++c)
          if (c >= f.size() || f[c] != columns[c])
            throw fail(c < f.size() ? f[c] : std::string_view("(missing)"),
                       "the column header must be key,ms,p10_ms,p90_ms,samples (column " + std::to_string(c + 1) + ")");
        if (f.size() != 5) throw fail(f[5], "the column header has more than 5 columns");
        header = true;
        continue;
      }
      if (f.size() != 5)
        throw fail(f.size() < 5 ? columns[f.size()] : std::string_view("samples"),
                   std::to_string(f.size()) + " fields (expected 5: key,ms,p10_ms,p90_ms,samples)");
      LatencyEntry e;
      try {
        e.key = OpKey::parse(f[0]);
      } catch (const ParseError& err) {
        throw fail("key", err.what());
      }
      e.ms = to_double(f[1], "ms", false);
      e.p10_ms = to_double(f[2], "p10_ms", false);
      e.p90_ms = to_double(f[3], "p90_ms", false);
      e.samples = to_int(f[4], "samples", 1);
      if (e.ms > e.p90_ms || e.p10_ms > e.p90_ms)
        throw fail("ms", "ms <= p90_ms and p10_ms <= p90_ms do not hold (ms " + std::string(f[1]) + ", p10_ms " +
                             std::string(f[2]) + ", p90_ms " + std::string(f[3]) + ")");
      if (t.index_.count(e.key) || std::any_of(entries.begin(), entries.end(), [&](const LatencyEntry& x) { return x.key == e.key; }))
        throw fail("key", "'" + e.key.str() + "' appears twice");
      entries.push_back(std::move(e));
    }
    auto missing = [&](std::string_view field, std::string_view what) {
      return DataError(name + ": field '" + std::string(field) + "': missing (" + std::string(what) + ")");
    };
    if (!header) throw missing("key", "no column header key,ms,p10_ms,p90_ms,samples");
    if (!have_threads) throw missing("threads", "a '# threads: <n>' line");
    if (!have_batch) throw missing("batch", "a '# batch: <n>' line");
    for (auto& e : entries) t.add(std::move(e), "LatencyTable::parse");
    return t;
  }

 private:
  void add(LatencyEntry e, const char* where) {
    if (!(e.ms >= 0.0) || !std::isfinite(e.ms))
      throw ConfigError(std::string(where) + ": entry " + e.key.str() + " has latency " + std::to_string(e.ms) +
                        " (expected a finite number >= 0)");
    if (!index_.emplace(e.key, entries_.size()).second)
      throw ConfigError(std::string(where) + ": key " + e.key.str() + " appears twice");
    entries_.push_back(std::move(e));
  }

  MachineInfo machine_;
  int threads_ = 1;
  int batch_ = 1;
  std::vector<LatencyEntry> entries_;
  std::unordered_map<OpKey, std::size_t> index_;
  double scale_ = 1.0;
  double overhead_ms_ = 0.0;
  std::string overhead_fit_;
};

/// Milliseconds of the fastest of `repeats` forward passes of `net` in evaluation mode on a
/// random batch of shape `input`, after `warmup` untimed ones: the end-to-end figure a
/// LatencyTable predicts (at the table's thread count; set it first), with the statistic
/// LatencyTable::profile uses for ops. Interleave rounds of it with other work and keep
/// the fastest, as profile() does.
/// Restores the training mode it found.
///
/// Net: `bool is_training() const`, `void eval()`, `void train(bool)` and
/// `const Tensor& forward(const Tensor&)`.
template <class Net>
double forward_pass_ms(Net& net, const Shape& input, int repeats, int warmup = 1, std::uint64_t seed = 0) {
  if (input.rank() < 1 || input[0] < 1 || repeats < 1 || warmup < 0)
    throw ConfigError("forward_pass_ms: input " + input.str() + ", repeats (" + std::to_string(repeats) + ") and warmup (" +
                      std::to_string(warmup) + ") need a batch >= 1, repeats >= 1 and warmup >= 0");
  const bool was_training = net.is_training();
  net.eval();
  Tensor x(input);
  Rng rng(seed);
  x.fill_normal(rng);
  for (int w = 0; w < warmup; ++w) (void)net.forward(x);
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)net.forward(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  net.train(was_training);
  return *std::min_element(ms.begin(), ms.end());
}

/// An estimator of `Space`'s architectures that predicts their latency from a table: the
/// metric `latency_ms` (the table's ms per pass), score = -latency (higher is better), cost
/// 0. The network is planned with `input` and `options`, which must be those the table was
/// profiled for. Copies share the table.
template <class Space>
class MeasuredLatency {
 public:
  using Arch = typename Space::Arch;

  MeasuredLatency(std::shared_ptr<const LatencyTable> table, Space space, NetworkInput input, NetworkOptions options = {})
      : table_(std::move(table)), space_(std::move(space)), input_(input), options_(options) {
    if (!table_) throw ConfigError("MeasuredLatency: no latency table given");
  }

  [[nodiscard]] Evaluation evaluate(const Arch& arch, Fidelity = {}) const {
    const double ms = latency_ms(arch);
    Evaluation e;
    e.score = -ms;
    e.metrics.set(metric::latency_ms, ms);
    return e;
  }
  [[nodiscard]] double latency_ms(const Arch& arch) const {
    return table_->predict_ms(plan_network(space_, arch, input_, options_));
  }
  [[nodiscard]] const LatencyTable& table() const noexcept { return *table_; }

 private:
  std::shared_ptr<const LatencyTable> table_;
  Space space_;
  NetworkInput input_;
  NetworkOptions options_;
};

}  // namespace nas
