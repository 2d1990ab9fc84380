// This machine's latency table for a space, validated against end-to-end measurements of
// random architectures: RMSE and the share of predictions within +-5% and +-10%, at batch
// 1 and 64, 1 and 2 threads; writes latency.md, its CSV/JSON and a scatter figure.
//
//     latency_model --space nb201 --samples 100
//     latency_model --space darts --samples 50 --out out/latency_darts
//     latency_model --space chain --samples 100
//
// Timed runs: run it alone on the machine, nothing else timed beside it.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <nas/hw/latency.hpp>
#include <nas/hw/latency_table.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/model/chain_network.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/report/svg.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Setting {
  int batch = 1;
  int threads = 1;
  std::size_t samples = 100;
};

struct Outcome {
  Setting setting;
  nas::LatencyTable table;
  std::vector<std::string> archs;
  std::vector<double> predicted, measured, spread;  // spread: (p90 - p10) / median over the rounds
  double rmse = 0, rel_rmse = 0, within5 = 0, within10 = 0, median_abs_err = 0, max_abs_err = 0, seconds = 0;
  double median_spread = 0;
};

double quantile(std::vector<double> v, double q) { return nas::detail::quantile(std::move(v), q); }

template <class Space>
Outcome run_setting(const Space& space, const nas::NetworkInput& input, const nas::NetworkOptions& options, Setting s,
                    std::size_t calibration, int rounds, std::uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  nas::set_num_threads(s.threads);
  Outcome o;
  o.setting = s;
  o.table = nas::LatencyTable::profile(space, input, options,
                                       {.batch = s.batch, .threads = s.threads, .rounds = rounds, .seed = seed});
  // Calibration networks (for the overhead) and validation networks come from different streams.
  nas::Rng cal_rng(seed + 7919), val_rng(seed);
  std::vector<typename Space::Arch> cal, val;
  for (std::size_t i = 0; i < calibration; ++i) cal.push_back(space.sample(cal_rng));
  for (std::size_t i = 0; i < s.samples; ++i) val.push_back(space.sample(val_rng));
  const int repeats = s.batch == 1 ? 4 : 2;
  const int val_rounds = s.batch == 1 ? rounds : std::max(2, rounds / 2);
  const nas::NetworkTimingOptions timing{
      .batch = s.batch, .threads = s.threads, .rounds = val_rounds, .repeats = repeats};
  std::vector<double> cal_ops;
  for (const auto& a : cal) cal_ops.push_back(o.table.ops_ms(nas::plan_network(space, a, input, options)));
  o.table.calibrate(cal_ops, nas::measure_networks_ms(space, cal, input, options, timing).ms);
  nas::NetworkTimings measured = nas::measure_networks_ms(space, val, input, options, timing);
  o.measured = std::move(measured.ms);
  o.spread = std::move(measured.spread);
  std::vector<double> rel, sq, sqrel, abs_rel;
  for (std::size_t i = 0; i < val.size(); ++i) {
    o.archs.push_back(space.encode(val[i]));
    o.predicted.push_back(o.table.predict_ms(nas::plan_network(space, val[i], input, options)));
    const double e = o.predicted[i] - o.measured[i];
    sq.push_back(e * e);
    sqrel.push_back(e * e / (o.measured[i] * o.measured[i]));
    abs_rel.push_back(std::abs(e) / o.measured[i]);
  }
  const auto mean = [](const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return t / static_cast<double>(v.size());
  };
  o.rmse = std::sqrt(mean(sq));
  o.rel_rmse = std::sqrt(mean(sqrel));
  o.within5 = static_cast<double>(std::count_if(abs_rel.begin(), abs_rel.end(), [](double x) { return x <= 0.05; })) /
              static_cast<double>(abs_rel.size());
  o.within10 = static_cast<double>(std::count_if(abs_rel.begin(), abs_rel.end(), [](double x) { return x <= 0.10; })) /
               static_cast<double>(abs_rel.size());
  o.median_abs_err = quantile(abs_rel, 0.5);
  o.max_abs_err = *std::max_element(abs_rel.begin(), abs_rel.end());
  o.median_spread = quantile(o.spread, 0.5);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("batch %2d, %d thread%s: %zu keys, scale %.3f, overhead %.4f ms; %zu networks: RMSE %.4f ms (%.1f%%), within 5%%: %.0f%%, "
              "within 10%%: %.0f%%, median |error| %.1f%%, max %.1f%%; measurement spread (p90-p10)/median %.1f%% (%.0f s)\n",
              s.batch, s.threads, s.threads == 1 ? "" : "s", o.table.entries().size(), o.table.scale(), o.table.overhead_ms(), val.size(),
              o.rmse, 100 * o.rel_rmse, 100 * o.within5, 100 * o.within10, 100 * o.median_abs_err, 100 * o.max_abs_err,
              100 * o.median_spread, o.seconds);
  std::fflush(stdout);
  return o;
}

std::string fmt(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

void write_report(const std::string& space_name, const std::string& network, const std::vector<Outcome>& outcomes,
                  std::size_t calibration, const std::filesystem::path& out, const std::string& stem) {
  const nas::MachineInfo m = nas::MachineInfo::this_machine();
  std::filesystem::create_directories(out);
  std::ofstream csv(out / (stem + ".csv"));
  csv << "space,batch,threads,arch,predicted_ms,measured_ms,error_pct,measured_spread_pct\n";
  nlohmann::json j{{"space", space_name}, {"network", network}, {"machine", m.model}, {"isa", m.isa},
                   {"build_isa", m.build_isa}, {"calibration_networks", calibration}};
  for (const auto& o : outcomes) {
    for (std::size_t i = 0; i < o.archs.size(); ++i)
      csv << space_name << "," << o.setting.batch << "," << o.setting.threads << ",\"" << o.archs[i] << "\","
          << o.predicted[i] << "," << o.measured[i] << "," << 100 * (o.predicted[i] - o.measured[i]) / o.measured[i] << ","
          << 100 * o.spread[i] << "\n";
    j["settings"].push_back({{"batch", o.setting.batch}, {"threads", o.setting.threads}, {"networks", o.archs.size()},
                             {"keys", o.table.entries().size()}, {"scale", o.table.scale()}, {"overhead_ms", o.table.overhead_ms()},
                             {"rmse_ms", o.rmse}, {"relative_rmse", o.rel_rmse}, {"within_5pct", o.within5},
                             {"within_10pct", o.within10}, {"median_abs_error", o.median_abs_err},
                             {"max_abs_error", o.max_abs_err}, {"median_measurement_spread", o.median_spread},
                             {"median_measured_ms", quantile(o.measured, 0.5)}, {"seconds", o.seconds}});
    const std::string table_file = stem + "_table_b" + std::to_string(o.setting.batch) + "_t" + std::to_string(o.setting.threads) + ".csv";
    o.table.save(out / table_file);
  }
  std::ofstream(out / (stem + ".json")) << j.dump(2) << "\n";

  nas::ScatterChart chart({.title = "Predicted against measured latency (" + space_name + ", " + m.model + ")",
                           .x_label = "measured ms per pass (log scale)", .y_label = "predicted ms per pass (log scale)",
                           .width = 860, .height = 560, .log_x = true, .log_y = true});
  double lo = 1e300, hi = 0;
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    const auto& o = outcomes[k];
    chart.add("batch " + std::to_string(o.setting.batch) + ", " + std::to_string(o.setting.threads) + " thread" +
                  (o.setting.threads == 1 ? "" : "s"),
              o.measured, o.predicted, static_cast<int>(k));
    for (double v : o.measured) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  chart.front("predicted = measured", {lo, hi}, {lo, hi});
  chart.front("+10%", {lo, hi}, {1.1 * lo, 1.1 * hi});
  chart.front("-10%", {lo, hi}, {0.9 * lo, 0.9 * hi});
  chart.save((out / (stem + "_scatter.svg")).string());

  std::ostringstream md;
  md << "## " << space_name << " (" << network << ")\n\n"
     << "| batch | threads | networks | keys | scale | overhead (ms) | median measured (ms) | RMSE (ms) | relative RMSE | within +-5% | "
        "within +-10% | median abs. error | max abs. error | measurement spread |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& o : outcomes)
    md << "| " << o.setting.batch << " | " << o.setting.threads << " | " << o.archs.size() << " | " << o.table.entries().size()
       << " | " << fmt(o.table.scale(), 3) << " | " << fmt(o.table.overhead_ms(), 4) << " | " << fmt(quantile(o.measured, 0.5), 3) << " | " << fmt(o.rmse, 4)
       << " | " << fmt(100 * o.rel_rmse, 1) << "% | " << fmt(100 * o.within5, 0) << "% | " << fmt(100 * o.within10, 0)
       << "% | " << fmt(100 * o.median_abs_err, 1) << "% | " << fmt(100 * o.max_abs_err, 1) << "% | "
       << fmt(100 * o.median_spread, 1) << "% |\n";
  md << "\nMeasured on " << m.model << " (CPU ISA " << m.isa << ", code built for " << m.build_isa << "). Scale and overhead fitted by "
     << "Theil-Sen regression of measured on summed op latencies over " << calibration << " calibration networks (a different random stream from the validation "
     << "networks). Measured latency of a network: the fastest pass over its interleaved rounds; measurement spread: the median over networks of (p90 - p10) of the rounds' fastest passes, over the fastest.\n"
     << "Figure: " << stem << "_scatter.svg; per-network data: " << stem << ".csv; summary: " << stem << ".json; tables: "
     << stem << "_table_b<batch>_t<threads>.csv.\n";
  std::ofstream(out / (stem + "_section.md")) << md.str();
  std::printf("wrote %s\n", (out / (stem + ".{csv,json,_scatter.svg,_section.md}")).string().c_str());
}

template <class Space>
int run(const Space& space, const std::string& space_name, const nas::NetworkInput& input, const nas::NetworkOptions& options,
        const std::vector<Setting>& settings, std::size_t calibration, int rounds, std::uint64_t seed,
        const std::filesystem::path& out, const std::string& network) {
  std::vector<Outcome> outcomes;
  // The files are rewritten after each setting, so a run stopped in a later setting keeps
  // what the earlier ones measured.
  for (const auto& s : settings) {
    outcomes.push_back(run_setting(space, input, options, s, calibration, rounds, seed));
    write_report(space_name, network, outcomes, calibration, out, "latency_" + space_name);
  }
  return 0;
}

}  // namespace

int latency_main(int argc, char** argv) {
  CLI::App app{"Builds this machine's latency table for a space and validates it against end-to-end measurements"};
  std::string space = "nb201", out = "benchmarks/reports";
  std::size_t samples = 100, large_samples = 30, calibration = 20;
  int rounds = 15;
  std::uint64_t seed = 0;
  std::vector<std::string> configs{"b1t1", "b1t2", "b64t1", "b64t2"};
  app.add_option("--space", space,
                 "nb201 (C = 16, N = 5, 3x32x32), darts (C = 16, 8 cells, 3x32x32) or chain (ChainSpace, 1x28x28 as "
                 "hardware_aware --space chain trains it)")
      ->check(CLI::IsMember({"nb201", "darts", "chain"}));
  app.add_option("--samples", samples, "random architectures validated at batch 1")->check(CLI::Range(std::size_t{2}, std::size_t{100000}));
  app.add_option("--large-samples", large_samples, "random architectures validated at batch 64")
      ->check(CLI::Range(std::size_t{2}, std::size_t{100000}));
  app.add_option("--calibration", calibration, "networks the per-network overhead is fitted on")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  app.add_option("--rounds", rounds, "interleaved measurement rounds per network")->check(CLI::Range(1, 1000));
  app.add_option("--seed", seed, "architectures and weights");
  app.add_option("--settings", configs, "b<batch>t<threads> settings to run (default b1t1 b1t2 b64t1 b64t2)")
      ->check([](const std::string& s) -> std::string {
        int b = 0, t = 0;
        char tail = 0;
        if (std::sscanf(s.c_str(), "b%dt%d%c", &b, &t, &tail) != 2 || b < 1 || t < 1)
          return "'" + s + "' is not b<batch>t<threads> with both >= 1 (e.g. b1t1, b64t2)";
        return "";
      });
  app.add_option("--out", out, "directory for the report files");
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;
  nas::require_writable_directory("--out", out);  // before hours of measuring, not after
  std::vector<Setting> settings;
  for (const auto& c : configs) {
    Setting s;
    std::sscanf(c.c_str(), "b%dt%d", &s.batch, &s.threads);
    s.samples = s.batch == 1 ? samples : large_samples;
    settings.push_back(s);
  }
  {
    const nas::NetworkInput cifar{3, 32, 32, 10};
    if (space == "nb201")
      return run(nas::Nb201Space{}, "nb201", cifar, {.channels = 16, .cells = 5}, settings, calibration, rounds, seed, out,
                 "NAS-Bench-201 TinyNetwork, C = 16, N = 5, 3x32x32 input, 10 classes");
    if (space == "chain")
      return run(nas::ChainSpace{}, "chain", {1, 28, 28, 10}, {}, settings, calibration, rounds, seed, out,
                 "ChainSpace: MobileNetV2/MnasNet blocks, the architecture's own depths and width, 1x28x28 input, 10 classes");
    return run(nas::CellSpace::darts(), "darts", cifar, {.channels = 16, .cells = 8}, settings, calibration, rounds, seed,
               out, "DARTS search network, C = 16, 8 cells, 3x32x32 input, 10 classes");
  }
}

// A bad option or a library error ends the program with its message, never an uncaught exception.
int main(int argc, char** argv) {
  return nas::run_program("latency_model", [&] { return latency_main(argc, argv); });
}
