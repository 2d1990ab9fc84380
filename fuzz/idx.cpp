// Fuzz target: IDX image and label files (Fashion-MNIST's format), plain or gzip.
#include <nas/data/idx.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = nas_fuzz::as_file(data, size, ".idx");
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::read_idx_images(path); });
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::read_idx_labels(path, 10); });
  return 0;
}
