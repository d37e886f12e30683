# Tests of the text module (src/text): see docs/text.md.
if(TARGET narrate_text)
  nr_add_test(test_text SOURCES test_text.c LIBS narrate_text LABELS unit)
  nr_add_test(test_text_load SOURCES test_text_load.c LIBS narrate_text LABELS unit)
endif()
