// Callback hooks: optional, detected at compile time; returning true asks the run to stop.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "nas/core/budget.hpp"
#include "nas/core/history.hpp"

namespace nas {

/// Handed to `on_begin`: what is about to run.
struct RunInfo {
  std::string strategy;  ///< e.g. "RegularizedEvolution"
  Budget budget;
};

/// Handed to `on_epoch` by strategies and estimators that train (DARTS, supernets,
/// TrainedEstimator): one entry per finished epoch.
struct EpochInfo {
  std::size_t epoch = 0;        ///< 1-based
  std::size_t epochs = 0;       ///< planned total (0 if unknown)
  double train_loss = 0.0;
  double valid_accuracy = 0.0;  ///< NaN when not measured
  double seconds = 0.0;         ///< wall time of this epoch
};

/// Where an estimator that trains reports each finished epoch. RunContext hands one to
/// estimators whose `evaluate(arch, fidelity, sink)` takes it, and forwards what it gets
/// to the run's callbacks' `on_epoch`.
using EpochSink = std::function<void(const EpochInfo&)>;

/// A callback is any object with some of these members (all optional):
///
///     void/bool on_begin(const RunInfo&);
///     void/bool on_trial(const Trial<Arch>&, const History<Arch>&);
///     void/bool on_generation(std::size_t generation, const History<Arch>&);
///     void/bool on_epoch(const EpochInfo&);
///     void      on_end(const History<Arch>&);
///
/// A hook returning `true` asks the strategy to stop after the current step.
namespace detail {

template <class R>
constexpr bool as_stop(R&& r) {
  if constexpr (std::is_convertible_v<R, bool>)
    return static_cast<bool>(r);
  else
    return false;
}

// Runs one hook call; a bool result is a stop request, a void one never stops.
template <class F>
bool call_hook(F&& call) {
  if constexpr (std::is_void_v<decltype(call())>) {
    call();
    return false;
  } else {
    return as_stop(call());
  }
}

template <class C>
bool call_on_begin(C& c, const RunInfo& info) {
  if constexpr (requires { c.on_begin(info); })
    return call_hook([&] { return c.on_begin(info); });
  else
    return false;
}

template <class C, class Arch>
bool call_on_trial(C& c, const Trial<Arch>& t, const History<Arch>& h) {
  if constexpr (requires { c.on_trial(t, h); })
    return call_hook([&] { return c.on_trial(t, h); });
  else
    return false;
}

template <class C, class Arch>
bool call_on_generation(C& c, std::size_t g, const History<Arch>& h) {
  if constexpr (requires { c.on_generation(g, h); })
    return call_hook([&] { return c.on_generation(g, h); });
  else
    return false;
}

template <class C>
bool call_on_epoch(C& c, const EpochInfo& e) {
  if constexpr (requires { c.on_epoch(e); })
    return call_hook([&] { return c.on_epoch(e); });
  else
    return false;
}

/// Whether a callback type has an `on_epoch` hook.
template <class C>
inline constexpr bool has_on_epoch = requires(C& c, const EpochInfo& e) { c.on_epoch(e); };

template <class C, class Arch>
void call_on_end(C& c, const History<Arch>& h) {
  if constexpr (requires { c.on_end(h); }) c.on_end(h);
}

}  // namespace detail

/// Calls a hook on every callback of a pack (all of them, even after one asks to stop)
/// and returns whether any asked to stop.
template <class... Cs>
bool notify_begin(const RunInfo& info, Cs&... cs) {
  (void)info;
  return (false | ... | detail::call_on_begin(cs, info));
}
template <class Arch, class... Cs>
bool notify_trial(const Trial<Arch>& t, const History<Arch>& h, Cs&... cs) {
  (void)t, (void)h;
  return (false | ... | detail::call_on_trial(cs, t, h));
}
template <class Arch, class... Cs>
bool notify_generation(std::size_t g, const History<Arch>& h, Cs&... cs) {
  (void)g, (void)h;
  return (false | ... | detail::call_on_generation(cs, g, h));
}
template <class... Cs>
bool notify_epoch(const EpochInfo& e, Cs&... cs) {
  (void)e;
  return (false | ... | detail::call_on_epoch(cs, e));
}
template <class Arch, class... Cs>
void notify_end(const History<Arch>& h, Cs&... cs) {
  (void)h;
  (detail::call_on_end(cs, h), ...);
}

}  // namespace nas
