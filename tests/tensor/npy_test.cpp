// .npy files: float32 round trip, float64/int64 conversion, errors naming the file.
#include <catch2/catch.hpp>

#include <nas/tensor/npy.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nas_npy_test_" + name)).string();
}
// Writes a v1 .npy file with the given header dictionary and raw payload.
void write_npy(const std::string& path, const std::string& dict, const void* data, std::size_t bytes, int major = 1) {
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY", 6);
  out.put(static_cast<char>(major));
  out.put(0);
  std::string h = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64) h += ' ';
  h += '\n';
  if (major == 1) {
    out.put(static_cast<char>(h.size() & 0xff));
    out.put(static_cast<char>(h.size() >> 8));
  } else {
    for (int i = 0; i < 4; ++i) out.put(static_cast<char>((h.size() >> (8 * i)) & 0xff));
  }
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}
}  // namespace

TEST_CASE("save_npy then load_npy returns the same shape and values", "[tensor][npy]") {
  const auto path = temp_path("roundtrip.npy");
  nas::Rng rng(3);
  for (const nas::Shape& s : {nas::Shape{7}, nas::Shape{2, 3}, nas::Shape{2, 3, 4}, nas::Shape{2, 3, 4, 5}}) {
    nas::Tensor t(s);
    t.fill_normal(rng);
    nas::save_npy(path, t);
    const nas::Tensor u = nas::load_npy(path);
    REQUIRE(u.shape() == s);
    for (std::size_t i = 0; i < t.numel(); ++i) REQUIRE(u[i] == t[i]);
  }
  // The header is padded so that the data starts at a multiple of 64 bytes.
  REQUIRE((std::filesystem::file_size(path) - 2 * 3 * 4 * 5 * 4) % 64 == 0);
  std::remove(path.c_str());
}

TEST_CASE("load_npy converts float64 and int64 arrays, including format version 2", "[tensor][npy]") {
  const auto path = temp_path("f8.npy");
  const double d[6] = {0.5, -1.25, 3.0, 1e-3, 2.0, 7.0};
  write_npy(path, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", d, sizeof d);
  nas::Tensor t = nas::load_npy(path);
  REQUIRE(t.shape() == nas::Shape{3, 2});
  for (int i = 0; i < 6; ++i) REQUIRE(t[static_cast<std::size_t>(i)] == static_cast<float>(d[i]));

  const std::int64_t l[3] = {-4, 0, 9};
  write_npy(path, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", l, sizeof l, 2);
  t = nas::load_npy(path);
  REQUIRE(t.shape() == nas::Shape{3});
  REQUIRE(t[0] == -4.0f);
  REQUIRE(t[2] == 9.0f);
  std::remove(path.c_str());
}

TEST_CASE("load_npy throws DataError naming the file for bad files", "[tensor][npy]") {
  const auto path = temp_path("bad.npy");
  const float f[4] = {1, 2, 3, 4};
  auto fails_naming_file = [&](const std::string& what) {
    try {
      (void)nas::load_npy(path);
      FAIL("no exception for " << what);
    } catch (const nas::DataError& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(path) != std::string::npos);
    }
  };
  { std::ofstream(path, std::ios::binary) << "PK\x03\x04 not numpy"; }
  fails_naming_file("bad magic");
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, sizeof f);
  fails_naming_file("truncated data");
  write_npy(path, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f, sizeof f);
  fails_naming_file("big-endian dtype");
  write_npy(path, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, sizeof f);
  fails_naming_file("fortran order");
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 4), }", f, sizeof f);
  fails_naming_file("rank 5");
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, }", f, sizeof f);
  fails_naming_file("missing shape");
  // Found by fuzzing: a header claiming a huge shape over a few bytes of data allocated
  // gigabytes before it found the data missing. Now nothing is allocated first.
  write_npy(path, "{'descr': '<i8', 'fortran_order': False, 'shape': (58817178, 3), }", f, sizeof f);
  REQUIRE_THROWS_WITH(nas::load_npy(path), Catch::Contains("needs more than the file's 16 bytes"));
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }", f, sizeof f);
  REQUIRE_THROWS_WITH(nas::load_npy(path), Catch::Contains("truncated data"));  // the product wraps 2^64
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648,), }", f, sizeof f);
  REQUIRE_THROWS_WITH(nas::load_npy(path), Catch::Contains("dimension too large"));
  write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", f, sizeof f);
  REQUIRE_THROWS_WITH(nas::load_npy(path), Catch::Contains("empty dimension"));
  std::remove(path.c_str());
  REQUIRE_THROWS_AS(nas::load_npy(temp_path("does_not_exist.npy")), nas::DataError);
}
