// End-to-end training: a tiny CNN learns, runs are bit-identical per seed, steps do not allocate.
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/loss.hpp>
#include <nas/tensor/optim.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/tensor/shape_ops.hpp>

#include <vector>

namespace {
struct Setup {
  nas::Sequential net;
  nas::Tensor x;
  std::vector<int> y;
};

// conv-BN-ReLU-pool-linear on 16 random 3x8x8 images with random labels from 4 classes.
void build(Setup& s, std::uint64_t seed) {
  nas::Rng rng(seed);
  s.net.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 3, .out_channels = 8, .kernel = 3, .padding = 1}, rng);
  s.net.emplace<nas::BatchNorm2d>(8);
  s.net.emplace<nas::ReLU>();
  s.net.emplace<nas::MaxPool2d>(nas::Pool2dOptions{.kernel = 2});
  s.net.emplace<nas::Flatten>();
  s.net.emplace<nas::Linear>(nas::Linear::Options{.in_features = 8 * 4 * 4, .out_features = 4}, rng);
  s.x = nas::Tensor({16, 3, 8, 8});
  s.x.fill_normal(rng);
  for (int i = 0; i < 16; ++i) s.y.push_back(static_cast<int>(rng.index(4)));
}

double step(Setup& s, nas::SGD& opt, nas::SoftmaxCrossEntropy& ce) {
  opt.zero_grad();
  const nas::Tensor& logits = s.net.forward(s.x);
  const double loss = ce.forward(logits, s.y);
  s.net.backward(ce.backward());
  opt.step();
  return loss;
}
}  // namespace

TEST_CASE("A tiny CNN overfits a synthetic batch to 100% training accuracy", "[tensor][training]") {
  Setup s;
  build(s, 2024);
  nas::SGD opt(s.net.parameters(), {.lr = 0.05, .momentum = 0.9});
  nas::SoftmaxCrossEntropy ce;
  const double first = step(s, opt, ce);
  double last = first;
  for (int i = 0; i < 150; ++i) last = step(s, opt, ce);
  INFO("loss " << first << " -> " << last);
  REQUIRE(last < 0.1 * first);
  REQUIRE(nas::count_correct(s.net.forward(s.x), s.y) == 16);
}

TEST_CASE("The same seed gives bit-identical parameters after several SGD steps", "[tensor][training]") {
  Setup a, b;
  build(a, 7);
  build(b, 7);
  nas::SGD oa(a.net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
  nas::SGD ob(b.net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
  nas::SoftmaxCrossEntropy ca, cb;
  for (int i = 0; i < 5; ++i) {
    step(a, oa, ca);
    step(b, ob, cb);
  }
  const auto pa = a.net.parameters(), pb = b.net.parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t k = 0; k < pa.size(); ++k)
    for (std::size_t i = 0; i < pa[k]->numel(); ++i) REQUIRE(pa[k]->value[i] == pb[k]->value[i]);
}

TEST_CASE("After the first step a training step allocates no tensor or workspace memory", "[tensor][training]") {
  Setup s;
  build(s, 3);
  nas::SGD opt(s.net.parameters(), {.lr = 0.05, .momentum = 0.9});
  nas::SoftmaxCrossEntropy ce;
  step(s, opt, ce);
  const auto before = nas::detail::allocation_count();
  for (int i = 0; i < 3; ++i) step(s, opt, ce);
  s.net.eval();
  (void)s.net.forward(s.x);
  s.net.train();
  step(s, opt, ce);
  REQUIRE(nas::detail::allocation_count() == before);
}
