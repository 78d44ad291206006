# vulkan.cmake — the Vulkan backend: host sources, GLSL compute shaders
# compiled to SPIR-V at build time and embedded as C arrays. Included by the
# root CMakeLists when TERN_VULKAN=ON. The loader is dlopen()ed at run time,
# so a machine without libvulkan still runs tern (zero Vulkan devices).

find_path(TERN_VULKAN_INCLUDE_DIR vulkan/vulkan.h
          HINTS $ENV{VULKAN_SDK}/include)
find_program(TERN_GLSLANG glslangValidator HINTS $ENV{VULKAN_SDK}/bin)
if(NOT TERN_VULKAN_INCLUDE_DIR OR NOT TERN_GLSLANG)
  message(WARNING "TERN_VULKAN: Vulkan headers or glslangValidator not found; "
                  "building without the Vulkan backend")
  return()
endif()

set(_vk_src ${CMAKE_CURRENT_SOURCE_DIR}/backends/vulkan)
set(_vk_shd ${CMAKE_CURRENT_SOURCE_DIR}/shaders/vulkan)
set(_vk_gen ${CMAKE_BINARY_DIR}/generated)
set(_vk_spv ${CMAKE_BINARY_DIR}/spirv)
file(MAKE_DIRECTORY ${_vk_gen} ${_vk_spv})

# Shader variants: NAME SOURCE [DEFINES...]. One source, many variants: the
# defines select the op or the feature tier, never a copy of the file.
include(${_vk_src}/shaders.cmake)
file(GLOB _vk_glsl CONFIGURE_DEPENDS ${_vk_shd}/*.glsl)

set(_vk_spv_files "")
set(_vk_names "")
foreach(_v IN LISTS TERN_VK_SHADER_VARIANTS)
  string(REPLACE ":" ";" _parts "${_v}")
  list(GET _parts 0 _name)
  list(GET _parts 1 _file)
  list(LENGTH _parts _n)
  set(_defs "")
  if(_n GREATER 2)
    list(SUBLIST _parts 2 -1 _dl)
    foreach(_d IN LISTS _dl)
      list(APPEND _defs "-D${_d}")
    endforeach()
  endif()
  set(_out ${_vk_spv}/${_name}.spv)
  add_custom_command(
    OUTPUT ${_out}
    COMMAND ${TERN_GLSLANG} -V --target-env vulkan1.1 -S comp ${_defs}
            -I${_vk_shd} -o ${_out} ${_vk_shd}/${_file}
    DEPENDS ${_vk_shd}/${_file} ${_vk_glsl} ${_vk_src}/shaders.cmake
    COMMENT "glslang ${_name}"
    VERBATIM)
  list(APPEND _vk_spv_files ${_out})
  list(APPEND _vk_names ${_name})
endforeach()

add_custom_command(
  OUTPUT ${_vk_gen}/tern_vk_spirv.h
  COMMAND ${CMAKE_COMMAND} -DSPV_DIR=${_vk_spv} "-DNAMES=${_vk_names}"
          -DOUT=${_vk_gen}/tern_vk_spirv.h -P ${_vk_src}/embed_spirv.cmake
  DEPENDS ${_vk_spv_files} ${_vk_src}/embed_spirv.cmake
  COMMENT "embedding SPIR-V"
  VERBATIM)
add_custom_target(tern_vk_shaders DEPENDS ${_vk_gen}/tern_vk_spirv.h)

file(GLOB _vk_sources CONFIGURE_DEPENDS ${_vk_src}/*.c)
# {VK_STRUCTURE_TYPE_...} designates sType and zeroes the rest on purpose.
set_source_files_properties(${_vk_sources} PROPERTIES COMPILE_OPTIONS
                            -Wno-missing-field-initializers)
list(APPEND TERN_SOURCES ${_vk_sources})
list(APPEND TERN_DEFINES TERN_HAVE_VULKAN)
list(APPEND TERN_PRIVATE_LIBS ${CMAKE_DL_LIBS})
list(APPEND TERN_OBJ_DEPENDS tern_vk_shaders)
include_directories(${TERN_VULKAN_INCLUDE_DIR})
set(TERN_PC_LIBS_PRIVATE "${TERN_PC_LIBS_PRIVATE} -ldl")

# The Vulkan part of the kernel benchmark (bench/bench_vulkan.c), linked to
# the benchmark helpers that bench/CMakeLists.txt builds (tern_bench).
if(TERN_BUILD_BENCH AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_common.h)
  add_executable(bench_vulkan ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_vulkan.c)
  target_link_libraries(bench_vulkan PRIVATE tern_bench)
endif()
