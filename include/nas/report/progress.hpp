// ProgressBar callback: a live status line on terminals, plain summary lines otherwise; EpochLines for training outside a search.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "nas/core/budget.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/history.hpp"
#include "nas/report/format.hpp"

namespace nas {

struct ProgressOptions {
  std::size_t every = 0;          ///< without a terminal, also print a line every `every` trials (0: only at the end)
  double refresh_seconds = 0.1;   ///< on a terminal, redraw at most this often
  int digits = 4;                 ///< decimals of the best score
};

/// Reports a search as it runs. On a terminal (stderr is a TTY) it redraws one line:
/// strategy, trials done out of the budget, best score so far, failures, elapsed time,
/// a time-left estimate when the budget has an evaluation, cost or wall limit, and the
/// epoch of a training strategy. Elsewhere (logs, CI) it prints one summary line at the
/// end, and every `every` trials if asked, so logs stay readable.
///
///     nas::ProgressBar progress;                       // stderr, TTY detected
///     strategy.run(space, estimator, budget, progress);
///
/// The time left is the smallest of the limits' estimates (the run stops at the first):
/// wall limit minus elapsed; elapsed x remaining/done evaluations; elapsed x remaining/
/// spent cost.
class ProgressBar {
 public:
  using clock = std::chrono::steady_clock;

  explicit ProgressBar(ProgressOptions options = {})
      : out_(&std::cerr), live_(::isatty(::fileno(stderr)) != 0), o_(options) {}
  /// Writes to `out`; `live` chooses the redrawn line (true) or plain lines (false).
  ProgressBar(std::ostream& out, bool live, ProgressOptions options = {}) : out_(&out), live_(live), o_(options) {}

  void on_begin(const RunInfo& info) {
    strategy_ = info.strategy;
    budget_ = info.budget;
    start_ = clock::now();
    last_draw_.reset();
    trials_ = failures_ = 0;
    best_ = std::numeric_limits<double>::quiet_NaN();
    cost_ = 0.0;
    epoch_.reset();
    if (live_) draw(true);
  }

  template <class Arch>
  void on_trial(const Trial<Arch>& t, const History<Arch>& h) {
    trials_ = h.size();
    failures_ += !t.eval.ok();
    cost_ = t.total_cost;
    if (const auto* b = h.best()) best_ = b->eval.score;
    if (live_)
      draw(false);
    else if (o_.every > 0 && trials_ % o_.every == 0)
      *out_ << status() << '\n' << std::flush;
  }

  void on_epoch(const EpochInfo& e) {
    epoch_ = e;
    if (live_) draw(false);
  }

  template <class Arch>
  void on_end(const History<Arch>& h) {
    trials_ = h.size();
    failures_ = h.failures();
    cost_ = h.total_cost();
    if (const auto* b = h.best()) best_ = b->eval.score;
    if (live_) {
      draw(true);
      *out_ << '\n' << std::flush;
    } else {
      *out_ << summary() << '\n' << std::flush;
    }
  }

  /// The status line as it would be drawn now.
  [[nodiscard]] std::string status() const {
    const double elapsed = seconds();
    std::string s = (strategy_.empty() ? std::string("search") : strategy_) + ": trial " + std::to_string(trials_);
    if (budget_.evaluations) s += "/" + std::to_string(*budget_.evaluations);
    if (const auto f = fraction(elapsed)) s += " (" + std::to_string(static_cast<int>(std::floor(*f * 100.0))) + "%)";
    s += ", best " + (std::isnan(best_) ? std::string("-") : fmt(best_, o_.digits));
    if (failures_) s += ", " + std::to_string(failures_) + " failed";
    if (budget_.cost_seconds || cost_ > 0.0) s += ", cost " + fmt_duration(cost_);
    s += ", elapsed " + fmt_duration(elapsed);
    if (const auto left = time_left(elapsed)) s += ", left ~" + fmt_duration(*left);
    if (epoch_) {
      s += ", epoch " + std::to_string(epoch_->epoch);
      if (epoch_->epochs) s += "/" + std::to_string(epoch_->epochs);
      s += " loss " + fmt(epoch_->train_loss, 3);
    }
    return s;
  }

  /// The line printed at the end without a terminal.
  [[nodiscard]] std::string summary() const {
    std::string s = (strategy_.empty() ? std::string("search") : strategy_) + ": " + std::to_string(trials_) +
                    " trials";
    if (failures_) s += " (" + std::to_string(failures_) + " failed)";
    s += ", best " + (std::isnan(best_) ? std::string("none") : fmt(best_, o_.digits));
    if (cost_ > 0.0) s += ", cost " + fmt_duration(cost_);
    s += ", " + fmt_duration(seconds());
    return s;
  }

  [[nodiscard]] bool live() const noexcept { return live_; }

 private:
  [[nodiscard]] double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

  /// Share of the budget used: the largest over its limits (the first to run out ends the run).
  [[nodiscard]] std::optional<double> fraction(double elapsed) const {
    std::optional<double> f;
    const auto take = [&](double v) { f = std::clamp(std::max(f.value_or(0.0), v), 0.0, 1.0); };
    if (budget_.evaluations) take(static_cast<double>(trials_) / static_cast<double>(*budget_.evaluations));
    if (budget_.cost_seconds) take(cost_ / *budget_.cost_seconds);
    if (budget_.wall_seconds) take(elapsed / *budget_.wall_seconds);
    return f;
  }

  [[nodiscard]] std::optional<double> time_left(double elapsed) const {
    std::optional<double> left;
    const auto take = [&](double v) {
      if (std::isfinite(v)) left = std::max(0.0, std::min(left.value_or(v), v));
    };
    if (budget_.wall_seconds) take(*budget_.wall_seconds - elapsed);
    if (budget_.evaluations && trials_ > 0)
      take(elapsed * static_cast<double>(*budget_.evaluations - std::min(trials_, *budget_.evaluations)) /
           static_cast<double>(trials_));
    if (budget_.cost_seconds && cost_ > 0.0) take(elapsed * std::max(0.0, *budget_.cost_seconds - cost_) / cost_);
    return left;
  }

  void draw(bool force) {
    const auto now = clock::now();
    if (!force && last_draw_ && std::chrono::duration<double>(now - *last_draw_).count() < o_.refresh_seconds) return;
    last_draw_ = now;
    std::string bar;
    if (const auto f = fraction(seconds())) {
      constexpr int w = 20;
      const int filled = static_cast<int>(std::floor(*f * w));
      bar = "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(w - filled), '.') + "] ";
    }
    // Carriage return, the line, and "erase to end of line" so a shorter line leaves no residue.
    *out_ << '\r' << bar << status() << "\x1b[K" << std::flush;
  }

  std::ostream* out_;
  bool live_;
  ProgressOptions o_;
  std::string strategy_;
  Budget budget_;
  clock::time_point start_ = clock::now();
  std::optional<clock::time_point> last_draw_;
  std::size_t trials_ = 0;
  std::size_t failures_ = 0;
  double best_ = std::numeric_limits<double>::quiet_NaN();
  double cost_ = 0.0;
  std::optional<EpochInfo> epoch_;
};

/// Prints one line per finished epoch of training that runs outside a search (a final
/// training, an ensemble's networks one after the other): "final training (network 2 of
/// 3): epoch 4 of 9, train loss 0.3121, 12 s elapsed, about 15 s left". A network's epochs
/// count from 1, so an epoch number that does not grow starts the next network; the time
/// left is the network's mean epoch time times its epochs to go. Use it as a callback
/// (`on_epoch`) or as TrainingOptions::on_epoch (`operator()`); it keeps count, so where
/// options are copied (ensemble_final_training copies them per network) pass
/// `std::ref(lines)`.
class EpochLines {
 public:
  explicit EpochLines(std::string label = "training", int networks = 1, std::ostream& out = std::cerr)
      : label_(std::move(label)), networks_(std::max(1, networks)), out_(&out) {}

  void operator()(const EpochInfo& e) {
    if (e.epoch <= last_epoch_) {
      ++network_;
      elapsed_ = 0.0;
    }
    last_epoch_ = e.epoch;
    elapsed_ += e.seconds;
    const double per_epoch = elapsed_ / static_cast<double>(std::max<std::size_t>(1, e.epoch));
    const double left = per_epoch * (static_cast<double>(e.epochs) - static_cast<double>(e.epoch));
    const std::string which =
        networks_ > 1 ? " (network " + std::to_string(network_) + " of " + std::to_string(networks_) + ")" : "";
    char buf[160];
    std::snprintf(buf, sizeof buf, ": epoch %zu of %zu, train loss %.4f, %.0f s elapsed, about %.0f s left\n", e.epoch,
                  e.epochs, e.train_loss, elapsed_, std::max(0.0, left));
    *out_ << label_ << which << buf << std::flush;
  }
  void on_epoch(const EpochInfo& e) { (*this)(e); }

  /// The network the last line was about (1-based).
  [[nodiscard]] int network() const noexcept { return network_; }

 private:
  std::string label_;
  int networks_;
  std::ostream* out_;
  std::size_t last_epoch_ = 0;
  double elapsed_ = 0.0;  // the current network's epochs so far
  int network_ = 1;
};

}  // namespace nas
