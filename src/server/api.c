/* The JSON API under /api (docs/API.md): settings, GPU, books, voices,
 * uploads; the render routes hand over to job.c. Every request reaching
 * this file already passed the Host, size and token checks (server.c). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "narrate/gpu.h"
#include "narrate/voice.h"
#include "server_internal.h"

static void reply_cjson(struct nr__reply *reply, int status, cJSON *o) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    if (text)
        nr__reply_json(reply, status, text);
    else
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    cJSON_free(text);
    cJSON_Delete(o);
}

static int http_status_for(enum nr_status st) {
    switch (st) {
    case NR_STATUS_INVALID_ARG:
    case NR_STATUS_BAD_FORMAT:
        return MHD_HTTP_BAD_REQUEST;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* ---- settings ------------------------------------------------------------------ */

/* One entry per line of nr_settings_describe ("  name  help (range)"), so
 * the page can build a field for every setting that exists, with the same
 * help text and limits as `narrate settings`. */
static cJSON *settings_keys(void) {
    struct nr_buf d = {0};
    cJSON *arr = cJSON_CreateArray();
    if (!arr || nr_settings_describe(&d) != NR_OK) {
        nr_buf_deinit(&d);
        cJSON_Delete(arr);
        return NULL;
    }
    for (char *line = d.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        while (*line == ' ')
            line++;
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = '\0';
            char *help = sp + 1;
            while (*help == ' ')
                help++;
            cJSON *k = cJSON_CreateObject();
            cJSON_AddStringToObject(k, "name", line);
            size_t n = strlen(help);
            char *open = n && help[n - 1] == ')' ? strrchr(help, '(') : NULL;
            if (open && open > help) {
                help[n - 1] = '\0';
                char *range = open + 1;
                open[-1] = '\0';
                char *dots = strstr(range, "..");
                if (dots) {
                    *dots = '\0';
                    cJSON_AddNumberToObject(k, "min", strtod(range, NULL));
                    cJSON_AddNumberToObject(k, "max", strtod(dots + 2, NULL));
                } else if (strchr(range, '|')) {
                    cJSON *ch = cJSON_AddArrayToObject(k, "choices");
                    for (char *tok = strtok(range, "|"); tok; tok = strtok(NULL, "|"))
                        cJSON_AddItemToArray(ch, cJSON_CreateString(tok));
                }
            }
            cJSON_AddStringToObject(k, "help", help);
            cJSON_AddItemToArray(arr, k);
        }
        line = nl ? nl + 1 : NULL;
    }
    nr_buf_deinit(&d);
    return arr;
}

static enum nr_status load_settings(struct nr_server *s, struct nr_settings *out,
                                    struct nr_err *err) {
    nr_settings_defaults(out);
    return nr_settings_load(out, s->settings_path, err);
}

static cJSON *settings_object(const struct nr_settings *st) {
    char *json = nr_settings_to_json(st);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    nr_free(json);
    return o;
}

static void get_settings(struct nr_server *s, struct nr__reply *reply) {
    struct nr_settings st;
    struct nr_err err = {0};
    pthread_mutex_lock(&s->mu);
    enum nr_status rc = load_settings(s, &st, &err);
    pthread_mutex_unlock(&s->mu);
    if (rc != NR_OK) {
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", s->settings_path);
    cJSON_AddItemToObject(o, "settings", settings_object(&st));
    cJSON_AddItemToObject(o, "keys", settings_keys());
    reply_cjson(reply, MHD_HTTP_OK, o);
}

/* Validates each key on its own, so the page can show every error beside
 * its field; saves only when all of them are valid. */
static void put_settings(struct nr_server *s, const char *body, struct nr__reply *reply) {
    cJSON *in = body ? cJSON_Parse(body) : NULL;
    if (!in || !cJSON_IsObject(in)) {
        cJSON_Delete(in);
        nr__reply_error(reply, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object of settings");
        return;
    }
    struct nr_settings st;
    struct nr_err err = {0};
    pthread_mutex_lock(&s->mu);
    enum nr_status rc = load_settings(s, &st, &err);
    cJSON *errors = cJSON_CreateObject();
    const char *first = NULL;
    for (cJSON *it = in->child; rc == NR_OK && it; it = it->next) {
        cJSON *one = cJSON_CreateObject();
        cJSON_AddItemToObject(one, it->string, cJSON_Duplicate(it, 1));
        char *text = cJSON_PrintUnformatted(one);
        struct nr_err kerr = {0};
        if (!text || nr_settings_from_json(&st, text, &kerr) != NR_OK) {
            cJSON *e =
                cJSON_AddStringToObject(errors, it->string, text ? kerr.msg : "out of memory");
            if (!first && e)
                first = e->valuestring;
        }
        cJSON_free(text);
        cJSON_Delete(one);
    }
    if (rc == NR_OK && !first)
        rc = nr_settings_save(&st, s->settings_path, &err);
    pthread_mutex_unlock(&s->mu);
    if (rc != NR_OK) {
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
        cJSON_Delete(errors);
    } else if (first) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", first);
        cJSON_AddItemToObject(o, "errors", errors);
        reply_cjson(reply, MHD_HTTP_BAD_REQUEST, o);
    } else {
        cJSON_Delete(errors);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", s->settings_path);
        cJSON_AddItemToObject(o, "settings", settings_object(&st));
        reply_cjson(reply, MHD_HTTP_OK, o);
        nr_log_event(s->log, "Settings saved to %s", s->settings_path);
    }
    cJSON_Delete(in);
}

/* ---- GPU ------------------------------------------------------------------------- */

static void get_gpu(struct nr_server *s, struct nr__reply *reply) {
    struct nr_settings st;
    struct nr_err err = {0};
    struct nr_gpu *g = NULL;
    struct nr_buf report = {0}, sample = {0};
    pthread_mutex_lock(&s->mu);
    enum nr_status rc = load_settings(s, &st, &err);
    pthread_mutex_unlock(&s->mu);
    if (rc == NR_OK)
        rc = nr_gpu_open(st.gpu_index, &g, &err);
    if (rc == NR_OK)
        rc = nr_gpu_startup_report(g, st.batch_size, -1, &report, &err);
    struct nr_gpu_sample smp;
    if (rc == NR_OK) {
        nr_gpu_sample(g, &smp);
        rc = nr_gpu_sample_json(&smp, &sample, &err);
    }
    if (rc != NR_OK) {
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "present", nr_gpu_present(g));
        cJSON_AddStringToObject(o, "name", nr_gpu_name(g));
        cJSON_AddStringToObject(o, "provider", nr_gpu_provider(g));
        cJSON_AddStringToObject(o, "detail", nr_gpu_detail(g));
        cJSON_AddStringToObject(o, "report", report.data ? report.data : "");
        cJSON_AddNumberToObject(o, "batch_size", st.batch_size);
        if (smp.valid)
            cJSON_AddNumberToObject(o, "recommended_batch", nr_gpu_recommend_batch(smp.total));
        else
            cJSON_AddNullToObject(o, "recommended_batch");
        /* sample_json writes ",\"k\":v,..." : wrap it into an object. */
        struct nr_buf obj = {0};
        cJSON *so = NULL;
        if (nr_buf_printf(&obj, "{%s}", sample.data ? sample.data + 1 : "") == NR_OK)
            so = cJSON_Parse(obj.data);
        nr_buf_deinit(&obj);
        cJSON_AddItemToObject(o, "sample", so ? so : cJSON_CreateNull());
        reply_cjson(reply, MHD_HTTP_OK, o);
    }
    nr_buf_deinit(&report);
    nr_buf_deinit(&sample);
    nr_gpu_free(g);
}

/* ---- books, voices, uploads ---------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Lists books (.txt .md .epub) and Piper voices (.onnx) under the
 * workspace: a few levels deep, regular files only (no symlinks), hidden
 * folders, caches and node_modules skipped, at most 500 of each. */
static void walk(const char *root, const char *rel, int depth, cJSON *books, cJSON *voices) {
    char *dir_path = *rel ? nr_path_join(root, rel) : nr_strdup(root);
    DIR *d = dir_path ? opendir(dir_path) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "node_modules") == 0 ||
            strcmp(de->d_name, "cache") == 0)
            continue;
        char *child = *rel ? nr_path_join(rel, de->d_name) : nr_strdup(de->d_name);
        char *full = child ? nr_path_join(root, child) : NULL;
        struct stat sb;
        if (full && lstat(full, &sb) == 0) {
            if (S_ISDIR(sb.st_mode) && depth < 4)
                walk(root, child, depth + 1, books, voices);
            else if (S_ISREG(sb.st_mode)) {
                if ((ends_with(child, ".txt") || ends_with(child, ".md") ||
                     ends_with(child, ".epub")) &&
                    cJSON_GetArraySize(books) < 500)
                    cJSON_AddItemToArray(books, cJSON_CreateString(child));
                else if (ends_with(child, ".onnx") && cJSON_GetArraySize(voices) < 500)
                    cJSON_AddItemToArray(voices, cJSON_CreateString(child));
            }
        }
        nr_free(full);
        nr_free(child);
    }
    if (d)
        closedir(d);
    nr_free(dir_path);
}

static void get_books(struct nr_server *s, struct nr__reply *reply) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "root", s->root);
    cJSON *books = cJSON_AddArrayToObject(o, "books");
    cJSON *voices = cJSON_AddArrayToObject(o, "piper_voices");
    walk(s->root, "", 0, books, voices);
    reply_cjson(reply, MHD_HTTP_OK, o);
}

/* The eSpeak voices from nr_voices_list ("  espeak:ID  ident  Name"),
 * made once: eSpeak is initialised in this process only here. */
static char *voices_json(struct nr_err *err) {
    struct nr_buf text = {0};
    if (nr_voices_list(&text, err) != NR_OK) {
        nr_buf_deinit(&text);
        return NULL;
    }
    cJSON *arr = cJSON_CreateArray();
    for (char *line = text.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char id[128], ident[128];
        int used = 0;
        if (strncmp(line, "  espeak:", 9) == 0 &&
            sscanf(line, " %127s %127s %n", id, ident, &used) == 2) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "id", id);
            cJSON_AddStringToObject(v, "name", line + used);
            cJSON_AddItemToArray(arr, v);
        }
        line = nl ? nl + 1 : NULL;
    }
    nr_buf_deinit(&text);
    char *out = cJSON_PrintUnformatted(arr);
    char *copy = out ? nr_strdup(out) : NULL;
    cJSON_free(out);
    cJSON_Delete(arr);
    if (!copy)
        nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    return copy;
}

static void get_voices(struct nr_server *s, struct nr__reply *reply) {
    struct nr_err err = {0};
    pthread_mutex_lock(&s->mu);
    if (!s->voices_json)
        s->voices_json = voices_json(&err);
    struct nr_buf b = {0};
    enum nr_status st =
        s->voices_json ? nr_buf_printf(&b, "{\"espeak\":%s}", s->voices_json) : NR_STATUS_IO;
    pthread_mutex_unlock(&s->mu);
    if (st == NR_OK)
        nr__reply_json(reply, MHD_HTTP_OK, b.data);
    else
        nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR,
                        err.msg[0] ? err.msg : "out of memory");
    nr_buf_deinit(&b);
}

static void post_upload(struct nr_server *s, const char *name, const char *body, size_t len,
                        struct nr__reply *reply) {
    if (!name || !nr__upload_name_ok(name)) {
        nr__reply_error(reply, MHD_HTTP_BAD_REQUEST,
                        "?name= must be a plain file name ending in .txt, .md or .epub "
                        "(letters, digits, space, . _ -)");
        return;
    }
    if (!len) {
        nr__reply_error(reply, MHD_HTTP_BAD_REQUEST, "empty upload");
        return;
    }
    struct nr_err err = {0};
    char *dir = nr_path_join(s->root, "uploads");
    char *path = dir ? nr_path_join(dir, name) : NULL;
    enum nr_status st =
        path ? nr_mkdir_p(dir, &err) : nr_err_set(&err, NR_STATUS_NO_MEMORY, "out of memory");
    /* uploads/ itself must not be a link leading out of the workspace. */
    char *confined = NULL;
    if (st == NR_OK)
        st = nr__path_confine(s->root, "uploads", 1, &confined, &err);
    if (st == NR_OK)
        st = nr_file_write_atomic(path, body, len, &err);
    if (st != NR_OK) {
        nr__reply_error(reply, http_status_for(st), err.msg);
    } else {
        cJSON *o = cJSON_CreateObject();
        struct nr_buf rel = {0};
        if (nr_buf_printf(&rel, "uploads/%s", name) == NR_OK)
            cJSON_AddStringToObject(o, "path", rel.data);
        cJSON_AddNumberToObject(o, "bytes", (double)len);
        nr_buf_deinit(&rel);
        reply_cjson(reply, MHD_HTTP_CREATED, o);
        nr_log_event(s->log, "Uploaded %s (%zu bytes)", path, len);
    }
    nr_free(confined);
    nr_free(path);
    nr_free(dir);
}

/* ---- routing ------------------------------------------------------------------------------ */

void nr__api_handle(struct nr_server *s, const char *method, const char *url,
                    const char *query_name, const char *body, size_t body_len,
                    struct nr__reply *reply) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    int put = strcmp(method, "PUT") == 0;
    const char *want = NULL; /* the method the route needs, when it got another */
    if (strcmp(url, "/api/status") == 0) {
        struct nr_buf b = {0};
        if (!get)
            want = "GET";
        else if (nr__job_status_json(s, &b) == NR_OK)
            nr__reply_json(reply, MHD_HTTP_OK, b.data);
        else
            nr__reply_error(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        nr_buf_deinit(&b);
    } else if (strcmp(url, "/api/settings") == 0) {
        if (get)
            get_settings(s, reply);
        else if (put)
            put_settings(s, body, reply);
        else
            want = "GET or PUT";
    } else if (strcmp(url, "/api/gpu") == 0) {
        if (get)
            get_gpu(s, reply);
        else
            want = "GET";
    } else if (strcmp(url, "/api/books") == 0) {
        if (get)
            get_books(s, reply);
        else
            want = "GET";
    } else if (strcmp(url, "/api/voices") == 0) {
        if (get)
            get_voices(s, reply);
        else
            want = "GET";
    } else if (strcmp(url, "/api/upload") == 0) {
        if (post)
            post_upload(s, query_name, body, body_len, reply);
        else
            want = "POST";
    } else if (strncmp(url, "/api/render/", 12) == 0) {
        const char *what = url + 12;
        if (!post)
            want = "POST";
        else if (strcmp(what, "start") == 0)
            nr__job_start(s, body, reply);
        else if (strcmp(what, "pause") == 0 || strcmp(what, "resume") == 0 ||
                 strcmp(what, "stop") == 0 || strcmp(what, "answer") == 0)
            nr__job_control(s, what, body, reply);
        else
            nr__reply_error(reply, MHD_HTTP_NOT_FOUND, "no such render action");
    } else {
        nr__reply_error(reply, MHD_HTTP_NOT_FOUND, "no such API route (see docs/API.md)");
    }
    if (want) {
        char msg[64];
        snprintf(msg, sizeof msg, "use %s", want);
        nr__reply_error(reply, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
    }
}
