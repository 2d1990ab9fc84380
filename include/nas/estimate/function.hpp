// FunctionEstimator: any callable `Arch -> double` or `(Arch, Fidelity) -> Evaluation` as an estimator.
#pragma once

#include <concepts>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "nas/core/evaluation.hpp"

namespace nas {

/// Adapts a callable to the Estimator concept. Accepted call forms, tried in order:
/// `f(arch, fidelity)` and `f(arch)`, returning either an Evaluation or a number (the
/// score; cost and epochs are then 0). A non-finite score and an exception thrown by the
/// callable become failed evaluations carrying the reason, never a crash of the search.
///
///     nas::FunctionEstimator<nas::Nb201Arch> est([](const nas::Nb201Arch& a) { return a.ops[0] * 1.0; });
///
/// `F` defaults to a type-erased std::function so the type can be named without the
/// lambda; make_function_estimator<Arch>(f) keeps the callable's own type.
template <class ArchT, class F = std::function<Evaluation(const ArchT&, Fidelity)>>
class FunctionEstimator {
 public:
  using Arch = ArchT;

  template <class G>
    requires std::constructible_from<F, G> && (!std::same_as<std::remove_cvref_t<G>, FunctionEstimator>)
  explicit FunctionEstimator(G&& g) : f_(std::forward<G>(g)) {}

  // For the type-erased default: wrap any supported callable.
  template <class G>
    requires(!std::constructible_from<F, G>) && (!std::same_as<std::remove_cvref_t<G>, FunctionEstimator>) &&
            std::same_as<F, std::function<Evaluation(const Arch&, Fidelity)>>
  explicit FunctionEstimator(G g)
      : f_([g = std::move(g)](const Arch& a, Fidelity fid) mutable { return FunctionEstimator::call(g, a, fid); }) {}

  [[nodiscard]] Evaluation evaluate(const Arch& a, Fidelity fid = {}) {
    try {
      return call(f_, a, fid).check_finite();
    } catch (const std::exception& ex) {
      return Evaluation::failed(std::string("FunctionEstimator: ") + ex.what());
    }
  }

 private:
  template <class G>
  static Evaluation call(G& g, const Arch& a, Fidelity fid) {
    if constexpr (std::invocable<G&, const Arch&, Fidelity>) {
      return to_evaluation(std::invoke(g, a, fid));
    } else {
      static_assert(std::invocable<G&, const Arch&>,
                    "nas::FunctionEstimator: the callable must accept (const Arch&, nas::Fidelity) or (const Arch&).");
      return to_evaluation(std::invoke(g, a));
    }
  }
  template <class R>
  static Evaluation to_evaluation(R&& r) {
    if constexpr (std::convertible_to<R, Evaluation>) {
      return Evaluation(std::forward<R>(r));
    } else {
      static_assert(std::convertible_to<R, double>,
                    "nas::FunctionEstimator: the callable must return nas::Evaluation or a number (the score).");
      Evaluation e;
      e.score = static_cast<double>(r);
      return e;
    }
  }

  F f_;
};

/// A FunctionEstimator that keeps the callable's type (no std::function indirection).
template <class Arch, class G>
[[nodiscard]] FunctionEstimator<Arch, std::decay_t<G>> make_function_estimator(G&& g) {
  return FunctionEstimator<Arch, std::decay_t<G>>(std::forward<G>(g));
}

}  // namespace nas
