// Writes a tiny stand-in for Fashion-MNIST (same file names and IDX format, 28x28 uint8,
// 10 classes of smooth random patterns with noise) so the main job can be tested end to
// end without the real data:  nas_tiny_fashion_mnist DIR [TRAIN TEST]
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nas/data/synthetic.hpp>

namespace {

void put32(std::vector<unsigned char>& b, unsigned v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>((v >> s) & 0xFFU));
}

bool write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  if (!gz) return false;
  const bool ok = gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size());
  return gzclose(gz) == Z_OK && ok;
}

bool write_set(const nas::Dataset& d, const std::string& dir, const std::string& prefix) {
  std::vector<unsigned char> img, lab;
  put32(img, 0x803);
  put32(img, static_cast<unsigned>(d.size()));
  put32(img, 28);
  put32(img, 28);
  put32(lab, 0x801);
  put32(lab, static_cast<unsigned>(d.size()));
  for (float v : d.images) img.push_back(static_cast<unsigned char>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)));
  for (int y : d.labels) lab.push_back(static_cast<unsigned char>(y));
  return write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz", img) &&
         write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", lab);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nas_tiny_fashion_mnist DIR [TRAIN TEST]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::size_t train = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1500;
  const std::size_t test = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 300;
  std::filesystem::create_directories(dir);
  const nas::TrainTest d = nas::make_synthetic({.classes = 10, .channels = 1, .height = 28, .width = 28, .train = train,
                                                .test = test, .noise = 0.15, .max_shift = 2, .seed = 11});
  if (!write_set(d.train, dir, "train") || !write_set(d.test, dir, "t10k")) {
    std::fprintf(stderr, "nas_tiny_fashion_mnist: could not write the files in %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
