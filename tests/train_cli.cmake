# train_cli.cmake — registers tests/train_cli.sh (the training commands end to
# end) when the CLI is built.
if(TARGET tern)
  add_test(NAME train_cli
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train_cli.sh $<TARGET_FILE:tern>
            ${CMAKE_CURRENT_BINARY_DIR}/train_cli_work)
  set_tests_properties(train_cli PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
