# gpu module tests. test_gpu runs everywhere: fake traces, the none
# provider, and the NVML provider against stand-in libnvidia-ml
# builds (tests/test_gpu_nvml_double.c, four ABI variants). test_gpu_device needs a real GPU
# (label gpu, exits 77 without one).
if(TARGET narrate_gpu)
  foreach(v MODERN CC OLD MISMATCH)
    string(TOLOWER ${v} lv)
    add_library(nvml_double_${lv} SHARED test_gpu_nvml_double.c)
    target_compile_definitions(nvml_double_${lv} PRIVATE DOUBLE_${v})
    set_target_properties(nvml_double_${lv} PROPERTIES OUTPUT_NAME nvml-double-${lv})
  endforeach()
  nr_add_test(test_gpu SOURCES test_gpu.c LIBS narrate_gpu LABELS unit TIMEOUT 60
    ENV "NVML_DOUBLE_MODERN=$<TARGET_FILE:nvml_double_modern>"
        "NVML_DOUBLE_CC=$<TARGET_FILE:nvml_double_cc>"
        "NVML_DOUBLE_OLD=$<TARGET_FILE:nvml_double_old>"
        "NVML_DOUBLE_MISMATCH=$<TARGET_FILE:nvml_double_mismatch>")
  add_dependencies(test_gpu nvml_double_modern nvml_double_cc nvml_double_old
                   nvml_double_mismatch)
  nr_add_test(test_gpu_watchdog SOURCES test_gpu_watchdog.c LIBS narrate_gpu LABELS unit TIMEOUT 30)
  nr_add_test(test_gpu_device SOURCES test_gpu_device.c LIBS narrate_gpu ${CMAKE_DL_LIBS}
    LABELS gpu TIMEOUT 120)
endif()
# The device-check tools (CUDA test engine + narrate-devcheck) live outside
# src/; they are built only with NARRATE_CUDA=ON and a CUDA toolkit.
if(EXISTS ${CMAKE_SOURCE_DIR}/tools/devcheck/CMakeLists.txt AND NOT TARGET narrate-devcheck)
  add_subdirectory(${CMAKE_SOURCE_DIR}/tools/devcheck ${CMAKE_BINARY_DIR}/tools/devcheck)
endif()
