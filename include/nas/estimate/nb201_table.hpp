// Nb201Table: the NAS-Bench-201 results of all 15,625 cells, loaded from nb201.csv(.gz).
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/read_file.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// The three NAS-Bench-201 data sets.
enum class Nb201Dataset : std::uint8_t { cifar10 = 0, cifar100 = 1, imagenet16 = 2 };

/// "cifar10", "cifar100", "imagenet16"; the benchmark's names "cifar10-valid" and
/// "ImageNet16-120" are accepted too. Throws ConfigError naming the bad value.
[[nodiscard]] inline Nb201Dataset parse_nb201_dataset(std::string_view name) {
  if (name == "cifar10" || name == "cifar10-valid") return Nb201Dataset::cifar10;
  if (name == "cifar100") return Nb201Dataset::cifar100;
  if (name == "imagenet16" || name == "ImageNet16-120" || name == "imagenet16-120") return Nb201Dataset::imagenet16;
  throw ConfigError("parse_nb201_dataset: unknown data set '" + std::string(name) +
                    "' (expected cifar10, cifar100 or imagenet16)");
}

[[nodiscard]] inline std::string_view to_string(Nb201Dataset d) noexcept {
  switch (d) {
    case Nb201Dataset::cifar10: return "cifar10";
    case Nb201Dataset::cifar100: return "cifar100";
    case Nb201Dataset::imagenet16: return "imagenet16";
  }
  return "?";
}

/// One row of nb201.csv. Accuracies are top-1 percent; missing values are NaN.
/// Arrays indexed by data set (`static_cast<std::size_t>(Nb201Dataset)`) hold, per data
/// set, the columns of the same meaning (see data/nb201/ATTRIBUTION.md):
///
/// - `valid` / `test`: after the 200-epoch schedule, means over `n_seeds` runs. For
///   cifar10, valid is `cifar10_valid` (trained on 25k images, scored on the 25k held
///   out) and test is `cifar10_test` (trained on all 50k, scored on the test set); for
///   cifar100 and imagenet16 they are the x-valid and x-test halves of the test set.
/// - `valtest`: cifar100 and imagenet16 on the whole test set (NaN for cifar10).
/// - `valid_12ep` / `test_12ep`: the same splits after the 12-epoch schedule (NB201 v1_1).
/// - `params_m`, `flops_m` (millions), `train_time_s` (seconds for all 200 epochs, a
///   per-arch estimate scaled by training-set size, not a measurement).
struct Nb201Record {
  std::uint16_t index = 0;
  Nb201Arch arch{};
  std::uint16_t iso_rep = 0;
  std::uint8_t n_seeds = 0;
  bool bench_params_mismatch = false;
  std::array<double, 3> valid{};
  std::array<double, 3> test{};
  std::array<double, 3> valtest{};
  std::array<double, 3> valid_12ep{};
  std::array<double, 3> test_12ep{};
  std::array<double, 3> params_m{};
  std::array<double, 3> flops_m{};
  std::array<double, 3> train_time_s{};
};

/// One 200-epoch run of one seed (nb201_seeds.csv): cifar10 valid accuracy, and the
/// whole-test-set accuracy for cifar100 and imagenet16 (the only per-seed columns).
struct Nb201SeedResult {
  std::uint16_t seed = 0;
  double cifar10_valid = 0.0;
  double cifar100_valtest = 0.0;
  double imagenet16_valtest = 0.0;
};

namespace detail {

// Splits CSV text into lines and fields without allocating per field; knows its line number.
class CsvCursor {
 public:
  CsvCursor(std::string_view text, std::string name) : text_(text), name_(std::move(name)) {}

  // Next non-empty line (without the line break); false at the end.
  bool next_line(std::string_view& line) {
    while (pos_ < text_.size()) {
      const std::size_t end = text_.find('\n', pos_);
      const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
      line = text_.substr(pos_, stop - pos_);
      pos_ = stop + 1;
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) return true;
    }
    return false;
  }
  [[nodiscard]] std::size_t line_no() const noexcept { return line_no_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(name_ + ":" + std::to_string(line_no_) + ": " + what);
  }

  static std::size_t split(std::string_view line, std::vector<std::string_view>& fields) {
    fields.clear();
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      if (comma == std::string_view::npos) {
        fields.push_back(line.substr(start));
        return fields.size();
      }
      fields.push_back(line.substr(start, comma - start));
      start = comma + 1;
    }
  }

  double number(std::string_view field, std::string_view column) const {
    if (field.empty()) return std::numeric_limits<double>::quiet_NaN();
    double v = 0.0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (ec != std::errc() || end != field.data() + field.size())
      fail("column '" + std::string(column) + "': cannot read '" + std::string(field) + "' as a number");
    return v;
  }
  long integer(std::string_view field, std::string_view column, long lo, long hi) const {
    long v = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (field.empty() || ec != std::errc() || end != field.data() + field.size())
      fail("column '" + std::string(column) + "': cannot read '" + std::string(field) + "' as an integer");
    if (v < lo || v > hi)
      fail("column '" + std::string(column) + "': " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "]");
    return v;
  }

 private:
  std::string_view text_;
  std::string name_;
  std::size_t pos_ = 0;
  std::size_t line_no_ = 0;
};

}  // namespace detail

/// Where the shipped table is looked for, in order: the environment variable
/// `NAS_NB201_TABLE` (a file), `<NAS_SOURCE_DIR>/data/nb201/nb201.csv.gz` when that macro
/// is defined (builds inside the source tree), `<NAS_DATA_DIR>/nb201/nb201.csv.gz` when
/// that macro is defined, `data/nb201/nb201.csv.gz` under the working directory (a source
/// checkout), `../share/nas/nb201/nb201.csv.gz` beside the running program (an installed
/// prefix), then /usr/local/share/nas/nb201 and /usr/share/nas/nb201.
[[nodiscard]] inline std::vector<std::filesystem::path> nb201_search_paths(std::string_view file = "nb201.csv.gz",
                                                                          const char* env_var = "NAS_NB201_TABLE") {
  std::vector<std::filesystem::path> places;
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') places.emplace_back(env);
#ifdef NAS_SOURCE_DIR
  places.push_back(std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201" / file);
#endif
#ifdef NAS_DATA_DIR
  places.push_back(std::filesystem::path(NAS_DATA_DIR) / "nb201" / file);
#endif
  places.push_back(std::filesystem::path("data") / "nb201" / file);  // run from a source checkout
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) places.push_back(exe.parent_path().parent_path() / "share" / "nas" / "nb201" / file);
  places.push_back(std::filesystem::path("/usr/local/share/nas/nb201") / file);
  places.push_back(std::filesystem::path("/usr/share/nas/nb201") / file);
  return places;
}

namespace detail {
inline std::filesystem::path find_first(const std::vector<std::filesystem::path>& places, std::string_view what) {
  std::error_code ec;
  for (const auto& p : places)
    if (std::filesystem::is_regular_file(p, ec)) return p;
  std::string msg = "default_nb201_path: " + std::string(what) + " not found; looked in:";
  for (const auto& p : places) msg += "\n  " + p.string();
  throw DataError(msg);
}
}  // namespace detail

/// The first existing file of nb201_search_paths(); DataError listing the places otherwise.
[[nodiscard]] inline std::filesystem::path default_nb201_path() {
  return detail::find_first(nb201_search_paths(), "the NAS-Bench-201 table (nb201.csv.gz)");
}

/// As default_nb201_path, for the per-seed file (env `NAS_NB201_SEEDS`, nb201_seeds.csv.gz).
[[nodiscard]] inline std::filesystem::path default_nb201_seeds_path() {
  return detail::find_first(nb201_search_paths("nb201_seeds.csv.gz", "NAS_NB201_SEEDS"),
                            "the NAS-Bench-201 per-seed table (nb201_seeds.csv.gz)");
}

/// The NAS-Bench-201 table: one Nb201Record per official index, queried by index or cell.
///
///     auto table = nas::Nb201Table::load(nas::default_nb201_path());
///     double acc = table.at(arch).test[0];   // CIFAR-10 test accuracy, 200 epochs
///
/// The loader checks the header (every column named in ATTRIBUTION.md must be there; extra
/// columns are ignored), every field, that row i has index i and that its `ops` and `arch`
/// agree with Nb201Space::index, and that all 15,625 rows are present. Any problem is a
/// DataError naming the file, the line and the column.
class Nb201Table {
 public:
  static constexpr std::size_t num_rows = Nb201Space::num_archs;

  /// Loads nb201.csv, plain or gzip-compressed (detected by its magic bytes).
  [[nodiscard]] static Nb201Table load(const std::filesystem::path& path) {
    const std::string text = read_file_bytes<std::string>(path.string(), "Nb201Table", max_table_bytes);
    Nb201Table t = parse(text, path.string());
    t.path_ = path;
    return t;
  }

  /// Loads the table found by default_nb201_path().
  [[nodiscard]] static Nb201Table load_default() { return load(default_nb201_path()); }

  /// Parses CSV text; `name` is used in error messages.
  [[nodiscard]] static Nb201Table parse(std::string_view text, const std::string& name) {
    Nb201Table t;
    t.records_.resize(num_rows);
    detail::CsvCursor csv(text, name);
    std::string_view line;
    if (!csv.next_line(line)) csv.fail("empty file (no header line)");
    std::vector<std::string_view> header;
    detail::CsvCursor::split(line, header);

    // Column positions of the fields we read, by name.
    enum Col : std::size_t {
      c_index, c_arch, c_ops, c_iso_rep, c_n_seeds, c_mismatch,
      c10_valid, c10_test, c100_valid, c100_test, c100_valtest, in_valid, in_test, in_valtest,
      p10, p100, pin, f10, f100, fin, t10, t100, tin,
      c10_v12, c10_t12, c100_v12, c100_t12, in_v12, in_t12, num_cols
    };
    static constexpr std::array<std::string_view, num_cols> names{
        "index", "arch", "ops", "iso_rep", "n_seeds", "bench_params_mismatch",
        "cifar10_valid", "cifar10_test", "cifar100_valid", "cifar100_test", "cifar100_valtest",
        "imagenet16_valid", "imagenet16_test", "imagenet16_valtest",
        "params_m_cifar10", "params_m_cifar100", "params_m_imagenet16",
        "flops_m_cifar10", "flops_m_cifar100", "flops_m_imagenet16",
        "train_time_s_cifar10valid", "train_time_s_cifar100", "train_time_s_imagenet16",
        "cifar10_valid_12ep", "cifar10_test_12ep", "cifar100_valid_12ep", "cifar100_test_12ep",
        "imagenet16_valid_12ep", "imagenet16_test_12ep"};
    std::array<std::size_t, num_cols> at{};
    for (std::size_t c = 0; c < num_cols; ++c) {
      std::size_t found = header.size();
      for (std::size_t h = 0; h < header.size(); ++h)
        if (header[h] == names[c]) found = h;
      if (found == header.size()) csv.fail("header has no column '" + std::string(names[c]) + "'");
      at[c] = found;
    }

    std::vector<std::string_view> f;
    f.reserve(header.size());
    std::size_t row = 0;
    const Nb201Space space;
    while (csv.next_line(line)) {
      if (row >= num_rows) csv.fail("more than " + std::to_string(num_rows) + " data rows");
      if (detail::CsvCursor::split(line, f) != header.size())
        csv.fail("row has " + std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()) +
                 " (truncated line?)");
      Nb201Record& r = t.records_[row];
      auto num = [&](Col c) { return csv.number(f[at[c]], names[c]); };
      const long index = csv.integer(f[at[c_index]], names[c_index], 0, num_rows - 1);
      if (static_cast<std::size_t>(index) != row)
        csv.fail("column 'index': " + std::to_string(index) + " where row " + std::to_string(row) + " was expected");
      r.index = static_cast<std::uint16_t>(index);
      const std::string_view ops = f[at[c_ops]];
      if (ops.size() != Nb201Arch::num_edges) csv.fail("column 'ops': '" + std::string(ops) + "' is not 6 digits");
      for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e) {
        if (ops[e] < '0' || ops[e] > '4') csv.fail("column 'ops': '" + std::string(ops) + "' has a digit outside 0..4");
        r.arch.ops[e] = static_cast<std::uint8_t>(ops[e] - '0');
      }
      if (Nb201Space::index(r.arch) != row)
        csv.fail("column 'ops': cell " + std::string(ops) + " has NAS-Bench-201 index " +
                 std::to_string(Nb201Space::index(r.arch)) + ", not " + std::to_string(row));
      try {
        if (space.decode(f[at[c_arch]]) != r.arch) csv.fail("column 'arch': string disagrees with column 'ops'");
      } catch (const ParseError& e) {
        csv.fail("column 'arch': " + std::string(e.what()));
      }
      r.iso_rep = static_cast<std::uint16_t>(csv.integer(f[at[c_iso_rep]], names[c_iso_rep], 0, num_rows - 1));
      r.n_seeds = static_cast<std::uint8_t>(csv.integer(f[at[c_n_seeds]], names[c_n_seeds], 0, 255));
      r.bench_params_mismatch = csv.integer(f[at[c_mismatch]], names[c_mismatch], 0, 1) != 0;
      r.valid = {num(c10_valid), num(c100_valid), num(in_valid)};
      r.test = {num(c10_test), num(c100_test), num(in_test)};
      r.valtest = {std::numeric_limits<double>::quiet_NaN(), num(c100_valtest), num(in_valtest)};
      r.params_m = {num(p10), num(p100), num(pin)};
      r.flops_m = {num(f10), num(f100), num(fin)};
      r.train_time_s = {num(t10), num(t100), num(tin)};
      r.valid_12ep = {num(c10_v12), num(c100_v12), num(in_v12)};
      r.test_12ep = {num(c10_t12), num(c100_t12), num(in_t12)};
      ++row;
    }
    if (row != num_rows)
      csv.fail("only " + std::to_string(row) + " of " + std::to_string(num_rows) + " data rows (truncated file?)");
    return t;
  }

  [[nodiscard]] std::size_t size() const noexcept { return records_.size(); }
  [[nodiscard]] const std::vector<Nb201Record>& records() const noexcept { return records_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  /// The record of an official index (unchecked but for NAS_ASSERT).
  [[nodiscard]] const Nb201Record& operator[](std::size_t index) const noexcept {
    NAS_ASSERT(index < records_.size(), "Nb201Table: index out of range");
    return records_[index];
  }
  /// The record of an official index; ConfigError when out of range.
  [[nodiscard]] const Nb201Record& at(std::size_t index) const {
    if (index >= records_.size())
      throw ConfigError("Nb201Table::at: index " + std::to_string(index) + " out of range [0, " +
                        std::to_string(records_.size()) + ")");
    return records_[index];
  }
  /// The record of a cell.
  [[nodiscard]] const Nb201Record& at(const Nb201Arch& a) const { return records_[Nb201Space::index(a)]; }

  /// Loads nb201_seeds.csv(.gz) (`index,seed,cifar10_valid,cifar100_valtest,imagenet16_valtest`)
  /// for per-seed queries. DataError naming file, line and column on bad data.
  void load_seeds(const std::filesystem::path& path) {
    const std::string text = read_file_bytes<std::string>(path.string(), "Nb201Table", max_table_bytes);
    parse_seeds(text, path.string());
  }
  void parse_seeds(std::string_view text, const std::string& name) {
    detail::CsvCursor csv(text, name);
    std::string_view line;
    if (!csv.next_line(line)) csv.fail("empty file (no header line)");
    std::vector<std::string_view> header;
    detail::CsvCursor::split(line, header);
    static constexpr std::array<std::string_view, 5> names{"index", "seed", "cifar10_valid", "cifar100_valtest",
                                                           "imagenet16_valtest"};
    std::array<std::size_t, 5> at{};
    for (std::size_t c = 0; c < names.size(); ++c) {
      std::size_t found = header.size();
      for (std::size_t h = 0; h < header.size(); ++h)
        if (header[h] == names[c]) found = h;
      if (found == header.size()) csv.fail("header has no column '" + std::string(names[c]) + "'");
      at[c] = found;
    }
    std::vector<Nb201SeedResult> results;
    std::vector<std::uint32_t> first(num_rows + 1, 0);
    std::vector<std::uint16_t> owner;
    std::vector<std::string_view> f;
    long previous = -1;
    while (csv.next_line(line)) {
      if (detail::CsvCursor::split(line, f) != header.size())
        csv.fail("row has " + std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()) +
                 " (truncated line?)");
      const long index = csv.integer(f[at[0]], names[0], 0, num_rows - 1);
      if (index < previous) csv.fail("column 'index': rows must be sorted by index (" + std::to_string(index) + " after " +
                                     std::to_string(previous) + ")");
      previous = index;
      Nb201SeedResult s;
      s.seed = static_cast<std::uint16_t>(csv.integer(f[at[1]], names[1], 0, 65535));
      s.cifar10_valid = csv.number(f[at[2]], names[2]);
      s.cifar100_valtest = csv.number(f[at[3]], names[3]);
      s.imagenet16_valtest = csv.number(f[at[4]], names[4]);
      results.push_back(s);
      ++first[static_cast<std::size_t>(index) + 1];
    }
    for (std::size_t i = 0; i < num_rows; ++i) first[i + 1] += first[i];
    for (std::size_t i = 0; i < num_rows; ++i)
      if (first[i + 1] == first[i]) csv.fail("no seed rows for index " + std::to_string(i) + " (truncated file?)");
    seed_results_ = std::move(results);
    seed_first_ = std::move(first);
  }

  [[nodiscard]] bool has_seeds() const noexcept { return !seed_results_.empty(); }

  /// The per-seed 200-epoch results of an index (empty when no seed file is loaded).
  [[nodiscard]] std::span<const Nb201SeedResult> seeds(std::size_t index) const {
    if (!has_seeds()) return {};
    if (index >= num_rows)
      throw ConfigError("Nb201Table::seeds: index " + std::to_string(index) + " out of range [0, 15625)");
    return {seed_results_.data() + seed_first_[index], seed_first_[index + 1] - seed_first_[index]};
  }

 private:
  std::vector<Nb201Record> records_;
  std::vector<Nb201SeedResult> seed_results_;
  std::vector<std::uint32_t> seed_first_;
  std::filesystem::path path_;
};

}  // namespace nas
