// ChainSpace: a layer-wise MobileNetV2/MnasNet-style space (kernel, expansion and SE per block; depth per stage; a width multiplier).
#pragma once

#include <algorithm>
#include <charconv>
#include <compare>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/space_size.hpp"

namespace nas {

/// One inverted residual block (MobileNetV2's bottleneck, MnasNet's MBConv): a 1x1
/// expansion to `expansion` times the input channels, a depthwise `kernel` x `kernel`
/// convolution, squeeze-and-excitation when `se`, and a 1x1 projection.
struct ChainBlock {
  std::uint8_t kernel = 3;
  std::uint8_t expansion = 6;
  bool se = false;

  /// "k5e6se", "k3e3": the block's token in ChainArch::str().
  [[nodiscard]] std::string str() const {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about the chained operator+.
    std::string s = "k";
    s += std::to_string(kernel);
    s += 'e';
    s += std::to_string(expansion);
    if (se) s += "se";
    return s;
  }
  friend bool operator==(const ChainBlock&, const ChainBlock&) = default;
  friend auto operator<=>(const ChainBlock&, const ChainBlock&) = default;
};

namespace detail {
// The shortest decimal that reads back as v ("0.75", "1", "0.605").
inline std::string shortest_decimal(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace detail

/// An architecture of a ChainSpace: the width multiplier and, per stage, its blocks in
/// order (the stage's depth is the number of its blocks). Blocks are values, not indices
/// into the space's choices, so an architecture reads on its own.
///
/// Text form (ChainSpace::encode): `w<width>` then one `|`-separated group per stage, its
/// blocks separated by commas, e.g. `w0.75|k3e6se,k5e3|k7e4se|k3e3,k3e3,k5e6|k5e4`.
struct ChainArch {
  double width = 1.0;
  std::vector<std::vector<ChainBlock>> stages;

  [[nodiscard]] std::size_t num_blocks() const noexcept {
    std::size_t n = 0;
    for (const auto& s : stages) n += s.size();
    return n;
  }
  [[nodiscard]] std::string str() const {
    std::string s = "w" + detail::shortest_decimal(width);
    for (const auto& stage : stages) {
      s += '|';
      for (std::size_t b = 0; b < stage.size(); ++b) {
        if (b > 0) s += ',';
        s += stage[b].str();
      }
    }
    return s;
  }
  friend bool operator==(const ChainArch&, const ChainArch&) = default;
  friend std::partial_ordering operator<=>(const ChainArch& a, const ChainArch& b) {
    if (auto c = a.width <=> b.width; c != 0) return c;
    return a.stages <=> b.stages;
  }
  friend std::ostream& operator<<(std::ostream& os, const ChainArch& a) { return os << a.str(); }
};

}  // namespace nas

template <>
struct std::hash<nas::ChainArch> {
  std::size_t operator()(const nas::ChainArch& a) const noexcept {
    std::size_t h = std::hash<double>{}(a.width);
    for (const auto& stage : a.stages) {
      h = nas::hash_combine(h, stage.size());
      for (const auto& b : stage)
        h = nas::hash_combine(h, (std::size_t{b.kernel} << 9) | (std::size_t{b.expansion} << 1) | (b.se ? 1u : 0u));
    }
    return h;
  }
};

namespace nas {

/// One stage of the skeleton: the output channels of its blocks (before the width
/// multiplier) and the stride of its first block (the others have stride 1).
struct ChainStage {
  int channels = 16;
  int stride = 1;
};

/// The choices and the fixed skeleton of a ChainSpace.
///
/// The default skeleton suits 28x28 (Fashion-MNIST) and 32x32 (CIFAR) inputs: a 3x3 stem
/// of 16 channels at stride 1, four stages of 16, 24, 40 and 80 channels at strides 1, 2,
/// 2, 2 (28 -> 28, 14, 7, 4; 32 -> 32, 16, 8, 4), a 1x1 head of 128 channels, global
/// pooling and a linear classifier. Every channel count (stem, stages, head) is
/// multiplied by the architecture's width and rounded as MobileNetV2 does
/// (ChainSpace::channels). Per block: kernel 3/5/7, expansion 3/4/6, SE on or off; per
/// stage: depth 1..4; width 0.5/0.75/1.
struct ChainSpaceOptions {
  std::vector<int> kernels{3, 5, 7};      ///< odd, distinct
  std::vector<int> expansions{3, 4, 6};   ///< >= 1, distinct
  bool squeeze_excite = true;             ///< SE is a per-block choice; false: no block has SE
  std::vector<int> depths{1, 2, 3, 4};    ///< blocks per stage, >= 1, distinct
  std::vector<double> widths{0.5, 0.75, 1.0};  ///< > 0, distinct
  int stem_channels = 16;
  int stem_stride = 1;
  std::vector<ChainStage> stages{{16, 1}, {24, 2}, {40, 2}, {80, 2}};
  int head_channels = 128;                ///< 0: no 1x1 head convolution before the pooling
  int divisor = 8;                        ///< channel counts are multiples of it (MobileNetV2, EfficientNet)

  void validate(const char* where) const {
    auto bad = [where](const std::string& what) { throw ConfigError(std::string(where) + ": " + what); };
    auto list = [](const auto& v) {
      std::string s;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if constexpr (std::is_floating_point_v<std::decay_t<decltype(v[i])>>)
          s += (i ? ", " : "") + detail::shortest_decimal(v[i]);
        else
          s += (i ? ", " : "") + std::to_string(v[i]);
      }
      return "(" + s + ")";
    };
    auto distinct = [](auto v) {
      std::sort(v.begin(), v.end());
      return std::adjacent_find(v.begin(), v.end()) == v.end();
    };
    if (kernels.empty() || !distinct(kernels) ||
        std::any_of(kernels.begin(), kernels.end(), [](int k) { return k < 1 || k % 2 == 0 || k > 99; }))
      bad("kernels " + list(kernels) + " must be distinct odd sizes in [1, 99]");
    if (expansions.empty() || !distinct(expansions) ||
        std::any_of(expansions.begin(), expansions.end(), [](int e) { return e < 1 || e > 99; }))
      bad("expansions " + list(expansions) + " must be distinct ratios in [1, 99]");
    if (depths.empty() || !distinct(depths) || std::any_of(depths.begin(), depths.end(), [](int d) { return d < 1 || d > 64; }))
      bad("depths " + list(depths) + " must be distinct block counts in [1, 64]");
    if (widths.empty() || !distinct(widths) ||
        std::any_of(widths.begin(), widths.end(), [](double w) { return !(w > 0.0) || !std::isfinite(w); }))
      bad("widths " + list(widths) + " must be distinct finite multipliers > 0");
    if (stages.empty()) bad("the skeleton has no stages");
    for (std::size_t s = 0; s < stages.size(); ++s)
      if (stages[s].channels < 1 || stages[s].stride < 1)
        bad("stage " + std::to_string(s) + " has channels " + std::to_string(stages[s].channels) + " and stride " +
            std::to_string(stages[s].stride) + " (both must be >= 1)");
    if (stem_channels < 1 || stem_stride < 1)
      bad("stem channels (" + std::to_string(stem_channels) + ") and stride (" + std::to_string(stem_stride) + ") must be >= 1");
    if (head_channels < 0) bad("head_channels (" + std::to_string(head_channels) + ") must be >= 0");
    if (divisor < 1) bad("divisor (" + std::to_string(divisor) + ") must be >= 1");
  }
};

/// A layer-wise search space in the style of MobileNetV2 (Sandler et al. 2018) and MnasNet
/// (Tan et al. 2019): a fixed skeleton of stages, each a chain of inverted residual
/// blocks. Every block chooses its kernel, expansion ratio and squeeze-and-excitation;
/// every stage its depth; the whole network a width multiplier. The network is built by
/// the model layer (model/chain_network.hpp).
///
/// Size: with B = |kernels| x |expansions| x (2 with SE, else 1) choices per block,
/// |widths| x prod over stages of (sum over depths d of B^d). The default space has B = 18
/// and 3 x (18 + 18^2 + 18^3 + 18^4)^4 = 457,887,853,302,018,750,000 members (more than
/// 2^64). Different members build different networks.
///
/// `index()` / `arch()` number the members in mixed radix: the width most significant,
/// then stage 0 to the last; inside a stage, the depths in increasing order, then its
/// blocks in base B (the first block most significant; a block's code is
/// (kernel index x |expansions| + expansion index) x |se| + se).
///
/// `mutate()` changes one decision, drawn uniformly among the width, the stage depths and
/// each block's kernel, expansion and SE (decisions with one choice are skipped), to a
/// different value drawn uniformly. A stage made deeper gains copies of its last block
/// (EfficientNet repeats a stage's block the same way); a shallower one loses its last
/// blocks. `neighbors()` lists every such single change, so mutate(a) is one of them.
class ChainSpace {
 public:
  using Arch = ChainArch;

  ChainSpace() : ChainSpace(ChainSpaceOptions{}) {}
  explicit ChainSpace(ChainSpaceOptions options) : o_(std::move(options)) {
    o_.validate("ChainSpace");
    std::sort(o_.depths.begin(), o_.depths.end());
  }

  [[nodiscard]] const ChainSpaceOptions& options() const noexcept { return o_; }
  [[nodiscard]] std::size_t num_stages() const noexcept { return o_.stages.size(); }
  /// Choices per block: |kernels| x |expansions| x (2 with SE, else 1).
  [[nodiscard]] std::size_t block_choices() const noexcept {
    return o_.kernels.size() * o_.expansions.size() * se_choices();
  }

  /// MobileNetV2's _make_divisible: v rounded to the nearest multiple of `divisor`, at
  /// least `divisor`, and raised by one divisor if rounding lost more than 10%.
  [[nodiscard]] static int make_divisible(double v, int divisor) {
    int r = std::max(divisor, static_cast<int>(v + divisor / 2.0) / divisor * divisor);
    if (r < 0.9 * v) r += divisor;
    return r;
  }
  /// The channels of a skeleton count `base` at width `width`.
  [[nodiscard]] int channels(int base, double width) const { return make_divisible(base * width, o_.divisor); }

  [[nodiscard]] Arch sample(Rng& rng) const {
    Arch a;
    a.width = o_.widths[rng.index(o_.widths.size())];
    a.stages.resize(o_.stages.size());
    for (auto& stage : a.stages) {
      stage.resize(static_cast<std::size_t>(o_.depths[rng.index(o_.depths.size())]));
      for (auto& b : stage) b = block_of(rng.index(block_choices()));
    }
    return a;
  }

  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const {
    check(a, "ChainSpace::mutate");
    const std::vector<Decision> ds = decisions(a);
    if (ds.empty()) return a;  // a space of one member
    const Decision d = ds[rng.index(ds.size())];
    const std::size_t n = choices(d) - 1;  // the other values
    std::size_t v = rng.index(n);
    if (v >= current(a, d)) ++v;
    return with(a, d, v);
  }

  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const {
    check(a, "ChainSpace::neighbors");
    std::vector<Arch> out;
    for (const Decision& d : decisions(a))
      for (std::size_t v = 0; v < choices(d); ++v)
        if (v != current(a, d)) out.push_back(with(a, d, v));
    return out;
  }

  /// The text form (ChainArch::str()); throws ConfigError for an architecture outside the space.
  [[nodiscard]] std::string encode(const Arch& a) const {
    check(a, "ChainSpace::encode");
    return a.str();
  }

  /// Parses the text form; throws ParseError naming the token, its character offset and
  /// what the space allows there.
  [[nodiscard]] Arch decode(std::string_view text) const { return parse(text); }

  [[nodiscard]] SpaceSize size() const {
    SpaceSize n = SpaceSize(o_.widths.size());
    for (std::size_t s = 0; s < o_.stages.size(); ++s) n *= stage_size();
    return n;
  }

  /// Whether `a` is a member (its width, depths and block choices are the space's).
  [[nodiscard]] bool contains(const Arch& a) const { return why_not(a).empty(); }
  /// Throws ConfigError naming what of `a` is outside the space (`where` names the caller).
  void check(const Arch& a, const char* where) const {
    const std::string why = why_not(a);
    if (!why.empty()) throw ConfigError(std::string(where) + ": " + why);
  }

  /// The position of `a` in the space's numbering (see the class comment), < size().
  [[nodiscard]] SpaceSize index(const Arch& a) const {
    check(a, "ChainSpace::index");
    SpaceSize i = SpaceSize(width_index(a.width));
    for (const auto& stage : a.stages) {
      SpaceSize within = 0;
      for (const auto& b : stage) within = within * SpaceSize(block_choices()) + SpaceSize(block_code(b));
      i = i * stage_size() + depth_offset(stage.size()) + within;
    }
    return i;
  }

  /// The member at position `i`; throws ConfigError when i >= size().
  [[nodiscard]] Arch arch(SpaceSize i) const {
    if (!(i < size())) throw ConfigError("ChainSpace::arch: index " + i.to_string() + " out of range [0, " + size().to_string() + ")");
    using V = SpaceSize::value_type;
    V rest = i.value();
    const V per_stage = stage_size().value();
    Arch a;
    a.stages.resize(o_.stages.size());
    for (std::size_t s = o_.stages.size(); s-- > 0;) {
      V within = rest % per_stage;
      rest /= per_stage;
      std::size_t depth_at = 0;
      for (; depth_at + 1 < o_.depths.size(); ++depth_at) {
        const V count = power(static_cast<std::size_t>(o_.depths[depth_at])).value();
        if (within < count) break;
        within -= count;
      }
      auto& stage = a.stages[s];
      stage.resize(static_cast<std::size_t>(o_.depths[depth_at]));
      for (std::size_t b = stage.size(); b-- > 0;) {
        stage[b] = block_of(static_cast<std::size_t>(within % block_choices()));
        within /= block_choices();
      }
    }
    a.width = o_.widths[static_cast<std::size_t>(rest)];
    return a;
  }

 private:
  // One decision of an architecture: the width, stage s's depth, or a field of block b of stage s.
  enum class Field : std::uint8_t { width, depth, kernel, expansion, se };
  struct Decision {
    Field field;
    std::size_t stage = 0;
    std::size_t block = 0;
  };

  [[nodiscard]] std::size_t se_choices() const noexcept { return o_.squeeze_excite ? 2 : 1; }

  [[nodiscard]] std::vector<Decision> decisions(const Arch& a) const {
    std::vector<Decision> ds;
    if (o_.widths.size() > 1) ds.push_back({Field::width});
    for (std::size_t s = 0; s < a.stages.size(); ++s) {
      if (o_.depths.size() > 1) ds.push_back({Field::depth, s});
      for (std::size_t b = 0; b < a.stages[s].size(); ++b) {
        if (o_.kernels.size() > 1) ds.push_back({Field::kernel, s, b});
        if (o_.expansions.size() > 1) ds.push_back({Field::expansion, s, b});
        if (o_.squeeze_excite) ds.push_back({Field::se, s, b});
      }
    }
    return ds;
  }
  [[nodiscard]] std::size_t choices(const Decision& d) const noexcept {
    switch (d.field) {
      case Field::width: return o_.widths.size();
      case Field::depth: return o_.depths.size();
      case Field::kernel: return o_.kernels.size();
      case Field::expansion: return o_.expansions.size();
      case Field::se: return 2;
    }
    return 1;
  }
  [[nodiscard]] std::size_t current(const Arch& a, const Decision& d) const {
    switch (d.field) {
      case Field::width: return width_index(a.width);
      case Field::depth: return find(o_.depths, static_cast<int>(a.stages[d.stage].size()));
      case Field::kernel: return find(o_.kernels, a.stages[d.stage][d.block].kernel);
      case Field::expansion: return find(o_.expansions, a.stages[d.stage][d.block].expansion);
      case Field::se: return a.stages[d.stage][d.block].se ? 1 : 0;
    }
    return 0;
  }
  [[nodiscard]] Arch with(const Arch& a, const Decision& d, std::size_t v) const {
    Arch n = a;
    switch (d.field) {
      case Field::width: n.width = o_.widths[v]; break;
      case Field::depth: {
        auto& stage = n.stages[d.stage];
        const ChainBlock last = stage.back();
        stage.resize(static_cast<std::size_t>(o_.depths[v]), last);
        break;
      }
      case Field::kernel: n.stages[d.stage][d.block].kernel = static_cast<std::uint8_t>(o_.kernels[v]); break;
      case Field::expansion: n.stages[d.stage][d.block].expansion = static_cast<std::uint8_t>(o_.expansions[v]); break;
      case Field::se: n.stages[d.stage][d.block].se = v == 1; break;
    }
    return n;
  }

  template <class T, class U>
  static std::size_t find(const std::vector<T>& v, U x) {
    return static_cast<std::size_t>(std::find(v.begin(), v.end(), static_cast<T>(x)) - v.begin());
  }
  [[nodiscard]] std::size_t width_index(double w) const {
    for (std::size_t i = 0; i < o_.widths.size(); ++i)
      if (std::abs(o_.widths[i] - w) <= 1e-9 * std::max(1.0, std::abs(w))) return i;
    return o_.widths.size();
  }
  [[nodiscard]] ChainBlock block_of(std::size_t code) const {
    ChainBlock b;
    b.se = code % se_choices() == 1;
    code /= se_choices();
    b.expansion = static_cast<std::uint8_t>(o_.expansions[code % o_.expansions.size()]);
    b.kernel = static_cast<std::uint8_t>(o_.kernels[code / o_.expansions.size()]);
    return b;
  }
  [[nodiscard]] std::size_t block_code(const ChainBlock& b) const {
    return (find(o_.kernels, b.kernel) * o_.expansions.size() + find(o_.expansions, b.expansion)) * se_choices() +
           (b.se ? 1 : 0);
  }
  [[nodiscard]] SpaceSize power(std::size_t d) const {
    SpaceSize p = 1;
    for (std::size_t k = 0; k < d; ++k) p *= SpaceSize(block_choices());
    return p;
  }
  [[nodiscard]] SpaceSize stage_size() const {
    SpaceSize n = 0;
    for (int d : o_.depths) n = n + power(static_cast<std::size_t>(d));
    return n;
  }
  [[nodiscard]] SpaceSize depth_offset(std::size_t depth) const {
    SpaceSize n = 0;
    for (int d : o_.depths) {
      if (static_cast<std::size_t>(d) >= depth) break;
      n = n + power(static_cast<std::size_t>(d));
    }
    return n;
  }

  // Empty when `a` is a member, else what is not.
  [[nodiscard]] std::string why_not(const Arch& a) const {
    if (width_index(a.width) == o_.widths.size()) return "width " + detail::shortest_decimal(a.width) + " is not one of the space's widths";
    if (a.stages.size() != o_.stages.size())
      return "the architecture has " + std::to_string(a.stages.size()) + " stages, the space " + std::to_string(o_.stages.size());
    for (std::size_t s = 0; s < a.stages.size(); ++s) {
      const auto& stage = a.stages[s];
      if (find(o_.depths, static_cast<int>(stage.size())) == o_.depths.size())
        return "stage " + std::to_string(s) + " has depth " + std::to_string(stage.size()) + ", not one of the space's depths";
      for (std::size_t b = 0; b < stage.size(); ++b) {
        const auto& blk = stage[b];
        if (find(o_.kernels, blk.kernel) == o_.kernels.size() || find(o_.expansions, blk.expansion) == o_.expansions.size() ||
            (blk.se && !o_.squeeze_excite))
          return "block " + std::to_string(b) + " of stage " + std::to_string(s) + " (" + blk.str() + ") is not in the space";
      }
    }
    return {};
  }

  [[noreturn]] static void fail(std::string_view text, std::size_t pos, const std::string& what, std::string_view token) {
    throw ParseError("ChainSpace::decode: " + what + " '" + std::string(token.empty() ? std::string_view("(empty)") : token) +
                     "' at offset " + std::to_string(pos) + " in \"" + std::string(text) + "\"");
  }
  template <class T>
  static std::string allowed(const std::vector<T>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_floating_point_v<T>)
        s += (i ? ", " : "") + detail::shortest_decimal(v[i]);
      else
        s += (i ? ", " : "") + std::to_string(v[i]);
    }
    return "(" + s + ")";
  }
  // A decimal integer of 1 to 3 digits at the front of `s`; its length, or 0.
  static std::size_t leading_int(std::string_view s, int& out) {
    std::size_t n = 0;
    while (n < s.size() && n < 3 && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0) return 0;
    std::from_chars(s.data(), s.data() + n, out);
    return n;
  }

  [[nodiscard]] Arch parse(std::string_view text) const {
    Arch a;
    if (text.empty() || text[0] != 'w') fail(text, 0, "expected 'w<width>' but found", text.substr(0, 1));
    std::size_t pos = 1;
    std::size_t end = std::min(text.find('|'), text.size());
    {
      const auto tok = text.substr(pos, end - pos);
      double w = 0.0;
      const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), w);
      if (r.ec != std::errc() || r.ptr != tok.data() + tok.size()) fail(text, pos, "expected a number but found", tok);
      if (width_index(w) == o_.widths.size())
        fail(text, pos, "width not in the space " + allowed(o_.widths) + ":", tok);
      a.width = o_.widths[width_index(w)];
    }
    pos = end;
    while (pos < text.size()) {
      ++pos;  // the '|'
      const std::size_t stage_start = pos;
      end = std::min(text.find('|', pos), text.size());
      if (a.stages.size() == o_.stages.size())
        fail(text, stage_start - 1, "more stages than the space's " + std::to_string(o_.stages.size()) + ":",
             text.substr(stage_start - 1));
      auto& stage = a.stages.emplace_back();
      while (true) {
        const std::size_t tok_end = std::min(text.find(',', pos), end);
        const auto tok = text.substr(pos, tok_end - pos);
        ChainBlock b;
        int k = 0, e = 0;
        std::size_t i = 0, n = 0;
        if (tok.empty() || tok[0] != 'k' || (n = leading_int(tok.substr(1), k)) == 0)
          fail(text, pos, "expected a block 'k<kernel>e<expansion>[se]' but found", tok);
        i = 1 + n;
        if (find(o_.kernels, k) == o_.kernels.size())
          fail(text, pos, "kernel not in the space " + allowed(o_.kernels) + ":", tok.substr(0, i));
        if (i >= tok.size() || tok[i] != 'e' || (n = leading_int(tok.substr(i + 1), e)) == 0)
          fail(text, pos + i, "expected 'e<expansion>' but found", tok.substr(i));
        if (find(o_.expansions, e) == o_.expansions.size())
          fail(text, pos + i, "expansion not in the space " + allowed(o_.expansions) + ":", tok.substr(i, n + 1));
        i += 1 + n;
        if (tok.substr(i) == "se") {
          if (!o_.squeeze_excite) fail(text, pos + i, "squeeze-and-excitation is not a choice of this space:", "se");
          b.se = true;
        } else if (i != tok.size()) {
          fail(text, pos + i, "expected 'se' or the end of the block but found", tok.substr(i));
        }
        b.kernel = static_cast<std::uint8_t>(k);
        b.expansion = static_cast<std::uint8_t>(e);
        stage.push_back(b);
        pos = tok_end;
        if (pos == end) break;
        ++pos;  // the ','
      }
      if (find(o_.depths, static_cast<int>(stage.size())) == o_.depths.size())
        fail(text, stage_start, "stage " + std::to_string(a.stages.size() - 1) + " has " + std::to_string(stage.size()) +
                                    " blocks, not one of the space's depths " + allowed(o_.depths) + ":",
             text.substr(stage_start, end - stage_start));
      pos = end;
    }
    if (a.stages.size() != o_.stages.size())
      fail(text, text.size(), "the text has " + std::to_string(a.stages.size()) + " stages, the space " +
                                  std::to_string(o_.stages.size()) + "; found",
           "end of text");
    return a;
  }

  ChainSpaceOptions o_;
};

}  // namespace nas
