/* User settings (the seed's user_settings.json): defaults, validation,
 * JSON load/save. One table describes every key, so validation, the error
 * messages, the JSON form and the dashboard all agree. */
#include "narrate/core.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_INT, K_DOUBLE, K_STR, K_BOOL, K_U64 };

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    double min, max;        /* K_INT, K_DOUBLE, K_U64 */
    size_t size;            /* K_STR buffer size */
    const char *const *choices; /* K_STR: allowed values, NULL = free text */
    const char *help;
};

static const char *const devices[] = {"cpu", "cuda", NULL};
static const char *const formats[] = {"wav", "m4b", "mp3", "opus", "flac", NULL};

#define OFF(f) offsetof(struct nr_settings, f)
/* const table: every setting, its range and its help text. */
static const struct key keys[] = {
    {"batch_size", K_INT, OFF(batch_size), 0, NR_BATCH_MAX, 0, NULL,
     "chunks per batch (0 = auto-tune)"},
    {"max_chunk_chars", K_INT, OFF(max_chunk_chars), 50, 5000, 0, NULL,
     "longest chunk in characters"},
    {"stall_seconds", K_INT, OFF(stall_seconds), 1, 86400, 0, NULL,
     "warn when no batch finishes for this long"},
    {"vram_pause_percent", K_INT, OFF(vram_pause_percent), 50, 100, 0, NULL,
     "pause the render when VRAM use is above this percentage"},
    {"pause_enabled", K_BOOL, OFF(pause_enabled), 0, 1, 0, NULL,
     "pause at vram_pause_percent (false = never pause)"},
    {"chapter_files", K_BOOL, OFF(chapter_files), 0, 1, 0, NULL,
     "write one audio file per chapter besides the whole book"},
    {"gap_sentence_ms", K_INT, OFF(gap_sentence_ms), 0, 10000, 0, NULL,
     "silence between chunks of a paragraph"},
    {"gap_paragraph_ms", K_INT, OFF(gap_paragraph_ms), 0, 10000, 0, NULL,
     "silence after a paragraph"},
    {"gap_chapter_ms", K_INT, OFF(gap_chapter_ms), 0, 30000, 0, NULL,
     "silence between chapters in the whole-book file"},
    {"rate_wpm", K_INT, OFF(rate_wpm), 80, 450, 0, NULL, "eSpeak speaking rate, words per minute"},
    {"threads", K_INT, OFF(threads), 0, 1024, 0, NULL, "inference threads (0 = all cores)"},
    {"gpu_index", K_INT, OFF(gpu_index), 0, 63, 0, NULL, "which GPU to use and watch"},
    {"noise_scale", K_DOUBLE, OFF(noise_scale), -1, 10, 0, NULL,
     "Piper noise scale (-1 = from the voice)"},
    {"length_scale", K_DOUBLE, OFF(length_scale), -1, 10, 0, NULL,
     "Piper length scale (-1 = from the voice)"},
    {"noise_w", K_DOUBLE, OFF(noise_w), -1, 10, 0, NULL, "Piper noise width (-1 = from the voice)"},
    {"seed", K_U64, OFF(seed), 0, 9007199254740991.0, 0, NULL, "random seed for neural voices"},
    {"speaker", K_INT, OFF(speaker), 0, 100000, 0, NULL, "speaker id of multi-speaker voices"},
    {"voice", K_STR, OFF(voice), 0, 0, sizeof(((struct nr_settings *)0)->voice), NULL,
     "espeak:<name> or a path to a Piper .onnx voice"},
    {"device", K_STR, OFF(device), 0, 0, sizeof(((struct nr_settings *)0)->device), devices,
     "where neural voices run"},
    {"output_format", K_STR, OFF(output_format), 0, 0,
     sizeof(((struct nr_settings *)0)->output_format), formats, "audio format of the book"},
    {"loudness_lufs", K_DOUBLE, OFF(loudness_lufs), -40, -5, 0, NULL,
     "target integrated loudness (EBU R128)"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

void nr_settings_defaults(struct nr_settings *s) {
    memset(s, 0, sizeof *s);
    s->batch_size = 3;
    s->max_chunk_chars = 400;
    s->stall_seconds = 120;
    s->vram_pause_percent = 95;
    s->pause_enabled = 1;
    s->chapter_files = 1;
    s->gap_sentence_ms = 250;
    s->gap_paragraph_ms = 600;
    s->gap_chapter_ms = 1500;
    s->rate_wpm = 175;
    s->threads = 0;
    s->gpu_index = 0;
    s->noise_scale = -1;
    s->length_scale = -1;
    s->noise_w = -1;
    s->seed = 1;
    s->speaker = 0;
    snprintf(s->voice, sizeof s->voice, "espeak:en-us");
    snprintf(s->device, sizeof s->device, "cpu");
    snprintf(s->output_format, sizeof s->output_format, "m4b");
    s->loudness_lufs = -18.0;
}

char *nr_settings_path(void) {
    const char *xdg = getenv("XDG_CONFIG_HOME");
    struct nr_buf b = {0};
    enum nr_status st;
    if (xdg && *xdg)
        st = nr_buf_printf(&b, "%s/narrate/settings.json", xdg);
    else
        st = nr_buf_printf(&b, "%s/.config/narrate/settings.json",
                           getenv("HOME") ? getenv("HOME") : ".");
    if (st != NR_OK) {
        nr_buf_deinit(&b);
        return NULL;
    }
    return nr_buf_take(&b);
}

static const struct key *find_key(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static enum nr_status unknown_key(const char *where, const char *name, struct nr_err *err) {
    char list[1024];
    size_t off = 0;
    for (size_t i = 0; i < N_KEYS && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                keys[i].name);
    return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s%sunknown setting \"%s\" (known: %s)",
                      where ? where : "", where ? ": " : "", name, list);
}

static enum nr_status bad_value(const char *where, const struct key *k, const char *value,
                                struct nr_err *err) {
    const char *w = where ? where : "", *sep = where ? ": " : "";
    switch (k->kind) {
    case K_INT:
    case K_U64:
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "%s%ssetting \"%s\": bad value \"%s\" (allowed: a whole number from "
                          "%.0f to %.0f)",
                          w, sep, k->name, value, k->min, k->max);
    case K_DOUBLE:
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "%s%ssetting \"%s\": bad value \"%s\" (allowed: a number from %g to %g)",
                          w, sep, k->name, value, k->min, k->max);
    case K_BOOL:
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "%s%ssetting \"%s\": bad value \"%s\" (allowed: true, false)", w, sep,
                          k->name, value);
    case K_STR:
        if (k->choices) {
            char list[256];
            size_t off = 0;
            for (int i = 0; k->choices[i]; i++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                        k->choices[i]);
            return nr_err_set(err, NR_STATUS_INVALID_ARG,
                              "%s%ssetting \"%s\": bad value \"%s\" (allowed: %s)", w, sep,
                              k->name, value, list);
        }
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "%s%ssetting \"%s\": bad value \"%s\" (allowed: non-empty text up to %zu "
                          "characters)",
                          w, sep, k->name, value, k->size - 1);
    }
    return NR_STATUS_INVALID_ARG;
}

/* Parses and stores one value; on failure s is unchanged. */
static enum nr_status set_value(struct nr_settings *s, const struct key *k, const char *value,
                                const char *where, struct nr_err *err) {
    char *base = (char *)s + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->min || v > k->max)
            return bad_value(where, k, value, err);
        *(int *)base = (int)v;
        return NR_OK;
    }
    case K_U64: {
        if (value[0] == '-')
            return bad_value(where, k, value, err);
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end || (double)v > k->max)
            return bad_value(where, k, value, err);
        *(uint64_t *)base = (uint64_t)v;
        return NR_OK;
    }
    case K_DOUBLE: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= k->min && v <= k->max))
            return bad_value(where, k, value, err);
        *(double *)base = v;
        return NR_OK;
    }
    case K_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(int *)base = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            *(int *)base = 0;
        else
            return bad_value(where, k, value, err);
        return NR_OK;
    case K_STR:
        if (!*value || strlen(value) >= k->size)
            return bad_value(where, k, value, err);
        if (k->choices) {
            int ok = 0;
            for (int i = 0; k->choices[i]; i++)
                ok |= strcmp(k->choices[i], value) == 0;
            if (!ok)
                return bad_value(where, k, value, err);
        }
        snprintf(base, k->size, "%s", value);
        return NR_OK;
    }
    return NR_STATUS_INVALID_ARG;
}

enum nr_status nr_settings_set(struct nr_settings *s, const char *key, const char *value,
                               struct nr_err *err) {
    const struct key *k = find_key(key);
    if (!k)
        return unknown_key(NULL, key, err);
    return set_value(s, k, value, NULL, err);
}

/* Text form of a JSON value for set_value; NULL when the JSON type is wrong. */
static char *json_value_text(const struct key *k, const cJSON *v) {
    char buf[64];
    switch (k->kind) {
    case K_INT:
    case K_U64:
    case K_DOUBLE:
        if (!cJSON_IsNumber(v))
            return NULL;
        if (k->kind == K_DOUBLE)
            snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        else if (v->valuedouble != (double)(long long)v->valuedouble)
            snprintf(buf, sizeof buf, "%g", v->valuedouble);
        else
            snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        return nr_strdup(buf);
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return NULL;
        return nr_strdup(cJSON_IsTrue(v) ? "true" : "false");
    case K_STR:
        if (!cJSON_IsString(v))
            return NULL;
        return nr_strdup(v->valuestring);
    }
    return NULL;
}

static enum nr_status apply_json(struct nr_settings *s, const char *json, const char *where,
                                 struct nr_err *err) {
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s%snot a JSON object", where ? where : "",
                          where ? ": " : "");
    }
    struct nr_settings tmp = *s;
    enum nr_status st = NR_OK;
    for (cJSON *it = root->child; it && st == NR_OK; it = it->next) {
        const struct key *k = find_key(it->string);
        if (!k) {
            st = unknown_key(where, it->string, err);
            break;
        }
        char *text = json_value_text(k, it);
        if (!text) {
            char *shown = cJSON_PrintUnformatted(it);
            st = bad_value(where, k, shown ? shown : "?", err);
            cJSON_free(shown);
            break;
        }
        st = set_value(&tmp, k, text, where, err);
        nr_free(text);
    }
    cJSON_Delete(root);
    if (st == NR_OK)
        *s = tmp;
    return st;
}

enum nr_status nr_settings_from_json(struct nr_settings *s, const char *json, struct nr_err *err) {
    return apply_json(s, json, NULL, err);
}

char *nr_settings_to_json(const struct nr_settings *s) {
    struct nr_buf b = {0};
    enum nr_status st = nr_buf_append(&b, "{\n", 2);
    for (size_t i = 0; i < N_KEYS && st == NR_OK; i++) {
        const struct key *k = &keys[i];
        const char *base = (const char *)s + k->offset;
        const char *comma = i + 1 < N_KEYS ? "," : "";
        switch (k->kind) {
        case K_INT:
            st = nr_buf_printf(&b, "  \"%s\": %d%s\n", k->name, *(const int *)base, comma);
            break;
        case K_U64:
            st = nr_buf_printf(&b, "  \"%s\": %llu%s\n", k->name,
                               (unsigned long long)*(const uint64_t *)base, comma);
            break;
        case K_DOUBLE:
            st = nr_buf_printf(&b, "  \"%s\": %g%s\n", k->name, *(const double *)base, comma);
            break;
        case K_BOOL:
            st = nr_buf_printf(&b, "  \"%s\": %s%s\n", k->name,
                               *(const int *)base ? "true" : "false", comma);
            break;
        case K_STR: {
            cJSON *str = cJSON_CreateString(base);
            char *q = str ? cJSON_PrintUnformatted(str) : NULL;
            st = q ? nr_buf_printf(&b, "  \"%s\": %s%s\n", k->name, q, comma) : NR_STATUS_NO_MEMORY;
            cJSON_free(q);
            cJSON_Delete(str);
            break;
        }
        }
    }
    if (st == NR_OK)
        st = nr_buf_append(&b, "}\n", 2);
    if (st != NR_OK) {
        nr_buf_deinit(&b);
        return NULL;
    }
    return nr_buf_take(&b);
}

enum nr_status nr_settings_save(const struct nr_settings *s, const char *path, struct nr_err *err) {
    char *json = nr_settings_to_json(s);
    if (!json)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    /* The folder may not exist yet on first use. */
    char *dir = nr_strdup(path);
    enum nr_status st = NR_OK;
    if (!dir) {
        nr_free(json);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        st = nr_mkdir_p(dir, err);
    }
    nr_free(dir);
    if (st == NR_OK)
        st = nr_file_write_atomic(path, json, strlen(json), err);
    nr_free(json);
    return st;
}

enum nr_status nr_settings_load(struct nr_settings *s, const char *path, struct nr_err *err) {
    if (!nr_file_exists(path))
        return nr_settings_save(s, path, err);
    char *data = NULL;
    enum nr_status st = nr_file_read(path, &data, NULL, err);
    if (st != NR_OK)
        return st;
    st = apply_json(s, data, path, err);
    nr_free(data);
    return st;
}


enum nr_status nr_settings_describe(struct nr_buf *out) {
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        enum nr_status st = nr_buf_printf(out, "  %-20s %s", k->name, k->help);
        if (st == NR_OK && (k->kind == K_INT || k->kind == K_U64))
            st = nr_buf_printf(out, " (%.0f..%.0f)\n", k->min, k->max);
        else if (st == NR_OK && k->kind == K_DOUBLE)
            st = nr_buf_printf(out, " (%g..%g)\n", k->min, k->max);
        else if (st == NR_OK && k->kind == K_BOOL)
            st = nr_buf_printf(out, " (true|false)\n");
        else if (st == NR_OK && k->choices) {
            st = nr_buf_printf(out, " (");
            for (int c = 0; k->choices[c] && st == NR_OK; c++)
                st = nr_buf_printf(out, "%s%s", c ? "|" : "", k->choices[c]);
            if (st == NR_OK)
                st = nr_buf_printf(out, ")\n");
        } else if (st == NR_OK)
            st = nr_buf_printf(out, "\n");
        if (st != NR_OK)
            return st;
    }
    return NR_OK;
}
