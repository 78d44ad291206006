# The NEON kernels, cross-built for AArch64 and checked bit for bit against
# the reference under qemu-aarch64 (user mode). Registered only where the
# cross compiler and qemu are installed (Debian: gcc-aarch64-linux-gnu,
# qemu-user); elsewhere the test does not exist rather than pass silently.
find_program(TERN_AARCH64_CC aarch64-linux-gnu-gcc)
find_program(TERN_QEMU_AARCH64 qemu-aarch64)
if(TERN_AARCH64_CC AND TERN_QEMU_AARCH64 AND
   CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  add_test(NAME cpu_neon_qemu
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cpu_neon_check.sh
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/neon)
  set_tests_properties(cpu_neon_qemu PROPERTIES TIMEOUT 600
    PASS_REGULAR_EXPRESSION "all bit-identical \\(2 kernel tables")
endif()
