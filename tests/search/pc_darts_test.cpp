// PC-DARTS on the NB201 supernet: partial channels and edge normalisation, the gradients of alpha and beta against
// central differences of the validation loss, and a search that resumes bit-identical with beta in its checkpoint.
#include <catch2/catch.hpp>

#include "darts_fixtures.hpp"

#include <nas/search/darts.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace {

using nas_test::tiny_data;

nas::DartsOptions pc_options() {
  nas::DartsOptions o = nas_test::tiny_options();
  o.supernet.partial_channels = 2;
  return o;
}

struct Killer {
  int epochs = 0, kill_at = -1;
  bool on_darts_epoch(const nas::DartsEpoch<nas::Nb201Arch>&) {
    if (++epochs == kill_at) throw std::runtime_error("killed");
    return false;
  }
};

}  // namespace

TEST_CASE("PC-DARTS' alpha and beta gradients match central differences of the validation loss", "[search][darts][pc]") {
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data(16, 2);
  nas::DartsOptions o = pc_options();
  o.arch_init_std = 0.5;  // edge weights and op weights away from uniform
  nas::DartsSearch<nas::Nb201Space> s(space, nas::NetworkInput::of(data), o);
  REQUIRE(s.normalizes_edges());
  REQUIRE(s.beta().value.numel() == 6);
  nas::Tensor xv({8, 1, 8, 8});
  std::vector<int> yv(8);
  for (int i = 0; i < 8; ++i) {
    std::copy_n(data.image(static_cast<std::size_t>(i)).data(), 64, xv.data() + 64 * i);
    yv[static_cast<std::size_t>(i)] = data.label(static_cast<std::size_t>(i));
  }
  // First order: the gradient at the current weights (the training batch is not used).
  nas::Rng rng(1);
  s.sample(rng);
  (void)s.arch_gradient(xv, yv, xv, yv);
  const nas::Tensor ga = s.alpha().grad, gb = s.beta().grad;
  nas::SoftmaxCrossEntropy ce;
  auto loss = [&] {
    s.sample(rng);  // softmax: no noise, so the sample is the relaxation of the current alpha and beta
    s.network().train();
    return ce.forward(s.network().forward(xv), yv);
  };
  auto check = [&](nas::Parameter& p, const nas::Tensor& analytic, const char* what) {
    double err2 = 0.0, norm2 = 0.0;
    const float h = 2e-3f;
    for (std::size_t i = 0; i < p.value.numel(); ++i) {
      const float saved = p.value[i];
      p.value[i] = saved + h;
      const double lp = loss();
      p.value[i] = saved - h;
      const double lm = loss();
      p.value[i] = saved;
      const double numeric = (lp - lm) / (2.0 * h);
      err2 += (numeric - analytic[i]) * (numeric - analytic[i]);
      norm2 += numeric * numeric;
    }
    INFO(what << ": relative error " << std::sqrt(err2 / norm2));
    CHECK(norm2 > 1e-12);
    // About 0.03 here: a few ReLU units change sign within the step. A wrong Jacobian
    // (the softmax's mean term left out, a sign) is off by more than half.
    CHECK(std::sqrt(err2 / norm2) < 0.1);
  };
  check(s.alpha(), ga, "alpha");
  check(s.beta(), gb, "beta");
  // Edge 0 is node 1's only input: its weight is softmax over one edge, 1 whatever beta.
  CHECK(s.edge_weights()[0] == 1.0);
  CHECK(gb[0] == 0.0f);
}

TEST_CASE("PC-DARTS searches NB201 with edge weights, repeats with its seed and resumes bit-identical", "[search][darts][pc]") {
  const nas::Nb201Space space;
  const nas::Dataset data = tiny_data();
  nas::DartsOptions o = pc_options();
  o.epochs = 4;
  const auto a = nas::DartsV1(o).run(space, data);
  REQUIRE(a.edge_weights.size() == 6);
  // Per node the edge weights are a distribution: node 1 has edge 0, node 2 edges 1-2, node 3 edges 3-5.
  CHECK(a.edge_weights[0] == 1.0);
  CHECK(a.edge_weights[1] + a.edge_weights[2] == Approx(1.0));
  CHECK(a.edge_weights[3] + a.edge_weights[4] + a.edge_weights[5] == Approx(1.0));
  CHECK(a.edge_weights[3] != a.edge_weights[4]);  // beta moved
  CHECK(space.decode(a.genotype) == a.arch);
  const auto b = nas::DartsV1(o).run(space, data);
  CHECK(b.genotype == a.genotype);
  CHECK(b.edge_weights == a.edge_weights);
  // Without partial channels there are no edge weights, and the search differs.
  nas::DartsOptions full = o;
  full.supernet.partial_channels = 1;
  CHECK(nas::DartsV1(full).run(space, data).edge_weights.empty());

  o.checkpoint = (std::filesystem::temp_directory_path() / "nas_pc_darts_test_resume.nasstate").string();
  std::filesystem::remove(o.checkpoint);
  Killer killer{.kill_at = 2};
  CHECK_THROWS_AS(nas::DartsV1(o).run(space, data, killer), std::runtime_error);
  const auto resumed = nas::DartsV1(o).run(space, data);
  CHECK(resumed.first_epoch == 3);
  CHECK(resumed.genotype == a.genotype);
  CHECK(resumed.edge_weights == a.edge_weights);
  CHECK(std::memcmp(resumed.alpha[4].data(), a.alpha[4].data(), 5 * sizeof(float)) == 0);
  // A checkpoint of the full supernet does not fit a partial one.
  full.checkpoint = o.checkpoint;
  CHECK_THROWS_AS(nas::DartsV1(full).run(space, data), nas::ConfigError);
  std::filesystem::remove(o.checkpoint);
}

TEST_CASE("A partial-channel supernet refuses what it cannot do", "[search][darts][pc]") {
  const nas::Nb201Space space;
  const nas::NetworkInput in{.channels = 1, .height = 8, .width = 8, .classes = 4};
  CHECK_THROWS_WITH(nas::Supernet<nas::Nb201Space>(space, in, {.channels = 6, .cells = 1, .partial_channels = 4}),
                    Catch::Contains("partial_channels (4) must be >= 1 and divide the channels (6)"));
  nas::Supernet<nas::Nb201Space> pc(space, in, {.channels = 4, .cells = 1, .partial_channels = 2});
  nas::Supernet<nas::Nb201Space> plain(space, in, {.channels = 4, .cells = 1});
  CHECK_THROWS_WITH(plain.set_edge_weight(0, 0.5f), Catch::Contains("edge weights need partial_channels > 1"));
  nas::CellNetwork<nas::Nb201Space> net(space, space.decode("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"), in,
                                        {.channels = 4, .cells = 1});
  CHECK_THROWS_WITH(pc.copy_to(net), Catch::Contains("holds its ops at C/K channels"));
  CHECK(pc.num_parameters() < plain.num_parameters());
  const auto cells = nas::CellSpace::darts();
  CHECK_THROWS_WITH(nas::Supernet<nas::CellSpace>(cells, in, {.channels = 4, .cells = 3, .partial_channels = 2}),
                    Catch::Contains("implemented for the NB201 supernet only"));
}
