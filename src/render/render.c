/* The render context: preparing a manifest (from a book or an edited
 * manifest), scanning the cache, running batches, assembling. */
#include "render_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "narrate/audio.h"
#include "narrate/report.h"

static const char *const state_names[] = {"idle",       "running", "paused",  "prompt",
                                          "assembling", "done",    "stopped", "failed"};

const char *nr_render_state_name(int state) {
    if (state < 0 || state >= (int)(sizeof state_names / sizeof state_names[0]))
        return "unknown";
    return state_names[state];
}

/* Takes OUT/.narrate.lock, so two renders (the CLI and the dashboard, say)
 * never write one folder at once. A record lock: the kernel drops it when
 * the process dies, however it dies, and forked eSpeak NG speakers do not
 * inherit it. */
static enum nr_status lock_folder(struct nr_render *r, struct nr_err *err) {
    char *path = nr_path_join(r->out_dir, ".narrate.lock");
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(e));
        nr_free(path);
        return NR_STATUS_IO;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        close(fd);
        nr_free(path);
        if (e == EACCES || e == EAGAIN)
            return nr_err_set(err, NR_STATUS_IO,
                              "%s: another narrate is rendering into this folder", r->out_dir);
        return nr_err_set(err, NR_STATUS_IO, "%s: cannot lock: %s", r->out_dir, strerror(e));
    }
    nr_free(path);
    r->lock_fd = fd;
    return NR_OK;
}

enum nr_status nr_render_new(const struct nr_settings *settings, const char *out_dir,
                             struct nr_log *log, struct nr_render **out, struct nr_err *err) {
    *out = NULL;
    enum nr_status st = nr_mkdir_p(out_dir, err);
    if (st != NR_OK)
        return st;
    struct nr_render *r = nr_calloc(1, sizeof *r);
    if (!r)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    r->s = *settings;
    r->log = log;
    r->lock_fd = -1;
    r->prompt_answer = -1;
    r->prog.eta_seconds = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->out_dir = nr_strdup(out_dir);
    r->cache_dir = nr_path_join(out_dir, "cache");
    r->manifest_path = nr_path_join(out_dir, "manifest.json");
    r->telemetry_path = nr_path_join(out_dir, "telemetry.jsonl");
    char *log_path = nr_path_join(out_dir, "activity.log");
    if (!r->out_dir || !r->cache_dir || !r->manifest_path || !r->telemetry_path || !log_path) {
        nr_free(log_path);
        nr_render_free(r);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    }
    st = nr_mkdir_p(r->cache_dir, err);
    if (st == NR_OK)
        st = lock_folder(r, err);
    if (st == NR_OK && log)
        st = nr_log_set_file(log, log_path, err);
    nr_free(log_path);
    if (st != NR_OK) {
        nr_render_free(r);
        return st;
    }
    /* Under the folder lock, no temp file here is being written: those left
     * are a killed render's (a kill -9 can land mid-write). */
    size_t swept =
        nr_atomic_remove_leftovers(r->out_dir) + nr_atomic_remove_leftovers(r->cache_dir);
    if (swept)
        nr_log_event(log, "Removed %zu unfinished temp file%s left by an interrupted render", swept,
                     swept == 1 ? "" : "s");
    *out = r;
    return NR_OK;
}

void nr_render_free(struct nr_render *r) {
    if (!r)
        return;
    if (r->owns_engine)
        nr_engine_free(r->engine);
    nr_manifest_free(r->m);
    nr_gpu_watchdog_stop(r->wd);
    nr_gpu_free(r->gpu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    nr_free(r->out_dir);
    nr_free(r->cache_dir);
    nr_free(r->manifest_path);
    nr_free(r->telemetry_path);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    nr_free(r);
}

void nr_render_set_callbacks(struct nr_render *r, const struct nr_render_callbacks *cb) {
    r->cb = *cb;
}

void nr_render_set_engine(struct nr_render *r, struct nr_engine *engine) {
    if (r->owns_engine)
        nr_engine_free(r->engine);
    r->engine = engine;
    r->owns_engine = 0;
}

void nr_render_set_stop_flag(struct nr_render *r, volatile int *flag) {
    r->stop_flag = flag;
}

const struct nr_manifest *nr_render_manifest(const struct nr_render *r) {
    return r->m;
}

enum nr_status nr_render_prepare_book(struct nr_render *r, const char *book_path,
                                      struct nr_err *err) {
    struct nr_book *book = NULL;
    enum nr_status st = nr_book_load(book_path, &book, err);
    if (st != NR_OK)
        return st;
    /* Reuse a manifest of the same book and chunking: it may hold the user's
     * edits, and its chunks are what the cache was made from. */
    if (nr_file_exists(r->manifest_path)) {
        struct nr_manifest *old = NULL;
        st = nr_manifest_load(r->manifest_path, &old, err);
        if (st != NR_OK) {
            nr_book_free(book);
            return st;
        }
        if (strcmp(old->source_hash, book->source_hash) == 0 &&
            old->max_chunk_chars == r->s.max_chunk_chars) {
            nr_book_free(book);
            nr_manifest_free(r->m);
            r->m = old;
            nr_log_event(r->log, "Using the existing manifest %s (%zu chunks)", r->manifest_path,
                         old->n_chunks);
            return old->rehashed ? nr_manifest_save(old, r->manifest_path, err) : NR_OK;
        }
        nr_manifest_free(old);
    }
    struct nr_manifest *m = NULL;
    st = nr_manifest_build(book, r->s.max_chunk_chars, &m, err);
    nr_book_free(book);
    if (st == NR_OK)
        st = nr_manifest_save(m, r->manifest_path, err);
    if (st != NR_OK) {
        nr_manifest_free(m);
        return st;
    }
    nr_manifest_free(r->m);
    r->m = m;
    nr_log_event(r->log, "Wrote %s: %zu chapters, %zu chunks", r->manifest_path, m->n_chapters,
                 m->n_chunks);
    return NR_OK;
}

enum nr_status nr_render_prepare_manifest(struct nr_render *r, const char *manifest_path,
                                          struct nr_err *err) {
    struct nr_manifest *m = NULL;
    enum nr_status st = nr_manifest_load(manifest_path, &m, err);
    if (st != NR_OK)
        return st;
    if (m->rehashed) {
        st = nr_manifest_save(m, manifest_path, err);
        if (st != NR_OK) {
            nr_manifest_free(m);
            return st;
        }
        nr_log_event(r->log, "Edited chunks found in %s: hashes updated", manifest_path);
    }
    nr_manifest_free(r->m);
    r->m = m;
    return NR_OK;
}

char *nr_render_cache_path(const char *out_dir, const struct nr_engine *engine, const char *text) {
    struct nr_buf key = {0};
    char hex[33], name[64];
    if (nr_buf_printf(&key, "%s\n%s", engine->cache_key, text) != NR_OK) {
        nr_buf_deinit(&key);
        return NULL;
    }
    nr_hash_hex(key.data, key.len, hex);
    nr_buf_deinit(&key);
    snprintf(name, sizeof name, "cache/%s.pcm", hex);
    return nr_path_join(out_dir, name);
}

/* ---- thread-safe controls --------------------------------------------------- */

void nr__render_notify(struct nr_render *r) {
    struct nr_render_progress p;
    nr_render_get_progress(r, &p);
    if (r->cb.on_progress)
        r->cb.on_progress(r->cb.user, &p);
}

void nr__render_set_state(struct nr_render *r, int state) {
    pthread_mutex_lock(&r->mu);
    r->prog.state = state;
    pthread_mutex_unlock(&r->mu);
    nr__render_notify(r);
}

int nr__render_should_stop(struct nr_render *r) {
    pthread_mutex_lock(&r->mu);
    if (r->stop_flag && *r->stop_flag)
        r->stop_req = 1;
    int stop = r->stop_req;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

void nr_render_request_stop(struct nr_render *r) {
    pthread_mutex_lock(&r->mu);
    r->stop_req = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void nr_render_pause(struct nr_render *r) {
    pthread_mutex_lock(&r->mu);
    r->pause_req = 1;
    pthread_mutex_unlock(&r->mu);
}

void nr_render_resume(struct nr_render *r) {
    pthread_mutex_lock(&r->mu);
    r->pause_req = 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void nr_render_answer_prompt(struct nr_render *r, enum nr_prompt_answer answer) {
    pthread_mutex_lock(&r->mu);
    r->prompt_answer = (int)answer;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void nr_render_get_progress(struct nr_render *r, struct nr_render_progress *p) {
    pthread_mutex_lock(&r->mu);
    *p = r->prog;
    pthread_mutex_unlock(&r->mu);
}

void nr__render_telemetry(struct nr_render *r, const char *json) {
    struct nr_err err = {0};
    if (nr_file_append_line(r->telemetry_path, json, &err) != NR_OK)
        nr_log_event(r->log, "WARNING: telemetry not written: %s", err.msg);
}

/* ---- the run ----------------------------------------------------------------- */

/* The settings that change the audio, as JSON, for the manifest. */
static char *audio_settings_json(const struct nr_render *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "engine", r->engine->cache_key);
    cJSON_AddNumberToObject(o, "sample_rate", r->engine->sample_rate);
    cJSON_AddNumberToObject(o, "gap_sentence_ms", r->s.gap_sentence_ms);
    cJSON_AddNumberToObject(o, "gap_paragraph_ms", r->s.gap_paragraph_ms);
    cJSON_AddNumberToObject(o, "gap_chapter_ms", r->s.gap_chapter_ms);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *copy = text ? nr_strdup(text) : NULL;
    cJSON_free(text);
    return copy;
}

static enum nr_status open_engine(struct nr_render *r, struct nr_err *err) {
    if (!r->engine) {
        enum nr_status st = nr_engine_open(&r->s, &r->engine, err);
        if (st != NR_OK)
            return st;
        r->owns_engine = 1;
    }
    nr_engine_set_log(r->engine, r->log);
    char *settings = audio_settings_json(r);
    if (!settings)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    enum nr_status st = NR_OK;
    if (strcmp(r->m->voice, r->s.voice) != 0 || strcmp(r->m->audio_settings, settings) != 0) {
        st = nr_manifest_set_voice(r->m, r->s.voice, settings, err);
        if (st == NR_OK)
            st = nr_manifest_save(r->m, r->manifest_path, err);
    }
    nr_free(settings);
    return st;
}

/* Collects the chunks whose audio is missing or damaged in the cache; a
 * text that appears twice is synthesized once. */
static enum nr_status scan_cache(struct nr_render *r, size_t **out, size_t *n_out,
                                 struct nr_err *err) {
    const struct nr_manifest *m = r->m;
    size_t *pending = nr_malloc((m->n_chunks ? m->n_chunks : 1) * sizeof *pending);
    char **seen = nr_calloc(m->n_chunks ? m->n_chunks : 1, sizeof *seen);
    size_t n = 0, n_seen = 0, cached = 0;
    double audio = 0;
    enum nr_status st = NR_OK;
    if (!pending || !seen)
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    for (size_t i = 0; st == NR_OK && i < m->n_chunks; i++) {
        char *path = nr_render_cache_path(r->out_dir, r->engine, m->chunks[i].text);
        if (!path) {
            st = nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
            break;
        }
        struct nr_audio a;
        struct nr_err cerr = {0};
        if (nr_file_exists(path) && nr_cache_load(path, &a, &cerr) == NR_OK) {
            cached++;
            audio += nr_audio_seconds(&a);
            nr_audio_deinit(&a);
            nr_free(path);
            continue;
        }
        if (cerr.status != NR_OK)
            nr_log_event(r->log, "Cache file damaged, rendering again: %s", cerr.msg);
        int dup = 0;
        for (size_t k = 0; k < n_seen && !dup; k++)
            dup = strcmp(seen[k], path) == 0;
        if (dup) {
            nr_free(path);
        } else {
            seen[n_seen++] = path;
            pending[n++] = i;
        }
    }
    for (size_t k = 0; k < n_seen; k++)
        nr_free(seen[k]);
    nr_free(seen);
    if (st != NR_OK) {
        nr_free(pending);
        return st;
    }
    pthread_mutex_lock(&r->mu);
    r->prog.chunks_total = m->n_chunks;
    r->prog.chunks_cached = cached;
    r->prog.chunks_done = m->n_chunks - n;
    r->prog.audio_seconds = audio;
    pthread_mutex_unlock(&r->mu);
    *out = pending;
    *n_out = n;
    return NR_OK;
}

static void log_startup(struct nr_render *r, size_t n_pending) {
    struct nr_buf b = {0};
    struct nr_err err = {0};
    if (nr_gpu_startup_report(r->gpu, r->s.batch_size, -1, &b, &err) == NR_OK)
        nr_log_raw(r->log, "%s", b.data ? b.data : "");
    nr_buf_deinit(&b);
    struct nr_gpu_sample s;
    nr_gpu_sample_startup(r->gpu, &s);
    nr_gpu_watchdog_batch_done(r->wd, 0, &s);
    char hms[16];
    nr_clock_hms(hms, sizeof hms);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "start");
    cJSON_AddStringToObject(o, "time", hms);
    cJSON_AddStringToObject(o, "gpu", nr_gpu_name(r->gpu));
    if (s.valid)
        cJSON_AddNumberToObject(o, "total_gb", (double)s.total / (1 << 30));
    cJSON_AddNumberToObject(o, "batch_size", r->s.batch_size);
    cJSON_AddStringToObject(o, "engine", r->engine->name);
    cJSON_AddStringToObject(o, "voice", r->s.voice);
    cJSON_AddNumberToObject(o, "chunks_total", (double)r->m->n_chunks);
    cJSON_AddNumberToObject(o, "chunks_cached", (double)(r->m->n_chunks - n_pending));
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        nr__render_telemetry(r, text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static void watchdog_telemetry(void *user, double since, const struct nr_gpu_sample *last) {
    struct nr_render *r = user;
    struct nr_buf b = {0};
    char hms[16];
    nr_clock_hms(hms, sizeof hms);
    if (nr_buf_printf(&b,
                      "{\"type\":\"watchdog\",\"t\":%.3f,\"time\":\"%s\",\"since_progress_s\":%.1f",
                      nr_now() - r->t0, hms, since) == NR_OK &&
        nr_gpu_sample_json(last, &b, NULL) == NR_OK && nr_buf_append(&b, "}", 1) == NR_OK)
        nr__render_telemetry(r, b.data);
    nr_buf_deinit(&b);
}

static void log_summary(struct nr_render *r, const char *status) {
    struct nr_render_progress p;
    nr_render_get_progress(r, &p);
    char hms[16];
    nr_clock_hms(hms, sizeof hms);
    double per = p.chunks_synth ? r->synth_seconds / (double)p.chunks_synth : 0;
    nr_log_event(r->log,
                 "Summary: %zu batches, %zu chunks synthesized in %.2fs (%.2fs/chunk), %zu from "
                 "cache, audio %.1f min, VRAM trend: %s (%+.2fGB/batch)",
                 p.batches, p.chunks_synth, r->synth_seconds, per, p.chunks_cached,
                 p.audio_seconds / 60.0, nr_gpu_health_trend(&r->health),
                 nr_gpu_health_slope_gb(&r->health));
    struct nr_buf b = {0};
    if (nr_buf_printf(
            &b,
            "{\"type\":\"end\",\"t\":%.3f,\"time\":\"%s\",\"status\":\"%s\",\"batches\":%zu,"
            "\"chunks\":%zu,\"trend\":\"%s\",\"slope_gb\":%.4f,\"peak_used_gb\":%.3f}",
            nr_now() - r->t0, hms, status, p.batches, p.chunks_synth,
            nr_gpu_health_trend(&r->health), nr_gpu_health_slope_gb(&r->health),
            r->peak_used_gb) == NR_OK)
        nr__render_telemetry(r, b.data);
    nr_buf_deinit(&b);
    struct nr_err err = {0};
    if (nr_report_build(r->out_dir, &err) != NR_OK)
        nr_log_event(r->log, "WARNING: VRAM graph not written: %s", err.msg);
}

static enum nr_status run_prepared(struct nr_render *r, struct nr_err *err) {
    size_t *pending = NULL, n_pending = 0;
    enum nr_status st = scan_cache(r, &pending, &n_pending, err);
    if (st != NR_OK)
        return st;
    st = nr_gpu_watchdog_start(&r->wd, r->s.stall_seconds, r->log, watchdog_telemetry, r, err);
    if (st != NR_OK) {
        nr_free(pending);
        return st;
    }
    log_startup(r, n_pending);
    if (n_pending == 0)
        nr_log_event(r->log, "All %zu chunks are already cached: nothing to synthesize",
                     r->m->n_chunks);
    else
        nr_log_event(r->log, "Rendering %zu of %zu chunks (%zu cached) with %s, batch size %d",
                     n_pending, r->m->n_chunks, r->m->n_chunks - n_pending, r->s.voice,
                     r->s.batch_size);
    nr__render_set_state(r, NR_RENDER_RUNNING);
    st = nr__render_batches(r, pending, n_pending, err);
    nr_free(pending);
    nr_gpu_watchdog_stop(r->wd);
    r->wd = NULL;
    log_summary(r, st == NR_OK ? "done" : st == NR_STATUS_CANCELLED ? "stopped" : "failed");
    if (st == NR_OK) {
        nr__render_set_state(r, NR_RENDER_ASSEMBLING);
        st = nr__render_assemble(r, err);
    }
    return st;
}

enum nr_status nr_render_run(struct nr_render *r, struct nr_err *err) {
    if (!r->m)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "render: nothing prepared");
    r->t0 = nr_now();
    r->synth_seconds = 0;
    r->peak_used_gb = 0;
    nr_gpu_health_init(&r->health);
    pthread_mutex_lock(&r->mu);
    r->prog.batches = r->prog.chunks_synth = 0;
    r->prog.batch_size = r->s.batch_size;
    pthread_mutex_unlock(&r->mu);
    enum nr_status st = open_engine(r, err);
    if (st == NR_OK && !r->gpu)
        st = nr_gpu_open(r->s.gpu_index, &r->gpu, err);
    if (st == NR_OK)
        st = run_prepared(r, err);
    nr__render_set_state(r, st == NR_OK                 ? NR_RENDER_DONE
                            : st == NR_STATUS_CANCELLED ? NR_RENDER_STOPPED
                                                        : NR_RENDER_FAILED);
    return st;
}
