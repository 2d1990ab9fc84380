// Metric names: the one vocabulary estimators write into Evaluation::metrics and reports read.
#pragma once

#include <string_view>

namespace nas::metric {

// Accuracies are in percent, losses are mean cross-entropy, times in seconds unless the
// name says otherwise.

inline constexpr std::string_view valid_accuracy = "valid_accuracy";
inline constexpr std::string_view valid_loss = "valid_loss";
inline constexpr std::string_view test_accuracy = "test_accuracy";
inline constexpr std::string_view train_loss = "train_loss";
inline constexpr std::string_view train_seconds = "train_seconds";
/// Epochs the evaluated network has trained in all (with resuming: more than this call's).
inline constexpr std::string_view epochs_total = "epochs_total";
/// Epochs a resumed network had trained before this call (0: trained from scratch).
inline constexpr std::string_view resumed_from_epochs = "resumed_from_epochs";
/// Threads the evaluation's training ran on.
inline constexpr std::string_view threads = "threads";
/// Learnable scalars of the network (a count, not millions).
inline constexpr std::string_view params = "params";
/// Multiply-accumulates of one forward pass per image (a count). NAS-Bench-201 and most
/// NAS papers call this figure "FLOPs"; it is named for what it counts.
inline constexpr std::string_view macs = "macs";
/// Inference time per image in milliseconds.
inline constexpr std::string_view latency_ms = "latency_ms";
/// A tabular benchmark's accuracies after its full (200-epoch) schedule.
inline constexpr std::string_view valid_accuracy_200 = "valid_accuracy_200";
inline constexpr std::string_view test_accuracy_200 = "test_accuracy_200";
/// The seed of the one training run a score was drawn from (tabular per-seed mode).
inline constexpr std::string_view seed = "seed";

}  // namespace nas::metric
