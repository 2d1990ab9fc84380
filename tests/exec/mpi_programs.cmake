# nb201_search and search_fashion_mnist under mpirun -np 3 (rank 0 drives, ranks 1 and 2
# evaluate), against the same programs on a thread pool of 2:
# - a synchronous search (sh, rs) journals the same trials in the same order (the driver
#   tells results in proposal order) and recommends the same cell;
# - a resume under mpirun continues a journal that a thread run wrote, to the same trials;
# - the main job finishes on tiny data and writes its report and result.json;
# - --workers other than N-1, --all and --runs > 1 are refused on every rank with status 2.
# Nothing here depends on timing: budgets are simulated seconds or counts of trials.
# Arguments: -DMPIEXEC=<mpiexec> -DNB201=<nb201_search> -DJOB=<search_fashion_mnist>
# -DWRITER=<nas_tiny_fashion_mnist> -DWORK_DIR=<dir>
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpirun "${MPIEXEC}" -np 3 --allow-run-as-root --oversubscribe)

# The trial lines of a journal as "id arch fidelity score status" records ("asked" and
# "wall" depend on when results came back, so they are left out).
function(journal_trials path out)
  file(STRINGS "${path}" lines)
  set(trials)
  foreach(line IN LISTS lines)
    string(JSON id ERROR_VARIABLE not_trial GET "${line}" id)
    if(not_trial)
      continue()
    endif()
    string(JSON arch GET "${line}" arch)
    string(JSON fidelity GET "${line}" fidelity)
    string(JSON score GET "${line}" score)
    string(JSON status GET "${line}" status)
    list(APPEND trials "${id} ${arch} ${fidelity} ${score} ${status}")
  endforeach()
  set(${out} "${trials}" PARENT_SCOPE)
endfunction()

function(expect_same_trials a b what)
  journal_trials("${a}" ta)
  journal_trials("${b}" tb)
  list(LENGTH ta na)
  list(LENGTH tb nb)
  if(na EQUAL 0 OR NOT na EQUAL nb)
    message(FATAL_ERROR "${what}: ${na} trials in ${a}, ${nb} in ${b}")
  endif()
  math(EXPR last "${na} - 1")
  foreach(i RANGE ${last})
    list(GET ta ${i} x)
    list(GET tb ${i} y)
    if(NOT x STREQUAL y)
      message(FATAL_ERROR "${what}: trial ${i} differs:\n  ${x}\n  ${y}")
    endif()
  endforeach()
  message(STATUS "${what}: the same ${na} trials")
endfunction()

# The "recommends <cell>: 200-epoch valid .., test .." part of nb201_search's report line.
function(recommendation text out)
  string(REGEX MATCH "recommends [^\n]*" r "${text}")
  if(NOT r)
    message(FATAL_ERROR "no recommendation in:\n${text}")
  endif()
  set(${out} "${r}" PARENT_SCOPE)
endfunction()

foreach(strategy sh rs)
  set(common --strategy ${strategy} --runs 1 --budget 30000 --seed 4)
  execute_process(COMMAND "${NB201}" ${common} --workers 2 --journal "${WORK_DIR}/${strategy}_threads.jsonl"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE threads_out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nb201_search ${strategy} on 2 threads failed (${rc}):\n${threads_out}\n${err}")
  endif()
  execute_process(COMMAND ${mpirun} "${NB201}" ${common} --journal "${WORK_DIR}/${strategy}_mpi.jsonl"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE mpi_out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT mpi_out MATCHES "on 2 MPI ranks")
    message(FATAL_ERROR "nb201_search ${strategy} under mpirun -np 3 failed (${rc}):\n${mpi_out}\n${err}")
  endif()
  expect_same_trials("${WORK_DIR}/${strategy}_threads.jsonl" "${WORK_DIR}/${strategy}_mpi.jsonl" "${strategy}: mpirun -np 3 against 2 threads")
  recommendation("${threads_out}" best_threads)
  recommendation("${mpi_out}" best_mpi)
  if(NOT best_threads STREQUAL best_mpi)
    message(FATAL_ERROR "${strategy}: the recommendations differ:\n  threads: ${best_threads}\n  mpirun:  ${best_mpi}")
  endif()

  # The thread run's journal cut after its run line and 20 trials, as if it had died
  # there, resumed under mpirun: the same trials as the uninterrupted run.
  file(STRINGS "${WORK_DIR}/${strategy}_threads.jsonl" lines)
  list(SUBLIST lines 0 21 head)
  list(JOIN head "\n" text)
  file(WRITE "${WORK_DIR}/${strategy}_resumed.jsonl" "${text}\n")
  execute_process(COMMAND ${mpirun} "${NB201}" ${common} --resume "${WORK_DIR}/${strategy}_resumed.jsonl"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE resumed_out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT err MATCHES "resuming .* after 20 journaled trials")
    message(FATAL_ERROR "nb201_search ${strategy} --resume under mpirun failed (${rc}):\n${resumed_out}\n${err}")
  endif()
  expect_same_trials("${WORK_DIR}/${strategy}_threads.jsonl" "${WORK_DIR}/${strategy}_resumed.jsonl"
                     "${strategy}: a thread run's journal resumed under mpirun -np 3")
  recommendation("${resumed_out}" best_resumed)
  if(NOT best_threads STREQUAL best_resumed)
    message(FATAL_ERROR "${strategy} resumed: the recommendations differ:\n  threads: ${best_threads}\n  resumed: ${best_resumed}")
  endif()
endforeach()

# Options that do not fit mpirun: status 2 and the reason, before any work.
function(expect_refused expected)
  execute_process(COMMAND ${mpirun} ${ARGN} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "${expected}" OR err MATCHES "terminate called")
    message(FATAL_ERROR "mpirun -np 3 ${ARGN}\n  expected exit 2 and stderr matching '${expected}'\n  got ${rc}\n  stderr: ${err}\n  stdout: ${out}")
  endif()
endfunction()
expect_refused("--workers 3: under mpirun -np 3 it must be 2" "${NB201}" --runs 1 --workers 3)
expect_refused("--all: under mpirun" "${NB201}" --all)
expect_refused("--runs 500: under mpirun it must be 1" "${NB201}")

# The main job on tiny stand-in data, as examples/main_job_on_tiny_data runs it.
execute_process(COMMAND "${WRITER}" "${WORK_DIR}/data" 1500 300 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not write the tiny data set (${rc})")
endif()
expect_refused("--workers 1: under mpirun -np 3 it must be 2" "${JOB}" --data "${WORK_DIR}/data" --workers 1)
execute_process(COMMAND ${mpirun} "${JOB}" --data "${WORK_DIR}/data" --out "${WORK_DIR}/job" --budget 3000 --trials 4 --final-epochs 1
                        --holdout 300 --subset 400 --valid 200 --threads 1 --ensemble 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK_DIR}/job/result.json" OR NOT EXISTS "${WORK_DIR}/job/report.md")
  message(FATAL_ERROR "search_fashion_mnist under mpirun -np 3 failed (${rc}):\n${out}\n${err}")
endif()
file(READ "${WORK_DIR}/job/result.json" json)
string(JSON trials GET "${json}" trials)
string(JSON failures GET "${json}" failures)
journal_trials("${WORK_DIR}/job/journal.jsonl" journaled)
list(LENGTH journaled journaled)
if(NOT trials EQUAL 4 OR NOT failures EQUAL 0 OR NOT journaled EQUAL 4)
  message(FATAL_ERROR "search_fashion_mnist under mpirun: ${trials} trials (${failures} failed), ${journaled} journaled; expected 4, 0, 4\n${json}")
endif()
string(REGEX MATCHALL "winner: " winners "${out}")
list(LENGTH winners printed)
if(NOT printed EQUAL 1)
  message(FATAL_ERROR "search_fashion_mnist under mpirun: the report was printed ${printed} times (rank 0 alone prints it)\n${out}")
endif()
message(STATUS "search_fashion_mnist under mpirun -np 3: 4 trials on 2 ranks, result.json written")
