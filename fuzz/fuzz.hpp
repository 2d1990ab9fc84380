// Shared pieces of the fuzz targets: the bytes as a temporary file for loaders that read
// paths, and the rule that only the library's own typed errors are an expected outcome.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <nas/core/error.hpp>

namespace nas_fuzz {

/// Writes the input to a file of this process's own (in /tmp) and returns its path.
inline const std::string& as_file(const std::uint8_t* data, std::size_t size, const char* suffix) {
  static const std::string path = "/tmp/nas_fuzz_" + std::to_string(::getpid()) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

/// Runs `f`; a nas::Error (ParseError, DataError, ConfigError) is the answer to bad input
/// and ends the run quietly. Any other exception escapes, and the fuzzer reports it as a
/// crash: bad input must never get anything but a typed error naming what is wrong.
template <class F>
void expect_only_typed_errors(F&& f) {
  try {
    f();
  } catch (const nas::Error&) {
  }
}

}  // namespace nas_fuzz
