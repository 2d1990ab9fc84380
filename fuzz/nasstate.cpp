// Fuzz target: .nasstate files and the saved networks built from them. The checksum is
// recomputed over the fuzzed bytes first (when the header is long enough), so that the
// mutations reach the body's parser instead of stopping at the checksum every time.
#include <cstring>
#include <vector>

#include <nas/model/save.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  constexpr std::size_t header = nas::detail::state_header_size;
  if (bytes.size() >= header + 8) {
    const std::size_t covered = bytes.size() - 8;
    const std::uint64_t sum = nas::detail::fnv1a64(reinterpret_cast<const char*>(bytes.data()), covered);
    std::memcpy(bytes.data() + covered, &sum, 8);  // little-endian, as the format
  }
  const std::string& path = nas_fuzz::as_file(bytes.data(), bytes.size(), ".nasstate");
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::read_state_file(path); });
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::load_network(path, nas::Nb201Space{}); });
  return 0;
}
