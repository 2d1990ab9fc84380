// Darts: discretization of both spaces, the second-order gradient against a difference of the unrolled loss,
// each variant's steps, callbacks, determinism and resuming from the per-epoch checkpoint.
#include <catch2/catch.hpp>

#include "darts_fixtures.hpp"

#include <nas/search/darts.hpp>
#include <nas/tensor/activation.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/testing/choice_space.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using nas_test::tiny_data;
using nas_test::tiny_options;

bool same_bits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t r = 0; r < a.size(); ++r)
    if (a[r].size() != b[r].size() || std::memcmp(a[r].data(), b[r].data(), a[r].size() * sizeof(float)) != 0) return false;
  return true;
}

std::filesystem::path temp_file(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("nas_darts_test_" + name + ".nasstate");
  std::filesystem::remove(p);
  return p;
}

struct Recorder {
  int darts_epochs = 0, epochs = 0;
  std::size_t last_epoch = 0;
  int stop_after = -1;
  bool throw_after = false;
  std::vector<std::string> genotypes;
  bool on_darts_epoch(const nas::DartsEpoch<nas::Nb201Arch>& e) {
    ++darts_epochs;
    genotypes.push_back(e.genotype);
    for (const auto& row : e.weights) {
      double sum = 0.0;
      for (double w : row) sum += w;
      CHECK(sum == Approx(1.0));
    }
    CHECK(e.peak_memory_mib > 0.0);
    CHECK(std::isfinite(e.valid_loss));
    if (throw_after && darts_epochs == stop_after) throw std::runtime_error("killed");
    return !throw_after && darts_epochs == stop_after;
  }
  void on_epoch(const nas::EpochInfo& e) {
    CHECK(e.epoch > last_epoch);
    last_epoch = e.epoch;
    ++epochs;
  }
};

}  // namespace

// A smooth differentiable space for checking gradients against finite differences: a
// stem, two mixed ops of (conv 3x3 + SiLU, identity, average pooling) in a chain, and a
// classifier. No ReLU, max or BatchNorm, so the unrolled loss is smooth in alpha (in the
// library's supernets the train gradient jumps at ReLU kinks, and with it w').
struct SmoothChainSpace : nas::testing::ChoiceSpace {
  SmoothChainSpace() : ChoiceSpace(2, 3) {}
};

class SmoothChainNet final : public nas::Module {
 public:
  SmoothChainNet(const nas::NetworkInput& in, std::uint64_t seed) {
    nas::Rng rng(seed);
    const int c = 3;
    body_.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = in.channels, .out_channels = c, .kernel = 3, .padding = 1, .bias = true}, rng);
    body_.emplace<nas::SiLU>();
    for (int k = 0; k < 2; ++k) {
      std::vector<nas::CellOp> ops(3);
      auto conv = std::make_unique<nas::Sequential>();
      conv->emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = c, .out_channels = c, .kernel = 3, .padding = 1}, rng);
      conv->emplace<nas::SiLU>();
      ops[0].module = std::move(conv);
      ops[1].module = std::make_unique<nas::Identity>();
      ops[2].module = std::make_unique<nas::AvgPool2d>(nas::Pool2dOptions{.kernel = 3, .stride = 1, .padding = 1});
      mixed_.push_back(&body_.emplace<nas::MixedOp>(std::vector<std::string>{"conv", "skip_connect", "pool"}, std::move(ops)));
    }
    body_.emplace<nas::GlobalAvgPool>();
    body_.emplace<nas::Linear>(nas::Linear::Options{.in_features = c, .out_features = in.classes}, rng);
  }
  const nas::Tensor& forward(const nas::Tensor& x) override { return body_.forward(x); }
  const nas::Tensor& backward(const nas::Tensor& dy) override { return body_.backward(dy); }
  [[nodiscard]] nas::Shape output_shape(const nas::Shape& in) const override { return body_.output_shape(in); }
  [[nodiscard]] std::string type_name() const override { return "SmoothChainNet"; }
  void for_each_child(const std::function<void(const std::string&, nas::Module&)>& f) override { f("body", body_); }
  std::vector<nas::MixedOp*> mixed_;

 private:
  nas::Sequential body_;
};

template <>
struct nas::Differentiable<SmoothChainSpace> {
  using Network = SmoothChainNet;
  static std::unique_ptr<Network> build(const SmoothChainSpace&, const NetworkInput& in, const SupernetOptions& o) {
    return std::make_unique<Network>(in, o.seed);
  }
  static std::size_t num_rows(const Network&) { return 2; }
  static std::size_t num_ops(const Network&) { return 3; }
  static std::vector<std::string> op_names(const Network&) { return {"conv", "skip_connect", "pool"}; }
  static std::string row_name(const Network&, std::size_t r) { return "mixed " + std::to_string(r); }
  static void set_row(Network& n, std::size_t r, std::span<const std::size_t> ops, std::span<const float> w) {
    n.mixed_[r]->set_active(ops, w);
  }
  static double weight_grad(const Network& n, std::size_t r, std::size_t k) { return n.mixed_[r]->weight_grad(k); }
  static SmoothChainSpace::Arch discretize(const SmoothChainSpace&, const Network&, const EdgeWeights& w) {
    SmoothChainSpace::Arch a;
    for (const auto& row : w) a.choices.push_back(static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
    return a;
  }
};

static_assert(nas::DifferentiableSpace<SmoothChainSpace>);
static_assert(nas::DifferentiableSpace<nas::Nb201Space>);
static_assert(nas::DifferentiableSpace<nas::CellSpace>);

TEST_CASE("NB201 discretization keeps each edge's strongest op, none included", "[search][darts]") {
  const nas::Nb201Space space;
  nas::Supernet<nas::Nb201Space> net(space, {.channels = 1, .height = 8, .width = 8, .classes = 4}, {.channels = 4, .cells = 1});
  nas::EdgeWeights w(6, std::vector<double>(5, 0.1));
  const int want[6] = {3, 0, 1, 2, 4, 3};
  for (int e = 0; e < 6; ++e) w[static_cast<std::size_t>(e)][static_cast<std::size_t>(want[e])] = 0.5;
  const auto a = nas::Differentiable<nas::Nb201Space>::discretize(space, net, w);
  for (int e = 0; e < 6; ++e) CHECK(a.ops[static_cast<std::size_t>(e)] == want[e]);
  CHECK(space.encode(a) == "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|");
  w.pop_back();
  CHECK_THROWS_AS(nas::Differentiable<nas::Nb201Space>::discretize(space, net, w), nas::ConfigError);
}

TEST_CASE("DARTS discretization keeps per node the two strongest edges and their best ops other than none",
          "[search][darts]") {
  const auto space = nas::CellSpace::darts();
  nas::Supernet<nas::CellSpace> net(space, {.channels = 1, .height = 8, .width = 8, .classes = 4},
                                    {.channels = 2, .cells = 3, .affine = false});
  using D = nas::Differentiable<nas::CellSpace>;
  REQUIRE(D::num_rows(net) == 28);
  CHECK(D::row_name(net, 0) == "normal 2<-0");
  CHECK(D::row_name(net, 13) == "normal 5<-4");
  CHECK(D::row_name(net, 16) == "reduce 3<-0");
  CHECK(D::row_name(net, 18) == "reduce 3<-2");
  nas::EdgeWeights w(28, std::vector<double>(8, 0.1));
  // Node 0 (inputs 0, 1): `none` dominates edge 0, yet both edges are kept (only two).
  w[net.edge_index(0, 0)][0] = 0.9;
  w[net.edge_index(0, 0)][4] = 0.2;  // sep_conv_3x3
  w[net.edge_index(0, 1)][3] = 0.3;  // skip_connect
  // Node 3 (inputs 0..4): a huge `none` on input 4 does not make it strong; inputs 1 and 3 win.
  w[net.edge_index(3, 4)][0] = 5.0;
  w[net.edge_index(3, 1)][7] = 0.6;  // dil_conv_5x5
  w[net.edge_index(3, 3)][5] = 0.4;  // sep_conv_5x5
  w[net.edge_index(3, 0)][1] = 0.35;
  // Reduction cell, node 1: inputs 0 and 2.
  w[14 + net.edge_index(1, 2)][1] = 0.7;  // max_pool_3x3
  w[14 + net.edge_index(1, 0)][6] = 0.5;  // dil_conv_3x3
  const auto a = D::discretize(space, net, w);
  const auto& ops = space.ops();
  CHECK(ops[a.normal[0].op] == "sep_conv_3x3");
  CHECK(a.normal[0].input == 0);
  CHECK(ops[a.normal[1].op] == "skip_connect");
  CHECK(a.normal[1].input == 1);
  CHECK(a.normal[6].input == 1);
  CHECK(ops[a.normal[6].op] == "dil_conv_5x5");
  CHECK(a.normal[7].input == 3);
  CHECK(ops[a.normal[7].op] == "sep_conv_5x5");
  CHECK(a.reduce[2].input == 0);
  CHECK(ops[a.reduce[2].op] == "dil_conv_3x3");
  CHECK(a.reduce[3].input == 2);
  CHECK(ops[a.reduce[3].op] == "max_pool_3x3");
  for (const auto* picks : {&a.normal, &a.reduce})
    for (const auto& p : *picks) CHECK(ops[p.op] != "none");
  // The genotype is DARTS' text and reads back.
  const std::string g = space.encode(a);
  CHECK(g.rfind("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ", 0) == 0);
  CHECK(space.decode(g) == a);
}

TEST_CASE("second-order DARTS matches a central difference of the unrolled validation loss", "[search][darts]") {
  // eq. 7-8 against d/dalpha L_val(w - xi dL_train(w, alpha)/dw, alpha), element by element.
  const SmoothChainSpace space;
  const nas::Dataset data = tiny_data(32, 2);
  nas::DartsOptions o = tiny_options();
  o.lr = 0.5;  // xi: a large virtual step, so that the second-order term matters
  o.momentum = 0.0;
  o.weight_decay = 0.0;
  o.arch_init_std = 0.5;
  nas::DartsSearch<SmoothChainSpace, nas::SoftmaxRelaxation, nas::SecondOrder> s(space, nas::NetworkInput::of(data), o);
  nas::DartsSearch<SmoothChainSpace, nas::SoftmaxRelaxation, nas::FirstOrder> f(space, nas::NetworkInput::of(data), o);
  nas::Tensor xt({8, 1, 8, 8}), xv({8, 1, 8, 8});
  std::vector<int> yt(8), yv(8);
  for (int i = 0; i < 8; ++i) {
    std::copy_n(data.image(static_cast<std::size_t>(i)).data(), 64, xt.data() + 64 * i);
    std::copy_n(data.image(static_cast<std::size_t>(i + 8)).data(), 64, xv.data() + 64 * i);
    yt[static_cast<std::size_t>(i)] = data.label(static_cast<std::size_t>(i));
    yv[static_cast<std::size_t>(i)] = data.label(static_cast<std::size_t>(i + 8));
  }
  nas::Rng rng(1);
  s.sample(rng);
  (void)s.arch_gradient(xt, yt, xv, yv);
  const nas::Tensor analytic = s.alpha().grad;
  f.alpha().value.copy_from(s.alpha().value);
  f.sample(rng);
  (void)f.arch_gradient(xt, yt, xv, yv);
  const nas::Tensor first = f.alpha().grad;

  double err2 = 0.0, norm2 = 0.0, first_err2 = 0.0;
  const float h = 1e-3f;
  for (std::size_t i = 0; i < s.alpha().value.numel(); ++i) {
    float& a = s.alpha().value[i];
    const float saved = a;
    a = saved + h;
    s.sample(rng);
    const double lp = s.unrolled_valid_loss(xt, yt, xv, yv);
    a = saved - h;
    s.sample(rng);
    const double lm = s.unrolled_valid_loss(xt, yt, xv, yv);
    a = saved;
    const double numeric = (lp - lm) / (2.0 * h);
    err2 += (numeric - analytic[i]) * (numeric - analytic[i]);
    first_err2 += (numeric - first[i]) * (numeric - first[i]);
    norm2 += numeric * numeric;
  }
  INFO("relative error " << std::sqrt(err2 / norm2) << ", first order's " << std::sqrt(first_err2 / norm2));
  WARN("second order: relative error " << std::sqrt(err2 / norm2) << " (first order: " << std::sqrt(first_err2 / norm2) << ")");
  CHECK(norm2 > 0.0);
  CHECK(std::sqrt(err2 / norm2) < 0.05);
  CHECK(std::sqrt(first_err2 / norm2) > 4.0 * std::sqrt(err2 / norm2));  // the Hessian term is not negligible here
}

TEST_CASE("Fair DARTS' zero-one loss gradient matches central differences", "[search][darts]") {
  const nas::SigmoidRelaxation r;
  const std::vector<float> alpha{-1.5f, -0.2f, 0.0f, 0.4f, 2.0f};
  std::vector<double> g(5, 0.0);
  r.regularize(alpha, 1.0, g);
  auto loss = [](const std::vector<float>& a) {
    double l = 0.0;
    for (float v : a) l -= std::pow(nas::SigmoidRelaxation::sigmoid(v) - 0.5, 2);
    return l;
  };
  for (std::size_t k = 0; k < 5; ++k) {
    auto ap = alpha, am = alpha;
    ap[k] += 1e-3f;
    am[k] -= 1e-3f;
    const double num = (loss(ap) - loss(am)) / (static_cast<double>(ap[k]) - am[k]);
    CHECK(g[k] == Approx(num).epsilon(1e-3).margin(1e-6));
  }
  CHECK(g[2] == 0.0);  // at 1/2 the loss is flat
}

TEST_CASE("GDAS runs one op per edge per step; DARTS runs every op", "[search][darts]") {
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data(32);
  nas::DartsSearch<nas::Nb201Space, nas::GumbelRelaxation> g(space, nas::NetworkInput::of(data), tiny_options());
  nas::DartsSearch<nas::Nb201Space, nas::SoftmaxRelaxation> d(space, nas::NetworkInput::of(data), tiny_options());
  nas::Tensor x({8, 1, 8, 8});
  std::copy_n(data.images.data(), x.numel(), x.data());
  std::vector<int> y(data.labels.begin(), data.labels.begin() + 8);
  nas::Rng rng(4);
  for (int step = 0; step < 4; ++step) {
    g.sample(rng);
    (void)g.weight_step(x, y);
    d.sample(rng);
    (void)d.weight_step(x, y);
    for (std::size_t e = 0; e < 6; ++e) {
      int runs = 0, active = 0;
      for (std::size_t k = 0; k < 5; ++k) {
        runs += g.network().cell(0).op_runs(e, k) ? 1 : 0;
        active += g.network().is_active(e, k) ? 1 : 0;
      }
      CHECK(active == 1);
      CHECK(runs <= 1);
      for (std::size_t k = 0; k < 5; ++k) CHECK(d.network().is_active(e, k));
    }
  }
}

TEST_CASE("DARTS- adds the auxiliary skip to every edge with a weight decaying to zero", "[search][darts]") {
  const nas::AuxiliarySkip guard;
  CHECK(guard.skip_weight(0, 10) == 1.0);
  CHECK(guard.skip_weight(5, 10) == Approx(0.5));
  CHECK(guard.skip_weight(10, 10) == 0.0);
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data(32);
  nas::DartsSearch<nas::Nb201Space, nas::GumbelRelaxation, nas::FirstOrder, nas::AuxiliarySkip> s(
      space, nas::NetworkInput::of(data), tiny_options());
  s.set_schedule(1.0, 0.75);
  nas::Rng rng(2);
  s.sample(rng);
  const auto& cell = s.network().cell(0);
  for (std::size_t e = 0; e < 6; ++e) {
    CHECK(s.network().is_active(e, 1));  // skip_connect runs beside the sampled op
    const float w = cell.weight(e, 1);
    CHECK((w == 0.75f || w == 1.75f));
  }
}

TEST_CASE("Darts runs every variant, reports each epoch and gives the same genotype for the same seed",
          "[search][darts]") {
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data();
  const nas::DartsOptions o = tiny_options();
  Recorder rec;
  const auto a = nas::DartsV1(o).run(space, data, rec);
  CHECK(rec.darts_epochs == 3);
  CHECK(rec.epochs == 3);
  CHECK(a.epochs.size() == 3);
  CHECK(a.genotype == rec.genotypes.back());
  CHECK(space.decode(a.genotype) == a.arch);
  CHECK(a.row_names.size() == 6);
  CHECK(a.alpha.size() == 6);
  const auto b = nas::DartsV1(o).run(space, data);
  CHECK(b.genotype == a.genotype);
  CHECK(same_bits(a.alpha, b.alpha));
  // Alpha moved, and a different seed moves it differently.
  nas::DartsOptions o2 = o;
  o2.seed = 6;
  const auto c = nas::DartsV1(o2).run(space, data);
  CHECK_FALSE(same_bits(a.alpha, c.alpha));

  for (const auto& r : {nas::DartsV2(o).run(space, data), nas::FairDarts(o).run(space, data), nas::Gdas(o).run(space, data),
                        nas::DartsMinus(o).run(space, data)}) {
    CHECK(r.epochs.size() == 3);
    CHECK(space.decode(r.genotype) == r.arch);
    CHECK(std::isfinite(r.epochs.back().train_loss));
    CHECK_FALSE(same_bits(r.alpha, a.alpha));
  }
  CHECK(nas::Gdas::name() == "gdas");
  CHECK(nas::DartsMinus::name() == "darts-v1+aux-skip");
}

TEST_CASE("a killed search resumes from its last checkpoint and ends bit-identical to an uninterrupted one",
          "[search][darts]") {
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data();
  nas::DartsOptions o = tiny_options();
  o.epochs = 4;
  const auto straight = nas::Gdas(o).run(space, data);

  o.checkpoint = temp_file("resume").string();
  Recorder killer;
  killer.stop_after = 2;
  killer.throw_after = true;
  CHECK_THROWS_AS(nas::Gdas(o).run(space, data, killer), std::runtime_error);
  REQUIRE(std::filesystem::exists(o.checkpoint));
  Recorder rec;
  const auto resumed = nas::Gdas(o).run(space, data, rec);
  CHECK(resumed.first_epoch == 3);
  CHECK(resumed.epochs.size() == 2);
  CHECK(resumed.epochs.front().epoch == 3);
  CHECK(resumed.genotype == straight.genotype);
  CHECK(same_bits(resumed.alpha, straight.alpha));
  CHECK(resumed.epochs.back().train_loss == straight.epochs.back().train_loss);

  // A finished search's checkpoint resumes to the same answer with no epoch left; another
  // search refuses it.
  const auto again = nas::Gdas(o).run(space, data);
  CHECK(again.epochs.empty());
  CHECK(same_bits(again.alpha, straight.alpha));
  CHECK_THROWS_AS(nas::DartsV1(o).run(space, data), nas::ConfigError);
  std::filesystem::remove(o.checkpoint);
}

TEST_CASE("GDAS frees the unsampled ops' buffers without changing a bit of the search", "[search][darts]") {
  const nas::Dataset data = tiny_data();
  nas::DartsOptions o = tiny_options();
  CHECK(o.release_unsampled);  // the default
  auto compare = [&](const auto& space, const nas::DartsOptions& opts) {
    nas::DartsOptions keep = opts;
    keep.release_unsampled = false;
    const auto released = nas::Gdas(opts).run(space, data);
    const auto kept = nas::Gdas(keep).run(space, data);
    CHECK(released.genotype == kept.genotype);
    CHECK(same_bits(released.alpha, kept.alpha));
    REQUIRE(released.epochs.size() == kept.epochs.size());
    for (std::size_t e = 0; e < kept.epochs.size(); ++e) {
      CHECK(released.epochs[e].train_loss == kept.epochs[e].train_loss);
      CHECK(released.epochs[e].valid_loss == kept.epochs[e].valid_loss);
    }
  };
  compare(nas::Nb201Space{}, o);
  o.epochs = 1;
  o.max_steps_per_epoch = 2;
  o.supernet = {.channels = 2, .cells = 3, .stem_multiplier = 1, .seed = 1, .affine = false};
  compare(nas::CellSpace::darts(), o);
}

TEST_CASE("Darts searches the DARTS space and returns a genotype the DARTS code reads", "[search][darts]") {
  const auto space = nas::CellSpace::darts();
  const nas::Dataset data = tiny_data(32);
  nas::DartsOptions o = tiny_options();
  o.epochs = 1;
  o.max_steps_per_epoch = 1;
  o.supernet = {.channels = 2, .cells = 3, .stem_multiplier = 1, .seed = 1, .affine = false};
  const auto r = nas::DartsV1(o).run(space, data);
  REQUIRE(r.alpha.size() == 28);
  CHECK(r.genotype.rfind("Genotype(normal=[('", 0) == 0);
  CHECK(r.genotype.find("reduce=[") != std::string::npos);
  CHECK(r.genotype.find("none") == std::string::npos);
  CHECK(space.decode(r.genotype) == r.arch);
}

TEST_CASE("Darts rejects bad options with the option, the value and the limit", "[search][darts]") {
  nas::DartsOptions o;
  o.train_portion = 1.0;
  CHECK_THROWS_WITH(nas::DartsV1{o}, "Darts: train_portion (1) must be in (0, 1)");
  o = {};
  o.tau_min = 0.0;
  CHECK_THROWS_AS(nas::Gdas{o}, nas::ConfigError);
  o = {};
  o.epochs = 0;
  CHECK_THROWS_WITH(nas::DartsV1{o}, "Darts: epochs (0) must be >= 1");
  o = tiny_options();
  o.batch_size = 64;
  CHECK_THROWS_AS(nas::DartsV1(o).run(nas::Nb201Space{}, tiny_data(32)), nas::ConfigError);
}
