# Tests of the text module (src/text): see docs/text.md.
if(TARGET narrate_text)
  nr_add_test(test_text SOURCES test_text.c LIBS narrate_text LABELS unit)
  nr_add_test(test_text_load SOURCES test_text_load.c LIBS narrate_text LABELS unit)

  # The committed EPUBs must be what their scripts make from the sources.
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_FOUND)
    set(_d ${CMAKE_BINARY_DIR}/text-regen)
    add_test(NAME text_epubs_reproducible COMMAND sh -c
      "rm -rf '${_d}' && mkdir -p '${_d}' && \
       '${Python3_EXECUTABLE}' '${CMAKE_SOURCE_DIR}/scripts/make-sample-epub.py' \
         '${CMAKE_SOURCE_DIR}/examples/the-lighthouse-keepers-clock.md' '${_d}/sample.epub' && \
       cmp '${_d}/sample.epub' '${CMAKE_SOURCE_DIR}/examples/the-lighthouse-keepers-clock.epub' && \
       '${Python3_EXECUTABLE}' '${CMAKE_SOURCE_DIR}/tests/data/text/make-fixtures.py' '${_d}' && \
       for f in '${_d}'/*.epub; do case \"$f\" in */sample.epub) continue;; esac; \
         cmp \"$f\" '${CMAKE_SOURCE_DIR}/tests/data/text/'\"$(basename \"$f\")\" || exit 1; done && \
       rm -rf '${_d}'")
    set_tests_properties(text_epubs_reproducible PROPERTIES LABELS unit TIMEOUT 120)
  endif()
endif()
