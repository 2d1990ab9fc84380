// read_file_bytes: a whole file's bytes, inflated when it is gzip-compressed (IDX files, the NB201 table).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// The most bytes a shipped table (the NB201 accuracies, latencies, zero-cost scores: 0.3
/// to 5 MB each) may inflate to: 50 times the largest, so a damaged or hostile file is
/// refused before it fills the memory.
inline constexpr std::size_t max_table_bytes = std::size_t{256} << 20;

/// Reads a whole file, decompressing it when it starts with the gzip magic bytes
/// (1f 8b): the format is detected from the content, never from the file name.
/// Bytes: std::vector<unsigned char> (binary formats) or std::string (text). Throws
/// DataError starting with `where` when the file cannot be opened or read, or its gzip
/// stream is corrupt or cut short.
///
/// `max_bytes` bounds the (inflated) size: a file or gzip stream larger than that is a
/// DataError saying so before it fills the memory (a gzip stream of a few kB can inflate
/// to gigabytes). The tables pass a bound far above their real size; the default is none.
template <class Bytes = std::vector<unsigned char>>
Bytes read_file_bytes(const std::string& path, std::string_view where,
                      std::size_t max_bytes = static_cast<std::size_t>(-1)) {
  const auto too_large = [&](const std::string& what) {
    return DataError(std::string(where) + ": '" + path + "' " + what + ", more than the " + std::to_string(max_bytes) +
                     " bytes this file may hold");
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError(std::string(where) + ": cannot open '" + path + "': " + std::strerror(errno));
  unsigned char head[2] = {0, 0};
  const std::size_t got_head = std::fread(head, 1, 2, f);
  const bool gzip = got_head == 2 && head[0] == 0x1f && head[1] == 0x8b;
  // Size hint: the file size, or for gzip the trailer's ISIZE (uncompressed size mod 2^32),
  // so that the data is read once into a buffer of the right size.
  std::size_t hint = 0;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long end = std::ftell(f);
    if (end > 0) hint = static_cast<std::size_t>(end);
    unsigned char trailer[4];
    if (gzip && end >= 4 && std::fseek(f, -4, SEEK_END) == 0 && std::fread(trailer, 1, 4, f) == 4) {
      const std::size_t isize = std::size_t{trailer[0]} | (std::size_t{trailer[1]} << 8) |
                                (std::size_t{trailer[2]} << 16) | (std::size_t{trailer[3]} << 24);
      // The trailer is only a hint, and a damaged or hostile file may claim 4 GiB: deflate
      // expands at most 1032-fold, so never reserve more than that.
      hint = std::min(isize, static_cast<std::size_t>(end) * 1032 + 64);
    }
    if (!gzip && hint > max_bytes) {
      std::fclose(f);
      throw too_large("is " + std::to_string(hint) + " bytes");
    }
    hint = std::min(hint, max_bytes);
  }
  Bytes bytes(hint + 1, 0);  // one spare byte to see the end without growing
  std::size_t got = 0;
  if (!gzip) {
    std::rewind(f);
    for (;;) {
      if (got == bytes.size()) bytes.resize(bytes.size() * 2);
      const std::size_t n = std::fread(bytes.data() + got, 1, bytes.size() - got, f);
      got += n;
      if (n == 0) break;
      if (got > max_bytes) {  // a file that grew, or a pipe
        std::fclose(f);
        throw too_large("holds over " + std::to_string(max_bytes) + " bytes");
      }
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw DataError(std::string(where) + ": read error on '" + path + "'");
    bytes.resize(got);
    return bytes;
  }
  std::fclose(f);
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw DataError(std::string(where) + ": cannot open '" + path + "' as gzip");
  gzbuffer(gz, 1 << 17);
  for (;;) {
    if (got == bytes.size()) bytes.resize(bytes.size() * 2);
    const auto want = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - got, 1u << 30));
    const int n = gzread(gz, bytes.data() + got, want);
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(gz, &code);
      gzclose(gz);
      throw DataError(std::string(where) + ": truncated or corrupt gzip data in '" + path + "': " + msg);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
    if (got > max_bytes) {
      gzclose(gz);
      throw too_large("inflates to over " + std::to_string(max_bytes) + " bytes");
    }
  }
  // A gzip stream cut short reads as end of file; gzerror reports it as Z_BUF_ERROR.
  int code = 0;
  const char* msg = gzerror(gz, &code);
  const std::string text = msg ? msg : "";
  gzclose(gz);
  if (code != Z_OK && code != Z_STREAM_END)
    throw DataError(std::string(where) + ": truncated or corrupt gzip data in '" + path + "': " + text);
  bytes.resize(got);
  return bytes;
}

}  // namespace nas
