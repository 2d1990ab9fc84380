// categorical(space): views of Nb201Space and CellSpace as CategoricalSpaces (for Reinforce).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/search/categorical.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/nb201_space.hpp"

namespace nas {

/// A search space seen as categorical decisions: forwards every SearchSpace member to
/// `space` (which must outlive the view) and adds num_decisions / num_choices /
/// from_choices / to_choices from `Coder`. Use `nas::categorical(space)` to make one.
///
/// Coder: `num_decisions()`, `num_choices(i)`, `Arch from_choices(std::span<const int>)`,
/// `std::vector<int> to_choices(const Arch&)` (all const).
template <class Space, class Coder>
class CategoricalView {
 public:
  using Arch = typename Space::Arch;

  CategoricalView(const Space& space, Coder coder) : space_(&space), coder_(std::move(coder)) {}

  [[nodiscard]] const Space& space() const noexcept { return *space_; }

  [[nodiscard]] Arch sample(Rng& rng) const { return space_->sample(rng); }
  [[nodiscard]] Arch mutate(const Arch& a, Rng& rng) const { return space_->mutate(a, rng); }
  [[nodiscard]] std::vector<Arch> neighbors(const Arch& a) const { return space_->neighbors(a); }
  [[nodiscard]] std::string encode(const Arch& a) const { return space_->encode(a); }
  [[nodiscard]] Arch decode(std::string_view text) const { return space_->decode(text); }
  [[nodiscard]] SpaceSize size() const { return space_->size(); }

  [[nodiscard]] std::size_t num_decisions() const { return coder_.num_decisions(); }
  [[nodiscard]] std::size_t num_choices(std::size_t i) const { return coder_.num_choices(i); }
  [[nodiscard]] Arch from_choices(std::span<const int> c) const { return coder_.from_choices(c); }
  [[nodiscard]] std::vector<int> to_choices(const Arch& a) const { return coder_.to_choices(a); }

 private:
  const Space* space_;
  Coder coder_;
};

namespace detail {

inline void check_choice_count(std::span<const int> c, std::size_t n, const char* where) {
  if (c.size() != n)
    throw ConfigError(std::string(where) + ": " + std::to_string(c.size()) + " choices given, the space has " +
                      std::to_string(n) + " decisions");
}
inline void check_choice(int v, std::size_t k, std::size_t i, const char* where) {
  if (v < 0 || static_cast<std::size_t>(v) >= k)
    throw ConfigError(std::string(where) + ": choice " + std::to_string(v) + " of decision " + std::to_string(i) +
                      " is outside [0, " + std::to_string(k) + ")");
}

/// NAS-Bench-201: one decision per edge (6), five ops each.
struct Nb201Coder {
  [[nodiscard]] std::size_t num_decisions() const noexcept { return Nb201Arch::num_edges; }
  [[nodiscard]] std::size_t num_choices(std::size_t) const noexcept { return Nb201Arch::num_ops; }
  [[nodiscard]] Nb201Arch from_choices(std::span<const int> c) const {
    check_choice_count(c, Nb201Arch::num_edges, "categorical(Nb201Space)::from_choices");
    Nb201Arch a;
    for (std::size_t e = 0; e < Nb201Arch::num_edges; ++e) {
      check_choice(c[e], Nb201Arch::num_ops, e, "categorical(Nb201Space)::from_choices");
      a.ops[e] = static_cast<std::uint8_t>(c[e]);
    }
    return a;
  }
  [[nodiscard]] std::vector<int> to_choices(const Nb201Arch& a) const { return std::vector<int>(a.ops.begin(), a.ops.end()); }
};

/// CellSpace: per cell (normal, then reduce) and per node k (with m = inputs + k states
/// to choose from), either
/// - ordered picks (distinct_inputs = false): input0 (m), op0, input1 (m), op1; or
/// - an unordered input pair (distinct_inputs = true): pair index (C(m, 2), pairs in
///   lexicographic order (0,1), (0,2), ..., (1,2), ...), op of the smaller input, op of
///   the larger.
class CellCoder {
 public:
  explicit CellCoder(const CellSpace& space)
      : nodes_(space.num_nodes()),
        inputs_(space.num_inputs()),
        ops_(space.ops().size()),
        cells_(space.has_reduction() ? 2 : 1),
        distinct_(space.options().distinct_inputs) {}

  [[nodiscard]] std::size_t per_node() const noexcept { return distinct_ ? 3 : 4; }
  [[nodiscard]] std::size_t num_decisions() const noexcept { return cells_ * nodes_ * per_node(); }
  [[nodiscard]] std::size_t num_choices(std::size_t i) const {
    const std::size_t node = (i / per_node()) % nodes_, slot = i % per_node();
    const std::size_t m = inputs_ + node;
    if (distinct_) return slot == 0 ? m * (m - 1) / 2 : ops_;
    return slot % 2 == 0 ? m : ops_;
  }

  [[nodiscard]] CellArch from_choices(std::span<const int> c) const {
    const char* where = "categorical(CellSpace)::from_choices";
    check_choice_count(c, num_decisions(), where);
    for (std::size_t i = 0; i < c.size(); ++i) check_choice(c[i], num_choices(i), i, where);
    CellArch a;
    for (std::size_t cell = 0; cell < cells_; ++cell) {
      auto& picks = cell == 0 ? a.normal : a.reduce;
      picks.resize(2 * nodes_);
      for (std::size_t node = 0; node < nodes_; ++node) {
        const int* d = c.data() + (cell * nodes_ + node) * per_node();
        auto& p0 = picks[2 * node];
        auto& p1 = picks[2 * node + 1];
        if (distinct_) {
          const auto [lo, hi] = pair_of(static_cast<std::size_t>(d[0]), inputs_ + node);
          p0 = CellPick{static_cast<std::uint8_t>(lo), static_cast<std::uint8_t>(d[1])};
          p1 = CellPick{static_cast<std::uint8_t>(hi), static_cast<std::uint8_t>(d[2])};
        } else {
          p0 = CellPick{static_cast<std::uint8_t>(d[0]), static_cast<std::uint8_t>(d[1])};
          p1 = CellPick{static_cast<std::uint8_t>(d[2]), static_cast<std::uint8_t>(d[3])};
        }
      }
    }
    return a;
  }

  [[nodiscard]] std::vector<int> to_choices(const CellArch& a) const {
    std::vector<int> c;
    c.reserve(num_decisions());
    for (std::size_t cell = 0; cell < cells_; ++cell) {
      const auto& picks = cell == 0 ? a.normal : a.reduce;
      if (picks.size() != 2 * nodes_)
        throw ConfigError("categorical(CellSpace)::to_choices: a cell with " + std::to_string(picks.size()) +
                          " picks, the space has " + std::to_string(2 * nodes_));
      for (std::size_t node = 0; node < nodes_; ++node) {
        const auto& p0 = picks[2 * node];
        const auto& p1 = picks[2 * node + 1];
        if (distinct_) {
          const bool swapped = p0.input > p1.input;
          const auto& lo = swapped ? p1 : p0;
          const auto& hi = swapped ? p0 : p1;
          c.push_back(static_cast<int>(pair_index(lo.input, hi.input, inputs_ + node)));
          c.push_back(lo.op);
          c.push_back(hi.op);
        } else {
          c.insert(c.end(), {p0.input, p0.op, p1.input, p1.op});
        }
      }
    }
    return c;
  }

 private:
  // Index of the pair (lo < hi) among the C(m, 2) pairs in lexicographic order, and back.
  static std::size_t pair_index(std::size_t lo, std::size_t hi, std::size_t m) {
    return lo * (2 * m - lo - 1) / 2 + (hi - lo - 1);
  }
  static std::pair<std::size_t, std::size_t> pair_of(std::size_t index, std::size_t m) {
    std::size_t lo = 0;
    while (index >= m - lo - 1) {
      index -= m - lo - 1;
      ++lo;
    }
    return {lo, lo + 1 + index};
  }

  std::size_t nodes_, inputs_, ops_, cells_;
  bool distinct_;
};

}  // namespace detail

/// Nb201Space as 6 categorical decisions of 5 ops (edge order of Nb201Arch::ops).
[[nodiscard]] inline CategoricalView<Nb201Space, detail::Nb201Coder> categorical(const Nb201Space& space) {
  return {space, detail::Nb201Coder{}};
}

/// CellSpace as categorical decisions (see detail::CellCoder for the layout).
[[nodiscard]] inline CategoricalView<CellSpace, detail::CellCoder> categorical(const CellSpace& space) {
  return {space, detail::CellCoder(space)};
}

}  // namespace nas
