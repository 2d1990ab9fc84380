// IDX reader: good files (plain and gzip) load; corrupt ones raise DataError naming the problem.
#include <catch2/catch.hpp>

#include <nas/data/fashion_mnist.hpp>
#include <nas/data/idx.hpp>

#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("nas_idx_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void put_be32(std::vector<unsigned char>& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

std::vector<unsigned char> idx_labels(const std::vector<unsigned char>& labels, std::uint32_t count,
                                      std::uint32_t magic = 0x801) {
  std::vector<unsigned char> b;
  put_be32(b, magic);
  put_be32(b, count);
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::vector<unsigned char> idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                                      std::size_t payload_bytes, std::uint32_t magic = 0x803) {
  std::vector<unsigned char> b;
  put_be32(b, magic);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  for (std::size_t i = 0; i < payload_bytes; ++i) b.push_back(static_cast<unsigned char>(i % 256));
  return b;
}

void write_plain(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(gz);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const nas::DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("IDX files load the same whether plain or gzip-compressed, whatever their name", "[data][idx]") {
  TempDir dir;
  const std::vector<unsigned char> labels = {3, 0, 9};
  const auto img = idx_images(3, 2, 2, 12);
  write_plain(dir.file("labels.idx"), idx_labels(labels, 3));
  write_plain(dir.file("images.idx"), img);
  // gzip content under a name without .gz: detection is by magic bytes.
  write_gz(dir.file("labels.bin"), idx_labels(labels, 3));
  write_gz(dir.file("images.gz"), img);

  for (auto [ip, lp] : {std::pair{"images.idx", "labels.idx"}, std::pair{"images.gz", "labels.bin"}}) {
    const nas::Dataset d = nas::load_idx(dir.file(ip), dir.file(lp), 10);
    REQUIRE(d.size() == 3);
    REQUIRE(d.channels == 1);
    REQUIRE(d.height == 2);
    REQUIRE(d.width == 2);
    REQUIRE(d.labels == std::vector<std::int32_t>{3, 0, 9});
    REQUIRE(d.images.size() == 12);
    REQUIRE(d.images[0] == 0.0f);
    REQUIRE(d.images[5] == Approx(5.0f / 255.0f));
    REQUIRE(d.image(2)[3] == Approx(11.0f / 255.0f));
  }
}

TEST_CASE("IDX reader names a missing file", "[data][idx]") {
  TempDir dir;
  const auto msg = error_of([&] { nas::read_idx_labels(dir.file("nope.idx")); });
  REQUIRE_THAT(msg, Catch::Contains("nope.idx") && Catch::Contains("cannot open"));
}

TEST_CASE("IDX reader rejects a bad magic number, plain or gzip", "[data][idx]") {
  TempDir dir;
  write_plain(dir.file("a.idx"), idx_labels({1, 2}, 2, 0x803));
  write_gz(dir.file("b.idx.gz"), idx_images(1, 2, 2, 4, 0x801));
  REQUIRE_THAT(error_of([&] { nas::read_idx_labels(dir.file("a.idx")); }),
               Catch::Contains("a.idx") && Catch::Contains("bad magic number 0x00000803") &&
                   Catch::Contains("0x00000801"));
  REQUIRE_THAT(error_of([&] { nas::read_idx_images(dir.file("b.idx.gz")); }),
               Catch::Contains("b.idx.gz") && Catch::Contains("bad magic number"));
}

TEST_CASE("IDX reader reports truncated data with expected and actual sizes", "[data][idx]") {
  TempDir dir;
  write_plain(dir.file("short.idx"), idx_images(2, 3, 3, 10));  // needs 18 payload bytes
  write_gz(dir.file("short.gz"), idx_labels({1, 2}, 5));        // needs 5 labels
  write_plain(dir.file("tiny.idx"), {0, 0});
  REQUIRE_THAT(error_of([&] { nas::read_idx_images(dir.file("short.idx")); }),
               Catch::Contains("short.idx") && Catch::Contains("truncated data") && Catch::Contains("expected 34 bytes") &&
                   Catch::Contains("got 26"));
  REQUIRE_THAT(error_of([&] { nas::read_idx_labels(dir.file("short.gz")); }),
               Catch::Contains("truncated data") && Catch::Contains("expected 13 bytes, got 10"));
  REQUIRE_THAT(error_of([&] { nas::read_idx_labels(dir.file("tiny.idx")); }), Catch::Contains("truncated"));
}

TEST_CASE("IDX reader rejects a gzip stream cut in the middle", "[data][idx]") {
  TempDir dir;
  write_gz(dir.file("full.gz"), idx_images(50, 10, 10, 5000));
  std::ifstream in(dir.file("full.gz"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  bytes.resize(bytes.size() / 2);
  std::ofstream(dir.file("cut.gz"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE_THAT(error_of([&] { nas::read_idx_images(dir.file("cut.gz")); }), Catch::Contains("cut.gz"));
}

TEST_CASE("IDX reader names a label out of range and its index", "[data][idx]") {
  TempDir dir;
  write_gz(dir.file("l.gz"), idx_labels({0, 4, 12, 1}, 4));
  REQUIRE_THAT(error_of([&] { nas::read_idx_labels(dir.file("l.gz"), 10); }),
               Catch::Contains("label 12 at index 2") && Catch::Contains("expected < 10"));
  REQUIRE(nas::read_idx_labels(dir.file("l.gz")).size() == 4);  // no class limit given
}

TEST_CASE("load_idx rejects mismatched image and label counts", "[data][idx]") {
  TempDir dir;
  write_plain(dir.file("i.idx"), idx_images(3, 2, 2, 12));
  write_plain(dir.file("l.idx"), idx_labels({1, 2}, 2));
  REQUIRE_THAT(error_of([&] { nas::load_idx(dir.file("i.idx"), dir.file("l.idx"), 10); }),
               Catch::Contains("mismatched") && Catch::Contains("3 images") && Catch::Contains("2 labels"));
}

TEST_CASE("load_fashion_mnist reads a given directory or NAS_FASHION_MNIST_DIR, plain or gzip files", "[data][idx]") {
  TempDir dir;
  write_plain(dir.file("train-images-idx3-ubyte"), idx_images(4, 28, 28, 4 * 784));
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_labels({0, 1, 2, 9}, 4));
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_images(2, 28, 28, 2 * 784));
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_labels({5, 7}, 2));

  const auto a = nas::load_fashion_mnist(dir.path.string());
  REQUIRE(a.train.size() == 4);
  REQUIRE(a.test.labels == std::vector<std::int32_t>{5, 7});
  REQUIRE(a.train.class_names.at(9) == "Ankle boot");

  ::setenv("NAS_FASHION_MNIST_DIR", dir.path.string().c_str(), 1);
  const auto found = nas::find_fashion_mnist();
  const auto b = nas::load_fashion_mnist();
  ::unsetenv("NAS_FASHION_MNIST_DIR");
  REQUIRE(found == dir.path.string());
  REQUIRE(b.train.images == a.train.images);

  // A corrupt file in the directory is reported with its name.
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_labels({0, 1, 12, 9}, 4));
  REQUIRE_THAT(error_of([&] { nas::load_fashion_mnist(dir.path.string()); }),
               Catch::Contains("train-labels-idx1-ubyte") && Catch::Contains("label 12 at index 2"));
}
