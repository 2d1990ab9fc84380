// Fuzz target: ChainSpace::decode over arbitrary text; a decoded network must encode back
// to a string that decodes to the same network.
#include <nas/space/chain_space.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nas_fuzz::expect_only_typed_errors([&] {
    static const nas::ChainSpace space;
    const auto arch = space.decode(text);
    if (!(space.decode(space.encode(arch)) == arch)) std::abort();
  });
  return 0;
}
