# Helpers shared by the project's CMake files.

# ee_add_compiler_library(name SOURCES... [LINK_LIBS ...] [DEPENDS ...])
# A static library of compiler code linked against the shared libMLIR/libLLVM
# (never the static component libraries, which would register options twice).
function(ee_add_compiler_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK_LIBS;DEPENDS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS} MLIR LLVM)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
endfunction()

# ee_add_tool(name SOURCES... LINK_LIBS ...): an executable over compiler libraries.
function(ee_add_tool name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK_LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LINK_LIBS} MLIR LLVM)
endfunction()
