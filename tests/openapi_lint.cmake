# gateway/openapi.json through `redocly lint` (npm @redocly/cli) with the
# repository's redocly.yaml: errors and warnings both fail. Run by ctest as
# lint.openapi_redocly:
#   cmake -DSRC=<repository> -DBIN=<build tree> -P openapi_lint.cmake
# redocly is looked for as $REDOCLY, then in the build tree (tools/test.sh
# installs it there with npm when npm is available), then on PATH. Without
# it the test prints "SKIPPED: ..." and ctest reports it skipped: the
# build and the other tests need no network.
if(DEFINED ENV{REDOCLY} AND NOT "$ENV{REDOCLY}" STREQUAL "")
  set(redocly "$ENV{REDOCLY}")
else()
  find_program(redocly redocly
    PATHS ${BIN}/npm/node_modules/.bin NO_DEFAULT_PATH)
  if(NOT redocly)
    find_program(redocly redocly)
  endif()
endif()
if(NOT redocly)
  message("SKIPPED: redocly not found (tools/test.sh installs it into "
          "${BIN}/npm with npm; or set REDOCLY=/path/to/redocly)")
  return()
endif()
execute_process(
  COMMAND ${redocly} lint --config ${SRC}/redocly.yaml
  WORKING_DIRECTORY ${SRC}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out
  TIMEOUT 240)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "redocly lint failed (${rc})")
endif()
if(out MATCHES "You have [0-9]+ warning")
  message(FATAL_ERROR "redocly lint: warnings (fix them, or turn the rule "
                      "off in redocly.yaml saying why)")
endif()
