// search_value_summary: the main job's winner against its no-search controls, over seeds
// and budgets, from the runs benchmarks/search_value.sh leaves in one directory:
//
//     <dir>/b<budget>_s<seed>/job/result.json           (search_fashion_mnist --out)
//     <dir>/b<budget>_s<seed>/controls/controls.json    (search_controls --job)
//     <dir>/b<budget>_s<seed>/commit.txt                (the last commit that changed the code the run was built from)
//     <dir>/b<budget>_s<seed>/machine.txt               (the processor and vector instructions it ran on)
//
// Writes <dir>/search_value.csv (one row per cell and run), search_value.json (per budget:
// each group's mean and spread over seeds, and the verdict) and search_value_<budget>.svg,
// and prints a Markdown table. Groups: the job's winner, the all-nor_conv_3x3 cell, NB201's
// ResNet cell, the mean of each seed's random cells and the best of them. The verdict:
// the job's mean above the best control's mean by more than the sample standard deviation
// of the job's accuracies over the seeds, where a control is a way to pick a cell without
// searching (all nor_conv_3x3, ResNet, a random cell). The best random cell of each
// seed is picked by its test accuracy, which no user without a search has: it is shown, and
// the margin over it printed, but it does not count as a control. Every run should come
// from one commit's code, on one kind of machine (the budgets are wall-clock seconds, so
// a faster machine trains more): the commits and machines are listed, and runs of more than
// one (or a run without its commit.txt or machine.txt, or built from a tree with changes)
// are named in a warning. It also says for how many cells the final training's first plan
// was within 10 % of the epochs trained.
//
//     search_value_summary --dir out/search_value
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/report/cli.hpp>
#include <nas/report/csv.hpp>
#include <nas/report/format.hpp>
#include <nas/report/markdown.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> groups{"job's winner", "all nor_conv_3x3", "ResNet", "random cells (mean)",
                                      "random cells (best)"};

struct Stats {
  double mean = NAN, sd = NAN;
  std::size_t n = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  double m = 0.0;
  for (double x : v) m += x;
  s.mean = m / static_cast<double>(v.size());
  if (v.size() > 1) {
    double q = 0.0;
    for (double x : v) q += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(q / static_cast<double>(v.size() - 1));
  }
  return s;
}

using Runs = std::map<std::string, std::vector<std::pair<int, double>>>;
std::vector<double> values(const Runs& by_group, const std::string& g) {
  std::vector<double> v;
  if (const auto it = by_group.find(g); it != by_group.end())
    for (const auto& sa : it->second) v.push_back(sa.second);
  return v;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw nas::DataError(p.string() + ": cannot be read");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw nas::DataError(p.string() + ": " + e.what());
  }
}

// The first line of a run's stamp file (commit.txt, machine.txt), or "unknown".
std::string stamp(const fs::path& file) {
  std::string line;
  if (std::ifstream in(file); in && std::getline(in, line) && !line.empty()) return line;
  return "unknown";
}

// Prints "<what> <stamp>: <runs>" per stamp, stores them in `json`, and says whether the
// runs are not all of one known stamp.
bool list_stamps(const char* what, const std::map<std::string, std::vector<std::string>>& by_stamp, nlohmann::json& json) {
  json = nlohmann::json::object();
  for (const auto& [value, names] : by_stamp) {
    json[value] = names;
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    std::printf("%s %s: %s\n", what, value.c_str(), list.c_str());
  }
  return by_stamp.size() > 1 || by_stamp.count("unknown");
}

int summary_main(int argc, char** argv) {
  std::string dir = "out/search_value";
  CLI::App app{"Summarises the main job's winner against its no-search controls over seeds and budgets"};
  app.add_option("--dir", dir, "the directory benchmarks/search_value.sh wrote")->capture_default_str();
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
  if (!fs::is_directory(dir)) throw nas::ConfigError("--dir '" + dir + "': not a directory");
  nas::require_writable_directory("--dir", dir);

  // [budget][group] -> (seed, accuracy) per run; runs without controls yet are skipped.
  std::map<int, std::map<std::string, std::vector<std::pair<int, double>>>> acc;
  std::map<int, std::vector<int>> seeds;
  std::map<std::string, std::vector<std::string>> commits;   // commit -> runs built from it
  std::map<std::string, std::vector<std::string>> machines;  // machine -> runs done on it
  // [budget] -> each cell's epochs trained over its first plan's, less 1 (the goal: within 10 %)
  std::map<int, std::vector<double>> plan_errors;
  nas::CsvWriter csv((fs::path(dir) / "search_value.csv").string(),
                     {"budget_s", "seed", "label", "cell", "test_accuracy", "networks", "channels", "epochs_per_network",
                      "first_planned_epochs"});
  const std::regex run_name("b([0-9]{1,9})_s([0-9]{1,9})");  // fits an int
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && std::regex_match(e.path().filename().string(), run_name)) runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  for (const auto& run : runs) {
    std::smatch m;
    const std::string name = run.filename().string();
    std::regex_match(name, m, run_name);
    const int budget = std::stoi(m[1]), seed = std::stoi(m[2]);
    const fs::path controls = run / "controls" / "controls.json";
    if (!fs::exists(controls)) {
      std::fprintf(stderr, "search_value_summary: %s: no controls yet, left out\n", name.c_str());
      continue;
    }
    const nlohmann::json c = read_json(controls);
    std::vector<double> random;
    bool has_job = false;
    try {
      for (const auto& row : c.at("controls")) {
        const std::string label = row.at("label").get<std::string>();
        const double a = row.at("accuracy").get<double>();
        csv.row({std::to_string(budget), std::to_string(seed), label, row.at("cell").get<std::string>(), nas::fmt(a, 2),
                 std::to_string(row.value("networks", 1)), std::to_string(row.value("channels", 16)),
                 nas::fmt(row.value("epochs_per_network", 0.0), 2), nas::fmt(row.value("first_planned_epochs", 0.0), 2)});
        const double trained = row.value("epochs_per_network", 0.0), planned = row.value("first_planned_epochs", 0.0);
        if (trained > 0 && planned > 0) plan_errors[budget].push_back(trained / planned - 1.0);
        if (label.rfind("random ", 0) == 0)
          random.push_back(a);
        else
          acc[budget][label].push_back({seed, a});
        has_job = has_job || label == groups[0];
      }
    } catch (const nlohmann::json::exception& e) {  // a field missing or of the wrong type
      throw nas::DataError(controls.string() + ": " + e.what());
    }
    if (!has_job) throw nas::DataError(controls.string() + ": no row for the job's winner (run search_controls with --job)");
    if (!random.empty()) {
      acc[budget][groups[3]].push_back({seed, stats(random).mean});
      acc[budget][groups[4]].push_back({seed, *std::max_element(random.begin(), random.end())});
    }
    seeds[budget].push_back(seed);
    commits[stamp(run / "commit.txt")].push_back(name);
    machines[stamp(run / "machine.txt")].push_back(name);
  }
  if (acc.empty()) throw nas::DataError(dir + ": no run with controls (b<budget>_s<seed>/controls/controls.json)");

  nlohmann::json out = nlohmann::json::object();
  std::printf("| budget | seeds | %s | verdict |\n|---:|---:|", [] {
    std::string h;
    for (const auto& g : groups) h += (h.empty() ? "" : " | ") + g;
    return h;
  }().c_str());
  std::vector<std::string> plan_lines;  // printed after the table
  for (std::size_t i = 0; i <= groups.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& [budget, by_group] : acc) {
    nlohmann::json b = nlohmann::json::object();
    std::string row = "| " + std::to_string(budget) + " s | " + std::to_string(seeds[budget].size());
    double best_control = -INFINITY;
    std::string best_label;
    for (const auto& g : groups) {
      const std::vector<double> v = values(by_group, g);
      const Stats s = stats(v);
      b[g] = {{"mean", s.mean}, {"sd", s.sd}, {"runs", s.n}, {"values", v}};
      row += " | " + (s.n ? nas::fmt(s.mean, 2) + (s.n > 1 ? " ± " + nas::fmt(s.sd, 2) : "") + " %" : std::string("-"));
      if (g != groups[0] && g != groups[4] && s.n && s.mean > best_control) best_control = s.mean, best_label = g;
    }
    const Stats job = stats(values(by_group, groups[0]));
    const double margin = job.mean - best_control;
    const bool beats = job.n > 1 && std::isfinite(job.sd) && margin > job.sd;
    const std::string verdict = job.n < 2 ? "one seed: no verdict"
                                : beats   ? "search beats " + best_label + " by " + nas::fmt(margin, 2) + " pp > sd " + nas::fmt(job.sd, 2)
                                          : "not shown: " + nas::fmt(margin, 2) + " pp over " + best_label + ", sd " + nas::fmt(job.sd, 2);
    const Stats oracle = stats(values(by_group, groups[4]));
    b["margin_over_best_random_pp"] = job.mean - oracle.mean;
    b["best_control"] = best_label;
    b["margin_pp"] = margin;
    b["search_beats_controls"] = beats;
    b["seeds"] = seeds[budget];
    const std::vector<double>& errors = plan_errors[budget];
    const auto within = std::count_if(errors.begin(), errors.end(), [](double e) { return std::abs(e) <= 0.1; });
    double worst = 0.0;
    for (double e : errors) worst = std::abs(e) > std::abs(worst) ? e : worst;
    b["plan_errors"] = errors;
    b["plans_within_10pct"] = within;
    out[std::to_string(budget)] = b;
    std::printf("%s | %s%s |\n", row.c_str(), verdict.c_str(),
                oracle.n ? ("; " + nas::fmt(job.mean - oracle.mean, 2) + " pp over the best random cell of each seed").c_str() : "");

    if (!errors.empty())
      plan_lines.push_back(std::to_string(budget) + " s: the first plan was within 10 % of the epochs trained for " +
                           std::to_string(within) + " of " + std::to_string(errors.size()) + " cells (worst: " +
                           (worst >= 0 ? "+" : "") + nas::fmt(100.0 * worst, 1) + " %)");
    // The figure: each group's accuracy per seed, side by side.
    nas::ScatterChart chart({.title = "The job's winner against no-search controls, " + std::to_string(budget) + " s budget",
                             .x_label = "seed", .y_label = "test accuracy (%)", .width = 820, .height = 460});
    for (std::size_t k = 0; k < groups.size(); ++k) {
      const auto it = by_group.find(groups[k]);
      if (it == by_group.end()) continue;
      std::vector<double> x, y;
      for (const auto& [seed, a] : it->second) {
        x.push_back(static_cast<double>(seed) + 0.08 * (static_cast<double>(k) - 2.0));
        y.push_back(a);
      }
      chart.add(groups[k], x, y, static_cast<int>(k));
    }
    chart.hline(job.mean, "job's mean");
    chart.save((fs::path(dir) / ("search_value_" + std::to_string(budget) + ".svg")).string());
  }
  for (const auto& line : plan_lines) std::printf("%s\n", line.c_str());
  const bool mixed_commits = list_stamps("commit", commits, out["commits"]) ||
                             std::any_of(commits.begin(), commits.end(), [](const auto& kv) { return kv.first.ends_with("-dirty"); });
  const bool mixed_machines = list_stamps("machine", machines, out["machines"]);
  out["one_commit"] = !mixed_commits;
  out["one_machine"] = !mixed_machines;
  if (mixed_commits)
    std::fprintf(stderr, "search_value_summary: warning: the runs do not all come from one clean commit's code (%zu commit%s%s); "
                         "rerun the older ones before comparing them\n",
                 commits.size(), commits.size() == 1 ? "" : "s",
                 commits.count("unknown") ? ", some without commit.txt" : "");
  if (mixed_machines)
    std::fprintf(stderr, "search_value_summary: warning: the runs were not all done on one kind of machine (%zu kind%s%s); "
                         "a wall-clock budget buys other training on each, so compare runs of one machine\n",
                 machines.size(), machines.size() == 1 ? "" : "s",
                 machines.count("unknown") ? ", some without machine.txt" : "");
  std::ofstream(fs::path(dir) / "search_value.json") << out.dump(2) << "\n";
  std::printf("wrote %s/search_value.{csv,json} and search_value_<budget>.svg\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return nas::run_program("search_value_summary", [&] { return summary_main(argc, argv); });
}
