/* PCM buffers and the chunk cache file format. */
#include "narrate/audio.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define CACHE_MAGIC "NRPCM001"
#define CACHE_HEADER 32

void nr_audio_deinit(struct nr_audio *a) {
    nr_free(a->samples);
    a->samples = NULL;
    a->n = 0;
}

double nr_audio_seconds(const struct nr_audio *a) {
    return a->rate > 0 ? (double)a->n / a->rate : 0.0;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The cache stores float32 in the machine's order; every target we build for
 * is little-endian, which the header check below asserts at run time. */
static int little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

enum nr_status nr_cache_save(const char *path, const struct nr_audio *a, struct nr_err *err) {
    NR_ASSERT(little_endian());
    unsigned char hdr[CACHE_HEADER];
    size_t bytes = a->n * sizeof(float);
    memcpy(hdr, CACHE_MAGIC, 8);
    put_u32(hdr + 8, (uint32_t)a->rate);
    put_u32(hdr + 12, 0);
    put_u64(hdr + 16, (uint64_t)a->n);
    put_u64(hdr + 24, nr_hash64(a->samples, bytes));
    struct nr_atomic_file af;
    enum nr_status st = nr_atomic_open(&af, path, err);
    if (st != NR_OK)
        return st;
    /* A cache file whose rename is lost in a power cut is simply rendered
     * again; its data is fsynced before the rename, so a file under the
     * final name is never empty or torn. */
    af.skip_dir_sync = 1;
    if (fwrite(hdr, 1, sizeof hdr, af.fp) != sizeof hdr ||
        (bytes && fwrite(a->samples, 1, bytes, af.fp) != bytes)) {
        int e = errno;
        nr_atomic_abort(&af);
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", path, strerror(e));
    }
    return nr_atomic_commit(&af, err);
}

enum nr_status nr_cache_load(const char *path, struct nr_audio *a, struct nr_err *err) {
    memset(a, 0, sizeof *a);
    char *data = NULL;
    size_t len = 0;
    enum nr_status st = nr_file_read(path, &data, &len, err);
    if (st != NR_OK)
        return st;
    const unsigned char *p = (const unsigned char *)data;
    if (len < CACHE_HEADER || memcmp(p, CACHE_MAGIC, 8) != 0) {
        nr_free(data);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: not a narrate cache file", path);
    }
    uint32_t rate = get_u32(p + 8);
    uint64_t n = get_u64(p + 16), sum = get_u64(p + 24);
    if (rate == 0 || rate > 384000 || n > (len - CACHE_HEADER) / sizeof(float) ||
        len - CACHE_HEADER != n * sizeof(float)) {
        nr_free(data);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: truncated cache file", path);
    }
    if (nr_hash64(p + CACHE_HEADER, (size_t)n * sizeof(float)) != sum) {
        nr_free(data);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: cache checksum mismatch", path);
    }
    float *s = nr_malloc((size_t)n * sizeof(float));
    if (!s) {
        nr_free(data);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    memcpy(s, p + CACHE_HEADER, (size_t)n * sizeof(float));
    nr_free(data);
    a->samples = s;
    a->n = (size_t)n;
    a->rate = (int)rate;
    return NR_OK;
}

void nr_audio_fade_edges(struct nr_audio *a, size_t fade) {
    if (a->n < 2)
        return;
    if (fade > a->n / 2)
        fade = a->n / 2;
    for (size_t i = 0; i < fade; i++) {
        /* Raised cosine from 0 to 1 over the fade. */
        float g = (float)(0.5 - 0.5 * cos(M_PI * (double)i / (double)fade));
        a->samples[i] *= g;
        a->samples[a->n - 1 - i] *= g;
    }
}
