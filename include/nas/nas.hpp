// Umbrella header: everything in nas except the opt-in test helpers (nas/testing.hpp) and
// nas/report/cli.hpp (CLI11 parsing for programs).
#pragma once

// core
#include "nas/core/ask_tell.hpp"
#include "nas/core/budget.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/history.hpp"
#include "nas/core/metrics.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/core/space_size.hpp"

// tensor
#include "nas/tensor/activation.hpp"
#include "nas/tensor/batch_norm.hpp"
#include "nas/tensor/blocks.hpp"
#include "nas/tensor/conv2d.hpp"
#include "nas/tensor/conv_kernels.hpp"
#include "nas/tensor/dropout.hpp"
#include "nas/tensor/hooks.hpp"
#include "nas/tensor/latency.hpp"
#include "nas/tensor/linear.hpp"
#include "nas/tensor/loss.hpp"
#include "nas/tensor/mobile_blocks.hpp"
#include "nas/tensor/module.hpp"
#include "nas/tensor/npy.hpp"
#include "nas/tensor/optim.hpp"
#include "nas/tensor/pooling.hpp"
#include "nas/tensor/sequential.hpp"
#include "nas/tensor/shape_ops.hpp"
#include "nas/tensor/softmax.hpp"
#include "nas/tensor/state.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/thread_probe.hpp"
#include "nas/tensor/threads.hpp"
#include "nas/tensor/trace.hpp"
#include "nas/tensor/workspace.hpp"

// data
#include "nas/data/augment.hpp"
#include "nas/data/batch.hpp"
#include "nas/data/dataset.hpp"
#include "nas/data/fashion_mnist.hpp"
#include "nas/data/idx.hpp"
#include "nas/data/normalize.hpp"
#include "nas/data/read_file.hpp"
#include "nas/data/resize.hpp"
#include "nas/data/split.hpp"
#include "nas/data/synthetic.hpp"

// space
#include "nas/space/cell_space.hpp"
#include "nas/space/chain_space.hpp"
#include "nas/space/compound_scaling.hpp"
#include "nas/space/nb201_space.hpp"

// model
#include "nas/model/cell_dag.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/model/chain_network.hpp"
#include "nas/model/export_pytorch.hpp"
#include "nas/model/graph.hpp"
#include "nas/model/ops.hpp"
#include "nas/model/plan.hpp"
#include "nas/model/reference.hpp"
#include "nas/model/save.hpp"
#include "nas/model/supernet.hpp"
#include "nas/model/mixed_op.hpp"

// estimate
#include "nas/estimate/cached.hpp"
#include "nas/estimate/final_plan.hpp"
#include "nas/estimate/final_training.hpp"
#include "nas/estimate/function.hpp"
#include "nas/estimate/nb201_table.hpp"
#include "nas/estimate/ranking.hpp"
#include "nas/estimate/supernet_estimator.hpp"
#include "nas/estimate/synthetic.hpp"
#include "nas/estimate/tabular.hpp"
#include "nas/estimate/trained.hpp"
#include "nas/estimate/zero_cost.hpp"
#include "nas/estimate/zero_cost_estimator.hpp"
#include "nas/estimate/zero_cost_proxies.hpp"

// hw
#include "nas/hw/cost.hpp"
#include "nas/hw/device_latency.hpp"
#include "nas/hw/latency.hpp"
#include "nas/hw/latency_table.hpp"
#include "nas/hw/objectives.hpp"
#include "nas/hw/pareto.hpp"

// search
#include "nas/search/asha.hpp"
#include "nas/search/categorical.hpp"
#include "nas/search/categorical_policy.hpp"
#include "nas/search/categorical_view.hpp"
#include "nas/search/darts.hpp"
#include "nas/search/differentiable.hpp"
#include "nas/search/evolution.hpp"
#include "nas/search/factory.hpp"
#include "nas/search/hyperband.hpp"
#include "nas/search/local_search.hpp"
#include "nas/search/nb201_protocol.hpp"
#include "nas/search/nsga2.hpp"
#include "nas/search/oneshot.hpp"
#include "nas/search/random_search.hpp"
#include "nas/search/reinforce.hpp"
#include "nas/search/stopping.hpp"
#include "nas/search/successive_halving.hpp"
#include "nas/search/warm_start.hpp"

// exec
#include "nas/exec/driver.hpp"
#include "nas/exec/mpi.hpp"  // empty unless <mpi.h> is on the include path
#include "nas/exec/search_job.hpp"
#include "nas/exec/serial.hpp"
#include "nas/exec/thread_pool.hpp"

// report
#include "nas/report/csv.hpp"
#include "nas/report/curves.hpp"
#include "nas/report/format.hpp"
#include "nas/report/history_report.hpp"
#include "nas/report/journal.hpp"
#if __has_include(<nlohmann/json.hpp>)
#include "nas/report/journal_reader.hpp"  // needs nlohmann/json (Debian nlohmann-json3-dev)
#include "nas/report/journaled_search.hpp"
#endif
#include "nas/report/json.hpp"
#include "nas/report/markdown.hpp"
#include "nas/report/program.hpp"
#include "nas/report/progress.hpp"
#include "nas/report/svg.hpp"
