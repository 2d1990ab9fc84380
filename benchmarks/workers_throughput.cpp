// Real-training throughput of the main job's search by workers and threads, from its
// journals: trials per minute after the first (so that data loading does not count),
// as CSV and a bar chart.
//
//     search_fashion_mnist --workers 1 --threads 2 --trials 32 --final-epochs 0.02 --ensemble 1 --channels 16 --out out/w1t2
//     ...
//     workers_throughput --out benchmarks/reports "1 worker, 2 threads=out/w1t2/journal.jsonl" ...
#include <CLI/CLI.hpp>

#include <nas/report/cli.hpp>
#include <nas/report/csv.hpp>
#include <nas/report/journal_reader.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>
#include <nas/space/nb201_space.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  return nas::run_program("workers_throughput", [&] {
    std::string out = "benchmarks/reports";
    std::vector<std::string> runs;
    CLI::App app{"Trials per minute of the main job's search, from its journals"};
    app.add_option("--out", out, "directory for parallel_training.{csv,svg}")->capture_default_str();
    app.add_option("runs", runs, "LABEL=JOURNAL for each run (several runs of one label are averaged)")->required();
    if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
    nas::require_writable_directory("--out", out);
    std::vector<std::string> labels;
    std::vector<double> sums, counts;
    nas::CsvWriter csv(out + "/parallel_training.csv", {"config", "journal", "trials", "seconds", "trials_per_minute"});
    for (const auto& r : runs) {
      const auto eq = r.find('=');
      if (eq == std::string::npos || eq == 0) throw nas::ConfigError("run '" + r + "': expected LABEL=JOURNAL");
      const std::string label = r.substr(0, eq), path = r.substr(eq + 1);
      const auto journal = nas::read_journal(path, nas::Nb201Space{});
      if (journal.trials.size() < 2) throw nas::DataError(path + ": fewer than 2 trials");
      const double seconds = journal.trials.back().wall_seconds - journal.trials.front().wall_seconds;
      const double rate = static_cast<double>(journal.trials.size() - 1) / seconds * 60.0;
      csv.row({label, path, std::to_string(journal.trials.size()), std::to_string(seconds), std::to_string(rate)});
      std::printf("%-28s %3zu trials, %.1f trials per minute\n", label.c_str(), journal.trials.size(), rate);
      std::size_t k = 0;
      while (k < labels.size() && labels[k] != label) ++k;
      if (k == labels.size()) labels.push_back(label), sums.push_back(0.0), counts.push_back(0.0);
      sums[k] += rate;
      counts[k] += 1.0;
    }
    std::vector<double> means;
    for (std::size_t k = 0; k < labels.size(); ++k) means.push_back(sums[k] / counts[k]);
    nas::BarChart chart({.title = "Main job's search on Fashion-MNIST: throughput",
                         .x_label = "workers x threads per worker", .y_label = "trials per minute (mean of runs)"});
    chart.categories(labels).add("trials per minute", means).value_labels(1);
    chart.save(out + "/parallel_training.svg");
    return 0;
  });
}
