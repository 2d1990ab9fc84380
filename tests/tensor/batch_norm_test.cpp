// BatchNorm2d: batch statistics in training, running statistics in evaluation, PyTorch's update rule, gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/batch_norm.hpp>
#include <nas/testing/gradcheck.hpp>

#include <cmath>

TEST_CASE("BatchNorm2d in training normalises each channel to zero mean and unit variance", "[tensor][batchnorm]") {
  nas::Rng rng(1);
  nas::BatchNorm2d bn(3);
  nas::Tensor x({4, 3, 5, 5});
  x.fill_normal(rng, 2.0f, 3.0f);
  const nas::Tensor& y = bn.forward(x);
  for (int c = 0; c < 3; ++c) {
    double s = 0, ss = 0;
    for (int n = 0; n < 4; ++n)
      for (int h = 0; h < 5; ++h)
        for (int w = 0; w < 5; ++w) {
          s += y.at(n, c, h, w);
          ss += static_cast<double>(y.at(n, c, h, w)) * y.at(n, c, h, w);
        }
    REQUIRE(s / 100 == Approx(0.0).margin(1e-5));
    REQUIRE(ss / 100 == Approx(1.0).epsilon(1e-3));  // biased variance, eps = 1e-5
  }
}

TEST_CASE("BatchNorm2d updates running mean and unbiased running variance with momentum", "[tensor][batchnorm]") {
  nas::BatchNorm2d bn({.channels = 1, .momentum = 0.1f});
  // One channel holding 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased var 5/3.
  nas::Tensor x({2, 1, 1, 2});
  for (int i = 0; i < 4; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
  bn.forward(x);
  REQUIRE(bn.running_mean()[0] == Approx(0.9 * 0.0 + 0.1 * 2.5));
  REQUIRE(bn.running_var()[0] == Approx(0.9 * 1.0 + 0.1 * 5.0 / 3.0));
  const nas::Tensor& y = bn.forward(x);
  REQUIRE(y[0] == Approx((1.0 - 2.5) / std::sqrt(1.25 + 1e-5)));
  REQUIRE(bn.running_mean()[0] == Approx(0.9 * 0.25 + 0.1 * 2.5));
}

TEST_CASE("BatchNorm2d in evaluation uses running statistics and the affine parameters", "[tensor][batchnorm]") {
  nas::BatchNorm2d bn(2);
  bn.running_mean()[0] = 1.0f;
  bn.running_mean()[1] = -2.0f;
  bn.running_var()[0] = 4.0f;
  bn.running_var()[1] = 0.25f;
  bn.weight().value[1] = 3.0f;
  bn.bias().value[1] = 0.5f;
  bn.eval();
  nas::Tensor x({1, 2, 1, 1});
  x[0] = 3.0f;
  x[1] = -1.0f;
  const nas::Tensor& y = bn.forward(x);
  REQUIRE(y[0] == Approx((3.0 - 1.0) / std::sqrt(4.0 + 1e-5)));
  REQUIRE(y[1] == Approx(3.0 * (-1.0 + 2.0) / std::sqrt(0.25 + 1e-5) + 0.5));
  REQUIRE(bn.running_mean()[0] == 1.0f);  // unchanged in evaluation
}

TEST_CASE("BatchNorm2d without running statistics normalises with the batch in evaluation too", "[tensor][batchnorm]") {
  nas::BatchNorm2d bn({.channels = 1, .affine = false, .track_running_stats = false});
  REQUIRE(bn.num_parameters() == 0);
  bn.eval();
  nas::Tensor x({2, 1, 1, 2});
  for (int i = 0; i < 4; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
  const nas::Tensor& y = bn.forward(x);
  REQUIRE(y[3] == Approx(1.5 / std::sqrt(1.25 + 1e-5)));
}

TEST_CASE("BatchNorm2d backward matches finite differences in train and eval, affine on and off", "[tensor][batchnorm]") {
  nas::Rng rng(2);
  for (bool affine : {true, false})
    for (bool training : {true, false}) {
      nas::BatchNorm2d bn({.channels = 3, .affine = affine});
      if (affine) {
        bn.weight().value.fill_uniform(rng, 0.5f, 1.5f);
        bn.bias().value.fill_normal(rng);
      }
      bn.running_mean().fill_normal(rng);
      bn.running_var().fill_uniform(rng, 0.5f, 2.0f);
      bn.train(training);
      nas::Tensor x({3, 3, 3, 2});
      x.fill_normal(rng);
      const auto r = nas::testing::gradcheck(bn, x, {.eps = 1e-2});
      INFO("affine " << affine << " training " << training << ": " << r.worst);
      REQUIRE(r.max_error < 2e-2);
    }
}

TEST_CASE("BatchNorm2d rejects a batch with one value per channel in training", "[tensor][batchnorm]") {
  nas::BatchNorm2d bn(2);
  nas::Tensor x({1, 2, 1, 1});
  REQUIRE_THROWS_AS(bn.forward(x), nas::ConfigError);
  nas::Tensor wrong({2, 3, 2, 2});
  REQUIRE_THROWS_AS(bn.forward(wrong), nas::ConfigError);
}

TEST_CASE("BatchNorm2d backward over its own input gives the same gradients as into a buffer", "[tensor][batchnorm]") {
  nas::Rng rng(4);
  for (bool affine : {true, false})
    for (bool training : {true, false}) {
      nas::BatchNorm2d a({.channels = 3, .affine = affine}), b({.channels = 3, .affine = affine});
      b.overwrite_input_in_backward(true);
      for (nas::BatchNorm2d* bn : {&a, &b}) {
        if (affine) {
          bn->weight().value.fill(1.3f);
          bn->bias().value.fill(-0.2f);
        }
        bn->running_mean().fill(0.1f);
        bn->running_var().fill(1.7f);
        bn->train(training);
      }
      nas::Tensor x({2, 3, 4, 5}), dy({2, 3, 4, 5});
      x.fill_normal(rng);
      dy.fill_normal(rng);
      nas::Tensor x_b = x;
      const nas::Tensor& ya = a.forward(x);
      const nas::Tensor& yb = b.forward(x_b);
      REQUIRE(ya.shape() == yb.shape());
      const nas::Tensor& dxa = a.backward(dy);
      const nas::Tensor& dxb = b.backward(dy);
      INFO("affine " << affine << " training " << training);
      CHECK(&dxb == &x_b);  // the gradient lives where the input was
      CHECK(&dxa != &x);
      for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(dxb[i] == dxa[i]);
      if (affine)
        for (std::size_t c = 0; c < 3; ++c) {
          REQUIRE(b.weight().grad[c] == a.weight().grad[c]);
          REQUIRE(b.bias().grad[c] == a.bias().grad[c]);
        }
    }
}

TEST_CASE("BatchNorm2d forward_into writes or adds the forward output, and backward follows it", "[tensor][batchnorm]") {
  nas::Rng rng(6);
  for (bool training : {true, false}) {
    nas::BatchNorm2d a(3), b(3);
    for (nas::BatchNorm2d* bn : {&a, &b}) {
      bn->weight().value.fill(0.7f);
      bn->bias().value.fill(0.3f);
      bn->running_var().fill(2.0f);
      bn->train(training);
    }
    nas::Tensor x({2, 3, 4, 4}), base({2, 3, 4, 4}), dy({2, 3, 4, 4});
    x.fill_normal(rng);
    base.fill_normal(rng);
    dy.fill_normal(rng);
    const nas::Tensor& y = a.forward(x);
    nas::Tensor written, summed = base;
    b.forward_into(x, written, false);
    INFO("training " << training);
    REQUIRE(written.shape() == y.shape());
    for (std::size_t i = 0; i < y.numel(); ++i) REQUIRE(written[i] == y[i]);
    b.forward_into(x, summed, true);
    for (std::size_t i = 0; i < y.numel(); ++i) REQUIRE(summed[i] == base[i] + y[i]);
    const nas::Tensor& dxa = a.backward(dy);
    const nas::Tensor& dxb = b.backward(dy);
    for (std::size_t i = 0; i < x.numel(); ++i) REQUIRE(dxb[i] == dxa[i]);
    nas::Tensor wrong({2, 3, 4, 2});
    CHECK_THROWS_AS(b.forward_into(x, wrong, true), nas::ConfigError);
  }
}
