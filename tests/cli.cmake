# cli.cmake — the `tern` CLI's end-to-end test (tests/cli_test.sh) and its
# JSON checker; include()d from tests/CMakeLists.txt.
if(TARGET tern)
  add_executable(json_check ${CMAKE_CURRENT_LIST_DIR}/json_check.c)
  add_test(NAME cli
           COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh $<TARGET_FILE:tern>
                   $<TARGET_FILE:json_check> ${CMAKE_CURRENT_BINARY_DIR}/cli_work)
  set_tests_properties(cli PROPERTIES TIMEOUT 600
                       ENVIRONMENT "TERN_MNIST_DIR=${TERN_MNIST_DIR}")
endif()
