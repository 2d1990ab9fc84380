// Fashion-MNIST loader: real files when installed (skipped otherwise), clear error when missing.
#include <catch2/catch.hpp>

#include <nas/data/fashion_mnist.hpp>

#include <algorithm>
#include <filesystem>

TEST_CASE("load_fashion_mnist reads 60000 + 10000 labelled 28x28 images", "[data][fashion]") {
  if (nas::find_fashion_mnist().empty()) {
    WARN("SKIPPED: Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto data = nas::load_fashion_mnist();
  REQUIRE(data.train.size() == 60000);
  REQUIRE(data.test.size() == 10000);
  for (const auto* d : {&data.train, &data.test}) {
    REQUIRE(d->channels == 1);
    REQUIRE(d->height == 28);
    REQUIRE(d->width == 28);
    REQUIRE(d->classes == 10);
    REQUIRE(d->class_names.size() == 10);
    REQUIRE_NOTHROW(d->validate("fashion"));
    const auto [lo, hi] = std::minmax_element(d->images.begin(), d->images.end());
    REQUIRE(*lo >= 0.0f);
    REQUIRE(*hi <= 1.0f);
    REQUIRE(*hi > 0.9f);
  }
  for (auto c : data.train.class_counts()) REQUIRE(c == 6000);
  for (auto c : data.test.class_counts()) REQUIRE(c == 1000);
}

TEST_CASE("load_fashion_mnist says how to get the data when the directory lacks it", "[data][fashion]") {
  const auto empty = std::filesystem::temp_directory_path() / "nas_no_fashion_mnist_here";
  std::filesystem::create_directories(empty);
  try {
    nas::load_fashion_mnist(empty.string());
    FAIL("expected DataError");
  } catch (const nas::DataError& e) {
    REQUIRE_THAT(e.what(), Catch::Contains("apt-get install dataset-fashion-mnist") &&
                               Catch::Contains(empty.string()) && Catch::Contains("train-images-idx3-ubyte.gz"));
  }
  std::filesystem::remove(empty);
}
