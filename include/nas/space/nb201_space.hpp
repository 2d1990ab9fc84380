// Nb201Space: the NAS-Bench-201 cell (6 edges x 5 ops), its official index and isomorphism classes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/space_size.hpp"

namespace nas {

/// The five NAS-Bench-201 operations, in the benchmark's order; an op code is an index
/// into this array (the same codes as the `ops` column of nb201.csv).
inline constexpr std::array<std::string_view, 5> nb201_op_names{"none", "skip_connect", "nor_conv_1x1",
                                                                "nor_conv_3x3", "avg_pool_3x3"};

/// Op codes by name, for readable code: `Nb201Arch{{nb201::conv3x3, ...}}`.
namespace nb201 {
inline constexpr std::uint8_t none = 0;
inline constexpr std::uint8_t skip = 1;
inline constexpr std::uint8_t conv1x1 = 2;
inline constexpr std::uint8_t conv3x3 = 3;
inline constexpr std::uint8_t avg_pool = 4;
/// NAS-Bench-201's best cell on CIFAR-10 (Dong & Yang 2020), convolution-heavy: the
/// typical cell that thread probes and pace estimates time.
inline constexpr std::string_view best_cifar10 =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
/// NAS-Bench-201's ResNet cell (Dong & Yang 2020; index 11472, 93.91 % CIFAR-10 test in
/// the table): a residual block, the output node summing the input (skip) and two 3x3
/// convolutions in a row. The baseline the benchmark's paper compares searches with.
inline constexpr std::string_view resnet =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
}  // namespace nb201

/// One NAS-Bench-201 cell: 4 nodes (0 = cell input, 3 = cell output), and on each of the
/// 6 edges i -> j (i < j) one of the five operations. Node j sums its incoming edges.
///
/// `ops[e]` is the op code of edge e, edges in the order of the benchmark's string
/// `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3 (see `edges`).
/// This layout is stable: the model layer builds networks from it.
struct Nb201Arch {
  static constexpr std::size_t num_edges = 6;
  static constexpr std::size_t num_ops = 5;
  static constexpr std::size_t num_nodes = 4;

  /// (from, to) of each edge, in `ops` order.
  struct Edge {
    std::uint8_t from;
    std::uint8_t to;
  };
  static constexpr std::array<Edge, num_edges> edges{{{0, 1}, {0, 2}, {1, 2}, {0, 3}, {1, 3}, {2, 3}}};

  std::array<std::uint8_t, num_edges> ops{};

  /// The op name of edge e ("nor_conv_3x3", ...).
  [[nodiscard]] std::string_view op_name(std::size_t e) const { return nb201_op_names[ops[e]]; }

  /// The base-5 number of the op codes, edge 0->1 most significant. This is the position
  /// of the cell in the benchmark's unshuffled enumeration, not its official index (see
  /// Nb201Space::index).
  [[nodiscard]] constexpr std::uint16_t code() const noexcept {
    std::uint16_t c = 0;
    for (auto o : ops) c = static_cast<std::uint16_t>(c * 5 + o);
    return c;
  }
  [[nodiscard]] static constexpr Nb201Arch from_code(std::uint16_t c) noexcept {
    Nb201Arch a;
    for (std::size_t e = num_edges; e-- > 0;) {
      a.ops[e] = static_cast<std::uint8_t>(c % 5);
      c = static_cast<std::uint16_t>(c / 5);
    }
    return a;
  }

  /// The benchmark's string form, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|`.
  [[nodiscard]] std::string str() const {
    std::string s;
    s.reserve(96);
    std::size_t e = 0;
    for (std::size_t node = 1; node < num_nodes; ++node) {
      if (node > 1) s += '+';
      s += '|';
      for (std::size_t from = 0; from < node; ++from, ++e) {
        s += nb201_op_names[ops[e]];
        s += '~';
        s += static_cast<char>('0' + from);
        s += '|';
      }
    }
    return s;
  }

  friend bool operator==(const Nb201Arch&, const Nb201Arch&) = default;
  friend auto operator<=>(const Nb201Arch&, const Nb201Arch&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Nb201Arch& a) { return os << a.str(); }
};

}  // namespace nas

template <>
struct std::hash<nas::Nb201Arch> {
  std::size_t operator()(const nas::Nb201Arch& a) const noexcept {
    return nas::hash_combine(0x51ed27, static_cast<std::size_t>(a.code()));
  }
};

namespace nas {

namespace detail {

// MT19937 seeded as CPython's random.seed(int) does (init_by_array over the seed's
// 32-bit words), with random.shuffle's draws. NAS-Bench-201 numbers its cells by
// shuffling the base-5 enumeration with Python's random.seed(88); reproducing that
// shuffle gives the official index without the table.
class PyMersenneTwister {
 public:
  explicit PyMersenneTwister(std::uint32_t seed) noexcept {
    init_genrand(19650218u);
    const std::uint32_t key[1] = {seed};
    std::size_t i = 1;
    const std::size_t j = 0;
    for (std::size_t k = n; k > 0; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
      ++i;  // the key has one word, so its index j stays 0
      if (i >= n) {
        mt_[0] = mt_[n - 1];
        i = 1;
      }
    }
    for (std::size_t k = n - 1; k > 0; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
      ++i;
      if (i >= n) {
        mt_[0] = mt_[n - 1];
        i = 1;
      }
    }
    mt_[0] = 0x80000000u;
  }

  std::uint32_t next() noexcept {
    if (mti_ >= n) twist();
    std::uint32_t y = mt_[mti_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  // random._randbelow(m) for 0 < m < 2^32: rejection sampling on getrandbits(bit_length(m)).
  std::uint32_t below(std::uint32_t m) noexcept {
    int k = 0;
    for (std::uint32_t x = m; x != 0; x >>= 1) ++k;
    std::uint32_t r = next() >> (32 - k);
    while (r >= m) r = next() >> (32 - k);
    return r;
  }

 private:
  static constexpr std::size_t n = 624;
  static constexpr std::size_t m = 397;

  void init_genrand(std::uint32_t s) noexcept {
    mt_[0] = s;
    for (std::size_t i = 1; i < n; ++i)
      mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
    mti_ = n;
  }
  void twist() noexcept {
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % n] & 0x7fffffffu);
      mt_[k] = mt_[(k + m) % n] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    mti_ = 0;
  }

  std::array<std::uint32_t, n> mt_{};
  std::size_t mti_ = n + 1;
};

// Official index <-> enumeration code.
struct Nb201IndexTables {
  std::array<std::uint16_t, 15625> code_of_index{};
  std::array<std::uint16_t, 15625> index_of_code{};
};

inline const Nb201IndexTables& nb201_index_tables() {
  static const Nb201IndexTables tables = [] {
    Nb201IndexTables t;
    for (std::uint16_t c = 0; c < 15625; ++c) t.code_of_index[c] = c;
    PyMersenneTwister mt(88);
    for (std::uint32_t i = 15625 - 1; i > 0; --i) std::swap(t.code_of_index[i], t.code_of_index[mt.below(i + 1)]);
    for (std::uint16_t i = 0; i < 15625; ++i) t.index_of_code[t.code_of_index[i]] = i;
    return t;
  }();
  return tables;
}

// Each official index's isomorphism representative (built on first use: 15,625 strings).
struct Nb201IsoTables {
  std::array<std::uint16_t, 15625> iso_rep_of_index{};
  std::size_t iso_classes = 0;
};

inline std::string nb201_unique_str(const Nb201Arch& a);

inline const Nb201IsoTables& nb201_iso_tables() {
  static const Nb201IsoTables tables = [] {
    Nb201IsoTables t;
    const auto& idx = nb201_index_tables();
    // Representative = smallest official index with the same unique string.
    std::vector<std::pair<std::string, std::uint16_t>> keyed;
    keyed.reserve(15625);
    for (std::uint16_t i = 0; i < 15625; ++i)
      keyed.emplace_back(nb201_unique_str(Nb201Arch::from_code(idx.code_of_index[i])), i);
    std::sort(keyed.begin(), keyed.end());
    for (std::size_t k = 0; k < keyed.size();) {
      std::size_t end = k;
      while (end < keyed.size() && keyed[end].first == keyed[k].first) ++end;
      for (std::size_t q = k; q < end; ++q) t.iso_rep_of_index[keyed[q].second] = keyed[k].second;
      ++t.iso_classes;
      k = end;
    }
    return t;
  }();
  return tables;
}

// The NATS-Bench "unique string" of a cell (Structure.to_unique_str(consider_zero=True)):
// each node is written as the sorted '+'-join of its incoming terms, where a `none` edge
// or an edge from a zero node is the zero term '#', a skip edge passes its source's
// string through, and any other op wraps it as `(src)@op`. Cells with equal strings
// compute the same function of their input (sums are commutative, skips are identities,
// zero paths drop out of the signal). The rule is syntactic, so a few equivalent cells
// keep different strings (zero terms are written out, e.g. cells with no input-output
// path fall into 5 classes); it is kept as is because it defines the benchmark's classes.
inline std::string nb201_unique_str(const Nb201Arch& a) {
  std::array<std::string, Nb201Arch::num_nodes> node;
  node[0] = "0";
  std::size_t e = 0;
  for (std::size_t j = 1; j < Nb201Arch::num_nodes; ++j) {
    std::vector<std::string> terms;
    terms.reserve(j);
    for (std::size_t i = 0; i < j; ++i, ++e) {
      const auto op = a.ops[e];
      if (op == nb201::none || node[i] == "#")
        terms.emplace_back("#");
      else if (op == nb201::skip)
        terms.push_back(node[i]);
      else
        terms.push_back("(" + node[i] + ")@" + std::string(nb201_op_names[op]));
    }
    std::sort(terms.begin(), terms.end());
    std::string joined;
    for (std::size_t t = 0; t < terms.size(); ++t) {
      if (t > 0) joined += '+';
      joined += terms[t];
    }
    node[j] = std::move(joined);
  }
  return node[Nb201Arch::num_nodes - 1];
}

}  // namespace detail

/// The NAS-Bench-201 / NATS-Bench topology search space (Dong & Yang, ICLR 2020):
/// 5^6 = 15,625 cells.
///
/// Indices are the benchmark's official ones (`api.query_index_by_arch`, the row of
/// nb201.csv). They are not a base-5 number of the op codes: the benchmark enumerated the
/// cells in base-5 order and then shuffled the list with Python's `random.seed(88)`.
/// `index()`/`arch()` replay that shuffle (computed once, on first use), so they need no
/// data file; tests check them against every row of the table.
///
/// Mutation follows the benchmark's regularized-evolution baseline: one random edge gets
/// a different op. `neighbors()` lists all 6 x 4 = 24 single-edge changes.
class Nb201Space {
 public:
  using Arch = Nb201Arch;
  static constexpr std::size_t num_archs = 15625;

  [[nodiscard]] Arch sample(Rng& rng) const {
    Arch a;
    for (auto& o : a.ops) o = static_cast<std::uint8_t>(rng.index(Arch::num_ops));
    return a;
  }

  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const {
    Arch child = a;
    const std::size_t e = rng.index(Arch::num_edges);
    // A uniform draw among the 4 other ops: draw from 0..3 and skip over the current one.
    auto o = static_cast<std::uint8_t>(rng.index(Arch::num_ops - 1));
    if (o >= a.ops[e]) ++o;
    child.ops[e] = o;
    return child;
  }

  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const {
    std::vector<Arch> out;
    out.reserve(Arch::num_edges * (Arch::num_ops - 1));
    for (std::size_t e = 0; e < Arch::num_edges; ++e)
      for (std::uint8_t o = 0; o < Arch::num_ops; ++o)
        if (o != a.ops[e]) {
          Arch n = a;
          n.ops[e] = o;
          out.push_back(n);
        }
    return out;
  }

  [[nodiscard]] std::string encode(const Arch& a) const { return a.str(); }

  /// Parses the benchmark's string form; throws ParseError naming the token and its
  /// character offset. Edges must appear in the benchmark's order (`~0`, `~1`, ...).
  [[nodiscard]] Arch decode(std::string_view text) const { return parse(text); }

  [[nodiscard]] SpaceSize size() const noexcept { return SpaceSize(num_archs); }

  /// The official NAS-Bench-201 index of a cell (0..15624).
  [[nodiscard]] static std::size_t index(const Arch& a) { return detail::nb201_index_tables().index_of_code[a.code()]; }

  /// The cell with official index i; throws ConfigError when i >= 15625.
  [[nodiscard]] static Arch arch(std::size_t i) {
    if (i >= num_archs)
      throw ConfigError("Nb201Space::arch: index " + std::to_string(i) + " out of range [0, 15625)");
    return Arch::from_code(detail::nb201_index_tables().code_of_index[i]);
  }

  /// NATS-Bench's unique string of the cell: equal strings = isomorphic cells.
  [[nodiscard]] static std::string unique_str(const Arch& a) { return detail::nb201_unique_str(a); }

  /// The official index of the isomorphism-class representative (the smallest index with
  /// the same unique string; the `iso_rep` column of nb201.csv).
  [[nodiscard]] static std::size_t iso_rep(const Arch& a) { return detail::nb201_iso_tables().iso_rep_of_index[index(a)]; }

  /// The representative cell of a's isomorphism class.
  [[nodiscard]] static Arch canonical(const Arch& a) { return arch(iso_rep(a)); }

  [[nodiscard]] static bool isomorphic(const Arch& a, const Arch& b) { return iso_rep(a) == iso_rep(b); }

  /// Number of isomorphism classes (6,466).
  [[nodiscard]] static std::size_t num_iso_classes() { return detail::nb201_iso_tables().iso_classes; }

  /// True when some path of non-`none` edges joins the input to the output (otherwise the
  /// cell outputs zeros).
  [[nodiscard]] static bool connected(const Arch& a) noexcept {
    std::array<bool, Arch::num_nodes> live{true, false, false, false};
    for (std::size_t e = 0; e < Arch::num_edges; ++e)
      if (a.ops[e] != nb201::none && live[Arch::edges[e].from]) live[Arch::edges[e].to] = true;
    return live[Arch::num_nodes - 1];
  }

  /// The op code of a name, or -1.
  [[nodiscard]] static int op_code(std::string_view name) noexcept {
    for (std::size_t k = 0; k < nb201_op_names.size(); ++k)
      if (nb201_op_names[k] == name) return static_cast<int>(k);
    return -1;
  }

 private:
  [[noreturn]] static void fail(std::string_view text, std::size_t pos, std::string_view what, std::string_view token) {
    throw ParseError("Nb201Space::decode: " + std::string(what) + " '" + std::string(token) + "' at offset " +
                     std::to_string(pos) + " in \"" + std::string(text) + "\"");
  }

  static Arch parse(std::string_view text) {
    Arch a;
    std::size_t pos = 0, e = 0;
    auto expect = [&](char c) {
      if (pos >= text.size()) fail(text, pos, std::string("expected '") + c + "' but found", "end of text");
      if (text[pos] != c) fail(text, pos, std::string("expected '") + c + "' but found", text.substr(pos, 1));
      ++pos;
    };
    for (std::size_t node = 1; node < Arch::num_nodes; ++node) {
      if (node > 1) expect('+');
      expect('|');
      for (std::size_t from = 0; from < node; ++from, ++e) {
        const std::size_t start = pos;
        while (pos < text.size() && text[pos] != '~' && text[pos] != '|' && text[pos] != '+') ++pos;
        const auto name = text.substr(start, pos - start);
        const int code = op_code(name);
        if (code < 0) fail(text, start, "unknown operation", name.empty() ? std::string_view("(empty)") : name);
        expect('~');
        const std::size_t in_pos = pos;
        while (pos < text.size() && text[pos] != '|' && text[pos] != '+') ++pos;
        const auto in = text.substr(in_pos, pos - in_pos);
        if (in.size() != 1 || in[0] != static_cast<char>('0' + from))
          fail(text, in_pos, "expected input node " + std::to_string(from) + " of node " + std::to_string(node) + " but found",
               in.empty() ? std::string_view("(empty)") : in);
        expect('|');
        a.ops[e] = static_cast<std::uint8_t>(code);
      }
    }
    if (pos != text.size()) fail(text, pos, "unexpected trailing text", text.substr(pos));
    return a;
  }
};

}  // namespace nas
