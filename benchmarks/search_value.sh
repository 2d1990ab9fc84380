#!/usr/bin/env bash
# Does the main job's search pay for itself? For each budget and seed: the main job
# (search_fashion_mnist), then search_controls --job, which gives uniformly random cells,
# the all-nor_conv_3x3 cell and NB201's ResNet-like cell the final training the job gave
# its winner (same time after the search, same width, ensemble and augmentation rules, same
# split, seed and threads), tested once on the same test images. Then search_value_summary
# writes the table, search_value.{csv,json} and one figure per budget.
#
# Usage: benchmarks/search_value.sh [OUT]          (default out/search_value)
# Environment: BUDGETS (default "900 1800"), SEEDS ("0 1 2"), RANDOM_CELLS (3),
#              JOB_ARGS (more options for search_fashion_mnist, e.g. "--objective final"),
#              NAS_BUILD_DIR (default build).
#
# Timed work: run it alone on the machine (the job and the controls are budgeted in
# wall-clock seconds). Defaults take about 9 hours on 2 cores. A run whose result is there
# already is skipped, so a stopped script, started again, continues where it stopped (the
# run it was in starts again from scratch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NAS_BUILD_DIR:-$root/build}
out=${1:-out/search_value}
budgets=${BUDGETS:-900 1800}
seeds=${SEEDS:-0 1 2}
random_cells=${RANDOM_CELLS:-3}
read -r -a job_args <<<"${JOB_ARGS:-}"
for v in $budgets $seeds $random_cells; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "benchmarks/search_value.sh: '$v' in BUDGETS, SEEDS or RANDOM_CELLS is not a whole number" >&2; exit 2; }
done
"$root/scripts/build" --target search_fashion_mnist --target search_controls --target search_value_summary
mkdir -p "$out"
for budget in $budgets; do
  for seed in $seeds; do
    run="$out/b${budget}_s${seed}"
    if [[ ! -f "$run/job/result.json" ]]; then
      rm -rf "$run"
      echo "== main job: budget $budget s, seed $seed"
      "$build/examples/search_fashion_mnist" --budget "$budget" --seed "$seed" --out "$run/job" "${job_args[@]}"
    fi
    if [[ ! -f "$run/controls/controls.json" ]]; then
      echo "== controls: budget $budget s, seed $seed"
      "$build/examples/search_controls" --job "$run/job" --random "$random_cells" --out "$run/controls"
    fi
  done
done
"$build/benchmarks/search_value_summary" --dir "$out"
