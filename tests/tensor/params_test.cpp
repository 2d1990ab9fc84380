// Parameter groups, buffers, shared parameters, has_grad, and optimizers that skip unused parameters.
#include <catch2/catch.hpp>

#include <nas/tensor/activation.hpp>
#include <nas/tensor/batch_norm.hpp>
#include <nas/tensor/conv2d.hpp>
#include <nas/tensor/linear.hpp>
#include <nas/tensor/optim.hpp>
#include <nas/tensor/pooling.hpp>
#include <nas/tensor/sequential.hpp>
#include <nas/testing/gradcheck.hpp>

#include <string>
#include <vector>

namespace {

// A two-path op with architecture weights, as a DARTS mixed op or a SPOS choice block:
// y = alpha_0 L0(x) + alpha_1 L1(x) with both paths, or y = L_active(x) on a single path
// (then alpha is not used). alpha may be shared with another TwoPath (use_alpha).
class TwoPath final : public nas::Module {
 public:
  TwoPath(int in, int out, nas::Rng& rng)
      : own_alpha_("alpha", nas::Shape{2}, nas::ParamGroup::architecture),
        l0_({.in_features = in, .out_features = out}, rng),
        l1_({.in_features = in, .out_features = out}, rng) {
    own_alpha_.value[0] = 0.7f;
    own_alpha_.value[1] = 0.4f;
  }
  int active = -1;  // -1: both paths, weighted by alpha

  void use_alpha(nas::Parameter& a) { alpha_ = &a; }
  nas::Parameter& alpha() { return *alpha_; }
  nas::Linear& path(int k) { return k == 0 ? l0_ : l1_; }

  const nas::Tensor& forward(const nas::Tensor& x) override {
    if (active >= 0) return path(active).forward(x);
    y0_ = &l0_.forward(x);
    y1_ = &l1_.forward(x);
    y_.resize(y0_->shape());
    for (std::size_t i = 0; i < y_.numel(); ++i) y_[i] = alpha_->value[0] * (*y0_)[i] + alpha_->value[1] * (*y1_)[i];
    return y_;
  }
  const nas::Tensor& backward(const nas::Tensor& dy) override {
    if (active >= 0) return path(active).backward(dy);
    alpha_->grad[0] += static_cast<float>(nas::dot(dy, *y0_));
    alpha_->grad[1] += static_cast<float>(nas::dot(dy, *y1_));
    alpha_->has_grad = true;
    g_.resize(dy.shape());
    for (std::size_t i = 0; i < g_.numel(); ++i) g_[i] = alpha_->value[0] * dy[i];
    dx_.copy_from(l0_.backward(g_));
    for (std::size_t i = 0; i < g_.numel(); ++i) g_[i] = alpha_->value[1] * dy[i];
    nas::add_into(dx_, l1_.backward(g_));
    return dx_;
  }
  [[nodiscard]] nas::Shape output_shape(const nas::Shape& in) const override { return l0_.output_shape(in); }
  [[nodiscard]] std::string type_name() const override { return "TwoPath"; }
  void for_each_child(const std::function<void(const std::string&, nas::Module&)>& f) override {
    f("0", l0_);
    f("1", l1_);
  }
  void own_parameters(std::vector<nas::Parameter*>& out) override { out.push_back(alpha_); }

 private:
  nas::Parameter own_alpha_;
  nas::Parameter* alpha_ = &own_alpha_;
  nas::Linear l0_, l1_;
  const nas::Tensor* y0_ = nullptr;
  const nas::Tensor* y1_ = nullptr;
  nas::Tensor y_, g_, dx_;
};

// conv -> BN -> ReLU -> pool -> TwoPath: weights, architecture weights and buffers.
struct Net {
  nas::Sequential seq;
  TwoPath* mix = nullptr;
  explicit Net(std::uint64_t seed) {
    nas::Rng rng(seed);
    seq.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1}, rng);
    seq.emplace<nas::BatchNorm2d>(3);
    seq.emplace<nas::ReLU>();
    seq.emplace<nas::GlobalAvgPool>();
    mix = &seq.emplace<TwoPath>(3, 2, rng);
  }
};

std::vector<std::string> paths(const std::vector<nas::NamedParameter>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.path);
  return out;
}

// One step of loss sum(y * r) for a fixed r.
void step_once(nas::Module& m, const nas::Tensor& x, std::uint64_t seed) {
  const nas::Tensor& y = m.forward(x);
  nas::Tensor r(y.shape());
  nas::Rng rng(seed);
  r.fill_normal(rng);
  (void)m.backward(r);
}

nas::Tensor input(std::uint64_t seed) {
  nas::Rng rng(seed);
  nas::Tensor x({4, 2, 5, 5});
  x.fill_normal(rng);
  return x;
}

}  // namespace

TEST_CASE("Listings by group: weights, architecture, and BatchNorm's running statistics as buffers",
          "[tensor][groups]") {
  Net n(1);
  using G = nas::ParamGroup;
  REQUIRE(paths(n.seq.named_state()) ==
          std::vector<std::string>{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.alpha",
                                   "4.0.weight", "4.0.bias", "4.1.weight", "4.1.bias"});
  REQUIRE(paths(n.seq.named_parameters()) == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "4.alpha",
                                                                       "4.0.weight", "4.0.bias", "4.1.weight", "4.1.bias"});
  REQUIRE(paths(n.seq.named_parameters(G::architecture)) == std::vector<std::string>{"4.alpha"});
  REQUIRE(paths(n.seq.named_buffers()) == std::vector<std::string>{"1.running_mean", "1.running_var"});
  REQUIRE(n.seq.parameters(G::weight).size() == 7);
  REQUIRE(n.seq.buffers().size() == 2);
  REQUIRE(n.seq.buffers()[0] == n.seq.named_buffers()[0].parameter);
  REQUIRE(n.seq.buffers()[0]->grad.numel() == 0);  // a buffer keeps no gradient
  // num_parameters counts the learnable elements only: 54 conv + 6 BN + 2 alpha + 2 x (6 + 2).
  REQUIRE(n.seq.num_parameters() == 54 + 6 + 2 + 16);
  // Without tracked statistics a BatchNorm has no buffers (torch's state_dict has none either).
  nas::BatchNorm2d plain({.channels = 3, .track_running_stats = false});
  REQUIRE(plain.buffers().empty());
  REQUIRE(plain.parameters().size() == 2);
}

TEST_CASE("Backward sets has_grad on the parameters it reached; zero_grad clears it", "[tensor][groups]") {
  Net n(2);
  const nas::Tensor x = input(3);
  for (nas::Parameter* p : n.seq.parameters()) REQUIRE_FALSE(p->has_grad);
  n.mix->active = 1;  // the single path through L1: alpha and L0 get no gradient
  step_once(n.seq, x, 4);
  for (const auto& np : n.seq.named_state()) {
    INFO(np.path);
    const bool reached = np.path.rfind("4.0.", 0) != 0 && np.path != "4.alpha" && np.parameter->learnable();
    REQUIRE(np.parameter->has_grad == reached);
  }
  n.seq.zero_grad();
  for (nas::Parameter* p : n.seq.parameters()) {
    REQUIRE_FALSE(p->has_grad);
    for (float g : p->grad) REQUIRE(g == 0.0f);
  }
}

TEST_CASE("Adam on the architecture group and SGD on the weights of one network, as in DARTS", "[tensor][groups]") {
  Net n(5);
  const nas::Tensor x = input(6);
  nas::Adam arch_opt(n.seq.parameters(nas::ParamGroup::architecture), {.lr = 0.01});
  nas::SGD weight_opt(n.seq.parameters(nas::ParamGroup::weight), {.lr = 0.1});
  REQUIRE(arch_opt.parameters().size() == 1);
  REQUIRE(weight_opt.parameters().size() == 7);
  const nas::Tensor alpha0 = n.mix->alpha().value;
  const nas::Tensor w0 = n.mix->path(0).weight().value;
  step_once(n.seq, x, 7);
  const nas::Tensor alpha_grad = n.mix->alpha().grad;
  const nas::Tensor w_grad = n.mix->path(0).weight().grad;
  // The weight step leaves alpha alone; the architecture step leaves the weights alone.
  weight_opt.step();
  REQUIRE(n.mix->alpha().value[0] == alpha0[0]);
  for (std::size_t i = 0; i < w0.numel(); ++i) REQUIRE(n.mix->path(0).weight().value[i] == Approx(w0[i] - 0.1f * w_grad[i]).epsilon(1e-6));
  const nas::Tensor w1 = n.mix->path(0).weight().value;
  arch_opt.step();
  for (std::size_t i = 0; i < w1.numel(); ++i) REQUIRE(n.mix->path(0).weight().value[i] == w1[i]);
  // Adam's first step moves each element by lr against the sign of its gradient (m/sqrt(v) = sign g).
  for (std::size_t k = 0; k < 2; ++k)
    REQUIRE(n.mix->alpha().value[k] == Approx(alpha0[k] - 0.01 * (alpha_grad[k] > 0 ? 1 : -1)).epsilon(1e-5));
}

TEST_CASE("A single-path step leaves the unused op's weights and optimizer state untouched", "[tensor][groups]") {
  Net n(8);
  const nas::Tensor x = input(9);
  nas::SGD sgd(n.seq.parameters(nas::ParamGroup::weight), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
  nas::Adam adam(n.seq.parameters(nas::ParamGroup::architecture), {.lr = 0.01, .weight_decay = 1e-3});
  const nas::Tensor unused_w = n.mix->path(1).weight().value, unused_b = n.mix->path(1).bias().value;
  const nas::Tensor alpha = n.mix->alpha().value;
  n.mix->active = 0;
  for (int s = 0; s < 5; ++s) {
    sgd.zero_grad();
    adam.zero_grad();
    step_once(n.seq, x, 10 + static_cast<std::uint64_t>(s));
    sgd.step();
    adam.step();
  }
  // Weights 5 and 6 of the SGD's list are path 1's: neither moved nor started momentum.
  REQUIRE(sgd.parameters()[5] == &n.mix->path(1).weight());
  for (std::size_t i = 0; i < unused_w.numel(); ++i) REQUIRE(n.mix->path(1).weight().value[i] == unused_w[i]);
  for (std::size_t i = 0; i < unused_b.numel(); ++i) REQUIRE(n.mix->path(1).bias().value[i] == unused_b[i]);
  const nas::SGD::State st = sgd.state();
  REQUIRE(st.started[5] == 0);
  REQUIRE(st.started[3] == 1);  // path 0's weight did
  for (float b : st.momentum[5]) REQUIRE(b == 0.0f);
  REQUIRE(n.mix->alpha().value[0] == alpha[0]);
  REQUIRE(n.mix->alpha().value[1] == alpha[1]);
  REQUIRE(adam.steps(0) == 0);
  REQUIRE(adam.steps() == 5);
  const nas::Adam::State ast = adam.state();
  for (float m : ast.m[0]) REQUIRE(m == 0.0f);  // no weight decay reached alpha's moments either
  for (float v : ast.v[0]) REQUIRE(v == 0.0f);

  // Path 1 used now: its first step is torch's first momentum step, buf = g + wd * p.
  n.mix->active = 1;
  sgd.zero_grad();
  step_once(n.seq, x, 20);
  const nas::Tensor g = n.mix->path(1).weight().grad;
  sgd.step();
  for (std::size_t i = 0; i < unused_w.numel(); ++i) {
    const float d = g[i] + 5e-4f * unused_w[i];
    REQUIRE(n.mix->path(1).weight().value[i] == Approx(unused_w[i] - 0.05f * d).epsilon(1e-6));
    REQUIRE(sgd.state().momentum[5][i] == Approx(d).epsilon(1e-6));
  }
}

TEST_CASE("Linear layers with a shared weight list it once and sum the gradients of both uses", "[tensor][groups]") {
  nas::Rng rng(11);
  nas::Sequential tied;
  auto& first = tied.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 3}, rng);
  tied.emplace<nas::SiLU>();
  auto& second = tied.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 3}, rng);
  second.share_weight(first.weight());
  REQUIRE(&second.weight() == &first.weight());
  REQUIRE(paths(tied.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.bias"});
  REQUIRE(tied.num_parameters() == 9 + 3 + 3);
  nas::Tensor x({4, 3});
  x.fill_normal(rng);
  // The tied weight's gradient against finite differences (which move both uses at once).
  const auto r = nas::testing::gradcheck(tied, x);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-2);

  // The same, as the sum of the gradients of two untied layers holding equal weights.
  nas::Rng rng2(12);
  nas::Sequential untied;
  auto& u0 = untied.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 3}, rng2);
  untied.emplace<nas::SiLU>();
  auto& u1 = untied.emplace<nas::Linear>(nas::Linear::Options{.in_features = 3, .out_features = 3}, rng2);
  u0.weight().value.copy_from(first.weight().value);
  u1.weight().value.copy_from(first.weight().value);
  u0.bias().value.copy_from(first.bias().value);
  u1.bias().value.copy_from(second.bias().value);
  tied.zero_grad();
  untied.zero_grad();
  step_once(tied, x, 13);
  step_once(untied, x, 13);
  for (std::size_t i = 0; i < 9; ++i)
    REQUIRE(first.weight().grad[i] == Approx(u0.weight().grad[i] + u1.weight().grad[i]).epsilon(1e-5));
  // One optimizer step moves the shared tensor once.
  nas::SGD sgd(tied.parameters(), {.lr = 0.1});
  const nas::Tensor w = first.weight().value, gw = first.weight().grad;
  sgd.step();
  for (std::size_t i = 0; i < 9; ++i) REQUIRE(first.weight().value[i] == Approx(w[i] - 0.1f * gw[i]).epsilon(1e-6));

  nas::Linear wrong({.in_features = 2, .out_features = 3}, rng);
  REQUIRE_THROWS_WITH(wrong.share_weight(first.weight()), Catch::Contains("[3, 3]") && Catch::Contains("[3, 2]"));
}

TEST_CASE("Conv2d layers with a shared weight pass a gradient check", "[tensor][groups]") {
  nas::Rng rng(14);
  nas::Sequential tied;
  auto& a = tied.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 2, .kernel = 3, .padding = 1}, rng);
  tied.emplace<nas::SiLU>();
  auto& b = tied.emplace<nas::Conv2d>(nas::Conv2d::Options{.in_channels = 2, .out_channels = 2, .kernel = 3, .padding = 1}, rng);
  b.share_weight(a.weight());
  REQUIRE(tied.parameters().size() == 1);
  nas::Tensor x({2, 2, 4, 4});
  x.fill_normal(rng);
  const auto r = nas::testing::gradcheck(tied, x);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-2);
}

TEST_CASE("An architecture tensor owned by one op and read by another is listed once and gets both gradients",
          "[tensor][groups]") {
  nas::Rng rng(15);
  nas::Sequential cells;
  auto& c0 = cells.emplace<TwoPath>(3, 3, rng);
  auto& c1 = cells.emplace<TwoPath>(3, 3, rng);
  c1.use_alpha(c0.alpha());  // as DARTS' alphas_normal is read by every normal cell
  REQUIRE(paths(cells.named_parameters(nas::ParamGroup::architecture)) == std::vector<std::string>{"0.alpha"});
  nas::Tensor x({3, 3});
  x.fill_normal(rng);
  const auto r = nas::testing::gradcheck(cells, x);
  INFO(r.worst);
  REQUIRE(r.max_error < 1e-2);
}
