// Program helpers: option checks name option, value and rule; output directories are
// checked before work; run_program turns every exception into a message and a status.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <nas/report/program.hpp>

TEST_CASE("option checks name the option, the value and what is allowed", "[report][program]") {
  CHECK_NOTHROW(nas::require_at_least("--population", 2, 2));
  CHECK_THROWS_WITH(nas::require_at_least("--population", 0, 2), "--population 0 must be >= 2");
  CHECK_THROWS_WITH(nas::require_at_least("--lr", -0.5, 0.0), "--lr -0.5 must be >= 0");
  CHECK_THROWS_AS(nas::require_at_least("--lr", std::nan(""), 0.0), nas::ConfigError);
  CHECK_NOTHROW(nas::require_in_range("--runs", std::size_t{1}, std::size_t{1}, std::size_t{10000}));
  CHECK_THROWS_WITH(nas::require_in_range("--runs", std::size_t{0}, std::size_t{1}, std::size_t{10000}),
                    "--runs 0 must be in [1, 10000]");
  CHECK_THROWS_WITH(nas::require_in_range("--eta", 1.0, 1.5, 100.0), "--eta 1 must be in [1.5, 100]");
  CHECK_NOTHROW(nas::require_one_of("--strategy", "sh", {"rea", "sh"}));
  CHECK_THROWS_WITH(nas::require_one_of("--strategy", "foo", {"rea", "sh"}), "--strategy 'foo' must be one of: rea, sh");
}

TEST_CASE("an output directory that cannot be written is reported before any work", "[report][program]") {
  const auto base = std::filesystem::temp_directory_path() / "nas_program_test";
  std::filesystem::remove_all(base);
  CHECK_NOTHROW(nas::require_writable_directory("--out", base / "a" / "b"));
  CHECK(std::filesystem::is_directory(base / "a" / "b"));
  CHECK(std::filesystem::is_empty(base / "a" / "b"));  // the probe is gone
  std::ofstream(base / "file") << "x";
  CHECK_THROWS_WITH(nas::require_writable_directory("--out", base / "file"),
                    Catch::StartsWith("--out '" + (base / "file").string() + "': "));
  CHECK_THROWS_WITH(nas::require_writable_directory("--out", base / "file" / "sub"),
                    Catch::Contains("cannot create the directory"));
  CHECK_THROWS_AS(nas::require_writable_directory("--out", "/proc/nas_cannot_be_here"), nas::ConfigError);
  std::filesystem::remove_all(base);
}

TEST_CASE("run_program maps every exception to a status and never lets one escape", "[report][program]") {
  CHECK(nas::run_program("p", [] { return 0; }) == 0);
  CHECK(nas::run_program("p", [] { return 3; }) == 3);
  CHECK(nas::run_program("p", []() -> int { throw nas::ConfigError("--x 0 must be >= 1"); }) == 2);
  CHECK(nas::run_program("p", []() -> int { throw nas::DataError("file.csv line 3: bad"); }) == 1);
  CHECK(nas::run_program("p", []() -> int { throw std::bad_alloc(); }) == 1);
  CHECK(nas::run_program("p", []() -> int { throw std::logic_error("bug"); }) == 1);
  CHECK(nas::run_program("p", []() -> int { throw 42; }) == 1);
}
