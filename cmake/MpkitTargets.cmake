# mpkit_add_library(<folder> SOURCES ... [DEPENDS mpkit::x ...] [PRIVATE_DEPENDS ...])
#
# One library per top-level folder: target mpkit_<folder>, alias
# mpkit::<folder>, public headers in <folder>/include, exported as
# mpkit::<folder>.
function(mpkit_add_library folder)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PRIVATE_DEPENDS" ${ARGN})
  set(target mpkit_${folder})
  add_library(${target} ${ARG_SOURCES})
  add_library(mpkit::${folder} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${folder}
    OUTPUT_NAME mpkit_${folder}
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC ${ARG_DEPENDS} PRIVATE ${ARG_PRIVATE_DEPENDS})
  mpkit_set_warnings(${target})
endfunction()

# Warnings for code we own (never for consumers of the installed package).
function(mpkit_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wnull-dereference -Wimplicit-fallthrough
    $<$<BOOL:${MPKIT_WARNINGS_AS_ERRORS}>:-Werror>)
endfunction()

include(GNUInstallDirs)
