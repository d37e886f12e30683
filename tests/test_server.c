/* Unit tests of the server's defences and event ring (src/server): path
 * confinement with real files and links, the Host check, token compare and
 * generation, upload names, event replay and wrap-around, and a server
 * start/stop on a free port. The HTTP behaviour is tested end to end by
 * tests/server/api.sh and tests/browser/. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "server/server_internal.h"

static char root[1024];    /* resolved workspace (short enough for the buffers below) */
static char outside[1024]; /* a folder next to it */
static char base_dir[64];  /* the temp folder holding both */

static void touch(const char *dir, const char *name) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("x\n", f);
        fclose(f);
    }
}

static int resolve(const char *p, char *out, size_t size) {
    char *r = realpath(p, NULL);
    if (!r || strlen(r) >= size) {
        free(r);
        return 0;
    }
    snprintf(out, size, "%s", r);
    free(r);
    return 1;
}

static void make_tree(void) {
    char tmpl[] = "/tmp/narrate-test-server-XXXXXX";
    char *base = mkdtemp(tmpl);
    CHECK(base != NULL);
    snprintf(base_dir, sizeof base_dir, "%s", base);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/ws", base);
    mkdir(p, 0700);
    CHECK(resolve(p, root, sizeof root));
    snprintf(p, sizeof p, "%s/out", base);
    mkdir(p, 0700);
    CHECK(resolve(p, outside, sizeof outside));
    snprintf(p, sizeof p, "%s/books", root);
    mkdir(p, 0700);
    touch(root, "book.md");
    touch(p, "two.txt");
    touch(outside, "secret.md");
    snprintf(p, sizeof p, "%s/link-out", root);
    CHECK(symlink(outside, p) == 0);
    snprintf(p, sizeof p, "%s/link-in", root);
    CHECK(symlink("books", p) == 0);
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/secret.md", outside);
    snprintf(p, sizeof p, "%s/secret.md", root);
    CHECK(symlink(target, p) == 0);
}

/* Confines path; returns the status and puts the result (or "") in out. */
static enum nr_status confine(const char *path, int must_exist, char *out, size_t size) {
    char *res = NULL;
    struct nr_err err = {0};
    enum nr_status st = nr__path_confine(root, path, must_exist, &res, &err);
    snprintf(out, size, "%s", res ? res : "");
    if (st == NR_OK)
        CHECK(res != NULL);
    else
        CHECK(res == NULL && err.msg[0] != '\0');
    nr_free(res);
    return st;
}

static void test_confine(void) {
    char got[PATH_MAX], want[PATH_MAX];
    /* Inside: relative, absolute, through a link that stays inside. */
    CHECK_EQ(confine("book.md", 1, got, sizeof got), NR_OK);
    snprintf(want, sizeof want, "%s/book.md", root);
    CHECK_STR(got, want);
    CHECK_EQ(confine(want, 1, got, sizeof got), NR_OK);
    CHECK_STR(got, want);
    CHECK_EQ(confine("link-in/two.txt", 1, got, sizeof got), NR_OK);
    snprintf(want, sizeof want, "%s/books/two.txt", root);
    CHECK_STR(got, want);
    CHECK_EQ(confine("./books/two.txt", 1, got, sizeof got), NR_OK);
    CHECK_STR(got, want);
    /* The root itself is inside. */
    CHECK_EQ(confine(".", 1, got, sizeof got), NR_OK);
    CHECK_STR(got, root);
    /* Escapes: "..", absolute outside, link to a folder outside, link to a file outside. */
    CHECK_EQ(confine("../out/secret.md", 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("books/../book.md", 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("..", 0, got, sizeof got), NR_STATUS_INVALID_ARG);
    snprintf(want, sizeof want, "%s/secret.md", outside);
    CHECK_EQ(confine(want, 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("/etc/hostname", 0, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("link-out/secret.md", 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("secret.md", 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    /* A prefix that is not a folder boundary: ROOT-evil is not inside ROOT. */
    char sibling[PATH_MAX + 8];
    snprintf(sibling, sizeof sibling, "%s-evil", root);
    mkdir(sibling, 0700);
    CHECK_EQ(confine(sibling, 1, got, sizeof got), NR_STATUS_INVALID_ARG);
    rmdir(sibling);
    /* Missing: an error only when it must exist. */
    CHECK_EQ(confine("nope.md", 1, got, sizeof got), NR_STATUS_IO);
    CHECK_EQ(confine("out/new/deep/", 0, got, sizeof got), NR_OK);
    snprintf(want, sizeof want, "%s/out/new/deep", root);
    CHECK_STR(got, want);
    CHECK_EQ(confine("link-in/new", 0, got, sizeof got), NR_OK);
    snprintf(want, sizeof want, "%s/books/new", root);
    CHECK_STR(got, want);
    /* Not yet existing, under a link leading out. */
    CHECK_EQ(confine("link-out/new/dir", 0, got, sizeof got), NR_STATUS_INVALID_ARG);
    /* A file as a parent. */
    CHECK_EQ(confine("book.md/x", 0, got, sizeof got), NR_STATUS_INVALID_ARG);
    CHECK_EQ(confine("", 0, got, sizeof got), NR_STATUS_INVALID_ARG);
}

static void test_host(void) {
    CHECK(nr__host_allowed("127.0.0.1", 8470, "127.0.0.1:8470"));
    CHECK(nr__host_allowed("127.0.0.1", 8470, "localhost:8470"));
    CHECK(nr__host_allowed("127.0.0.1", 8470, "LOCALHOST:8470"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, "127.0.0.1:8471"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, "127.0.0.1"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, "evil.example:8470"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, "127.0.0.1.evil.example:8470"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, "127.0.0.1:8470x"));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, ""));
    CHECK(!nr__host_allowed("127.0.0.1", 8470, NULL));
    CHECK(nr__host_allowed("::1", 8470, "[::1]:8470"));
    CHECK(!nr__host_allowed("::1", 8470, "::1:8470"));
    /* A specific LAN address: only that address (no localhost: not loopback). */
    CHECK(nr__host_allowed("192.168.1.5", 80, "192.168.1.5:80"));
    CHECK(!nr__host_allowed("192.168.1.5", 80, "localhost:80"));
    /* Wildcard: IP literals and localhost with the port, never a DNS name. */
    CHECK(nr__host_allowed("0.0.0.0", 8470, "10.0.0.7:8470"));
    CHECK(nr__host_allowed("0.0.0.0", 8470, "[fe80::1]:8470"));
    CHECK(nr__host_allowed("0.0.0.0", 8470, "localhost:8470"));
    CHECK(!nr__host_allowed("0.0.0.0", 8470, "gpu-box.example:8470"));
    CHECK(!nr__host_allowed("0.0.0.0", 8470, "10.0.0.7:1"));
}

static void test_token(void) {
    char a[65], b[65];
    struct nr_err err = {0};
    CHECK_EQ(nr__token_make(a, &err), NR_OK);
    CHECK_EQ(nr__token_make(b, &err), NR_OK);
    CHECK_EQ(strlen(a), 64);
    CHECK_EQ(strspn(a, "0123456789abcdef"), 64);
    CHECK(strcmp(a, b) != 0);
    CHECK(nr__token_equal(a, a));
    char c[65];
    memcpy(c, a, sizeof c);
    c[63] = c[63] == '0' ? '1' : '0';
    CHECK(!nr__token_equal(c, a));
    c[63] = a[63];
    c[0] = c[0] == '0' ? '1' : '0';
    CHECK(!nr__token_equal(c, a));
    CHECK(!nr__token_equal("", ""));
    CHECK(!nr__token_equal(NULL, a));
    CHECK(!nr__token_equal(a, NULL));
    char prefix[65];
    snprintf(prefix, sizeof prefix, "%.32s", a);
    CHECK(!nr__token_equal(prefix, a));
    char longer[80];
    snprintf(longer, sizeof longer, "%sxx", a);
    CHECK(!nr__token_equal(longer, a));
}

static void test_upload_names(void) {
    CHECK(nr__upload_name_ok("book.md"));
    CHECK(nr__upload_name_ok("My Book_2-final.epub"));
    CHECK(nr__upload_name_ok("a.txt"));
    CHECK(!nr__upload_name_ok("../book.md"));
    CHECK(!nr__upload_name_ok("dir/book.md"));
    CHECK(!nr__upload_name_ok(".hidden.md"));
    CHECK(!nr__upload_name_ok("book.sh"));
    CHECK(!nr__upload_name_ok("book.md.sh"));
    CHECK(!nr__upload_name_ok("bo\nok.md"));
    CHECK(!nr__upload_name_ok(""));
    CHECK(!nr__upload_name_ok(NULL));
    char longname[128];
    memset(longname, 'a', 100);
    strcpy(longname + 100, ".md");
    CHECK(!nr__upload_name_ok(longname));
}

static void test_events(void) {
    struct nr__events ev;
    nr__events_init(&ev);
    uint64_t after = 0;
    struct nr_buf out = {0};
    /* Nothing yet: a short wait times out. */
    double t0 = nr_now();
    CHECK_EQ(nr__events_wait_format(&ev, &after, 0.2, &out), 0);
    CHECK(nr_now() - t0 >= 0.15);
    CHECK_EQ(out.len, 0);
    nr__events_push(&ev, "log", "{\"line\":\"a\"}");
    nr__events_push(&ev, "point", "{\"batch\":1}");
    nr__events_push(&ev, "log", "{\"line\":\"b\"}");
    CHECK_EQ(nr__events_last(&ev), 3);
    CHECK_EQ(nr__events_wait_format(&ev, &after, 1, &out), 1);
    CHECK_STR(out.data, "id: 1\nevent: log\ndata: {\"line\":\"a\"}\n\n"
                        "id: 2\nevent: point\ndata: {\"batch\":1}\n\n"
                        "id: 3\nevent: log\ndata: {\"line\":\"b\"}\n\n");
    CHECK_EQ(after, 3);
    /* Replay from an id. */
    out.len = 0;
    after = 2;
    CHECK_EQ(nr__events_wait_format(&ev, &after, 1, &out), 1);
    CHECK_STR(out.data, "id: 3\nevent: log\ndata: {\"line\":\"b\"}\n\n");
    /* Recent logs up to a seq. */
    struct nr_buf logs = {0};
    CHECK_EQ(nr__events_recent_logs(&ev, 3, 10, &logs), NR_OK);
    CHECK_STR(logs.data, "{\"line\":\"a\"},{\"line\":\"b\"}");
    logs.len = 0;
    CHECK_EQ(nr__events_recent_logs(&ev, 2, 10, &logs), NR_OK);
    CHECK_STR(logs.data, "{\"line\":\"a\"}");
    logs.len = 0;
    CHECK_EQ(nr__events_recent_logs(&ev, 3, 1, &logs), NR_OK);
    CHECK_STR(logs.data, "{\"line\":\"b\"}");
    /* Wrap-around: a stream that fell behind resumes at the oldest kept. */
    char data[32];
    for (int i = 0; i < NR__EVENT_RING + 10; i++) {
        snprintf(data, sizeof data, "{\"i\":%d}", i);
        nr__events_push(&ev, "progress", data);
    }
    out.len = 0;
    after = 1;
    CHECK_EQ(nr__events_wait_format(&ev, &after, 1, &out), 1);
    char first[64];
    snprintf(first, sizeof first, "id: %d\n", 3 + 10 + 1);
    CHECK(out.data && strncmp(out.data, first, strlen(first)) == 0);
    CHECK_EQ(after, 3 + 10 + 256); /* one slice of 256 events per call */
    /* Closing ends the wait at once. */
    nr__events_close(&ev);
    after = nr__events_last(&ev);
    CHECK_EQ(nr__events_wait_format(&ev, &after, 5, &out), -1);
    nr_buf_deinit(&out);
    nr_buf_deinit(&logs);
    nr__events_deinit(&ev);
}

static void test_start_stop(void) {
    struct nr_server_config cfg;
    nr_server_config_defaults(&cfg);
    CHECK_STR(cfg.host, "127.0.0.1");
    CHECK_EQ(cfg.port, 8470);
    CHECK_EQ(cfg.max_upload, 50 * 1024 * 1024);
    cfg.port = 0;
    cfg.root = root;
    char settings[PATH_MAX + 32];
    snprintf(settings, sizeof settings, "%s/settings.json", outside);
    cfg.settings_path = settings;
    cfg.token = "0123456789abcdef0123456789abcdef";
    struct nr_server *srv = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_server_start(&cfg, &srv, &err), NR_OK);
    if (srv) {
        CHECK(nr_server_port(srv) > 0);
        CHECK(nr_server_is_loopback(srv));
        CHECK_STR(nr_server_root(srv), root);
        CHECK_STR(nr_server_token(srv), cfg.token);
        char *url = nr_server_url(srv);
        char want[128];
        snprintf(want, sizeof want, "http://127.0.0.1:%d/?token=%s", nr_server_port(srv),
                 cfg.token);
        CHECK_STR(url, want);
        nr_free(url);
        /* The same port again: refused with a message naming it. */
        struct nr_server_config again = cfg;
        again.port = nr_server_port(srv);
        struct nr_server *srv2 = NULL;
        struct nr_err err2 = {0};
        CHECK_EQ(nr_server_start(&again, &srv2, &err2), NR_STATUS_IO);
        CHECK(srv2 == NULL);
        CHECK_SUBSTR(err2.msg, "cannot listen on 127.0.0.1 port");
        nr_server_stop(srv);
    }
    /* Refusals before anything starts. */
    struct nr_server *bad = NULL;
    struct nr_err e1 = {0}, e2 = {0}, e3 = {0};
    cfg.host = "gpu-box.example";
    CHECK_EQ(nr_server_start(&cfg, &bad, &e1), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(e1.msg, "give an IP address");
    cfg.host = "127.0.0.1";
    cfg.root = "/nonexistent/narrate";
    CHECK_EQ(nr_server_start(&cfg, &bad, &e2), NR_STATUS_IO);
    cfg.root = root;
    cfg.token = "short";
    CHECK_EQ(nr_server_start(&cfg, &bad, &e3), NR_STATUS_INVALID_ARG);
    CHECK(bad == NULL);
    /* localhost is accepted and means 127.0.0.1. */
    cfg.token = NULL;
    cfg.host = "localhost";
    struct nr_err e4 = {0};
    CHECK_EQ(nr_server_start(&cfg, &bad, &e4), NR_OK);
    if (bad) {
        CHECK(nr_server_is_loopback(bad));
        CHECK_EQ(strlen(nr_server_token(bad)), 64);
        nr_server_stop(bad);
    }
}

static void test_assets(void) {
    const struct nr__asset *page = nr__asset_find("/index.html");
    CHECK(page != NULL);
    if (page) {
        CHECK_SUBSTR((const char *)page->data, "{{NARRATE_TOKEN}}");
        CHECK_EQ(strlen((const char *)page->data), page->size);
        CHECK_SUBSTR(page->content_type, "text/html");
    }
    CHECK(nr__asset_find("/app.js") != NULL);
    CHECK(nr__asset_find("/style.css") != NULL);
    CHECK(nr__asset_find("/server.c") == NULL);
    /* The embedded bytes are the files in web/, byte for byte. */
    const char *src = getenv("NARRATE_SOURCE_DIR");
    if (src && page) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/web/app.js", src);
        char *text = NULL;
        size_t n = 0;
        struct nr_err err = {0};
        const struct nr__asset *js = nr__asset_find("/app.js");
        if (nr_file_read(p, &text, &n, &err) == NR_OK && js) {
            CHECK_EQ(n, js->size);
            CHECK(memcmp(text, js->data, n) == 0);
        }
        nr_free(text);
    }
}

int main(void) {
    make_tree();
    test_confine();
    test_host();
    test_token();
    test_upload_names();
    test_events();
    test_start_stop();
    test_assets();
    check_remove_tree(base_dir);
    return check_result("test_server");
}
