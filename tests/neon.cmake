# neon.cmake — the AArch64 NEON kernels, cross-built with Debian's
# aarch64-linux-gnu-gcc and checked bit for bit under qemu-user (SDOT table
# with -cpu max, plain NEON with -cpu cortex-a53): tests/neon_qemu.sh.
# Registered only when both tools are installed; on an AArch64 host the
# Criterion suite already covers the NEON tables natively.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  return()
endif()
find_program(TERN_AARCH64_CC aarch64-linux-gnu-gcc)
find_program(TERN_QEMU_AARCH64 qemu-aarch64)
if(TERN_AARCH64_CC AND TERN_QEMU_AARCH64)
  add_test(NAME neon_qemu
    COMMAND ${CMAKE_COMMAND} -E env TERN_AARCH64_CC=${TERN_AARCH64_CC}
            TERN_QEMU_AARCH64=${TERN_QEMU_AARCH64}
            bash ${CMAKE_CURRENT_SOURCE_DIR}/neon_qemu.sh
            ${CMAKE_BINARY_DIR}/neon)
  set_tests_properties(neon_qemu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
else()
  message(STATUS "tern: aarch64-linux-gnu-gcc or qemu-aarch64 not found; "
                 "the NEON check under qemu is skipped (Debian: "
                 "gcc-aarch64-linux-gnu qemu-user)")
endif()
