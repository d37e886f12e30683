/* Fake provider: a scripted memory trace from a JSON file, so every advisor,
 * health, watchdog and pause path runs in CI without a GPU.
 *
 *   {"name": "NVIDIA GeForce RTX 4070 Ti", "total_gb": 12.0, "free_gb": 7.1,
 *    "used_gb": [7.2, 7.3, 7.3]}
 *
 * Optional: "reserved_gb" (number), "proc_gb" and "util" (a number or an
 * array that advances with used_gb, last value repeating). The start-up
 * sample reports free_gb (used = total - free - reserved); sample k after
 * that reports used_gb[k] (the last value repeats). */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gpu_internal.h"

static uint64_t gb_to_bytes(double gb) {
    return (uint64_t)llround(gb * NR__GIB);
}

/* Reads a non-negative number no larger than max_gb. */
static enum nr_status get_gb(const cJSON *obj, const char *key, int required, double max_gb,
                             double *out, int *present, const char *path, struct nr_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = v != NULL;
    if (!v) {
        if (required)
            return nr_err_set(err, NR_STATUS_BAD_FORMAT, "fake GPU file %s: missing \"%s\"", path,
                              key);
        return NR_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max_gb)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                          "fake GPU file %s: \"%s\" must be a number of GB from 0 to %.1f", path,
                          key, max_gb);
    *out = v->valuedouble;
    return NR_OK;
}

/* A number or a non-empty array of numbers in [0, max]; *vals owned by caller. */
static enum nr_status get_series(const cJSON *obj, const char *key, double max, double scale,
                                 int as_int, void **vals, size_t *n, const char *path,
                                 struct nr_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *vals = NULL;
    *n = 0;
    if (!v)
        return NR_OK;
    int count = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
    if ((!cJSON_IsArray(v) && !cJSON_IsNumber(v)) || count < 1)
        return nr_err_set(
            err, NR_STATUS_BAD_FORMAT,
            "fake GPU file %s: \"%s\" must be a number or a non-empty array of numbers", path, key);
    void *buf =
        as_int ? nr_calloc((size_t)count, sizeof(int)) : nr_calloc((size_t)count, sizeof(uint64_t));
    if (!buf)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    for (int i = 0; i < count; i++) {
        const cJSON *e = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : v;
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0) || e->valuedouble > max) {
            nr_free(buf);
            return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                              "fake GPU file %s: \"%s\"[%d] must be a number from 0 to %.1f", path,
                              key, i, max);
        }
        if (as_int)
            ((int *)buf)[i] = (int)lround(e->valuedouble);
        else
            ((uint64_t *)buf)[i] = (uint64_t)llround(e->valuedouble * scale);
    }
    *vals = buf;
    *n = (size_t)count;
    return NR_OK;
}

static enum nr_status parse(struct nr_gpu *g, const cJSON *root, const char *path,
                            struct nr_err *err) {
    struct nr__fake *f = &g->fake;
    if (!cJSON_IsObject(root))
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "fake GPU file %s: not a JSON object", path);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                          "fake GPU file %s: \"name\" must be a non-empty string", path);
    snprintf(g->name, sizeof g->name, "%s", name->valuestring);
    double total = 0, free_gb = 0, reserved = 0;
    int has, has_free, has_reserved;
    if (get_gb(root, "total_gb", 1, 1e6, &total, &has, path, err) != NR_OK)
        return err->status;
    if (total <= 0)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "fake GPU file %s: \"total_gb\" must be > 0",
                          path);
    if (get_gb(root, "reserved_gb", 0, total, &reserved, &has_reserved, path, err) != NR_OK ||
        get_gb(root, "free_gb", 0, total - reserved, &free_gb, &has_free, path, err) != NR_OK)
        return err->status;
    f->total = gb_to_bytes(total);
    f->reserved = has_reserved ? gb_to_bytes(reserved) : NR_GPU_UNKNOWN;
    void *vals;
    if (get_series(root, "used_gb", total - reserved, NR__GIB, 0, &vals, &f->n_used, path, err) !=
        NR_OK)
        return err->status;
    f->used = vals;
    if (!f->used)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "fake GPU file %s: missing \"used_gb\"", path);
    if (get_series(root, "proc_gb", total, NR__GIB, 0, &vals, &f->n_proc, path, err) != NR_OK)
        return err->status;
    f->proc = vals;
    if (get_series(root, "util", 100, 1, 1, &vals, &f->n_util, path, err) != NR_OK)
        return err->status;
    f->util = vals;
    uint64_t res = has_reserved ? f->reserved : 0;
    f->start_free = has_free ? gb_to_bytes(free_gb) : f->total - res - f->used[0];
    if (f->start_free > f->total - res)
        f->start_free = f->total - res;
    return NR_OK;
}

enum nr_status nr__fake_load(struct nr_gpu *g, const char *path, struct nr_err *err) {
    char *text = NULL;
    size_t len = 0;
    struct nr_err e = {0};
    if (nr_file_read(path, &text, &len, &e) != NR_OK)
        return nr_err_set(err, e.status, "fake GPU file (NARRATE_FAKE_GPU): %s", e.msg);
    cJSON *root = cJSON_ParseWithLength(text, len);
    enum nr_status st;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "fake GPU file %s: invalid JSON near byte %zu",
                        path, off);
    } else {
        st = parse(g, root, path, err);
    }
    cJSON_Delete(root);
    nr_free(text);
    if (st != NR_OK) {
        nr__fake_free(&g->fake);
        return st;
    }
    snprintf(g->detail, sizeof g->detail, "fake GPU trace %s (%zu used_gb values)", path,
             g->fake.n_used);
    return NR_OK;
}

static uint64_t at_or_last(const uint64_t *v, size_t n, size_t i) {
    return v[i < n ? i : n - 1];
}

void nr__fake_sample(struct nr__fake *f, int startup, struct nr_gpu_sample *s) {
    uint64_t res = f->reserved == NR_GPU_UNKNOWN ? 0 : f->reserved;
    size_t k = f->next; /* trace index of this sample */
    s->valid = 1;
    s->total = f->total;
    s->reserved = f->reserved;
    if (startup) {
        s->free = f->start_free;
        s->used = f->total - res - f->start_free;
        k = 0;
    } else {
        s->used = at_or_last(f->used, f->n_used, k);
        s->free = f->total - res - s->used;
        if (f->next < f->n_used)
            f->next++;
    }
    s->proc_used = f->proc ? at_or_last(f->proc, f->n_proc, k) : NR_GPU_UNKNOWN;
    s->util_percent = f->util ? f->util[k < f->n_util ? k : f->n_util - 1] : -1;
}

void nr__fake_free(struct nr__fake *f) {
    nr_free(f->used);
    nr_free(f->proc);
    nr_free(f->util);
    memset(f, 0, sizeof *f);
}
