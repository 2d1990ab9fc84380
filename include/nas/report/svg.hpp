// SVG charts for reports: line charts (steps, bands), scatter plots (Pareto fronts), grouped bars.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"

namespace nas {

/// The fixed chart palette (colour-blind friendly first, after Okabe & Ito 2008); series
/// take colours in order and wrap around.
inline constexpr std::array<std::string_view, 10> chart_palette = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#8C564B", "#BCBD22", "#17BECF"};

/// Colour `i` of the palette (wrapping).
[[nodiscard]] inline std::string_view palette_color(std::size_t i) noexcept { return chart_palette[i % chart_palette.size()]; }

/// Escapes text for XML content and attribute values.
[[nodiscard]] inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

/// Axis ticks at "nice" values (1, 2 or 5 times a power of ten).
struct NiceScale {
  double lo = 0.0;    ///< axis start (a tick, at or below the data)
  double hi = 1.0;    ///< axis end (a tick, at or above the data)
  double step = 0.2;  ///< distance between ticks
  std::vector<double> ticks;
};

/// About `target` nice ticks covering [lo, hi] (Heckbert 1990, "Nice numbers for graph
/// labels"). An empty range is widened around its value.
[[nodiscard]] inline NiceScale nice_scale(double lo, double hi, int target = 6) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0.0, hi = 1.0;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(lo))) {
    const double pad = std::abs(lo) > 1e-12 ? 0.1 * std::abs(lo) : 1.0;
    lo -= pad;
    hi += pad;
  }
  target = std::max(target, 2);
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  NiceScale s;
  s.step = step;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  s.lo = first * step;
  s.hi = last * step;
  for (double k = first; k <= last + 0.5; k += 1.0) {
    double v = k * step;
    if (std::abs(v) < step * 1e-9) v = 0.0;
    s.ticks.push_back(v);
  }
  return s;
}

/// A tick label for `v` on an axis whose ticks are `step` apart: as many decimals as the
/// step needs, an SI suffix (M, G, T) when the axis reaches a million (`axis_max`, the
/// largest |tick|, keeps one style along an axis), scientific notation for steps below 1e-4.
[[nodiscard]] inline std::string tick_label(double v, double step, double axis_max = 0.0) {
  char buf[32];
  if (std::abs(v) < std::abs(step) * 1e-9) v = 0.0;
  const double mag = std::max({std::abs(v), std::abs(step), std::abs(axis_max)});
  if (mag >= 1e6) {
    // Parameter and FLOP counts: an SI suffix with the decimals the step needs ("1.5M").
    if (v == 0.0) return "0";
    const double unit = mag >= 1e12 ? 1e12 : mag >= 1e9 ? 1e9 : 1e6;
    const char* suffix = unit == 1e12 ? "T" : unit == 1e9 ? "G" : "M";
    const int dec = std::clamp(static_cast<int>(std::ceil(-std::log10(std::abs(step) / unit) - 1e-9)), 0, 6);
    std::snprintf(buf, sizeof buf, "%.*f%s", dec, v / unit, suffix);
  } else if (std::abs(step) < 1e-4 && v != 0.0) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    const int dec = std::clamp(static_cast<int>(std::ceil(-std::log10(std::abs(step)) - 1e-9)), 0, 8);
    std::snprintf(buf, sizeof buf, "%.*f", dec, v);
  }
  return buf;
}

/// What every chart shares: size, titles, axis scales and limits.
struct ChartOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  int width = 720;
  int height = 420;
  bool log_x = false;
  bool log_y = false;
  std::optional<double> x_min{};  ///< fixed axis limits (default: from the data)
  std::optional<double> x_max{};
  std::optional<double> y_min{};
  std::optional<double> y_max{};
  bool legend = true;  ///< legend at the right of the plot (when some series has a name)
};

/// How a line series is drawn.
struct LineStyle {
  bool step = false;     ///< horizontal then vertical segments (best-so-far curves)
  bool dashed = false;
  bool markers = false;  ///< a dot at every point
  int color = -1;        ///< palette index; -1 takes the series' position
  double width = 2.0;
};

namespace detail {

inline std::string svg_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

/// One axis: data range to [0, 1].
struct ChartAxis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  [[nodiscard]] bool usable(double v) const noexcept { return std::isfinite(v) && (!log || v > 0.0); }
  [[nodiscard]] double unit(double v) const noexcept {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }

  /// Chooses limits and ticks from the data range [dlo, dhi] (NaN when there is no data)
  /// and the user's fixed limits.
  static ChartAxis make(double dlo, double dhi, bool log, std::optional<double> fix_lo, std::optional<double> fix_hi,
                        const char* where) {
    ChartAxis a;
    a.log = log;
    if (log && ((fix_lo && !(*fix_lo > 0.0)) || (fix_hi && !(*fix_hi > 0.0))))
      throw ConfigError(std::string(where) + ": a logarithmic axis needs limits > 0");
    if (fix_lo) dlo = *fix_lo;
    if (fix_hi) dhi = *fix_hi;
    if (!std::isfinite(dlo) || !std::isfinite(dhi)) {
      dlo = log ? 1.0 : 0.0;
      dhi = log ? 10.0 : 1.0;
    }
    if (dlo > dhi) std::swap(dlo, dhi);
    if (!log) {
      const auto s = nice_scale(dlo, dhi);
      a.lo = fix_lo ? dlo : s.lo;
      a.hi = fix_hi ? dhi : s.hi;
      if (a.hi <= a.lo) a.hi = a.lo + s.step;
      for (double t : s.ticks)
        if (t >= a.lo - 1e-9 * s.step && t <= a.hi + 1e-9 * s.step) a.ticks.push_back(t);
      double axis_max = 0.0;
      for (double t : a.ticks) axis_max = std::max(axis_max, std::abs(t));
      for (double t : a.ticks) a.labels.push_back(tick_label(t, s.step, axis_max));
      return a;
    }
    double e0 = std::floor(std::log10(dlo) + 1e-9), e1 = std::ceil(std::log10(dhi) - 1e-9);
    if (e1 <= e0) e1 = e0 + 1.0;
    a.lo = fix_lo ? dlo : std::pow(10.0, e0);
    a.hi = fix_hi ? dhi : std::pow(10.0, e1);
    if (a.hi <= a.lo) a.hi = a.lo * 10.0;
    const double decades = e1 - e0;
    const double stride = std::max(1.0, std::ceil(decades / 8.0));
    for (double e = e0; e <= e1 + 0.5; e += 1.0) {
      const double base = std::pow(10.0, e);
      const bool major = std::fmod(e - e0, stride) == 0.0;
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && decades > 2.0) continue;
        if (m == 1.0 && !major) continue;
        const double t = m * base;
        if (t < a.lo * (1 - 1e-9) || t > a.hi * (1 + 1e-9)) continue;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", t);
        a.ticks.push_back(t);
        a.labels.push_back(buf);
      }
    }
    return a;
  }
};

struct LegendEntry {
  std::string name;
  std::string color;
  enum Kind { line, dashed, marker, area, box } kind = line;
};

/// The frame every chart draws: background, title, grid, axes, ticks, axis titles, legend.
class ChartFrame {
 public:
  ChartFrame(const ChartOptions& o, std::vector<LegendEntry> legend) : o_(o), legend_(std::move(legend)) {
    if (o.width < 200 || o.height < 150)
      throw ConfigError("chart: size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                        " is below the minimum 200x150");
    std::size_t longest = 0;
    for (const auto& e : legend_) longest = std::max(longest, e.name.size());
    const bool show_legend = o.legend && longest > 0;
    const double legend_w = show_legend ? std::min(240.0, 40.0 + 7.0 * static_cast<double>(longest)) : 0.0;
    legend_chars_ = static_cast<std::size_t>((legend_w - 34.0) / 7.0);
    left_ = o.y_label.empty() ? 56.0 : 72.0;
    right_ = static_cast<double>(o.width) - (show_legend ? legend_w + 16.0 : 24.0);
    top_ = o.title.empty() ? 20.0 : 44.0;
    bottom_ = static_cast<double>(o.height) - (o.x_label.empty() ? 36.0 : 56.0);
    if (!show_legend) legend_.clear();
    clip_id_ = "plot" + std::to_string(std::hash<std::string>{}(o.title + o.x_label + o.y_label) % 1000000);
  }

  [[nodiscard]] double x0() const noexcept { return left_; }
  [[nodiscard]] double x1() const noexcept { return right_; }
  [[nodiscard]] double y0() const noexcept { return top_; }
  [[nodiscard]] double y1() const noexcept { return bottom_; }
  [[nodiscard]] double px(const ChartAxis& a, double v) const { return left_ + a.unit(v) * (right_ - left_); }
  [[nodiscard]] double py(const ChartAxis& a, double v) const { return bottom_ - a.unit(v) * (bottom_ - top_); }

  /// Opens the document and draws everything below the data.
  void open(std::string& s) const {
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o_.width) + "\" height=\"" +
         std::to_string(o_.height) + "\" viewBox=\"0 0 " + std::to_string(o_.width) + " " + std::to_string(o_.height) +
         "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(o_.width) + "\" height=\"" + std::to_string(o_.height) +
         "\" fill=\"#ffffff\"/>\n";
    // The clip area overhangs the axes a little so that markers on the limits stay whole.
    constexpr double m = 6.0;
    s += "<defs><clipPath id=\"" + clip_id_ + "\"><rect x=\"" + svg_num(left_ - m) + "\" y=\"" + svg_num(top_ - m) +
         "\" width=\"" + svg_num(right_ - left_ + 2 * m) + "\" height=\"" + svg_num(bottom_ - top_ + 2 * m) +
         "\"/></clipPath></defs>\n";
    if (!o_.title.empty())
      s += "<text x=\"" + svg_num(o_.width / 2.0) + "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" +
           xml_escape(o_.title) + "</text>\n";
  }

  void x_ticks(std::string& s, const ChartAxis& a, bool grid) const {
    s += "<g class=\"x-axis\">\n";
    for (std::size_t i = 0; i < a.ticks.size(); ++i) {
      const std::string x = svg_num(px(a, a.ticks[i]));
      if (grid)
        s += "<line x1=\"" + x + "\" y1=\"" + svg_num(top_) + "\" x2=\"" + x + "\" y2=\"" + svg_num(bottom_) +
             "\" stroke=\"#e6e6e6\"/>\n";
      s += "<line x1=\"" + x + "\" y1=\"" + svg_num(bottom_) + "\" x2=\"" + x + "\" y2=\"" + svg_num(bottom_ + 5) +
           "\" stroke=\"#333333\"/>\n";
      s += "<text x=\"" + x + "\" y=\"" + svg_num(bottom_ + 18) + "\" text-anchor=\"middle\">" + xml_escape(a.labels[i]) +
           "</text>\n";
    }
    s += "</g>\n";
  }

  void y_ticks(std::string& s, const ChartAxis& a) const {
    s += "<g class=\"y-axis\">\n";
    for (std::size_t i = 0; i < a.ticks.size(); ++i) {
      const std::string y = svg_num(py(a, a.ticks[i]));
      s += "<line x1=\"" + svg_num(left_) + "\" y1=\"" + y + "\" x2=\"" + svg_num(right_) + "\" y2=\"" + y +
           "\" stroke=\"#e6e6e6\"/>\n";
      s += "<line x1=\"" + svg_num(left_ - 5) + "\" y1=\"" + y + "\" x2=\"" + svg_num(left_) + "\" y2=\"" + y +
           "\" stroke=\"#333333\"/>\n";
      s += "<text x=\"" + svg_num(left_ - 8) + "\" y=\"" + y + "\" text-anchor=\"end\" dominant-baseline=\"middle\">" +
           xml_escape(a.labels[i]) + "</text>\n";
    }
    s += "</g>\n";
  }

  /// Axis lines and axis titles (drawn after the grid).
  void axes(std::string& s) const {
    s += "<line x1=\"" + svg_num(left_) + "\" y1=\"" + svg_num(bottom_) + "\" x2=\"" + svg_num(right_) + "\" y2=\"" +
         svg_num(bottom_) + "\" stroke=\"#333333\"/>\n";
    s += "<line x1=\"" + svg_num(left_) + "\" y1=\"" + svg_num(top_) + "\" x2=\"" + svg_num(left_) + "\" y2=\"" +
         svg_num(bottom_) + "\" stroke=\"#333333\"/>\n";
    if (!o_.x_label.empty())
      s += "<text x=\"" + svg_num((left_ + right_) / 2) + "\" y=\"" + svg_num(bottom_ + 40) +
           "\" text-anchor=\"middle\" font-size=\"13\">" + xml_escape(o_.x_label) + "</text>\n";
    if (!o_.y_label.empty()) {
      const std::string cy = svg_num((top_ + bottom_) / 2);
      s += "<text x=\"18\" y=\"" + cy + "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 " + cy +
           ")\">" + xml_escape(o_.y_label) + "</text>\n";
    }
  }

  /// Opens the group whose content is clipped to the plot area.
  [[nodiscard]] std::string clip_group() const { return "<g clip-path=\"url(#" + clip_id_ + ")\">\n"; }

  void no_data(std::string& s) const {
    s += "<text x=\"" + svg_num((left_ + right_) / 2) + "\" y=\"" + svg_num((top_ + bottom_) / 2) +
         "\" text-anchor=\"middle\" font-size=\"14\" fill=\"#7f7f7f\">no data</text>\n";
  }

  /// Legend and closing tag.
  void close(std::string& s) const {
    if (!legend_.empty()) {
      s += "<g class=\"legend\">\n";
      const double lx = right_ + 16;
      double ly = top_ + 8;
      for (const auto& e : legend_) {
        if (e.name.empty()) continue;
        const std::string y = svg_num(ly);
        switch (e.kind) {
          case LegendEntry::line:
          case LegendEntry::dashed:
            s += "<line x1=\"" + svg_num(lx) + "\" y1=\"" + y + "\" x2=\"" + svg_num(lx + 20) + "\" y2=\"" + y +
                 "\" stroke=\"" + e.color + "\" stroke-width=\"2.5\"" +
                 (e.kind == LegendEntry::dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
            break;
          case LegendEntry::marker:
            s += "<circle cx=\"" + svg_num(lx + 10) + "\" cy=\"" + y + "\" r=\"4\" fill=\"" + e.color + "\"/>\n";
            break;
          case LegendEntry::box:
            s += "<rect x=\"" + svg_num(lx + 2) + "\" y=\"" + svg_num(ly - 6) + "\" width=\"16\" height=\"12\" fill=\"" +
                 e.color + "\"/>\n";
            break;
          case LegendEntry::area:
            s += "<rect x=\"" + svg_num(lx + 2) + "\" y=\"" + svg_num(ly - 6) + "\" width=\"16\" height=\"12\" fill=\"" +
                 e.color + "\" fill-opacity=\"0.35\"/>\n";
            break;
        }
        // A name too long for the legend column is shortened; the full name stays as a tooltip.
        const std::size_t cut = utf8_prefix(e.name, legend_chars_);
        const std::string shown = cut < e.name.size() ? xml_escape(e.name.substr(0, utf8_prefix(e.name, legend_chars_ - 1))) +
                                                            "\u2026<title>" + xml_escape(e.name) + "</title>"
                                                      : xml_escape(e.name);
        s += "<text x=\"" + svg_num(lx + 26) + "\" y=\"" + y + "\" dominant-baseline=\"middle\">" + shown + "</text>\n";
        ly += 20;
      }
      s += "</g>\n";
    }
    s += "</svg>\n";
  }

 private:
  // Bytes of `s` that hold its first `chars` code points.
  static std::size_t utf8_prefix(const std::string& s, std::size_t chars) {
    std::size_t i = 0, n = 0;
    for (; i < s.size(); ++i)
      if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == chars) break;
    return i;
  }

  ChartOptions o_;
  std::vector<LegendEntry> legend_;
  std::size_t legend_chars_ = 0;
  double left_ = 0, right_ = 0, top_ = 0, bottom_ = 0;
  std::string clip_id_;
};

struct RefLine {
  double value;
  std::string label;
};

inline void check_series_sizes(const char* where, const std::string& name, std::size_t nx, std::size_t ny) {
  if (nx != ny)
    throw ConfigError(std::string(where) + ": series '" + name + "' has " + std::to_string(nx) + " x values and " +
                      std::to_string(ny) + " y values");
}

inline void extend_range(double& lo, double& hi, double v) {
  if (std::isnan(lo) || v < lo) lo = v;
  if (std::isnan(hi) || v > hi) hi = v;
}

inline void write_text_file(const std::string& path, const std::string& text, const char* where) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw DataError(std::string(where) + ": cannot open '" + path + "' for writing");
  f << text;
  f.flush();
  if (!f) throw DataError(std::string(where) + ": write failed on '" + path + "'");
}

/// Draws horizontal and vertical reference lines with their labels.
inline void draw_ref_lines(std::string& s, const ChartFrame& f, const ChartAxis& ax, const ChartAxis& ay,
                           const std::vector<RefLine>& h, const std::vector<RefLine>& v) {
  // A white outline under the label keeps it readable over bars, bands and lines.
  const std::string halo = " stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"";
  for (const auto& r : h) {
    if (!ay.usable(r.value) || r.value < ay.lo || r.value > ay.hi) continue;
    const std::string y = svg_num(f.py(ay, r.value));
    s += "<line x1=\"" + svg_num(f.x0()) + "\" y1=\"" + y + "\" x2=\"" + svg_num(f.x1()) + "\" y2=\"" + y +
         "\" stroke=\"#444444\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>\n";
    if (!r.label.empty())
      s += "<text x=\"" + svg_num(f.x1() - 4) + "\" y=\"" + svg_num(f.py(ay, r.value) - 5) +
           "\" text-anchor=\"end\" font-size=\"11\" fill=\"#444444\"" + halo + ">" + xml_escape(r.label) + "</text>\n";
  }
  for (const auto& r : v) {
    if (!ax.usable(r.value) || r.value < ax.lo || r.value > ax.hi) continue;
    const std::string x = svg_num(f.px(ax, r.value));
    s += "<line x1=\"" + x + "\" y1=\"" + svg_num(f.y0()) + "\" x2=\"" + x + "\" y2=\"" + svg_num(f.y1()) +
         "\" stroke=\"#444444\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>\n";
    if (!r.label.empty())
      s += "<text x=\"" + svg_num(f.px(ax, r.value) + 4) + "\" y=\"" + svg_num(f.y0() + 12) +
           "\" font-size=\"11\" fill=\"#444444\"" + halo + ">" + xml_escape(r.label) + "</text>\n";
  }
}

/// Splits a series into runs of drawable points (a NaN, an infinity or, on a log axis, a
/// value <= 0 ends a run) and returns them in pixel coordinates.
inline std::vector<std::vector<std::pair<double, double>>> drawable_runs(const ChartFrame& f, const ChartAxis& ax,
                                                                         const ChartAxis& ay, const std::vector<double>& x,
                                                                         const std::vector<double>& y) {
  std::vector<std::vector<std::pair<double, double>>> runs(1);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (ax.usable(x[i]) && ay.usable(y[i])) {
      runs.back().push_back({f.px(ax, x[i]), f.py(ay, y[i])});
    } else if (!runs.back().empty()) {
      runs.emplace_back();
    }
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

}  // namespace detail

/// Line chart of named (x, y) series, with optional step lines, shaded bands (mean ± std)
/// and dashed reference lines. Points with a NaN or infinite coordinate (or x <= 0 on a
/// log axis) are skipped and break the line; a chart with nothing drawable says "no data".
///
///     nas::LineChart c({.title = "Search", .x_label = "trials", .y_label = "best accuracy (%)"});
///     c.add("random", x, best_random, {.step = true});
///     c.band("", x, lower, upper);  // shaded in the colour of the last series
///     c.save("search.svg");
class LineChart {
 public:
  explicit LineChart(ChartOptions options = {}) : o_(std::move(options)) {}

  LineChart& add(std::string name, std::vector<double> x, std::vector<double> y, LineStyle style = {}) {
    detail::check_series_sizes("LineChart::add", name, x.size(), y.size());
    if (style.color < 0) style.color = static_cast<int>(series_.size());
    series_.push_back({std::move(name), std::move(x), std::move(y), style});
    return *this;
  }
  /// A series against x = 1, 2, ..., n (trial numbers).
  LineChart& add_trials(std::string name, std::vector<double> y, LineStyle style = {}) {
    std::vector<double> x(y.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i + 1);
    return add(std::move(name), std::move(x), std::move(y), style);
  }
  /// A shaded band between `lower` and `upper`; `color` -1 takes the last series' colour.
  /// An empty name keeps it out of the legend.
  LineChart& band(std::string name, std::vector<double> x, std::vector<double> lower, std::vector<double> upper,
                  int color = -1) {
    detail::check_series_sizes("LineChart::band", name, x.size(), lower.size());
    detail::check_series_sizes("LineChart::band", name, x.size(), upper.size());
    if (color < 0) color = series_.empty() ? 0 : series_.back().style.color;
    bands_.push_back({std::move(name), std::move(x), std::move(lower), std::move(upper), color});
    return *this;
  }
  LineChart& hline(double y, std::string label = "") {
    hlines_.push_back({y, std::move(label)});
    return *this;
  }
  LineChart& vline(double x, std::string label = "") {
    vlines_.push_back({x, std::move(label)});
    return *this;
  }

  [[nodiscard]] std::string svg() const {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    double xlo = nan, xhi = nan, ylo = nan, yhi = nan;
    const auto usable_x = [&](double v) { return std::isfinite(v) && (!o_.log_x || v > 0.0); };
    const auto usable_y = [&](double v) { return std::isfinite(v) && (!o_.log_y || v > 0.0); };
    bool any = false;
    for (const auto& s : series_)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (usable_x(s.x[i]) && usable_y(s.y[i])) {
          detail::extend_range(xlo, xhi, s.x[i]);
          detail::extend_range(ylo, yhi, s.y[i]);
          any = true;
        }
    for (const auto& b : bands_)
      for (std::size_t i = 0; i < b.x.size(); ++i)
        if (usable_x(b.x[i]) && usable_y(b.lower[i]) && usable_y(b.upper[i])) {
          detail::extend_range(xlo, xhi, b.x[i]);
          detail::extend_range(ylo, yhi, b.lower[i]);
          detail::extend_range(ylo, yhi, b.upper[i]);
          any = true;
        }
    if (any) {
      for (const auto& r : hlines_)
        if (usable_y(r.value)) detail::extend_range(ylo, yhi, r.value);
      for (const auto& r : vlines_)
        if (usable_x(r.value)) detail::extend_range(xlo, xhi, r.value);
    }
    const auto ax = detail::ChartAxis::make(xlo, xhi, o_.log_x, o_.x_min, o_.x_max, "LineChart");
    const auto ay = detail::ChartAxis::make(ylo, yhi, o_.log_y, o_.y_min, o_.y_max, "LineChart");

    std::vector<detail::LegendEntry> legend;
    for (const auto& s : series_)
      legend.push_back({s.name, std::string(palette_color(static_cast<std::size_t>(s.style.color))),
                        s.style.dashed ? detail::LegendEntry::dashed : detail::LegendEntry::line});
    for (const auto& b : bands_)
      legend.push_back({b.name, std::string(palette_color(static_cast<std::size_t>(b.color))), detail::LegendEntry::area});
    const detail::ChartFrame f(o_, std::move(legend));

    std::string out;
    f.open(out);
    f.x_ticks(out, ax, true);
    f.y_ticks(out, ay);
    f.axes(out);
    out += f.clip_group();
    for (const auto& b : bands_) {
      const std::string color(palette_color(static_cast<std::size_t>(b.color)));
      std::vector<std::pair<double, double>> up, lo;
      const auto flush = [&] {
        if (up.size() >= 2) {
          out += "<polygon fill=\"" + color + "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"";
          for (const auto& p : up) out += detail::svg_num(p.first) + "," + detail::svg_num(p.second) + " ";
          for (auto it = lo.rbegin(); it != lo.rend(); ++it)
            out += detail::svg_num(it->first) + "," + detail::svg_num(it->second) + " ";
          out.back() = '"';
          out += "/>\n";
        }
        up.clear();
        lo.clear();
      };
      for (std::size_t i = 0; i < b.x.size(); ++i) {
        if (ax.usable(b.x[i]) && ay.usable(b.lower[i]) && ay.usable(b.upper[i])) {
          up.push_back({f.px(ax, b.x[i]), f.py(ay, b.upper[i])});
          lo.push_back({f.px(ax, b.x[i]), f.py(ay, b.lower[i])});
        } else {
          flush();
        }
      }
      flush();
    }
    for (const auto& s : series_) {
      const std::string color(palette_color(static_cast<std::size_t>(s.style.color)));
      for (const auto& run : detail::drawable_runs(f, ax, ay, s.x, s.y)) {
        if (run.size() >= 2) {
          out += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"" + detail::svg_num(s.style.width) +
                 "\" stroke-linejoin=\"round\"" + (s.style.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"";
          for (std::size_t i = 0; i < run.size(); ++i) {
            if (s.style.step && i > 0)
              out += detail::svg_num(run[i].first) + "," + detail::svg_num(run[i - 1].second) + " ";
            out += detail::svg_num(run[i].first) + "," + detail::svg_num(run[i].second) + " ";
          }
          out.back() = '"';
          out += "/>\n";
        }
        if (s.style.markers || run.size() == 1)
          for (const auto& p : run)
            out += "<circle cx=\"" + detail::svg_num(p.first) + "\" cy=\"" + detail::svg_num(p.second) + "\" r=\"3\" fill=\"" +
                   color + "\"/>\n";
      }
    }
    detail::draw_ref_lines(out, f, ax, ay, hlines_, vlines_);
    out += "</g>\n";
    if (!any) f.no_data(out);
    f.close(out);
    return out;
  }

  /// Writes svg() to `path`; throws DataError naming the path if it cannot be written.
  void save(const std::string& path) const { detail::write_text_file(path, svg(), "LineChart::save"); }

 private:
  struct Series {
    std::string name;
    std::vector<double> x, y;
    LineStyle style;
  };
  struct Band {
    std::string name;
    std::vector<double> x, lower, upper;
    int color;
  };
  ChartOptions o_;
  std::vector<Series> series_;
  std::vector<Band> bands_;
  std::vector<detail::RefLine> hlines_, vlines_;
};

/// Scatter plot of named groups of points (one colour each), with optional highlighted
/// fronts (e.g. the Pareto front, drawn as a dark line through its points sorted by x,
/// as a staircase when `step`).
class ScatterChart {
 public:
  explicit ScatterChart(ChartOptions options = {}) : o_(std::move(options)) {}

  ScatterChart& add(std::string group, std::vector<double> x, std::vector<double> y, int color = -1) {
    detail::check_series_sizes("ScatterChart::add", group, x.size(), y.size());
    if (color < 0) color = static_cast<int>(groups_.size());
    groups_.push_back({std::move(group), std::move(x), std::move(y), color, false, false});
    return *this;
  }
  ScatterChart& front(std::string name, std::vector<double> x, std::vector<double> y, bool step = false) {
    detail::check_series_sizes("ScatterChart::front", name, x.size(), y.size());
    std::vector<std::size_t> order(x.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
    std::vector<double> sx, sy;
    for (auto i : order) sx.push_back(x[i]), sy.push_back(y[i]);
    groups_.push_back({std::move(name), std::move(sx), std::move(sy), -1, true, step});
    return *this;
  }
  ScatterChart& hline(double y, std::string label = "") {
    hlines_.push_back({y, std::move(label)});
    return *this;
  }
  ScatterChart& vline(double x, std::string label = "") {
    vlines_.push_back({x, std::move(label)});
    return *this;
  }

  [[nodiscard]] std::string svg() const {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    double xlo = nan, xhi = nan, ylo = nan, yhi = nan;
    bool any = false;
    for (const auto& g : groups_)
      for (std::size_t i = 0; i < g.x.size(); ++i)
        if (std::isfinite(g.x[i]) && std::isfinite(g.y[i]) && (!o_.log_x || g.x[i] > 0) && (!o_.log_y || g.y[i] > 0)) {
          detail::extend_range(xlo, xhi, g.x[i]);
          detail::extend_range(ylo, yhi, g.y[i]);
          any = true;
        }
    if (any) {
      for (const auto& r : hlines_)
        if (std::isfinite(r.value) && (!o_.log_y || r.value > 0)) detail::extend_range(ylo, yhi, r.value);
      for (const auto& r : vlines_)
        if (std::isfinite(r.value) && (!o_.log_x || r.value > 0)) detail::extend_range(xlo, xhi, r.value);
    }
    const auto ax = detail::ChartAxis::make(xlo, xhi, o_.log_x, o_.x_min, o_.x_max, "ScatterChart");
    const auto ay = detail::ChartAxis::make(ylo, yhi, o_.log_y, o_.y_min, o_.y_max, "ScatterChart");
    std::vector<detail::LegendEntry> legend;
    for (const auto& g : groups_)
      legend.push_back({g.name, color_of(g), g.front ? detail::LegendEntry::line : detail::LegendEntry::marker});
    const detail::ChartFrame f(o_, std::move(legend));

    std::string out;
    f.open(out);
    f.x_ticks(out, ax, true);
    f.y_ticks(out, ay);
    f.axes(out);
    out += f.clip_group();
    for (const auto& g : groups_) {
      if (g.front) continue;
      const std::string color = color_of(g);
      out += "<g fill=\"" + color + "\" fill-opacity=\"0.75\">\n";
      for (const auto& run : detail::drawable_runs(f, ax, ay, g.x, g.y))
        for (const auto& p : run)
          out += "<circle cx=\"" + detail::svg_num(p.first) + "\" cy=\"" + detail::svg_num(p.second) + "\" r=\"3.5\"/>\n";
      out += "</g>\n";
    }
    for (const auto& g : groups_) {
      if (!g.front) continue;
      const std::string color = color_of(g);
      for (const auto& run : detail::drawable_runs(f, ax, ay, g.x, g.y)) {
        if (run.size() >= 2) {
          out += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\" points=\"";
          for (std::size_t i = 0; i < run.size(); ++i) {
            if (g.step && i > 0) out += detail::svg_num(run[i].first) + "," + detail::svg_num(run[i - 1].second) + " ";
            out += detail::svg_num(run[i].first) + "," + detail::svg_num(run[i].second) + " ";
          }
          out.back() = '"';
          out += "/>\n";
        }
        for (const auto& p : run)
          out += "<circle cx=\"" + detail::svg_num(p.first) + "\" cy=\"" + detail::svg_num(p.second) +
                 "\" r=\"5\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\"/>\n";
      }
    }
    detail::draw_ref_lines(out, f, ax, ay, hlines_, vlines_);
    out += "</g>\n";
    if (!any) f.no_data(out);
    f.close(out);
    return out;
  }

  void save(const std::string& path) const { detail::write_text_file(path, svg(), "ScatterChart::save"); }

 private:
  struct Group {
    std::string name;
    std::vector<double> x, y;
    int color;
    bool front;
    bool step;
  };
  static std::string color_of(const Group& g) {
    return g.front ? std::string("#111111") : std::string(palette_color(static_cast<std::size_t>(g.color)));
  }
  ChartOptions o_;
  std::vector<Group> groups_;
  std::vector<detail::RefLine> hlines_, vlines_;
};

/// Grouped bar chart: one group per category, one bar per series, with optional dashed
/// reference lines (e.g. a ratio of 1.0) and value labels. Non-finite values leave a gap.
///
///     nas::BarChart c({.title = "Speed-up over PyTorch", .y_label = "ratio"});
///     c.categories({"conv3x3", "sep5x5"}).add("1 thread", {1.4, 0.9}).reference(1.0, "parity");
class BarChart {
 public:
  explicit BarChart(ChartOptions options = {}) : o_(std::move(options)) {
    if (o_.log_x || o_.log_y) throw ConfigError("BarChart: logarithmic axes are not supported");
  }

  BarChart& categories(std::vector<std::string> names) {
    for (const auto& s : series_)
      if (s.values.size() != names.size())
        throw ConfigError("BarChart::categories: " + std::to_string(names.size()) + " categories but series '" + s.name +
                          "' has " + std::to_string(s.values.size()) + " values");
    categories_ = std::move(names);
    return *this;
  }
  BarChart& add(std::string series, std::vector<double> values, int color = -1) {
    if (values.size() != categories_.size())
      throw ConfigError("BarChart::add: series '" + series + "' has " + std::to_string(values.size()) + " values for " +
                        std::to_string(categories_.size()) + " categories");
    if (color < 0) color = static_cast<int>(series_.size());
    series_.push_back({std::move(series), std::move(values), color});
    return *this;
  }
  BarChart& reference(double y, std::string label = "") {
    refs_.push_back({y, std::move(label)});
    return *this;
  }
  /// Writes each bar's value above it with `digits` decimals (-1: no labels).
  BarChart& value_labels(int digits) {
    value_digits_ = digits;
    return *this;
  }

  [[nodiscard]] std::string svg() const {
    double ylo = 0.0, yhi = 0.0;  // bars start at zero
    bool any = false;
    for (const auto& s : series_)
      for (double v : s.values)
        if (std::isfinite(v)) detail::extend_range(ylo, yhi, v), any = true;
    for (const auto& r : refs_)
      if (std::isfinite(r.value)) detail::extend_range(ylo, yhi, r.value);
    if (!any) ylo = yhi = std::numeric_limits<double>::quiet_NaN();
    const auto ay = detail::ChartAxis::make(ylo, yhi, false, o_.y_min, o_.y_max, "BarChart");
    std::vector<detail::LegendEntry> legend;
    if (series_.size() > 1 || (series_.size() == 1 && !series_[0].name.empty()))
      for (const auto& s : series_)
        legend.push_back({s.name, std::string(palette_color(static_cast<std::size_t>(s.color))), detail::LegendEntry::box});
    const detail::ChartFrame f(o_, std::move(legend));

    std::string out;
    f.open(out);
    f.y_ticks(out, ay);
    f.axes(out);
    const std::size_t nc = categories_.size();
    const double band = nc ? (f.x1() - f.x0()) / static_cast<double>(nc) : 0.0;
    // Category labels, rotated when they would not fit their band.
    std::size_t longest = 0;
    for (const auto& c : categories_) longest = std::max(longest, c.size());
    const bool rotate = 6.5 * static_cast<double>(longest) > band * 0.95;
    out += "<g class=\"x-axis\">\n";
    for (std::size_t c = 0; c < nc; ++c) {
      const double cx = f.x0() + band * (static_cast<double>(c) + 0.5);
      const std::string x = detail::svg_num(cx), y = detail::svg_num(f.y1() + 16);
      if (rotate)
        out += "<text x=\"" + x + "\" y=\"" + y + "\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-30 " + x + " " +
               y + ")\">" + xml_escape(categories_[c]) + "</text>\n";
      else
        out += "<text x=\"" + x + "\" y=\"" + y + "\" text-anchor=\"middle\">" + xml_escape(categories_[c]) + "</text>\n";
    }
    out += "</g>\n";
    out += f.clip_group();
    const double zero = f.py(ay, std::clamp(0.0, ay.lo, ay.hi));
    const double inner = band * 0.8;
    const double bar_w = series_.empty() ? 0.0 : inner / static_cast<double>(series_.size());
    for (std::size_t si = 0; si < series_.size(); ++si) {
      const auto& s = series_[si];
      out += "<g fill=\"" + std::string(palette_color(static_cast<std::size_t>(s.color))) + "\">\n";
      for (std::size_t c = 0; c < nc; ++c) {
        const double v = s.values[c];
        if (!std::isfinite(v)) continue;
        const double x = f.x0() + band * static_cast<double>(c) + band * 0.1 + bar_w * static_cast<double>(si);
        const double y = f.py(ay, std::clamp(v, ay.lo, ay.hi));
        out += "<rect x=\"" + detail::svg_num(x + 0.5) + "\" y=\"" + detail::svg_num(std::min(y, zero)) + "\" width=\"" +
               detail::svg_num(std::max(bar_w - 1.0, 1.0)) + "\" height=\"" + detail::svg_num(std::abs(zero - y)) + "\"/>\n";
      }
      out += "</g>\n";
    }
    out += "</g>\n";
    if (value_digits_ >= 0)
      for (std::size_t si = 0; si < series_.size(); ++si)
        for (std::size_t c = 0; c < nc; ++c) {
          const double v = series_[si].values[c];
          if (!std::isfinite(v)) continue;
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.*f", value_digits_, v);
          const double x = f.x0() + band * static_cast<double>(c) + band * 0.1 + bar_w * (static_cast<double>(si) + 0.5);
          const double y = f.py(ay, std::clamp(v, ay.lo, ay.hi)) + (v >= 0 ? -4.0 : 12.0);
          out += "<text x=\"" + detail::svg_num(x) + "\" y=\"" + detail::svg_num(y) +
                 "\" text-anchor=\"middle\" font-size=\"10\">" + buf + "</text>\n";
        }
    detail::draw_ref_lines(out, f, ay, ay, refs_, {});  // last, so that its label stays on top
    if (!any) f.no_data(out);
    f.close(out);
    return out;
  }

  void save(const std::string& path) const { detail::write_text_file(path, svg(), "BarChart::save"); }

 private:
  struct Series {
    std::string name;
    std::vector<double> values;
    int color;
  };
  ChartOptions o_;
  std::vector<std::string> categories_;
  std::vector<Series> series_;
  std::vector<detail::RefLine> refs_;
  int value_digits_ = -1;
};

}  // namespace nas
