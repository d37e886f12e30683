# nn: the ONNX inference engine (src/nn). Unit tests build models in memory
# (tests/test_nn_build.c); the conformance test runs ONNX's own node tests
# from Debian's libonnx-testdata over the engine's op set.
if(TARGET narrate_nn)
  nr_add_test(test_nn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn.c
              LIBS narrate_nn narrate_core LABELS unit TIMEOUT 300)
  target_include_directories(test_nn PRIVATE ${CMAKE_SOURCE_DIR}/include)
  nr_add_test(test_nn_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn_ops.c
              LIBS narrate_nn narrate_core LABELS unit TIMEOUT 300)
  set(NR_ONNX_NODE_TESTS /usr/share/libonnx-testdata/data/node)
  if(TARGET narrate-onnx-test AND EXISTS ${NR_ONNX_NODE_TESTS})
    # Every case whose ops are all in the engine's op set must pass; cases
    # the engine refuses as unsupported (other ops, float16/double/uint8
    # tensors, subgraphs) are listed as SKIP with the reason. 238 of the 274
    # cases within the op set pass (docs/NN.md); fewer is a failure.
    add_test(NAME onnx_node_conformance
             COMMAND narrate-onnx-test --threads 2 --only-supported --min-pass 238
                     ${NR_ONNX_NODE_TESTS})
    set_tests_properties(onnx_node_conformance PROPERTIES LABELS unit TIMEOUT 600)
  endif()
endif()
