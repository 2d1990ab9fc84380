// SVG charts: well-formed XML, escaped text, nice ticks, non-finite points skipped.
#include <catch2/catch.hpp>

#include <nas/report/svg.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace {

/// Checks that every tag is closed in order; returns the number of elements.
std::size_t balanced_elements(const std::string& s) {
  std::vector<std::string> stack;
  std::size_t elements = 0, pos = 0;
  while ((pos = s.find('<', pos)) != std::string::npos) {
    const auto end = s.find('>', pos);
    REQUIRE(end != std::string::npos);
    const std::string tag = s.substr(pos + 1, end - pos - 1);
    REQUIRE(tag.find('<') == std::string::npos);
    if (tag[0] == '/') {
      REQUIRE(!stack.empty());
      REQUIRE(stack.back() == tag.substr(1));
      stack.pop_back();
    } else {
      ++elements;
      const std::string name = tag.substr(0, tag.find_first_of(" \n/"));
      if (tag.back() != '/') stack.push_back(name);
    }
    pos = end + 1;
  }
  REQUIRE(stack.empty());
  return elements;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

/// The document without the attribute name that happens to contain "nan".
std::string numbers_only(std::string s) {
  for (auto p = s.find("dominant-baseline"); p != std::string::npos; p = s.find("dominant-baseline"))
    s.erase(p, 17);
  return s;
}

const double nan_v = std::numeric_limits<double>::quiet_NaN();
const double inf_v = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("nice_scale picks 1-2-5 steps that cover the range", "[report][svg]") {
  const auto a = nas::nice_scale(0.0, 1.0);
  REQUIRE(a.step == Approx(0.2));
  REQUIRE(a.ticks.size() == 6);
  REQUIRE(a.ticks.front() == 0.0);
  REQUIRE(a.ticks.back() == Approx(1.0));
  const auto b = nas::nice_scale(3.0, 97.0);
  REQUIRE(b.step == Approx(20.0));
  REQUIRE(b.lo == 0.0);
  REQUIRE(b.hi == Approx(100.0));
  const auto c = nas::nice_scale(5.0, 5.0);  // an empty range is widened
  REQUIRE(c.lo < 5.0);
  REQUIRE(c.hi > 5.0);
  REQUIRE(nas::tick_label(0.4, 0.2) == "0.4");
  REQUIRE(nas::tick_label(40.0, 20.0) == "40");
  REQUIRE(nas::tick_label(0.05, 0.05) == "0.05");
  REQUIRE(nas::tick_label(-1e-17, 0.2) == "0.0");
  REQUIRE(nas::tick_label(1.5e6, 5e5) == "1.5M");
  REQUIRE(nas::tick_label(2e9, 1e9) == "2G");
  REQUIRE(nas::tick_label(0.0, 5e5) == "0");
  REQUIRE(nas::tick_label(2e-5, 1e-5) == "2e-05");
  REQUIRE(nas::tick_label(5e5, 5e5, 3e6) == "0.5M");  // one style along the axis
}

TEST_CASE("LineChart writes well-formed SVG with titles, legend and ticks", "[report][svg]") {
  nas::LineChart c({.title = "Search <R&D>", .x_label = "trials", .y_label = "accuracy"});
  c.add("random \"search\"", {1, 2, 3, 4}, {0.1, 0.5, 0.4, 0.9}, {.step = true});
  c.add("evolution", {1, 2, 3, 4}, {0.2, 0.3, 0.7, 0.8}, {.dashed = true, .markers = true});
  c.band("spread", {1, 2, 3, 4}, {0.0, 0.1, 0.2, 0.3}, {0.3, 0.6, 0.8, 1.0});
  c.hline(0.75, "target");
  const auto s = c.svg();
  REQUIRE(balanced_elements(s) > 20);
  REQUIRE(count(s, "<svg") == 1);
  REQUIRE(count(s, "</svg>") == 1);
  REQUIRE_THAT(s, Catch::Contains("Search &lt;R&amp;D&gt;"));
  REQUIRE_THAT(s, Catch::Contains("random &quot;search&quot;"));
  REQUIRE_THAT(s, Catch::Contains(">evolution<") && Catch::Contains(">spread<") && Catch::Contains(">target<"));
  REQUIRE_THAT(s, Catch::Contains(">trials<") && Catch::Contains(">accuracy<"));
  for (const char* tick : {">0.0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1.0<"}) REQUIRE_THAT(s, Catch::Contains(tick));
  REQUIRE(count(s, "<polyline") == 2);
  REQUIRE(count(s, "<polygon") == 1);
  REQUIRE(numbers_only(s).find("nan") == std::string::npos);
}

TEST_CASE("LineChart skips NaN and infinite points and breaks the line there", "[report][svg]") {
  nas::LineChart c;
  c.add("best", {1, 2, 3, 4, 5, 6}, {-inf_v, 0.2, 0.3, nan_v, 0.5, 0.6});
  const auto s = c.svg();
  balanced_elements(s);
  REQUIRE(count(s, "<polyline") == 2);  // 2-3 and 5-6
  for (const char* bad : {"nan", "inf", "NaN", "e+"}) REQUIRE(numbers_only(s).find(bad) == std::string::npos);
  REQUIRE(s.find("no data") == std::string::npos);
}

TEST_CASE("a chart with nothing drawable says no data, and mismatched series are rejected", "[report][svg]") {
  nas::LineChart c({.title = "empty"});
  REQUIRE_THAT(c.svg(), Catch::Contains("no data"));
  c.add("all nan", {1, 2}, {nan_v, inf_v});
  const auto s = c.svg();
  balanced_elements(s);
  REQUIRE_THAT(s, Catch::Contains("no data"));
  REQUIRE(count(s, "<polyline") == 0);
  REQUIRE_THROWS_AS(c.add("bad", {1, 2, 3}, {1, 2}), nas::ConfigError);
  nas::ScatterChart sc;
  REQUIRE_THAT(sc.svg(), Catch::Contains("no data"));
  nas::BarChart bc;
  REQUIRE_THAT(bc.svg(), Catch::Contains("no data"));
}

TEST_CASE("a log-x axis puts ticks at powers of ten and drops x <= 0", "[report][svg]") {
  nas::LineChart c({.log_x = true});
  c.add("cost", {0.0, 1.0, 10.0, 1000.0}, {1, 2, 3, 4});
  const auto s = c.svg();
  balanced_elements(s);
  for (const char* tick : {">1<", ">10<", ">100<", ">1000<"}) REQUIRE_THAT(s, Catch::Contains(tick));
  REQUIRE(count(s, "<polyline") == 1);
}

TEST_CASE("ScatterChart colours groups and draws the front on top", "[report][svg]") {
  nas::ScatterChart c({.title = "accuracy vs latency", .x_label = "latency (ms)", .y_label = "accuracy"});
  c.add("random", {1, 2, 3}, {0.5, 0.6, 0.55});
  c.add("evolution", {1.5, 2.5}, {0.65, nan_v});
  c.front("Pareto front", {3, 1, 1.5}, {0.6, 0.5, 0.65}, true);
  const auto s = c.svg();
  balanced_elements(s);
  REQUIRE_THAT(s, Catch::Contains(std::string(nas::palette_color(0))) && Catch::Contains(std::string(nas::palette_color(1))));
  REQUIRE_THAT(s, Catch::Contains(">Pareto front<"));
  REQUIRE(count(s, "r=\"3.5\"") == 4);  // the NaN point is skipped
  REQUIRE(count(s, "<polyline") == 1);
}

TEST_CASE("BarChart groups bars per category with a reference line", "[report][svg]") {
  nas::BarChart c({.title = "ratio", .y_label = "nas / torch"});
  c.categories({"conv", "pool", "a category name too long to fit its band"}).add("1 thread", {1.2, 0.8, 1.0}).add("2 threads", {1.5, nan_v, 0.9});
  c.reference(1.0, "parity").value_labels(2);
  const auto s = c.svg();
  balanced_elements(s);
  REQUIRE(count(s, "<rect x=") == 1 + 1 + 5 + 2);  // background + clip area + bars + legend swatches
  REQUIRE_THAT(s, Catch::Contains(">parity<") && Catch::Contains(">1.20<") && Catch::Contains("rotate(-30"));
  REQUIRE_THROWS_AS(c.add("short", {1.0}), nas::ConfigError);
}

TEST_CASE("charts save to a file and name an unwritable path", "[report][svg]") {
  const auto path = std::filesystem::temp_directory_path() / "nas_svg_test.svg";
  nas::LineChart c;
  c.add("a", {1, 2}, {3, 4});
  c.save(path.string());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(text == c.svg());
  std::filesystem::remove(path);
  REQUIRE_THROWS_WITH(c.save("/nonexistent-dir/x.svg"), Catch::Contains("/nonexistent-dir/x.svg"));
}

TEST_CASE("a legend name too long for its column is shortened with the full name as a tooltip", "[report][svg]") {
  const std::string name = "regularized evolution on NAS-Bench-201 with ten seeds and a long description";
  nas::LineChart c;
  c.add(name, {1, 2}, {1, 2});
  c.add("short", {1, 2}, {2, 1});
  const auto s = c.svg();
  balanced_elements(s);
  REQUIRE_THAT(s, Catch::Contains("\u2026<title>" + name + "</title>"));
  REQUIRE_THAT(s, Catch::Contains(">short</text>"));
}
