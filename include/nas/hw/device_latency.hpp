// Published device latencies of every NAS-Bench-201 cell (HW-NAS-Bench, HELP) and the TableLatency estimator.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/metrics.hpp"
#include "nas/data/read_file.hpp"
#include "nas/estimate/nb201_table.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// The latency in milliseconds of each of the 15,625 NAS-Bench-201 cells (the benchmark's
/// TinyNetwork, C = 16, N = 5, CIFAR-10 input) on the devices of `hw_latency.csv.gz`:
/// HW-NAS-Bench (Li et al., ICLR 2021): fpga, eyeriss, raspi4, pixel3; the BRP-NAS mobile
/// phones (pixel2, essential_ph_1, samsung_a50, samsung_s7, integer milliseconds); HELP's
/// (Lee et al., NeurIPS 2021) desktop GPUs at batch 1/32/256 (1080ti_1, 2080ti_32, ...) and
/// Xeon CPUs (gold_6226, gold_6240, silver_4114, silver_4210r). `data/nb201/ATTRIBUTION.md`
/// says where every column comes from.
///
/// The loader checks the header (an `index` column, then `<device>_ms` columns), that every
/// index 0..15624 appears exactly once, and that every value is a finite number >= 0; a
/// malformed file gets a DataError naming the file, the line and the column.
class Nb201DeviceLatency {
 public:
  static constexpr std::size_t num_cells = 15625;

  [[nodiscard]] static Nb201DeviceLatency load(const std::filesystem::path& path) {
    return parse(read_file_bytes<std::string>(path.string(), "Nb201DeviceLatency", max_table_bytes), path.string());
  }
  /// Finds `hw_latency.csv.gz` as Nb201Table finds its file (environment variable
  /// `NAS_NB201_LATENCY`, then the source tree and the install prefix).
  [[nodiscard]] static Nb201DeviceLatency load_default() { return load(default_path()); }
  [[nodiscard]] static std::filesystem::path default_path() {
    return detail::find_first(nb201_search_paths("hw_latency.csv.gz", "NAS_NB201_LATENCY"), "the NAS-Bench-201 latency table");
  }

  /// Parses CSV text (`name` is used in error messages).
  [[nodiscard]] static Nb201DeviceLatency parse(std::string_view text, const std::string& name) {
    Nb201DeviceLatency t;
    detail::CsvCursor cur(text, name);
    std::string_view line;
    if (!cur.next_line(line)) cur.fail("empty file (expected a header starting with 'index')");
    std::vector<std::string_view> fields;
    detail::CsvCursor::split(line, fields);
    if (fields.empty() || fields[0] != "index") cur.fail("the first column must be 'index', not '" + std::string(fields[0]) + "'");
    for (std::size_t k = 1; k < fields.size(); ++k) {
      const std::string_view f = fields[k];
      if (f.size() <= 3 || f.substr(f.size() - 3) != "_ms")
        cur.fail("column " + std::to_string(k + 1) + " ('" + std::string(f) + "') must be named '<device>_ms'");
      const std::string device(f.substr(0, f.size() - 3));
      for (const auto& d : t.devices_)
        if (d == device) cur.fail("device '" + device + "' appears twice in the header");
      t.devices_.push_back(device);
    }
    if (t.devices_.empty()) cur.fail("no device columns after 'index'");
    const std::size_t m = t.devices_.size();
    t.ms_.assign(num_cells * m, std::numeric_limits<double>::quiet_NaN());
    std::vector<char> seen(num_cells, 0);
    std::size_t rows = 0;
    while (cur.next_line(line)) {
      if (detail::CsvCursor::split(line, fields) != m + 1)
        cur.fail(std::to_string(fields.size()) + " fields (expected " + std::to_string(m + 1) + ")");
      const auto i = static_cast<std::size_t>(cur.integer(fields[0], "index", 0, static_cast<long>(num_cells) - 1));
      if (seen[i]) cur.fail("index " + std::to_string(i) + " appears twice");
      seen[i] = 1;
      for (std::size_t k = 0; k < m; ++k) {
        const std::string column = t.devices_[k] + "_ms";
        const double v = cur.number(fields[k + 1], column);
        if (!std::isfinite(v) || v < 0.0)
          cur.fail("column '" + column + "': latency '" + std::string(fields[k + 1]) + "' (expected a finite number >= 0)");
        t.ms_[i * m + k] = v;
      }
      ++rows;
    }
    if (rows != num_cells) {
      std::size_t missing = 0;
      while (seen[missing]) ++missing;
      throw DataError(name + ": " + std::to_string(rows) + " rows (expected " + std::to_string(num_cells) +
                      "); index " + std::to_string(missing) + " is missing");
    }
    return t;
  }

  [[nodiscard]] const std::vector<std::string>& devices() const noexcept { return devices_; }
  /// The column of `device` ("pixel3", "raspi4", ...); ConfigError listing the devices otherwise.
  [[nodiscard]] std::size_t device_column(std::string_view device) const {
    for (std::size_t k = 0; k < devices_.size(); ++k)
      if (devices_[k] == device) return k;
    std::string known;
    for (const auto& d : devices_) known += (known.empty() ? "" : ", ") + d;
    throw ConfigError("Nb201DeviceLatency: unknown device '" + std::string(device) + "' (known: " + known + ")");
  }
  /// Latency in ms of the cell with official index `index` on device column `column`.
  [[nodiscard]] double ms(std::size_t index, std::size_t column) const {
    if (index >= num_cells || column >= devices_.size())
      throw ConfigError("Nb201DeviceLatency::ms: index " + std::to_string(index) + " / column " + std::to_string(column) +
                        " out of range");
    return ms_[index * devices_.size() + column];
  }
  [[nodiscard]] double ms(const Nb201Arch& arch, std::size_t column) const { return ms(Nb201Space::index(arch), column); }

 private:
  std::vector<std::string> devices_;
  std::vector<double> ms_;  // row-major [cell][device]
};

/// An estimator of NAS-Bench-201 cells that looks up one device's latency: the metric
/// `latency_ms`, score = -latency (higher is better, so that a latency-only search works),
/// cost 0 (a lookup). Copies share the table.
class TableLatency {
 public:
  using Arch = Nb201Arch;

  TableLatency(std::shared_ptr<const Nb201DeviceLatency> table, std::string_view device)
      : table_(std::move(table)), column_(checked(table_).device_column(device)), device_(device) {}

  [[nodiscard]] Evaluation evaluate(const Arch& arch, Fidelity = {}) const {
    Evaluation e;
    const double ms = table_->ms(arch, column_);
    e.score = -ms;
    e.metrics.set(metric::latency_ms, ms);
    return e;
  }
  [[nodiscard]] double latency_ms(const Arch& arch) const { return table_->ms(arch, column_); }
  [[nodiscard]] const std::string& device() const noexcept { return device_; }

 private:
  static const Nb201DeviceLatency& checked(const std::shared_ptr<const Nb201DeviceLatency>& t) {
    if (!t) throw ConfigError("TableLatency: no latency table given");
    return *t;
  }
  std::shared_ptr<const Nb201DeviceLatency> table_;
  std::size_t column_;
  std::string device_;
};

}  // namespace nas
