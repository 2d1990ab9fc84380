# The no-search controls on tiny stand-in data: a short main job (counted in trials and
# epochs), then search_controls on its result.json gives each control cell the same
# final training and writes one row per cell; bad options end in exit status 2.
# Arguments: -DWRITER=<nas_tiny_fashion_mnist> -DJOB=<search_fashion_mnist>
# -DCONTROLS=<search_controls> -DWORK_DIR=<dir>
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${WRITER}" "${WORK_DIR}/data" 1500 300 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not write the tiny data set (${rc})")
endif()

execute_process(COMMAND "${CONTROLS}" --data "${WORK_DIR}/data" RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "give one of --seconds \\(0\\) and --final-epochs \\(0\\) > 0, or --job DIR")
  message(FATAL_ERROR "no time given: expected exit code 2 and the rule, got ${rc}:\n${err}")
endif()
execute_process(COMMAND "${CONTROLS}" --job "${WORK_DIR}/nowhere" RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "--job '.*nowhere': no result.json there")
  message(FATAL_ERROR "missing job: expected exit code 2 and the path, got ${rc}:\n${err}")
endif()

set(common --data "${WORK_DIR}/data" --holdout 300 --threads 1)
# The job ranks its candidates by the accuracy its final training is predicted to give.
execute_process(COMMAND "${JOB}" ${common} --out "${WORK_DIR}/job" --budget 3000 --trials 3 --final-epochs 1 --subset 400
                        --valid 200 --ensemble 1 --objective final
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the main job failed (${rc}):\n${out}\n${err}")
endif()
file(READ "${WORK_DIR}/job/result.json" job_json)
string(JSON objective GET "${job_json}" objective)
file(STRINGS "${WORK_DIR}/job/journal.jsonl" trials REGEX "\"seconds_per_image\"")
list(LENGTH trials n)
if(NOT objective STREQUAL "final" OR n LESS 3 OR NOT err MATCHES "ranking by the accuracy predicted after")
  message(FATAL_ERROR "--objective final: objective '${objective}', ${n} trials with a measured pace:\n${err}")
endif()
execute_process(COMMAND "${CONTROLS}" ${common} --job "${WORK_DIR}/job" --final-epochs 1 --random 2 --out "${WORK_DIR}/controls"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "search_controls failed (${rc}):\n${out}\n${err}")
endif()
file(STRINGS "${WORK_DIR}/controls/controls.csv" lines)
list(LENGTH lines n)
if(NOT n EQUAL 6)  # header, the job's winner, two named cells, two random ones
  message(FATAL_ERROR "expected 5 controls.csv rows, got ${n}:\n${lines}")
endif()
file(READ "${WORK_DIR}/controls/controls.json" json)
foreach(i RANGE 1 4)
  string(JSON acc GET "${json}" controls ${i} accuracy)
  string(JSON epochs GET "${json}" controls ${i} epochs_per_network)
  string(JSON label GET "${json}" controls ${i} label)
  # 10 classes: chance is 10 %; the patterns are easy enough that one epoch is far above it.
  if(acc LESS 40 OR epochs LESS 0.999 OR epochs GREATER 1.001)
    message(FATAL_ERROR "control ${label}: accuracy ${acc} % after ${epochs} epochs\n${json}")
  endif()
endforeach()
string(JSON first GET "${json}" controls 0 label)
string(JSON job_acc GET "${json}" controls 0 accuracy)
file(READ "${WORK_DIR}/job/result.json" job_json)
string(JSON job_test GET "${job_json}" test_accuracy)
if(NOT first STREQUAL "job's winner" OR NOT job_acc EQUAL job_test)
  message(FATAL_ERROR "the first row must be the job's winner at its own test accuracy (${job_test}), got ${first} ${job_acc}")
endif()

# Choosing rules without the test set: trained on the split's training part, scored on its validation part.
execute_process(COMMAND "${CONTROLS}" ${common} --seconds 40 --random 0 --score-on valid --short --out "${WORK_DIR}/valid"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(READ "${WORK_DIR}/valid/controls.json" json)
string(JSON n LENGTH "${json}" controls)
string(JSON on GET "${json}" controls 0 scored_on)
if(NOT rc EQUAL 0 OR NOT n EQUAL 2 OR NOT on STREQUAL "valid")
  message(FATAL_ERROR "--score-on valid: expected 2 rows scored on valid, got ${rc}, ${n}, ${on}:\n${out}\n${err}")
endif()
# --short (timed: 40 s a cell, whatever that buys): each cell also scored as the job's search would, and each ranking's tau.
string(JSON short GET "${json}" controls 1 short_accuracy)
string(JSON predicted GET "${json}" controls 1 predicted_final_accuracy)
string(JSON tau GET "${json}" kendall_tau_short_accuracy)
# The prediction is not checked against the short accuracy: whether 40 s buy more training
# than the short run depends on the machine's speed (under a sanitizer they buy less).
if(short LESS 10 OR predicted LESS 0 OR predicted GREATER 100 OR tau LESS -1 OR tau GREATER 1
   OR NOT out MATCHES "Kendall tau with the final")
  message(FATAL_ERROR "--short: short accuracy ${short}, predicted ${predicted}, tau ${tau}:\n${out}")
endif()
