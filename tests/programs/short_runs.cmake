# Every example program does real work once, briefly, on data the test writes itself (or on
# the shipped tables): a path through each program's search, training and report code that
# the bad-options cases never reach, and, under scripts/sanitize, under the sanitizers.
# Each run must exit 0 and print the line that says it finished.
# Arguments: -DWRITER=<nas_tiny_fashion_mnist> -DBIN=<directory of the programs> -DWORK_DIR=<dir>
# [-DPROGRAMS=a;b: only these; scripts/sanitize tsan runs the programs that start thread pools]
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${WRITER}" "${WORK_DIR}/data" 600 200 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not write the tiny data set (${rc})")
endif()
set(data "${WORK_DIR}/data")

function(short_run name expect)
  if(DEFINED PROGRAMS AND NOT name IN_LIST PROGRAMS)
    return()
  endif()
  execute_process(COMMAND "${BIN}/${name}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${expect}")
    message(FATAL_ERROR "${name} ${ARGN}: expected exit 0 and output matching '${expect}', got ${rc}:\n${out}\n${err}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

short_run(tour "Regularized evolution")
short_run(space_explorer "architectures" --nodes 2)
# The main job with two candidates trained at once on a thread pool, counted in trials.
short_run(search_fashion_mnist "test accuracy" --data "${data}" --out "${WORK_DIR}/job" --budget 3000 --trials 4
          --final-epochs 1 --holdout 100 --subset 200 --valid 100 --workers 2 --threads 2 --augment off --ensemble 1)
short_run(nb201_search "rea" --strategy rea --runs 2 --budget 20000 --workers 2 --json "${WORK_DIR}/nb201.json")
# GDAS (one sampled op per edge) and second-order DARTS, two epochs with a checkpoint,
# then resumed from it; retraining of the found cell.
short_run(darts_search "genotype: .*retrained from scratch" --space nb201 --variant gdas --data-dir "${data}" --images 256
          --epochs 2 --batch 32 --steps-per-epoch 3 --channels 4 --cells 1 --threads 2 --retrain-epochs 1
          --retrain-images 256 --test-images 100 --checkpoint "${WORK_DIR}/gdas.ckpt" --out "${WORK_DIR}/gdas")
short_run(darts_search "genotype: " --space nb201 --variant darts-v2 --data-dir "${data}" --images 128 --epochs 1
          --batch 32 --steps-per-epoch 2 --channels 4 --cells 1 --threads 2 --retrain-epochs 0 --out "${WORK_DIR}/v2")
short_run(darts_search "pc-darts \\(K = 2\\).*edge weights" --space nb201 --variant pc --partial-channels 2 --data-dir "${data}"
          --images 128 --epochs 1 --batch 32 --steps-per-epoch 2 --channels 4 --cells 1 --threads 2 --retrain-epochs 0)
short_run(oneshot_search "winner .*test accuracy" --sampler enas --supernet-epochs 1 --train-images 256
          --valid-images 128 --score-images 64 --calibration-batches 1 --evaluations 6 --population 3 --tournament 2
          --channels 4 --cells 1 --final-channels 4 --final-epochs 1 --threads 2 --data "${data}" --out "${WORK_DIR}/oneshot")
short_run(zero_cost "synflow" --proxies synflow,naswot,grasp,jacob_cov --sample 4 --batch 8 --workers 2 --data "${data}"
          --json "${WORK_DIR}/zero_cost.json")
short_run(latency_model "batch  1, 1 thread" --samples 2 --calibration 2 --rounds 1 --settings b1t1 --out "${WORK_DIR}/latency")
short_run(latency_model "batch  1, 1 thread" --space chain --samples 2 --calibration 2 --rounds 1 --settings b1t1
          --out "${WORK_DIR}/latency_chain")
