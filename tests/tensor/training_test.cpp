// End-to-end training: a tiny CNN learns, runs are bit-identical per seed, steps do not allocate.
#include <catch2/catch.hpp>

#include <cstring>

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

TEST_CASE("After the first step of each mode, training steps and inference allocate no tensor or workspace memory", "[tensor][training]") {
  Setup s;
  build(s, 3);
  nas::SGD opt(s.net.parameters(), {.lr = 0.05, .momentum = 0.9});
  nas::SoftmaxCrossEntropy ce;
  step(s, opt, ce);
  // The first evaluation forward sizes the fused inference buffers.
  s.net.eval();
  (void)s.net.forward(s.x);
  s.net.train();
  const auto before = nas::detail::allocation_count();
  for (int i = 0; i < 3; ++i) step(s, opt, ce);
  s.net.eval();
  (void)s.net.forward(s.x);
  s.net.train();
  step(s, opt, ce);
  REQUIRE(nas::detail::allocation_count() == before);
}

namespace {
// Restores the thread count when a test ends, whatever happens.
struct ThreadGuard {
  int saved = nas::num_threads();
  ~ThreadGuard() { nas::set_num_threads(saved); }
};

std::vector<float> bn_pool_relu_pass(int threads) {
  nas::set_num_threads(threads);
  nas::Rng rng(77);
  nas::Tensor x({8, 8, 32, 32});  // large enough to take the parallel paths
  x.fill_normal(rng);
  nas::BatchNorm2d bn(8);
  nas::ReLU relu;
  nas::MaxPool2d maxp({.kernel = 3, .stride = 1, .padding = 1});
  nas::AvgPool2d avgp({.kernel = 3, .stride = 2, .padding = 1});
  const nas::Tensor& y = avgp.forward(maxp.forward(relu.forward(bn.forward(x))));
  nas::Tensor dy(y.shape());
  dy.fill_normal(rng);
  const nas::Tensor& dx = bn.backward(relu.backward(maxp.backward(avgp.backward(dy))));
  std::vector<float> out(y.begin(), y.end());
  out.insert(out.end(), dx.begin(), dx.end());
  for (nas::Parameter* p : bn.parameters()) out.insert(out.end(), p->grad.begin(), p->grad.end());
  return out;
}
}  // namespace

TEST_CASE("BatchNorm, ReLU and pooling give the same bits on one to four threads", "[tensor][training][threads]") {
  ThreadGuard guard;
  const auto one = bn_pool_relu_pass(1);
  for (int threads : {2, 3, 4}) {
    INFO(threads << " threads");
    const auto other = bn_pool_relu_pass(threads);
    REQUIRE(one.size() == other.size());
    REQUIRE(std::memcmp(one.data(), other.data(), one.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("With two threads the same seed still gives bit-identical parameters", "[tensor][training][threads]") {
  ThreadGuard guard;
  nas::set_num_threads(2);
  Setup a, b;
  build(a, 8);
  build(b, 8);
  nas::SGD oa(a.net.parameters(), {.lr = 0.05, .momentum = 0.9});
  nas::SGD ob(b.net.parameters(), {.lr = 0.05, .momentum = 0.9});
  nas::SoftmaxCrossEntropy ca, cb;
  for (int i = 0; i < 4; ++i) {
    step(a, oa, ca);
    step(b, ob, cb);
  }
  const auto pa = a.net.parameters(), pb = b.net.parameters();
  for (std::size_t k = 0; k < pa.size(); ++k)
    for (std::size_t i = 0; i < pa[k]->numel(); ++i) REQUIRE(pa[k]->value[i] == pb[k]->value[i]);
}
