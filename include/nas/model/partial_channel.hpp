// PartialChannelMixedOp: PC-DARTS' mixed op, which sends 1/K of the channels through the candidates and the rest around them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/model/mixed_op.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// The partial-channel mixed op of PC-DARTS (Xu et al. 2020, eq. 2): of the C input
/// channels, the first C/K go through the weighted sum of the candidate ops (a MixedOp
/// built for C/K channels), the other C - C/K pass by unchanged, and the two parts,
/// concatenated, are channel-shuffled with K groups (as ShuffleNet, and PC-DARTS'
/// channel_shuffle: output channel j*K + g is channel g*C/K + j of the concatenation),
/// so that the next edge's sampled channels are others. The candidates hold a K-th of a
/// full mixed op's activations, which is where PC-DARTS saves its memory; `none` makes
/// the sampled part zero while the rest still passes.
///
/// PC-DARTS' edge normalisation scales the whole output by an edge weight b
/// (set_edge_weight; 1 by default), and backward gives dL/db (edge_weight_grad()). The op
/// can write its output straight into a node's sum (forward_into), keeping no output
/// buffer: backward recomputes what dL/db needs from the input and the mixture, so the
/// input must stay alive and unchanged until backward (as a cell's states do).
///
/// Stride 1 only (the NB201 cell, the DARTS normal cell): a reduction edge would also
/// need the bypassed channels pooled. set_active() and weight_grad() are the inner
/// MixedOp's (dL/dw of a candidate after backward).
class PartialChannelMixedOp final : public Module {
 public:
  /// One candidate per name (make_cell_op) for channels/k channels; `geometry` gives the
  /// full width (in = out = channels) and BatchNorm's settings.
  PartialChannelMixedOp(const std::vector<std::string>& names, const CellOpGeometry& geometry, int k, Rng& rng)
      : k_(check(geometry, k)), channels_(geometry.in_channels),
        mixed_(names, CellOpGeometry{geometry.in_channels / k, geometry.in_channels / k, 1, geometry.affine,
                                     geometry.track_running_stats},
               rng) {}

  void set_active(std::span<const std::size_t> ops, std::span<const float> weights) { mixed_.set_active(ops, weights); }
  [[nodiscard]] double weight_grad(std::size_t op) const { return mixed_.weight_grad(op); }
  void set_edge_weight(float b) noexcept { edge_weight_ = b; }
  [[nodiscard]] float edge_weight() const noexcept { return edge_weight_; }
  /// dL/db after backward.
  [[nodiscard]] double edge_weight_grad() const noexcept { return edge_grad_; }
  [[nodiscard]] std::size_t num_ops() const noexcept { return mixed_.num_ops(); }
  [[nodiscard]] int partial() const noexcept { return k_; }
  [[nodiscard]] MixedOp& mixed() noexcept { return mixed_; }

  const Tensor& forward(const Tensor& x) override {
    write(x, out_, false);
    return out_;
  }
  void forward_into(const Tensor& x, Tensor& target, bool accumulate) override { write(x, target, accumulate); }
  [[nodiscard]] bool forward_into_is_direct() const noexcept override { return true; }

  const Tensor& backward(const Tensor& dy) override {
    NAS_ASSERT(x_ != nullptr && m_ != nullptr, "PartialChannelMixedOp::backward before forward");
    const int N = dy.dim(0), C = channels_, part = C / k_;
    const std::size_t hw = static_cast<std::size_t>(dy.dim(2)) * static_cast<std::size_t>(dy.dim(3));
    dslice_.resize(slice_.shape());
    dx_.resize(dy.shape());
    const float b = edge_weight_;
    double gb = 0.0;  // dL/db = <dy, output / b>, the output being the shuffled concatenation
    for (int n = 0; n < N; ++n) {
      const float* d = dy.data() + static_cast<std::size_t>(n) * C * hw;
      const float* xs = x_->data() + static_cast<std::size_t>(n) * C * hw;
      const float* ms = m_->data() + static_cast<std::size_t>(n) * part * hw;
      float* dm = dslice_.data() + static_cast<std::size_t>(n) * part * hw;
      float* dx = dx_.data() + static_cast<std::size_t>(n) * C * hw;
      for (int c = 0; c < C; ++c) {
        const int g = c / part, j = c % part;
        const float* src = g == 0 ? ms + static_cast<std::size_t>(j) * hw : xs + static_cast<std::size_t>(c) * hw;
        float* dst = g == 0 ? dm + static_cast<std::size_t>(j) * hw : dx + static_cast<std::size_t>(c) * hw;
        const float* dc = d + static_cast<std::size_t>(j * k_ + g) * hw;
        double acc = 0.0;
        for (std::size_t i = 0; i < hw; ++i) {
          acc += static_cast<double>(dc[i]) * src[i];
          dst[i] = b * dc[i];
        }
        gb += acc;
      }
    }
    edge_grad_ = gb;
    const Tensor& ds = mixed_.backward(dslice_);
    for (int n = 0; n < N; ++n)
      std::copy_n(ds.data() + static_cast<std::size_t>(n) * part * hw, part * hw, dx_.data() + static_cast<std::size_t>(n) * C * hw);
    return dx_;
  }

  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    check_input(in);
    return in;
  }
  [[nodiscard]] double macs(const Shape& in) const override {
    check_input(in);
    return mixed_.macs(in.with(1, channels_ / k_));
  }
  [[nodiscard]] std::string type_name() const override { return "PartialChannelMixedOp"; }
  void release_buffers() override {
    release(slice_, out_, dslice_, dx_);
    Module::release_buffers();
  }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override { mixed_.for_each_child(f); }

 private:
  static int check(const CellOpGeometry& g, int k) {
    if (g.stride != 1 || g.in_channels != g.out_channels)
      throw ConfigError("PartialChannelMixedOp: stride " + std::to_string(g.stride) + ", " + std::to_string(g.in_channels) +
                        " -> " + std::to_string(g.out_channels) +
                        " channels (only stride 1 with as many channels out as in: a reduction edge is not supported)");
    if (k < 1 || g.in_channels % k != 0)
      throw ConfigError("PartialChannelMixedOp: K = " + std::to_string(k) + " must be >= 1 and divide the " +
                        std::to_string(g.in_channels) + " channels");
    return k;
  }
  // target (=, or += with accumulate) b * shuffle(concat(mixture(x[:, :C/K]), x[:, C/K:])):
  // concatenation channel c = g * C/K + j goes to output channel j * K + g.
  void write(const Tensor& x, Tensor& target, bool accumulate) {
    check_input(x.shape());
    const int N = x.dim(0), C = channels_, part = C / k_;
    const std::size_t hw = static_cast<std::size_t>(x.dim(2)) * static_cast<std::size_t>(x.dim(3));
    slice_.resize(x.shape().with(1, part));
    for (int n = 0; n < N; ++n)
      std::copy_n(x.data() + static_cast<std::size_t>(n) * C * hw, part * hw, slice_.data() + static_cast<std::size_t>(n) * part * hw);
    const Tensor& m = mixed_.forward(slice_);
    x_ = &x;
    m_ = &m;
    if (!accumulate) target.resize(x.shape());
    const float b = edge_weight_;
    for (int n = 0; n < N; ++n) {
      const float* xs = x.data() + static_cast<std::size_t>(n) * C * hw;
      const float* ms = m.data() + static_cast<std::size_t>(n) * part * hw;
      float* o = target.data() + static_cast<std::size_t>(n) * C * hw;
      for (int c = 0; c < C; ++c) {
        const int g = c / part, j = c % part;
        const float* src = g == 0 ? ms + static_cast<std::size_t>(j) * hw : xs + static_cast<std::size_t>(c) * hw;
        float* dst = o + static_cast<std::size_t>(j * k_ + g) * hw;
        if (accumulate)
          for (std::size_t i = 0; i < hw; ++i) dst[i] += b * src[i];
        else
          for (std::size_t i = 0; i < hw; ++i) dst[i] = b * src[i];
      }
    }
  }
  void check_input(const Shape& s) const {
    if (s.rank() != 4 || s[1] != channels_)
      throw ConfigError("PartialChannelMixedOp: input " + s.str() + " (expected N x " + std::to_string(channels_) + " x H x W)");
  }

  int k_, channels_;
  MixedOp mixed_;
  float edge_weight_ = 1.0f;
  double edge_grad_ = 0.0;
  const Tensor* x_ = nullptr;  // the last forward's input and mixture, for dL/db
  const Tensor* m_ = nullptr;
  Tensor slice_, out_, dslice_, dx_;
};

}  // namespace nas
