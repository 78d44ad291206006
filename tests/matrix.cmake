# matrix.cmake — test_matrix drives the built `tern` binary (tern matrix,
# tern tune): tell it where the binary is and build it first.
if(TARGET test_matrix AND TARGET tern)
  add_dependencies(test_matrix tern)
  set_property(TEST test_matrix APPEND PROPERTY ENVIRONMENT
               "TERN_BIN=$<TARGET_FILE:tern>")
endif()
