// Fuzz target: Nb201Space::decode over arbitrary text; a decoded cell must encode back to
// a string that decodes to the same cell.
#include <nas/space/nb201_space.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nas_fuzz::expect_only_typed_errors([&] {
    const nas::Nb201Space space;
    const auto arch = space.decode(text);
    if (!(space.decode(space.encode(arch)) == arch)) std::abort();
  });
  return 0;
}
