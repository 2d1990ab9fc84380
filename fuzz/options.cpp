// Fuzz target: the options a command line hands the library, as `key=value` lines: a
// strategy by name with its options and a budget, run on a toy space, and the training and
// final-training options' validation. Any combination must run or be refused with a typed
// error; a crash, an untyped exception or a hang (libFuzzer's timeout) is a finding.
#include <nas/estimate/final_plan.hpp>
#include <nas/search/factory.hpp>
#include <nas/testing/toy_estimator.hpp>
#include <nas/testing/toy_spaces.hpp>

#include <charconv>
#include <string>
#include <string_view>

#include "fuzz.hpp"

namespace {

double number(std::string_view v) {
  double d = 0.0;
  if (v == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (v == "inf") return std::numeric_limits<double>::infinity();
  if (v == "-inf") return -std::numeric_limits<double>::infinity();
  std::from_chars(v.data(), v.data() + v.size(), d);
  return d;
}

std::uint64_t count(std::string_view v) {
  std::uint64_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string strategy = "rea";
  nas::StrategyOptions so;
  nas::Budget budget;
  nas::TrainingOptions training;
  nas::FinalPlanOptions plan;
  double noise = 0.0, final_epochs = 1.0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "strategy") strategy = std::string(v);
    else if (k == "seed") so.seed = count(v);
    else if (k == "dedup") so.dedup = v == "1";
    else if (k == "population") so.population = count(v);
    else if (k == "sample") so.sample = count(v);
    else if (k == "asynchronous") so.asynchronous = v == "1";
    else if (k == "learning_rate") so.learning_rate = number(v);
    else if (k == "momentum") so.momentum = number(v);
    else if (k == "eta") so.eta = number(v);
    else if (k == "min_fidelity") so.min_fidelity = number(v);
    else if (k == "max_fidelity") so.max_fidelity = number(v);
    else if (k == "fidelity") so.fidelity = nas::Fidelity{number(v)};
    else if (k == "rung" && so.fidelities.size() < 16) so.fidelities.push_back(number(v));
    else if (k == "evaluations") budget.evaluations = count(v);
    else if (k == "cost_seconds") budget.cost_seconds = number(v);
    else if (k == "noise") noise = number(v);
    else if (k == "epochs") training.epochs = number(v);
    else if (k == "max_epochs") training.max_epochs = number(v);
    else if (k == "batch_size") training.batch_size = count(v);
    else if (k == "lr") training.lr = number(v);
    else if (k == "channels") training.network.channels = static_cast<int>(count(v) % 100000);
    else if (k == "cells") training.network.cells = static_cast<int>(count(v) % 100000);
    else if (k == "grad_clip") training.grad_clip = number(v);
    else if (k == "label_smoothing") training.label_smoothing = number(v);
    else if (k == "members") plan.members = static_cast<int>(count(v) % 1000);
    else if (k == "member_epochs") plan.member_epochs = number(v);
    else if (k == "widen_from") plan.widen_from = number(v);
    else if (k == "augment_from") plan.augment_from = number(v);
    else if (k == "final_epochs") final_epochs = number(v);
  }
  // The run is bounded here, whatever the input asks: a toy space and at most 200 trials.
  if (!budget.evaluations || *budget.evaluations > 200) budget.evaluations = 200;
  if (so.fidelity.epochs > 1e6 || so.max_fidelity > 1e6 || so.min_fidelity > 1e6) return 0;  // ladders of huge rungs only take long
  nas_fuzz::expect_only_typed_errors([&] {
    const nas::testing::OneMaxSpace space(4, 3, 7);
    nas::testing::ToyEstimator<nas::testing::OneMaxSpace> est(space, {.noise = noise});
    const auto chosen = nas::make_strategy(strategy, so);
    (void)chosen.run(space, est, budget);
  });
  nas_fuzz::expect_only_typed_errors([&] { training.validate("fuzz"); });
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::plan_final_epochs(training, plan, final_epochs); });
  return 0;
}
