// Module::release_buffers: every op frees what its forward and backward left allocated,
// keeps its weights, gradients and running statistics, and computes the same bits after.
#include <catch2/catch.hpp>

#include <nas/model/mixed_op.hpp>
#include <nas/model/ops.hpp>
#include <nas/model/partial_channel.hpp>
#include <nas/model/supernet.hpp>
#include <nas/space/nb201_space.hpp>
#include <nas/tensor/mobile_blocks.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/gradcheck.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

nas::Tensor random_tensor(const nas::Shape& s, std::uint64_t seed) {
  nas::Tensor t(s);
  nas::Rng rng(seed);
  nas::testing::fill_away_from_zero(t, rng);
  return t;
}

// One training step's forward and backward: copies of the output and dL/dx, and every
// parameter's gradient.
struct Step {
  std::vector<float> y, dx, grads;
};

Step step(nas::Module& m, const nas::Tensor& x, const nas::Tensor& dy, const nas::Tensor** y_ref, const nas::Tensor** dx_ref) {
  m.train();
  m.zero_grad();
  const nas::Tensor& y = m.forward(x);
  Step s{{y.begin(), y.end()}, {}, {}};
  const nas::Tensor& dx = m.backward(dy);
  s.dx.assign(dx.begin(), dx.end());
  for (nas::Parameter* p : m.parameters()) s.grads.insert(s.grads.end(), p->grad.begin(), p->grad.end());
  *y_ref = &y;
  *dx_ref = &dx;
  return s;
}

// Runs a step, releases, and runs the same step again: the same bits, and the buffers the
// first step returned (when they are the module's own) hold no storage in between.
void check_release(nas::Module& m, const nas::Shape& in) {
  const nas::Tensor x = random_tensor(in, 1);
  const nas::Tensor dy = random_tensor(m.output_shape(in), 2);
  const nas::Tensor *y = nullptr, *dx = nullptr;
  std::vector<float> stats_before;
  const Step first = step(m, x, dy, &y, &dx);
  for (nas::Parameter* b : m.buffers()) stats_before.insert(stats_before.end(), b->value.begin(), b->value.end());
  m.release_buffers();
  if (y != &x) CHECK(y->capacity() == 0);
  if (dx != &dy) CHECK(dx->capacity() == 0);
  std::vector<float> stats_after;
  for (nas::Parameter* b : m.buffers()) stats_after.insert(stats_after.end(), b->value.begin(), b->value.end());
  CHECK(stats_after == stats_before);  // running statistics are state, not buffers
  for (nas::Parameter* p : m.parameters()) CHECK(p->grad.numel() == p->value.numel());  // gradients stay
  const nas::Tensor *y2 = nullptr, *dx2 = nullptr;
  // The running statistics moved once more in the first step; the outputs and gradients
  // depend on the batch statistics only, so the second step repeats the first bit for bit.
  const Step second = step(m, x, dy, &y2, &dx2);
  CHECK(second.y == first.y);
  CHECK(second.dx == first.dx);
  CHECK(second.grads == first.grads);
}

}  // namespace

TEST_CASE("every NB201 and DARTS cell op frees its buffers and repeats its step bit for bit", "[model][release]") {
  const std::vector<std::string> names{"skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
                                       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};
  for (const auto& name : names)
    for (int stride : {1, 2}) {
      INFO(name << " stride " << stride);
      nas::Rng rng(7);
      nas::CellOp op = nas::make_cell_op(name, {.in_channels = 4, .out_channels = 4, .stride = stride}, rng);
      check_release(*op.module, nas::Shape{2, 4, 6, 6});
    }
}

TEST_CASE("the tensor layer's other modules free their buffers too", "[model][release]") {
  nas::Rng rng(3);
  SECTION("Linear") {
    nas::Linear m({.in_features = 5, .out_features = 3}, rng);
    check_release(m, nas::Shape{4, 5});
  }
  SECTION("a Sequential of convolution, BatchNorm, ReLU, pooling, flatten") {
    nas::Sequential m;
    m.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
    m.emplace<nas::BatchNorm2d>(3);
    m.emplace<nas::ReLU>();
    m.emplace<nas::MaxPool2d>(nas::Pool2dOptions{.kernel = 2, .stride = 2});
    m.emplace<nas::GlobalAvgPool>();
    check_release(m, nas::Shape{2, 2, 5, 5});
  }
  SECTION("an inverted residual block with squeeze-and-excitation") {
    nas::InvertedResidual m({.in_channels = 4, .out_channels = 4, .kernel = 3, .stride = 1, .expansion = 3, .squeeze_excite = true},
                            rng);
    check_release(m, nas::Shape{2, 4, 6, 6});
  }
  SECTION("a mixed op and a partial-channel mixed op") {
    const std::vector<std::string> ops{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
    nas::MixedOp mixed(ops, {.in_channels = 4, .out_channels = 4}, rng);
    check_release(mixed, nas::Shape{2, 4, 5, 5});
    nas::PartialChannelMixedOp pc(ops, {.in_channels = 8, .out_channels = 8}, 4, rng);
    check_release(pc, nas::Shape{2, 8, 5, 5});
  }
}

TEST_CASE("a supernet that releases inactive ops trains its single paths to the same bits", "[model][release]") {
  const nas::Nb201Space space;
  const nas::NetworkInput in{.channels = 1, .height = 8, .width = 8, .classes = 3};
  auto run = [&](bool release) {
    auto net = std::make_unique<nas::Supernet<nas::Nb201Space>>(space, in, nas::SupernetOptions{.channels = 4, .cells = 1, .seed = 5});
    net->release_inactive_ops(release);
    CHECK(net->releases_inactive_ops() == release);
    nas::Rng rng(9);
    const nas::Tensor x = random_tensor(nas::Shape{4, 1, 8, 8}, 3);
    std::vector<float> out;
    for (int s = 0; s < 6; ++s) {
      net->select(space.sample(rng));
      net->train();
      net->zero_grad();
      const nas::Tensor& logits = net->forward(x);
      out.insert(out.end(), logits.begin(), logits.end());
      const nas::Tensor& dx = net->backward(logits);  // any dL/dlogits will do
      out.insert(out.end(), dx.begin(), dx.end());
      for (nas::Parameter* p : net->parameters())
        if (p->has_grad) out.insert(out.end(), p->grad.begin(), p->grad.end());
    }
    return out;
  };
  const auto kept = run(false), released = run(true);
  REQUIRE(kept.size() == released.size());
  CHECK(kept == released);
}
