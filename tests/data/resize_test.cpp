// resize_images: PyTorch's bilinear rule on hand-computed cases.
#include <catch2/catch.hpp>

#include <nas/data/resize.hpp>

TEST_CASE("resize_images upsamples bilinearly as PyTorch's interpolate(align_corners=False)", "[data][resize]") {
  nas::Dataset d;
  d.channels = 1, d.height = 2, d.width = 2, d.classes = 2;
  d.images = {0, 1, 2, 3};
  d.labels = {1};
  const nas::Dataset r = nas::resize_images(d, 4, 4);
  REQUIRE(r.height == 4);
  REQUIRE(r.width == 4);
  REQUIRE(r.labels == d.labels);
  // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear")
  const std::vector<float> expected{0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                                    1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(r.images[i] == Approx(expected[i]));
  // Downsampling 4x4 -> 2x2 reads the centres of 2x2 blocks: their means for a linear ramp.
  const nas::Dataset back = nas::resize_images(r, 2, 2);
  REQUIRE(back.images[0] == Approx((0.0 + 0.25 + 0.5 + 0.75) / 4));
  REQUIRE(back.images[3] == Approx((2.25 + 2.5 + 2.75 + 3.0) / 4));
  REQUIRE(nas::resize_images(d, 2, 2).images == d.images);
  REQUIRE_THROWS_AS(nas::resize_images(d, 0, 3), nas::ConfigError);
}
