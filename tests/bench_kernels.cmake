# The kernel benchmark's CI smoke run: small shapes, few repetitions, and the
# JSON document must come out (bench/ is added before testing is enabled,
# so the test is registered here).
if(TARGET bench_kernels)
  add_test(NAME bench_kernels_quick COMMAND bench_kernels --quick --json)
  set_tests_properties(bench_kernels_quick PROPERTIES TIMEOUT 300
    PASS_REGULAR_EXPRESSION "\"results\":\\[")
endif()
