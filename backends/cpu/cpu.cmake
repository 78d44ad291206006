# cpu.cmake — per-file ISA flags of the CPU kernels and the optional BLAS
# (OpenBLAS) used for f32 weights. The root CMakeLists already globs
# backends/cpu/*.c; this only adds flags, defines and libraries.
set(_tern_cpu_dir ${CMAKE_CURRENT_SOURCE_DIR}/backends/cpu)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i[3-6]86")
  set_source_files_properties(${_tern_cpu_dir}/cpu_kern_avx2.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${_tern_cpu_dir}/cpu_kern_avx512.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
  if(EXISTS ${_tern_cpu_dir}/cpu_kern_avx512.c)
    list(APPEND TERN_DEFINES TERN_CPU_HAVE_AVX512)
  endif()
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  if(EXISTS ${_tern_cpu_dir}/cpu_kern_neon.c)
    list(APPEND TERN_DEFINES TERN_CPU_HAVE_NEON)
  endif()
  # Plain Advanced SIMD is the AArch64 baseline; the SDOT table gets the
  # dot-product extension for its file only and is picked at run time
  # (asimddp in AT_HWCAP).
  set_source_files_properties(${_tern_cpu_dir}/cpu_kern_neondot.c PROPERTIES
    COMPILE_OPTIONS "-march=armv8.2-a+dotprod")
endif()
# Each kernel file compiles to nothing on CPUs it is not for.

option(TERN_BLAS "Use OpenBLAS for f32 weights on the CPU" ON)
if(TERN_BLAS)
  find_path(TERN_CBLAS_INCLUDE cblas.h
    PATH_SUFFIXES openblas-pthread openblas x86_64-linux-gnu/openblas-pthread
    aarch64-linux-gnu/openblas-pthread)
  find_library(TERN_OPENBLAS_LIB NAMES openblas)
  if(TERN_CBLAS_INCLUDE AND TERN_OPENBLAS_LIB)
    list(APPEND TERN_PRIVATE_LIBS ${TERN_OPENBLAS_LIB})
    list(APPEND TERN_DEFINES TERN_CPU_HAVE_BLAS)
    set_source_files_properties(${_tern_cpu_dir}/cpu_linear.c PROPERTIES
      INCLUDE_DIRECTORIES ${TERN_CBLAS_INCLUDE})
    string(APPEND TERN_PC_LIBS_PRIVATE " -lopenblas")
    message(STATUS "tern: CPU f32 weights use OpenBLAS (${TERN_OPENBLAS_LIB})")
  else()
    message(STATUS "tern: OpenBLAS not found; CPU f32 weights use plain loops")
  endif()
endif()

# The elementwise/norm kernels (cpu_eltwise_*.c): one file per ISA, each
# compiling to nothing on CPUs it is not for.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i[3-6]86")
  set_source_files_properties(${_tern_cpu_dir}/cpu_eltwise_avx2.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${_tern_cpu_dir}/cpu_eltwise_avx512.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mavx512f")
endif()
