# The main job end to end on tiny stand-in data: it runs a short search and final
# training (counted in trials and epochs, and once by the clock) and writes its report;
# pointed at a directory without the data, it says how to get it; its zero-cost warm start
# hands the search the proxy's best first; the network it saves exports to PyTorch. Arguments: -DWRITER=<nas_tiny_fashion_mnist>
# -DJOB=<search_fashion_mnist> -DEXPORT=<export_pytorch> -DWORK_DIR=<dir>
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/empty")

execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/empty" RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "apt-get install dataset-fashion-mnist" OR NOT err MATCHES "--data DIR")
  message(FATAL_ERROR "missing data: expected exit code 2 and install instructions, got ${rc}:\n${err}")
endif()

execute_process(COMMAND "${WRITER}" "${WORK_DIR}/data" 1500 300 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not write the tiny data set (${rc})")
endif()

execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/data" --holdout 20000 RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--holdout 20000 must be in \\[1, 1499\\]")
  message(FATAL_ERROR "bad --holdout: expected exit code 2 and the range, got ${rc}:\n${err}")
endif()

execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/data" --ensemble 0 RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--ensemble '0' must be auto or a whole number >= 1")
  message(FATAL_ERROR "bad --ensemble: expected exit code 2 and the rule, got ${rc}:\n${err}")
endif()

execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/data" --final-epochs -1 RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--final-epochs -1 must be a finite number >= 0")
  message(FATAL_ERROR "bad --final-epochs: expected exit code 2 and the rule, got ${rc}:\n${err}")
endif()

# Counted in work, not seconds, so that what the run buys does not depend on the
# machine's speed (or a sanitizer's slowdown): 6 trials, then two networks of 3 epochs
# each, averaged. The budget is only a ceiling here.
execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/data" --out "${WORK_DIR}/out" --budget 3000 --trials 6 --final-epochs 3
                        --holdout 300 --subset 400 --valid 200 --threads 1 --augment on --ensemble 2
                        --warm-start synflow --warm-candidates 20
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the main job failed (${rc}):\n${out}\n${err}")
endif()
foreach(f report.md search.svg journal.jsonl history.csv result.json network_0.nasstate network_1.nasstate)
  if(NOT EXISTS "${WORK_DIR}/out/${f}")
    message(FATAL_ERROR "the main job did not write ${f}")
  endif()
endforeach()
file(READ "${WORK_DIR}/out/result.json" json)
string(JSON acc GET "${json}" test_accuracy)
string(JSON trials GET "${json}" trials)
string(JSON augment GET "${json}" final_augment)
string(JSON epochs GET "${json}" final_epochs)
string(JSON networks GET "${json}" final_networks_trained)
string(JSON alone LENGTH "${json}" network_test_accuracies)
file(READ "${WORK_DIR}/out/report.md" report)
if(NOT networks EQUAL 2 OR NOT alone EQUAL 2 OR NOT report MATCHES "2 networks averaged")
  message(FATAL_ERROR "expected two networks averaged, got ${networks} (${alone} accuracies)\n${json}\n${report}")
endif()
# 10 classes: chance is 10 %. The patterns are easy, so a trained network is far above it.
if(acc LESS 60 OR NOT trials EQUAL 6 OR NOT augment OR epochs LESS 2.999 OR epochs GREATER 3.001)
  message(FATAL_ERROR "implausible result: test accuracy ${acc} %, ${trials} trials, augment ${augment}, ${epochs} epochs\n${json}")
endif()
# The warm start scored 20 cells and the search's first trial is SynFlow's best of them.
string(JSON warm GET "${json}" warm_start)
string(JSON warm_n GET "${json}" warm_candidates)
string(JSON warm_best GET "${json}" warm_best)
file(STRINGS "${WORK_DIR}/out/history.csv" history LIMIT_COUNT 2)
list(GET history 1 first_trial)
string(REPLACE "," ";" first_trial "${first_trial}")
list(GET first_trial 1 first_arch)
if(NOT warm STREQUAL "synflow" OR NOT warm_n EQUAL 20 OR NOT first_arch STREQUAL warm_best)
  message(FATAL_ERROR "warm start: ${warm}, ${warm_n} candidates, first trial ${first_arch}, proxy's best ${warm_best}")
endif()
# The saved network travels on: export_pytorch loads it and writes it as torch.nn code.
if(EXPORT)
  execute_process(COMMAND "${EXPORT}" --space nb201 --network "${WORK_DIR}/out/network_0.nasstate" --out "${WORK_DIR}/export"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK_DIR}/export/network.py" OR NOT out MATCHES "nb201 network")
    message(FATAL_ERROR "export_pytorch could not export the saved network (${rc}):\n${out}\n${err}")
  endif()
endif()
# The time-budgeted path (the default): it must finish and report whatever the
# machine's speed; what 45 s buy is not judged here.
execute_process(COMMAND "${JOB}" --data "${WORK_DIR}/data" --out "${WORK_DIR}/timed" --budget 45 --holdout 300 --subset 400
                        --valid 200 --threads 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK_DIR}/timed/result.json")
  message(FATAL_ERROR "the time-budgeted main job failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "main job on tiny data: test accuracy ${acc} % after ${trials} trials and ${epochs} final epochs")
