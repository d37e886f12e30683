/* The render job: one render at a time, on a worker thread, through the
 * render module (the same code path as `narrate render`). Progress, chart
 * points and the VRAM prompt become events for the page.
 *
 * Locking: s->mu guards s->job. Control requests call nr_render_* while
 * holding s->mu; the worker clears job.r under s->mu before freeing the
 * render, so a control request never sees a freed render. The render calls
 * our callbacks without holding its own lock, so taking s->mu there is
 * safe. */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "server_internal.h"

void nr__job_deinit(struct nr__job *job) {
    nr_free(job->book);
    nr_free(job->out_dir);
    nr_free(job->telemetry_path);
    nr_buf_deinit(&job->points);
    memset(job, 0, sizeof *job);
}

static cJSON *progress_object(const struct nr_render_progress *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", nr_render_state_name(p->state));
    cJSON_AddNumberToObject(o, "chunks_total", (double)p->chunks_total);
    cJSON_AddNumberToObject(o, "chunks_done", (double)p->chunks_done);
    cJSON_AddNumberToObject(o, "chunks_cached", (double)p->chunks_cached);
    cJSON_AddNumberToObject(o, "chunks_synth", (double)p->chunks_synth);
    cJSON_AddNumberToObject(o, "batches", (double)p->batches);
    cJSON_AddNumberToObject(o, "batch_size", p->batch_size);
    cJSON_AddNumberToObject(o, "audio_seconds", p->audio_seconds);
    cJSON_AddNumberToObject(o, "elapsed_seconds", p->elapsed_seconds);
    if (p->eta_seconds >= 0)
        cJSON_AddNumberToObject(o, "eta_seconds", p->eta_seconds);
    else
        cJSON_AddNullToObject(o, "eta_seconds");
    return o;
}

static void push_cjson(struct nr_server *s, const char *type, cJSON *o) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    if (text)
        nr__events_push(&s->ev, type, text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static void copy_field(cJSON *to, const cJSON *from, const char *key, const char *as) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);
    cJSON_AddItemToObject(to, as, v ? cJSON_Duplicate(v, 0) : cJSON_CreateNull());
}

/* New "batch" lines of telemetry.jsonl become chart points. The render
 * appends the line before it reports progress, so the file is complete
 * for every batch reported. Called with s->mu held. */
static void read_points(struct nr_server *s) {
    struct nr__job *job = &s->job;
    FILE *fp = fopen(job->telemetry_path, "r");
    if (!fp)
        return;
    if (fseek(fp, job->telemetry_off, SEEK_SET) != 0) {
        fclose(fp);
        return;
    }
    char line[8192];
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            break; /* a partial line: read it next time */
        job->telemetry_off += (long)n;
        cJSON *t = cJSON_Parse(line);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "batch") == 0) {
            cJSON *pt = cJSON_CreateObject();
            copy_field(pt, t, "batch", "batch");
            copy_field(pt, t, "t", "t");
            copy_field(pt, t, "batch_size", "batch_size");
            copy_field(pt, t, "n", "chunks");
            copy_field(pt, t, "sec_per_chunk", "sec_per_chunk");
            copy_field(pt, t, "vram_used_gb", "used_gb");
            copy_field(pt, t, "vram_total_gb", "total_gb");
            copy_field(pt, t, "vram_percent", "percent");
            copy_field(pt, t, "health", "health");
            char *text = cJSON_PrintUnformatted(pt);
            if (text) {
                if (nr_buf_printf(&job->points, "%s%s", job->points.len ? "," : "", text) !=
                    NR_OK) {
                    /* the chart misses a point; the event below still carries it */
                }
                nr__events_push(&s->ev, "point", text);
            }
            cJSON_free(text);
            cJSON_Delete(pt);
        }
        cJSON_Delete(t);
    }
    fclose(fp);
}

static void on_progress(void *user, const struct nr_render_progress *p) {
    struct nr_server *s = user;
    /* The render reports its final state as it returns, before the job logs
     * "Render finished". The job publishes that state itself after the log
     * line, so a page that sees "done" already has the whole log. */
    if (p->state == NR_RENDER_DONE || p->state == NR_RENDER_STOPPED ||
        p->state == NR_RENDER_FAILED) {
        pthread_mutex_lock(&s->mu);
        int state = s->job.prog.state;
        s->job.prog = *p; /* keep the final counts */
        s->job.prog.state = state;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->job.prog = *p;
    if (p->state != NR_RENDER_PROMPT && s->job.has_prompt) {
        s->job.has_prompt = 0;
        nr__events_push(&s->ev, "prompt_closed", "{}");
    }
    if (p->batches > s->job.batches_seen) {
        s->job.batches_seen = p->batches;
        read_points(s);
    }
    pthread_mutex_unlock(&s->mu);
    push_cjson(s, "progress", progress_object(p));
}

static cJSON *prompt_object(const struct nr__prompt *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "batch_size", p->batch_size);
    cJSON_AddNumberToObject(o, "suggested", p->suggested);
    cJSON_AddNumberToObject(o, "used_percent", p->used_percent);
    cJSON_AddStringToObject(o, "advice", p->advice);
    return o;
}

/* The VRAM prompt: shown as a dialog; the render waits (-1) until
 * POST /api/render/answer calls nr_render_answer_prompt. */
static int on_prompt(void *user, const struct nr_render_prompt *p) {
    struct nr_server *s = user;
    pthread_mutex_lock(&s->mu);
    struct nr__prompt *q = &s->job.prompt;
    q->batch_size = p->batch_size;
    q->suggested = p->suggested;
    q->used_percent = p->used_percent;
    snprintf(q->advice, sizeof q->advice, "%s", p->advice ? p->advice : "");
    s->job.has_prompt = 1;
    cJSON *o = prompt_object(q);
    pthread_mutex_unlock(&s->mu);
    push_cjson(s, "prompt", o);
    return -1;
}

static void *worker(void *arg) {
    struct nr_server *s = arg;
    struct nr__job *job = &s->job;
    struct nr_err err = {0};
    struct nr_render *r = NULL;
    /* job->settings, book and out_dir are fixed while the worker runs. */
    enum nr_status st = nr_render_new(&job->settings, job->out_dir, s->log, &r, &err);
    if (st == NR_OK) {
        struct nr_render_callbacks cb = {s, on_progress, on_prompt};
        nr_render_set_callbacks(r, &cb);
        pthread_mutex_lock(&s->mu);
        job->r = r;
        if (job->stop_pending) /* Stop arrived before the render existed */
            nr_render_request_stop(r);
        pthread_mutex_unlock(&s->mu);
        st = nr_render_prepare_book(r, job->book, &err);
    }
    /* A stop during preparation is seen by nr_render_run before the first
     * batch: it returns NR_STATUS_CANCELLED. */
    if (st == NR_OK)
        st = nr_render_run(r, &err);
    const char *result = st == NR_OK ? "done" : st == NR_STATUS_CANCELLED ? "stopped" : "failed";
    if (st == NR_OK)
        nr_log_event(s->log, "Render finished: audio is in %s", job->out_dir);
    else if (st == NR_STATUS_CANCELLED)
        nr_log_event(s->log,
                     "Render stopped; finished chunks are cached in %s/cache (Start "
                     "again to resume)",
                     job->out_dir);
    else
        nr_log_event(s->log, "ERROR: render failed: %s", err.msg);
    /* The render pointed the log at OUT/activity.log; later dashboard lines
     * (settings saved, uploads) do not belong to that render. */
    if (nr_log_set_file(s->log, NULL, NULL) != NR_OK) {
        /* cannot fail: clearing allocates nothing */
    }
    pthread_mutex_lock(&s->mu);
    job->r = NULL;
    job->running = 0;
    job->has_prompt = 0;
    job->prog.state = st == NR_OK                 ? NR_RENDER_DONE
                      : st == NR_STATUS_CANCELLED ? NR_RENDER_STOPPED
                                                  : NR_RENDER_FAILED;
    snprintf(job->result, sizeof job->result, "%s", result);
    snprintf(job->message, sizeof job->message, "%s", st == NR_OK ? "finished" : err.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "finished");
    cJSON_AddStringToObject(o, "result", result);
    cJSON_AddStringToObject(o, "message", job->message);
    cJSON_AddStringToObject(o, "out_dir", job->out_dir);
    /* The events go out before the lock is released, so a client that
     * sees "done" in /api/status finds the "finished" event in the ring. */
    push_cjson(s, "progress", progress_object(&job->prog));
    push_cjson(s, "render", o);
    pthread_mutex_unlock(&s->mu);
    nr_render_free(r);
    return NULL;
}

/* ---- requests ------------------------------------------------------------------ */

static const char *json_string(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* ROOT/<book name without extension>-audiobook */
static char *default_out_dir(const char *root, const char *book) {
    const char *base = strrchr(book, '/');
    base = base ? base + 1 : book;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    struct nr_buf b = {0};
    if (nr_buf_printf(&b, "%s/%.*s-audiobook", root, (int)n, base) != NR_OK) {
        nr_buf_deinit(&b);
        return NULL;
    }
    return nr_buf_take(&b);
}

/* Resolves the request's paths and settings into the (idle) job.
 * Called with s->mu held. */
static int prepare_job(struct nr_server *s, const cJSON *in, struct nr__reply *reply) {
    struct nr__job *job = &s->job;
    struct nr_err err = {0};
    const char *book = json_string(in, "book"), *out = json_string(in, "out_dir"),
               *voice = json_string(in, "voice");
    char *book_real = NULL, *out_real = NULL, *voice_real = NULL;
    struct nr_settings st;
    struct stat sb;
    enum nr_status rc = NR_OK;
    if (!book)
        rc = nr_err_set(&err, NR_STATUS_INVALID_ARG, "\"book\": give a book path in the workspace");
    if (rc == NR_OK)
        rc = nr__path_confine(s->root, book, 1, &book_real, &err);
    if (rc == NR_OK && (stat(book_real, &sb) != 0 || !S_ISREG(sb.st_mode)))
        rc = nr_err_set(&err, NR_STATUS_INVALID_ARG, "\"%s\" is not a file", book);
    if (rc == NR_OK && out)
        rc = nr__path_confine(s->root, out, 0, &out_real, &err);
    else if (rc == NR_OK && !(out_real = default_out_dir(s->root, book_real)))
        rc = nr_err_set(&err, NR_STATUS_NO_MEMORY, "out of memory");
    if (rc == NR_OK) {
        nr_settings_defaults(&st);
        rc = nr_settings_load(&st, s->settings_path, &err);
    }
    /* A Piper voice is a file, so it is confined like every other path. */
    if (rc == NR_OK && voice && strncmp(voice, "espeak:", 7) != 0)
        rc = nr__path_confine(s->root, voice, 1, &voice_real, &err);
    if (rc == NR_OK && voice)
        rc = nr_settings_set(&st, "voice", voice_real ? voice_real : voice, &err);
    nr_free(voice_real);
    if (rc != NR_OK) {
        nr__reply_error(reply,
                        rc == NR_STATUS_NO_MEMORY ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                  : MHD_HTTP_BAD_REQUEST,
                        err.msg);
        nr_free(book_real);
        nr_free(out_real);
        return -1;
    }
    nr__job_deinit(job);
    job->settings = st;
    job->book = book_real;
    job->out_dir = out_real;
    job->telemetry_path = nr_path_join(out_real, "telemetry.jsonl");
    /* telemetry.jsonl keeps every run: chart points start after what is there. */
    if (job->telemetry_path && stat(job->telemetry_path, &sb) == 0)
        job->telemetry_off = (long)sb.st_size;
    if (!job->telemetry_path) {
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

int nr__job_start(struct nr_server *s, const char *body, struct nr__reply *reply) {
    cJSON *in = body ? cJSON_Parse(body) : NULL;
    if (!in || !cJSON_IsObject(in)) {
        cJSON_Delete(in);
        nr__reply_error(reply, MHD_HTTP_BAD_REQUEST,
                        "the body must be a JSON object: {\"book\": ..., \"out_dir\": ..., "
                        "\"voice\": ...}");
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    struct nr__job *job = &s->job;
    if (job->running) {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "a render is already running (%s): one render at a time; stop it or wait "
                 "for it to finish",
                 job->book ? job->book : "starting");
        pthread_mutex_unlock(&s->mu);
        cJSON_Delete(in);
        nr__reply_error(reply, MHD_HTTP_CONFLICT, msg);
        return -1;
    }
    if (job->has_thread) { /* the last worker has finished: collect it */
        pthread_join(job->thread, NULL);
        job->has_thread = 0;
    }
    int rc = prepare_job(s, in, reply);
    cJSON_Delete(in);
    if (rc != 0) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    nr_log_event(s->log, "Render started from the dashboard: %s -> %s (voice %s, batch size %d)",
                 job->book, job->out_dir, job->settings.voice, job->settings.batch_size);
    job->running = 1;
    if (pthread_create(&job->thread, NULL, worker, s) != 0) {
        job->running = 0;
        pthread_mutex_unlock(&s->mu);
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start a thread");
        return -1;
    }
    job->has_thread = 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "started", 1);
    cJSON_AddStringToObject(o, "book", job->book);
    cJSON_AddStringToObject(o, "out_dir", job->out_dir);
    cJSON_AddStringToObject(o, "voice", job->settings.voice);
    cJSON_AddNumberToObject(o, "batch_size", job->settings.batch_size);
    char *text = cJSON_PrintUnformatted(o);
    pthread_mutex_unlock(&s->mu);
    cJSON_AddStringToObject(o, "event", "started");
    push_cjson(s, "render", o);
    if (text)
        nr__reply_json(reply, MHD_HTTP_ACCEPTED, text);
    else
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    cJSON_free(text);
    return 0;
}

static int parse_answer(const char *body) {
    cJSON *in = body ? cJSON_Parse(body) : NULL;
    const char *a = json_string(in, "answer");
    int answer = !a                           ? -1
                 : strcmp(a, "reduce") == 0   ? NR_PROMPT_REDUCE
                 : strcmp(a, "continue") == 0 ? NR_PROMPT_CONTINUE
                 : strcmp(a, "stop") == 0     ? NR_PROMPT_STOP
                                              : -1;
    cJSON_Delete(in);
    return answer;
}

int nr__job_control(struct nr_server *s, const char *what, const char *body,
                    struct nr__reply *reply) {
    int answer = -1;
    if (strcmp(what, "answer") == 0 && (answer = parse_answer(body)) < 0) {
        nr__reply_error(reply, MHD_HTTP_BAD_REQUEST,
                        "the body must be {\"answer\": \"reduce\" | \"continue\" | \"stop\"}");
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    struct nr__job *job = &s->job;
    const char *refusal = NULL, *done = NULL;
    if (!job->running) {
        refusal = "no render is running";
    } else if (strcmp(what, "stop") == 0) {
        if (job->r)
            nr_render_request_stop(job->r);
        else
            job->stop_pending = 1;
        done = "Stop requested from the dashboard: the render stops after the current batch";
    } else if (!job->r) {
        refusal = "the render is starting; try again in a moment";
    } else if (strcmp(what, "pause") == 0) {
        nr_render_pause(job->r);
        done = "Pause requested from the dashboard: the render pauses after the current batch";
    } else if (strcmp(what, "resume") == 0) {
        nr_render_resume(job->r);
        done = "Resume requested from the dashboard";
    } else if (!job->has_prompt) {
        refusal = "no VRAM prompt is waiting for an answer";
    } else {
        nr_render_answer_prompt(job->r, (enum nr_prompt_answer)answer);
        /* One answer per prompt: a second one before the render thread
         * wakes up would silently replace the first. */
        job->has_prompt = 0;
        nr__events_push(&s->ev, "prompt_closed", "{}");
        done = answer == NR_PROMPT_REDUCE     ? "Prompt answered from the dashboard: reduce"
               : answer == NR_PROMPT_CONTINUE ? "Prompt answered from the dashboard: continue"
                                              : "Prompt answered from the dashboard: stop";
    }
    if (done)
        nr_log_event(s->log, "%s", done);
    pthread_mutex_unlock(&s->mu);
    if (refusal) {
        nr__reply_error(reply, MHD_HTTP_CONFLICT, refusal);
        return -1;
    }
    nr__reply_json(reply, MHD_HTTP_OK, "{\"ok\":true}");
    return 0;
}

enum nr_status nr__job_status_json(struct nr_server *s, struct nr_buf *out) {
    /* The event seq first: the page streams from here, so nothing that
     * happens after this snapshot is lost (a point may come twice; the
     * page keys points by batch). */
    uint64_t seq = nr__events_last(&s->ev);
    struct nr_buf logs = {0};
    if (nr__events_recent_logs(&s->ev, seq, 500, &logs) != NR_OK) {
        nr_buf_deinit(&logs);
        return NR_STATUS_NO_MEMORY;
    }
    pthread_mutex_lock(&s->mu);
    const struct nr__job *job = &s->job;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", NR_VERSION);
    cJSON_AddStringToObject(o, "root", s->root);
    cJSON_AddStringToObject(o, "settings_path", s->settings_path);
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    cJSON_AddBoolToObject(o, "busy", job->running);
    const char *state = job->running && job->prog.state == NR_RENDER_IDLE
                            ? "starting"
                            : nr_render_state_name(job->prog.state);
    cJSON_AddStringToObject(o, "state", state);
    if (job->book) {
        cJSON_AddStringToObject(o, "book", job->book);
        cJSON_AddStringToObject(o, "out_dir", job->out_dir);
        cJSON_AddStringToObject(o, "voice", job->settings.voice);
    }
    cJSON_AddItemToObject(o, "progress", progress_object(&job->prog));
    cJSON_AddItemToObject(o, "prompt",
                          job->has_prompt ? prompt_object(&job->prompt) : cJSON_CreateNull());
    if (job->result[0]) {
        cJSON *r = cJSON_AddObjectToObject(o, "result");
        cJSON_AddStringToObject(r, "result", job->result);
        cJSON_AddStringToObject(r, "message", job->message);
    } else {
        cJSON_AddNullToObject(o, "result");
    }
    struct nr_buf tmp = {0};
    cJSON *points = NULL, *log = NULL;
    if (nr_buf_printf(&tmp, "[%s]", job->points.data ? job->points.data : "") == NR_OK)
        points = cJSON_Parse(tmp.data);
    pthread_mutex_unlock(&s->mu);
    tmp.len = 0;
    if (nr_buf_printf(&tmp, "[%s]", logs.data ? logs.data : "") == NR_OK)
        log = cJSON_Parse(tmp.data);
    nr_buf_deinit(&tmp);
    nr_buf_deinit(&logs);
    cJSON_AddItemToObject(o, "points", points ? points : cJSON_CreateArray());
    cJSON_AddItemToObject(o, "log", log ? log : cJSON_CreateArray());
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    enum nr_status st = text ? nr_buf_printf(out, "%s", text) : NR_STATUS_NO_MEMORY;
    cJSON_free(text);
    return st;
}

void nr__job_shutdown(struct nr_server *s) {
    pthread_mutex_lock(&s->mu);
    struct nr__job *job = &s->job;
    if (job->running) {
        if (job->r)
            nr_render_request_stop(job->r);
        else
            job->stop_pending = 1;
    }
    int join = job->has_thread;
    pthread_t th = job->thread;
    job->has_thread = 0;
    pthread_mutex_unlock(&s->mu);
    if (join)
        pthread_join(th, NULL);
}
