// Fuzz target: the three tables the library ships (NB201 accuracies, device latencies,
// published zero-cost scores), plain or gzip-compressed: the first byte picks the loader.
#include <nas/estimate/nb201_table.hpp>
#include <nas/estimate/zero_cost.hpp>
#include <nas/hw/device_latency.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 3;
  const std::string& path = nas_fuzz::as_file(data + 1, size - 1, ".table");
  nas_fuzz::expect_only_typed_errors([&] {
    if (which == 0) (void)nas::Nb201Table::load(path);
    if (which == 1) (void)nas::Nb201DeviceLatency::load(path);
    if (which == 2) (void)nas::PublishedZeroCost::load(path);
  });
  return 0;
}
