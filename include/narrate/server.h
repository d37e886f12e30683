/* narrate server: the local web dashboard behind `narrate serve`.
 *
 *   struct nr_server_config cfg;
 *   nr_server_config_defaults(&cfg);          // 127.0.0.1:8470, root "."
 *   cfg.port = 0;                             // 0 = any free port
 *   struct nr_server *srv;
 *   if (nr_server_start(&cfg, &srv, &err) != NR_OK) ...;
 *   char *url = nr_server_url(srv);           // "http://127.0.0.1:8470/?token=..."
 *   ... wait for a signal ...
 *   nr_server_stop(srv);                      // stops a running render, joins every thread
 *
 * The server answers HTTP on its own threads (libmicrohttpd, one thread per
 * connection) and runs at most one render at a time on a worker thread,
 * through the same render module as `narrate render`. docs/API.md
 * describes the HTTP API and the security rules (token, cookie, Host check,
 * path confinement, size caps).
 *
 * Thread safety: nr_server_start and nr_server_stop are called from one
 * thread; the accessors may be called from any thread while the server runs.
 */
#ifndef NARRATE_SERVER_H
#define NARRATE_SERVER_H

#include <stddef.h>

#include "narrate/core.h"

struct nr_server_config {
    const char *host; /* IP address to bind, default "127.0.0.1"; "localhost" is 127.0.0.1 */
    int port;         /* default 8470; 0 picks a free port (nr_server_port tells which) */
    const char *root; /* workspace: books, uploads and outputs stay inside it; default "." */
    const char *settings_path; /* NULL: nr_settings_path() (the CLI's settings.json) */
    const char *token;         /* NULL: 32 random bytes from /dev/urandom, as 64 hex digits */
    size_t max_body;           /* largest JSON request body, default 64 KiB */
    size_t max_upload;         /* largest book upload, default 50 MiB */
};

struct nr_server;

/* Fills cfg with the defaults above. Strings point at static text. */
void nr_server_config_defaults(struct nr_server_config *cfg);

/* Resolves the workspace (realpath; it must be an existing folder), makes
 * the token, binds host:port and starts serving. Every string in cfg is
 * copied. Errors: a host that is not an IP address (NR_STATUS_INVALID_ARG),
 * a missing root (NR_STATUS_IO), a port that cannot be bound (NR_STATUS_IO,
 * the message names host and port), no memory. On failure *out is NULL and
 * nothing is left running. */
NR_MUST_CHECK enum nr_status nr_server_start(const struct nr_server_config *cfg,
                                             struct nr_server **out, struct nr_err *err);

/* Stops a running render (it stays resumable: finished chunks are cached),
 * ends the event streams, stops the HTTP threads and frees srv.
 * NULL does nothing. */
void nr_server_stop(struct nr_server *srv);

/* The port actually bound (useful with port 0). */
int nr_server_port(const struct nr_server *srv);
/* The access token (64 hex digits). Owned by srv. */
const char *nr_server_token(const struct nr_server *srv);
/* The workspace folder, resolved (realpath). Owned by srv. */
const char *nr_server_root(const struct nr_server *srv);
/* 1 when the server listens on a loopback address only. */
int nr_server_is_loopback(const struct nr_server *srv);
/* "http://HOST:PORT/?token=TOKEN", the address to open. Caller frees
 * (nr_free); NULL on allocation failure. */
char *nr_server_url(const struct nr_server *srv);
/* The activity log that renders started from the dashboard write to; the
 * caller may add a sink (the CLI echoes it to the terminal). Owned by srv. */
struct nr_log *nr_server_log(struct nr_server *srv);

#endif
