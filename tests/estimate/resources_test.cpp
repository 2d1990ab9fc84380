// Resource bounds: loading the benchmark tables stays well under 100 MB of memory.
// (ctest runs every test case in a process of its own, so the peak is this case's.)
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <filesystem>

#include <nas/estimate/nb201_table.hpp>
#include <nas/hw/device_latency.hpp>

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
