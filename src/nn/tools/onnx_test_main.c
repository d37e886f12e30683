/* Standalone conformance runner: `narrate-onnx-test [opts] DIR...`, the
 * same code as `narrate onnx-test`, so the nn tests need no CLI. */
#include "cli/commands.h"

int main(int argc, char **argv) {
    return nr_cli_onnx_test(argc, argv);
}
