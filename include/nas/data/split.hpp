// Train/validation splits and subsets of a Dataset, seeded and optionally stratified by class.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/data/dataset.hpp"

namespace nas {

struct SplitOptions {
  double valid_fraction = 0.1;  ///< share of the images held out, in [0, 1]
  std::size_t valid_size = 0;   ///< exact number held out; overrides valid_fraction when > 0
  std::uint64_t seed = 0;
  bool stratified = true;       ///< keep class proportions equal in both parts
};

/// Indices of the two parts of a split, each sorted ascending.
struct SplitIndices {
  std::vector<std::size_t> train{};
  std::vector<std::size_t> valid{};
};

/// The two parts of a split.
struct TrainValid {
  Dataset train{};
  Dataset valid{};
};

namespace detail {

inline std::vector<std::vector<std::size_t>> indices_by_class(const Dataset& data, const char* where) {
  if (data.classes <= 0) throw ConfigError(std::string(where) + ": dataset has no classes");
  std::vector<std::vector<std::size_t>> by(static_cast<std::size_t>(data.classes));
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto l = data.labels[i];
    if (l < 0 || l >= data.classes)
      throw DataError(std::string(where) + ": label " + std::to_string(l) + " at index " + std::to_string(i) +
                      ", expected < " + std::to_string(data.classes));
    by[static_cast<std::size_t>(l)].push_back(i);
  }
  return by;
}

/// Splits `total` into parts proportional to `weights` that sum exactly to `total`
/// (largest remainder method; ties go to the lower index).
inline std::vector<std::size_t> proportional_quotas(std::size_t total, const std::vector<std::size_t>& weights) {
  std::size_t sum = 0;
  for (auto w : weights) sum += w;
  std::vector<std::size_t> q(weights.size(), 0);
  if (sum == 0) return q;
  std::vector<std::pair<double, std::size_t>> rem;
  std::size_t given = 0;
  for (std::size_t c = 0; c < weights.size(); ++c) {
    const double exact = static_cast<double>(total) * static_cast<double>(weights[c]) / static_cast<double>(sum);
    q[c] = std::min(weights[c], static_cast<std::size_t>(std::floor(exact)));
    given += q[c];
    rem.push_back({exact - static_cast<double>(q[c]), c});
  }
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < total && k < rem.size() * 2; ++k) {
    const std::size_t c = rem[k % rem.size()].second;
    if (q[c] < weights[c]) {
      ++q[c];
      ++given;
    }
  }
  return q;
}

}  // namespace detail

/// Which images go to training and which to validation. The two index lists are
/// disjoint, cover [0, size()) and depend only on the data's labels and the options.
inline SplitIndices split_indices(const Dataset& data, const SplitOptions& o) {
  const std::size_t n = data.size();
  if (o.valid_size == 0 && !(o.valid_fraction >= 0.0 && o.valid_fraction <= 1.0))
    throw ConfigError("split_indices: valid_fraction (" + std::to_string(o.valid_fraction) + ") must be in [0, 1]");
  const std::size_t v = o.valid_size > 0 ? o.valid_size
                                         : static_cast<std::size_t>(std::llround(o.valid_fraction * static_cast<double>(n)));
  if (v > n)
    throw ConfigError("split_indices: validation size (" + std::to_string(v) + ") exceeds the dataset (" +
                      std::to_string(n) + ")");
  Rng rng(o.seed);
  SplitIndices out;
  if (o.stratified) {
    auto by = detail::indices_by_class(data, "split_indices");
    std::vector<std::size_t> counts;
    for (const auto& c : by) counts.push_back(c.size());
    const auto quota = detail::proportional_quotas(v, counts);
    for (std::size_t c = 0; c < by.size(); ++c) {
      rng.shuffle(by[c]);
      out.valid.insert(out.valid.end(), by[c].begin(), by[c].begin() + static_cast<std::ptrdiff_t>(quota[c]));
      out.train.insert(out.train.end(), by[c].begin() + static_cast<std::ptrdiff_t>(quota[c]), by[c].end());
    }
  } else {
    std::vector<std::size_t> perm(n);
    for (std::size_t i = 0; i < n; ++i) perm[i] = i;
    rng.shuffle(perm);
    out.valid.assign(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(v));
    out.train.assign(perm.begin() + static_cast<std::ptrdiff_t>(v), perm.end());
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.valid.begin(), out.valid.end());
  return out;
}

/// Splits a dataset into training and validation parts (see split_indices).
inline TrainValid train_valid_split(const Dataset& data, const SplitOptions& o) {
  const auto idx = split_indices(data, o);
  return {data.select(idx.train), data.select(idx.valid)};
}

struct SubsetOptions {
  std::size_t size = 0;   ///< number of images kept
  std::uint64_t seed = 0;
  bool balanced = false;  ///< take classes in turn so that counts differ by at most one where possible
};

/// `size` distinct indices: the first ones of a seeded permutation, or, when balanced,
/// taken from each class's seeded permutation in turn.
inline std::vector<std::size_t> subset_indices(const Dataset& data, const SubsetOptions& o) {
  if (o.size > data.size())
    throw ConfigError("subset_indices: subset size (" + std::to_string(o.size) + ") exceeds the dataset (" +
                      std::to_string(data.size()) + ")");
  Rng rng(o.seed);
  if (!o.balanced) return rng.sample_indices(data.size(), o.size);
  auto by = detail::indices_by_class(data, "subset_indices");
  for (auto& c : by) rng.shuffle(c);
  std::vector<std::size_t> out;
  out.reserve(o.size);
  for (std::size_t round = 0; out.size() < o.size; ++round)
    for (std::size_t c = 0; c < by.size() && out.size() < o.size; ++c)
      if (round < by[c].size()) out.push_back(by[c][round]);
  return out;
}

/// The images at subset_indices(data, o), in that order.
inline Dataset subset(const Dataset& data, const SubsetOptions& o) {
  const auto idx = subset_indices(data, o);
  return data.select(idx);
}

}  // namespace nas
