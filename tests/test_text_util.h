/* Helpers shared by the text tests: word lists, temp files, seeds. */
#ifndef NARRATE_TEST_TEXT_UTIL_H
#define NARRATE_TEST_TEXT_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "narrate/text.h"

struct words {
    char **w;
    size_t n, cap;
};

static inline void words_add(struct words *ws, const char *s) {
    for (;;) {
        while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
            s++;
        if (!*s)
            return;
        size_t n = strcspn(s, " \n\t\r");
        if (ws->n == ws->cap) {
            ws->cap = ws->cap ? ws->cap * 2 : 256;
            ws->w = realloc(ws->w, ws->cap * sizeof *ws->w);
        }
        ws->w[ws->n] = malloc(n + 1);
        memcpy(ws->w[ws->n], s, n);
        ws->w[ws->n++][n] = '\0';
        s += n;
    }
}

static inline size_t words_count(const char *s) {
    struct words w = {0};
    words_add(&w, s);
    for (size_t i = 0; i < w.n; i++)
        free(w.w[i]);
    free(w.w);
    return w.n;
}

static inline void words_free(struct words *ws) {
    for (size_t i = 0; i < ws->n; i++)
        free(ws->w[i]);
    free(ws->w);
    memset(ws, 0, sizeof *ws);
}

/* A scratch folder under the build tree (or /tmp), created once. */
static inline const char *scratch_dir(void) {
    static char dir[1024];
    if (!dir[0]) {
        const char *b = getenv("NARRATE_BINARY_DIR");
        snprintf(dir, sizeof dir, "%s/test-text-XXXXXX", b ? b : "/tmp");
        if (!mkdtemp(dir)) {
            snprintf(dir, sizeof dir, "/tmp/test-text-XXXXXX");
            if (!mkdtemp(dir))
                abort();
        }
    }
    return dir;
}

/* Removes the scratch folder and the files in it (it has no subfolders). */
static inline void scratch_cleanup(void) {
    const char *dir = scratch_dir();
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1400];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Writes data to scratch/name; returns the path (static storage, rotated). */
static inline const char *scratch_file(const char *name, const void *data, size_t n) {
    static char paths[8][1200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", scratch_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n))
        abort();
    fclose(f);
    return p;
}

static inline const char *source_path(const char *rel) {
    static char paths[8][1200];
    static int next;
    char *p = paths[next++ % 8];
    const char *s = getenv("NARRATE_SOURCE_DIR");
    snprintf(p, sizeof paths[0], "%s/%s", s ? s : ".", rel);
    return p;
}

/* Deterministic generator (64-bit LCG, top bits). */
static unsigned long long test_rng_state;
static inline unsigned test_rand(void) {
    test_rng_state = test_rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(test_rng_state >> 33);
}

#endif
