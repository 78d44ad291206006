# opencl.cmake — the OpenCL backend: host sources, the ICD loader, CLBlast,
# and the OpenCL C kernels of shaders/opencl embedded as C strings.
find_package(OpenCL REQUIRED)
find_library(TERN_CLBLAST_LIB clblast)
find_path(TERN_CLBLAST_INCLUDE clblast_c.h)

file(GLOB TERN_CL_HOST_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/backends/opencl/*.c)
file(GLOB TERN_CL_KERNELS CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/shaders/opencl/*.cl)
list(SORT TERN_CL_KERNELS)

set(TERN_CL_GENERATED ${CMAKE_BINARY_DIR}/generated/tern_cl_sources.h)
add_custom_command(
  OUTPUT ${TERN_CL_GENERATED}
  COMMAND ${CMAKE_COMMAND} -DOUT=${TERN_CL_GENERATED}
          "-DSOURCES=${TERN_CL_KERNELS}"
          -P ${CMAKE_CURRENT_SOURCE_DIR}/backends/opencl/embed_cl.cmake
  DEPENDS ${TERN_CL_KERNELS}
          ${CMAKE_CURRENT_SOURCE_DIR}/backends/opencl/embed_cl.cmake
  COMMENT "Embedding OpenCL kernels"
  VERBATIM)
add_custom_target(tern_cl_sources DEPENDS ${TERN_CL_GENERATED})

list(APPEND TERN_SOURCES ${TERN_CL_HOST_SOURCES})
list(APPEND TERN_OBJ_DEPENDS tern_cl_sources)
list(APPEND TERN_DEFINES TERN_HAVE_OPENCL CL_TARGET_OPENCL_VERSION=120)
# The library path rather than the OpenCL::OpenCL target: tern_static
# exports its link libraries, and consumers of the installed package should
# not need FindOpenCL.
list(APPEND TERN_PRIVATE_LIBS ${OpenCL_LIBRARIES})
include_directories(${OpenCL_INCLUDE_DIRS})
set(TERN_PC_LIBS_PRIVATE "${TERN_PC_LIBS_PRIVATE} -lOpenCL")
if(TERN_CLBLAST_LIB AND TERN_CLBLAST_INCLUDE)
  list(APPEND TERN_DEFINES TERN_HAVE_CLBLAST)
  list(APPEND TERN_PRIVATE_LIBS ${TERN_CLBLAST_LIB})
  set(TERN_PC_LIBS_PRIVATE "${TERN_PC_LIBS_PRIVATE} -lclblast")
  message(STATUS "tern: OpenCL backend with CLBlast (${TERN_CLBLAST_LIB})")
else()
  message(STATUS "tern: OpenCL backend without CLBlast (own f32 kernels)")
endif()

# The OpenCL kernel benchmark (bench/bench_opencl.c) is built here rather than
# in bench/CMakeLists.txt so that it exists whether or not that file lists it.
if(TERN_BUILD_BENCH AND NOT TARGET bench_opencl)
  add_executable(bench_opencl ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_opencl.c)
  # tern_bench (bench/CMakeLists.txt): bench_common's JSON writer
  target_link_libraries(bench_opencl PRIVATE tern_bench tern_internal)
endif()
