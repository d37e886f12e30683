# Finished outputs (issue 6): encoders, loudness, limiter, resampling,
# subtitles, and renders checked with Debian's ffmpeg/ffprobe.
# libebur128 is the independent reference for narrate's own meter.
pkg_check_modules(NR_TEST_EBUR128 REQUIRED IMPORTED_TARGET libebur128)
nr_add_test(test_outputs_audio SOURCES test_outputs_audio.c LIBS narrate_audio narrate_core
            PkgConfig::NR_TEST_EBUR128 LABELS unit TIMEOUT 300)
if(TARGET narrate_render)
  set(NR_OUTPUT_TEST_LIBS narrate_render narrate_voice narrate_text narrate_audio narrate_gpu
      narrate_report narrate_core)
  nr_add_test(test_outputs SOURCES test_outputs.c LIBS ${NR_OUTPUT_TEST_LIBS}
              LABELS e2e TIMEOUT 900)
  nr_add_test(test_outputs_espeak SOURCES test_outputs_espeak.c LIBS ${NR_OUTPUT_TEST_LIBS}
              LABELS e2e TIMEOUT 900)
  # Ten hours of audio through every stage: peak RSS must stay under 100 MB.
  # NARRATE_LONG_HOURS / NARRATE_LONG_FORMAT override the book; the ASan build
  # runs one hour without the RSS check.
  if(NARRATE_SANITIZE)
    set(NR_LONG_ENV "NARRATE_LONG_HOURS=1;NARRATE_LONG_RSS_MB=0")
  else()
    set(NR_LONG_ENV "NARRATE_LONG_HOURS=10")
  endif()
  nr_add_test(test_outputs_long SOURCES test_outputs_long.c LIBS ${NR_OUTPUT_TEST_LIBS}
              LABELS slow TIMEOUT 1200 ENV ${NR_LONG_ENV})
endif()
