# The limit on test sources: no .c or .h under tests/ over MAX lines (the
# issue "One seam per job": a file that grows past it is split by
# concern, as tests/lib/ and the test_durability_* suites were).
# Run by ctest as lint.test_source_sizes:
#   cmake -DDIR=<tests dir> -DMAX=1200 -P source_sizes.cmake
file(GLOB_RECURSE sources ${DIR}/*.c ${DIR}/*.h)
set(over "")
foreach(f ${sources})
  file(READ ${f} text)
  string(REGEX MATCHALL "\n" newlines "${text}")
  list(LENGTH newlines n)
  if(n GREATER MAX)
    file(RELATIVE_PATH rel ${DIR} ${f})
    string(APPEND over "  tests/${rel}: ${n} lines\n")
  endif()
endforeach()
if(over)
  message(FATAL_ERROR "test sources over ${MAX} lines:\n${over}")
endif()
list(LENGTH sources count)
message(STATUS "${count} test sources, none over ${MAX} lines")
