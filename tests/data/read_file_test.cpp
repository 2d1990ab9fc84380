// read_file_bytes on hostile files: empty, huge (sparse), a gzip bomb, a lying gzip trailer.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nas/data/read_file.hpp>
#include <nas/estimate/nb201_table.hpp>

namespace {
namespace fs = std::filesystem;

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("nas_read_file_" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir / name).string(); }
};

void write_gzip(const std::string& path, const std::string& text) {
  gzFile g = gzopen(path.c_str(), "wb9");
  REQUIRE(g != nullptr);
  REQUIRE(gzwrite(g, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
  gzclose(g);
}
}  // namespace

TEST_CASE("an empty file reads as no bytes, and a table made of it names the problem", "[data][read_file]") {
  Scratch s;
  std::ofstream(s.path("empty"));
  CHECK(nas::read_file_bytes(s.path("empty"), "test").empty());
  CHECK_THROWS_AS(nas::Nb201Table::load(s.path("empty")), nas::DataError);
}

TEST_CASE("a file larger than its bound is refused by its size before it is read", "[data][read_file]") {
  Scratch s;
  const std::string huge = s.path("huge.csv");
  {
    std::ofstream f(huge);
  }
  fs::resize_file(huge, std::uintmax_t{3} << 30);  // 3 GiB, sparse: no disk, no memory
  CHECK_THROWS_WITH(nas::read_file_bytes(huge, "test", std::size_t{1} << 20),
                    Catch::Contains("huge.csv") && Catch::Contains("3221225472 bytes") && Catch::Contains("1048576"));
  CHECK_THROWS_WITH(nas::Nb201Table::load(huge), Catch::StartsWith("Nb201Table: ") && Catch::Contains("3221225472"));
}

TEST_CASE("a gzip stream that inflates past its bound stops there", "[data][read_file]") {
  Scratch s;
  const std::string bomb = s.path("bomb.gz");
  write_gzip(bomb, std::string(std::size_t{8} << 20, 'a'));  // 8 MiB of one letter: about 8 kB compressed
  CHECK(fs::file_size(bomb) < 64 * 1024);
  CHECK_THROWS_WITH(nas::read_file_bytes(bomb, "test", std::size_t{1} << 20), Catch::Contains("inflates to over 1048576"));
  CHECK(nas::read_file_bytes(bomb, "test").size() == std::size_t{8} << 20);  // unbounded: all of it
}

TEST_CASE("a gzip trailer that lies about the size neither fails nor sizes the buffer", "[data][read_file]") {
  Scratch s;
  const std::string liar = s.path("liar.gz");
  write_gzip(liar, "hello, table\n");
  {
    std::fstream f(liar, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-4, std::ios::end);
    const char claim[4] = {'\xff', '\xff', '\xff', '\xff'};  // ISIZE 4 GiB - 1
    f.write(claim, 4);
  }
  // zlib checks the trailer's length at the end of the stream: the lie is a corrupt file.
  CHECK_THROWS_WITH(nas::read_file_bytes(liar, "test"), Catch::Contains("corrupt gzip"));
}
