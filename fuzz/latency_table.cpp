// Fuzz target: LatencyTable::parse, the per-op latency CSV that latency_model writes and
// --latency-table reads; a parsed table must save and parse back to the same entries.
#include <nas/hw/latency_table.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nas_fuzz::expect_only_typed_errors([&] {
    const auto table = nas::LatencyTable::parse(text, "fuzz.csv");
    const auto again = nas::LatencyTable::parse(table.to_csv(), "fuzz.csv (written back)");
    if (again.entries().size() != table.entries().size()) std::abort();
  });
  return 0;
}
