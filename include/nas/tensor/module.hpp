// Module: the small virtual interface every layer implements (forward, backward, parameters, MACs).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/core/rng.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

class Tracer;  // nas/tensor/trace.hpp

/// What a Parameter is for. Optimizers of different kinds take different groups: DARTS
/// (Liu et al. 2019) steps the architecture weights (alpha) with Adam and the network
/// weights with SGD; buffers (BatchNorm's running statistics) are state without a gradient,
/// saved and restored with the network but never optimized.
enum class ParamGroup : std::uint8_t { weight, architecture, buffer };

/// "weight", "architecture", "buffer".
[[nodiscard]] inline const char* to_string(ParamGroup g) noexcept {
  switch (g) {
    case ParamGroup::weight: return "weight";
    case ParamGroup::architecture: return "architecture";
    case ParamGroup::buffer: return "buffer";
  }
  return "?";
}

/// A tensor of a module's state: a learnable value and its gradient (same shape), or a
/// buffer (group `buffer`: no gradient storage). `name` is local to the owning module
/// ("weight", "running_mean"); Module::named_parameters() prefixes the path of submodules.
///
/// `has_grad` says whether a backward added into `grad` since the last zero_grad(); it
/// plays the part of PyTorch's `grad is not None`, so that optimizers skip a parameter no
/// backward reached (an op not sampled this step). Every backward that adds into `grad`
/// sets it (code writing `grad` by hand sets it too); zero_grad() clears it.
struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;
  ParamGroup group = ParamGroup::weight;
  bool has_grad = false;

  Parameter() = default;
  Parameter(std::string n, const Shape& shape, ParamGroup g = ParamGroup::weight)
      : name(std::move(n)), value(shape), grad(g == ParamGroup::buffer ? Shape{} : shape), group(g) {}
  [[nodiscard]] std::size_t numel() const noexcept { return value.numel(); }
  /// Learnable (weight or architecture), as opposed to a buffer.
  [[nodiscard]] bool learnable() const noexcept { return group != ParamGroup::buffer; }
  /// Zeroes the gradient and clears has_grad.
  void zero_grad() {
    grad.zero();
    has_grad = false;
  }
};

/// A parameter with its dotted path inside a network ("cells.3.op.1.weight").
struct NamedParameter {
  std::string path;
  Parameter* parameter;
};

/// A differentiable layer. Ops inside a sampled architecture are chosen at run time, so
/// they share this virtual interface; the virtual call happens once per layer per step,
/// never per element.
///
/// Contract of one training step:
/// - `forward(x)` computes the output into a buffer the module owns and returns it. The
///   reference stays valid until the module's next forward (modules that pass data through,
///   such as Identity, return `x` itself, valid while `x` is). The module may keep a pointer
///   to `x` for backward: `x` must stay alive and unchanged until backward returns.
/// - `backward(dy)` takes dL/dy (shape of the last output), returns dL/dx (a buffer the
///   module owns) and ADDS the parameter gradients into `Parameter::grad`, as PyTorch does,
///   setting `Parameter::has_grad`; call zero_grad() before each step.
/// - A module instance remembers one call: forward twice then backward twice is not
///   supported. To apply the same weights twice in one step, call forward/backward in
///   pairs (forward a, backward a, forward b, backward b) or use two instances.
/// Buffers are resized (not reallocated) when the shape repeats, so after the first step
/// of a given shape no call allocates.
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  virtual const Tensor& forward(const Tensor& x) = 0;
  virtual const Tensor& backward(const Tensor& dy) = 0;
  /// forward(x) with the output written into `target` (resized to it) or, with
  /// `accumulate`, added to `target` (which must have the output's shape), for callers
  /// that only sum outputs, such as a cell's nodes. It counts as this module's forward for
  /// backward(), which is unchanged. Modules that can write there directly override it
  /// and then keep no output buffer of their own (BatchNorm2d in training, and Sequential
  /// chains ending in one); the default runs forward() and copies or adds.
  virtual void forward_into(const Tensor& x, Tensor& target, bool accumulate) {
    const Tensor& y = forward(x);
    if (accumulate)
      add_into(target, y);
    else
      target.copy_from(y);
  }
  /// Whether forward_into() writes into its target directly now (rather than through a
  /// buffer and a copy), so that callers can keep other outputs by reference instead.
  [[nodiscard]] virtual bool forward_into_is_direct() const noexcept { return false; }
  /// The output shape for an input of shape `in` (throws ConfigError if `in` does not fit).
  [[nodiscard]] virtual Shape output_shape(const Shape& in) const = 0;
  /// Multiply-accumulates per image for an input of shape `in` (batch dimension ignored),
  /// counted as AutoDL-Projects' get_model_infos does for NAS-Bench-201: Conv2d
  /// k_h*k_w*(C_in/groups)*C_out*H_out*W_out (+ C_out*H_out*W_out with a bias), Linear
  /// in*out (+ out with a bias); pooling, BN, activations and additions count 0.
  [[nodiscard]] virtual double macs(const Shape& in) const {
    (void)in;
    return 0.0;
  }
  /// A short type name ("Conv2d", "BatchNorm2d").
  [[nodiscard]] virtual std::string type_name() const = 0;
  /// Adds the primitive ops computing this module's output from node `x` to the tracer's
  /// graph and returns the output node's id (see nas/tensor/trace.hpp and nas::trace).
  /// Every module of the library overrides it; the default says the module cannot be traced.
  virtual int trace(Tracer& t, int x) {
    (void)t;
    (void)x;
    throw ConfigError("Module::trace: " + type_name() + " cannot be traced (it does not override trace)");
  }

  /// Calls `f(name, child)` for each direct submodule, in a fixed order.
  virtual void for_each_child(const std::function<void(const std::string&, Module&)>& f) { (void)f; }
  /// Appends this module's own parameters and buffers (not its children's). A module may
  /// also list a Parameter it does not own, to share it: a Parameter owned by an ancestor
  /// or a sibling (which must outlive this module), such as one architecture tensor read
  /// by every cell of a supernet, or a weight tied between two layers (Linear::share_weight,
  /// Conv2d::share_weight). Listings visit a shared Parameter once, under the path where
  /// the depth-first walk meets it first; its gradient sums the contributions of all uses.
  virtual void own_parameters(std::vector<Parameter*>& out) { (void)out; }

  /// The learnable parameters (weights and architecture), depth first, own before
  /// children, each once.
  [[nodiscard]] std::vector<Parameter*> parameters() {
    std::vector<Parameter*> out = unique_state();
    std::erase_if(out, [](const Parameter* p) { return !p->learnable(); });
    return out;
  }
  /// The parameters of one group, in the same order.
  [[nodiscard]] std::vector<Parameter*> parameters(ParamGroup group) {
    std::vector<Parameter*> out = unique_state();
    std::erase_if(out, [group](const Parameter* p) { return p->group != group; });
    return out;
  }
  /// The learnable parameters with their paths.
  [[nodiscard]] std::vector<NamedParameter> named_parameters() {
    std::vector<NamedParameter> out = named_state();
    std::erase_if(out, [](const NamedParameter& p) { return !p.parameter->learnable(); });
    return out;
  }
  /// The parameters of one group with their paths.
  [[nodiscard]] std::vector<NamedParameter> named_parameters(ParamGroup group) {
    std::vector<NamedParameter> out = named_state();
    std::erase_if(out, [group](const NamedParameter& p) { return p.parameter->group != group; });
    return out;
  }
  /// The buffers (BatchNorm's running statistics), with and without their paths.
  [[nodiscard]] std::vector<Parameter*> buffers() { return parameters(ParamGroup::buffer); }
  [[nodiscard]] std::vector<NamedParameter> named_buffers() { return named_parameters(ParamGroup::buffer); }
  /// Everything a snapshot or a saved file holds: all parameters and buffers, each once,
  /// depth first, own before children, with their paths (the first path for a shared one).
  [[nodiscard]] std::vector<NamedParameter> named_state() {
    std::vector<NamedParameter> out;
    std::unordered_set<const Parameter*> seen;
    collect_named(out, seen, "");
    return out;
  }
  /// Elements of the learnable parameters (buffers not counted, as torch's
  /// sum(p.numel() for p in model.parameters())).
  [[nodiscard]] std::size_t num_parameters() {
    std::size_t n = 0;
    for (Parameter* p : parameters()) n += p->numel();
    return n;
  }
  /// Zeroes every gradient and clears has_grad; reuses a per-thread list, so it does not
  /// allocate per step.
  void zero_grad() {
    thread_local std::vector<Parameter*> scratch;
    scratch.clear();
    collect(scratch);
    for (Parameter* p : scratch) p->zero_grad();
  }
  /// Frees what the last forward and backward left allocated in this module and its
  /// children (outputs, dL/dx, scratch), keeping the parameters, their gradients and the
  /// buffers (running statistics); the next forward allocates again. A supernet that
  /// runs one op per edge calls it on the ops that stop running (GDAS, single-path
  /// one-shot: Supernet::release_inactive_ops), so that its memory holds only the ops
  /// that run. Call it between steps, never between a forward and its backward.
  virtual void release_buffers() {
    for_each_child([](const std::string&, Module& m) { m.release_buffers(); });
  }
  /// Training mode (batch statistics, dropout on) or evaluation mode, recursively.
  void train(bool on = true) {
    training_ = on;
    for_each_child([on](const std::string&, Module& m) { m.train(on); });
  }
  void eval() { train(false); }
  [[nodiscard]] bool is_training() const noexcept { return training_; }

 protected:
  /// Frees the storage of each tensor (for release_buffers()).
  template <class... T>
  static void release(T&... tensors) {
    ((tensors = Tensor()), ...);
  }

 private:
  // Every listed Parameter, shared ones possibly more than once (zeroing twice is harmless).
  void collect(std::vector<Parameter*>& out) {
    own_parameters(out);
    for_each_child([&out](const std::string&, Module& m) { m.collect(out); });
  }
  // Every Parameter once, in listing order (as named_state() without building paths).
  std::vector<Parameter*> unique_state() {
    std::vector<Parameter*> all;
    collect(all);
    std::unordered_set<const Parameter*> seen;
    std::erase_if(all, [&seen](const Parameter* p) { return !seen.insert(p).second; });
    return all;
  }
  void collect_named(std::vector<NamedParameter>& out, std::unordered_set<const Parameter*>& seen,
                     const std::string& prefix) {
    std::vector<Parameter*> own;
    own_parameters(own);
    for (Parameter* p : own)
      if (seen.insert(p).second) out.push_back({prefix + p->name, p});
    for_each_child([&](const std::string& name, Module& m) { m.collect_named(out, seen, prefix + name + "."); });
  }

  bool training_ = true;
};

/// How Conv2d and Linear initialise their weights.
enum class Init {
  /// PyTorch's default for nn.Conv2d / nn.Linear: kaiming_uniform_(a = sqrt(5)), i.e.
  /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  torch_default,
  /// He et al. 2015 for ReLU nets, fan_in mode: N(0, 2/fan_in); bias 0.
  kaiming_normal,
  /// He uniform, fan_in mode: U(-sqrt(6/fan_in), sqrt(6/fan_in)); bias 0.
  kaiming_uniform,
};

/// Fills `weight` (and `bias` if not null) for a layer with `fan_in` inputs per output.
inline void init_weights(Init init, std::size_t fan_in, Tensor& weight, Tensor* bias, Rng& rng) {
  const double f = static_cast<double>(fan_in == 0 ? 1 : fan_in);
  switch (init) {
    case Init::torch_default: {
      const auto bound = static_cast<float>(1.0 / std::sqrt(f));
      weight.fill_uniform(rng, -bound, bound);
      if (bias) bias->fill_uniform(rng, -bound, bound);
      break;
    }
    case Init::kaiming_normal:
      weight.fill_normal(rng, 0.0f, static_cast<float>(std::sqrt(2.0 / f)));
      if (bias) bias->zero();
      break;
    case Init::kaiming_uniform: {
      const auto bound = static_cast<float>(std::sqrt(6.0 / f));
      weight.fill_uniform(rng, -bound, bound);
      if (bias) bias->zero();
      break;
    }
  }
}

}  // namespace nas
