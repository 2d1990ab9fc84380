// LatencyTable: prediction from entries, the CSV form and its errors, profiling's bookkeeping (never the machine's speed).
#include <catch2/catch.hpp>

#include <nas/hw/latency_table.hpp>
#include <nas/model/cell_network.hpp>

#include <cmath>
#include <string>

namespace {

const nas::NetworkInput cifar{3, 32, 32, 10};

// A table of the NB201 space's keys (C = 16, N = 5) where key i costs 2^i microseconds-ish:
// distinct powers of two make every sum identify exactly which entries it added.
nas::LatencyTable powers_table() {
  std::vector<nas::LatencyEntry> entries;
  double v = 1.0;
  for (const auto& k : nas::space_keys(nas::Nb201Space{}, cifar, {})) {
    entries.push_back({k, v, v, v, 1});
    v *= 2.0;
  }
  return nas::LatencyTable(nas::MachineInfo{"Test CPU", "avx2", "avx2"}, 1, 1, entries);
}

double ms_of(const nas::LatencyTable& t, const std::string& key) {
  const auto* e = t.find(nas::OpKey::parse(key));
  REQUIRE(e != nullptr);
  return e->ms;
}

const char* good_csv =
    "# nas-latency-table 1\n"
    "# machine: ARM Cortex-A72\n"
    "# isa: neon\n"
    "# build_isa: neon\n"
    "# threads: 4\n"
    "# batch: 1\n"
    "# overhead_ms: 0.5\n"
    "# overhead_fit: median of 3 networks\n"
    "key,ms,p10_ms,p90_ms,samples\n"
    "relu:c64-64:h8w8:k0:s1,0.01,0.009,0.02,35\n"
    "classifier:c64-10:h1w1:k0:s1,0.002,0.002,0.003,35\n";

std::string with_line(int line, const std::string& replacement) {
  std::string text = good_csv, out;
  int n = 1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string l = text.substr(pos, nl - pos);
    out += (n == line ? replacement : l) + "\n";
    pos = nl + 1;
    ++n;
  }
  return out;
}

std::string error_of(const std::string& text) {
  try {
    (void)nas::LatencyTable::parse(text, "t.csv");
  } catch (const nas::DataError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("the NB201 prediction adds exactly the running ops' entries, folds the stem BN and adds the overhead",
          "[hw][latency_table]") {
  auto t = powers_table();
  const nas::Nb201Space space;
  // Every edge nor_conv_3x3: all 6 edges of all 15 cells run.
  const auto conv = space.decode("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  const double skeleton = ms_of(t, "stem_conv:c3-16:h32w32:k3:s1") + ms_of(t, "resnet_basic_block:c16-32:h32w32:k3:s2") +
                          ms_of(t, "resnet_basic_block:c32-64:h16w16:k3:s2") + ms_of(t, "batch_norm:c64-64:h8w8:k0:s1") +
                          ms_of(t, "relu:c64-64:h8w8:k0:s1") + ms_of(t, "global_avg_pool:c64-64:h8w8:k0:s1") +
                          ms_of(t, "classifier:c64-10:h1w1:k0:s1");  // not the stem's batch_norm: folded
  const double cells = 30 * (ms_of(t, "nor_conv_3x3:c16-16:h32w32:k3:s1") + ms_of(t, "nor_conv_3x3:c32-32:h16w16:k3:s1") +
                             ms_of(t, "nor_conv_3x3:c64-64:h8w8:k3:s1"));
  const auto plan = nas::plan_network(space, conv, cifar);
  CHECK(t.ops_ms(plan) == skeleton + cells);
  t.set_calibration(1.5, 0.25, "by hand");
  CHECK(t.predict_ms(plan) == 1.5 * (skeleton + cells) + 0.25);

  // Only edge 0 -> 3 (skip) and 0 -> 1 (conv) into a dead node: node 1 cannot reach the
  // output, so the conv does not run; the skip edges run and cost their entries.
  const auto skip = space.decode("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
  const double skips = 5 * (ms_of(t, "skip_connect:c16-16:h32w32:k0:s1") + ms_of(t, "skip_connect:c32-32:h16w16:k0:s1") +
                            ms_of(t, "skip_connect:c64-64:h8w8:k0:s1"));
  CHECK(t.ops_ms(nas::plan_network(space, skip, cifar)) == skeleton + skips);
}

TEST_CASE("a plan with an op the table lacks gets an error naming the op's key", "[hw][latency_table]") {
  const auto t = powers_table();
  const auto plan = nas::plan_network(nas::Nb201Space{}, nas::Nb201Arch{}, cifar, {.channels = 8});
  CHECK_THROWS_WITH(t.ops_ms(plan), Catch::Contains("no entry for op 0 (stem_conv:c3-8:h32w32:k3:s1)"));
}

TEST_CASE("calibrate fits scale and overhead robustly: one disturbed measurement cannot move them", "[hw][latency_table]") {
  auto t = powers_table();
  // measured = 1.2 x ops + 0.1, except network 3, which another process slowed down.
  t.calibrate({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {1.3, 2.5, 3.7, 40.0, 6.1, 7.3});
  CHECK(t.scale() == Approx(1.2));
  CHECK(t.overhead_ms() == Approx(0.1));
  CHECK(t.overhead_fit() == "Theil-Sen fit on 6 networks measured end to end");
  t.calibrate({2.0}, {2.5});  // one network: the overhead alone
  CHECK(t.scale() == 1.0);
  CHECK(t.overhead_ms() == Approx(0.5));
  CHECK_THROWS_AS(t.calibrate({1.0}, {}), nas::ConfigError);
  CHECK_THROWS_AS(t.set_calibration(0.0, 0.0, ""), nas::ConfigError);
}

TEST_CASE("a table saved as CSV reads back with its machine, threads, batch, overhead and entries", "[hw][latency_table]") {
  auto t = powers_table();
  t.set_calibration(1.0625, -0.125, "median of 7 networks");
  const auto back = nas::LatencyTable::parse(t.to_csv(), "t.csv");
  CHECK(back.machine() == t.machine());
  CHECK(back.threads() == 1);
  CHECK(back.batch() == 1);
  CHECK(back.overhead_ms() == -0.125);
  CHECK(back.scale() == 1.0625);
  CHECK(back.overhead_fit() == "median of 7 networks");
  REQUIRE(back.entries().size() == t.entries().size());
  for (std::size_t i = 0; i < t.entries().size(); ++i) {
    CHECK(back.entries()[i].key == t.entries()[i].key);
    CHECK(back.entries()[i].ms == t.entries()[i].ms);
  }
  const auto plan = nas::plan_network(nas::Nb201Space{}, nas::Nb201Space::arch(1234), cifar);
  CHECK(back.predict_ms(plan) == t.predict_ms(plan));
}

TEST_CASE("a table made on another machine loads and prices what it has", "[hw][latency_table]") {
  const auto t = nas::LatencyTable::parse(good_csv, "pi.csv");
  CHECK(t.machine().model == "ARM Cortex-A72");
  CHECK(t.machine().isa == "neon");
  CHECK(t.threads() == 4);
  CHECK(t.overhead_ms() == 0.5);
  REQUIRE(t.find(nas::OpKey::parse("relu:c64-64:h8w8:k0:s1")) != nullptr);
  CHECK(t.find(nas::OpKey::parse("relu:c64-64:h8w8:k0:s1"))->samples == 35);
  CHECK(t.find(nas::OpKey::parse("relu:c32-32:h8w8:k0:s1")) == nullptr);
}

TEST_CASE("a malformed table gets an error naming the line and the field", "[hw][latency_table]") {
  CHECK(error_of(with_line(10, "relu:c64-64:h8w8:k0:s1,fast,0.009,0.02,35")) ==
        "t.csv:10: field 'ms': 'fast' is not a finite number >= 0");
  CHECK_THAT(error_of(with_line(11, "classifier:c64-10:h1w1:k0,0.002,0.002,0.003,35")),
             Catch::StartsWith("t.csv:11: field 'key': OpKey::parse:"));
  CHECK(error_of(with_line(11, "classifier:c64-10:h1w1:k0:s1,0.002,0.002,0.003,0")) ==
        "t.csv:11: field 'samples': '0' is not an integer >= 1");
  CHECK(error_of(with_line(11, "classifier:c64-10:h1w1:k0:s1,0.002,0.002")) ==
        "t.csv:11: field 'p90_ms': 3 fields (expected 5: key,ms,p10_ms,p90_ms,samples)");
  CHECK_THAT(error_of(with_line(10, "relu:c64-64:h8w8:k0:s1,0.05,0.02,0.03,35")),
             Catch::StartsWith("t.csv:10: field 'ms': ms <= p90_ms and p10_ms <= p90_ms do not hold"));
  CHECK(error_of(with_line(11, "relu:c64-64:h8w8:k0:s1,0.01,0.009,0.02,35")) ==
        "t.csv:11: field 'key': 'relu:c64-64:h8w8:k0:s1' appears twice");
  CHECK(error_of(with_line(5, "# threads: four")) == "t.csv:5: field 'threads': 'four' is not an integer >= 1");
  CHECK(error_of(with_line(7, "# overhead_ms: nan")) == "t.csv:7: field 'overhead_ms': 'nan' is not a finite number");
  CHECK_THAT(error_of(with_line(9, "key,ms,p10,p90_ms,samples")), Catch::StartsWith("t.csv:9: field 'p10': the column header"));
  CHECK(error_of(with_line(7, "# scale: 0")) == "t.csv:7: field 'scale': '0' is not a number > 0");
  CHECK(error_of(with_line(6, "# nothing here")) == "t.csv: field 'batch': missing (a '# batch: <n>' line)");
}

TEST_CASE("profile measures every key once per sample, restores the thread count and names the machine",
          "[hw][latency_table]") {
  nas::set_num_threads(1);
  const std::vector<nas::OpKey> keys{nas::OpKey::parse("nor_conv_3x3:c4-4:h8w8:k3:s1"),
                                     nas::OpKey::parse("skip_connect:c4-4:h8w8:k0:s1"),
                                     nas::OpKey::parse("stem_conv:c1-4:h8w8:k3:s1"),
                                     nas::OpKey::parse("resnet_basic_block:c4-8:h8w8:k3:s2")};
  const auto t = nas::LatencyTable::profile(keys, {.batch = 2, .threads = 2, .warmup = 1, .rounds = 3, .repeats = 2,
                                                   .min_sample_ms = 0.0});
  CHECK(nas::num_threads() == 1);
  CHECK(t.threads() == 2);
  CHECK(t.batch() == 2);
  CHECK(t.machine() == nas::MachineInfo::this_machine());
  REQUIRE(t.entries().size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& e = t.entries()[i];
    CHECK(e.key == keys[i]);
    CHECK(e.samples == 6);
    CHECK(e.p10_ms >= e.ms);  // the entry is the fastest sample
    CHECK(e.p10_ms <= e.p90_ms);
    CHECK(std::isfinite(e.p90_ms));
  }
  const auto back = nas::LatencyTable::parse(t.to_csv(), "profiled.csv");
  CHECK(back.entries().size() == keys.size());
  CHECK(back.entries()[0].ms == t.entries()[0].ms);
  CHECK_THROWS_AS(nas::LatencyTable::profile({}, {}), nas::ConfigError);
  CHECK_THROWS_AS(nas::LatencyTable::profile(keys, {.rounds = 0}), nas::ConfigError);
  CHECK_THROWS_WITH(nas::LatencyTable::profile({nas::OpKey::parse("nor_conv_3x3:c4-4:h8w8:k5:s1")}, {}),
                    Catch::Contains("does not describe"));
}

TEST_CASE("MeasuredLatency reports the table's prediction as latency_ms and its negation as the score",
          "[hw][latency_table]") {
  auto t = powers_table();
  t.set_calibration(1.0, 1.0, "by hand");
  const auto shared = std::make_shared<const nas::LatencyTable>(t);
  const nas::MeasuredLatency<nas::Nb201Space> est(shared, nas::Nb201Space{}, cifar);
  const auto arch = nas::Nb201Space::arch(777);
  const auto e = est.evaluate(arch);
  const double expected = t.predict_ms(nas::plan_network(nas::Nb201Space{}, arch, cifar));
  CHECK(*e.metrics.get(nas::metric::latency_ms) == expected);
  CHECK(e.score == -expected);
}

TEST_CASE("forward_pass_ms times a network in evaluation mode and restores its mode", "[hw][latency_table]") {
  nas::CellNetwork<nas::Nb201Space> net(nas::Nb201Space::arch(5), {1, 8, 8, 3}, {.channels = 4, .cells = 1});
  net.train();
  const double ms = nas::forward_pass_ms(net, nas::Shape{2, 1, 8, 8}, 2);
  CHECK(std::isfinite(ms));
  CHECK(ms >= 0.0);
  CHECK(net.is_training());
  CHECK_THROWS_AS(nas::forward_pass_ms(net, nas::Shape{2, 1, 8, 8}, 0), nas::ConfigError);
}
