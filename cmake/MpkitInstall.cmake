include(CMakePackageConfigHelpers)

set(MPKIT_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mpkit)

# Two export sets, so that a program asking only for components that do not
# need hiredis never looks for it: mpkitTargets (ipc, locking, shared_arrays,
# pools, pi) and mpkitRemoteTargets (ipc_remote, and the umbrella mpkit::mpkit,
# which links it).
foreach(component IN LISTS MPKIT_COMPONENTS)
  if(component STREQUAL "ipc_remote")
    set(export_set mpkitRemoteTargets)
  else()
    set(export_set mpkitTargets)
  endif()
  install(TARGETS mpkit_${component} EXPORT ${export_set}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  get_target_property(include_dir mpkit_${component} MPKIT_INCLUDE_DIR)
  install(DIRECTORY ${include_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(TARGETS mpkit EXPORT mpkitRemoteTargets)
if(TARGET mpkit_cli)
  install(TARGETS mpkit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT mpkitTargets NAMESPACE mpkit:: DESTINATION ${MPKIT_CONFIG_DIR})
install(EXPORT mpkitRemoteTargets NAMESPACE mpkit:: DESTINATION ${MPKIT_CONFIG_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mpkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mpkitConfig.cmake
  INSTALL_DESTINATION ${MPKIT_CONFIG_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mpkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/mpkitConfig.cmake
  ${PROJECT_BINARY_DIR}/mpkitConfigVersion.cmake
  DESTINATION ${MPKIT_CONFIG_DIR})
