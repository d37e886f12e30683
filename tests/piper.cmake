# Piper voice engine and our own test voice (tests/data/voice, made by
# scripts/make-test-voice.py). Needs the nn module and the voice module
# built with Piper support.
if(TARGET narrate_nn AND TARGET narrate_voice AND EXISTS ${CMAKE_SOURCE_DIR}/src/voice/piper.c)
  # nn engine vs ONNX Runtime's reference outputs (relative L2 <= 1e-4).
  nr_add_test(test_piper_reference SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_piper_reference.c
              LIBS narrate_nn narrate_core LABELS unit TIMEOUT 300)
  nr_add_test(test_piper SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_piper.c
              LIBS narrate_voice narrate_nn narrate_core LABELS unit TIMEOUT 300)
  # The conformance runner over the same cases, when it is built.
  if(TARGET narrate-onnx-test)
    add_test(NAME onnx_test_voices
             COMMAND narrate-onnx-test --threads 1 ${CMAKE_SOURCE_DIR}/tests/data/voice/tiny
                     ${CMAKE_SOURCE_DIR}/tests/data/voice/multi)
    set_tests_properties(onnx_test_voices PROPERTIES LABELS unit TIMEOUT 300)
  endif()
endif()
