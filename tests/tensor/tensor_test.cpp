// Tensor: shapes, storage reuse, views, copies, Eigen maps and element-wise helpers.
#include <catch2/catch.hpp>

#include <nas/tensor/tensor.hpp>

#include <cmath>

TEST_CASE("Shape reports rank, element count and NCHW dimensions", "[tensor]") {
  const nas::Shape s{2, 3, 4, 5};
  REQUIRE(s.rank() == 4);
  REQUIRE(s.numel() == 120);
  REQUIRE(s.n() == 2);
  REQUIRE(s.c() == 3);
  REQUIRE(s.h() == 4);
  REQUIRE(s.w() == 5);
  REQUIRE(s.per_item() == 60);
  REQUIRE(s.str() == "[2, 3, 4, 5]");
  REQUIRE(s.with(1, 7) == nas::Shape{2, 7, 4, 5});
  REQUIRE(nas::Shape{}.numel() == 0);
  REQUIRE_THROWS_AS((nas::Shape{1, 2, 3, 4, 5}), nas::ConfigError);
  REQUIRE_THROWS_AS((nas::Shape{1, -2}), nas::ConfigError);
}

TEST_CASE("A new tensor is zero-filled, 64-byte aligned and indexed in NCHW order", "[tensor]") {
  nas::Tensor t({2, 3, 4, 5});
  REQUIRE(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (float v : t) REQUIRE(v == 0.0f);
  t.at(1, 2, 3, 4) = 7.0f;
  REQUIRE(t[t.numel() - 1] == 7.0f);
  t.at(0, 1, 0, 0) = 3.0f;
  REQUIRE(t[20] == 3.0f);
  nas::Tensor m({2, 3});
  m.at(1, 2) = 5.0f;
  REQUIRE(m[5] == 5.0f);
}

TEST_CASE("resize reuses storage when the new shape fits and allocates only to grow", "[tensor]") {
  nas::Tensor t({4, 8, 8, 8});
  const float* p = t.data();
  const auto before = nas::detail::allocation_count();
  t.resize({2, 8, 8, 8});
  t.resize({4, 8, 8, 8});
  REQUIRE(t.data() == p);
  REQUIRE(nas::detail::allocation_count() == before);
  t.resize({8, 8, 8, 8});
  REQUIRE(nas::detail::allocation_count() == before + 1);
  REQUIRE(t.capacity() == 8 * 8 * 8 * 8);
}

TEST_CASE("reshape keeps the data and rejects a different element count", "[tensor]") {
  nas::Tensor t({2, 3, 2, 2});
  for (std::size_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i);
  const float* p = t.data();
  t.reshape({2, 12});
  REQUIRE(t.data() == p);
  REQUIRE(t.at(1, 0) == 12.0f);
  REQUIRE_THROWS_AS(t.reshape({5, 5}), nas::ConfigError);
  nas::Tensor v = t.reshaped({24});
  REQUIRE(v.is_view());
  REQUIRE(v.data() == p);
  v[3] = -1.0f;
  REQUIRE(t[3] == -1.0f);
}

TEST_CASE("A view aliases foreign memory and a copy of it owns its data", "[tensor]") {
  alignas(64) float buf[6] = {1, 2, 3, 4, 5, 6};
  nas::Tensor v = nas::Tensor::view(buf, {2, 3});
  REQUIRE(v.at(1, 1) == 5.0f);
  v.at(0, 0) = 10.0f;
  REQUIRE(buf[0] == 10.0f);
  nas::Tensor c = v;
  REQUIRE_FALSE(c.is_view());
  c[0] = 0.0f;
  REQUIRE(buf[0] == 10.0f);
  REQUIRE_THROWS_AS(v.resize({3, 3}), nas::ConfigError);
}

TEST_CASE("Copy, move and copy assignment behave as values", "[tensor]") {
  nas::Tensor a({3});
  a[0] = 1;
  a[1] = 2;
  a[2] = 3;
  nas::Tensor b = a;
  b[0] = 9;
  REQUIRE(a[0] == 1.0f);
  nas::Tensor c = std::move(b);
  REQUIRE(c[0] == 9.0f);
  nas::Tensor d({10});
  const float* p = d.data();
  d = a;  // fits: storage reused
  REQUIRE(d.data() == p);
  REQUIRE(d.shape() == nas::Shape{3});
  REQUIRE(d[2] == 3.0f);
}

TEST_CASE("Eigen maps see the tensor as a row-major matrix", "[tensor]") {
  nas::Tensor t({2, 3});
  for (std::size_t i = 0; i < 6; ++i) t[i] = static_cast<float>(i);
  auto m = t.matrix();
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  REQUIRE(m(1, 0) == 3.0f);
  t.array() *= 2.0f;
  REQUIRE(t[5] == 10.0f);
  REQUIRE_THROWS_AS(t.matrix(4, 2), nas::ConfigError);
}

TEST_CASE("add_into, axpy_into and dot combine tensors of equal shape", "[tensor]") {
  nas::Tensor a({2, 2}), b({2, 2});
  for (std::size_t i = 0; i < 4; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = 1.0f;
  }
  nas::add_into(a, b);
  REQUIRE(a[3] == 4.0f);
  nas::axpy_into(a, 0.5f, b);
  REQUIRE(a[0] == 1.5f);
  REQUIRE(nas::dot(a, b) == Approx(1.5 + 2.5 + 3.5 + 4.5));
  nas::Tensor c({4});
  REQUIRE_THROWS_AS(nas::add_into(a, c), nas::ConfigError);
}

TEST_CASE("dot is the inner product to double precision for every length, and the same on every call", "[tensor]") {
  nas::Rng rng(21);
  for (int n : {1, 7, 31, 32, 33, 64, 1000, 100003}) {
    nas::Tensor a({n}), b({n});
    a.fill_normal(rng);
    b.fill_normal(rng);
    long double exact = 0.0L, magnitude = 0.0L;
    for (int i = 0; i < n; ++i) {
      const long double p = static_cast<long double>(a[static_cast<std::size_t>(i)]) * b[static_cast<std::size_t>(i)];
      exact += p;
      magnitude += p < 0 ? -p : p;
    }
    const double d = nas::dot(a, b);
    INFO("n " << n << ": " << d << " against " << static_cast<double>(exact));
    // Double accumulation: the error is far below float's, relative to the sum of |terms|.
    CHECK(std::abs(static_cast<long double>(d) - exact) <= 1e-13L * magnitude);
    CHECK(nas::dot(a, b) == d);
  }
}

TEST_CASE("Random fills are reproducible from the seed", "[tensor]") {
  nas::Rng r1(5), r2(5);
  nas::Tensor a({100}), b({100});
  a.fill_normal(r1);
  b.fill_normal(r2);
  for (std::size_t i = 0; i < 100; ++i) REQUIRE(a[i] == b[i]);
  a.fill_uniform(r1, -1.0f, 1.0f);
  for (float v : a) REQUIRE((v >= -1.0f && v < 1.0f));
}

TEST_CASE("concat_channels stacks along channels and slice_channels takes them back", "[tensor]") {
  nas::Rng rng(6);
  nas::Tensor a({2, 1, 2, 3}), b({2, 3, 2, 3});
  a.fill_normal(rng);
  b.fill_normal(rng);
  nas::Tensor cat;
  const nas::Tensor* parts[] = {&a, &b};
  nas::concat_channels(cat, parts);
  REQUIRE(cat.shape() == nas::Shape{2, 4, 2, 3});
  REQUIRE(cat.at(1, 0, 1, 2) == a.at(1, 0, 1, 2));
  REQUIRE(cat.at(1, 3, 0, 1) == b.at(1, 2, 0, 1));
  nas::Tensor back({2, 3, 2, 3});
  nas::slice_channels(cat, 1, back);
  for (std::size_t i = 0; i < b.numel(); ++i) REQUIRE(back[i] == b[i]);
  nas::Tensor wrong({2, 1, 3, 3});
  const nas::Tensor* bad[] = {&a, &wrong};
  REQUIRE_THROWS_AS(nas::concat_channels(cat, bad), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::slice_channels(cat, 2, back), nas::ConfigError);
}
