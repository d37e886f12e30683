/* The render loop through its API with a tone engine: assembly lengths,
 * cache reuse, edited manifests, stop/resume, injected write errors,
 * out-of-memory back-off, and the GPU features on scripted fake GPUs
 * (batch line, leak warning, non-interactive pause, stall watchdog). */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "narrate/render.h"
#include "render_run.h"
#include "test_engines.h"

static char root[256];
static char book[512];

static void settings_for_test(struct nr_settings *s) {
    nr_settings_defaults(s);
    snprintf(s->output_format, sizeof s->output_format, "wav");
    s->gap_sentence_ms = 250;
    s->gap_paragraph_ms = 600;
    s->gap_chapter_ms = 1500;
}

static char *dir_for(const char *name) {
    return nr_path_join(root, name);
}

static double wav_seconds(const char *path) {
    struct nr_audio a;
    struct nr_err err = {0};
    if (nr_wav_read(path, &a, &err) != NR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    double s = nr_audio_seconds(&a);
    nr_audio_deinit(&a);
    return s;
}

/* Chapter file = its chunks + the gaps between them; book = chapters +
 * chapter gaps. Computed here from the manifest and the engine's rule. */
static void test_assembly_lengths(void) {
    struct nr_settings s;
    settings_for_test(&s);
    struct tone_engine e;
    tone_engine_init(&e, 40);
    char *dir = dir_for("lengths");
    struct nr_err err = {0};
    struct nr_render_progress p;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, NULL, NULL, &p, &err), NR_OK);
    if (err.status)
        fprintf(stderr, "%s\n", err.msg);
    char *mpath = nr_path_join(dir, "manifest.json");
    struct nr_manifest *m = NULL;
    CHECK_EQ(nr_manifest_load(mpath, &m, &err), NR_OK);
    if (!m)
        return;
    CHECK_EQ(m->n_chapters, 3);
    CHECK_EQ(p.chunks_synth, m->n_chunks);
    double book_expect = 0;
    size_t i = 0;
    for (size_t c = 0; c < m->n_chapters; c++) {
        double expect = 0;
        size_t first = i;
        for (; i < m->n_chunks && m->chunks[i].chapter == c; i++) {
            expect += (double)tone_len(&e, m->chunks[i].text) / 8000.0;
            if (i + 1 < m->n_chunks && m->chunks[i + 1].chapter == c)
                expect += (m->chunks[i].gap == NR_GAP_SENTENCE ? 0.25 : 0.6);
        }
        CHECK(i > first);
        /* Find the chapter's file by its number prefix. */
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%02zu - ", c + 1);
        DIR *d = opendir(dir);
        struct dirent *ent;
        double got = -1;
        while (d && (ent = readdir(d))) {
            if (strncmp(ent->d_name, prefix, 5) == 0 && strstr(ent->d_name, ".wav")) {
                char *f = nr_path_join(dir, ent->d_name);
                got = wav_seconds(f);
                nr_free(f);
            }
        }
        if (d)
            closedir(d);
        CHECK_NEAR(got, expect, 0.001 * (double)(i - first + 1));
        book_expect += expect + (c ? 1.5 : 0);
    }
    char *bpath = nr_path_join(dir, "book.wav");
    CHECK_NEAR(wav_seconds(bpath), book_expect, 0.001 * (double)m->n_chunks);
    /* The chapter title makes the file name, ':' made readable. */
    CHECK_EQ(check_count_entries(dir, "01 - Chapter One - The Stopped Clock.wav"), 1);
    /* A second run synthesizes nothing and says so. */
    struct log_lines l = {{0}};
    size_t calls = e.calls;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, NULL, &p, &err), NR_OK);
    CHECK_EQ(e.calls, calls);
    CHECK_EQ(p.chunks_synth, 0);
    CHECK_SUBSTR(l.b.data, "already cached: nothing to synthesize");
    /* Edit one chunk's text and drop its hash: only that chunk is new. */
    char *old = m->chunks[3].text;
    m->chunks[3].text = nr_strdup("An edited sentence that nobody said before.");
    nr_hash_hex(m->chunks[3].text, strlen(m->chunks[3].text), m->chunks[3].hash);
    nr_free(old);
    CHECK_EQ(nr_manifest_save(m, mpath, &err), NR_OK);
    char *json = NULL;
    CHECK_EQ(nr_file_read(mpath, &json, NULL, &err), NR_OK);
    char *h = json ? strstr(json, m->chunks[3].hash) : NULL;
    CHECK(h != NULL);
    if (h) { /* corrupt the hash: load must refuse it, naming the chunk */
        h[0] = h[0] == '0' ? '1' : '0';
        CHECK_EQ(nr_file_write_atomic(mpath, json, strlen(json), &err), NR_OK);
        nr_err_clear(&err);
        CHECK_EQ(run_render(&s, dir, book, mpath, &e.base, NULL, NULL, &p, &err),
                 NR_STATUS_BAD_FORMAT);
        CHECK_SUBSTR(err.msg, m->chunks[3].id);
        nr_err_clear(&err);
    }
    nr_free(json);
    /* A null hash marks an edited chunk. */
    m->chunks[3].hash[0] = '\0';
    CHECK_EQ(nr_manifest_save(m, mpath, &err), NR_OK);
    CHECK_EQ(nr_file_read(mpath, &json, NULL, &err), NR_OK);
    json = json ? nr_realloc(json, strlen(json) + 3) : NULL;
    h = json ? strstr(json, "\"hash\":\t\"\"") : NULL;
    CHECK(h != NULL);
    if (h) {
        memmove(h + 12, h + 10, strlen(h + 10) + 1);
        memcpy(h + 8, "null", 4);
        CHECK_EQ(nr_file_write_atomic(mpath, json, strlen(json), &err), NR_OK);
    }
    nr_free(json);
    CHECK_EQ(run_render(&s, dir, book, mpath, &e.base, NULL, NULL, &p, &err), NR_OK);
    CHECK_EQ(p.chunks_synth, 1);
    nr_manifest_free(m);
    nr_buf_deinit(&l.b);
    nr_free(bpath);
    nr_free(mpath);
    nr_free(dir);
}

static void stop_after_two(void *user, const struct nr_render_progress *p) {
    if (p->batches == 2)
        nr_render_request_stop(user);
}

/* A stop keeps finished batches; a write error in the middle leaves no
 * temp files, and the next run reuses everything that was cached. */
static void test_stop_and_write_error(void) {
    struct nr_settings s;
    settings_for_test(&s);
    struct tone_engine e;
    tone_engine_init(&e, 10);
    char *dir = dir_for("stop");
    struct nr_err err = {0};
    struct nr_log *log = NULL;
    struct nr_render *r = NULL;
    CHECK_EQ(nr_log_new(&log, &err), NR_OK);
    CHECK_EQ(nr_render_new(&s, dir, log, &r, &err), NR_OK);
    nr_render_set_engine(r, &e.base);
    struct nr_render_callbacks cb = {r, stop_after_two, NULL};
    nr_render_set_callbacks(r, &cb);
    CHECK_EQ(nr_render_prepare_book(r, book, &err), NR_OK);
    CHECK_EQ(nr_render_run(r, &err), NR_STATUS_CANCELLED);
    struct nr_render_progress p;
    nr_render_get_progress(r, &p);
    CHECK_EQ(p.chunks_synth, 6);
    CHECK_EQ(p.state, NR_RENDER_STOPPED);
    nr_render_free(r);
    nr_log_free(log);
    char *book_wav = nr_path_join(dir, "book.wav");
    CHECK(!nr_file_exists(book_wav));
    /* Fail the 4th atomic write from now: two more cache files, then error. */
    nr_file_fail_write_after(3);
    nr_err_clear(&err);
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, NULL, NULL, &p, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "injected write error");
    nr_file_fail_write_after(0);
    char *cache = nr_path_join(dir, "cache");
    CHECK_EQ(check_count_entries(cache, ".tmp"), 0);
    CHECK_EQ(check_count_entries(dir, ".tmp"), 0);
    CHECK(!nr_file_exists(book_wav));
    int cached = check_count_entries(cache, ".pcm");
    CHECK(cached >= 6);
    nr_err_clear(&err);
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, NULL, NULL, &p, &err), NR_OK);
    CHECK_EQ(p.chunks_cached, (size_t)cached);
    CHECK_EQ(p.chunks_synth + p.chunks_cached, p.chunks_total);
    CHECK(nr_file_exists(book_wav));
    nr_free(cache);
    nr_free(book_wav);
    nr_free(dir);
}

/* Out of device memory halves the batch and carries on. */
static void test_oom_backoff(void) {
    struct nr_settings s;
    settings_for_test(&s);
    s.batch_size = 5;
    struct tone_engine e;
    tone_engine_init(&e, 10);
    e.oom_above = 2;
    char *dir = dir_for("oom");
    struct nr_err err = {0};
    struct log_lines l = {{0}};
    struct nr_render_progress p;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, NULL, &p, &err), NR_OK);
    CHECK_SUBSTR(l.b.data, "out of GPU memory with 5 chunks");
    CHECK_SUBSTR(l.b.data, "retrying with batch size 2");
    CHECK_SUBSTR(l.b.data, "Batch 1 (2 chunks) done in");
    CHECK_EQ(p.batch_size, 2);
    CHECK_EQ(p.chunks_synth, p.chunks_total);
    nr_buf_deinit(&l.b);
    nr_free(dir);
}

static char *fake_gpu(const char *name, const char *json) {
    char *path = nr_path_join(root, name);
    struct nr_err err = {0};
    if (nr_file_write_atomic(path, json, strlen(json), &err) != NR_OK)
        abort();
    setenv("NARRATE_FAKE_GPU", path, 1);
    return path;
}

/* The seed's lines on a scripted 12 GB card, the leak warning once, the
 * trend in telemetry, and the graph written at the end. */
static void test_fake_gpu_lines(void) {
    struct nr_settings s;
    settings_for_test(&s);
    struct tone_engine e;
    tone_engine_init(&e, 10);
    char *trace = fake_gpu("leak.json", "{\"name\": \"NVIDIA GeForce RTX 4070 Ti\", \"total_gb\": "
                                        "12.0, \"free_gb\": 7.1, \"used_gb\": [4.0, 5.1, 6.2, "
                                        "7.3, 8.4, 8.4, 8.4, 8.4, 8.4]}");
    char *dir = dir_for("fakegpu");
    struct nr_err err = {0};
    struct log_lines l = {{0}};
    struct nr_render_progress p;
    s.pause_enabled = 0;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, NULL, &p, &err), NR_OK);
    const char *out = l.b.data;
    CHECK_SUBSTR(out, "GPU: NVIDIA GeForce RTX 4070 Ti\nTotal VRAM: 12.0 GB\nAvailable VRAM: 7.1 "
                      "GB\nCurrent batch size (3) is optimal for your GPU\n");
    CHECK_SUBSTR(out, "] Batch 1 (3 chunks) done in ");
    CHECK_SUBSTR(out, "/chunk) | VRAM: 4.0/12.0GB (33%)\n");
    CHECK_SUBSTR(out, "/chunk) | VRAM: 6.2/12.0GB (52%)\n");
    const char *warn = strstr(out ? out : "", "WARNING: VRAM growing +1.1GB/batch - possible "
                                              "memory leak; restart to recover (the render "
                                              "resumes from cache)");
    CHECK(warn != NULL);
    /* Logged when the class changes, not on every batch. */
    CHECK(warn && !strstr(warn + 10, "WARNING: VRAM growing"));
    char *tel = nr_path_join(dir, "telemetry.jsonl"), *data = NULL;
    CHECK_EQ(nr_file_read(tel, &data, NULL, &err), NR_OK);
    CHECK_SUBSTR(data, "\"vram_used_gb\":5.1");
    CHECK_SUBSTR(data, "\"trend\":\"growing\"");
    CHECK_SUBSTR(data, "\"type\":\"end\"");
    nr_free(data);
    char *svg = nr_path_join(dir, "vram.svg"), *csv = nr_path_join(dir, "vram.csv");
    CHECK(nr_file_exists(svg) && nr_file_exists(csv));
    unsetenv("NARRATE_FAKE_GPU");
    nr_buf_deinit(&l.b);
    nr_free(svg);
    nr_free(csv);
    nr_free(tel);
    nr_free(trace);
    nr_free(dir);
}

/* Above 95 % with nobody to ask: reduce 5 -> 3 by the seed's rule, log
 * it, record it, carry on to the end. */
static void test_pause_non_interactive(void) {
    struct nr_settings s;
    settings_for_test(&s);
    s.batch_size = 5;
    struct tone_engine e;
    tone_engine_init(&e, 10);
    char *trace = fake_gpu("danger.json", "{\"name\": \"Trace\", \"total_gb\": 24.0, \"free_gb\": "
                                          "10.0, \"used_gb\": [20.0, 23.5, 20.0]}");
    char *dir = dir_for("pause");
    struct nr_err err = {0};
    struct log_lines l = {{0}};
    struct nr_render_progress p;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, NULL, &p, &err), NR_OK);
    CHECK_SUBSTR(l.b.data, "NOTE: For 24GB VRAM, recommended batch size is 10 (current: 5)\n      "
                           "Adjust in Advanced Settings if needed\n");
    CHECK_SUBSTR(l.b.data, "| VRAM: 23.5/24.0GB (98%)");
    CHECK_SUBSTR(l.b.data, "WARNING: VRAM 98% is above 95%: render paused after this batch");
    CHECK_SUBSTR(l.b.data, "Reducing batch size from 5 to 3 and continuing (no interactive user");
    CHECK_SUBSTR(l.b.data, "Batch 3 (3 chunks) done");
    CHECK_EQ(p.batch_size, 3);
    CHECK_EQ(p.chunks_synth, p.chunks_total);
    char *tel = nr_path_join(dir, "telemetry.jsonl"), *data = NULL;
    CHECK_EQ(nr_file_read(tel, &data, NULL, &err), NR_OK);
    CHECK_SUBSTR(data, "\"type\":\"pause\"");
    CHECK_SUBSTR(data, "\"new_batch_size\":3,\"vram_percent\":98,\"answer\":\"reduce\"");
    nr_free(data);
    /* --no-pause: the same trace does not pause. */
    s.pause_enabled = 0;
    struct log_lines l2 = {{0}};
    char *dir2 = dir_for("nopause");
    CHECK_EQ(run_render(&s, dir2, book, NULL, &e.base, &l2, NULL, &p, &err), NR_OK);
    CHECK(!strstr(l2.b.data, "render paused"));
    CHECK_EQ(p.batch_size, 5);
    unsetenv("NARRATE_FAKE_GPU");
    nr_buf_deinit(&l.b);
    nr_buf_deinit(&l2.b);
    nr_free(tel);
    nr_free(trace);
    nr_free(dir);
    nr_free(dir2);
}

static int answer_continue(void *user, const struct nr_render_prompt *p) {
    (void)user;
    CHECK_EQ(p->batch_size, 5);
    CHECK_EQ(p->suggested, 3);
    CHECK_SUBSTR(p->advice, "reduce the batch size immediately");
    return NR_PROMPT_CONTINUE;
}

/* An interactive answer "continue" keeps the batch size. */
static void test_pause_prompt_answer(void) {
    struct nr_settings s;
    settings_for_test(&s);
    s.batch_size = 5;
    struct tone_engine e;
    tone_engine_init(&e, 10);
    char *trace = fake_gpu("danger2.json", "{\"name\": \"Trace\", \"total_gb\": 24.0, "
                                           "\"free_gb\": 10.0, \"used_gb\": [23.5, 20.0]}");
    char *dir = dir_for("prompt");
    struct nr_err err = {0};
    struct log_lines l = {{0}};
    struct nr_render_progress p;
    struct nr_render_callbacks cb = {NULL, NULL, answer_continue};
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, &cb, &p, &err), NR_OK);
    CHECK_SUBSTR(l.b.data, "Continuing with batch size 5");
    CHECK_EQ(p.batch_size, 5);
    unsetenv("NARRATE_FAKE_GPU");
    nr_buf_deinit(&l.b);
    nr_free(trace);
    nr_free(dir);
}

/* A batch slower than stall_seconds: the watchdog warns with the last VRAM. */
static void test_watchdog(void) {
    struct nr_settings s;
    settings_for_test(&s);
    s.stall_seconds = 2;
    s.pause_enabled = 0;
    struct tone_engine e;
    tone_engine_init(&e, 10);
    e.sleep_s = 2.6;
    char *trace = fake_gpu("stall.json", "{\"name\": \"Trace\", \"total_gb\": 12.0, \"free_gb\": "
                                         "1.0, \"used_gb\": [11.8]}");
    char *dir = dir_for("stall");
    /* Two batches are enough: make a two-chunk book. */
    char *small = nr_path_join(root, "small.txt");
    struct nr_err err = {0};
    const char *text = "One sentence here.\n\nAnother one.\n";
    CHECK_EQ(nr_file_write_atomic(small, text, strlen(text), &err), NR_OK);
    snprintf(book, sizeof book, "%s", small);
    s.batch_size = 1;
    struct log_lines l = {{0}};
    struct nr_render_progress p;
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &l, NULL, &p, &err), NR_OK);
    CHECK_SUBSTR(l.b.data, "WARNING: no batch finished for 2s (last: none, VRAM");
    CHECK_SUBSTR(l.b.data, "(last: Batch 1, VRAM 11.8/12.0GB (98%)) - likely stalled or hung");
    char *tel = nr_path_join(dir, "telemetry.jsonl"), *data = NULL;
    CHECK_EQ(nr_file_read(tel, &data, NULL, &err), NR_OK);
    CHECK_SUBSTR(data, "\"type\":\"watchdog\"");
    nr_free(data);
    unsetenv("NARRATE_FAKE_GPU");
    nr_buf_deinit(&l.b);
    nr_free(tel);
    nr_free(small);
    nr_free(trace);
    nr_free(dir);
}

int main(void) {
    const char *src = getenv("NARRATE_SOURCE_DIR");
    snprintf(book, sizeof book, "%s/examples/the-lighthouse-keepers-clock.md", src ? src : ".");
    snprintf(root, sizeof root, "/tmp/nr_test_render_XXXXXX");
    if (!mkdtemp(root))
        return 1;
    unsetenv("NARRATE_FAKE_GPU");
    setenv("NARRATE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1); /* CI has no GPU anyway */
    test_assembly_lengths();
    test_stop_and_write_error();
    test_oom_backoff();
    test_fake_gpu_lines();
    test_pause_non_interactive();
    test_pause_prompt_answer();
    test_watchdog();
    if (!check_failures)
        check_remove_tree(root);
    return check_result("test_render");
}
