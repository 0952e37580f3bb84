# mpkit_add_library(<name> SOURCES ... [DEPENDS mpkit::x ...] [PRIVATE_DEPENDS ...])
#
# One library per folder (and one for ipc/remote): target mpkit_<name>, alias
# mpkit::<name>, public headers in the calling folder's include/, exported as
# mpkit::<name> (the find_package component <name>).
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
  # Read by MpkitInstall: which folder's headers belong to this component.
  set_target_properties(${target} PROPERTIES MPKIT_INCLUDE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/include)
  mpkit_set_warnings(${target})
endfunction()

# mpkit_add_experiments(<folder> SOURCES ... DEPENDS ...)
#
# A folder's lab (its experiment drivers, under <folder>/experiments/): target
# mpkit_<folder>_experiments, alias mpkit::<folder>_experiments, headers in
# experiments/include/mpkit/<folder>/experiments/. Linked by the CLI, the tests
# and the benchmarks; never installed and never part of mpkit::mpkit, so the
# libraries users link carry no experiment code.
function(mpkit_add_experiments folder)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PRIVATE_DEPENDS" ${ARGN})
  set(target mpkit_${folder}_experiments)
  add_library(${target} STATIC ${ARG_SOURCES})
  add_library(mpkit::${folder}_experiments ALIAS ${target})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
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
