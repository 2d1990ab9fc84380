#!/usr/bin/env bash
# Does the main job's search pay for itself? For each budget and seed: the main job
# (search_fashion_mnist), then search_controls --job, which gives uniformly random cells,
# the all-nor_conv_3x3 cell and NB201's ResNet cell the final training the job gave
# its winner (same time after the search, same width, ensemble and augmentation rules, same
# split, seed and threads), tested once on the same test images. Then search_value_summary
# writes the table, search_value.{csv,json} and one figure per budget.
#
# Usage: benchmarks/search_value.sh [KEEP [WORK]]
#   KEEP  where each finished run's small files go: commit.txt, machine.txt, job/result.json,
#         job/report.md, job/search.svg, controls/controls.json, and the summary (default
#         benchmarks/reports/search_value)
#   WORK  scratch for the runs: journals, trained networks (default out/search_value)
# Environment: BUDGETS (default "900 1800"), SEEDS ("0 1 2"), RANDOM_CELLS (3),
#              JOB_ARGS (more options for search_fashion_mnist, e.g. "--objective accuracy"),
#              NAS_BUILD_DIR (default build).
#
# Timed work: run it alone on the machine (the job and the controls are budgeted in
# wall-clock seconds). Defaults take about 9 hours on 2 cores. A run already in KEEP is
# skipped, and a job already in WORK gets its controls, so a stopped script, started again,
# continues where it stopped (the run it was in starts again). Every run records the commit
# of the code its programs were built from and the machine it ran on; the summary warns when
# they are not all one. A job of another commit or machine is run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NAS_BUILD_DIR:-$root/build}
keep=${1:-$root/benchmarks/reports/search_value}
out=${2:-out/search_value}
budgets=${BUDGETS:-900 1800}
seeds=${SEEDS:-0 1 2}
random_cells=${RANDOM_CELLS:-3}
read -r -a job_args <<<"${JOB_ARGS:-}"
for v in $budgets $seeds $random_cells; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "benchmarks/search_value.sh: '$v' in BUDGETS, SEEDS or RANDOM_CELLS is not a whole number" >&2; exit 2; }
done
"$root/scripts/build" --target search_fashion_mnist --target search_controls --target search_value_summary
mkdir -p "$out" "$keep"
# The code the programs are built from: the last commit that changed it ("-dirty" when it
# has changes now). Commits of reports or docs alone, such as this script's own results,
# leave it as it was, so that the runs of several sessions can share it.
code=(include examples scripts CMakeLists.txt benchmarks/CMakeLists.txt benchmarks/search_value_summary.cpp)
commit=$(git -C "$root" log -1 --format=%h --abbrev=12 HEAD -- "${code[@]}" 2>/dev/null || true)
[[ -n "$commit" ]] || commit=unknown
if [[ "$commit" != unknown ]] && ! git -C "$root" diff --quiet HEAD -- "${code[@]}" 2>/dev/null; then commit="$commit-dirty"; fi
# The machine: processor, widest vector instructions the kernels use, cores.
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
isa=scalar
grep -qw avx2 /proc/cpuinfo 2>/dev/null && isa=avx2
grep -qw avx512f /proc/cpuinfo 2>/dev/null && isa=avx512f
machine="${cpu:-unknown processor}, $isa, $(nproc) cores"
for budget in $budgets; do
  for seed in $seeds; do
    name="b${budget}_s${seed}"
    run="$out/$name"
    [[ -f "$keep/$name/controls/controls.json" ]] && { echo "== $name: in $keep already"; continue; }
    if [[ ! -f "$run/job/result.json" || "$(cat "$run/commit.txt" 2>/dev/null)" != "$commit" ||
          "$(cat "$run/machine.txt" 2>/dev/null)" != "$machine" ]]; then
      rm -rf "$run"
      mkdir -p "$run"
      echo "$commit" >"$run/commit.txt"
      echo "$machine" >"$run/machine.txt"
      echo "== main job: budget $budget s, seed $seed (commit $commit, $machine)"
      "$build/examples/search_fashion_mnist" --budget "$budget" --seed "$seed" --out "$run/job" "${job_args[@]}"
    fi
    echo "== controls: budget $budget s, seed $seed"
    "$build/examples/search_controls" --job "$run/job" --random "$random_cells" --out "$run/controls"
    mkdir -p "$keep/$name/job" "$keep/$name/controls"
    cp "$run/commit.txt" "$run/machine.txt" "$keep/$name/"
    cp "$run/job/result.json" "$run/job/report.md" "$run/job/search.svg" "$keep/$name/job/"
    cp "$run/controls/controls.json" "$keep/$name/controls/"
  done
done
"$build/benchmarks/search_value_summary" --dir "$keep"
