include(CMakePackageConfigHelpers)

set(MPKIT_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mpkit)

foreach(component IN LISTS MPKIT_COMPONENTS)
  install(TARGETS mpkit_${component} EXPORT mpkitTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${component}/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(TARGETS mpkit EXPORT mpkitTargets)
if(TARGET mpkit_cli)
  install(TARGETS mpkit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT mpkitTargets NAMESPACE mpkit:: DESTINATION ${MPKIT_CONFIG_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mpkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mpkitConfig.cmake
  INSTALL_DESTINATION ${MPKIT_CONFIG_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mpkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/mpkitConfig.cmake
  ${PROJECT_BINARY_DIR}/mpkitConfigVersion.cmake
  DESTINATION ${MPKIT_CONFIG_DIR})
