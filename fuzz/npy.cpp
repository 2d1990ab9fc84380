// Fuzz target: .npy tensor files.
#include <nas/tensor/npy.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = nas_fuzz::as_file(data, size, ".npy");
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::load_npy(path); });
  return 0;
}
