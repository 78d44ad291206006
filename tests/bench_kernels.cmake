# The kernel benchmark's CI smoke run: `tern bench kernels --backend all
# --quick --json` (small shapes, few repetitions) and its JSON document
# checked against the schema of docs/BENCH.md with json-c
# (tests/bench_json_check.c). Backends without a device report "skipped".
find_library(TERN_JSONC_LIB json-c)
find_path(TERN_JSONC_INCLUDE json-c/json.h)
if(TARGET tern AND TARGET tern_bench AND TERN_JSONC_LIB AND TERN_JSONC_INCLUDE)
  add_executable(bench_json_check ${CMAKE_CURRENT_LIST_DIR}/bench_json_check.c)
  target_include_directories(bench_json_check PRIVATE ${TERN_JSONC_INCLUDE})
  target_link_libraries(bench_json_check PRIVATE ${TERN_JSONC_LIB} m)
  add_test(NAME bench_kernels_quick
           COMMAND sh -c "\"$1\" bench kernels --backend all --quick --json > \"$3\" && \"$2\" \"$3\" cpu vulkan opencl"
                   sh $<TARGET_FILE:tern> $<TARGET_FILE:bench_json_check>
                   ${CMAKE_CURRENT_BINARY_DIR}/bench_kernels_quick.json)
  set_tests_properties(bench_kernels_quick PROPERTIES TIMEOUT 300)
  if(TERN_SANITIZE)
    # lavapipe and PoCL's LLVM leak a little per instance in their own code;
    # LeakSanitizer's exit would also cut the JSON short
    set_tests_properties(bench_kernels_quick PROPERTIES
                         ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
elseif(TARGET bench_kernels)
  message(STATUS "tern: json-c not found; bench_kernels_quick only checks "
                 "that a JSON document comes out")
  add_test(NAME bench_kernels_quick COMMAND bench_kernels --quick --json)
  set_tests_properties(bench_kernels_quick PROPERTIES TIMEOUT 300
    PASS_REGULAR_EXPRESSION "\"results\":\\[")
endif()
