/* Subcommands implemented outside main.c. Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the exit code. */
#ifndef NARRATE_CLI_COMMANDS_H
#define NARRATE_CLI_COMMANDS_H

/* `narrate onnx-test`: ONNX conformance runner (src/cli/onnx_test.c). */
int nr_cli_onnx_test(int argc, char **argv);
/* `narrate serve`: the local web dashboard (src/cli/serve.c). */
int nr_cli_serve(int argc, char **argv);

#endif
