// NumPy .npy files: write float32 tensors, read float32/float64/int64 arrays (format v1-v3).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

namespace detail {
inline void npy_fail(const std::string& path, const std::string& what) {
  throw DataError("load_npy: " + path + ": " + what);
}

// The value of `key` in the header dictionary, e.g. "'<f4'" or "(2, 3)" (raw text).
inline std::string npy_field(const std::string& header, const std::string& key, const std::string& path) {
  const std::string k = "'" + key + "'";
  const auto at = header.find(k);
  if (at == std::string::npos) npy_fail(path, "header has no " + k + " entry");
  auto p = header.find(':', at + k.size());
  if (p == std::string::npos) npy_fail(path, "header entry " + k + " has no value");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) npy_fail(path, "header entry " + k + " is truncated");
  std::size_t end;
  if (header[p] == '(') {
    end = header.find(')', p);
    if (end == std::string::npos) npy_fail(path, "unterminated shape tuple");
    return header.substr(p, end - p + 1);
  }
  if (header[p] == '\'' || header[p] == '"') {
    end = header.find(header[p], p + 1);
    if (end == std::string::npos) npy_fail(path, "unterminated string in entry " + k);
    return header.substr(p + 1, end - p - 1);
  }
  end = header.find_first_of(",}", p);
  if (end == std::string::npos) npy_fail(path, "header entry " + k + " is truncated");
  auto v = header.substr(p, end - p);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}
}  // namespace detail

/// Writes `t` as a little-endian float32 .npy file (format 1.0), shape = t.shape().
/// Throws DataError naming the file when it cannot be written.
inline void save_npy(const std::string& path, const Tensor& t) {
  static_assert(std::endian::native == std::endian::little, "save_npy writes little-endian floats");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < t.rank(); ++i) dict += std::to_string(t.dim(i)) + (t.rank() == 1 || i + 1 < t.rank() ? ", " : "");
  if (t.rank() == 1) dict.pop_back();  // "(5,)"
  dict += "), }";
  // magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
  std::size_t total = 10 + dict.size() + 1;
  const std::size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw DataError("save_npy: cannot open " + path + " for writing");
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(magic, 8);
  const auto len = static_cast<std::uint16_t>(dict.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  if (!out) throw DataError("save_npy: failed writing " + path);
}

/// Reads a C-order .npy array of dtype '<f4', '<f8' or '<i8' (the latter two converted to
/// float) with rank 1 to 4. Throws DataError naming the file for a missing, truncated or
/// unsupported file.
inline Tensor load_npy(const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "load_npy reads little-endian data");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("load_npy: cannot open " + path);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) detail::npy_fail(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) detail::npy_fail(path, "truncated header length");
    hlen = static_cast<std::uint32_t>(b[0] | (b[1] << 8));
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) detail::npy_fail(path, "truncated header length");
    hlen = static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
           (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  } else {
    detail::npy_fail(path, "unsupported format version " + std::to_string(major));
  }
  if (hlen > (1u << 20)) detail::npy_fail(path, "header length " + std::to_string(hlen) + " is implausible");
  std::string header(hlen, '\0');
  if (!in.read(header.data(), hlen)) detail::npy_fail(path, "truncated header");

  const std::string descr = detail::npy_field(header, "descr", path);
  const std::string fortran = detail::npy_field(header, "fortran_order", path);
  const std::string shape_text = detail::npy_field(header, "shape", path);
  if (fortran != "False") detail::npy_fail(path, "fortran_order " + fortran + " is not supported (expected False)");
  std::size_t item = 0;
  if (descr == "<f4")
    item = 4;
  else if (descr == "<f8" || descr == "<i8")
    item = 8;
  else
    detail::npy_fail(path, "dtype '" + descr + "' is not supported (expected '<f4', '<f8' or '<i8')");

  std::vector<int> dims;
  std::size_t p = 1;
  while (p < shape_text.size()) {
    while (p < shape_text.size() && (shape_text[p] == ' ' || shape_text[p] == ',')) ++p;
    if (p >= shape_text.size() || shape_text[p] == ')') break;
    std::size_t q = p;
    long long v = 0;
    while (q < shape_text.size() && shape_text[q] >= '0' && shape_text[q] <= '9') {
      v = v * 10 + (shape_text[q] - '0');
      if (v > 0x7fffffffLL) detail::npy_fail(path, "dimension too large in shape " + shape_text);
      ++q;
    }
    if (q == p) detail::npy_fail(path, "bad shape " + shape_text);
    dims.push_back(static_cast<int>(v));
    p = q;
  }
  if (dims.empty() || dims.size() > static_cast<std::size_t>(Shape::max_rank))
    detail::npy_fail(path, "rank " + std::to_string(dims.size()) + " of shape " + shape_text + " is not in [1, 4]");
  // The values must be in the file before anything is allocated for them: a header that
  // claims a huge shape gets an error, not an allocation of gigabytes. Checked factor by
  // factor, so that the product cannot wrap around.
  const std::streamoff data_at = in.tellg();
  in.seekg(0, std::ios::end);
  const std::streamoff file_end = in.tellg();
  in.seekg(data_at);
  const auto available = static_cast<std::uint64_t>(std::max<std::streamoff>(0, file_end - data_at));
  std::uint64_t count = 1;
  for (int d : dims) {
    if (d < 1) detail::npy_fail(path, "shape " + shape_text + " has an empty dimension");
    if (count > available / item / static_cast<std::uint64_t>(d))
      detail::npy_fail(path, "truncated data: shape " + shape_text + " needs more than the file's " +
                                 std::to_string(available) + " bytes of values");
    count *= static_cast<std::uint64_t>(d);
  }
  Shape shape;
  switch (dims.size()) {
    case 1: shape = Shape{dims[0]}; break;
    case 2: shape = Shape{dims[0], dims[1]}; break;
    case 3: shape = Shape{dims[0], dims[1], dims[2]}; break;
    default: shape = Shape{dims[0], dims[1], dims[2], dims[3]}; break;
  }
  Tensor t(shape);
  const std::size_t n = shape.numel();
  if (item == 4) {
    if (!in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(n * 4)))
      detail::npy_fail(path, "truncated data (expected " + std::to_string(n) + " float32 values)");
  } else {
    std::vector<char> raw(n * 8);
    if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size())))
      detail::npy_fail(path, "truncated data (expected " + std::to_string(n) + " 8-byte values)");
    for (std::size_t i = 0; i < n; ++i) {
      if (descr == "<f8") {
        double d;
        std::memcpy(&d, raw.data() + i * 8, 8);
        t[i] = static_cast<float>(d);
      } else {
        std::int64_t v;
        std::memcpy(&v, raw.data() + i * 8, 8);
        t[i] = static_cast<float>(v);
      }
    }
  }
  return t;
}

}  // namespace nas
