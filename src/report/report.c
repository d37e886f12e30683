/* telemetry.jsonl -> the last run's rows -> vram.csv (+ vram.svg in svg.c). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report_internal.h"

static struct nr__num num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    struct nr__num n = {0, 0};
    if (cJSON_IsNumber(v)) {
        n.has = 1;
        n.v = v->valuedouble;
    }
    return n;
}

static void str(const cJSON *o, const char *key, char *dst, size_t size) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    dst[0] = '\0';
    if (cJSON_IsString(v))
        snprintf(dst, size, "%s", v->valuestring);
}

void nr__run_deinit(struct nr__run *r) {
    nr_free(r->rows);
    memset(r, 0, sizeof *r);
}

static void start_run(struct nr__run *r, const cJSON *o) {
    size_t skipped = r->skipped_lines;
    struct nr__row *rows = r->rows;
    size_t cap = r->cap_rows;
    memset(r, 0, sizeof *r); /* a new run replaces the previous one */
    r->rows = rows;
    r->cap_rows = cap;
    r->skipped_lines = skipped;
    r->has_start = 1;
    str(o, "gpu", r->gpu, sizeof r->gpu);
    str(o, "engine", r->engine, sizeof r->engine);
    str(o, "voice", r->voice, sizeof r->voice);
    str(o, "time", r->start_time, sizeof r->start_time);
    r->total_gb = num(o, "total_gb");
    r->batch_size = num(o, "batch_size");
    r->chunks_total = num(o, "chunks_total");
    r->chunks_cached = num(o, "chunks_cached");
}

static enum nr_status add_row(struct nr__run *r, enum nr__row_type type, const cJSON *o,
                              struct nr_err *err) {
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
        struct nr__row *p = nr_realloc(r->rows, cap * sizeof *p);
        if (!p)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        r->rows = p;
        r->cap_rows = cap;
    }
    struct nr__row *w = &r->rows[r->n_rows++];
    memset(w, 0, sizeof *w);
    w->type = type;
    w->batch = num(o, "batch");
    w->t = num(o, "t");
    w->n = num(o, "n");
    w->seconds = num(o, "seconds");
    w->sec_per_chunk = num(o, "sec_per_chunk");
    w->batch_size = num(o, "batch_size");
    w->new_batch_size = num(o, "new_batch_size");
    w->used = num(o, "vram_used_gb");
    w->total = num(o, "vram_total_gb");
    w->percent = num(o, "vram_percent");
    w->reserved = num(o, "vram_reserved_gb");
    w->proc = num(o, "vram_proc_gb");
    w->util = num(o, "gpu_util");
    w->since = num(o, "since_progress_s");
    str(o, "time", w->time, sizeof w->time);
    str(o, "health", w->health, sizeof w->health);
    str(o, "trend", w->trend, sizeof w->trend);
    str(o, "answer", w->answer, sizeof w->answer);
    return NR_OK;
}

static enum nr_status take_record(struct nr__run *r, const cJSON *o, size_t *n_records,
                                  struct nr_err *err) {
    char type[16];
    str(o, "type", type, sizeof type);
    (*n_records)++;
    if (!strcmp(type, "start")) {
        r->n_rows = 0;
        start_run(r, o);
    } else if (!strcmp(type, "batch")) {
        return add_row(r, NR__ROW_BATCH, o, err);
    } else if (!strcmp(type, "watchdog")) {
        return add_row(r, NR__ROW_WATCHDOG, o, err);
    } else if (!strcmp(type, "pause")) {
        return add_row(r, NR__ROW_PAUSE, o, err);
    } else if (!strcmp(type, "end")) {
        r->has_end = 1;
        str(o, "status", r->end_status, sizeof r->end_status);
        str(o, "trend", r->end_trend, sizeof r->end_trend);
        r->end_batches = num(o, "batches");
        r->end_chunks = num(o, "chunks");
        r->end_t = num(o, "t");
    } else {
        (*n_records)--; /* unknown types are ignored */
    }
    return NR_OK;
}

/* Parses the whole text; r holds the last run. */
static enum nr_status parse_runs(const char *text, const char *source, struct nr__run *r,
                                 struct nr_err *err) {
    size_t n_records = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t k = 0;
        while (k < len && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k < len) {
            cJSON *o = cJSON_ParseWithLength(p, len);
            if (cJSON_IsObject(o)) {
                enum nr_status st = take_record(r, o, &n_records, err);
                if (st != NR_OK) {
                    cJSON_Delete(o);
                    return st;
                }
            } else {
                r->skipped_lines++;
            }
            cJSON_Delete(o);
        }
        p += len + (nl ? 1 : 0);
    }
    if (n_records == 0)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: no telemetry records", source);
    return NR_OK;
}

/* ---- CSV ------------------------------------------------------------------ */

static enum nr_status csv_num(struct nr_buf *b, struct nr__num n) {
    if (!n.has)
        return nr_buf_append(b, ",", 1);
    return nr_buf_printf(b, ",%.10g", n.v);
}

/* Field text without quotes: only [A-Za-z0-9_:. -] survive, so no quoting is needed. */
static enum nr_status csv_str(struct nr_buf *b, const char *s) {
    char clean[32];
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < sizeof clean; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == ':' || c == '.' || c == '-' || c == ' ';
        clean[j++] = ok ? c : '_';
    }
    clean[j] = '\0';
    return nr_buf_printf(b, ",%s", clean);
}

static const char csv_header[] =
    "type,batch,t,time,chunks,seconds,sec_per_chunk,batch_size,vram_used_gb,vram_total_gb,"
    "vram_percent,vram_reserved_gb,vram_proc_gb,gpu_util,health,trend,since_progress_s\n";

static enum nr_status csv_row(struct nr_buf *b, const struct nr__row *w) {
    enum nr_status st = nr_buf_printf(b, "%s", w->type == NR__ROW_BATCH ? "batch" : "watchdog");
    if (st == NR_OK)
        st = csv_num(b, w->batch);
    if (st == NR_OK)
        st = csv_num(b, w->t);
    if (st == NR_OK)
        st = csv_str(b, w->time);
    if (st == NR_OK)
        st = csv_num(b, w->n);
    if (st == NR_OK)
        st = csv_num(b, w->seconds);
    if (st == NR_OK)
        st = csv_num(b, w->sec_per_chunk);
    if (st == NR_OK)
        st = csv_num(b, w->batch_size);
    if (st == NR_OK)
        st = csv_num(b, w->used);
    if (st == NR_OK)
        st = csv_num(b, w->total);
    if (st == NR_OK)
        st = csv_num(b, w->percent);
    if (st == NR_OK)
        st = csv_num(b, w->reserved);
    if (st == NR_OK)
        st = csv_num(b, w->proc);
    if (st == NR_OK)
        st = csv_num(b, w->util);
    if (st == NR_OK)
        st = csv_str(b, w->health);
    if (st == NR_OK)
        st = csv_str(b, w->trend);
    if (st == NR_OK)
        st = csv_num(b, w->since);
    if (st == NR_OK)
        st = nr_buf_append(b, "\n", 1);
    return st;
}

static enum nr_status write_csv(const struct nr__run *r, struct nr_buf *b, struct nr_err *err) {
    enum nr_status st = nr_buf_append(b, csv_header, sizeof csv_header - 1);
    for (size_t i = 0; st == NR_OK && i < r->n_rows; i++)
        if (r->rows[i].type != NR__ROW_PAUSE) /* pauses are graph annotations only */
            st = csv_row(b, &r->rows[i]);
    if (st != NR_OK)
        return nr_err_set(err, st, "out of memory");
    return NR_OK;
}

enum nr_status nr_report_render(const char *jsonl, const char *source, struct nr_buf *csv,
                                struct nr_buf *svg, struct nr_err *err) {
    struct nr__run r;
    memset(&r, 0, sizeof r);
    enum nr_status st = parse_runs(jsonl, source ? source : "telemetry", &r, err);
    if (st == NR_OK && csv)
        st = write_csv(&r, csv, err);
    if (st == NR_OK && svg)
        st = nr__report_svg(&r, svg, err);
    nr__run_deinit(&r);
    return st;
}

enum nr_status nr_report_build(const char *dir, struct nr_err *err) {
    char *in = nr_path_join(dir, "telemetry.jsonl");
    char *csv_path = nr_path_join(dir, "vram.csv");
    char *svg_path = nr_path_join(dir, "vram.svg");
    char *text = NULL;
    struct nr_buf csv = {0}, svg = {0};
    enum nr_status st;
    if (!in || !csv_path || !svg_path) {
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        goto done;
    }
    size_t len;
    st = nr_file_read(in, &text, &len, err);
    if (st != NR_OK)
        goto done;
    st = nr_report_render(text, in, &csv, &svg, err);
    if (st == NR_OK)
        st = nr_file_write_atomic(csv_path, csv.data, csv.len, err);
    if (st == NR_OK)
        st = nr_file_write_atomic(svg_path, svg.data, svg.len, err);
done:
    nr_buf_deinit(&csv);
    nr_buf_deinit(&svg);
    nr_free(text);
    nr_free(in);
    nr_free(csv_path);
    nr_free(svg_path);
    return st;
}
