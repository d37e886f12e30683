# report module: CSV exact content, SVG structure and xmllint validity.
if(TARGET narrate_report)
  nr_add_test(test_report SOURCES test_report.c LIBS narrate_report LABELS unit TIMEOUT 60)
endif()
