// DARTS / NAS-Bench-201 blocks: structure, parameter counts as in the reference PyTorch code, gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/blocks.hpp>
#include <nas/testing/gradcheck.hpp>

#include <cmath>

namespace {
// Composite blocks hold BatchNorm in training mode; a batch of 4 keeps its statistics smooth.
double check(nas::Module& m, const nas::Shape& in, std::uint64_t seed) {
  nas::Rng rng(seed);
  nas::Tensor x(in);
  x.fill_normal(rng);
  const auto r = nas::testing::gradcheck(m, x, {.eps = 1e-3, .max_checks = 24, .floor = 0.2});
  INFO(m.type_name() << " " << in.str() << ": " << r.worst);
  CHECK(r.checked > 0);
  return r.max_error;
}
}  // namespace

TEST_CASE("ReLUConvBN is ReLU, bias-free conv, BatchNorm with PyTorch parameter names", "[tensor][blocks]") {
  nas::Rng rng(1);
  nas::ReLUConvBN b({.in_channels = 4, .out_channels = 6, .kernel = 3, .stride = 2, .padding = 1}, rng);
  REQUIRE(b.num_parameters() == 4 * 6 * 9 + 2 * 6);
  const auto names = b.named_parameters();
  REQUIRE(names.size() == 3);
  REQUIRE(names[0].path == "1.weight");
  REQUIRE(names[1].path == "2.weight");
  REQUIRE(names[2].path == "2.bias");
  REQUIRE(b.output_shape({2, 4, 8, 8}) == nas::Shape{2, 6, 4, 4});
  REQUIRE(b.macs({1, 4, 8, 8}) == 9.0 * 4 * 6 * 16);
  REQUIRE(check(b, {4, 4, 5, 5}, 2) < 3e-2);
  nas::ReLUConvBN no_affine({.in_channels = 4, .out_channels = 6, .kernel = 1, .padding = 0, .affine = false}, rng);
  REQUIRE(no_affine.num_parameters() == 24);
}

TEST_CASE("SepConv and DilConv have DARTS' structure and parameter counts", "[tensor][blocks]") {
  nas::Rng rng(3);
  nas::SepConv sep3({.in_channels = 8, .out_channels = 8, .kernel = 3, .stride = 1, .padding = 1}, rng);
  REQUIRE(sep3.num_parameters() == 304);  // torch: sum(p.numel()) of DARTS SepConv(8, 8, 3, 1, 1)
  nas::SepConv sep5({.in_channels = 8, .out_channels = 8, .kernel = 5, .stride = 2, .padding = 2}, rng);
  REQUIRE(sep5.num_parameters() == 560);
  REQUIRE(sep5.output_shape({2, 8, 8, 8}) == nas::Shape{2, 8, 4, 4});
  nas::DilConv dil({.in_channels = 8, .out_channels = 8, .kernel = 3, .stride = 1, .padding = 2, .dilation = 2}, rng);
  REQUIRE(dil.num_parameters() == 8 * 9 + 8 * 8 + 16);
  REQUIRE(dil.output_shape({2, 8, 8, 8}) == nas::Shape{2, 8, 8, 8});
  REQUIRE(dil.macs({1, 8, 8, 8}) == 9.0 * 8 * 64 + 64.0 * 64);
}

TEST_CASE("SepConv and DilConv backward match finite differences, stride 1 and 2", "[tensor][blocks]") {
  nas::Rng rng(4);
  nas::SepConv sep({.in_channels = 3, .out_channels = 4, .kernel = 3, .stride = 2, .padding = 1}, rng);
  REQUIRE(check(sep, {4, 3, 6, 6}, 5) < 3e-2);
  nas::DilConv dil({.in_channels = 3, .out_channels = 3, .kernel = 3, .stride = 1, .padding = 2, .dilation = 2}, rng);
  REQUIRE(check(dil, {4, 3, 5, 5}, 6) < 3e-2);
}

TEST_CASE("FactorizedReduce convolves the input and the input shifted by one pixel", "[tensor][blocks]") {
  nas::Rng rng(7);
  nas::FactorizedReduce fr({.in_channels = 2, .out_channels = 4, .stride = 2}, rng);
  auto params = fr.named_parameters();
  REQUIRE(params.size() == 4);
  REQUIRE(params[0].path == "convs.0.weight");
  REQUIRE(params[1].path == "convs.1.weight");
  REQUIRE(params[2].path == "bn.weight");
  // Evaluation with running mean 0, variance 1: BN is (almost) the identity.
  fr.eval();
  for (int H : {4, 5}) {
    nas::Tensor x({1, 2, H, H});
    x.fill_normal(rng);
    const nas::Tensor& y = fr.forward(x);
    const int Ho = (H - 1) / 2 + 1;
    REQUIRE(y.shape() == nas::Shape{1, 4, Ho, Ho});
    const nas::Tensor& wa = params[0].parameter->value;  // [2, 2, 1, 1]
    const nas::Tensor& wb = params[1].parameter->value;
    for (int c = 0; c < 4; ++c)
      for (int i = 0; i < Ho; ++i)
        for (int j = 0; j < Ho; ++j) {
          double ref = 0.0;
          for (int ci = 0; ci < 2; ++ci) {
            if (c < 2) {
              ref += wa[static_cast<std::size_t>(c * 2 + ci)] * std::max(0.0f, x.at(0, ci, 2 * i, 2 * j));
            } else if (2 * i + 1 < H && 2 * j + 1 < H) {
              ref += wb[static_cast<std::size_t>((c - 2) * 2 + ci)] * std::max(0.0f, x.at(0, ci, 2 * i + 1, 2 * j + 1));
            }
          }
          REQUIRE(y.at(0, c, i, j) == Approx(ref / std::sqrt(1.0 + 1e-5)).margin(1e-5));
        }
  }
}

TEST_CASE("FactorizedReduce backward matches finite differences for even and odd sizes and stride 1", "[tensor][blocks]") {
  nas::Rng rng(8);
  nas::FactorizedReduce fr({.in_channels = 3, .out_channels = 5, .stride = 2}, rng);
  REQUIRE(fr.num_parameters() == 3 * 2 + 3 * 3 + 10);
  REQUIRE(check(fr, {4, 3, 4, 4}, 9) < 3e-2);
  REQUIRE(check(fr, {4, 3, 5, 5}, 10) < 3e-2);
  nas::FactorizedReduce one({.in_channels = 3, .out_channels = 4, .stride = 1}, rng);
  REQUIRE(one.output_shape({2, 3, 5, 5}) == nas::Shape{2, 4, 5, 5});
  REQUIRE(check(one, {4, 3, 3, 3}, 11) < 3e-2);
}

TEST_CASE("ResNetBasicBlock matches NAS-Bench-201's parameter counts and MACs", "[tensor][blocks]") {
  nas::Rng rng(12);
  // Counts from torch for cell_operations.ResNetBasicblock(inplanes, planes, stride).
  nas::ResNetBasicBlock down(16, 32, 2, rng);
  REQUIRE(down.num_parameters() == 14464);
  nas::ResNetBasicBlock same(8, 8, 1, rng);
  REQUIRE(same.num_parameters() == 1184);
  nas::ResNetBasicBlock widen(8, 12, 1, rng);
  REQUIRE(widen.num_parameters() == 2328);
  REQUIRE(down.output_shape({2, 16, 32, 32}) == nas::Shape{2, 32, 16, 16});
  // conv_a 9*16*32*16*16 + conv_b 9*32*32*16*16 + shortcut 1x1 16*32*16*16.
  REQUIRE(down.macs({1, 16, 32, 32}) == 9.0 * 16 * 32 * 256 + 9.0 * 32 * 32 * 256 + 16.0 * 32 * 256);
  const auto names = down.named_parameters();
  REQUIRE(names.front().path == "conv_a.1.weight");
  REQUIRE(names.back().path == "downsample.1.weight");
}

TEST_CASE("ResNetBasicBlock backward matches finite differences for all three shortcuts", "[tensor][blocks]") {
  nas::Rng rng(13);
  nas::ResNetBasicBlock down(2, 3, 2, rng);
  REQUIRE(check(down, {4, 2, 4, 4}, 14) < 3e-2);
  nas::ResNetBasicBlock same(3, 3, 1, rng);
  REQUIRE(check(same, {4, 3, 3, 3}, 15) < 3e-2);
  nas::ResNetBasicBlock widen(2, 3, 1, rng);
  REQUIRE(check(widen, {4, 2, 3, 3}, 16) < 3e-2);
}
