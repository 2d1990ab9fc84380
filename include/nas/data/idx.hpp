// IDX reader (the MNIST file format): idx1-ubyte labels and idx3-ubyte images, plain or gzip.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"
#include "nas/data/read_file.hpp"

namespace nas {

namespace detail {

inline std::uint32_t read_be32(const unsigned char* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// Parses an IDX header (magic 00 00 08 <ndims>, then ndims big-endian sizes) and
/// checks that exactly prod(dims) payload bytes follow.
inline std::vector<std::uint32_t> parse_idx_header(const std::vector<unsigned char>& bytes, const std::string& path,
                                                   std::uint32_t expected_magic, const char* kind, const char* where) {
  const std::string place = std::string(where) + ": '" + path + "'";
  if (bytes.size() < 4)
    throw DataError(place + ": truncated data: expected at least 4 bytes of header, got " + std::to_string(bytes.size()));
  const std::uint32_t magic = read_be32(bytes.data());
  if (magic != expected_magic)
    throw DataError(place + ": bad magic number " + hex32(magic) + " (expected " + hex32(expected_magic) + " for " +
                    kind + ")");
  const std::size_t ndims = expected_magic & 0xffu;
  const std::size_t header = 4 + 4 * ndims;
  if (bytes.size() < header)
    throw DataError(place + ": truncated data: expected " + std::to_string(header) + " header bytes, got " +
                    std::to_string(bytes.size()));
  std::vector<std::uint32_t> dims(ndims);
  std::uint64_t payload = 1;
  for (std::size_t d = 0; d < ndims; ++d) {
    dims[d] = read_be32(bytes.data() + 4 + 4 * d);
    payload *= dims[d];
  }
  const std::uint64_t expected = header + payload;
  if (bytes.size() != expected)
    throw DataError(place + (bytes.size() < expected ? ": truncated data" : ": trailing data") + ": expected " +
                    std::to_string(expected) + " bytes, got " + std::to_string(bytes.size()));
  return dims;
}

}  // namespace detail

/// IDX images: `count` images of rows x cols bytes, row-major.
struct IdxImages {
  std::size_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<unsigned char> pixels;  ///< count * rows * cols bytes
};

/// Reads an idx3-ubyte image file (magic 0x00000803), gzip-compressed or plain.
/// Throws DataError naming the file for a missing file, a bad magic number or a size
/// that does not match the header.
inline IdxImages read_idx_images(const std::string& path) {
  constexpr const char* where = "read_idx_images";
  auto bytes = read_file_bytes(path, where);
  const auto dims = detail::parse_idx_header(bytes, path, 0x00000803u, "idx3-ubyte images", where);
  IdxImages out;
  out.count = dims[0];
  out.rows = static_cast<int>(dims[1]);
  out.cols = static_cast<int>(dims[2]);
  bytes.erase(bytes.begin(), bytes.begin() + 16);  // in place: no second buffer of the whole file
  out.pixels = std::move(bytes);
  return out;
}

/// Reads an idx1-ubyte label file (magic 0x00000801), gzip-compressed or plain.
/// With `classes` > 0, a label >= classes is a DataError naming it and its index.
inline std::vector<std::int32_t> read_idx_labels(const std::string& path, int classes = 0) {
  constexpr const char* where = "read_idx_labels";
  auto bytes = read_file_bytes(path, where);
  detail::parse_idx_header(bytes, path, 0x00000801u, "idx1-ubyte labels", where);
  std::vector<std::int32_t> labels(bytes.size() - 8);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = bytes[8 + i];
    if (classes > 0 && labels[i] >= classes)
      throw DataError(std::string(where) + ": '" + path + "': label " + std::to_string(labels[i]) + " at index " +
                      std::to_string(i) + ", expected < " + std::to_string(classes));
  }
  return labels;
}

/// Reads a pair of IDX files into a Dataset of 1 x rows x cols images with pixels
/// scaled to [0, 1]. Throws DataError if the two files hold different counts.
inline Dataset load_idx(const std::string& images_path, const std::string& labels_path, int classes) {
  if (classes <= 0) throw ConfigError("load_idx: number of classes (" + std::to_string(classes) + ") must be > 0");
  auto labels = read_idx_labels(labels_path, classes);
  auto raw = read_idx_images(images_path);
  if (raw.count != labels.size())
    throw DataError("load_idx: mismatched image/label counts: '" + images_path + "' holds " +
                    std::to_string(raw.count) + " images, '" + labels_path + "' holds " +
                    std::to_string(labels.size()) + " labels");
  Dataset d;
  d.channels = 1;
  d.height = raw.rows;
  d.width = raw.cols;
  d.classes = classes;
  d.labels = std::move(labels);
  d.images.resize(raw.pixels.size());
  constexpr float scale = 1.0f / 255.0f;
  for (std::size_t i = 0; i < raw.pixels.size(); ++i) d.images[i] = static_cast<float>(raw.pixels[i]) * scale;
  return d;
}

}  // namespace nas
