// Module state: snapshot/restore with optimizer state, and the .nasstate file (format, errors, atomic writes).
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/optim.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/tensor/state.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// conv(2 -> c) -> BN -> ReLU -> pool -> Linear(c -> 3)
void build(nas::Sequential& net, int c, std::uint64_t seed, bool head = true) {
  nas::Rng rng(seed);
  net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = c, .kernel = 3, .padding = 1}, rng);
  net.emplace<nas::BatchNorm2d>(c);
  net.emplace<nas::ReLU>();
  net.emplace<nas::GlobalAvgPool>();
  if (head) net.emplace<nas::Linear>(nas::Linear::Options{.in_features = c, .out_features = 3}, rng);
}

// SGD with momentum on the convolution and BN, Adam on the head: both optimizers' state matters.
struct Trainer {
  nas::Sequential net;
  std::unique_ptr<nas::SGD> sgd;
  std::unique_ptr<nas::Adam> adam;
  explicit Trainer(std::uint64_t seed) {
    build(net, 3, seed);
    std::vector<nas::Parameter*> body, head;
    for (const auto& np : net.named_parameters()) (np.path[0] == '4' ? head : body).push_back(np.parameter);
    sgd = std::make_unique<nas::SGD>(body, nas::SGD::Options{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3});
    adam = std::make_unique<nas::Adam>(head, nas::Adam::Options{.lr = 0.01, .weight_decay = 1e-2});
  }
  // Step t on a batch and a loss direction drawn from t.
  void step(int t) {
    nas::Rng rng(100 + static_cast<std::uint64_t>(t));
    nas::Tensor x({4, 2, 5, 5});
    x.fill_normal(rng);
    sgd->zero_grad();
    adam->zero_grad();
    const nas::Tensor& y = net.forward(x);
    nas::Tensor r(y.shape());
    r.fill_normal(rng);
    (void)net.backward(r);
    sgd->step();
    adam->step();
  }
};

// Every value of every parameter and buffer, flattened.
std::vector<float> values(nas::Module& m) {
  std::vector<float> out;
  for (const auto& np : m.named_state()) out.insert(out.end(), np.parameter->value.begin(), np.parameter->value.end());
  return out;
}

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("nas_state_test_" + std::to_string(nas::Rng(std::random_device{}()).index(1u << 30)));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
template <class U>
void put(std::string& s, U v) {
  for (std::size_t i = 0; i < sizeof(U); ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& s, const std::string& v) {
  put(s, static_cast<std::uint32_t>(v.size()));
  s += v;
}
void put_float(std::string& s, float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  put(s, u);
}
// A file of the given body with a correct header and checksum.
std::string framed(const std::string& body, std::uint32_t version = 1) {
  std::string s = "NASSTATE";
  put(s, version);
  put(s, static_cast<std::uint64_t>(body.size()));
  s += body;
  put(s, nas::detail::fnv1a64(s.data(), s.size()));
  return s;
}

}  // namespace

TEST_CASE("Restoring a snapshot with the optimizers' state replays training bit for bit", "[tensor][state]") {
  Trainer tr(1);
  for (int t = 0; t < 3; ++t) tr.step(t);
  const nas::ModuleState saved = nas::snapshot(tr.net);
  const nas::SGD::State sgd_saved = tr.sgd->state();
  const nas::Adam::State adam_saved = tr.adam->state();
  REQUIRE(saved.tensors.size() == 7);  // conv weight, BN weight/bias/mean/var, head weight/bias
  REQUIRE(saved.find("1.running_var") != nullptr);

  for (int t = 3; t < 6; ++t) tr.step(t);
  const std::vector<float> first = values(tr.net);

  nas::restore(tr.net, saved);
  tr.sgd->load_state(sgd_saved);
  tr.adam->load_state(adam_saved);
  REQUIRE(tr.adam->steps() == 3);
  for (int t = 3; t < 6; ++t) tr.step(t);
  const std::vector<float> second = values(tr.net);
  REQUIRE(first == second);

  // Without restoring the optimizers the continuation differs (their state matters).
  nas::restore(tr.net, saved);
  for (int t = 3; t < 6; ++t) tr.step(t);
  REQUIRE(values(tr.net) != first);
}

TEST_CASE("A snapshot into an existing one reuses its storage", "[tensor][state]") {
  Trainer tr(2);
  nas::ModuleState s;
  nas::snapshot(tr.net, s);
  tr.step(0);
  const auto before = nas::detail::allocation_count();
  nas::snapshot(tr.net, s);
  REQUIRE(nas::detail::allocation_count() == before);
  nas::restore(tr.net, s);
  REQUIRE(nas::detail::allocation_count() == before);
  REQUIRE(s.find("0.weight")->value[0] == tr.net.named_state()[0].parameter->value[0]);
}

TEST_CASE("Restore onto another layout names the path and both shapes, and changes nothing", "[tensor][state]") {
  nas::Sequential narrow, wide, headless;
  build(narrow, 3, 1);
  build(wide, 4, 1);
  build(headless, 3, 1, false);
  const std::vector<float> before = values(wide);
  REQUIRE_THROWS_AS(nas::restore(wide, nas::snapshot(narrow)), nas::ConfigError);
  REQUIRE_THROWS_WITH(nas::restore(wide, nas::snapshot(narrow)), Catch::Contains("'0.weight'") &&
                                                                      Catch::Contains("[3, 2, 3, 3]") &&
                                                                      Catch::Contains("[4, 2, 3, 3]"));
  REQUIRE(values(wide) == before);
  REQUIRE_THROWS_WITH(nas::restore(narrow, nas::snapshot(headless)),
                      Catch::Contains("no tensor '4.weight'") && Catch::Contains("[3, 3]"));
  REQUIRE_THROWS_WITH(nas::restore(headless, nas::snapshot(narrow)),
                      Catch::Contains("'4.weight'") && Catch::Contains("matches nothing"));
  // A buffer where the module has a weight.
  nas::ModuleState s = nas::snapshot(narrow);
  s.tensors[1].group = nas::ParamGroup::buffer;
  REQUIRE_THROWS_WITH(nas::restore(narrow, s), Catch::Contains("'1.weight'") && Catch::Contains("buffer"));
}

TEST_CASE("The checksum is FNV-1a 64", "[tensor][state]") {
  REQUIRE(nas::detail::fnv1a64("", 0) == 0xcbf29ce484222325ull);
  REQUIRE(nas::detail::fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
  REQUIRE(nas::detail::fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
}

TEST_CASE("save_state writes the documented byte layout", "[tensor][state]") {
  TempDir tmp;
  nas::Rng rng(3);
  nas::Linear fc({.in_features = 2, .out_features = 1}, rng);
  fc.weight().value[0] = 1.5f;
  fc.weight().value[1] = -2.0f;
  fc.bias().value[0] = 0.25f;
  nas::save_state(tmp.file("fc.nasstate"), fc, {{"arch", "x"}});
  std::string body;
  put(body, std::uint32_t{1});
  put_str(body, "arch");
  put_str(body, "x");
  put(body, std::uint32_t{2});
  put_str(body, "weight");
  body.push_back(0);  // group weight
  body.push_back(2);  // rank
  put(body, std::uint32_t{1});
  put(body, std::uint32_t{2});
  put_float(body, 1.5f);
  put_float(body, -2.0f);
  put_str(body, "bias");
  body.push_back(0);
  body.push_back(1);
  put(body, std::uint32_t{1});
  put_float(body, 0.25f);
  REQUIRE(read_bytes(tmp.file("fc.nasstate")) == framed(body));
  // No temporary file is left beside it.
  REQUIRE(std::distance(fs::directory_iterator(tmp.dir), fs::directory_iterator()) == 1);
}

TEST_CASE("save_state then load_state restores values, buffers and metadata", "[tensor][state]") {
  TempDir tmp;
  Trainer tr(4);
  for (int t = 0; t < 2; ++t) tr.step(t);
  const std::vector<float> saved = values(tr.net);
  const std::string path = tmp.file("net.nasstate");
  nas::save_state(path, tr.net, {{"note", "two steps"}, {"empty", ""}});
  tr.step(2);
  REQUIRE(values(tr.net) != saved);
  const nas::StateMetadata meta = nas::load_state(path, tr.net);
  REQUIRE(values(tr.net) == saved);
  REQUIRE(meta == nas::StateMetadata{{"note", "two steps"}, {"empty", ""}});
  // Saving again replaces the file whole.
  nas::save_state(path, tr.net);
  REQUIRE(nas::read_state_file(path).metadata.empty());
  REQUIRE_THROWS_WITH(nas::save_state(tmp.file("no/such/dir/net.nasstate"), tr.net),
                      Catch::Contains("no/such/dir/net.nasstate"));
}

TEST_CASE("Bad state files give errors naming the file and what is wrong", "[tensor][state]") {
  TempDir tmp;
  nas::Sequential net, wide, headless;
  build(net, 3, 5);
  build(wide, 4, 5);
  build(headless, 3, 5, false);
  const std::string good = tmp.file("good.nasstate");
  nas::save_state(good, net);
  const std::string bytes = read_bytes(good);
  auto fails_with = [&](const std::string& name, const std::string& content, const std::string& what) {
    const std::string path = tmp.file(name);
    write_bytes(path, content);
    INFO(name);
    REQUIRE_THROWS_AS(nas::load_state(path, net), nas::DataError);
    REQUIRE_THROWS_WITH(nas::load_state(path, net), Catch::Contains(path) && Catch::Contains(what));
  };
  REQUIRE_THROWS_WITH(nas::load_state(tmp.file("missing.nasstate"), net),
                      Catch::Contains("cannot open") && Catch::Contains("missing.nasstate"));
  fails_with("empty", "", "truncated");
  fails_with("magic", "NASSTATX" + bytes.substr(8), "not a .nasstate file");
  fails_with("truncated", bytes.substr(0, bytes.size() - 10), "truncated");
  fails_with("header_only", bytes.substr(0, 12), "truncated");
  fails_with("trailing", bytes + "x", "trailing bytes");
  std::string flipped = bytes;
  flipped[bytes.size() - 20] ^= 0x10;  // inside the last tensor's values
  fails_with("flipped", flipped, "corrupt");
  std::string v2 = bytes;
  v2[8] = 2;
  fails_with("version", v2, "format version 2");
  // A valid frame around a body that ends early: the offset of the failed read is given.
  std::string body;
  put(body, std::uint32_t{0});
  put(body, std::uint32_t{1});
  put_str(body, "0.weight");
  body.push_back(0);
  body.push_back(4);
  put(body, std::uint32_t{3});
  fails_with("short_body", framed(body), "byte offset 46");
  std::string bad_group;
  put(bad_group, std::uint32_t{0});
  put(bad_group, std::uint32_t{1});
  put_str(bad_group, "w");
  bad_group.push_back(7);
  fails_with("bad_group", framed(bad_group), "group code 7");
  // Found by fuzzing: a zero dimension (an empty tensor no writer makes), and four large
  // dimensions whose product wraps around 2^64 to 0 and so would pass the size check.
  auto dims_body = [&](std::uint32_t d0, std::uint32_t d) {
    std::string b;
    put(b, std::uint32_t{0});
    put(b, std::uint32_t{1});
    put_str(b, "w");
    b.push_back(0);
    b.push_back(4);
    put(b, d0);
    for (int k = 0; k < 3; ++k) put(b, d);
    b.append(16, '\0');
    return b;
  };
  fails_with("zero_dimension", framed(dims_body(0, 1)), "dimension 0");
  fails_with("wrapping_dimensions", framed(dims_body(1u << 30, 1u << 30)), "needs more bytes");

  // Files of another layout: the tensor path and the shapes.
  const std::string of_wide = tmp.file("wide.nasstate"), of_headless = tmp.file("headless.nasstate");
  nas::save_state(of_wide, wide);
  nas::save_state(of_headless, headless);
  REQUIRE_THROWS_WITH(nas::load_state(of_wide, net), Catch::Contains(of_wide) && Catch::Contains("'0.weight'") &&
                                                         Catch::Contains("[4, 2, 3, 3]") &&
                                                         Catch::Contains("[3, 2, 3, 3]"));
  REQUIRE_THROWS_WITH(nas::load_state(of_headless, net), Catch::Contains(of_headless) &&
                                                             Catch::Contains("no tensor '4.weight'"));
  REQUIRE_THROWS_WITH(nas::load_state(good, headless), Catch::Contains("'4.weight'") && Catch::Contains("matches nothing"));
}
