/* core: errors, buffers, atomic writes, injected failures, settings. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "narrate/core.h"

static char tmpdir[256];

static char *tmp(const char *name) {
    return nr_path_join(tmpdir, name);
}

static void test_errors(void) {
    struct nr_err err = {0};
    CHECK_EQ(nr_err_set(&err, NR_STATUS_IO, "first %d", 1), NR_STATUS_IO);
    CHECK_EQ(nr_err_set(&err, NR_STATUS_BAD_FORMAT, "second"), NR_STATUS_BAD_FORMAT);
    CHECK_EQ(err.status, NR_STATUS_IO);
    CHECK_STR(err.msg, "first 1");
    nr_err_clear(&err);
    CHECK_EQ(err.status, NR_OK);
    CHECK_STR(nr_status_name(NR_STATUS_DEVICE_OOM), "device out of memory");
}

static void test_buf(void) {
    struct nr_buf b = {0};
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(nr_buf_printf(&b, "%d,", i), NR_OK);
    CHECK_EQ(b.len, 3890);
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    CHECK_STR(b.data + b.len - 4, "999,");
    char *s = nr_buf_take(&b);
    CHECK(b.data == NULL && b.len == 0);
    nr_free(s);
}

static void test_atomic_write(void) {
    struct nr_err err = {0};
    char *path = tmp("a.txt");
    CHECK_EQ(nr_file_write_atomic(path, "hello", 5, &err), NR_OK);
    char *data;
    size_t n;
    CHECK_EQ(nr_file_read(path, &data, &n, &err), NR_OK);
    CHECK_EQ(n, 5);
    CHECK_STR(data, "hello");
    nr_free(data);
    /* An injected failure leaves the old content and no temp file. */
    nr_file_fail_write_after(1);
    CHECK_EQ(nr_file_write_atomic(path, "changed", 7, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "injected write error");
    CHECK_SUBSTR(err.msg, "a.txt");
    CHECK_EQ(nr_file_read(path, &data, &n, NULL), NR_OK);
    CHECK_STR(data, "hello");
    nr_free(data);
    CHECK_EQ(check_count_entries(tmpdir, ".tmp."), 0);
    /* The hook fired once and is off again. */
    nr_err_clear(&err);
    CHECK_EQ(nr_file_write_atomic(path, "changed", 7, &err), NR_OK);
    /* Reading a directory or a missing file is a one-line error naming it. */
    CHECK_EQ(nr_file_read(tmpdir, &data, &n, &err), NR_STATUS_IO);
    nr_err_clear(&err);
    CHECK_EQ(nr_file_read(tmpdir, &data, &n, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "is a directory");
    CHECK(data == NULL);
    char *missing = tmp("missing.txt");
    nr_err_clear(&err);
    CHECK_EQ(nr_file_read(missing, &data, &n, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "missing.txt: No such file");
    nr_free(missing);
    nr_free(path);
}

/* The temp files a killed writer leaves are found by their name, and
 * nothing else is touched. */
static void test_atomic_leftovers(void) {
    struct nr_err err = {0};
    char *dir = tmp("leftovers");
    CHECK_EQ(nr_mkdir_p(dir, &err), NR_OK);
    char *target = nr_path_join(dir, "book.wav");
    struct nr_atomic_file af;
    CHECK_EQ(nr_atomic_open(&af, target, &err), NR_OK);
    fclose(af.fp); /* the writer is killed: no commit, no abort */
    af.fp = NULL;
    const char *keep[] = {"notes.tmp.txt", ".tmp.abcdef", "x.tmp.abc-ef", "x.tmp.abcdefg", "x.tmp"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        char *p = nr_path_join(dir, keep[i]);
        CHECK_EQ(nr_file_write_atomic(p, "x", 1, &err), NR_OK);
        nr_free(p);
    }
    CHECK_EQ(check_count_entries(dir, ".tmp."), 5);
    CHECK_EQ(nr_atomic_remove_leftovers(dir), 1);
    CHECK(!nr_file_exists(af.tmp_path));
    CHECK_EQ(check_count_entries(dir, ".tmp."), 4);
    CHECK_EQ(check_count_entries(dir, ""), 7); /* the five kept, . and .. */
    CHECK_EQ(nr_atomic_remove_leftovers(dir), 0);
    nr_atomic_abort(&af);
    nr_free(target);
    nr_free(dir);
}

static void test_mkdir_and_append(void) {
    struct nr_err err = {0};
    char *deep = tmp("x/y/z");
    CHECK_EQ(nr_mkdir_p(deep, &err), NR_OK);
    struct stat st;
    CHECK(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
    char *f = nr_path_join(deep, "log.txt");
    CHECK_EQ(nr_file_append_line(f, "one", &err), NR_OK);
    CHECK_EQ(nr_file_append_line(f, "two", &err), NR_OK);
    char *data;
    CHECK_EQ(nr_file_read(f, &data, NULL, &err), NR_OK);
    CHECK_STR(data, "one\ntwo\n");
    nr_free(data);
    /* A path through a regular file cannot become a folder. */
    char *bad = nr_path_join(f, "sub");
    CHECK_EQ(nr_mkdir_p(bad, &err), NR_STATUS_IO);
    nr_free(bad);
    nr_free(f);
    nr_free(deep);
}

static void test_settings(void) {
    struct nr_settings s;
    struct nr_err err = {0};
    nr_settings_defaults(&s);
    CHECK_EQ(s.batch_size, 3); /* the seed's default */
    CHECK_EQ(s.stall_seconds, 120);
    CHECK_EQ(s.vram_pause_percent, 95);
    CHECK_EQ(s.max_chunk_chars, 400);
    CHECK_STR(s.voice, "espeak:en-us");
    /* First use writes the file with the defaults. */
    char *path = tmp("cfg/narrate/settings.json");
    CHECK_EQ(nr_settings_load(&s, path, &err), NR_OK);
    char *data;
    CHECK_EQ(nr_file_read(path, &data, NULL, &err), NR_OK);
    CHECK_SUBSTR(data, "\"batch_size\": 3");
    nr_free(data);
    /* Values round-trip through the file. */
    CHECK_EQ(nr_settings_set(&s, "batch_size", "5", &err), NR_OK);
    CHECK_EQ(nr_settings_set(&s, "voice", "espeak:de", &err), NR_OK);
    CHECK_EQ(nr_settings_set(&s, "noise_scale", "0.5", &err), NR_OK);
    CHECK_EQ(nr_settings_set(&s, "pause_enabled", "false", &err), NR_OK);
    CHECK_EQ(nr_settings_save(&s, path, &err), NR_OK);
    struct nr_settings t;
    nr_settings_defaults(&t);
    CHECK_EQ(nr_settings_load(&t, path, &err), NR_OK);
    CHECK_EQ(t.batch_size, 5);
    CHECK_STR(t.voice, "espeak:de");
    CHECK_NEAR(t.noise_scale, 0.5, 1e-12);
    CHECK_EQ(t.pause_enabled, 0);
    CHECK(memcmp(&s, &t, sizeof s) == 0);
    /* Bad values name the key and the allowed values; s is unchanged. */
    CHECK_EQ(nr_settings_set(&s, "batch_size", "-2", &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "\"batch_size\"");
    CHECK_SUBSTR(err.msg, "from 0 to 256");
    CHECK_EQ(s.batch_size, 5);
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_set(&s, "device", "tpu", &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "allowed: cpu, cuda");
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_set(&s, "batchsize", "5", &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "unknown setting \"batchsize\"");
    CHECK_SUBSTR(err.msg, "batch_size");
    nr_err_clear(&err);
    /* A file with an unknown key or a wrong type is rejected whole. */
    CHECK_EQ(nr_file_write_atomic(path, "{\"batch_size\": 4, \"colour\": 1}", 31, &err), NR_OK);
    nr_settings_defaults(&t);
    CHECK_EQ(nr_settings_load(&t, path, &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "settings.json: unknown setting \"colour\"");
    CHECK_EQ(t.batch_size, 3);
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_from_json(&t, "{\"batch_size\": \"4\"}", &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "\"batch_size\": bad value");
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_from_json(&t, "{\"batch_size\": 4.5}", &err), NR_STATUS_INVALID_ARG);
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_from_json(&t, "[1]", &err), NR_STATUS_BAD_FORMAT);
    nr_err_clear(&err);
    CHECK_EQ(nr_settings_from_json(&t, "{\"batch_size\": 7, \"stall_seconds\": 2}", &err), NR_OK);
    CHECK_EQ(t.batch_size, 7);
    CHECK_EQ(t.stall_seconds, 2);
    /* XDG_CONFIG_HOME decides where settings live. */
    setenv("XDG_CONFIG_HOME", "/some/where", 1);
    char *p = nr_settings_path();
    CHECK_STR(p, "/some/where/narrate/settings.json");
    nr_free(p);
    nr_free(path);
}

/* Every allocation in nr_settings_to_json failing in turn: NULL, no leak. */
static void test_alloc_failures(void) {
    struct nr_settings s;
    nr_settings_defaults(&s);
    int failures = 0;
    for (size_t n = 1; n < 200; n++) {
        nr_alloc_fail_after(n);
        char *json = nr_settings_to_json(&s);
        nr_alloc_fail_after(0);
        if (json) {
            nr_free(json);
            break;
        }
        failures++;
    }
    CHECK(failures > 0);
}

static void test_hash(void) {
    char a[33], b[33], c[33];
    nr_hash_hex("narrate", 7, a);
    nr_hash_hex("narrate", 7, b);
    nr_hash_hex("narratE", 7, c);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK_EQ(strlen(a), 32);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nr_test_core_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_errors();
    test_buf();
    test_atomic_write();
    test_atomic_leftovers();
    test_mkdir_and_append();
    test_settings();
    test_alloc_failures();
    test_hash();
    check_remove_tree(tmpdir);
    return check_result("test_core");
}
