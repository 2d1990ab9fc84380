// Optimizers against values produced by torch.optim for the same parameters and gradients.
#include <catch2/catch.hpp>

#include <nas/tensor/optim.hpp>

#include <array>
#include <cmath>
#include <memory>
#include <vector>

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
    p.has_grad = true;
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
  a.has_grad = b.has_grad = true;
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
  p.has_grad = true;
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

namespace {
// Three steps on a = [1, -2], b = [0.5]: gradients a [0.5, 1], b [-0.25]; then a [-1, 0.25]
// with b unused (no gradient since zero_grad); then a [0.3, -0.7], b [2]. The expected
// values come from torch.optim's update rules applied by hand in double, which skip a
// parameter whose grad is None and keep Adam's `state['step']` per parameter.
void set_ab(nas::Parameter& a, nas::Parameter& b) {
  a.value[0] = 1.0f;
  a.value[1] = -2.0f;
  b.value[0] = 0.5f;
}
template <class Opt>
void steps_with_b_unused_in_the_second(Opt& opt, nas::Parameter& a, nas::Parameter& b, int steps) {
  const float ga[3][2] = {{0.5f, 1.0f}, {-1.0f, 0.25f}, {0.3f, -0.7f}};
  const float gb[3] = {-0.25f, 0.0f, 2.0f};
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    a.grad[0] = ga[s][0];
    a.grad[1] = ga[s][1];
    a.has_grad = true;
    if (s != 1) {
      b.grad[0] = gb[s];
      b.has_grad = true;
    }
    opt.step();
  }
}
}  // namespace

TEST_CASE("SGD skips a parameter without a gradient: no weight decay, no momentum step", "[tensor][optim][groups]") {
  nas::Parameter a("a", nas::Shape{2}), b("b", nas::Shape{1});
  set_ab(a, b);
  auto opt = std::make_unique<nas::SGD>(std::vector<nas::Parameter*>{&a, &b},
                                        nas::SGD::Options{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  steps_with_b_unused_in_the_second(*opt, a, b, 2);
  // After the step without a gradient b is where step 1 left it, and so is its momentum.
  REQUIRE(b.value[0] == Approx(0.5245).epsilon(1e-6));
  REQUIRE(opt->state().momentum[1][0] == Approx(-0.245).epsilon(1e-6));
  REQUIRE(a.value[0] == Approx(1.0021510).epsilon(1e-6));
  REQUIRE(a.value[1] == Approx(-2.2091020).epsilon(1e-6));
  // Step 3: b resumes from its buffer (buf = 0.9 * -0.245 + 2.005245).
  opt->zero_grad();
  a.grad[0] = 0.3f;
  a.grad[1] = -0.7f;
  b.grad[0] = 2.0f;
  a.has_grad = b.has_grad = true;
  opt->step();
  REQUIRE(a.value[0] == Approx(1.0189847490).epsilon(1e-6));
  REQUIRE(a.value[1] == Approx(-2.2368846980).epsilon(1e-6));
  REQUIRE(b.value[0] == Approx(0.3460255000).epsilon(1e-6));
  REQUIRE(opt->state().momentum[1][0] == Approx(1.784745).epsilon(1e-6));
}

TEST_CASE("Adam keeps a step count per parameter and skips a parameter without a gradient", "[tensor][optim][groups]") {
  nas::Parameter a("a", nas::Shape{2}), b("b", nas::Shape{1});
  set_ab(a, b);
  auto opt = std::make_unique<nas::Adam>(std::vector<nas::Parameter*>{&a, &b}, nas::Adam::Options{.lr = 0.01, .weight_decay = 0.1});
  steps_with_b_unused_in_the_second(*opt, a, b, 2);
  REQUIRE(opt->steps() == 2);
  REQUIRE(opt->steps(0) == 2);
  REQUIRE(opt->steps(1) == 1);
  REQUIRE(b.value[0] == Approx(0.5099999995).epsilon(1e-6));
  const nas::Adam::State after_two = opt->state();
  opt->zero_grad();
  a.grad[0] = 0.3f;
  a.grad[1] = -0.7f;
  b.grad[0] = 2.0f;
  a.has_grad = b.has_grad = true;
  opt->step();
  REQUIRE(opt->steps(0) == 3);
  REQUIRE(opt->steps(1) == 2);
  REQUIRE(a.value[0] == Approx(0.9920701067).epsilon(1e-6));
  REQUIRE(a.value[1] == Approx(-2.0160327881).epsilon(1e-6));
  REQUIRE(b.value[0] == Approx(0.5032437155).epsilon(1e-6));
  REQUIRE(opt->state().m[1][0] == Approx(0.1871).epsilon(1e-5));
  REQUIRE(opt->state().v[1][0] == Approx(0.004246561).epsilon(1e-4));  // float(1 - 0.999) is 1e-5 off
  // The skipped step left b's moments where step 1 put them.
  REQUIRE(after_two.m[1][0] == Approx(0.1 * (-0.25 + 0.1 * 0.5)).epsilon(1e-6));
}

TEST_CASE("Optimizers refuse buffers and parameters listed twice", "[tensor][optim][groups]") {
  nas::Parameter w("w", nas::Shape{2}), buf("running_mean", nas::Shape{2}, nas::ParamGroup::buffer);
  REQUIRE_THROWS_WITH(nas::SGD({&w, &buf}, {}), Catch::Contains("'running_mean'") && Catch::Contains("buffer"));
  REQUIRE_THROWS_WITH(nas::Adam({&w, &w}, {}), Catch::Contains("listed twice"));
}

TEST_CASE("Optimizer state loads back and rejects another layout", "[tensor][optim][groups]") {
  nas::Parameter p("p", nas::Shape{3}), q("q", nas::Shape{4});
  nas::SGD sgd({&p}, {.lr = 0.1, .momentum = 0.9});
  p.grad.fill(1.0f);
  p.has_grad = true;
  sgd.step();
  const nas::SGD::State s = sgd.state();
  REQUIRE(s.started == std::vector<char>{1});
  sgd.step();
  sgd.load_state(s);
  REQUIRE(sgd.state().momentum[0][0] == s.momentum[0][0]);
  nas::SGD other({&q}, {.lr = 0.1, .momentum = 0.9});
  REQUIRE_THROWS_WITH(other.load_state(s), Catch::Contains("'q'") && Catch::Contains("[3]") && Catch::Contains("[4]"));
  nas::Adam adam({&q}, {});
  nas::Adam adam_p({&p}, {});
  REQUIRE_THROWS_AS(adam.load_state(adam_p.state()), nas::ConfigError);
}

TEST_CASE("clip_grad_norm leaves out parameters without a gradient", "[tensor][optim][groups]") {
  nas::Parameter a("a", nas::Shape{1}), b("b", nas::Shape{1});
  a.grad[0] = 3.0f;
  a.has_grad = true;
  b.grad[0] = 4.0f;  // written without has_grad: not a gradient of this step
  REQUIRE(nas::clip_grad_norm({&a, &b}, 100.0) == Approx(3.0));
}
