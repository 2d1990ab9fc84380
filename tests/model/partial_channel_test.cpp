// PartialChannelMixedOp (PC-DARTS): the channels it samples and shuffles, against a direct computation, and its gradients against central differences.
#include <catch2/catch.hpp>

#include <nas/model/partial_channel.hpp>
#include <nas/testing/gradcheck.hpp>

#include <string>
#include <vector>

namespace {

const std::vector<std::string> kOps{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};

nas::Tensor input(const nas::Shape& s, std::uint64_t seed) {
  nas::Tensor x(s);
  nas::Rng rng(seed);
  nas::testing::fill_away_from_zero(x, rng);
  return x;
}

}  // namespace

TEST_CASE("PartialChannelMixedOp mixes the first C/K channels, passes the rest and shuffles them with K groups",
          "[model][mixed_op][pc]") {
  // C = 8, K = 4: two channels go through the candidates. With only skip_connect active
  // at weight 2 the mixture is 2 x; with `none` alone it is 0.
  nas::Rng rng(1);
  nas::PartialChannelMixedOp pc(kOps, nas::CellOpGeometry{.in_channels = 8, .out_channels = 8}, 4, rng);
  const nas::Tensor x = input({2, 8, 3, 3}, 2);
  for (const auto& [op, w] : {std::pair<std::size_t, float>{1, 2.0f}, std::pair<std::size_t, float>{0, 1.0f}}) {
    pc.set_active(std::span<const std::size_t>(&op, 1), std::span<const float>(&w, 1));
    const nas::Tensor& y = pc.forward(x);
    REQUIRE(y.shape() == x.shape());
    // The concatenation z: z[0..1] the mixture, z[2..7] = x[2..7]; output j*4 + g = z[g*2 + j].
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 8; ++c)
        for (int i = 0; i < 9; ++i) {
          const int g = c / 2, j = c % 2;
          const float z = g == 0 ? (op == 1 ? 2.0f * x.data()[(n * 8 + c) * 9 + i] : 0.0f) : x.data()[(n * 8 + c) * 9 + i];
          CHECK(y.data()[(n * 8 + j * 4 + g) * 9 + i] == z);
        }
  }
}

TEST_CASE("PartialChannelMixedOp backward matches central differences for the input, the ops' weights and dL/dw",
          "[model][mixed_op][pc]") {
  nas::Rng rng(3);
  nas::PartialChannelMixedOp pc(kOps, nas::CellOpGeometry{.in_channels = 8, .out_channels = 8}, 4, rng);
  const std::size_t ops[] = {0, 1, 2, 3, 4};
  const float w[] = {0.1f, 0.3f, 0.7f, 1.4f, 0.5f};
  pc.set_active(ops, w);
  for (bool training : {false, true}) {
    pc.train(training);
    const auto res = nas::testing::gradcheck(pc, input({2, 8, 4, 4}, 4),
                                             {.eps = 1e-2, .max_checks = 40, .floor = 5e-2, .seed = 7, .kink_tolerant = true});
    INFO((training ? "train: " : "eval: ") << res.worst);
    CHECK(res.checked > 50);
    CHECK(res.max_error < 2e-2);
  }
  // dL/dw: L is linear in each w, so the exact difference L(w_k + 1) - L(w_k).
  pc.eval();
  const nas::Tensor x = input({2, 8, 4, 4}, 5);
  nas::Tensor r(x.shape());
  r.fill_normal(rng);
  const double base = nas::dot(pc.forward(x), r);
  for (std::size_t i = 1; i < 5; ++i) {
    float w2[] = {0.1f, 0.3f, 0.7f, 1.4f, 0.5f};
    w2[i] += 1.0f;
    pc.set_active(ops, w2);
    const double bumped = nas::dot(pc.forward(x), r);
    pc.set_active(ops, w);
    (void)pc.forward(x);
    (void)pc.backward(r);
    CHECK(pc.weight_grad(ops[i]) == Approx(bumped - base).epsilon(1e-4).margin(1e-4));
  }
  CHECK(pc.weight_grad(0) == 0.0);  // none
}

TEST_CASE("PartialChannelMixedOp holds a K-th of the mixture's parameters and refuses what it cannot run",
          "[model][mixed_op][pc]") {
  nas::Rng rng(6);
  // Without BatchNorm's affine weights only the convolutions' weights count, and they scale
  // with the square of the channels: 1/16 of the full mixture's.
  const nas::CellOpGeometry g{.in_channels = 16, .out_channels = 16, .affine = false};
  nas::MixedOp full(kOps, g, rng);
  nas::PartialChannelMixedOp pc(kOps, g, 4, rng);
  CHECK(pc.num_parameters() * 16 == full.num_parameters());
  CHECK(pc.macs({1, 16, 8, 8}) * 4 < full.macs({1, 16, 8, 8}));
  CHECK_THROWS_WITH(nas::PartialChannelMixedOp(kOps, nas::CellOpGeometry{.in_channels = 6, .out_channels = 6}, 4, rng),
                    Catch::Contains("K = 4 must be >= 1 and divide the 6 channels"));
  CHECK_THROWS_WITH(nas::PartialChannelMixedOp(kOps, nas::CellOpGeometry{.in_channels = 8, .out_channels = 8, .stride = 2}, 4, rng),
                    Catch::Contains("a reduction edge is not supported"));
  CHECK_THROWS_WITH(pc.forward(nas::Tensor({1, 8, 4, 4})), Catch::Contains("expected N x 16 x H x W"));
}

TEST_CASE("PartialChannelMixedOp scales its output by the edge weight, gives dL/db, and writes into a sum as forward does",
          "[model][mixed_op][pc]") {
  nas::Rng rng(8);
  nas::PartialChannelMixedOp pc(kOps, nas::CellOpGeometry{.in_channels = 8, .out_channels = 8}, 2, rng);
  pc.eval();
  const std::size_t ops[] = {1, 2, 3};
  const float w[] = {0.4f, 0.9f, 0.3f};
  pc.set_active(ops, w);
  const nas::Tensor x = input({2, 8, 4, 4}, 9);
  nas::Tensor r(x.shape());
  r.fill_normal(rng);
  pc.set_edge_weight(1.0f);
  const nas::Tensor y1 = pc.forward(x);
  pc.set_edge_weight(0.25f);
  const nas::Tensor& y = pc.forward(x);
  for (std::size_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == 0.25f * y1[i]);
  // L = <r, y> is linear in b: dL/db = L(b = 1) / 1.
  (void)pc.backward(r);
  CHECK(pc.edge_weight_grad() == Approx(nas::dot(y1, r)).epsilon(1e-5));
  // The input's gradient is scaled by b too: bypassed channels get exactly b * dy.
  const nas::Tensor& dx = pc.backward(r);
  CHECK(dx[static_cast<std::size_t>(7 * 16)] == 0.25f * r[static_cast<std::size_t>((3 * 2 + 1) * 16)]);  // channel 7 = g 1, j 3 -> 3*2+1
  // forward_into: into a sum that holds s, the same as s + forward(x).
  nas::Tensor sum(x.shape());
  sum.fill(0.5f);
  pc.forward_into(x, sum, true);
  for (std::size_t i = 0; i < sum.numel(); ++i) REQUIRE(sum[i] == 0.5f + y[i]);
  CHECK(pc.forward_into_is_direct());
}
