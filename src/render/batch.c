/* The batch loop: the seed's per-batch line, telemetry, health, the VRAM
 * pause prompt, out-of-memory back-off, stop and pause. */
#include "render_internal.h"

#include <string.h>

#include "commit.h"
#include "narrate/audio.h"

/* The seed's advice for a render above the danger line ("User actions"). */
static const char pause_advice[] =
    "VRAM is above the danger line. The seed's advice:\n"
    "  If VRAM is stable at 50-70%: good, you can increase the batch size for speed.\n"
    "  If VRAM is 80-90%: caution, close background apps or reduce the batch size.\n"
    "  If VRAM is >95%: danger, reduce the batch size immediately (by 1-2).\n"
    "  If VRAM grows each batch: memory leak, stop and restart; the render resumes from "
    "cached chunks.";

static int batch_size_now(struct nr_render *r) {
    if (r->s.batch_size > 0)
        return r->s.batch_size;
    /* "auto": start from the recommendation for this card (or the seed's
     * default of 3 without a GPU) until the auto-tuner takes over. */
    struct nr_gpu_sample s;
    nr_gpu_sample_startup(r->gpu, &s);
    r->s.batch_size = s.valid ? nr_gpu_recommend_batch(s.total) : 3;
    nr_log_event(r->log, "Batch size auto: starting at %d", r->s.batch_size);
    return r->s.batch_size;
}

/* Waits while the user has paused the render; returns 1 when stopped. */
static int wait_if_paused(struct nr_render *r) {
    pthread_mutex_lock(&r->mu);
    int paused = r->pause_req && !r->stop_req;
    pthread_mutex_unlock(&r->mu);
    if (!paused)
        return nr__render_should_stop(r);
    nr_log_event(r->log, "Paused after batch %zu", r->prog.batches);
    nr__render_set_state(r, NR_RENDER_PAUSED);
    nr_gpu_watchdog_set_paused(r->wd, 1);
    pthread_mutex_lock(&r->mu);
    while (r->pause_req && !r->stop_req)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    nr_gpu_watchdog_set_paused(r->wd, 0);
    if (nr__render_should_stop(r))
        return 1;
    nr_log_event(r->log, "Resumed");
    nr__render_set_state(r, NR_RENDER_RUNNING);
    return 0;
}

static const char *answer_name(int a) {
    return a == NR_PROMPT_REDUCE ? "reduce" : a == NR_PROMPT_CONTINUE ? "continue" : "stop";
}

/* VRAM crossed vram_pause_percent: ask (or decide) and apply the answer.
 * Returns 1 when the answer is to stop. */
static int vram_prompt(struct nr_render *r, int percent) {
    struct nr_render_prompt p = {r->s.batch_size, nr_gpu_reduced_batch(r->s.batch_size),
                                 (double)percent, pause_advice};
    nr_log_event(r->log, "WARNING: VRAM %d%% is above %d%%: render paused after this batch",
                 percent, r->s.vram_pause_percent);
    nr__render_set_state(r, NR_RENDER_PROMPT);
    nr_gpu_watchdog_set_paused(r->wd, 1);
    int answer = NR_PROMPT_REDUCE;
    if (r->cb.on_prompt) {
        pthread_mutex_lock(&r->mu);
        r->prompt_answer = -1;
        pthread_mutex_unlock(&r->mu);
        answer = r->cb.on_prompt(r->cb.user, &p);
        if (answer < 0) {
            pthread_mutex_lock(&r->mu);
            while (r->prompt_answer < 0 && !r->stop_req)
                pthread_cond_wait(&r->cv, &r->mu);
            answer = r->stop_req ? NR_PROMPT_STOP : r->prompt_answer;
            pthread_mutex_unlock(&r->mu);
        }
    } else {
        nr_log_raw(r->log, "%s", pause_advice);
    }
    nr_gpu_watchdog_set_paused(r->wd, 0);
    char hms[16];
    nr_clock_hms(hms, sizeof hms);
    struct nr_buf b = {0};
    int new_size = answer == NR_PROMPT_REDUCE ? p.suggested : r->s.batch_size;
    if (nr_buf_printf(&b,
                      "{\"type\":\"pause\",\"t\":%.3f,\"time\":\"%s\",\"batch_size\":%d,"
                      "\"new_batch_size\":%d,\"vram_percent\":%d,\"answer\":\"%s\"}",
                      nr_now() - r->t0, hms, r->s.batch_size, new_size, percent,
                      answer_name(answer)) == NR_OK)
        nr__render_telemetry(r, b.data);
    nr_buf_deinit(&b);
    if (answer == NR_PROMPT_STOP) {
        nr_log_event(r->log, "Stopping at the user's request (VRAM %d%%)", percent);
        nr_render_request_stop(r);
        return 1;
    }
    if (answer == NR_PROMPT_REDUCE)
        nr_log_event(r->log, "Reducing batch size from %d to %d and continuing%s",
                     r->s.batch_size, p.suggested,
                     r->cb.on_prompt ? "" : " (no interactive user to ask)");
    else
        nr_log_event(r->log, "Continuing with batch size %d", r->s.batch_size);
    r->s.batch_size = new_size;
    pthread_mutex_lock(&r->mu);
    r->prog.batch_size = new_size;
    pthread_mutex_unlock(&r->mu);
    nr__render_set_state(r, NR_RENDER_RUNNING);
    return 0;
}

static void batch_telemetry(struct nr_render *r, size_t batch_no, const size_t *idx, size_t n,
                            double secs, double audio, size_t chars,
                            const struct nr_gpu_sample *s) {
    char hms[16];
    nr_clock_hms(hms, sizeof hms);
    struct nr_buf b = {0};
    enum nr_status st = nr_buf_printf(
        &b, "{\"type\":\"batch\",\"batch\":%zu,\"t\":%.3f,\"time\":\"%s\",\"n\":%zu,\"chunks\":[",
        batch_no, nr_now() - r->t0, hms, n);
    for (size_t i = 0; i < n && st == NR_OK; i++)
        st = nr_buf_printf(&b, "%s\"%s\"", i ? "," : "", r->m->chunks[idx[i]].id);
    if (st == NR_OK)
        st = nr_buf_printf(&b,
                           "],\"seconds\":%.3f,\"sec_per_chunk\":%.3f,\"audio_seconds\":%.3f,"
                           "\"chars\":%zu,\"batch_size\":%d",
                           secs, secs / (double)n, audio, chars, r->s.batch_size);
    if (st == NR_OK)
        st = nr_gpu_sample_json(s, &b, NULL);
    if (st == NR_OK)
        st = nr_buf_printf(&b, ",\"health\":\"%s\",\"trend\":\"%s\",\"slope_gb\":%.4f}",
                           nr_gpu_health_class(&r->health), nr_gpu_health_trend(&r->health),
                           nr_gpu_health_slope_gb(&r->health));
    if (st == NR_OK)
        nr__render_telemetry(r, b.data);
    nr_buf_deinit(&b);
}

/* After a batch: the seed's line, health lines, watchdog, telemetry,
 * progress. Returns the VRAM percentage (-1 without a GPU). */
static int after_batch(struct nr_render *r, const size_t *idx, size_t n, double secs,
                       double audio, size_t chars) {
    struct nr_gpu_sample s;
    nr_gpu_sample(r->gpu, &s);
    r->last_sample = s;
    if (s.valid && (double)s.used / (1 << 30) > r->peak_used_gb)
        r->peak_used_gb = (double)s.used / (1 << 30);
    pthread_mutex_lock(&r->mu);
    size_t batch_no = ++r->prog.batches;
    r->prog.chunks_synth += n;
    r->prog.chunks_done += n;
    r->prog.audio_seconds += audio;
    r->prog.elapsed_seconds = nr_now() - r->t0;
    size_t left = r->prog.chunks_total - r->prog.chunks_done;
    r->prog.eta_seconds = r->synth_seconds / (double)r->prog.chunks_synth * (double)left;
    pthread_mutex_unlock(&r->mu);
    char vram[64];
    nr_gpu_format_vram(&s, vram, sizeof vram);
    nr_log_event(r->log, "Batch %zu (%zu chunks) done in %.2fs (%.2fs/chunk) | VRAM: %s", batch_no,
                 n, secs, secs / (double)n, vram);
    struct nr_buf lines = {0};
    if (nr_gpu_health_update(&r->health, &s, &lines, NULL) == NR_OK && lines.len)
        nr_log_event(r->log, "%s", lines.data);
    nr_buf_deinit(&lines);
    nr_gpu_watchdog_batch_done(r->wd, (int)batch_no, &s);
    batch_telemetry(r, batch_no, idx, n, secs, audio, chars, &s);
    nr__render_notify(r);
    return nr_gpu_sample_percent(&s);
}

/* Synthesizes one batch and hands every result to the cache committer. */
static enum nr_status run_batch(struct nr_render *r, struct nr_committer *c, const size_t *idx,
                                size_t n, const size_t *next_idx, size_t n_next, double *audio,
                                size_t *chars, struct nr_err *err) {
    const char *texts[NR_BATCH_MAX] = {0}, *next[NR_BATCH_MAX] = {0};
    struct nr_audio out[NR_BATCH_MAX];
    *audio = 0;
    *chars = 0;
    for (size_t i = 0; i < n; i++) {
        texts[i] = r->m->chunks[idx[i]].text;
        *chars += strlen(texts[i]);
    }
    /* The following batch, so the engine can keep going while this one is
     * stored and logged. */
    for (size_t i = 0; i < n_next; i++)
        next[i] = r->m->chunks[next_idx[i]].text;
    nr_engine_hint_next(r->engine, next, n_next);
    enum nr_status st = nr_engine_synth_batch(r->engine, texts, n, out, err);
    if (st != NR_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        *audio += nr_audio_seconds(&out[i]);
        char *path = st == NR_OK ? nr_render_cache_path(r->out_dir, r->engine, texts[i]) : NULL;
        if (!path && st == NR_OK)
            st = nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
        if (st == NR_OK)
            st = nr__committer_push(c, path, &out[i], err);
        nr_audio_deinit(&out[i]);
    }
    return st;
}

static enum nr_status batches(struct nr_render *r, struct nr_committer *c, const size_t *pending,
                              size_t n_pending, struct nr_err *err) {
    size_t next = 0;
    int warned_floor = 0;
    /* synth_seconds is the loop's wall time less pauses: with the next batch
     * queued on a hint, work goes on between the batches' own timers. */
    double mark = nr_now();
    while (next < n_pending) {
        double t_wait = nr_now();
        if (wait_if_paused(r))
            return nr_err_set(err, NR_STATUS_CANCELLED, "render stopped");
        mark += nr_now() - t_wait;
        size_t n = (size_t)batch_size_now(r);
        if (n > NR_BATCH_MAX)
            n = NR_BATCH_MAX;
        if (n > n_pending - next)
            n = n_pending - next;
        double t = nr_now(), audio;
        size_t chars;
        struct nr_err berr = {0};
        size_t n_next = n_pending - next - n < n ? n_pending - next - n : n;
        enum nr_status st =
            run_batch(r, c, pending + next, n, pending + next + n, n_next, &audio, &chars, &berr);
        if (st == NR_STATUS_DEVICE_OOM && n > 1) {
            /* Out of device memory is recoverable: back off and retry. */
            int smaller = (int)(n / 2);
            nr_log_event(r->log,
                         "WARNING: out of GPU memory with %zu chunks (%s); retrying with batch "
                         "size %d",
                         n, berr.msg, smaller);
            r->s.batch_size = smaller;
            pthread_mutex_lock(&r->mu);
            r->prog.batch_size = smaller;
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (st != NR_OK) {
            *err = berr;
            return st;
        }
        if (nr__committer_check(c, &berr) != NR_OK) {
            *err = berr;
            return berr.status;
        }
        double now = nr_now(), secs = now - t;
        r->synth_seconds += now - mark;
        mark = now;
        int percent = after_batch(r, pending + next, n, secs, audio, chars);
        next += n;
        if (!r->s.pause_enabled || percent <= r->s.vram_pause_percent || next >= n_pending)
            continue;
        if (nr_gpu_reduced_batch(r->s.batch_size) < r->s.batch_size) {
            t_wait = nr_now();
            if (vram_prompt(r, percent))
                return nr_err_set(err, NR_STATUS_CANCELLED, "render stopped");
            mark += nr_now() - t_wait;
        } else if (!warned_floor) {
            /* Nothing left to reduce: say so once instead of asking again. */
            nr_log_event(r->log,
                         "WARNING: VRAM %d%% is above %d%% at batch size %d: nothing left to "
                         "reduce; close other GPU applications",
                         percent, r->s.vram_pause_percent, r->s.batch_size);
            warned_floor = 1;
        }
    }
    return NR_OK;
}

enum nr_status nr__render_batches(struct nr_render *r, const size_t *pending, size_t n_pending,
                                  struct nr_err *err) {
    struct nr_committer *c = NULL;
    enum nr_status st = nr__committer_start(&c, err);
    if (st != NR_OK)
        return st;
    st = batches(r, c, pending, n_pending, err);
    /* Every chunk synthesized is written before the render returns, also
     * when it stops or fails; a write error beats a stop. */
    struct nr_err werr = {0};
    double t = nr_now();
    enum nr_status wst = nr__committer_finish(c, &werr);
    r->synth_seconds += nr_now() - t; /* the last chunks reach the cache */
    if (wst != NR_OK && (st == NR_OK || st == NR_STATUS_CANCELLED)) {
        nr_err_clear(err);
        *err = werr;
        st = werr.status;
    }
    return st;
}
