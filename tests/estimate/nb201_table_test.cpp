// Nb201Table: loading the shipped table, known rows, index and isomorphism agreement, bad files.
#include <catch2/catch.hpp>

#include <nas/estimate/nb201_table.hpp>

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

fs::path shipped_table() { return fs::path(NAS_SOURCE_DIR) / "data" / "nb201" / "nb201.csv.gz"; }
fs::path shipped_seeds() { return fs::path(NAS_SOURCE_DIR) / "data" / "nb201" / "nb201_seeds.csv.gz"; }

const nas::Nb201Table& table() {
  static const nas::Nb201Table t = nas::Nb201Table::load(shipped_table());
  return t;
}

// The shipped table as plain CSV text (decompressed once).
const std::string& csv_text() {
  static const std::string text = nas::read_file_bytes<std::string>(shipped_table().string(), "test");
  return text;
}

// A file in the temp directory, removed at scope exit.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name, const std::string& bytes)
      : path(fs::temp_directory_path() / ("nas_nb201_test_" + std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

std::string load_error(const fs::path& p) {
  try {
    (void)nas::Nb201Table::load(p);
  } catch (const nas::DataError& e) {
    return e.what();
  }
  return "no error";
}

// Offset of the start of 1-based line `line` of the text.
std::size_t line_start(const std::string& text, std::size_t line) {
  std::size_t pos = 0;
  for (std::size_t l = 1; l < line; ++l) pos = text.find('\n', pos) + 1;
  return pos;
}

std::string gzip(const std::string& plain) {
  uLongf size = compressBound(static_cast<uLong>(plain.size())) + 64;
  std::string out(size, '\0');
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

TEST_CASE("Nb201Table loads the shipped table with all 15,625 rows", "[estimate][nb201]") {
  const auto& t = table();
  REQUIRE(t.size() == 15625);
  REQUIRE(t.path() == shipped_table());
  for (std::size_t i = 0; i < t.size(); ++i) {
    REQUIRE(t[i].index == i);
    REQUIRE(t[i].arch == nas::Nb201Space::arch(i));
    REQUIRE((t[i].n_seeds == 2 || t[i].n_seeds == 3));
  }
}

TEST_CASE("Nb201Table holds the benchmark's known rows", "[estimate][nb201]") {
  const auto& t = table();
  // The CIFAR-10 test optimum.
  const auto& best = t.at(6111);
  REQUIRE(best.test[0] == Approx(94.3733).margin(1e-4));
  REQUIRE(best.valid[0] == Approx(91.6067).margin(1e-4));
  for (const auto& r : t.records()) REQUIRE(r.test[0] <= best.test[0]);
  // The all-skip cell DARTS collapses to: the paper's DARTS row.
  const auto& skip = t.at(nas::Nb201Arch{{1, 1, 1, 1, 1, 1}});
  REQUIRE(skip.index == 1835);
  REQUIRE(skip.valid[0] == Approx(39.769).margin(1e-3));
  REQUIRE(skip.test[0] == Approx(54.297).margin(1e-3));
  REQUIRE(skip.valid[1] == Approx(15.033).margin(1e-3));
  REQUIRE(skip.test[1] == Approx(15.607).margin(1e-3));
  REQUIRE(skip.valid[2] == Approx(16.433).margin(1e-3));
  REQUIRE(skip.test[2] == Approx(16.322).margin(1e-3));
  // Row 0 as written in the file.
  const auto& r0 = t.at(0);
  REQUIRE(r0.valid_12ep[0] == Approx(63.364));
  REQUIRE(r0.test_12ep[2] == Approx(17.0));
  REQUIRE(r0.params_m[0] == Approx(0.129306));
  REQUIRE(r0.flops_m[2] == Approx(3.91948));
  REQUIRE(r0.train_time_s[1] == Approx(2888.4372));
  REQUIRE(r0.valtest[1] == Approx(52.806667));
  REQUIRE(std::isnan(r0.valtest[0]));
  REQUIRE_THROWS_AS(t.at(15625), nas::ConfigError);
}

TEST_CASE("Nb201Space isomorphism classes agree with the table's iso_rep on every row", "[estimate][nb201]") {
  std::size_t agree = 0;
  for (const auto& r : table().records()) agree += nas::Nb201Space::iso_rep(r.arch) == r.iso_rep;
  std::cout << "Nb201Space::iso_rep agrees with nb201.csv iso_rep on " << agree << " of 15625 rows\n";
  REQUIRE(agree == 15625);
}

TEST_CASE("Nb201Table reads plain and gzip files alike", "[estimate][nb201]") {
  const TempFile plain("plain.csv", csv_text());
  const auto t = nas::Nb201Table::load(plain.path);
  REQUIRE(t.size() == 15625);
  REQUIRE(t[6111].test[0] == table()[6111].test[0]);
  REQUIRE(t[15624].valid_12ep[2] == table()[15624].valid_12ep[2]);
}

TEST_CASE("Nb201Table names file, line and column for bad data", "[estimate][nb201]") {
  const std::string& text = csv_text();
  SECTION("missing file") {
    REQUIRE_THAT(load_error("/nonexistent/nb201.csv"), Catch::Contains("/nonexistent/nb201.csv") && Catch::Contains("cannot open"));
  }
  SECTION("file cut in the middle of a row") {
    const std::size_t cut = line_start(text, 502) + 40;
    const TempFile f("cut.csv", text.substr(0, cut));
    REQUIRE_THAT(load_error(f.path), Catch::Contains(f.path.string() + ":502:") && Catch::Contains("fields"));
  }
  SECTION("rows missing at the end") {
    const TempFile f("short.csv", text.substr(0, line_start(text, 102)));
    REQUIRE_THAT(load_error(f.path), Catch::Contains("only 100 of 15625"));
  }
  SECTION("a field that is not a number") {
    std::string bad = text;
    const std::size_t row = line_start(bad, 12);
    // Fields: index,arch,ops,iso_rep,n_seeds,bench_params_mismatch,cifar10_valid,...
    std::size_t field = row;
    for (int k = 0; k < 6; ++k) field = bad.find(',', field) + 1;
    bad.replace(field, bad.find(',', field) - field, "9x.5");
    const TempFile f("nan.csv", bad);
    REQUIRE_THAT(load_error(f.path), Catch::Contains(":12:") && Catch::Contains("'cifar10_valid'") && Catch::Contains("'9x.5'"));
  }
  SECTION("a missing column") {
    std::string bad = text;
    const std::size_t at = bad.find("flops_m_cifar100");
    bad.replace(at, 16, "flops_m_c100xxxx");
    const TempFile f("header.csv", bad);
    REQUIRE_THAT(load_error(f.path), Catch::Contains(":1:") && Catch::Contains("'flops_m_cifar100'"));
  }
  SECTION("rows out of order") {
    const std::size_t a = line_start(text, 3), b = line_start(text, 4), c = line_start(text, 5);
    std::string bad = text.substr(0, a) + text.substr(b, c - b) + text.substr(a, b - a) + text.substr(c);
    const TempFile f("order.csv", bad);
    REQUIRE_THAT(load_error(f.path), Catch::Contains(":3:") && Catch::Contains("column 'index'"));
  }
  SECTION("an ops string that disagrees with the arch string") {
    std::string bad = text;
    const std::size_t row = line_start(bad, 2);  // index 0, ops 421211
    const std::size_t ops = bad.find(",421211,", row);
    bad.replace(ops + 1, 6, "421212");
    const TempFile f("ops.csv", bad);
    REQUIRE_THAT(load_error(f.path), Catch::Contains(":2:") && Catch::Contains("column 'ops'"));
  }
  SECTION("a truncated gzip file") {
    const std::string gz = gzip(text);
    const TempFile f("cut.csv.gz", gz.substr(0, gz.size() / 2));
    REQUIRE_THAT(load_error(f.path), Catch::Contains("truncated or corrupt gzip"));
  }
  SECTION("an empty file") {
    const TempFile f("empty.csv", "");
    REQUIRE_THAT(load_error(f.path), Catch::Contains("empty file"));
  }
}

TEST_CASE("Nb201Table loads the per-seed results", "[estimate][nb201]") {
  nas::Nb201Table t = nas::Nb201Table::load(shipped_table());
  REQUIRE_FALSE(t.has_seeds());
  REQUIRE(t.seeds(0).empty());
  t.load_seeds(shipped_seeds());
  REQUIRE(t.has_seeds());
  std::size_t total = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto s = t.seeds(i);
    REQUIRE(s.size() == t[i].n_seeds);
    total += s.size();
  }
  REQUIRE(total == 39419);
  const auto s0 = t.seeds(0);
  REQUIRE(s0[0].seed == 777);
  REQUIRE(s0[0].cifar10_valid == Approx(82.092));
  REQUIRE(s0[1].cifar100_valtest == Approx(53.38));
  // The table's cifar10 valid accuracy is the mean over the seeds.
  double mean = 0.0;
  for (const auto& r : s0) mean += r.cifar10_valid;
  REQUIRE(mean / static_cast<double>(s0.size()) == Approx(t[0].valid[0]).margin(1e-3));
  REQUIRE_THROWS_AS(t.parse_seeds("index,seed\n0,777\n", "bad_seeds.csv"), nas::DataError);
}

TEST_CASE("default_nb201_path honours NAS_NB201_TABLE, then the source tree", "[estimate][nb201]") {
  const TempFile f("env.csv", "x");
  ::setenv("NAS_NB201_TABLE", f.path.c_str(), 1);
  REQUIRE(nas::default_nb201_path() == f.path);
  ::setenv("NAS_NB201_TABLE", "/nonexistent/elsewhere.csv", 1);
  REQUIRE(nas::default_nb201_path() == shipped_table());
  const auto places = nas::nb201_search_paths();
  REQUIRE(places.front() == fs::path("/nonexistent/elsewhere.csv"));
  ::unsetenv("NAS_NB201_TABLE");
  REQUIRE(nas::default_nb201_path() == shipped_table());
  REQUIRE(nas::default_nb201_seeds_path() == shipped_seeds());
}

TEST_CASE("parse_nb201_dataset accepts the benchmark's names and rejects others", "[estimate][nb201]") {
  REQUIRE(nas::parse_nb201_dataset("cifar10") == nas::Nb201Dataset::cifar10);
  REQUIRE(nas::parse_nb201_dataset("cifar10-valid") == nas::Nb201Dataset::cifar10);
  REQUIRE(nas::parse_nb201_dataset("cifar100") == nas::Nb201Dataset::cifar100);
  REQUIRE(nas::parse_nb201_dataset("ImageNet16-120") == nas::Nb201Dataset::imagenet16);
  REQUIRE(nas::to_string(nas::Nb201Dataset::imagenet16) == "imagenet16");
  REQUIRE_THROWS_WITH(nas::parse_nb201_dataset("mnist"), Catch::Contains("'mnist'"));
}

TEST_CASE("A table found nowhere is a DataError listing every place looked in", "[estimate][nb201]") {
  const std::vector<fs::path> places{"/nonexistent/a/nb201.csv.gz", "/nonexistent/b/nb201.csv.gz"};
  try {
    (void)nas::detail::find_first(places, "the table");
    FAIL("no error");
  } catch (const nas::DataError& e) {
    REQUIRE_THAT(e.what(), Catch::Contains("/nonexistent/a/nb201.csv.gz") && Catch::Contains("/nonexistent/b/nb201.csv.gz") &&
                               Catch::Contains("not found"));
  }
}
