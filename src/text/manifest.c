/* manifest.json: save, load, free, voice. The JSON layout is described in
 * docs/text.md. cJSON allocates with the C library; the manifest itself is
 * built with nr_malloc so allocation-failure tests cover it. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "text_internal.h"

static const char *const k_gap_names[] = {"sentence", "paragraph", "chapter"};
#define MANIFEST_FORMAT "narrate-manifest"

void nr_manifest_free(struct nr_manifest *m) {
    if (!m)
        return;
    nr_free(m->title);
    nr_free(m->author);
    nr_free(m->source_path);
    nr_free(m->voice);
    nr_free(m->audio_settings);
    if (m->chapter_titles)
        for (size_t i = 0; i < m->n_chapters; i++)
            nr_free(m->chapter_titles[i]);
    nr_free(m->chapter_titles);
    if (m->chunks)
        for (size_t i = 0; i < m->n_chunks; i++)
            nr_free(m->chunks[i].text);
    nr_free(m->chunks);
    nr_free(m);
}

/* Parses json as an object and returns its compact form (caller nr_frees). */
static enum nr_status canonical_object(const char *json, char **out) {
    *out = NULL;
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NR_STATUS_BAD_FORMAT;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return NR_STATUS_NO_MEMORY;
    *out = nr_strdup(s);
    cJSON_free(s);
    return *out ? NR_OK : NR_STATUS_NO_MEMORY;
}

enum nr_status nr_manifest_set_voice(struct nr_manifest *m, const char *voice,
                                     const char *audio_settings_json, struct nr_err *err) {
    if (!m)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_set_voice: m is NULL");
    char *settings = NULL;
    enum nr_status st =
        canonical_object(audio_settings_json ? audio_settings_json : "{}", &settings);
    if (st == NR_STATUS_BAD_FORMAT)
        return nr_err_set(err, st, "audio settings are not a JSON object: %.80s",
                          audio_settings_json);
    if (st != NR_OK)
        return nr_err_set(err, st, "out of memory");
    char *v = nr_strdup(voice ? voice : "");
    if (!v) {
        nr_free(settings);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    }
    nr_free(m->voice);
    nr_free(m->audio_settings);
    m->voice = v;
    m->audio_settings = settings;
    return NR_OK;
}

/* ---- save ---------------------------------------------------------------- */

static cJSON *chunk_json(const struct nr_chunk *k) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int gap = (int)k->gap;
    if (gap < 0 || gap > 2)
        gap = 0;
    if (!cJSON_AddStringToObject(o, "id", k->id) ||
        !cJSON_AddNumberToObject(o, "chapter", (double)k->chapter) ||
        !cJSON_AddNumberToObject(o, "index", (double)k->index) ||
        !cJSON_AddStringToObject(o, "text", k->text ? k->text : "") ||
        !cJSON_AddStringToObject(o, "hash", k->hash) ||
        !cJSON_AddStringToObject(o, "gap", k_gap_names[gap])) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Builds the JSON tree; NULL with *st set on failure. */
static cJSON *manifest_json(const struct nr_manifest *m, enum nr_status *st) {
    *st = NR_STATUS_NO_MEMORY;
    cJSON *root = cJSON_CreateObject();
    cJSON *book = cJSON_CreateObject();
    cJSON *chapters = cJSON_CreateArray();
    cJSON *chunks = cJSON_CreateArray();
    cJSON *settings = cJSON_Parse(m->audio_settings ? m->audio_settings : "{}");
    if (!root || !book || !chapters || !chunks || !settings || !cJSON_IsObject(settings)) {
        if (settings && !cJSON_IsObject(settings))
            *st = NR_STATUS_BAD_FORMAT;
        goto fail;
    }
    if (!cJSON_AddStringToObject(root, "format", MANIFEST_FORMAT) ||
        !cJSON_AddNumberToObject(root, "version", m->version) ||
        !cJSON_AddStringToObject(book, "title", m->title ? m->title : "") ||
        !cJSON_AddStringToObject(book, "author", m->author ? m->author : "") ||
        !cJSON_AddStringToObject(book, "source_path", m->source_path ? m->source_path : "") ||
        !cJSON_AddStringToObject(book, "source_hash", m->source_hash))
        goto fail;
    cJSON_AddItemToObject(root, "book", book);
    book = NULL;
    if (!cJSON_AddStringToObject(root, "voice", m->voice ? m->voice : ""))
        goto fail;
    cJSON_AddItemToObject(root, "audio_settings", settings);
    settings = NULL;
    if (!cJSON_AddNumberToObject(root, "max_chunk_chars", m->max_chunk_chars))
        goto fail;
    for (size_t i = 0; i < m->n_chapters; i++) {
        cJSON *c = cJSON_CreateObject();
        if (!c)
            goto fail;
        cJSON_AddItemToArray(chapters, c);
        if (!cJSON_AddNumberToObject(c, "number", (double)(i + 1)) ||
            !cJSON_AddStringToObject(c, "title", m->chapter_titles[i] ? m->chapter_titles[i] : ""))
            goto fail;
    }
    cJSON_AddItemToObject(root, "chapters", chapters);
    chapters = NULL;
    for (size_t i = 0; i < m->n_chunks; i++) {
        cJSON *k = chunk_json(&m->chunks[i]);
        if (!k)
            goto fail;
        cJSON_AddItemToArray(chunks, k);
    }
    cJSON_AddItemToObject(root, "chunks", chunks);
    *st = NR_OK;
    return root;
fail:
    cJSON_Delete(root);
    cJSON_Delete(book);
    cJSON_Delete(chapters);
    cJSON_Delete(chunks);
    cJSON_Delete(settings);
    return NULL;
}

enum nr_status nr_manifest_save(const struct nr_manifest *m, const char *path, struct nr_err *err) {
    if (!m || !path)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_save: NULL argument");
    enum nr_status st;
    cJSON *root = manifest_json(m, &st);
    if (!root)
        return nr_err_set(err, st, "%s: %s", path,
                          st == NR_STATUS_BAD_FORMAT ? "audio settings are not a JSON object"
                                                     : "out of memory");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    size_t n = strlen(text);
    struct nr_buf b = {0};
    st = nr_buf_append(&b, text, n);
    if (st == NR_OK)
        st = nr_buf_append(&b, "\n", 1);
    cJSON_free(text);
    if (st != NR_OK) {
        nr_buf_deinit(&b);
        return nr_err_set(err, st, "%s: out of memory", path);
    }
    st = nr_file_write_atomic(path, b.data, b.len, err);
    nr_buf_deinit(&b);
    return st;
}

/* ---- load ---------------------------------------------------------------- */

struct loader {
    const char *path;
    struct nr_err *err;
};

static enum nr_status missing(struct loader *l, const char *field) {
    return nr_err_set(l->err, NR_STATUS_BAD_FORMAT, "%s: missing or invalid field \"%s\"", l->path,
                      field);
}

/* Copies a string member; NULL when absent or not a string. */
static const char *get_str(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Reads a non-negative integer member no larger than max into *out. */
static int get_uint(const cJSON *o, const char *name, double max, size_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || floor(d) != d)
        return 0;
    *out = (size_t)d;
    return 1;
}

static enum nr_status dup_field(struct loader *l, const cJSON *o, const char *name,
                                const char *label, char **out) {
    const char *s = get_str(o, name);
    if (!s || !nr__utf8_valid(s, strlen(s)))
        return missing(l, label);
    *out = nr_strdup(s);
    return *out ? NR_OK : nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
}

static enum nr_status load_header(struct loader *l, const cJSON *root, struct nr_manifest *m) {
    const char *format = get_str(root, "format");
    if (!format || strcmp(format, MANIFEST_FORMAT) != 0)
        return nr_err_set(l->err, NR_STATUS_BAD_FORMAT,
                          "%s: not a narrate manifest (no \"format\": \"" MANIFEST_FORMAT "\")",
                          l->path);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(ver))
        return missing(l, "version");
    if (ver->valuedouble != NR_MANIFEST_VERSION)
        return nr_err_set(l->err, NR_STATUS_UNSUPPORTED,
                          "%s: unknown manifest version %g (this narrate reads version %d)",
                          l->path, ver->valuedouble, NR_MANIFEST_VERSION);
    m->version = NR_MANIFEST_VERSION;
    const cJSON *book = cJSON_GetObjectItemCaseSensitive(root, "book");
    if (!cJSON_IsObject(book))
        return missing(l, "book");
    enum nr_status st = dup_field(l, book, "title", "book.title", &m->title);
    if (st == NR_OK)
        st = dup_field(l, book, "author", "book.author", &m->author);
    if (st == NR_OK)
        st = dup_field(l, book, "source_path", "book.source_path", &m->source_path);
    if (st != NR_OK)
        return st;
    const char *hash = get_str(book, "source_hash");
    if (!hash || strlen(hash) >= sizeof m->source_hash)
        return missing(l, "book.source_hash");
    strcpy(m->source_hash, hash);
    st = dup_field(l, root, "voice", "voice", &m->voice);
    if (st != NR_OK)
        return st;
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(root, "audio_settings");
    if (!cJSON_IsObject(settings))
        return missing(l, "audio_settings");
    char *s = cJSON_PrintUnformatted(settings);
    if (!s)
        return nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
    m->audio_settings = nr_strdup(s);
    cJSON_free(s);
    if (!m->audio_settings)
        return nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
    size_t max;
    if (!get_uint(root, "max_chunk_chars", 1e9, &max) || max < 1)
        return missing(l, "max_chunk_chars");
    m->max_chunk_chars = (int)max;
    return NR_OK;
}

static enum nr_status load_chapters(struct loader *l, const cJSON *root, struct nr_manifest *m) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "chapters");
    if (!cJSON_IsArray(arr))
        return missing(l, "chapters");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > 0) {
        m->chapter_titles = nr_calloc(n, sizeof *m->chapter_titles);
        if (!m->chapter_titles)
            return nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
    }
    m->n_chapters = n;
    size_t i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr) {
        char label[64];
        snprintf(label, sizeof label, "chapters[%zu].title", i);
        enum nr_status st = dup_field(l, c, "title", label, &m->chapter_titles[i]);
        if (st != NR_OK)
            return st;
        i++;
    }
    return NR_OK;
}

static enum nr_status load_chunk(struct loader *l, const cJSON *o, size_t i,
                                 struct nr_manifest *m) {
    struct nr_chunk *k = &m->chunks[i];
    char label[64];
    const char *id = get_str(o, "id");
    if (!id || !*id || strlen(id) >= sizeof k->id) {
        snprintf(label, sizeof label, "chunks[%zu].id", i);
        return missing(l, label);
    }
    strcpy(k->id, id);
    snprintf(label, sizeof label, "chunk %s: \"chapter\"", id);
    if (!get_uint(o, "chapter", 1e9, &k->chapter) || k->chapter >= m->n_chapters)
        return missing(l, label);
    snprintf(label, sizeof label, "chunk %s: \"index\"", id);
    if (!get_uint(o, "index", 1e9, &k->index))
        return missing(l, label);
    const char *gap = get_str(o, "gap");
    int g = -1;
    for (int j = 0; gap && j < 3; j++)
        if (strcmp(gap, k_gap_names[j]) == 0)
            g = j;
    snprintf(label, sizeof label, "chunk %s: \"gap\"", id);
    if (g < 0)
        return missing(l, label);
    k->gap = (enum nr_gap)g;
    const char *text = get_str(o, "text");
    size_t n = text ? strlen(text) : 0;
    size_t vis = 0;
    for (size_t j = 0; j < n; j++)
        vis += !(text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r');
    if (!text || vis == 0 || !nr__utf8_valid(text, n))
        return nr_err_set(l->err, NR_STATUS_BAD_FORMAT,
                          "%s: chunk %s: \"text\" is missing, empty or not UTF-8", l->path, id);
    k->text = nr_strdup(text);
    if (!k->text)
        return nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
    char actual[33];
    nr_hash_hex(text, n, actual);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hash");
    if (!h || cJSON_IsNull(h)) {
        memcpy(k->hash, actual, sizeof actual);
        m->rehashed = 1;
        return NR_OK;
    }
    if (!cJSON_IsString(h))
        return missing(l, "hash");
    if (strcmp(h->valuestring, actual) != 0)
        return nr_err_set(l->err, NR_STATUS_BAD_FORMAT,
                          "%s: chunk %s: \"hash\" does not match its text (after editing a "
                          "chunk's text, delete its \"hash\")",
                          l->path, id);
    memcpy(k->hash, actual, sizeof actual);
    return NR_OK;
}

static enum nr_status load_chunks(struct loader *l, const cJSON *root, struct nr_manifest *m) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "chunks");
    if (!cJSON_IsArray(arr))
        return missing(l, "chunks");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return nr_err_set(l->err, NR_STATUS_BAD_FORMAT, "%s: the manifest has no chunks", l->path);
    m->chunks = nr_calloc(n, sizeof *m->chunks);
    if (!m->chunks)
        return nr_err_set(l->err, NR_STATUS_NO_MEMORY, "%s: out of memory", l->path);
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        m->n_chunks = i + 1; /* so nr_manifest_free sees what was filled in */
        if (!cJSON_IsObject(o)) {
            char label[64];
            snprintf(label, sizeof label, "chunks[%zu]", i);
            return missing(l, label);
        }
        enum nr_status st = load_chunk(l, o, i, m);
        if (st != NR_OK)
            return st;
        i++;
    }
    return NR_OK;
}

enum nr_status nr_manifest_load(const char *path, struct nr_manifest **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_load: out is NULL");
    *out = NULL;
    if (!path)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_load: path is NULL");
    char *data = NULL;
    size_t len = 0;
    enum nr_status st = nr_file_read(path, &data, &len, err);
    if (st != NR_OK)
        return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - data) : 0;
        nr_free(data);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: invalid JSON near byte %zu", path, at);
    }
    nr_free(data);
    struct loader l = {.path = path, .err = err};
    struct nr_manifest *m = nr_calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(root);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    if (!cJSON_IsObject(root))
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: not a JSON object", path);
    if (st == NR_OK)
        st = load_header(&l, root, m);
    if (st == NR_OK)
        st = load_chapters(&l, root, m);
    if (st == NR_OK)
        st = load_chunks(&l, root, m);
    cJSON_Delete(root);
    if (st != NR_OK) {
        nr_manifest_free(m);
        return st;
    }
    *out = m;
    return NR_OK;
}
