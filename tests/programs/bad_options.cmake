# Runs a program with bad options, one case at a time, and checks that each is refused
# before any work: exit status 2, one message on stderr that matches the expected text
# (it names the option, the value and what is allowed), and never "terminate called".
# Arguments: -DPROGRAM=<path> -DCASES=<file>; each line of the file is
#   <expected regex> ;; <arg> <arg> ...     (blank lines and lines starting with # skipped)
# -DWORK_DIR=<dir> is where the program runs (a case may write nothing there).
file(STRINGS "${CASES}" lines)
file(MAKE_DIRECTORY "${WORK_DIR}")
set(count 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^[ \t]*(#.*)?$")
    continue()
  endif()
  string(FIND "${line}" ";;" sep)
  if(sep LESS 0)
    message(FATAL_ERROR "${CASES}: a case needs '<expected> ;; <args>': ${line}")
  endif()
  string(SUBSTRING "${line}" 0 ${sep} expected)
  math(EXPR from "${sep} + 2")
  string(SUBSTRING "${line}" ${from} -1 args)
  string(STRIP "${expected}" expected)
  string(STRIP "${args}" args)
  separate_arguments(argv UNIX_COMMAND "${args}")
  execute_process(COMMAND "${PROGRAM}" ${argv} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "${expected}" OR err MATCHES "terminate called")
    message(FATAL_ERROR "${PROGRAM} ${args}\n  expected exit 2 and stderr matching '${expected}'\n  got ${rc}\n  stderr: ${err}\n  stdout: ${out}")
  endif()
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${CASES}: no cases")
endif()
message(STATUS "${count} bad option sets refused with status 2 and a message")
