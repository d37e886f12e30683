if(TARGET narrate_render)
  nr_add_test(test_render SOURCES test_render.c
              LIBS narrate_render narrate_voice narrate_text narrate_audio narrate_gpu narrate_report
                   narrate_core
              LABELS e2e TIMEOUT 300)
endif()
if(TARGET narrate)
  add_test(NAME e2e_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cli.sh $<TARGET_FILE:narrate>
           ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e_cli PROPERTIES LABELS e2e TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
if(TARGET narrate AND TARGET narrate_nn)
  add_test(NAME e2e_piper COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/piper.sh $<TARGET_FILE:narrate>
           ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e_piper PROPERTIES LABELS e2e TIMEOUT 900)
endif()
