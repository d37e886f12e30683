/* Helpers for the output tests: a speech-like test engine, running a render,
 * and independent checks through Debian's ffmpeg / ffprobe programs. */
#ifndef NARRATE_TESTS_OUTPUTS_UTIL_H
#define NARRATE_TESTS_OUTPUTS_UTIL_H

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "narrate/audio.h"
#include "narrate/render.h"
#include "narrate/voice.h"
#include "render_run.h"

/* ---- a speech-like engine ------------------------------------------------ */

/* Audio of secs_per_char seconds per character of text: a buzz of harmonics
 * (pitch from the text) under a 4 Hz syllable envelope, with a little noise
 * and a sharp click now and then, so that its peak-to-loudness ratio is like
 * speech (about 15-20 dB) and the limiter has peaks to hold. */
struct speech_engine {
    struct nr_engine base;
    double secs_per_char;
    size_t items;
};

static inline size_t speech_len(const struct speech_engine *e, const char *text) {
    return (size_t)((double)strlen(text) * e->secs_per_char * e->base.sample_rate);
}

static enum nr_status speech_synth(struct nr_engine *base, const char *const *texts, size_t n,
                                   struct nr_audio *out, struct nr_err *err) {
    struct speech_engine *e = (struct speech_engine *)base;
    double rate = e->base.sample_rate;
    for (size_t i = 0; i < n; i++) {
        size_t len = speech_len(e, texts[i]);
        float *s = nr_malloc((len ? len : 1) * sizeof(float));
        if (!s) {
            for (size_t k = 0; k < i; k++)
                nr_audio_deinit(&out[k]);
            memset(out, 0, n * sizeof *out);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "test: out of memory");
        }
        uint32_t seed = (uint32_t)nr_hash64(texts[i], strlen(texts[i]));
        double f0 = 100.0 + seed % 60;
        for (size_t k = 0; k < len; k++) {
            double t = (double)k / rate;
            double env = fabs(sin(M_PI * 4.0 * t));
            double v = 0;
            for (int h = 1; h <= 6; h++)
                v += sin(2 * M_PI * f0 * h * t) / h;
            seed = seed * 1664525u + 1013904223u;
            double noise = ((double)(seed >> 8) / 16777216.0 - 0.5) * 0.1;
            double click = (k % (size_t)(rate * 0.77)) == 7 ? 0.35 : 0.0;
            s[k] = (float)(0.1 * env * v + noise * env + click);
        }
        out[i].samples = s;
        out[i].n = len;
        out[i].rate = e->base.sample_rate;
        e->items++;
    }
    return NR_OK;
}

static void speech_destroy(struct nr_engine *base) {
    (void)base; /* caller-owned */
}

static const struct nr_engine_ops speech_ops = {speech_synth, NULL, speech_destroy, NULL};

static inline void speech_engine_init(struct speech_engine *e, int rate, double secs_per_char) {
    memset(e, 0, sizeof *e);
    e->base.ops = &speech_ops;
    snprintf(e->base.name, sizeof e->base.name, "test");
    snprintf(e->base.cache_key, sizeof e->base.cache_key, "engine=speech;rate=%d;spc=%g", rate,
             secs_per_char);
    e->base.sample_rate = rate;
    e->secs_per_char = secs_per_char;
}

/* ---- running a render ---------------------------------------------------- */

/* ---- external programs ----------------------------------------------------- */

/* Runs a shell command and returns its stdout (caller frees), or NULL. */
static inline char *run_capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    struct nr_buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, p)) > 0)
        if (nr_buf_append(&b, tmp, n) != NR_OK)
            break;
    int rc = pclose(p);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        nr_buf_deinit(&b);
        return NULL;
    }
    if (!b.data && nr_buf_append(&b, "", 0) != NR_OK)
        return NULL;
    return nr_buf_take(&b);
}

static inline int have_program(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* ffprobe's JSON description (format, streams, chapters), or NULL. */
static inline cJSON *ffprobe(const char *path) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -show_format -show_streams -show_chapters -of json '%s'", path);
    char *out = run_capture(cmd);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    nr_free(out);
    return j;
}

static inline const char *json_str(const cJSON *o, const char *path1, const char *path2) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2)
        a = cJSON_GetObjectItemCaseSensitive(a, path2);
    return cJSON_IsString(a) ? a->valuestring : NULL;
}

/* What ffmpeg's ebur128 filter says about a file. */
struct ff_loudness {
    double lufs, true_peak;
};
static inline int ffmpeg_ebur128(const char *path, struct ff_loudness *out) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostats -hide_banner -i '%s' -af ebur128=peak=true -f null - 2>&1 | "
             "sed -n '/Summary:/,$p'",
             path);
    char *s = run_capture(cmd);
    if (!s)
        return -1;
    const char *i = strstr(s, "I:");
    const char *p = strstr(s, "Peak:");
    int ok = i && p && sscanf(i, "I: %lf", &out->lufs) == 1 &&
             sscanf(p, "Peak: %lf", &out->true_peak) == 1;
    nr_free(s);
    return ok ? 0 : -1;
}

/* Decodes a file with ffmpeg to mono float at its own rate, measures it with
 * narrate's own meter and counts its samples. */
struct own_measure {
    double lufs, true_peak, seconds;
    int rate;
};
static inline int decode_measure(const char *path, struct own_measure *m) {
    cJSON *j = ffprobe(path);
    const cJSON *streams = cJSON_GetObjectItemCaseSensitive(j, "streams");
    const cJSON *st;
    m->rate = 0;
    cJSON_ArrayForEach(st, streams) {
        const char *type = json_str(st, "codec_type", NULL);
        const char *rate = json_str(st, "sample_rate", NULL);
        if (type && strcmp(type, "audio") == 0 && rate)
            m->rate = atoi(rate);
    }
    cJSON_Delete(j);
    if (m->rate <= 0)
        return -1;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -map 0:a -f f32le -ac 1 -", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    struct nr_loudness *l = NULL;
    struct nr_err err = {0};
    if (nr_loudness_new(m->rate, &l, &err) != NR_OK) {
        pclose(p);
        return -1;
    }
    float buf[8192];
    size_t n, total = 0;
    int bad = 0;
    while ((n = fread(buf, sizeof(float), 8192, p)) > 0) {
        total += n;
        bad |= nr_loudness_add(l, buf, n, &err) != NR_OK;
    }
    bad |= pclose(p) != 0;
    bad |= nr_loudness_result(l, &m->lufs, &m->true_peak, &err) != NR_OK;
    nr_loudness_free(l);
    m->seconds = (double)total / m->rate;
    return bad ? -1 : 0;
}

/* Number of directory entries whose name contains needle. */
static inline int count_names(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, needle) != NULL;
    closedir(d);
    return n;
}

#endif
