# server tests (issue 5): the defences and the event ring in C, the HTTP
# API end to end with curl, and the dashboard in headless Chromium. Each
# runs the server on a free loopback port (port 0) with XDG_CONFIG_HOME in
# a temp folder, bounded by TIMEOUT, and stops it.
if(TARGET narrate_server)
  nr_add_test(test_server SOURCES test_server.c LIBS narrate_server LABELS unit TIMEOUT 60)

  if(TARGET narrate AND TARGET narrate_serve_cli)
    add_test(NAME server_api COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/server/api.sh)
    set_tests_properties(server_api PROPERTIES LABELS e2e SKIP_RETURN_CODE 77 TIMEOUT 300
      ENVIRONMENT "NARRATE_SOURCE_DIR=${CMAKE_SOURCE_DIR};NARRATE_BINARY_DIR=${CMAKE_BINARY_DIR};NARRATE_BIN=$<TARGET_FILE:narrate>")

    # Screenshots land in ${CMAKE_BINARY_DIR}/artifacts/ (dashboard.png,
    # dashboard-prompt.png). Skips (77) only without chromium or node_modules.
    add_test(NAME server_browser COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh)
    set_tests_properties(server_browser PROPERTIES LABELS e2e SKIP_RETURN_CODE 77 TIMEOUT 300
      ENVIRONMENT "NARRATE_SOURCE_DIR=${CMAKE_SOURCE_DIR};NARRATE_BINARY_DIR=${CMAKE_BINARY_DIR};NARRATE_BIN=$<TARGET_FILE:narrate>")
  endif()
endif()
