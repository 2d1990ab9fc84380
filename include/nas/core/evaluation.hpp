// Fidelity (how much training an evaluation gets) and Evaluation (what it returned).
#pragma once

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nas {

/// How much training an evaluation may spend, in epochs (fractions allowed).
/// `Fidelity{}` (epochs = 0) asks for the estimator's own default; estimators without a
/// notion of fidelity ignore it.
struct Fidelity {
  double epochs = 0.0;

  [[nodiscard]] bool is_default() const noexcept { return epochs <= 0.0; }
  friend bool operator==(const Fidelity&, const Fidelity&) = default;
  friend auto operator<=>(const Fidelity&, const Fidelity&) = default;
};

enum class Status { ok, failed };

/// Named scalar results of an evaluation ("valid_accuracy", "latency_ms", "params", ...).
/// A flat list: evaluations carry a handful of metrics and are created millions of
/// times by tabular searches, so a map would cost more than it saves.
class Metrics {
 public:
  struct Entry {
    std::string name;
    double value;
  };

  /// Sets (or replaces) a metric.
  Metrics& set(std::string_view name, double value) {
    for (auto& e : entries_)
      if (e.name == name) {
        e.value = value;
        return *this;
      }
    entries_.push_back({std::string(name), value});
    return *this;
  }
  [[nodiscard]] std::optional<double> get(std::string_view name) const noexcept {
    for (const auto& e : entries_)
      if (e.name == name) return e.value;
    return std::nullopt;
  }
  [[nodiscard]] double get_or(std::string_view name, double fallback) const noexcept {
    auto v = get(name);
    return v ? *v : fallback;
  }
  [[nodiscard]] bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] auto begin() const noexcept { return entries_.begin(); }
  [[nodiscard]] auto end() const noexcept { return entries_.end(); }
  void reserve(std::size_t n) { entries_.reserve(n); }

 private:
  std::vector<Entry> entries_;
};

/// What an estimator returns for one architecture at one fidelity.
///
/// `score` is what a search maximizes (higher is better; for accuracies, percent or
/// fraction as the estimator documents). `cost_seconds` is the training time charged to
/// the search, simulated (tabular) or measured (real training); `epochs` the training
/// actually spent. A failed evaluation (NaN loss, exception) keeps its reason and never
/// wins a search.
struct Evaluation {
  double score = 0.0;
  double cost_seconds = 0.0;
  double epochs = 0.0;
  Metrics metrics{};
  Status status = Status::ok;
  std::string reason{};

  [[nodiscard]] bool ok() const noexcept { return status == Status::ok; }

  static Evaluation failed(std::string why, double cost_seconds = 0.0) {
    Evaluation e;
    e.status = Status::failed;
    e.reason = std::move(why);
    e.cost_seconds = cost_seconds;
    e.score = -std::numeric_limits<double>::infinity();
    return e;
  }

  /// An ok evaluation whose score is NaN or infinite becomes failed; returns *this.
  Evaluation& check_finite() {
    if (ok() && !std::isfinite(score)) {
      reason = "non-finite score (" + std::to_string(score) + ")";
      status = Status::failed;
      score = -std::numeric_limits<double>::infinity();
    }
    return *this;
  }
};

/// Orders evaluations for "best": failed ones lose to any ok one.
[[nodiscard]] inline bool better(const Evaluation& a, const Evaluation& b) noexcept {
  if (a.ok() != b.ok()) return a.ok();
  return a.score > b.score;
}

}  // namespace nas
