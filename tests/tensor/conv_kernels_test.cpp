// Convolution kernels against a direct seven-loop reference with double accumulation.
#include <catch2/catch.hpp>

#include <nas/core/error.hpp>
#include <nas/core/rng.hpp>
#include <nas/tensor/conv_kernels.hpp>
#include <nas/tensor/threads.hpp>
#include <nas/tensor/workspace.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nas::kernels::Conv2dShape;

std::string describe(const Conv2dShape& s) {
  std::ostringstream o;
  o << "N" << s.batch << " C" << s.in_channels << "->" << s.out_channels << " " << s.in_h << "x" << s.in_w << " k"
    << s.kernel_h << "x" << s.kernel_w << " s" << s.stride_h << "," << s.stride_w << " p" << s.pad_h << "," << s.pad_w
    << " d" << s.dilation_h << "," << s.dilation_w << " g" << s.groups;
  return o.str();
}

std::vector<float> random_vector(std::size_t n, nas::Rng& rng) {
  std::vector<float> v(n);
  for (auto& e : v) e = static_cast<float>(rng.uniform(-1.0, 1.0));
  return v;
}

// Values and, for the tolerance, the sum of |terms| that made each value.
struct Reference {
  std::vector<double> y, y_abs, dx, dx_abs, dw, dw_abs, db, db_abs;
};

// The textbook definition: y[n,o,i,j] = b[o] + sum_{c,ki,kj} x[n, g*cg + c, i*sh - ph + ki*dh, j*sw - pw + kj*dw]
// * w[o, c, ki, kj], where g is o's group; the backward passes are the same sum read the other ways.
Reference reference(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& b, const std::vector<float>& dy) {
  const int oh = s.out_h(), ow = s.out_w(), cg = s.in_channels / s.groups, og = s.out_channels / s.groups;
  Reference r;
  const std::size_t ny = static_cast<std::size_t>(s.batch) * s.out_channels * oh * ow;
  r.y.assign(ny, 0.0);
  r.y_abs.assign(ny, 0.0);
  r.dx.assign(x.size(), 0.0);
  r.dx_abs.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.dw_abs.assign(w.size(), 0.0);
  r.db.assign(static_cast<std::size_t>(s.out_channels), 0.0);
  r.db_abs.assign(static_cast<std::size_t>(s.out_channels), 0.0);
  for (int n = 0; n < s.batch; ++n)
    for (int o = 0; o < s.out_channels; ++o) {
      const int g = o / og;
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          const std::size_t yi = ((static_cast<std::size_t>(n) * s.out_channels + o) * oh + i) * ow + j;
          double acc = b.empty() ? 0.0 : b[o];
          double acc_abs = b.empty() ? 0.0 : std::abs(b[o]);
          const double g_out = dy[yi];
          r.db[o] += g_out;
          r.db_abs[o] += std::abs(g_out);
          for (int c = 0; c < cg; ++c)
            for (int ki = 0; ki < s.kernel_h; ++ki)
              for (int kj = 0; kj < s.kernel_w; ++kj) {
                const int iy = i * s.stride_h - s.pad_h + ki * s.dilation_h;
                const int ix = j * s.stride_w - s.pad_w + kj * s.dilation_w;
                if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
                const std::size_t xi =
                    ((static_cast<std::size_t>(n) * s.in_channels + g * cg + c) * s.in_h + iy) * s.in_w + ix;
                const std::size_t wi = ((static_cast<std::size_t>(o) * cg + c) * s.kernel_h + ki) * s.kernel_w + kj;
                acc += static_cast<double>(x[xi]) * w[wi];
                acc_abs += std::abs(static_cast<double>(x[xi]) * w[wi]);
                r.dx[xi] += g_out * w[wi];
                r.dx_abs[xi] += std::abs(g_out * w[wi]);
                r.dw[wi] += g_out * x[xi];
                r.dw_abs[wi] += std::abs(g_out * x[xi]);
              }
          r.y[yi] = acc;
          r.y_abs[yi] = acc_abs;
        }
    }
  return r;
}

// Float sums of k terms carry an error of about k * eps * sum|terms|; 1e-5 of the absolute sum
// is far above that for these sizes and far below any indexing mistake.
void require_close(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& abs_sum,
                   const std::string& what, double scale = 1.0) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = 2e-5 * scale * abs_sum[i] + 1e-6;
    if (!(std::abs(got[i] - want[i]) <= tol)) {
      if (bad == 0) first = i;
      ++bad;
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " values off; first at " << first << ": got "
            << (bad ? got[first] : 0.0f) << ", want " << (bad ? want[first] : 0.0));
  REQUIRE(bad == 0);
}

struct Run {
  std::vector<float> y, dx, dw, db;
};

// Runs forward and backward; dw and db start at `grad_start` to observe accumulation.
Run run_kernels(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w,
                const std::vector<float>& b, const std::vector<float>& dy, nas::Workspace& ws, float grad_start = 0.0f) {
  Run r;
  r.y.assign(static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w(), 12345.0f);
  r.dx.assign(x.size(), 12345.0f);
  r.dw.assign(w.size(), grad_start);
  r.db.assign(static_cast<std::size_t>(s.out_channels), grad_start);
  nas::kernels::conv2d_forward(s, x.data(), w.data(), b.empty() ? nullptr : b.data(), r.y.data(), ws);
  nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), r.dx.data(), r.dw.data(), r.db.data(), ws);
  return r;
}

struct ShapeCase {
  Conv2dShape s;
  bool bias;
};

Conv2dShape make(int n, int cin, int cout, int h, int w, int k, int stride, int pad, int dil, int groups) {
  Conv2dShape s;
  s.batch = n;
  s.in_channels = cin;
  s.out_channels = cout;
  s.in_h = h;
  s.in_w = w;
  s.kernel_h = s.kernel_w = k;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  s.dilation_h = s.dilation_w = dil;
  s.groups = groups;
  return s;
}

std::vector<ShapeCase> shape_cases() {
  std::vector<ShapeCase> cases;
  for (int k : {1, 3, 5})
    for (int stride : {1, 2})
      for (int pad : {0, 1, 2})
        for (int dil : {1, 2})
          for (int batch : {1, 3}) {
            if (k == 1 && dil == 2) continue;  // a 1x1 kernel has nothing to dilate
            const int h = 9 + (k + stride + pad) % 3, w = 11 + (dil + batch) % 4;
            if (dil * (k - 1) + 1 > h + 2 * pad) continue;
            cases.push_back({make(batch, 4, 6, h, w, k, stride, pad, dil, 1), (k + pad) % 2 == 0});
            cases.push_back({make(batch, 4, 6, h, w, k, stride, pad, dil, 2), (k + pad) % 2 == 1});
            cases.push_back({make(batch, 6, 6, h, w, k, stride, pad, dil, 6), true});  // depthwise
          }
  // Channel counts that do not fill a register block, non-square kernels, strides and pads.
  Conv2dShape a = make(2, 3, 5, 13, 7, 3, 1, 1, 1, 1);
  a.kernel_w = 5;
  a.pad_w = 2;
  cases.push_back({a, true});
  Conv2dShape b = make(3, 8, 12, 10, 15, 3, 1, 0, 1, 4);
  b.kernel_h = 1;
  b.stride_w = 2;
  b.pad_h = 2;
  b.dilation_w = 3;
  cases.push_back({b, false});
  cases.push_back({make(2, 16, 16, 14, 14, 3, 1, 1, 1, 1), true});
  cases.push_back({make(2, 16, 32, 7, 7, 5, 1, 2, 1, 1), false});
  cases.push_back({make(3, 17, 9, 8, 9, 1, 1, 0, 1, 1), true});
  cases.push_back({make(1, 24, 24, 9, 5, 3, 1, 1, 1, 24), false});
  cases.push_back({make(1, 5, 3, 1, 1, 1, 1, 0, 1, 1), true});
  cases.push_back({make(2, 4, 4, 3, 3, 3, 1, 2, 2, 1), true});
  // Batches larger than the chunk count: several small images per chunk share one dw sweep.
  cases.push_back({make(19, 3, 5, 4, 5, 3, 1, 1, 1, 1), true});
  cases.push_back({make(21, 4, 4, 6, 6, 5, 1, 2, 1, 2), false});
  cases.push_back({make(17, 2, 3, 5, 7, 3, 1, 2, 2, 1), true});
  // 1x1 planes of exactly 48 positions (whole register blocks on every instruction set).
  cases.push_back({make(2, 5, 7, 6, 8, 1, 1, 0, 1, 1), true});
  return cases;
}

}  // namespace

TEST_CASE("conv2d forward, dx, dw and dbias match the direct definition for many shapes", "[tensor][conv]") {
  nas::Rng rng(2024);
  INFO("seed 2024");
  nas::Workspace ws;
  for (int threads : {1, 2}) {
    nas::set_num_threads(threads);
    for (const auto& c : shape_cases()) {
      const auto& s = c.s;
      INFO(describe(s) << (c.bias ? " bias" : " no bias") << ", " << threads << " threads");
      const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
      const auto w = random_vector(
          static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
      const auto b = c.bias ? random_vector(static_cast<std::size_t>(s.out_channels), rng) : std::vector<float>{};
      const auto dy = random_vector(static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w(), rng);
      const auto ref = reference(s, x, w, b, dy);
      const auto got = run_kernels(s, x, w, b, dy, ws);
      require_close(got.y, ref.y, ref.y_abs, "y");
      require_close(got.dx, ref.dx, ref.dx_abs, "dx");
      require_close(got.dw, ref.dw, ref.dw_abs, "dw");
      require_close(got.db, ref.db, ref.db_abs, "dbias");
    }
  }
  nas::set_num_threads(1);
}

TEST_CASE("conv2d_backward accumulates into dw and dbias: two calls give twice the gradient", "[tensor][conv]") {
  nas::Rng rng(7);
  nas::Workspace ws;
  for (const auto& s : {make(3, 16, 16, 12, 12, 3, 1, 1, 1, 1), make(2, 4, 6, 9, 11, 3, 2, 1, 1, 2)}) {
    INFO(describe(s));
    const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
    const auto w = random_vector(
        static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
    const auto dy = random_vector(static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w(), rng);
    std::vector<float> dw_once(w.size(), 0.0f), db_once(static_cast<std::size_t>(s.out_channels), 0.0f);
    nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), nullptr, dw_once.data(), db_once.data(), ws);
    std::vector<float> dw_twice(w.size(), 0.0f), db_twice(db_once.size(), 0.0f);
    nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), nullptr, dw_twice.data(), db_twice.data(), ws);
    nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), nullptr, dw_twice.data(), db_twice.data(), ws);
    // g + g == 2g exactly in floating point.
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(dw_twice[i] == 2.0f * dw_once[i]);
    for (std::size_t i = 0; i < db_once.size(); ++i) REQUIRE(db_twice[i] == 2.0f * db_once[i]);
    // A non-zero start is kept: start + g.
    const auto ref = reference(s, x, w, {}, dy);
    const auto got = run_kernels(s, x, w, {}, dy, ws, 0.5f);
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(got.dw[i] == Approx(ref.dw[i] + 0.5).margin(1e-4));
    for (std::size_t i = 0; i < db_once.size(); ++i) REQUIRE(got.db[i] == Approx(ref.db[i] + 0.5).margin(1e-4));
  }
}

TEST_CASE("conv2d_backward skips every gradient passed as nullptr and still fills the others", "[tensor][conv]") {
  nas::Rng rng(8);
  nas::Workspace ws;
  const auto s = make(2, 8, 8, 10, 10, 3, 1, 1, 1, 1);
  const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
  const auto w = random_vector(static_cast<std::size_t>(s.out_channels) * s.in_channels * 9, rng);
  const auto dy = random_vector(static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w(), rng);
  const auto ref = reference(s, x, w, {}, dy);
  for (int mask = 0; mask < 8; ++mask) {
    INFO("mask " << mask);
    std::vector<float> dx(x.size(), 7.0f), dw(w.size(), 0.0f), db(8, 0.0f);
    nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), (mask & 1) ? dx.data() : nullptr,
                                  (mask & 2) ? dw.data() : nullptr, (mask & 4) ? db.data() : nullptr, ws);
    if (mask & 1)
      require_close(dx, ref.dx, ref.dx_abs, "dx");
    else
      for (float v : dx) REQUIRE(v == 7.0f);
    if (mask & 2)
      require_close(dw, ref.dw, ref.dw_abs, "dw");
    else
      for (float v : dw) REQUIRE(v == 0.0f);
    if (mask & 4)
      require_close(db, ref.db, ref.db_abs, "dbias");
    else
      for (float v : db) REQUIRE(v == 0.0f);
  }
  // dx needs no x and dw needs no w.
  std::vector<float> dx(x.size()), dw(w.size(), 0.0f);
  nas::kernels::conv2d_backward(s, nullptr, w.data(), dy.data(), dx.data(), nullptr, nullptr, ws);
  require_close(dx, ref.dx, ref.dx_abs, "dx without x");
  nas::kernels::conv2d_backward(s, x.data(), nullptr, dy.data(), nullptr, dw.data(), nullptr, ws);
  require_close(dw, ref.dw, ref.dw_abs, "dw without w");
}

TEST_CASE("Conv2dShape::validate names the bad value and the limit", "[tensor][conv]") {
  const auto message = [](const Conv2dShape& s) {
    try {
      s.validate("Conv2d");
    } catch (const nas::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Conv2dShape ok = make(2, 4, 6, 8, 8, 3, 1, 1, 1, 2);
  REQUIRE_NOTHROW(ok.validate("Conv2d"));
  REQUIRE(ok.out_h() == 8);
  REQUIRE(make(1, 1, 1, 9, 9, 3, 2, 1, 1, 1).out_w() == 5);
  REQUIRE(make(1, 1, 1, 9, 9, 3, 1, 0, 2, 1).out_h() == 5);

  Conv2dShape s = ok;
  s.groups = 3;
  REQUIRE(message(s) == "Conv2d: groups (3) does not divide in_channels (4)");
  s = make(2, 4, 6, 8, 8, 3, 1, 1, 1, 4);
  REQUIRE(message(s) == "Conv2d: groups (4) does not divide out_channels (6)");
  s = ok;
  s.stride_w = 0;
  REQUIRE(message(s) == "Conv2d: stride_w (0) must be >= 1");
  s = ok;
  s.pad_h = -1;
  REQUIRE(message(s) == "Conv2d: pad_h (-1) must be >= 0");
  s = ok;
  s.batch = 0;
  REQUIRE(message(s) == "Conv2d: batch (0) must be >= 1");
  s = make(1, 1, 1, 4, 4, 5, 1, 0, 1, 1);
  REQUIRE(message(s) == "Conv2d: dilated kernel height (5) exceeds padded input height (4)");
  s = make(1, 1, 1, 8, 8, 3, 1, 0, 4, 1);
  REQUIRE(message(s) == "Conv2d: dilated kernel height (9) exceeds padded input height (8)");

  // The kernels validate before touching memory.
  nas::Workspace ws;
  s = ok;
  s.groups = 3;
  REQUIRE_THROWS_AS(nas::kernels::conv2d_forward(s, nullptr, nullptr, nullptr, nullptr, ws), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::kernels::conv2d_backward(s, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, ws),
                    nas::ConfigError);
}

TEST_CASE("conv2d results are bit-identical when repeated with the same thread count, and at stride 1 for 1 to 4 threads", "[tensor][conv][threads]") {
  nas::Rng rng(9);
  // The first two are large enough (batch x planes) to split over every thread count;
  // strided, dilated, grouped and 1x1 convolutions take their own paths.
  for (const auto& s : {make(16, 32, 32, 28, 28, 3, 1, 1, 1, 1), make(16, 16, 32, 32, 32, 3, 2, 1, 1, 1),
                        make(8, 16, 16, 14, 14, 3, 1, 1, 1, 1), make(5, 16, 16, 9, 9, 5, 1, 2, 1, 1),
                        make(6, 16, 16, 8, 8, 1, 1, 0, 1, 1), make(4, 8, 8, 9, 9, 3, 2, 1, 1, 8),
                        make(4, 16, 16, 12, 12, 3, 1, 2, 2, 1), make(4, 16, 16, 12, 12, 3, 2, 2, 2, 16)}) {
    INFO(describe(s));
    const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
    const auto w = random_vector(
        static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
    const auto b = random_vector(static_cast<std::size_t>(s.out_channels), rng);
    const auto dy = random_vector(static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w(), rng);
    std::vector<Run> per_threads;
    for (int threads : {1, 2, 3, 4}) {
      nas::set_num_threads(threads);
      nas::Workspace ws1, ws2;
      const auto r1 = run_kernels(s, x, w, b, dy, ws1);
      const auto r2 = run_kernels(s, x, w, b, dy, ws2);
      const auto r3 = run_kernels(s, x, w, b, dy, ws1);  // a reused workspace changes nothing
      for (const Run* r : {&r2, &r3}) {
        REQUIRE(std::memcmp(r1.y.data(), r->y.data(), r1.y.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(r1.dx.data(), r->dx.data(), r1.dx.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(r1.dw.data(), r->dw.data(), r1.dw.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(r1.db.data(), r->db.data(), r1.db.size() * sizeof(float)) == 0);
      }
      per_threads.push_back(r1);
    }
    nas::set_num_threads(1);
    // One and two threads sum in different orders: close, not necessarily equal.
    const auto close = [](const std::vector<float>& a, const std::vector<float>& b) {
      for (std::size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > 1e-4f * (1.0f + std::abs(a[i]))) return false;
      return true;
    };
    for (std::size_t t = 1; t < per_threads.size(); ++t) {
      INFO("threads " << t + 1 << " against 1");
      const Run& a = per_threads[0];
      const Run& r = per_threads[t];
      REQUIRE(close(a.y, r.y));
      REQUIRE(close(a.dx, r.dx));
      REQUIRE(close(a.dw, r.dw));
      REQUIRE(close(a.db, r.db));
      // Stride 1 runs the direct kernels, whose chunking does not depend on the thread count.
      if (s.stride_h == 1 && s.stride_w == 1) {
        REQUIRE(std::memcmp(a.y.data(), r.y.data(), a.y.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(a.dx.data(), r.dx.data(), a.dx.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(a.dw.data(), r.dw.data(), a.dw.size() * sizeof(float)) == 0);
        REQUIRE(std::memcmp(a.db.data(), r.db.data(), a.db.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("ConvInput::relu convolves max(x, 0) and back-propagates through it: the same bits as a separate ReLU", "[tensor][conv]") {
  nas::Rng rng(31);
  nas::Workspace ws;
  auto cases = shape_cases();
  // Strides whose phases exceed the direct path's limit take the GEMM path.
  Conv2dShape wide = make(2, 3, 4, 20, 20, 3, 1, 1, 1, 1);
  wide.stride_h = wide.stride_w = 9;
  cases.push_back({wide, true});
  for (int threads : {1, 2}) {
    nas::set_num_threads(threads);
    for (const auto& c : cases) {
      const auto& s = c.s;
      INFO(describe(s) << ", " << threads << " threads");
      const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
      auto rx = x;
      for (auto& v : rx) v = std::max(v, 0.0f);
      const auto w = random_vector(
          static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
      const auto b = random_vector(static_cast<std::size_t>(s.out_channels), rng);
      const std::size_t ny = static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w();
      std::vector<float> fused(ny, 7.0f), plain(ny, -7.0f);
      nas::kernels::conv2d_forward(s, x.data(), w.data(), c.bias ? b.data() : nullptr, fused.data(), ws,
                                   nas::kernels::ConvInput::relu);
      nas::kernels::conv2d_forward(s, rx.data(), w.data(), c.bias ? b.data() : nullptr, plain.data(), ws);
      REQUIRE(std::memcmp(fused.data(), plain.data(), ny * sizeof(float)) == 0);
      // Backward: dw against max(x, 0), dx through the ReLU (zero where x <= 0).
      const auto dy = random_vector(ny, rng);
      std::vector<float> dx_fused(x.size(), 3.0f), dx_plain(x.size(), -3.0f), dw_fused(w.size(), 0.0f),
          dw_plain(w.size(), 0.0f);
      nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), dx_fused.data(), dw_fused.data(), nullptr, ws,
                                    nas::kernels::ConvInput::relu);
      nas::kernels::conv2d_backward(s, rx.data(), w.data(), dy.data(), dx_plain.data(), dw_plain.data(), nullptr, ws);
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!(x[i] > 0.0f)) dx_plain[i] = 0.0f;
      REQUIRE(std::memcmp(dw_fused.data(), dw_plain.data(), w.size() * sizeof(float)) == 0);
      REQUIRE(std::memcmp(dx_fused.data(), dx_plain.data(), x.size() * sizeof(float)) == 0);
    }
  }
  nas::set_num_threads(1);
}

TEST_CASE("conv2d_forward with accumulate adds the same floats as a separate output added afterwards", "[tensor][conv]") {
  nas::Rng rng(37);
  nas::Workspace ws;
  auto cases = shape_cases();
  Conv2dShape wide = make(2, 3, 4, 20, 20, 3, 1, 1, 1, 1);  // the GEMM path
  wide.stride_h = wide.stride_w = 9;
  cases.push_back({wide, true});
  cases.push_back({make(2, 3, 5, 6, 28, 3, 1, 1, 1, 1), true});   // rows longer than a vector
  cases.push_back({make(2, 4, 6, 24, 24, 1, 1, 0, 1, 1), false});  // 1x1 planes read in place without accumulate
  for (int threads : {1, 2}) {
    nas::set_num_threads(threads);
    for (const auto& c : cases) {
      const auto& s = c.s;
      for (auto input : {nas::kernels::ConvInput::as_is, nas::kernels::ConvInput::relu}) {
        INFO(describe(s) << ", " << threads << " threads, relu " << (input == nas::kernels::ConvInput::relu));
        const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
        const auto w = random_vector(
            static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
        const auto b = random_vector(static_cast<std::size_t>(s.out_channels), rng);
        const float* bias = c.bias ? b.data() : nullptr;
        const std::size_t ny = static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w();
        // Guard floats on both sides of the target catch a write past the output.
        const std::size_t guard = 64;
        auto target = random_vector(ny + 2 * guard, rng);
        const auto before = target;
        std::vector<float> y(ny);
        nas::kernels::conv2d_forward(s, x.data(), w.data(), bias, y.data(), ws, input);
        nas::kernels::conv2d_forward(s, x.data(), w.data(), bias, target.data() + guard, ws, input, true);
        for (std::size_t i = 0; i < guard; ++i) {
          REQUIRE(target[i] == before[i]);
          REQUIRE(target[guard + ny + i] == before[guard + ny + i]);
        }
        for (std::size_t i = 0; i < ny; ++i) REQUIRE(target[guard + i] == before[guard + i] + y[i]);
      }
    }
  }
  nas::set_num_threads(1);
}

TEST_CASE("conv2d kernels write nothing outside y and dx", "[tensor][conv]") {
  nas::Rng rng(41);
  nas::Workspace ws;
  constexpr std::size_t guard = 64;
  constexpr float sentinel = -12345.5f;
  for (int threads : {1, 2}) {
    nas::set_num_threads(threads);
    for (const auto& c : shape_cases()) {
      const auto& s = c.s;
      INFO(describe(s) << ", " << threads << " threads");
      const auto x = random_vector(static_cast<std::size_t>(s.batch) * s.in_channels * s.in_h * s.in_w, rng);
      const auto w = random_vector(
          static_cast<std::size_t>(s.out_channels) * (s.in_channels / s.groups) * s.kernel_h * s.kernel_w, rng);
      const std::size_t ny = static_cast<std::size_t>(s.batch) * s.out_channels * s.out_h() * s.out_w();
      const auto dy = random_vector(ny, rng);
      // Guards on both sides of each output; the kernels see only the middle.
      std::vector<float> y(ny + 2 * guard, sentinel), dx(x.size() + 2 * guard, sentinel);
      nas::kernels::conv2d_forward(s, x.data(), w.data(), nullptr, y.data() + guard, ws, nas::kernels::ConvInput::relu);
      nas::kernels::conv2d_backward(s, x.data(), w.data(), dy.data(), dx.data() + guard, nullptr, nullptr, ws);
      for (std::size_t i = 0; i < guard; ++i) {
        REQUIRE(y[i] == sentinel);
        REQUIRE(y[guard + ny + i] == sentinel);
        REQUIRE(dx[i] == sentinel);
        REQUIRE(dx[guard + x.size() + i] == sentinel);
      }
    }
  }
  nas::set_num_threads(1);
}
