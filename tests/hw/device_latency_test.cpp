// Nb201DeviceLatency: the shipped table loads and agrees with HW-NAS-Bench's example; malformed tables get line-and-column errors.
#include <catch2/catch.hpp>

#include <nas/hw/device_latency.hpp>

#include <memory>
#include <string>

namespace {
const nas::Nb201DeviceLatency& shipped() {
  static const auto t = nas::Nb201DeviceLatency::load(std::string(NAS_SOURCE_DIR) + "/data/nb201/hw_latency.csv.gz");
  return t;
}
std::string header_and(const std::string& rows) { return "index,a_ms,b_ms\n" + rows; }
}  // namespace

TEST_CASE("The shipped latency table holds 27 devices for all 15,625 cells", "[hw][latency_table]") {
  const auto& t = shipped();
  CHECK(t.devices().size() == 27);
  CHECK(t.devices().front() == "fpga");
  // Cell 0 on HW-NAS-Bench's devices, as in that benchmark's README (CIFAR-10).
  CHECK(t.ms(0, t.device_column("fpga")) == Approx(2.57296));
  CHECK(t.ms(0, t.device_column("eyeriss")) == Approx(3.64562));
  CHECK(t.ms(0, t.device_column("raspi4")) == Approx(10.481977));
  CHECK(t.ms(0, t.device_column("pixel3")) == Approx(3.60585));
  CHECK_THROWS_WITH(t.device_column("nokia"), Catch::Contains("unknown device 'nokia' (known: fpga, eyeriss"));
  // The all-conv3x3 cell is slower on a phone than the cell with no path to the output.
  nas::Nb201Space space;
  const auto conv = space.decode("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  const auto empty = space.decode("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|");
  nas::TableLatency pixel3(std::make_shared<const nas::Nb201DeviceLatency>(t), "pixel3");
  CHECK(pixel3.latency_ms(conv) > 10 * pixel3.latency_ms(empty));
  const auto e = pixel3.evaluate(conv);
  CHECK(*e.metrics.get("latency_ms") == pixel3.latency_ms(conv));
  CHECK(e.score == -pixel3.latency_ms(conv));
  CHECK(e.cost_seconds == 0.0);
}

TEST_CASE("A malformed latency table is refused with the file, the line and the column", "[hw][latency_table]") {
  using T = nas::Nb201DeviceLatency;
  CHECK_THROWS_WITH(T::parse("", "t.csv"), "t.csv:0: empty file (expected a header starting with 'index')");
  CHECK_THROWS_WITH(T::parse("id,a_ms\n", "t.csv"), "t.csv:1: the first column must be 'index', not 'id'");
  CHECK_THROWS_WITH(T::parse("index,a\n", "t.csv"), "t.csv:1: column 2 ('a') must be named '<device>_ms'");
  CHECK_THROWS_WITH(T::parse("index,a_ms,a_ms\n", "t.csv"), "t.csv:1: device 'a' appears twice in the header");
  CHECK_THROWS_WITH(T::parse(header_and("0,1.5\n"), "t.csv"), "t.csv:2: 2 fields (expected 3)");
  CHECK_THROWS_WITH(T::parse(header_and("0,1.5,x\n"), "t.csv"), "t.csv:2: column 'b_ms': cannot read 'x' as a number");
  CHECK_THROWS_WITH(T::parse(header_and("0,1.5,-2\n"), "t.csv"),
                    "t.csv:2: column 'b_ms': latency '-2' (expected a finite number >= 0)");
  CHECK_THROWS_WITH(T::parse(header_and("0,1.5,inf\n"), "t.csv"),
                    "t.csv:2: column 'b_ms': latency 'inf' (expected a finite number >= 0)");
  CHECK_THROWS_WITH(T::parse(header_and("0,1.5,\n"), "t.csv"),
                    "t.csv:2: column 'b_ms': latency '' (expected a finite number >= 0)");
  CHECK_THROWS_WITH(T::parse(header_and("15625,1,1\n"), "t.csv"), "t.csv:2: column 'index': 15625 outside [0, 15624]");
  CHECK_THROWS_WITH(T::parse(header_and("0,1,1\n0,1,1\n"), "t.csv"), "t.csv:3: index 0 appears twice");
  CHECK_THROWS_WITH(T::parse(header_and("0,1,1\n2,1,1\n"), "t.csv"), "t.csv: 2 rows (expected 15625); index 1 is missing");
  CHECK_THROWS_AS(T::load("/nonexistent/hw_latency.csv.gz"), nas::DataError);
}
