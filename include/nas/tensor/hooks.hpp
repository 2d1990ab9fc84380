// Observation hooks: read every module's output, output gradient and parameter gradients by path.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/tensor.hpp"

namespace nas {

/// A module of a network with its dotted path ("body.3.edges.2.nor_conv_3x3.0"), the
/// prefix Module::named_parameters() puts before the module's own parameters.
struct NamedModule {
  std::string path;
  Module* module;
};

/// Every module under `root` (not `root` itself), depth first in for_each_child() order.
[[nodiscard]] inline std::vector<NamedModule> named_modules(Module& root) {
  std::vector<NamedModule> out;
  std::function<void(const std::string&, Module&)> walk = [&](const std::string& prefix, Module& m) {
    m.for_each_child([&](const std::string& name, Module& child) {
      std::string path = prefix.empty() ? name : prefix + "." + name;
      out.push_back({path, &child});
      walk(path, child);
    });
  };
  walk("", root);
  return out;
}

/// One observed tensor: a module's output (forward hook) or the gradient of the loss with
/// respect to that output (backward hook).
struct ModuleEvent {
  std::string_view path;  ///< dotted path from the observed root, as in named_parameters()
  std::string_view type;  ///< the module's type_name() ("ReLU", "Conv2d"), "Cell" for a DARTS cell
  const Module* module;   ///< null for a cell that is not a Module of its own (CellNetwork<CellSpace>)
  const Tensor& tensor;   ///< valid only during the call: copy what you keep
};

/// What to call; every member is optional.
struct Hooks {
  /// After a module's forward, with its output.
  std::function<void(const ModuleEvent&)> forward = nullptr;
  /// Before a module's backward, with dL/d(its output).
  std::function<void(const ModuleEvent&)> backward = nullptr;
  /// After the backward of the module owning `parameter`, whose grad then holds what this
  /// step added; `path` equals the parameter's named_parameters() path.
  std::function<void(std::string_view path, const Parameter& parameter)> parameter = nullptr;
};

class HookScope;

namespace detail {
// The scope observing this thread's module calls, or null. A plain pointer with a
// constant initializer: reading it costs one thread-local load per module call.
inline HookScope*& active_hook_scope() noexcept {
  thread_local HookScope* scope = nullptr;
  return scope;
}
}  // namespace detail

/// Whether a HookScope observes the calling thread. Containers (Sequential, the blocks,
/// cells, networks) read it once per call: with no scope they run their fused fast paths
/// exactly as without hooks; with one they run every layer on its own (a ReLU is not
/// folded into the convolution after it, BatchNorm is not folded into the convolution
/// before it in evaluation, an op does not write into a cell node's sum directly), so
/// that every module's output exists and is reported. Results then equal the fused ones
/// up to float rounding (bit for bit in training).
[[nodiscard]] inline bool hooks_active() noexcept { return detail::active_hook_scope() != nullptr; }

/// Observes the modules of `root` while it lives, on the thread that creates it. Each
/// container reports its direct children, so every module under `root` (not `root`
/// itself) is seen: its output after forward, dL/d(output) before backward, and its own
/// parameters' gradients after backward. Modules outside `root`'s tree are not reported.
/// Open the scope before the forward whose backward you observe. Scopes nest (the inner
/// one observes until it closes); a scope must close on the thread that opened it.
///
///     nas::HookScope scope(net, {.forward = [&](const nas::ModuleEvent& e) {
///                                  if (e.type == "ReLU") codes.push_back(e.tensor); }});
class HookScope {
 public:
  HookScope(Module& root, Hooks hooks) : hooks_(std::move(hooks)), previous_(detail::active_hook_scope()), root_(&root) {
    for (auto& nm : named_modules(root)) {
      Entry e;
      e.type = nm.module->type_name();
      std::vector<Parameter*> own;
      nm.module->own_parameters(own);
      for (Parameter* p : own)  // buffers (BatchNorm's running statistics) have no gradient to report
        if (p->learnable()) e.parameters.emplace_back(nm.path + "." + p->name, p);
      e.path = std::move(nm.path);
      entries_.emplace(nm.module, std::move(e));
    }
    detail::active_hook_scope() = this;
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;
  ~HookScope() { detail::active_hook_scope() = previous_; }

  /// How many modules the scope knows (those under the root).
  [[nodiscard]] std::size_t num_modules() const noexcept { return entries_.size(); }

  /// The path of a module of the observed tree, or null if it is not in it.
  [[nodiscard]] const std::string* path_of(const Module& m) const {
    auto it = entries_.find(&m);
    return it == entries_.end() ? nullptr : &it->second.path;
  }

  // Called by containers through the report_* functions below.
  void forward(const Module& m, const Tensor& y) const {
    if (!hooks_.forward) return;
    if (auto it = entries_.find(&m); it != entries_.end()) hooks_.forward(ModuleEvent{it->second.path, it->second.type, &m, y});
  }
  void backward(const Module& m, const Tensor& dy) const {
    if (!hooks_.backward) return;
    if (auto it = entries_.find(&m); it != entries_.end()) hooks_.backward(ModuleEvent{it->second.path, it->second.type, &m, dy});
  }
  void parameters(const Module& m) const {
    if (!hooks_.parameter) return;
    if (auto it = entries_.find(&m); it != entries_.end())
      for (const auto& [path, p] : it->second.parameters) hooks_.parameter(path, *p);
  }
  // A part of `parent` that is not a module (a DARTS cell): path = parent's path + name.
  void part(bool forward_pass, const Module& parent, std::string_view name, std::string_view type, const Tensor& t) const {
    const auto& hook = forward_pass ? hooks_.forward : hooks_.backward;
    if (!hook) return;
    std::string path;
    if (&parent != root_) {
      const std::string* base = path_of(parent);
      if (!base) return;  // another network's
      path = *base + ".";
    }
    path += name;
    hook(ModuleEvent{path, type, nullptr, t});
  }

 private:
  struct Entry {
    std::string path, type;
    std::vector<std::pair<std::string, Parameter*>> parameters;
  };
  Hooks hooks_;
  HookScope* previous_;
  std::unordered_map<const Module*, Entry> entries_;
  const Module* root_;
};

/// For containers: report child `m`'s output after its forward (a no-op with no scope).
inline void report_forward(const Module& m, const Tensor& y) {
  if (const HookScope* s = detail::active_hook_scope()) s->forward(m, y);
}
/// For containers: report dL/d(child `m`'s output) before its backward.
inline void report_backward(const Module& m, const Tensor& dy) {
  if (const HookScope* s = detail::active_hook_scope()) s->backward(m, dy);
}
/// For containers: report child `m`'s own parameter gradients after its backward.
inline void report_parameters(const Module& m) {
  if (const HookScope* s = detail::active_hook_scope()) s->parameters(m);
}
/// report_backward(m, dy), m.backward(dy), report_parameters(m): a child's backward, observed.
inline const Tensor& observed_backward(Module& m, const Tensor& dy) {
  report_backward(m, dy);
  const Tensor& dx = m.backward(dy);
  report_parameters(m);
  return dx;
}
/// For a network whose parts are not modules (a DARTS cell): report the output (or, with
/// `forward_pass` false, the output gradient) of part `name` of `parent`.
inline void report_part(bool forward_pass, const Module& parent, std::string_view name, std::string_view type,
                        const Tensor& t) {
  if (const HookScope* s = detail::active_hook_scope()) s->part(forward_pass, parent, name, type, t);
}

}  // namespace nas
