// What the DARTS tests share: a tiny image set and a small, fast search on it, so that each
// variant's test changes only what that variant is about.
#pragma once

#include <nas/data/synthetic.hpp>
#include <nas/search/darts.hpp>

#include <cstddef>
#include <cstdint>

namespace nas_test {

// n training images of 1x8x8 in 4 classes.
inline nas::Dataset tiny_data(std::size_t n = 96, std::uint64_t seed = 1) {
  return nas::make_synthetic({.classes = 4, .channels = 1, .height = 8, .width = 8, .train = n, .test = 4, .seed = seed}).train;
}

// Three epochs of three steps on a 4-channel, 1-cell supernet.
inline nas::DartsOptions tiny_options() {
  nas::DartsOptions o;
  o.epochs = 3;
  o.batch_size = 8;
  o.max_steps_per_epoch = 3;
  o.supernet = {.channels = 4, .cells = 1, .seed = 3, .affine = false};
  o.seed = 5;
  o.arch_lr = 3e-2;  // visible moves in a few steps
  return o;
}

}  // namespace nas_test
