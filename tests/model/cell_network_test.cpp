// CellNetwork for Nb201Space and CellSpace: gradients against the double executor, zero cells, planning, counts against NAS-Bench-201.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include <nas/estimate/nb201_table.hpp>
#include <nas/hw/cost.hpp>
#include <nas/model/cell_network.hpp>
#include <nas/tensor/loss.hpp>
#include <nas/model/graph.hpp>
#include <nas/model/reference.hpp>
#include <nas/testing/gradcheck.hpp>
#include <nas/testing/graph_gradcheck.hpp>

#include <algorithm>
#include <cmath>

namespace {

nas::Tensor random_images(int n, int c, int h, int w, std::uint64_t seed) {
  nas::Tensor x({n, c, h, w});
  nas::Rng rng(seed);
  nas::testing::fill_away_from_zero(x, rng);
  return x;
}

// Whole networks in training mode (BatchNorm with batch statistics), two checks per
// network: (i) the double executor's gradients of the traced graph against central
// differences in double, for the input and every parameter tensor, each below 1e-6
// (steps never cross a ReLU or max-pool kink); (ii) the float network's forward (below
// 1e-5) and backward against the double executor's, every tensor below 1e-4, in
// training and then in evaluation mode.
// BatchNorm's initial beta = 0 puts a ReLU exactly on its kink wherever a BatchNorm sees a
// constant (an all-zero state in a cell): the weights are drawn away from that first.
template <class Net>
void check_network_gradients(Net& net, const nas::Tensor& x, std::uint64_t seed) {
  net.train();
  const nas::NetworkGraph g = nas::trace(net, x.shape());
  nas::Rng wr(seed + 1000);
  for (const auto& node : g.nodes)
    if (node.kind == nas::NodeKind::batch_norm2d && node.weight) {
      for (float& v : node.weight->value) v = 1.0f + 0.2f * static_cast<float>(wr.normal());
      nas::testing::fill_away_from_zero(node.bias->value, wr, 0.1f);
    }
  nas::ReferenceExecutor ex(g, {.batch_norm = nas::BatchNormMode::batch_statistics});
  const auto numeric = nas::testing::graph_gradcheck(ex, x, {.seed = seed});
  REQUIRE(numeric.size() == 1 + ex.parameters().size());
  for (const auto& e : numeric) {
    INFO("double vs central differences, " << e.name << " " << e.detail);
    CHECK(e.error < 1e-6);
  }
  const auto analytic = nas::testing::compare_with_reference(net, x, seed);
  REQUIRE(analytic.size() == 2 + net.named_parameters().size());
  for (const auto& e : analytic) {
    INFO("float vs double, " << e.name << " " << e.detail);
    CHECK(e.error < (e.name == "output" ? 1e-5 : 1e-4));
  }
  // Evaluation mode too (running statistics; the float network fuses BatchNorm into the
  // convolutions there and replays the layers for backward).
  net.eval();
  for (const auto& e : nas::testing::compare_with_reference(net, x, seed)) {
    INFO("float vs double in evaluation, " << e.name << " " << e.detail);
    CHECK(e.error < (e.name == "output" ? 1e-5 : 1e-4));
  }
  net.train();
}

// A cell DAG as a one-input module; with two inputs, both are the module's input.
class DagModule final : public nas::Module {
 public:
  explicit DagModule(nas::CellDag dag) : dag_(std::move(dag)) {}
  const nas::Tensor& forward(const nas::Tensor& x) override {
    in_.assign(static_cast<std::size_t>(dag_.num_inputs()), &x);
    return dag_.forward(in_);
  }
  const nas::Tensor& backward(const nas::Tensor& dy) override {
    dag_.backward(dy);
    dx_.copy_from(dag_.input_grad(0));
    for (int i = 1; i < dag_.num_inputs(); ++i) nas::add_into(dx_, dag_.input_grad(i));
    return dx_;
  }
  nas::Shape output_shape(const nas::Shape& in) const override {
    std::vector<nas::Shape> s(static_cast<std::size_t>(dag_.num_inputs()), in);
    return dag_.output_shape(s);
  }
  std::string type_name() const override { return "DagModule"; }
  void for_each_child(const std::function<void(const std::string&, nas::Module&)>& f) override { dag_.for_each_op(f); }
  nas::CellDag& dag() { return dag_; }

 private:
  nas::CellDag dag_;
  std::vector<const nas::Tensor*> in_;
  nas::Tensor dx_;
};

// Smooth edge ops (a convolution, average pooling, identity, none) so that element-wise
// finite differences are exact up to float rounding.
nas::CellOp smooth_op(int kind, int c, nas::Rng& rng) {
  nas::CellOp op;
  switch (kind) {
    case 0: return nas::make_cell_op("none", {c, c, 1}, rng);
    case 1: return nas::make_cell_op("skip_connect", {c, c, 1}, rng);
    case 2:
      op.module = std::make_unique<nas::Conv2d>(nas::Conv2d::Options{.in_channels = c, .out_channels = c, .kernel = 3, .padding = 1}, rng);
      return op;
    default: return nas::make_cell_op("avg_pool_3x3", {c, c, 1}, rng);
  }
}

}  // namespace

TEST_CASE("cell DAG backward matches finite differences element-wise for every edge pattern of NB201", "[model]") {
  // 40 cells drawn over the 4 smooth kinds: sums, fan-out, zero states, dead edges.
  nas::Rng pick(11);
  for (int trial = 0; trial < 40; ++trial) {
    nas::Rng rng(static_cast<std::uint64_t>(trial));
    std::vector<nas::CellEdge> edges;
    std::string kinds;
    for (const auto& e : nas::Nb201Arch::edges) {
      const int kind = static_cast<int>(pick.index(4));
      kinds += static_cast<char>('0' + kind);
      edges.push_back(nas::CellEdge{e.from, e.to, smooth_op(kind, 2, rng)});
    }
    DagModule m(nas::CellDag(1, 4, std::move(edges), {3}));
    nas::Tensor x({2, 2, 5, 5});
    nas::Rng xr(100 + static_cast<std::uint64_t>(trial));
    x.fill_normal(xr);
    const auto r = nas::testing::gradcheck(m, x, {.eps = 1e-2, .max_checks = 30, .seed = 5});
    INFO("edge kinds " << kinds << ": " << r.worst);
    CHECK(r.max_error < 2e-3);
  }
}

TEST_CASE("two-input cell DAG with concatenated outputs back-propagates into both inputs", "[model]") {
  nas::Rng pick(12);
  for (int trial = 0; trial < 20; ++trial) {
    nas::Rng rng(static_cast<std::uint64_t>(trial) + 50);
    std::vector<nas::CellEdge> edges;
    for (int node = 0; node < 3; ++node)
      for (int p = 0; p < 2; ++p)
        edges.push_back(nas::CellEdge{static_cast<int>(pick.index(static_cast<std::size_t>(2 + node))), 2 + node,
                                      smooth_op(static_cast<int>(pick.index(4)), 2, rng)});
    DagModule m(nas::CellDag(2, 5, std::move(edges), {2, 3, 4}));
    nas::Tensor x({2, 2, 4, 4});
    nas::Rng xr(200 + static_cast<std::uint64_t>(trial));
    x.fill_normal(xr);
    REQUIRE(m.output_shape(x.shape()) == nas::Shape{2, 6, 4, 4});
    const auto r = nas::testing::gradcheck(m, x, {.eps = 1e-2, .max_checks = 30, .seed = 6});
    INFO(r.worst);
    CHECK(r.max_error < 2e-3);
  }
}

TEST_CASE("NB201 network gradients in training mode: double against central differences, float against double",
          "[model]") {
  const nas::Nb201Space space;
  nas::Rng rng(4);
  for (int trial = 0; trial < 6; ++trial) {
    const auto arch = space.sample(rng);
    nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 2, .height = 8, .width = 8, .classes = 3},
                                          {.channels = 4, .cells = 1, .seed = static_cast<std::uint64_t>(trial)});
    INFO(arch.str());
    check_network_gradients(net, random_images(4, 2, 8, 8, 17 + static_cast<std::uint64_t>(trial)), 7);
  }
}

TEST_CASE("DARTS-space network gradients in training mode, with reduction cells: double against central differences, "
          "float against double",
          "[model]") {
  const auto space = nas::CellSpace::darts();
  nas::Rng rng(42);
  for (int trial = 0; trial < 3; ++trial) {
    const auto arch = space.sample(rng);
    INFO(space.encode(arch));
    nas::CellNetwork<nas::CellSpace> net(space, arch, {.channels = 1, .height = 8, .width = 8, .classes = 3},
                                         {.channels = 2, .cells = 3, .stem_multiplier = 2, .seed = 9});
    REQUIRE(net.is_reduction(1));
    REQUIRE(net.is_reduction(2));
    check_network_gradients(net, random_images(4, 1, 8, 8, 23 + static_cast<std::uint64_t>(trial)), 8);
  }
}

TEST_CASE("seed CellSpace network (conv3x3, conv5x5, maxpool, skip, none) gradients in training mode", "[model]") {
  const nas::CellSpace space;  // one cell type: reductions use the normal cell
  nas::Rng rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    const auto arch = space.sample(rng);
    INFO(space.encode(arch));
    nas::CellNetwork<nas::CellSpace> net(space, arch, {.channels = 2, .height = 8, .width = 8, .classes = 4},
                                         {.channels = 2, .cells = 3, .stem_multiplier = 1, .seed = 1});
    check_network_gradients(net, random_images(4, 2, 8, 8, 29 + static_cast<std::uint64_t>(trial)), 9);
  }
}

TEST_CASE("an all-none NB201 cell outputs zeros: logits do not depend on the image and no edge runs", "[model]") {
  const nas::Nb201Space space;
  const auto arch = space.decode("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|");
  nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 1, .height = 8, .width = 8, .classes = 3},
                                        {.channels = 2, .cells = 1, .seed = 2});
  CHECK(net.running_edges_per_cell() == 0);
  net.eval();
  const auto x = random_images(2, 1, 8, 8, 1);
  const nas::Tensor y = net.forward(x);
  for (int k = 0; k < 3; ++k) CHECK(y.at(0, k) == y.at(1, k));
  const nas::Tensor& dx = net.backward(y);
  for (float v : dx) CHECK(v == 0.0f);
}

TEST_CASE("cells skip edges that cannot reach the output but still count their parameters", "[model]") {
  const nas::Nb201Space space;
  // Node 1 reaches node 3 only through `none`: its conv cannot matter.
  const auto dead = space.decode("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
  nas::CellNetwork<nas::Nb201Space> a(dead, {.channels = 1, .height = 8, .width = 8, .classes = 2}, {.channels = 4, .cells = 1});
  CHECK(a.running_edges_per_cell() == 1);
  const auto live = space.decode("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
  nas::CellNetwork<nas::Nb201Space> b(live, {.channels = 1, .height = 8, .width = 8, .classes = 2}, {.channels = 4, .cells = 1});
  // Three cells, each with one 3x3 conv (4 -> 4, 8 -> 8 -> 16 channels) + BN.
  CHECK(a.num_parameters() - b.num_parameters() == (9 * 16 + 8) + (9 * 64 + 16) + (9 * 256 + 32));
  // A conv leaving an all-zero node still runs (it outputs BN's shift, as the reference does).
  const auto from_zero = space.decode("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|");
  nas::CellNetwork<nas::Nb201Space> c(from_zero, {.channels = 1, .height = 8, .width = 8, .classes = 2},
                                      {.channels = 4, .cells = 1});
  CHECK(c.running_edges_per_cell() == 2);
}

TEST_CASE("a training step after the first allocates no tensor storage", "[model]") {
  const nas::Nb201Space space;
  const auto arch = space.decode("|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|");
  nas::CellNetwork<nas::Nb201Space> net(arch, {.channels = 1, .height = 8, .width = 8, .classes = 3}, {.channels = 4, .cells = 1});
  const auto x = random_images(4, 1, 8, 8, 3);
  const std::vector<int> labels{0, 1, 2, 0};
  nas::SoftmaxCrossEntropy ce;
  auto step = [&] {
    ce.forward(net.forward(x), labels);
    net.backward(ce.backward());
  };
  step();
  step();
  const auto before = nas::detail::allocation_count();
  step();
  step();
  CHECK(nas::detail::allocation_count() == before);
}

TEST_CASE("parameter paths are unique", "[model]") {
  const auto space = nas::CellSpace::darts();
  nas::Rng rng(3);
  nas::CellNetwork<nas::CellSpace> net(space, space.sample(rng), {.channels = 3, .height = 16, .width = 16, .classes = 10},
                                       {.channels = 4, .cells = 5});
  std::set<std::string> paths;
  for (const auto& p : net.named_parameters()) paths.insert(p.path);
  CHECK(paths.size() == net.named_parameters().size());
}

TEST_CASE("NB201 params and FLOPs equal the benchmark's columns for 200 architectures spread over the table", "[model]") {
  std::filesystem::path path;
  try {
    path = nas::default_nb201_path();
  } catch (const nas::DataError&) {
    const std::filesystem::path shared = std::filesystem::path(NAS_SHARED_DIR) / "data" / "nb201" / "nb201.csv";
    if (!std::filesystem::exists(shared)) {
      WARN("SKIPPED: no NAS-Bench-201 table found (data/nb201/nb201.csv.gz)");
      return;
    }
    path = shared;
  }
  const auto table = nas::Nb201Table::load(path);
  const nas::Nb201Space space;
  int checked = 0;
  for (std::size_t i = 0; i < table.size() && checked < 200; i += 77) {
    const auto& rec = table[i];
    if (rec.bench_params_mismatch) continue;
    const auto cost = nas::model_cost(space, rec.arch, {.channels = 3, .height = 32, .width = 32, .classes = 10},
                                      {.channels = 16, .cells = 5});
    INFO("index " << i << " " << rec.arch.str());
    CHECK(cost.params_m() == Approx(rec.params_m[0]).margin(5e-7));
    CHECK(cost.flops_m() == Approx(rec.flops_m[0]).margin(5e-6));
    ++checked;
  }
  CHECK(checked == 200);
}

namespace {
// Hides an op's forward_into, so a cell sums the op's output from the op's own buffer.
class Opaque final : public nas::Module {
 public:
  explicit Opaque(std::unique_ptr<nas::Module> m) : m_(std::move(m)) {}
  const nas::Tensor& forward(const nas::Tensor& x) override { return m_->forward(x); }
  const nas::Tensor& backward(const nas::Tensor& dy) override { return m_->backward(dy); }
  nas::Shape output_shape(const nas::Shape& in) const override { return m_->output_shape(in); }
  std::string type_name() const override { return "Opaque"; }
  void for_each_child(const std::function<void(const std::string&, nas::Module&)>& f) override { f("op", *m_); }

 private:
  std::unique_ptr<nas::Module> m_;
};
}  // namespace

TEST_CASE("ops that write into a node's sum give the same cell as ops summed from their buffers, in training and "
          "evaluation",
          "[model]") {
  // Every order of direct (ReLU-Conv-BN) and buffered (skip, pooling) edges into a node.
  const char* names[] = {"none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1"};
  nas::Rng pick(21);
  for (int trial = 0; trial < 60; ++trial) {
    const bool eval = trial % 2 == 1;
    std::vector<nas::CellEdge> direct, buffered;
    std::string kinds;
    for (std::size_t i = 0; i < nas::Nb201Arch::edges.size(); ++i) {
      const auto& e = nas::Nb201Arch::edges[i];
      const char* name = names[pick.index(5)];
      kinds += std::string(name) + " ";
      nas::Rng ra(static_cast<std::uint64_t>(trial * 10 + static_cast<int>(i))), rb = ra;
      nas::CellOp a = nas::make_cell_op(name, {3, 3, 1}, ra), b = nas::make_cell_op(name, {3, 3, 1}, rb);
      b.module = std::make_unique<Opaque>(std::move(b.module));
      direct.push_back(nas::CellEdge{e.from, e.to, std::move(a)});
      buffered.push_back(nas::CellEdge{e.from, e.to, std::move(b)});
    }
    DagModule da(nas::CellDag(1, 4, std::move(direct), {3})), db(nas::CellDag(1, 4, std::move(buffered), {3}));
    nas::Tensor x = random_images(3, 3, 5, 5, 300 + static_cast<std::uint64_t>(trial));
    if (eval) {  // running statistics from one training batch, then the fused evaluation convolutions
      da.forward(random_images(3, 3, 5, 5, 900 + static_cast<std::uint64_t>(trial)));
      db.forward(random_images(3, 3, 5, 5, 900 + static_cast<std::uint64_t>(trial)));
      da.eval();
      db.eval();
    }
    const nas::Tensor ya = da.forward(x);
    const nas::Tensor& yb = db.forward(x);
    INFO("edges " << kinds << (eval ? "(evaluation)" : "(training)"));
    REQUIRE(ya.shape() == yb.shape());
    for (std::size_t i = 0; i < ya.numel(); ++i) REQUIRE(ya[i] == yb[i]);
    nas::Tensor dy(ya.shape());
    nas::Rng rd(7);
    dy.fill_normal(rd);
    da.zero_grad();
    db.zero_grad();
    const nas::Tensor dxa = da.backward(dy);
    const nas::Tensor& dxb = db.backward(dy);
    for (std::size_t i = 0; i < dxa.numel(); ++i) REQUIRE(dxa[i] == dxb[i]);
    const auto pa = da.parameters(), pb = db.parameters();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t k = 0; k < pa.size(); ++k)
      for (std::size_t i = 0; i < pa[k]->numel(); ++i) REQUIRE(pa[k]->grad[i] == pb[k]->grad[i]);
  }
}
