/* The HTTP side of the dashboard: libmicrohttpd with one thread per
 * connection (the event stream blocks while it waits), the security gates
 * that every request passes in order (Host, size, token), the page, the
 * static assets and the server-sent event stream. The /api routes are in
 * api.c, the render job in job.c. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "server_internal.h"

#define TOKEN_HEADER "X-Narrate-Token"
#define TOKEN_PLACEHOLDER "{{NARRATE_TOKEN}}"

void nr_server_config_defaults(struct nr_server_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8470;
    cfg->root = ".";
    cfg->max_body = 64 * 1024;
    cfg->max_upload = 50 * 1024 * 1024;
}

const struct nr__asset *nr__asset_find(const char *path) {
    for (size_t i = 0; i < nr__n_assets; i++)
        if (strcmp(nr__assets[i].path, path) == 0)
            return &nr__assets[i];
    return NULL;
}

/* ---- replies --------------------------------------------------------------- */

void nr__reply_json(struct nr__reply *reply, int status, const char *json) {
    reply->status = status;
    reply->content_type = "application/json";
    reply->body.len = 0;
    if (nr_buf_printf(&reply->body, "%s", json) != NR_OK)
        reply->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
}

void nr__reply_error(struct nr__reply *reply, int status, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *text = cJSON_PrintUnformatted(o);
    nr__reply_json(reply, status, text ? text : "{\"error\":\"out of memory\"}");
    cJSON_free(text);
    cJSON_Delete(o);
}

/* Headers on every response: no caching of anything that may carry the
 * token, no framing (clickjacking), scripts and styles only from this
 * server (no inline code, so an injected string cannot run). */
static void add_common_headers(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct nr__reply *reply) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        reply->body.len, reply->body.data ? reply->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp);
    MHD_add_response_header(resp, "Content-Type",
                            reply->content_type ? reply->content_type : "application/json");
    if (reply->set_cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", reply->set_cookie);
    enum MHD_Result r = MHD_queue_response(c, (unsigned)reply->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
    struct nr__reply reply = {0};
    nr__reply_error(&reply, status, msg);
    enum MHD_Result r = send_reply(c, &reply);
    nr_buf_deinit(&reply.body);
    return r;
}

/* ---- the page ---------------------------------------------------------------- */

static const char forbidden_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>narrate</title></head>"
    "<body><h1>403: this dashboard needs its token</h1><p>Open the address that "
    "<code>narrate serve</code> printed, the one that ends in <code>?token=...</code>.</p>"
    "</body></html>\n";

/* index.html with the token in its meta tag. Served only to a request that
 * proved it has the token (query or cookie): the page's script needs it for
 * the X-Narrate-Token header of state-changing requests. */
static enum MHD_Result send_page(struct nr_server *s, struct MHD_Connection *c, int set_cookie) {
    const struct nr__asset *a = nr__asset_find("/index.html");
    struct nr__reply reply = {0};
    reply.status = MHD_HTTP_OK;
    reply.content_type = a->content_type;
    const char *html = (const char *)a->data;
    const char *mark = strstr(html, TOKEN_PLACEHOLDER);
    enum nr_status st = mark ? nr_buf_printf(&reply.body, "%.*s%s%s", (int)(mark - html), html,
                                             s->token, mark + strlen(TOKEN_PLACEHOLDER))
                             : nr_buf_append(&reply.body, html, a->size);
    if (set_cookie)
        snprintf(reply.set_cookie, sizeof reply.set_cookie,
                 "%s=%s; Path=/; HttpOnly; SameSite=Strict", s->cookie_name, s->token);
    enum MHD_Result r = st == NR_OK
                            ? send_reply(c, &reply)
                            : send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    nr_buf_deinit(&reply.body);
    return r;
}

static enum MHD_Result send_asset(struct MHD_Connection *c, const struct nr__asset *a) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp);
    MHD_add_response_header(resp, "Content-Type", a->content_type);
    enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ---- the event stream -------------------------------------------------------------- */

struct sse {
    struct nr_server *s;
    uint64_t after;    /* last event id sent */
    struct nr_buf buf; /* formatted, not yet sent: buf.data[off..len) */
    size_t off;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    struct sse *e = cls;
    while (e->off >= e->buf.len) {
        e->buf.len = 0;
        e->off = 0;
        int rc = nr__events_wait_format(&e->s->ev, &e->after, 15.0, &e->buf);
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* A comment line every 15 s without events: a closed browser tab
         * shows up as a failed write, which ends this thread. */
        if (rc == 0 && nr_buf_append(&e->buf, ": keep-alive\n\n", 14) != NR_OK)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = e->buf.len - e->off;
    if (n > max)
        n = max;
    memcpy(out, e->buf.data + e->off, n);
    e->off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    struct sse *e = cls;
    nr_buf_deinit(&e->buf);
    nr_free(e);
}

static enum MHD_Result send_events(struct nr_server *s, struct MHD_Connection *c) {
    struct sse *e = nr_calloc(1, sizeof *e);
    if (!e)
        return MHD_NO;
    e->s = s;
    /* Where to start: the browser's Last-Event-ID on a reconnect, else
     * ?since=N (the page passes the seq of its /api/status snapshot), else
     * everything still kept. */
    const char *from = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (!from)
        from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    if (from)
        e->after = strtoull(from, NULL, 10);
    if (nr_buf_printf(&e->buf, "retry: 2000\n\n") != NR_OK) {
        sse_free(e);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, e, sse_free);
    if (!resp) {
        sse_free(e);
        return MHD_NO;
    }
    add_common_headers(resp);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ---- request handling ------------------------------------------------------------------ */

struct req {
    struct nr_buf body;
    size_t limit;
    int too_big;
    int answered; /* a response was queued at the first call */
};

static int is_upload(const char *url) {
    return strcmp(url, "/api/upload") == 0;
}

static int is_page(const char *url) {
    return strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0;
}

static const char *cookie_token(struct nr_server *s, struct MHD_Connection *c) {
    return MHD_lookup_connection_value(c, MHD_COOKIE_KIND, s->cookie_name);
}

/* The first call for a request: only the headers are known. The Host
 * check and the size cap answer here, before any body is read. */
static enum MHD_Result first_call(struct nr_server *s, struct MHD_Connection *c, const char *url,
                                  struct req *rq) {
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!nr__host_allowed(s->host, s->port, host)) {
        rq->answered = 1;
        return send_error(c, MHD_HTTP_FORBIDDEN,
                          "the Host header does not name this server (DNS rebinding defence); "
                          "open the address that narrate serve printed");
    }
    rq->limit = is_upload(url) ? s->max_upload : s->max_body;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > rq->limit) {
        rq->answered = 1;
        char msg[128];
        snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)", rq->limit);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    return MHD_YES;
}

static enum MHD_Result dispatch(struct nr_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, struct req *rq) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, TOKEN_HEADER);
    int header_ok = nr__token_equal(hdr, s->token);
    int cookie_ok = nr__token_equal(cookie_token(s, c), s->token);
    if (is_page(url)) {
        if (!get)
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
        int query_ok = nr__token_equal(q, s->token);
        if (query_ok || cookie_ok || header_ok)
            return send_page(s, c, query_ok);
        struct nr__reply reply = {0};
        reply.status = MHD_HTTP_FORBIDDEN;
        reply.content_type = "text/html; charset=utf-8";
        enum MHD_Result r =
            nr_buf_append(&reply.body, forbidden_page, sizeof forbidden_page - 1) == NR_OK
                ? send_reply(c, &reply)
                : MHD_NO;
        nr_buf_deinit(&reply.body);
        return r;
    }
    if (strncmp(url, "/api/", 5) != 0) {
        const struct nr__asset *a = nr__asset_find(url);
        if (a && get)
            return send_asset(c, a);
        return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
    }
    /* Reads accept the cookie (an EventSource cannot set headers; a
     * SameSite=Strict cookie is never sent by other sites). Every
     * state-changing request needs the header, which only the page's own
     * script can set: a cookie alone would let any site forge requests. */
    if (!(header_ok || (get && cookie_ok)))
        return send_error(c, MHD_HTTP_FORBIDDEN,
                          get ? "missing or wrong token (X-Narrate-Token header or the page cookie)"
                              : "missing or wrong X-Narrate-Token header (required for every "
                                "request that changes state)");
    if (strcmp(url, "/api/events") == 0) {
        if (!get)
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return send_events(s, c);
    }
    struct nr__reply reply = {0};
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    nr__api_handle(s, method, url, name, rq->body.data, rq->body.len, &reply);
    enum MHD_Result r = send_reply(c, &reply);
    nr_buf_deinit(&reply.body);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    struct nr_server *s = cls;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = nr_calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return first_call(s, c, url, rq);
    }
    if (*upload_data_size) {
        /* A body without Content-Length (chunked) is counted as it comes
         * and dropped past the cap; the answer waits for its end. */
        if (!rq->answered && !rq->too_big) {
            if (rq->body.len + *upload_data_size > rq->limit ||
                nr_buf_append(&rq->body, upload_data, *upload_data_size) != NR_OK) {
                rq->too_big = 1;
                nr_buf_deinit(&rq->body);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = 1;
    if (rq->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)", rq->limit);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    return dispatch(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct req *rq = *con_cls;
    if (rq) {
        nr_buf_deinit(&rq->body);
        nr_free(rq);
        *con_cls = NULL;
    }
}

/* ---- start and stop ------------------------------------------------------------------ */

/* Activity log sink: each line becomes a "log" event; warnings are marked
 * so the page can highlight them. */
static void log_to_events(void *user, const char *line) {
    struct nr_server *s = user;
    const char *level = strstr(line, "WARNING") || strstr(line, "ERROR") ? "warning"
                        : strstr(line, "NOTE:")                          ? "note"
                                                                         : "info";
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "line", line);
    cJSON_AddStringToObject(o, "level", level);
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        nr__events_push(&s->ev, "log", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static enum nr_status bind_addr(const char *host, struct sockaddr_storage *ss, int port, int *v6,
                                struct nr_err *err) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    *v6 = 0;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return NR_OK;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        return NR_OK;
    }
    return nr_err_set(err, NR_STATUS_INVALID_ARG,
                      "--host %s: give an IP address (127.0.0.1, ::1, 0.0.0.0, ...)", host);
}

enum nr_status nr_server_start(const struct nr_server_config *cfg, struct nr_server **out,
                               struct nr_err *err) {
    *out = NULL;
    if (cfg->port < 0 || cfg->port > 65535)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "--port %d: give 0..65535", cfg->port);
    const char *host = cfg->host && *cfg->host ? cfg->host : "127.0.0.1";
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_storage ss;
    int v6;
    enum nr_status st = bind_addr(host, &ss, cfg->port, &v6, err);
    if (st != NR_OK)
        return st;
    char real[PATH_MAX];
    struct stat sb;
    const char *root = cfg->root && *cfg->root ? cfg->root : ".";
    if (!realpath(root, real) || stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nr_err_set(err, NR_STATUS_IO, "--root %s: not an existing folder", root);

    struct nr_server *s = nr_calloc(1, sizeof *s);
    if (!s)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "server: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    nr__events_init(&s->ev);
    s->max_body = cfg->max_body ? cfg->max_body : 64 * 1024;
    s->max_upload = cfg->max_upload ? cfg->max_upload : 50 * 1024 * 1024;
    s->host = nr_strdup(host);
    s->root = nr_strdup(real);
    s->settings_path = cfg->settings_path ? nr_strdup(cfg->settings_path) : nr_settings_path();
    s->is_loopback = strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
    if (!s->host || !s->root || !s->settings_path)
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "server: out of memory");
    if (st == NR_OK && cfg->token) {
        if (strlen(cfg->token) < 16 || strlen(cfg->token) > 64)
            st = nr_err_set(err, NR_STATUS_INVALID_ARG, "token: 16 to 64 characters");
        else
            snprintf(s->token, sizeof s->token, "%s", cfg->token);
    } else if (st == NR_OK) {
        st = nr__token_make(s->token, err);
    }
    if (st == NR_OK)
        st = nr_log_new(&s->log, err);
    if (st != NR_OK) {
        nr_server_stop(s);
        return st;
    }
    nr_log_add_sink(s->log, log_to_events, s);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon =
        MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!s->daemon) {
        st = nr_err_set(err, NR_STATUS_IO,
                        "cannot listen on %s port %d (in use, or not an "
                        "address of this machine)",
                        host, cfg->port);
        nr_server_stop(s);
        return st;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info && info->port ? info->port : cfg->port;
    snprintf(s->cookie_name, sizeof s->cookie_name, "narrate_%d", s->port);
    *out = s;
    return NR_OK;
}

void nr_server_stop(struct nr_server *s) {
    if (!s)
        return;
    nr__job_shutdown(s);
    nr__events_close(&s->ev);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->log)
        nr_log_remove_sink(s->log, log_to_events, s);
    nr__job_deinit(&s->job);
    nr_log_free(s->log);
    nr__events_deinit(&s->ev);
    pthread_mutex_destroy(&s->mu);
    nr_free(s->host);
    nr_free(s->root);
    nr_free(s->settings_path);
    nr_free(s->voices_json);
    nr_free(s);
}

int nr_server_port(const struct nr_server *s) {
    return s->port;
}

const char *nr_server_token(const struct nr_server *s) {
    return s->token;
}

const char *nr_server_root(const struct nr_server *s) {
    return s->root;
}

int nr_server_is_loopback(const struct nr_server *s) {
    return s->is_loopback;
}

struct nr_log *nr_server_log(struct nr_server *s) {
    return s->log;
}

char *nr_server_url(const struct nr_server *s) {
    struct nr_buf b = {0};
    int v6 = strchr(s->host, ':') != NULL;
    if (nr_buf_printf(&b, v6 ? "http://[%s]:%d/?token=%s" : "http://%s:%d/?token=%s", s->host,
                      s->port, s->token) != NR_OK) {
        nr_buf_deinit(&b);
        return NULL;
    }
    return nr_buf_take(&b);
}
