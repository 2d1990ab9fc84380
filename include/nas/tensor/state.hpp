// Module state: in-memory snapshot/restore of all parameters and buffers, and the .nasstate file format.
#pragma once

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define NAS_STATE_HAS_FSYNC 1
#endif

#include "nas/core/error.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// One tensor of a module's state: its path ("body.0.weight"), group and value.
struct StateTensor {
  std::string path;
  ParamGroup group = ParamGroup::weight;
  Tensor value;
};

/// The values of every parameter and buffer of a module (Module::named_state(), in that
/// order), independent of the module instance: restore() puts them into any module with
/// the same paths and shapes. Gradients are not part of it.
struct ModuleState {
  std::vector<StateTensor> tensors;

  /// The tensor at `path`, or null.
  [[nodiscard]] const StateTensor* find(std::string_view path) const {
    for (const auto& t : tensors)
      if (t.path == path) return &t;
    return nullptr;
  }
  /// Total number of floats.
  [[nodiscard]] std::size_t numel() const noexcept {
    std::size_t n = 0;
    for (const auto& t : tensors) n += t.value.numel();
    return n;
  }
};

/// Key/value strings stored with a saved state (architecture, options, anything the caller adds).
using StateMetadata = std::map<std::string, std::string>;

/// Copies every parameter and buffer of `m` into `into`, reusing its storage when it holds
/// a snapshot of the same layout (so a snapshot taken every step allocates only once).
inline void snapshot(Module& m, ModuleState& into) {
  const std::vector<NamedParameter> named = m.named_state();
  bool same = into.tensors.size() == named.size();
  for (std::size_t i = 0; same && i < named.size(); ++i)
    same = into.tensors[i].path == named[i].path && into.tensors[i].value.shape() == named[i].parameter->value.shape();
  if (!same) {
    into.tensors.clear();
    into.tensors.reserve(named.size());
    for (const auto& np : named) into.tensors.push_back(StateTensor{np.path, np.parameter->group, np.parameter->value});
    return;
  }
  for (std::size_t i = 0; i < named.size(); ++i) {
    into.tensors[i].group = named[i].parameter->group;
    into.tensors[i].value.copy_from(named[i].parameter->value);
  }
}

/// A copy of every parameter and buffer of `m`.
[[nodiscard]] inline ModuleState snapshot(Module& m) {
  ModuleState s;
  snapshot(m, s);
  return s;
}

namespace detail {
// Matches `state` against m's named state by path and copies the values in, after checking
// all of them (a failed call leaves the module unchanged). `where` starts each message;
// errors are DataError for a file's state (`from_file`), ConfigError otherwise.
inline void apply_state(Module& m, const ModuleState& state, const std::string& where, bool from_file) {
  auto fail = [&](const std::string& what) {
    if (from_file) throw DataError(where + ": " + what);
    throw ConfigError(where + ": " + what);
  };
  const std::vector<NamedParameter> named = m.named_state();
  const char* source = from_file ? "the file" : "the state";
  std::vector<const StateTensor*> match(named.size(), nullptr);
  bool in_order = state.tensors.size() == named.size();
  for (std::size_t i = 0; in_order && i < named.size(); ++i) in_order = state.tensors[i].path == named[i].path;
  if (in_order) {
    for (std::size_t i = 0; i < named.size(); ++i) match[i] = &state.tensors[i];
  } else {
    std::unordered_map<std::string_view, const StateTensor*> by_path;
    for (const auto& t : state.tensors)
      if (!by_path.emplace(t.path, &t).second) fail(std::string(source) + " holds tensor '" + t.path + "' twice");
    for (std::size_t i = 0; i < named.size(); ++i) {
      const auto it = by_path.find(named[i].path);
      if (it == by_path.end())
        fail(std::string(source) + " has no tensor '" + named[i].path + "' (the module's " +
             to_string(named[i].parameter->group) + " of shape " + named[i].parameter->value.shape().str() + ")");
      match[i] = it->second;
      by_path.erase(it);
    }
    if (!by_path.empty()) {
      // Report the first extra tensor in the state's order.
      for (const auto& t : state.tensors)
        if (by_path.count(t.path))
          fail("tensor '" + t.path + "' (shape " + t.value.shape().str() + ") of " + source +
               " matches nothing in the module (" + std::to_string(by_path.size()) + " extra)");
    }
  }
  for (std::size_t i = 0; i < named.size(); ++i) {
    const Parameter& p = *named[i].parameter;
    const StateTensor& t = *match[i];
    if (t.value.shape() != p.value.shape())
      fail("tensor '" + t.path + "' has shape " + t.value.shape().str() + " in " + source + ", the module expects " +
           p.value.shape().str());
    if (t.group != p.group)
      fail("tensor '" + t.path + "' is a " + to_string(t.group) + " in " + source + ", the module's is a " +
           to_string(p.group));
  }
  for (std::size_t i = 0; i < named.size(); ++i) named[i].parameter->value.copy_from(match[i]->value);
}
}  // namespace detail

/// Puts the values of `state` into `m`'s parameters and buffers, matched by path. Throws
/// ConfigError naming the path for a tensor missing on either side, a shape (both shapes
/// given) or a group that differs; then `m` is left unchanged. Gradients and optimizer
/// state are untouched (SGD::load_state / Adam::load_state restore the latter).
inline void restore(Module& m, const ModuleState& state) { detail::apply_state(m, state, "restore", false); }

// ---------------------------------------------------------------------------------------
// The .nasstate file, format version 1. All integers little-endian, floats IEEE-754
// binary32 little-endian.
//
//   offset  size  field
//   0       8     magic "NASSTATE"
//   8       4     u32 format version (1)
//   12      8     u64 body size B
//   20      B     body
//   20 + B  8     u64 checksum: FNV-1a 64 of bytes [0, 20 + B)
//
//   body:   u32 number of metadata entries, then per entry
//             u32 key length, key bytes, u32 value length, value bytes (UTF-8, sorted by key)
//           u32 number of tensors, then per tensor
//             u32 path length, path bytes, u8 group (0 weight, 1 architecture, 2 buffer),
//             u8 rank (1..4), rank x u32 dimensions, numel x f32 values (row-major)
// ---------------------------------------------------------------------------------------

/// A .nasstate file read into memory: where it came from, its metadata and its tensors.
struct StateFile {
  std::string path;
  StateMetadata metadata;
  ModuleState state;
};

inline constexpr char state_file_magic[8] = {'N', 'A', 'S', 'S', 'T', 'A', 'T', 'E'};
inline constexpr std::uint32_t state_file_version = 1;

namespace detail {
inline constexpr std::size_t state_header_size = 20;

inline std::uint64_t fnv1a64(const char* data, std::size_t n) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}
template <class U>
void put_le(std::string& out, U v) {
  for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_string(std::string& out, const std::string& s) {
  put_le(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}
template <class U>
U get_le(const char* p) noexcept {
  U v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Reads the body with bounds checks; every error names the file and the byte offset.
class StateReader {
 public:
  StateReader(const std::string& file, const std::string& bytes, std::size_t begin, std::size_t end)
      : file_(file), b_(bytes), at_(begin), end_(end) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw DataError("load_state: " + file_ + ": " + what + " at byte offset " + std::to_string(at_));
  }
  const char* take(std::size_t n, const char* what) {
    if (n > end_ - at_)
      fail(std::string(what) + " needs " + std::to_string(n) + " bytes, the body has " + std::to_string(end_ - at_) + " left");
    const char* p = b_.data() + at_;
    at_ += n;
    return p;
  }
  template <class U>
  U get(const char* what) {
    return get_le<U>(take(sizeof(U), what));
  }
  std::string string(const char* what) {
    const auto n = get<std::uint32_t>(what);
    return std::string(take(n, what), n);
  }
  [[nodiscard]] std::size_t offset() const noexcept { return at_; }
  [[nodiscard]] std::size_t left() const noexcept { return end_ - at_; }

 private:
  const std::string& file_;
  const std::string& b_;
  std::size_t at_, end_;
};

inline std::string encode_state_file(const ModuleState& s, const StateMetadata& meta) {
  static_assert(std::endian::native == std::endian::little, "the .nasstate writer stores little-endian floats");
  std::string body;
  put_le(body, static_cast<std::uint32_t>(meta.size()));
  for (const auto& [k, v] : meta) {
    put_string(body, k);
    put_string(body, v);
  }
  put_le(body, static_cast<std::uint32_t>(s.tensors.size()));
  for (const auto& t : s.tensors) {
    if (t.value.rank() < 1)
      throw ConfigError("save_state: tensor '" + t.path + "' has no shape (rank 0)");
    put_string(body, t.path);
    body.push_back(static_cast<char>(t.group));
    body.push_back(static_cast<char>(t.value.rank()));
    for (int d = 0; d < t.value.rank(); ++d) put_le(body, static_cast<std::uint32_t>(t.value.dim(d)));
    body.append(reinterpret_cast<const char*>(t.value.data()), t.value.numel() * sizeof(float));
  }
  std::string out(state_file_magic, sizeof(state_file_magic));
  put_le(out, state_file_version);
  put_le(out, static_cast<std::uint64_t>(body.size()));
  out += body;
  put_le(out, fnv1a64(out.data(), out.size()));
  return out;
}

// Writes `bytes` to a temporary file next to `path`, flushes it to disk, then renames it
// over `path`: a crash leaves either the old file or the new one, never half of one.
inline void write_file_atomically(const std::string& path, const std::string& bytes, const char* where) {
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(rd() & 0xffffffu);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw DataError(std::string(where) + ": cannot open " + tmp + " for writing (saving " + path + ")");
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fflush(f) == 0 && ok;
#ifdef NAS_STATE_HAS_FSYNC
  ok = ::fsync(::fileno(f)) == 0 && ok;
#endif
  ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (!ok) {
    std::filesystem::remove(tmp, ec);
    throw DataError(std::string(where) + ": failed writing " + std::to_string(bytes.size()) + " bytes to " + tmp +
                    " (saving " + path + ")");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw DataError(std::string(where) + ": cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
}
}  // namespace detail

/// Writes `state` and `meta` to `path` as a .nasstate file (format above), through a
/// temporary file renamed into place. Throws DataError naming the file if it cannot be written.
inline void save_state(const std::string& path, const ModuleState& state, const StateMetadata& meta = {}) {
  detail::write_file_atomically(path, detail::encode_state_file(state, meta), "save_state");
}
/// Writes every parameter and buffer of `m` (snapshot(m)) and `meta` to `path`.
inline void save_state(const std::string& path, Module& m, const StateMetadata& meta = {}) {
  save_state(path, snapshot(m), meta);
}

/// Reads a .nasstate file. Throws DataError naming the file and what is wrong: missing,
/// shorter than its header says (truncated), not a .nasstate file (magic), a newer
/// version, a checksum mismatch (corrupt), or a malformed body (with the byte offset).
[[nodiscard]] inline StateFile read_state_file(const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "the .nasstate reader loads little-endian floats");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("load_state: cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const std::string& what) { throw DataError("load_state: " + path + ": " + what); };
  const std::size_t hs = detail::state_header_size;
  if (bytes.size() < sizeof(state_file_magic))
    fail("truncated: " + std::to_string(bytes.size()) + " bytes, a .nasstate file starts with the 8-byte magic \"NASSTATE\"");
  if (std::memcmp(bytes.data(), state_file_magic, sizeof(state_file_magic)) != 0)
    fail("not a .nasstate file (the first 8 bytes are not the magic \"NASSTATE\")");
  if (bytes.size() < hs + 8)
    fail("truncated: " + std::to_string(bytes.size()) + " bytes, a header and checksum need " + std::to_string(hs + 8));
  const auto version = detail::get_le<std::uint32_t>(bytes.data() + 8);
  if (version != state_file_version)
    fail("format version " + std::to_string(version) + ", this reader knows version " + std::to_string(state_file_version));
  const auto body = detail::get_le<std::uint64_t>(bytes.data() + 12);
  if (body > bytes.size() || bytes.size() != hs + body + 8)
    fail((bytes.size() < hs + body + 8 ? "truncated: " : "trailing bytes: ") + std::to_string(bytes.size()) +
         " bytes, the header announces " + std::to_string(body) + " bytes of body, " + std::to_string(hs + body + 8) +
         " in all");
  const auto stored = detail::get_le<std::uint64_t>(bytes.data() + hs + body);
  const auto computed = detail::fnv1a64(bytes.data(), hs + body);
  if (stored != computed)
    fail("corrupt: the checksum of bytes 0.." + std::to_string(hs + body) + " does not match the stored one");

  StateFile f;
  f.path = path;
  detail::StateReader r(path, bytes, hs, hs + body);
  const auto entries = r.get<std::uint32_t>("the metadata count");
  for (std::uint32_t i = 0; i < entries; ++i) {
    std::string key = r.string("a metadata key");
    std::string value = r.string("a metadata value");
    f.metadata.insert_or_assign(std::move(key), std::move(value));
  }
  const auto count = r.get<std::uint32_t>("the tensor count");
  for (std::uint32_t i = 0; i < count; ++i) {
    StateTensor t;
    t.path = r.string("a tensor path");
    const auto group = r.get<std::uint8_t>("a tensor group");
    if (group > static_cast<std::uint8_t>(ParamGroup::buffer))
      r.fail("tensor '" + t.path + "' has group code " + std::to_string(group) + " (expected 0, 1 or 2)");
    t.group = static_cast<ParamGroup>(group);
    const auto rank = r.get<std::uint8_t>("a tensor rank");
    if (rank < 1 || rank > Shape::max_rank)
      r.fail("tensor '" + t.path + "' has rank " + std::to_string(rank) + " (expected 1 to " +
             std::to_string(Shape::max_rank) + ")");
    int dims[Shape::max_rank] = {1, 1, 1, 1};
    std::uint64_t numel = 1;
    for (int d = 0; d < rank; ++d) {
      const auto v = r.get<std::uint32_t>("a tensor dimension");
      if (v < 1 || v > 0x7fffffffu)
        r.fail("tensor '" + t.path + "' has dimension " + std::to_string(v) + " (expected 1 to 2147483647)");
      dims[d] = static_cast<int>(v);
      // Checked before multiplying, so that four large dimensions cannot wrap around to a
      // small count that passes the size check below.
      if (numel > r.left() / sizeof(float) / v)
        r.fail("tensor '" + t.path + "' needs more bytes of values than the body's " + std::to_string(r.left()) + " left");
      numel *= v;
    }
    if (numel * sizeof(float) > r.left())
      r.fail("tensor '" + t.path + "' needs " + std::to_string(numel * sizeof(float)) + " bytes of values, the body has " +
             std::to_string(r.left()) + " left");
    const Shape shape = rank == 1   ? Shape{dims[0]}
                        : rank == 2 ? Shape{dims[0], dims[1]}
                        : rank == 3 ? Shape{dims[0], dims[1], dims[2]}
                                    : Shape{dims[0], dims[1], dims[2], dims[3]};
    t.value = Tensor(shape);
    std::memcpy(t.value.data(), r.take(numel * sizeof(float), "tensor values"), numel * sizeof(float));
    f.state.tensors.push_back(std::move(t));
  }
  if (r.left() != 0) r.fail(std::to_string(r.left()) + " bytes after the last tensor");
  return f;
}

/// Puts a read file's tensors into `m` as restore() does; errors are DataError naming the
/// file and the tensor path (missing, extra, other shape or group), leaving `m` unchanged.
inline void load_state(const StateFile& file, Module& m) {
  detail::apply_state(m, file.state, "load_state: " + file.path, true);
}
/// Reads `path` into `m`'s parameters and buffers and returns the file's metadata.
inline StateMetadata load_state(const std::string& path, Module& m) {
  StateFile f = read_state_file(path);
  load_state(f, m);
  return std::move(f.metadata);
}

}  // namespace nas

#undef NAS_STATE_HAS_FSYNC
