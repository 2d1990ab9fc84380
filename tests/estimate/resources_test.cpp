// Resource bounds: loading the benchmark tables stays well under 100 MB of memory, and a long
// search grows memory by its history alone.
// (ctest runs every test case in a process of its own, so the peak is this case's.)
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/tabular.hpp>
#include <nas/hw/device_latency.hpp>
#include <nas/search/evolution.hpp>

namespace {
long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // kilobytes on Linux
}
}  // namespace

TEST_CASE("loading the NB201 table and the device latencies takes under 100 MB", "[estimate][resources]") {
  const auto dir = std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201";
  const long before = peak_rss_kb();
  const auto table = nas::Nb201Table::load(dir / "nb201.csv.gz");
  const auto latency = nas::Nb201DeviceLatency::load(dir / "hw_latency.csv.gz");
  const long grown_mb = (peak_rss_kb() - before) / 1024;
  INFO("peak resident memory grew by " << grown_mb << " MB");
  CHECK(table.at(0).index == 0);
  CHECK(grown_mb < 100);
}

namespace {
long resident_kb() {  // now, not the peak
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
}  // namespace

TEST_CASE("a 100,000-trial regularized evolution on the table grows memory by its history alone", "[estimate][resources]") {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed blocks in a quarantine and pads every allocation, so the
  // resident memory it shows is its own, not the library's.
  WARN("SKIPPED: resident memory is not the library's under AddressSanitizer");
  return;
#endif
  const auto dir = std::filesystem::path(NAS_SOURCE_DIR) / "data" / "nb201";
  const auto table = std::make_shared<const nas::Nb201Table>(nas::Nb201Table::load(dir / "nb201.csv.gz"));
  nas::TabularEstimator bench(table);
  const nas::Nb201Space space;
  const nas::RegularizedEvolution rea({.population = 50, .sample = 10, .seed = 1});
  (void)rea.run(space, bench, nas::Budget{.evaluations = 1000});  // allocator and caches warmed
  const long before = resident_kb();
  const auto result = rea.run(space, bench, nas::Budget{.evaluations = 100000});
  const long run_kb = resident_kb() - before;
  REQUIRE(result.history.size() == 100000);
  // What the history itself occupies: a copy of it, measured the same way.
  const long copy_before = resident_kb();
  const auto copy = result.history;
  const long history_kb = resident_kb() - copy_before;
  INFO("the run grew resident memory by " << run_kb / 1024 << " MB; its history takes " << history_kb / 1024 << " MB");
  REQUIRE(copy.size() == result.history.size());
  CHECK(history_kb > 0);
  CHECK(run_kb <= history_kb + history_kb / 2 + 8 * 1024);
}
