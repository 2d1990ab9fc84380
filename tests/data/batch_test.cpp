// BatchLoader and augmentation: epochs visit every image once, seeds reproduce, shapes hold.
#include <catch2/catch.hpp>

#include <nas/data/batch.hpp>
#include <nas/data/normalize.hpp>
#include <nas/data/synthetic.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

namespace {
nas::Dataset numbered(std::size_t n, int c, int h, int w) {
  nas::Dataset d;
  d.channels = c;
  d.height = h;
  d.width = w;
  d.classes = 5;
  for (std::size_t i = 0; i < n; ++i) {
    d.labels.push_back(static_cast<std::int32_t>(i % 5));
    for (std::size_t k = 0; k < d.image_size(); ++k) d.images.push_back(static_cast<float>(i * 1000 + k));
  }
  return d;
}
}  // namespace

TEST_CASE("BatchLoader visits every image exactly once per epoch", "[data][batch]") {
  const auto d = numbered(103, 2, 3, 3);
  nas::BatchLoader loader(d, {.batch_size = 10, .seed = 11});
  REQUIRE(loader.batches_per_epoch() == 11);
  std::vector<float> x(loader.batch_values());
  std::vector<std::int32_t> y(loader.batch_size());
  std::vector<std::size_t> first_epoch;
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> seen(103, 0);
    std::vector<std::size_t> visit;
    std::size_t batches = 0, n;
    while ((n = loader.next(x, y)) > 0) {
      ++batches;
      for (std::size_t k = 0; k < n; ++k) {
        const auto id = static_cast<std::size_t>(x[k * d.image_size()] / 1000.0f);
        REQUIRE(x[k * d.image_size() + 17] == static_cast<float>(id * 1000 + 17));
        REQUIRE(y[k] == d.label(id));
        ++seen[id];
        visit.push_back(id);
      }
    }
    REQUIRE(batches == 11);
    REQUIRE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
    REQUIRE(loader.epoch() == static_cast<std::size_t>(epoch + 1));
    if (epoch == 0)
      first_epoch = visit;
    else
      REQUIRE(visit != first_epoch);  // reshuffled
  }
}

TEST_CASE("BatchLoader with drop_last skips the short batch; without shuffle keeps order", "[data][batch]") {
  const auto d = numbered(25, 1, 2, 2);
  nas::BatchLoader loader(d, {.batch_size = 8, .shuffle = false, .drop_last = true});
  REQUIRE(loader.batches_per_epoch() == 3);
  std::vector<float> x(loader.batch_values());
  std::vector<std::int32_t> y(8);
  std::size_t total = 0, n;
  while ((n = loader.next(x, y)) > 0) {
    REQUIRE(n == 8);
    REQUIRE(x[0] == static_cast<float>(total * 1000));
    total += n;
  }
  REQUIRE(total == 24);
  std::vector<float> small(5);
  REQUIRE_THROWS_AS(loader.next(small, y), nas::ConfigError);
  REQUIRE_THROWS_AS(nas::BatchLoader(d, {.batch_size = 0}), nas::ConfigError);
}

TEST_CASE("BatchLoader with the same seed gives the same batches and augmentations", "[data][batch]") {
  const auto data = nas::make_synthetic({.train = 50, .test = 0, .seed = 4});
  const nas::LoaderOptions o{.batch_size = 16, .seed = 9, .augment = {.pad = 2, .flip = true}};
  nas::BatchLoader a(data.train, o), b(data.train, o);
  std::vector<float> xa(a.batch_values()), xb(b.batch_values());
  std::vector<std::int32_t> ya(16), yb(16);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(a.next(xa, ya) == b.next(xb, yb));
    REQUIRE(xa == xb);
    REQUIRE(ya == yb);
  }
}

TEST_CASE("augment_image shifts with zero fill and flips left-right", "[data][augment]") {
  const int C = 2, H = 5, W = 6;
  std::vector<float> src(static_cast<std::size_t>(C * H * W));
  std::iota(src.begin(), src.end(), 1.0f);  // no zeros in the source
  std::vector<float> dst(src.size());

  // Flip only: every row reversed, no zeros.
  nas::Rng rng(1);
  bool saw_flip = false, saw_plain = false;
  for (int t = 0; t < 20; ++t) {
    nas::augment_image(src.data(), dst.data(), C, H, W, {.pad = 0, .flip = true}, rng);
    const bool flipped = dst[0] == src[W - 1];
    saw_flip |= flipped;
    saw_plain |= dst == src;
    if (flipped)
      for (int c = 0; c < C; ++c)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) REQUIRE(dst[(c * H + y) * W + x] == src[(c * H + y) * W + (W - 1 - x)]);
  }
  REQUIRE(saw_flip);
  REQUIRE(saw_plain);

  // Crop only: the image is a shifted copy, zeros exactly where the shift leaves the source.
  for (int t = 0; t < 30; ++t) {
    nas::augment_image(src.data(), dst.data(), C, H, W, {.pad = 2}, rng);
    // Recover the shift from a pixel that is present, then check every pixel.
    int oy = 99, ox = 99;
    for (int y = 0; y < H && oy == 99; ++y)
      for (int x = 0; x < W; ++x)
        if (dst[y * W + x] != 0.0f) {
          const int s = static_cast<int>(dst[y * W + x]) - 1;
          oy = s / W - y;
          ox = s % W - x;
          break;
        }
    REQUIRE(std::abs(oy) <= 2);
    REQUIRE(std::abs(ox) <= 2);
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const int sy = y + oy, sx = x + ox;
          const float expect = (sy < 0 || sy >= H || sx < 0 || sx >= W) ? 0.0f : src[(c * H + sy) * W + sx];
          REQUIRE(dst[(c * H + y) * W + x] == expect);
        }
  }
  REQUIRE_THROWS_AS(nas::Augment{.pad = 5}.validate("test", H, W), nas::ConfigError);
}

TEST_CASE("channel_stats matches a direct computation and normalize standardizes", "[data][normalize]") {
  auto data = nas::make_synthetic({.channels = 3, .height = 6, .width = 5, .train = 40, .test = 20, .seed = 2});
  const auto st = nas::channel_stats(data.train);
  REQUIRE(st.mean.size() == 3);
  for (int c = 0; c < 3; ++c) {
    double s = 0, q = 0, n = 0;
    for (std::size_t i = 0; i < data.train.size(); ++i)
      for (std::size_t p = 0; p < 30; ++p) {
        const double v = data.train.image(i)[static_cast<std::size_t>(c) * 30 + p];
        s += v;
        q += v * v;
        ++n;
      }
    REQUIRE(st.mean[c] == Approx(s / n).epsilon(1e-5));
    REQUIRE(st.std[c] == Approx(std::sqrt(q / n - (s / n) * (s / n))).epsilon(1e-4));
  }
  nas::normalize(data.train, st);
  nas::normalize(data.test, st);  // training statistics applied to another split
  const auto after = nas::channel_stats(data.train);
  for (int c = 0; c < 3; ++c) {
    REQUIRE(after.mean[c] == Approx(0.0).margin(1e-5));
    REQUIRE(after.std[c] == Approx(1.0).epsilon(1e-4));
  }
  const auto test_after = nas::channel_stats(data.test);
  REQUIRE(std::abs(test_after.mean[0]) < 0.5f);
}

TEST_CASE("make_synthetic is deterministic, balanced and separable by class means", "[data][synthetic]") {
  const nas::SyntheticOptions o{.classes = 3, .channels = 2, .height = 8, .width = 8, .train = 300, .test = 90,
                                .noise = 0.2, .seed = 17};
  const auto a = nas::make_synthetic(o), b = nas::make_synthetic(o);
  REQUIRE(a.train.images == b.train.images);
  REQUIRE(a.test.labels == b.test.labels);
  REQUIRE(a.train.size() == 300);
  REQUIRE(a.test.size() == 90);
  REQUIRE_NOTHROW(a.train.validate("synthetic"));
  REQUIRE(a.train.class_counts() == std::vector<std::size_t>{100, 100, 100});
  auto o2 = o;
  o2.seed = 18;
  REQUIRE(nas::make_synthetic(o2).train.images != a.train.images);

  // A nearest-class-mean classifier fit on train beats chance by far on test: the classes
  // carry signal a small CNN can learn.
  const std::size_t per = a.train.image_size();
  std::vector<std::vector<double>> means(3, std::vector<double>(per, 0.0));
  for (std::size_t i = 0; i < a.train.size(); ++i)
    for (std::size_t k = 0; k < per; ++k) means[static_cast<std::size_t>(a.train.label(i))][k] += a.train.image(i)[k] / 100.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < a.test.size(); ++i) {
    std::size_t best = 0;
    double best_d = 1e300;
    for (std::size_t c = 0; c < 3; ++c) {
      double dist = 0;
      for (std::size_t k = 0; k < per; ++k) dist += std::pow(a.test.image(i)[k] - means[c][k], 2);
      if (dist < best_d) best_d = dist, best = c;
    }
    correct += best == static_cast<std::size_t>(a.test.label(i));
  }
  REQUIRE(correct >= 80);
}
