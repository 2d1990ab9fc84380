// Optimizers against values produced by torch.optim for the same parameters and gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/optim.hpp>

#include <array>
#include <cmath>

namespace {
// Two steps on p = [1, -2, 0.5] with gradients [0.5, 1, -0.25] then [-1, 0.25, 2].
template <class Opt, class Options>
std::array<float, 3> two_steps(const Options& o) {
  nas::Parameter p("p", nas::Shape{3});
  p.value[0] = 1.0f;
  p.value[1] = -2.0f;
  p.value[2] = 0.5f;
  Opt opt({&p}, o);
  const float g[2][3] = {{0.5f, 1.0f, -0.25f}, {-1.0f, 0.25f, 2.0f}};
  for (const auto& step : g) {
    for (int i = 0; i < 3; ++i) p.grad[static_cast<std::size_t>(i)] = step[i];
    opt.step();
  }
  return {p.value[0], p.value[1], p.value[2]};
}
void require_close(const std::array<float, 3>& got, const std::array<double, 3>& want) {
  for (int i = 0; i < 3; ++i) REQUIRE(got[static_cast<std::size_t>(i)] == Approx(want[static_cast<std::size_t>(i)]).epsilon(1e-5));
}
}  // namespace

TEST_CASE("SGD without momentum steps against the gradient", "[tensor][optim]") {
  require_close(two_steps<nas::SGD>(nas::SGD::Options{.lr = 0.1}), {1.0499999523, -2.125, 0.3249999881});
}

TEST_CASE("SGD with momentum and weight decay matches torch.optim.SGD", "[tensor][optim]") {
  require_close(two_steps<nas::SGD>(nas::SGD::Options{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}),
                {1.0021510124, -2.2091021538, 0.3460255265});
}

TEST_CASE("SGD with Nesterov momentum matches torch.optim.SGD(nesterov=True)", "[tensor][optim]") {
  require_close(two_steps<nas::SGD>(nas::SGD::Options{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}),
                {1.0500741005, -2.3089261055, 0.1853565276});
  REQUIRE_THROWS_AS(nas::SGD({}, {.lr = 0.1, .nesterov = true}), nas::ConfigError);
}

TEST_CASE("Adam with L2 weight decay matches torch.optim.Adam over two steps", "[tensor][optim]") {
  require_close(two_steps<nas::Adam>(nas::Adam::Options{.lr = 0.01, .weight_decay = 0.1}),
                {0.9924820065, -2.0171432495, 0.5032436848});
}

TEST_CASE("Adam with decoupled weight decay matches torch.optim.AdamW", "[tensor][optim]") {
  require_close(two_steps<nas::Adam>(nas::Adam::Options{.lr = 0.01, .weight_decay = 0.1, .decoupled = true}),
                {0.9916720986, -2.0142982006, 0.5024372339});
}

TEST_CASE("CosineAnnealing reproduces torch's CosineAnnealingLR values", "[tensor][optim]") {
  const nas::CosineAnnealing s{.base_lr = 0.2, .t_max = 10, .eta_min = 0.01};
  const double want[11] = {0.2, 0.1953503690, 0.1818566145, 0.1608395990, 0.1343566145, 0.105,
                           0.0756433855, 0.0491604010, 0.0281433855, 0.0146496310, 0.01};
  for (int t = 0; t <= 10; ++t) REQUIRE(s.lr_at(t) == Approx(want[t]).epsilon(1e-8));
}

TEST_CASE("clip_grad_norm rescales to the maximum norm and returns the norm before clipping", "[tensor][optim]") {
  nas::Parameter a("a", nas::Shape{2}), b("b", nas::Shape{1});
  a.grad[0] = 3.0f;
  a.grad[1] = 0.0f;
  b.grad[0] = 4.0f;
  const double norm = nas::clip_grad_norm({&a, &b}, 1.0);
  REQUIRE(norm == Approx(5.0));
  REQUIRE(a.grad[0] == Approx(0.6).epsilon(1e-5));
  REQUIRE(b.grad[0] == Approx(0.8).epsilon(1e-5));
  // Below the limit nothing changes.
  REQUIRE(nas::clip_grad_norm({&a, &b}, 10.0) == Approx(1.0).epsilon(1e-5));
  REQUIRE(b.grad[0] == Approx(0.8).epsilon(1e-5));
}

TEST_CASE("Optimizers allocate their state once, not per step", "[tensor][optim]") {
  nas::Parameter p("p", nas::Shape{64});
  nas::SGD sgd({&p}, {.lr = 0.1, .momentum = 0.9});
  nas::Adam adam({&p}, {});
  const auto before = nas::detail::allocation_count();
  for (int i = 0; i < 5; ++i) {
    sgd.step();
    adam.step();
  }
  REQUIRE(nas::detail::allocation_count() == before);
  REQUIRE(adam.steps() == 5);
}
