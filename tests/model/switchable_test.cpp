// Switchable cells and supernets: a selected path equals its stand-alone network; inactive ops cost nothing.
#include <catch2/catch.hpp>

#include <nas/testing/compare.hpp>

#include <nas/model/supernet.hpp>
#include <nas/testing/gradcheck.hpp>
#include <nas/tensor/workspace.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using nas::testing::random_tensor;
using nas::testing::rel_diff;
using nas::testing::same_bits;

bool all_zero(const nas::Tensor& t) {
  return std::all_of(t.begin(), t.end(), [](float v) { return v == 0.0f; });
}

// One forward and backward: logits, input gradient and every parameter gradient by path.
struct Step {
  nas::Tensor y, dx;
  std::map<std::string, nas::Tensor> grads;
};

Step step(nas::Module& net, const nas::Tensor& x, std::uint64_t seed, bool training) {
  net.train(training);
  net.zero_grad();
  Step s;
  s.y = net.forward(x);
  nas::Tensor r(s.y.shape());
  nas::Rng rng(seed);
  r.fill_normal(rng);
  s.dx = net.backward(r);
  for (auto& np : net.named_parameters()) s.grads[np.path] = np.parameter->grad;
  return s;
}

// Compares a supernet step with the stand-alone network's (gradients of stand-alone
// parameters that share one supernet parameter are summed), bit for bit or within `tol`,
// and requires every other supernet gradient to be exactly zero.
template <class Super, class Arch>
void compare(const Super& super, const Arch& arch, const Step& s, const Step& n, double tol) {
  auto same = [tol](const nas::Tensor& a, const nas::Tensor& b) { return tol == 0.0 ? same_bits(a, b) : rel_diff(a, b) <= tol; };
  INFO("logits rel diff " << rel_diff(s.y, n.y) << ", input grad rel diff " << rel_diff(s.dx, n.dx));
  CHECK(same(s.y, n.y));
  CHECK(same(s.dx, n.dx));
  std::map<std::string, nas::Tensor> expected;
  for (const auto& [path, g] : n.grads) {
    const std::string p = super.module_path(arch, path);
    REQUIRE(s.grads.count(p) == 1);
    if (expected.count(p))
      nas::add_into(expected[p], g);
    else
      expected[p] = g;
  }
  std::size_t zero = 0;
  for (const auto& [path, g] : s.grads) {
    auto it = expected.find(path);
    if (it == expected.end()) {
      INFO(path);
      CHECK(all_zero(g));
      ++zero;
      continue;
    }
    INFO(path << " rel diff " << rel_diff(g, it->second));
    CHECK(same(g, it->second));
  }
  CHECK(zero > 0);
}

const nas::NetworkInput tiny_input{.channels = 3, .height = 8, .width = 8, .classes = 5};

// A random single path of the DARTS space, the supernet's weights copied into its
// stand-alone network: both networks step in training and then in evaluation mode.
template <class Space>
void check_paths(const Space& space, const nas::SupernetOptions& o, int archs, double tol, std::uint64_t seed) {
  nas::Rng rng(seed);
  INFO("seed " << seed);
  nas::Supernet<Space> super(space, tiny_input, o);
  const nas::Tensor x = random_tensor(tiny_input.batch(4), seed + 1);
  for (int t = 0; t < archs; ++t) {
    // A step on another path first, so running statistics and plans are not fresh.
    super.select(space.sample(rng));
    (void)step(super, x, 7, true);
    const auto arch = space.sample(rng);
    INFO("architecture " << space.encode(arch));
    super.select(arch);
    nas::CellNetwork<Space> net(space, arch, tiny_input, {.channels = o.channels, .cells = o.cells, .seed = 99});
    super.copy_to(net);
    for (bool training : {true, false}) {
      INFO((training ? "training" : "evaluation"));
      const Step s = step(super, x, 3 + static_cast<std::uint64_t>(t), training);
      const Step n = step(net, x, 3 + static_cast<std::uint64_t>(t), training);
      compare(super, arch, s, n, tol);
    }
  }
}

}  // namespace

// NB201: every cell's edges run in the stand-alone order, so the floats are the same.
TEST_CASE("an NB201 supernet path equals its stand-alone network bit for bit, forward and backward, training and evaluation",
          "[model][supernet]") {
  check_paths(nas::Nb201Space{}, {.channels = 4, .cells = 1}, 6, 0.0, 41);
}

// DARTS space: two distinct inputs per node, so every node sums two terms (a + b is b + a)
// and every state's gradient receives its terms in the same order: bit for bit.
TEST_CASE("a DARTS-space supernet path equals its stand-alone network bit for bit, with reduction cells",
          "[model][supernet]") {
  check_paths(nas::CellSpace::darts(), {.channels = 4, .cells = 3}, 5, 0.0, 42);
}

// The seed space lets both picks of a node read the same input: the supernet then runs
// them in op order where the stand-alone runs them in pick order, and that input's
// gradient adds the same terms in another order; a repeated (input, op) runs once with
// weight 2. Equal within float rounding, 1e-5 relative.
TEST_CASE("a seed-space supernet path equals its stand-alone network within 1e-5, repeated picks included",
          "[model][supernet]") {
  check_paths(nas::CellSpace::seed(), {.channels = 4, .cells = 3}, 8, 1e-5, 43);
  // A cell whose nodes repeat picks: (conv3x3 @ 0) twice, and conv3x3 and skip from input 1.
  const auto space = nas::CellSpace::seed();
  nas::CellArch a;
  a.normal = {{0, 0}, {0, 0}, {1, 0}, {1, 3}, {2, 1}, {3, 2}, {4, 0}, {0, 4}};
  nas::Supernet<nas::CellSpace> super(space, tiny_input, {.channels = 4, .cells = 3});
  super.select(a);
  nas::CellNetwork<nas::CellSpace> net(space, a, tiny_input, {.channels = 4, .cells = 3, .seed = 5});
  super.copy_to(net);
  const nas::Tensor x = random_tensor(tiny_input.batch(3), 8);
  for (bool training : {true, false}) compare(super, a, step(super, x, 1, training), step(net, x, 1, training), 1e-5);
}

TEST_CASE("switching paths back and forth gives the same results as a fresh supernet", "[model][supernet]") {
  const nas::Tensor x = random_tensor(tiny_input.batch(3), 5);
  SECTION("NB201") {
    const nas::Nb201Space space;
    nas::Rng rng(51);
    const auto a = space.sample(rng), b = space.sample(rng);
    for (bool training : {true, false}) {
      nas::Supernet<nas::Nb201Space> s(space, tiny_input, {.channels = 4, .cells = 1, .seed = 2});
      nas::Supernet<nas::Nb201Space> fresh(space, tiny_input, {.channels = 4, .cells = 1, .seed = 2});
      s.select(a);
      const Step first = step(s, x, 1, training);
      s.select(b);
      const Step other = step(s, x, 1, training);
      s.select(a);
      const Step back = step(s, x, 1, training);
      fresh.select(a);
      const Step f = step(fresh, x, 1, training);
      CHECK(!same_bits(other.y, first.y));
      for (const Step* r : {&back, &f}) {
        CHECK(same_bits(r->y, first.y));
        CHECK(same_bits(r->dx, first.dx));
        for (const auto& [path, g] : first.grads) CHECK(same_bits(r->grads.at(path), g));
      }
      // Construction, then a, b, a: one plan per change of the choice.
      CHECK(s.cell(0).plans() == 4);
    }
  }
  SECTION("DARTS") {
    const auto space = nas::CellSpace::darts();
    nas::Rng rng(52);
    const auto a = space.sample(rng), b = space.sample(rng);
    for (bool training : {true, false}) {
      nas::Supernet<nas::CellSpace> s(space, tiny_input, {.channels = 4, .cells = 3, .seed = 2});
      nas::Supernet<nas::CellSpace> fresh(space, tiny_input, {.channels = 4, .cells = 3, .seed = 2});
      s.select(a);
      const Step first = step(s, x, 1, training);
      s.select(b);
      (void)step(s, x, 1, training);
      s.select(a);
      const Step back = step(s, x, 1, training);
      fresh.select(a);
      const Step f = step(fresh, x, 1, training);
      for (const Step* r : {&back, &f}) {
        CHECK(same_bits(r->y, first.y));
        CHECK(same_bits(r->dx, first.dx));
        for (const auto& [path, g] : first.grads) CHECK(same_bits(r->grads.at(path), g));
      }
    }
  }
}

TEST_CASE("the plan is made again only when the active set changes", "[model][supernet]") {
  const nas::Nb201Space space;
  nas::Supernet<nas::Nb201Space> s(space, tiny_input, {.channels = 4, .cells = 1});
  const nas::Tensor x = random_tensor(tiny_input.batch(2), 6);
  const auto arch = space.decode("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|");
  CHECK(s.cell(0).plans() == 1);
  s.select(arch);
  CHECK(s.cell(0).plans() == 1);  // planned on the next forward, not at once
  for (int i = 0; i < 3; ++i) (void)step(s, x, 1, i % 2 == 0);
  CHECK(s.cell(0).plans() == 2);
  s.select(arch);  // the same choice again
  (void)step(s, x, 1, true);
  CHECK(s.cell(0).plans() == 2);
  // New weights on the same set keep the plan; another set does not.
  const std::size_t ops[] = {2, 3};
  const float w1[] = {0.25f, 0.75f}, w2[] = {0.5f, 0.5f};
  s.set_active(0, ops, w1);
  (void)step(s, x, 1, true);
  CHECK(s.cell(0).plans() == 3);
  s.set_active(0, ops, w2);
  (void)step(s, x, 1, true);
  CHECK(s.cell(0).plans() == 3);
  CHECK(s.cell(0).op_runs(0, 2));
  CHECK(s.cell(0).op_runs(0, 3));
  CHECK_FALSE(s.cell(0).op_runs(0, 1));
}

TEST_CASE("a fixed cell is planned once however many steps it runs", "[model][supernet]") {
  nas::Rng rng(3);
  std::vector<nas::CellEdge> edges;
  for (const auto& e : nas::Nb201Arch::edges) edges.push_back({e.from, e.to, nas::make_cell_op("nor_conv_3x3", {2, 2, 1}, rng)});
  nas::CellDag dag(1, 4, std::move(edges), {3});
  const nas::Tensor x = random_tensor({2, 2, 5, 5}, 4);
  const nas::Tensor* in[1] = {&x};
  for (int i = 0; i < 5; ++i) {
    const nas::Tensor& y = dag.forward(in);
    dag.backward(y);
  }
  CHECK(dag.plans() == 1);
  CHECK(dag.num_edges() == 6);
  CHECK(dag.running_edges() == 6);
}

TEST_CASE("inactive ops never run: zero gradients, no buffers, and a path allocates what its stand-alone network does",
          "[model][supernet]") {
  const nas::Tensor x = random_tensor(tiny_input.batch(4), 9);
  auto train_step = [&x](nas::Module& m) {
    m.train();
    m.zero_grad();
    const nas::Tensor& y = m.forward(x);
    (void)m.backward(y);
  };
  auto allocations = [&](nas::Module& m) {
    const std::size_t before = nas::detail::allocation_count();
    train_step(m);
    return nas::detail::allocation_count() - before;
  };
  SECTION("NB201") {
    const nas::Nb201Space space;
    const auto a = space.decode("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|");
    const auto b = space.decode("|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|");
    nas::CellNetwork<nas::Nb201Space> warm(a, tiny_input, {.channels = 4, .cells = 1});
    train_step(warm);  // the thread's workspace grows to these shapes
    nas::CellNetwork<nas::Nb201Space> net(a, tiny_input, {.channels = 4, .cells = 1});
    nas::Supernet<nas::Nb201Space> s(space, tiny_input, {.channels = 4, .cells = 1});
    s.select(a);
    const std::size_t standalone = allocations(net);
    CHECK(standalone > 0);
    CHECK(allocations(s) == standalone);
    for (std::size_t k = 0; k < s.num_cells(); ++k)
      for (std::size_t e = 0; e < 6; ++e)
        for (std::size_t o = 0; o < 5; ++o) CHECK(s.cell(k).has_run(e, o) == (o == a.ops[e] && o != 0));
    for (auto& np : s.named_parameters()) {
      const bool on_path = np.path.find(".edges.") == std::string::npos ||
                           [&] {
                             for (std::size_t e = 0; e < 6; ++e)
                               if (np.path.find(".edges." + std::to_string(e) + "." + std::string(a.op_name(e)) + ".") !=
                                   std::string::npos)
                                 return true;
                             return false;
                           }();
      if (!on_path) {
        INFO(np.path);
        CHECK(all_zero(np.parameter->grad));
      }
    }
    CHECK(allocations(s) == 0);   // the same path again
    s.select(b);
    CHECK(allocations(s) > 0);    // b's ops meet their first forward
    s.select(a);
    CHECK(allocations(s) == 0);   // a's buffers are still there
  }
  SECTION("DARTS") {
    const auto space = nas::CellSpace::darts();
    nas::Rng rng(61);
    const auto a = space.sample(rng);
    nas::CellNetwork<nas::CellSpace> warm(space, a, tiny_input, {.channels = 4, .cells = 3});
    train_step(warm);
    nas::CellNetwork<nas::CellSpace> net(space, a, tiny_input, {.channels = 4, .cells = 3});
    nas::Supernet<nas::CellSpace> s(space, tiny_input, {.channels = 4, .cells = 3});
    s.select(a);
    const std::size_t standalone = allocations(net);
    CHECK(allocations(s) == standalone);
    std::size_t ran = 0;
    for (std::size_t k = 0; k < s.num_cells(); ++k) {
      const auto& picks = s.kind(k) == nas::CellKind::reduce ? a.reduce : a.normal;
      for (std::size_t e = 0; e < s.num_edges(); ++e)
        for (std::size_t o = 0; o < s.num_ops(); ++o) {
          bool picked = false;
          for (std::size_t p = 0; p < picks.size(); ++p)
            picked = picked || (s.edge_index(static_cast<int>(p / 2), picks[p].input) == e && picks[p].op == o);
          // A picked op may still not run: none, or a skip or pooling leaving a zero node.
          INFO("cell " << k << " edge " << e << " op " << s.op_names()[o]);
          CHECK((!s.cell(k).op_runs(e, o) || picked));
          CHECK(s.cell(k).has_run(e, o) == s.cell(k).op_runs(e, o));
          if (picked && s.op_names()[o] != "none" && s.op_names()[o] != "skip_connect" &&
              s.op_names()[o].find("pool") == std::string::npos)
            CHECK(s.cell(k).op_runs(e, o));  // ops with BatchNorm always run
          ran += s.cell(k).has_run(e, o) ? 1 : 0;
        }
    }
    CHECK(ran > 0);
  }
}

namespace {

// A one-input switchable cell as a module, for gradient checks.
class CellModule final : public nas::Module {
 public:
  explicit CellModule(nas::CellDag dag) : dag_(std::move(dag)) {}
  const nas::Tensor& forward(const nas::Tensor& x) override {
    const nas::Tensor* in[1] = {&x};
    return dag_.forward(in);
  }
  const nas::Tensor& backward(const nas::Tensor& dy) override {
    dag_.backward(dy);
    return dag_.input_grad(0);
  }
  nas::Shape output_shape(const nas::Shape& in) const override { return dag_.output_shape(std::span<const nas::Shape>(&in, 1)); }
  std::string type_name() const override { return "CellModule"; }
  void for_each_child(const std::function<void(const std::string&, nas::Module&)>& f) override { dag_.for_each_op(f); }
  nas::CellDag& dag() { return dag_; }

 private:
  nas::CellDag dag_;
};

// Smooth candidates (finite differences are exact up to rounding): none, identity, a 3x3
// convolution, 3x3 average pooling.
std::vector<nas::CellOp> smooth_ops(int c, nas::Rng& rng) {
  std::vector<nas::CellOp> ops;
  ops.push_back(nas::make_cell_op("none", {c, c, 1}, rng));
  ops.push_back(nas::make_cell_op("skip_connect", {c, c, 1}, rng));
  nas::CellOp conv;
  conv.module = std::make_unique<nas::Conv2d>(nas::Conv2d::Options{.in_channels = c, .out_channels = c, .kernel = 3, .padding = 1}, rng);
  ops.push_back(std::move(conv));
  ops.push_back(nas::make_cell_op("avg_pool_3x3", {c, c, 1}, rng));
  return ops;
}

nas::CellDag smooth_switchable(std::uint64_t seed) {
  nas::Rng rng(seed);
  std::vector<nas::SwitchableEdge> edges;
  for (const auto& e : nas::Nb201Arch::edges)
    edges.push_back({e.from, e.to, {"none", "skip", "conv", "pool"}, smooth_ops(2, rng)});
  return nas::CellDag(1, 4, std::move(edges), {3});
}

}  // namespace

TEST_CASE("a weighted mixture's input, parameter and weight gradients match finite differences", "[model][supernet]") {
  nas::Rng pick(17);
  for (int trial = 0; trial < 10; ++trial) {
    CellModule m(smooth_switchable(static_cast<std::uint64_t>(trial)));
    // Each edge: a random non-empty subset of the four candidates with random weights.
    std::vector<std::vector<std::size_t>> ops(6);
    std::vector<std::vector<float>> weights(6);
    for (std::size_t e = 0; e < 6; ++e) {
      for (std::size_t k = 0; k < 4; ++k)
        if (pick.index(2) == 0) ops[e].push_back(k);
      if (ops[e].empty()) ops[e].push_back(pick.index(4));
      for (std::size_t i = 0; i < ops[e].size(); ++i) weights[e].push_back(static_cast<float>(pick.uniform(0.2, 1.5)));
      m.dag().set_active(e, ops[e], weights[e]);
    }
    const nas::Tensor x = random_tensor({2, 2, 5, 5}, 200 + static_cast<std::uint64_t>(trial));
    INFO("trial " << trial);
    const auto res = nas::testing::gradcheck(m, x, {.eps = 1e-2, .seed = 3});
    INFO("worst " << res.worst);
    CHECK(res.max_error < 1e-2);

    // dL/dw against central differences of L = <cell(x), r>.
    nas::Tensor r(m.forward(x).shape());
    nas::Rng rr(5);
    r.fill_normal(rr);
    m.zero_grad();
    (void)m.forward(x);
    (void)m.backward(r);
    for (std::size_t e = 0; e < 6; ++e)
      for (std::size_t i = 0; i < ops[e].size(); ++i) {
        const double analytic = m.dag().weight_grad(e, ops[e][i]);
        const float w0 = weights[e][i];
        const float h = 1e-2f;
        auto loss_at = [&](float w) {
          weights[e][i] = w;
          m.dag().set_active(e, ops[e], weights[e]);
          return nas::dot(m.forward(x), r);
        };
        const double numeric = (loss_at(w0 + h) - loss_at(w0 - h)) / (2.0 * h);
        loss_at(w0);
        INFO("edge " << e << " op " << ops[e][i] << ": " << analytic << " vs " << numeric);
        CHECK(std::abs(analytic - numeric) <= 1e-2 * std::max({std::abs(analytic), std::abs(numeric), 1e-1}));
      }
  }
}

TEST_CASE("candidates weighted exactly 1 (GDAS' one-hot) run as unweighted ones, bit for bit and with no extra buffers, and still give dL/dw",
          "[model][supernet]") {
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    // `warm` runs the same step first, so that the thread's shared scratch has grown and
    // the counts below are the modules' own buffers, whatever ran before in the process.
    CellModule unit(smooth_switchable(seed)), plain(smooth_switchable(seed)), warm(smooth_switchable(seed));
    nas::Rng pick(40 + seed);
    std::vector<std::vector<std::size_t>> ops(6);
    for (std::size_t e = 0; e < 6; ++e) {
      // One op per edge as GDAS samples, or two, to cover nodes that sum several edges.
      ops[e].push_back(pick.index(4));
      if (pick.index(3) == 0 && ops[e][0] != 3) ops[e].push_back(3);
      const std::vector<float> ones(ops[e].size(), 1.0f);
      unit.dag().set_active(e, ops[e], ones);
      plain.dag().set_active(e, ops[e]);
      warm.dag().set_active(e, ops[e]);
    }
    const nas::Tensor x = random_tensor({2, 2, 5, 5}, 500 + seed);
    (void)step(warm, x, 9, true);
    auto allocations = [&](CellModule& m, Step& out) {
      const std::size_t before = nas::detail::allocation_count();
      out = step(m, x, 9, true);
      return nas::detail::allocation_count() - before;
    };
    Step a, b;
    const std::size_t na = allocations(unit, a), nb = allocations(plain, b);
    INFO("seed " << seed);
    CHECK(same_bits(a.y, b.y));
    CHECK(same_bits(a.dx, b.dx));
    for (const auto& [path, g] : b.grads) CHECK(same_bits(a.grads.at(path), g));
    // No scaled copy of an output or a gradient, no sum for a node fed by one edge.
    CHECK(na == nb);
    // dL/dw of each running candidate against a central difference around w = 1.
    nas::Tensor r(a.y.shape());
    nas::Rng rr(9);
    r.fill_normal(rr);
    for (std::size_t e = 0; e < 6; ++e)
      for (std::size_t i = 0; i < ops[e].size(); ++i) {
        if (!unit.dag().op_runs(e, ops[e][i])) continue;
        std::vector<float> w(ops[e].size(), 1.0f);
        (void)unit.forward(x);
        (void)unit.backward(r);
        const double analytic = unit.dag().weight_grad(e, ops[e][i]);
        auto loss_at = [&](float wi) {
          w[i] = wi;
          unit.dag().set_active(e, ops[e], w);
          return nas::dot(unit.forward(x), r);
        };
        const float h = 1e-2f;
        const double numeric = (loss_at(1.0f + h) - loss_at(1.0f - h)) / (2.0 * h);
        loss_at(1.0f);
        INFO("edge " << e << " op " << ops[e][i] << ": " << analytic << " vs " << numeric);
        CHECK(std::abs(analytic - numeric) <= 1e-2 * std::max({std::abs(analytic), std::abs(numeric), 1e-1}));
      }
  }
}

TEST_CASE("an unweighted mixture on one edge equals parallel fixed edges bit for bit", "[model][supernet]") {
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    CellModule sw(smooth_switchable(seed));
    // The same ops, as a fixed cell with one edge per active op (same weights: same seed).
    nas::Rng rng(seed);
    nas::Rng pick(100 + seed);
    std::vector<nas::CellEdge> fixed;
    std::size_t e = 0;
    for (const auto& ed : nas::Nb201Arch::edges) {
      auto ops = smooth_ops(2, rng);
      std::vector<std::size_t> on;
      for (std::size_t k = 0; k < ops.size(); ++k)
        if (pick.index(2) == 0) {
          on.push_back(k);
          fixed.push_back({ed.from, ed.to, std::move(ops[k])});
        }
      if (on.empty()) {  // keep every state fed in the fixed cell: a none edge
        on.push_back(0);
        fixed.push_back({ed.from, ed.to, std::move(ops[0])});
      }
      sw.dag().set_active(e++, on);
    }
    CellModule fx(nas::CellDag(1, 4, std::move(fixed), {3}));
    const nas::Tensor x = random_tensor({2, 2, 5, 5}, 300 + seed);
    const Step a = step(sw, x, 1, true), b = step(fx, x, 1, true);
    CHECK(same_bits(a.y, b.y));
    CHECK(same_bits(a.dx, b.dx));
  }
}

TEST_CASE("bad choices are ConfigErrors naming the value", "[model][supernet]") {
  const nas::Nb201Space nb201;
  nas::Supernet<nas::Nb201Space> s(nb201, tiny_input, {.channels = 4, .cells = 1});
  const std::size_t bad[] = {5}, twice[] = {1, 1}, ok[] = {1, 2};
  const float one[] = {1.0f};
  CHECK_THROWS_AS(s.set_active(6, ok), nas::ConfigError);
  CHECK_THROWS_WITH(s.set_active(0, bad), Catch::Contains("op 5 on edge 0"));
  CHECK_THROWS_WITH(s.set_active(0, twice), Catch::Contains("twice"));
  CHECK_THROWS_WITH(s.set_active(0, ok, one), Catch::Contains("1 weights for 2 ops"));
  const auto darts = nas::CellSpace::darts();
  nas::Supernet<nas::CellSpace> d(darts, tiny_input, {.channels = 4, .cells = 3});
  CHECK(d.num_edges() == 14);
  CHECK(d.edge_index(3, 4) == 13);
  CHECK_THROWS_AS(d.edge_index(1, 3), nas::ConfigError);
  nas::CellArch short_arch;
  short_arch.normal.resize(4);
  CHECK_THROWS_WITH(d.select(short_arch), Catch::Contains("4/0 picks"));
  const auto seed_space = nas::CellSpace::seed();
  nas::Supernet<nas::CellSpace> n(seed_space, tiny_input, {.channels = 4, .cells = 3});
  CHECK_THROWS_WITH(n.set_active(nas::CellKind::reduce, 0, ok), Catch::Contains("no reduction"));
}
