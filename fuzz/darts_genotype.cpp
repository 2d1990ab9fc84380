// Fuzz target: CellSpace::decode (DARTS genotypes) over arbitrary text, with the
// encode/decode round trip checked on whatever decodes.
#include <nas/space/cell_space.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nas::CellSpace space = nas::CellSpace::darts();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nas_fuzz::expect_only_typed_errors([&] {
    const auto arch = space.decode(text);
    if (!(space.decode(space.encode(arch)) == arch)) std::abort();
  });
  return 0;
}
