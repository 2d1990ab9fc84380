// Sequential: a chain of Modules run in order (and backward in reverse).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nas/tensor/module.hpp"

namespace nas {

/// Owns its layers; forward feeds each output to the next, backward runs in reverse.
/// Children are named "0", "1", ... in parameter paths, as in torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() = default;

  /// Appends a layer and returns it.
  Module& add(std::unique_ptr<Module> m) {
    if (!m) throw ConfigError("Sequential::add: null module at position " + std::to_string(layers_.size()));
    layers_.push_back(std::move(m));
    return *layers_.back();
  }
  /// Constructs a layer of type T in place and returns it.
  template <class T, class... Args>
  T& emplace(Args&&... args) {
    auto p = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *p;
    layers_.push_back(std::move(p));
    return ref;
  }

  const Tensor& forward(const Tensor& x) override {
    const Tensor* h = &x;
    for (auto& l : layers_) h = &l->forward(*h);
    return *h;
  }
  const Tensor& backward(const Tensor& dy) override {
    const Tensor* g = &dy;
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) g = &(*it)->backward(*g);
    return *g;
  }
  [[nodiscard]] Shape output_shape(const Shape& in) const override {
    Shape s = in;
    for (const auto& l : layers_) s = l->output_shape(s);
    return s;
  }
  [[nodiscard]] double macs(const Shape& in) const override {
    double m = 0.0;
    Shape s = in;
    for (const auto& l : layers_) {
      m += l->macs(s);
      s = l->output_shape(s);
    }
    return m;
  }
  [[nodiscard]] std::string type_name() const override { return "Sequential"; }
  void for_each_child(const std::function<void(const std::string&, Module&)>& f) override {
    for (std::size_t i = 0; i < layers_.size(); ++i) f(std::to_string(i), *layers_[i]);
  }

  [[nodiscard]] std::size_t size() const noexcept { return layers_.size(); }
  [[nodiscard]] Module& operator[](std::size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::unique_ptr<Module>> layers_;
};

}  // namespace nas
