// History as report data: best-so-far curves and the CSV table of trials.
#include <catch2/catch.hpp>

#include <nas/report/csv.hpp>
#include <nas/report/history_report.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

namespace {
nas::History<int> sample_history() {
  nas::History<int> h;
  const double scores[] = {0.0, 0.4, 0.3, 0.7, 0.5};
  double total = 0.0;
  for (int i = 0; i < 5; ++i) {
    nas::Trial<int> t;
    t.arch = i;
    if (i == 0) {
      t.eval = nas::Evaluation::failed("diverged", 1.0);
    } else {
      t.eval.score = scores[i];
      t.eval.cost_seconds = 2.0;
    }
    if (i == 2) t.eval.metrics.set("params", 1500.0);
    if (i == 3) t.eval.metrics.set("latency_ms", 3.5).set("params", 2e6);
    total += t.eval.cost_seconds;
    t.total_cost = total;
    t.wall_seconds = 0.5 * (i + 1);
    h.push(std::move(t));
  }
  return h;
}
}  // namespace

TEST_CASE("best_so_far_curve follows the best ok score against trials, cost or time", "[report][history]") {
  const auto h = sample_history();
  const auto c = nas::best_so_far_curve(h);
  REQUIRE(c.x == std::vector<double>{1, 2, 3, 4, 5});
  REQUIRE(std::isinf(c.y[0]));
  REQUIRE(c.y[0] < 0);
  REQUIRE(std::vector<double>(c.y.begin() + 1, c.y.end()) == std::vector<double>{0.4, 0.4, 0.7, 0.7});
  REQUIRE(nas::best_so_far_curve(h, nas::CurveAxis::cost_seconds).x == std::vector<double>{1, 3, 5, 7, 9});
  REQUIRE(nas::best_so_far_curve(h, nas::CurveAxis::wall_seconds).x.back() == 2.5);
}

TEST_CASE("write_history_csv writes one row per trial with a column per metric", "[report][history]") {
  const auto path = (std::filesystem::temp_directory_path() / "nas_history_test.csv").string();
  nas::write_history_csv(sample_history(), path, [](int a) { return "arch," + std::to_string(a); });
  const auto rows = nas::read_csv(path);
  REQUIRE(rows.size() == 6);
  REQUIRE(rows[0] == std::vector<std::string>{"trial", "arch", "fidelity", "epochs", "score", "cost", "total_cost",
                                              "wall", "status", "reason", "params", "latency_ms"});
  REQUIRE(rows[1][1] == "arch,0");
  REQUIRE(rows[1][4] == "-inf");
  REQUIRE(rows[1][8] == "failed");
  REQUIRE(rows[1][9] == "diverged");
  REQUIRE(rows[3][10] == "1500");
  REQUIRE(rows[3][11] == "");
  REQUIRE(std::stod(rows[4][10]) == 2e6);
  REQUIRE(rows[4][11] == "3.5");
  std::filesystem::remove(path);
}
