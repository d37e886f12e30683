/* `narrate serve`: starts the dashboard, prints its address with the
 * token, echoes the activity log, and stops cleanly on Ctrl-C / SIGTERM
 * (a running render stops after its current batch and stays resumable). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "narrate/core.h"
#include "narrate/server.h"

static const char serve_usage[] =
    "Usage: narrate serve [--host ADDR] [--port N] [--root DIR] [--settings FILE]\n"
    "                     [--max-upload-mb N]\n"
    "\n"
    "Local web dashboard: choose a book and a voice, start/pause/resume/stop a render,\n"
    "watch the Activity Log and the VRAM chart, edit Advanced Settings.\n"
    "\n"
    "  --host ADDR          address to listen on (default 127.0.0.1; anything else is\n"
    "                       reachable from other machines: prefer an SSH tunnel)\n"
    "  --port N             port (default 8470; 0 = any free port)\n"
    "  --root DIR           workspace: books, uploads and outputs stay inside it\n"
    "                       (default: the current folder)\n"
    "  --settings FILE      settings file (default $XDG_CONFIG_HOME/narrate/settings.json)\n"
    "  --max-upload-mb N    largest book upload in MiB (default 50)\n"
    "\n"
    "Open the printed address (it carries a random token). Over SSH:\n"
    "  ssh -L 8470:127.0.0.1:8470 gpu-box   then open the address on your machine.\n";

static void echo_line(void *user, const char *line) {
    (void)user;
    puts(line);
    fflush(stdout);
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out) {
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || n < lo || n > hi) {
        fprintf(stderr,
                "narrate: %s needs a whole number from %d to %d\nTry `narrate serve --help`.\n",
                flag, lo, hi);
        return 0;
    }
    *out = (int)n;
    return 1;
}

int nr_cli_serve(int argc, char **argv) {
    struct nr_server_config cfg;
    nr_server_config_defaults(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        int mb;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(serve_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--host") && next) {
            cfg.host = argv[++i];
        } else if (!strcmp(a, "--port") && next) {
            if (!parse_int(a, argv[++i], 0, 65535, &cfg.port))
                return 2;
        } else if (!strcmp(a, "--root") && next) {
            cfg.root = argv[++i];
        } else if (!strcmp(a, "--settings") && next) {
            cfg.settings_path = argv[++i];
        } else if (!strcmp(a, "--max-upload-mb") && next) {
            if (!parse_int(a, argv[++i], 1, 4096, &mb))
                return 2;
            cfg.max_upload = (size_t)mb * 1024 * 1024;
        } else {
            fprintf(stderr,
                    "narrate: serve: unknown or incomplete option %s\nTry `narrate serve "
                    "--help`.\n",
                    a);
            return 2;
        }
    }
    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and this one receives them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct nr_err err = {0};
    struct nr_server *srv = NULL;
    if (nr_server_start(&cfg, &srv, &err) != NR_OK) {
        fprintf(stderr, "narrate: serve: %s\n", err.msg);
        return err.status == NR_STATUS_INVALID_ARG ? 2 : 1;
    }
    char *url = nr_server_url(srv);
    if (!url) {
        nr_server_stop(srv);
        fprintf(stderr, "narrate: out of memory\n");
        return 1;
    }
    if (!nr_server_is_loopback(srv))
        fprintf(stderr,
                "WARNING: listening on %s, not only on this machine: anyone who can reach this "
                "port and learns the token controls renders. Prefer --host 127.0.0.1 with an SSH "
                "tunnel.\n",
                cfg.host);
    printf("narrate dashboard: %s\n", url);
    printf("Workspace: %s (books, uploads and outputs stay inside it)\n", nr_server_root(srv));
    printf("Press Ctrl-C to stop.\n");
    fflush(stdout);
    nr_free(url);
    nr_log_add_sink(nr_server_log(srv), echo_line, NULL);

    int sig = 0;
    sigwait(&stop, &sig);
    printf("Stopping (signal %d)...\n", sig);
    fflush(stdout);
    nr_server_stop(srv);
    return 0;
}
