// CellSpace: DARTS-style cells where each node picks two (input, op) pairs; seed and DARTS presets.
#pragma once

#include <algorithm>
#include <cctype>
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

/// One incoming edge of an intermediate node: which earlier state feeds it and which op
/// it applies. `input` numbers states as DARTS genotypes do: 0 .. inputs-1 are the cell's
/// inputs (c_{k-2}, c_{k-1} with two inputs), then `inputs + k` is intermediate node k.
/// `op` indexes the space's op list (CellSpace::ops()).
struct CellPick {
  std::uint8_t input = 0;
  std::uint8_t op = 0;
  friend bool operator==(const CellPick&, const CellPick&) = default;
  friend auto operator<=>(const CellPick&, const CellPick&) = default;
};

/// A cell architecture: for node k, `normal[2k]` and `normal[2k + 1]` are its two picks;
/// `reduce` holds the reduction cell the same way, and is empty when the space has a
/// single cell type. The node's output is the sum of its two picks; the cell's output
/// concatenates all intermediate nodes (DARTS' `concat=range(2, 2 + nodes)`).
/// This layout is stable: the model layer builds networks from it.
struct CellArch {
  std::vector<CellPick> normal;
  std::vector<CellPick> reduce;

  [[nodiscard]] std::size_t num_nodes() const noexcept { return normal.size() / 2; }

  friend bool operator==(const CellArch&, const CellArch&) = default;
  friend auto operator<=>(const CellArch&, const CellArch&) = default;

  /// Compact numeric form `normal=[op@input ...]` (the space's encode() gives the names).
  friend std::ostream& operator<<(std::ostream& os, const CellArch& a) {
    auto list = [&os](const std::vector<CellPick>& picks) {
      os << '[';
      for (std::size_t i = 0; i < picks.size(); ++i) {
        if (i > 0) os << (i % 2 == 0 ? " | " : " ");
        os << static_cast<int>(picks[i].op) << '@' << static_cast<int>(picks[i].input);
      }
      os << ']';
    };
    os << "normal=";
    list(a.normal);
    if (!a.reduce.empty()) {
      os << " reduce=";
      list(a.reduce);
    }
    return os;
  }
};

}  // namespace nas

template <>
struct std::hash<nas::CellArch> {
  std::size_t operator()(const nas::CellArch& a) const noexcept {
    std::size_t h = 0xce11;
    for (const auto& p : a.normal) h = nas::hash_combine(h, (std::size_t{p.input} << 8) | p.op);
    h = nas::hash_combine(h, a.reduce.size());
    for (const auto& p : a.reduce) h = nas::hash_combine(h, (std::size_t{p.input} << 8) | p.op);
    return h;
  }
};

namespace nas {

/// A cell-based search space (Zoph et al. 2018; Liu et al., DARTS, ICLR 2019): each of
/// `nodes` intermediate nodes picks two (input, op) pairs among the cell inputs and the
/// earlier nodes.
///
/// How the two picks of a node are counted:
/// - `distinct_inputs = false` (the seed's space, and the default): the two picks are
///   ordered and may repeat, so node k offers ((inputs + k) x |ops|)^2 choices. The seed's
///   4 nodes x 5 ops give 100, 225, 400, 625 choices and 5,625,000,000 cells.
/// - `distinct_inputs = true` (DARTS proper): the two picks come from two different
///   inputs and the pair is unordered, so node k offers C(inputs + k, 2) x |ops|^2 choices.
///   Architectures keep a node's picks sorted by input (decode() sorts them).
///
/// `reduction = true` adds a reduction cell with the same rules; the size is then squared.
class CellSpace {
 public:
  using Arch = CellArch;

  /// Space options (aggregate): `CellSpace({.nodes = 3, .ops = {"conv3x3", "skip"}})`.
  struct Options {
    std::size_t nodes = 4;
    std::vector<std::string> ops{"conv3x3", "conv5x5", "maxpool", "skip", "none"};
    std::size_t inputs = 2;
    bool reduction = false;
    bool distinct_inputs = false;
  };

  CellSpace() : CellSpace(Options{}) {}
  explicit CellSpace(Options options) : opt_(std::move(options)) { validate(); }

  /// The seed's space: 4 nodes, ops {conv3x3, conv5x5, maxpool, skip, none}, 2 inputs,
  /// one cell, ordered picks with repetition: 5,625,000,000 cells.
  [[nodiscard]] static CellSpace seed() { return CellSpace(Options{}); }

  /// The DARTS space (Liu et al. 2019): 8 ops, 4 nodes, 2 inputs, normal and reduction
  /// cells, two distinct inputs per node. With `none` among the ops that is
  /// (64 x 192 x 384 x 640)^2 ~ 9.1e18 cells; without it (7 ops, as the paper counts) ~1.1e18.
  [[nodiscard]] static CellSpace darts() {
    return CellSpace(Options{.nodes = 4,
                             .ops = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                     "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"},
                             .inputs = 2,
                             .reduction = true,
                             .distinct_inputs = true});
  }

  [[nodiscard]] const Options& options() const noexcept { return opt_; }
  [[nodiscard]] const std::vector<std::string>& ops() const noexcept { return opt_.ops; }
  [[nodiscard]] std::size_t num_nodes() const noexcept { return opt_.nodes; }
  [[nodiscard]] std::size_t num_inputs() const noexcept { return opt_.inputs; }
  [[nodiscard]] bool has_reduction() const noexcept { return opt_.reduction; }

  /// The op code of a name, or -1.
  [[nodiscard]] int op_code(std::string_view name) const noexcept {
    for (std::size_t k = 0; k < opt_.ops.size(); ++k)
      if (opt_.ops[k] == name) return static_cast<int>(k);
    return -1;
  }

  /// Choices offered by each intermediate node of one cell.
  [[nodiscard]] std::vector<SpaceSize> choices_per_node() const {
    std::vector<SpaceSize> out;
    out.reserve(opt_.nodes);
    const SpaceSize n_ops(opt_.ops.size());
    for (std::size_t k = 0; k < opt_.nodes; ++k) {
      const unsigned long long m = opt_.inputs + k;
      if (opt_.distinct_inputs)
        out.push_back(SpaceSize(m * (m - 1) / 2) * n_ops * n_ops);
      else
        out.push_back(SpaceSize(m) * n_ops * SpaceSize(m) * n_ops);
    }
    return out;
  }

  /// Cells of one type (the product of choices_per_node()).
  [[nodiscard]] SpaceSize cell_size() const {
    SpaceSize s(1);
    for (auto c : choices_per_node()) s *= c;
    return s;
  }

  [[nodiscard]] SpaceSize size() const {
    const SpaceSize c = cell_size();
    return opt_.reduction ? c * c : c;
  }

  [[nodiscard]] Arch sample(Rng& rng) const {
    Arch a;
    a.normal = sample_cell(rng);
    if (opt_.reduction) a.reduce = sample_cell(rng);
    return a;
  }

  /// Changes exactly one choice: one pick's op (to another op) or its input (to another
  /// allowed input), uniformly over (cell, node, pick, kind) slots that have an alternative.
  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const {
    check_arch(a, "CellSpace::mutate");
    if (size() == SpaceSize(1)) throw ConfigError("CellSpace::mutate: the space has a single architecture");
    Arch child = a;
    const std::size_t cells = opt_.reduction ? 2 : 1;
    for (;;) {
      auto& picks = (rng.index(cells) == 0) ? child.normal : child.reduce;
      const std::size_t node = rng.index(opt_.nodes);
      const std::size_t slot = 2 * node + rng.index(2);
      if (rng.index(2) == 0) {
        if (opt_.ops.size() < 2) continue;
        auto o = static_cast<std::uint8_t>(rng.index(opt_.ops.size() - 1));
        if (o >= picks[slot].op) ++o;
        picks[slot].op = o;
        return child;
      }
      std::vector<std::uint8_t> alternatives = input_alternatives(picks, node, slot);
      if (alternatives.empty()) continue;
      picks[slot].input = alternatives[rng.index(alternatives.size())];
      normalize_node(picks, node);
      return child;
    }
  }

  /// Every architecture one choice away (one op or one input of one pick), all distinct.
  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const {
    check_arch(a, "CellSpace::neighbors");
    std::vector<Arch> out;
    auto cell_neighbors = [&](bool reduce_cell) {
      const auto& picks = reduce_cell ? a.reduce : a.normal;
      for (std::size_t node = 0; node < opt_.nodes; ++node)
        for (std::size_t slot = 2 * node; slot < 2 * node + 2; ++slot) {
          for (std::size_t o = 0; o < opt_.ops.size(); ++o) {
            if (o == picks[slot].op) continue;
            Arch n = a;
            (reduce_cell ? n.reduce : n.normal)[slot].op = static_cast<std::uint8_t>(o);
            out.push_back(std::move(n));
          }
          for (auto in : input_alternatives(picks, node, slot)) {
            Arch n = a;
            auto& np = reduce_cell ? n.reduce : n.normal;
            np[slot].input = in;
            normalize_node(np, node);
            out.push_back(std::move(n));
          }
        }
    };
    cell_neighbors(false);
    if (opt_.reduction) cell_neighbors(true);
    return out;
  }

  /// DARTS' genotype text, e.g.
  /// `Genotype(normal=[('conv3x3', 0), ('skip', 1), ...], normal_concat=range(2, 6))`,
  /// with `reduce=[...], reduce_concat=range(2, 6)` when the space has a reduction cell.
  [[nodiscard]] std::string encode(const Arch& a) const {
    check_arch(a, "CellSpace::encode");
    std::string s = "Genotype(normal=";
    append_list(s, a.normal);
    s += ", normal_concat=";
    append_concat(s);
    if (opt_.reduction) {
      s += ", reduce=";
      append_list(s, a.reduce);
      s += ", reduce_concat=";
      append_concat(s);
    }
    s += ')';
    return s;
  }

  /// Parses a genotype (either quote style, any spacing, keyword arguments in any order;
  /// concat may be `range(a, b)` or a list and must name every intermediate node).
  /// Throws ParseError naming the token and its character offset.
  [[nodiscard]] Arch decode(std::string_view text) const;

  /// Throws ConfigError (naming `where`) unless `a` has this space's shape and ranges.
  void check_arch(const Arch& a, const char* where) const {
    const std::size_t want = 2 * opt_.nodes;
    if (a.normal.size() != want || a.reduce.size() != (opt_.reduction ? want : 0))
      throw ConfigError(std::string(where) + ": architecture has " + std::to_string(a.normal.size()) + " normal and " +
                        std::to_string(a.reduce.size()) + " reduce picks, the space expects " + std::to_string(want) +
                        " and " + std::to_string(opt_.reduction ? want : 0));
    auto check = [&](const std::vector<CellPick>& picks) {
      for (std::size_t i = 0; i < picks.size(); ++i) {
        const std::size_t limit = opt_.inputs + i / 2;
        if (picks[i].input >= limit || picks[i].op >= opt_.ops.size())
          throw ConfigError(std::string(where) + ": pick " + std::to_string(i) + " (input " +
                            std::to_string(picks[i].input) + ", op " + std::to_string(picks[i].op) +
                            ") out of range (inputs < " + std::to_string(limit) + ", ops < " +
                            std::to_string(opt_.ops.size()) + ")");
        if (opt_.distinct_inputs && i % 2 == 1 && picks[i - 1].input >= picks[i].input)
          throw ConfigError(std::string(where) + ": node " + std::to_string(i / 2) +
                            " must pick two different inputs in increasing order");
      }
    };
    check(a.normal);
    check(a.reduce);
  }

 private:
  void validate() const {
    if (opt_.nodes == 0) throw ConfigError("CellSpace: nodes (0) must be >= 1");
    if (opt_.inputs == 0) throw ConfigError("CellSpace: inputs (0) must be >= 1");
    if (opt_.distinct_inputs && opt_.inputs < 2)
      throw ConfigError("CellSpace: distinct_inputs needs at least 2 cell inputs (inputs = " +
                        std::to_string(opt_.inputs) + ")");
    if (opt_.inputs + opt_.nodes > 255)
      throw ConfigError("CellSpace: inputs + nodes (" + std::to_string(opt_.inputs + opt_.nodes) + ") exceeds 255");
    if (opt_.ops.empty() || opt_.ops.size() > 255)
      throw ConfigError("CellSpace: the op list has " + std::to_string(opt_.ops.size()) + " entries (1..255 allowed)");
    for (std::size_t i = 0; i < opt_.ops.size(); ++i) {
      const auto& name = opt_.ops[i];
      if (name.empty() || name.find_first_of("'\"\\") != std::string::npos)
        throw ConfigError("CellSpace: op name '" + name + "' is empty or contains a quote or backslash");
      for (std::size_t j = 0; j < i; ++j)
        if (opt_.ops[j] == name) throw ConfigError("CellSpace: op '" + name + "' is listed twice");
    }
  }

  std::vector<CellPick> sample_cell(Rng& rng) const {
    std::vector<CellPick> picks(2 * opt_.nodes);
    for (std::size_t node = 0; node < opt_.nodes; ++node) {
      const std::size_t m = opt_.inputs + node;
      auto& p0 = picks[2 * node];
      auto& p1 = picks[2 * node + 1];
      if (opt_.distinct_inputs) {
        std::size_t a = rng.index(m), b = rng.index(m - 1);
        if (b >= a) ++b;
        if (a > b) std::swap(a, b);
        p0.input = static_cast<std::uint8_t>(a);
        p1.input = static_cast<std::uint8_t>(b);
      } else {
        p0.input = static_cast<std::uint8_t>(rng.index(m));
        p1.input = static_cast<std::uint8_t>(rng.index(m));
      }
      p0.op = static_cast<std::uint8_t>(rng.index(opt_.ops.size()));
      p1.op = static_cast<std::uint8_t>(rng.index(opt_.ops.size()));
    }
    return picks;
  }

  // Inputs the pick at `slot` could switch to (excluding its own, and with distinct
  // inputs, the other pick's).
  std::vector<std::uint8_t> input_alternatives(const std::vector<CellPick>& picks, std::size_t node,
                                               std::size_t slot) const {
    std::vector<std::uint8_t> out;
    const std::size_t m = opt_.inputs + node;
    const std::size_t other = slot ^ 1u;
    for (std::size_t in = 0; in < m; ++in) {
      if (in == picks[slot].input) continue;
      if (opt_.distinct_inputs && in == picks[other].input) continue;
      out.push_back(static_cast<std::uint8_t>(in));
    }
    return out;
  }

  void normalize_node(std::vector<CellPick>& picks, std::size_t node) const {
    if (opt_.distinct_inputs && picks[2 * node].input > picks[2 * node + 1].input)
      std::swap(picks[2 * node], picks[2 * node + 1]);
  }

  void append_list(std::string& s, const std::vector<CellPick>& picks) const {
    s += '[';
    for (std::size_t i = 0; i < picks.size(); ++i) {
      if (i > 0) s += ", ";
      s += "('";
      s += opt_.ops[picks[i].op];
      s += "', ";
      s += std::to_string(picks[i].input);
      s += ')';
    }
    s += ']';
  }
  void append_concat(std::string& s) const {
    s += "range(" + std::to_string(opt_.inputs) + ", " + std::to_string(opt_.inputs + opt_.nodes) + ")";
  }

  Options opt_;
};

namespace detail {

// A cursor over genotype text that reports errors with the offending token and offset.
class GenotypeCursor {
 public:
  explicit GenotypeCursor(std::string_view text) : text_(text) {}

  void skip_ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  [[nodiscard]] bool at_end() {
    skip_ws();
    return pos_ >= text_.size();
  }
  [[nodiscard]] char peek() {
    skip_ws();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }

  // The token starting at `at`, for messages: an identifier/number run, or one character.
  [[nodiscard]] std::string token_at(std::size_t at) const {
    if (at >= text_.size()) return "end of text";
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    std::size_t end = at;
    while (end < text_.size() && word(text_[end])) ++end;
    if (end == at) end = at + 1;
    return std::string(text_.substr(at, end - at));
  }

  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw ParseError("CellSpace::decode: " + what + " '" + token_at(at) + "' at offset " + std::to_string(at));
  }

  void expect(char c) {
    skip_ws();
    if (pos_ >= text_.size() || text_[pos_] != c) fail(pos_, std::string("expected '") + c + "' but found");
    ++pos_;
  }
  bool accept(char c) {
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string_view identifier() {
    skip_ws();
    const std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    if (pos_ == start) fail(start, "expected a name but found");
    return text_.substr(start, pos_ - start);
  }
  long integer() {
    skip_ws();
    const std::size_t start = pos_;
    long v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      v = v * 10 + (text_[pos_] - '0');
      if (v > 1000000) fail(start, "number too large:");
      ++pos_;
    }
    if (pos_ == start) fail(start, "expected a number but found");
    return v;
  }
  std::string_view quoted() {
    skip_ws();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      fail(pos_, "expected a quoted op name but found");
    const char q = text_[pos_++];
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != q) ++pos_;
    if (pos_ >= text_.size()) fail(start - 1, "unterminated op name starting with");
    return text_.substr(start, pos_++ - start);
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace detail

inline CellSpace::Arch CellSpace::decode(std::string_view text) const {
  detail::GenotypeCursor c(text);
  {
    const std::size_t at = (c.skip_ws(), c.pos());
    if (c.identifier() != "Genotype") c.fail(at, "expected 'Genotype' but found");
  }
  c.expect('(');
  Arch a;
  bool seen[4] = {false, false, false, false};  // normal, normal_concat, reduce, reduce_concat
  auto parse_list = [&](std::vector<CellPick>& picks) {
    c.expect('[');
    std::size_t i = 0;
    if (!c.accept(']')) {
      do {
        const std::size_t item_at = (c.skip_ws(), c.pos());
        c.expect('(');
        const std::size_t name_at = (c.skip_ws(), c.pos());
        const auto name = c.quoted();
        const int op = op_code(name);
        if (op < 0) throw ParseError("CellSpace::decode: unknown operation '" + std::string(name) + "' at offset " +
                                     std::to_string(name_at));
        c.expect(',');
        const std::size_t in_at = (c.skip_ws(), c.pos());
        const long in = c.integer();
        c.expect(')');
        if (i >= 2 * opt_.nodes)
          c.fail(item_at, "too many picks (the space has " + std::to_string(opt_.nodes) + " nodes x 2):");
        const std::size_t limit = opt_.inputs + i / 2;
        if (static_cast<std::size_t>(in) >= limit)
          c.fail(in_at, "input of node " + std::to_string(i / 2) + " must be < " + std::to_string(limit) + ", found");
        picks.push_back({static_cast<std::uint8_t>(in), static_cast<std::uint8_t>(op)});
        if (opt_.distinct_inputs && i % 2 == 1) {
          if (picks[i - 1].input == picks[i].input)
            c.fail(in_at, "node " + std::to_string(i / 2) + " picks the same input twice:");
          normalize_node(picks, i / 2);
        }
        ++i;
      } while (c.accept(','));
      c.expect(']');
    }
    if (picks.size() != 2 * opt_.nodes)
      c.fail(c.pos() - 1, "expected " + std::to_string(2 * opt_.nodes) + " picks but the list has " +
                              std::to_string(picks.size()) + ", ending at");
  };
  auto parse_concat = [&]() {
    const std::size_t at = (c.skip_ws(), c.pos());
    std::vector<long> nodes;
    if (c.peek() == '[') {
      c.expect('[');
      if (!c.accept(']')) {
        do nodes.push_back(c.integer());
        while (c.accept(','));
        c.expect(']');
      }
    } else {
      if (c.identifier() != "range") c.fail(at, "expected 'range' or a list but found");
      c.expect('(');
      const long lo = c.integer();
      c.expect(',');
      const long hi = c.integer();
      c.expect(')');
      for (long k = lo; k < hi; ++k) nodes.push_back(k);
    }
    bool ok = nodes.size() == opt_.nodes;
    for (std::size_t k = 0; ok && k < nodes.size(); ++k) ok = nodes[k] == static_cast<long>(opt_.inputs + k);
    if (!ok)
      c.fail(at, "concat must list every intermediate node, range(" + std::to_string(opt_.inputs) + ", " +
                     std::to_string(opt_.inputs + opt_.nodes) + "); found");
  };
  do {
    if (c.peek() == ')') break;
    const std::size_t key_at = (c.skip_ws(), c.pos());
    const auto key = c.identifier();
    int which = key == "normal" ? 0 : key == "normal_concat" ? 1 : key == "reduce" ? 2 : key == "reduce_concat" ? 3 : -1;
    if (which < 0) c.fail(key_at, "unknown field");
    if (seen[which]) c.fail(key_at, "repeated field");
    if (which >= 2 && !opt_.reduction) c.fail(key_at, "this space has no reduction cell, unexpected field");
    seen[which] = true;
    c.expect('=');
    if (which == 0) parse_list(a.normal);
    if (which == 2) parse_list(a.reduce);
    if (which == 1 || which == 3) parse_concat();
  } while (c.accept(','));
  c.expect(')');
  if (!c.at_end()) c.fail(c.pos(), "unexpected trailing text");
  if (!seen[0]) c.fail(0, "missing field 'normal' in");
  if (opt_.reduction && !seen[2]) c.fail(0, "missing field 'reduce' (the space has a reduction cell) in");
  return a;
}

}  // namespace nas
