/* PCM buffers and the chunk cache file format. */
#include "narrate/audio.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_MAGIC "NRPCM001"
#define CACHE_HEADER 32

void nr_audio_deinit(struct nr_audio *a) {
    nr_free(a->samples);
    nr_free(a->pcm16);
    a->samples = NULL;
    a->pcm16 = NULL;
    a->n = 0;
}

/* n int16 samples at src (any alignment) as floats k / 32768. src may be
 * the upper half of out's own bytes: sample i is read before float i is
 * written, front to back, and float i never reaches a sample not yet read. */
static void widen_s16(const void *src, size_t n, float *out) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        int16_t v;
        memcpy(&v, p + 2 * i, sizeof v);
        out[i] = (float)v / 32768.0f;
    }
}

enum nr_status nr_audio_to_float(struct nr_audio *a, struct nr_err *err) {
    if (!a->pcm16)
        return NR_OK;
    float *s = nr_malloc((a->n ? a->n : 1) * sizeof *s);
    if (!s)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "audio: out of memory");
    widen_s16(a->pcm16, a->n, s);
    nr_free(a->samples);
    nr_free(a->pcm16);
    a->samples = s;
    a->pcm16 = NULL;
    return NR_OK;
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

/* The cache stores samples in the machine's order; every target we build for
 * is little-endian, which the header check below asserts at run time. */
static int little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* Sample formats, the header's u32 at offset 12 (0 in files from before
 * int16 storage, which were all float32). */
enum { FMT_F32 = 0, FMT_S16 = 1 };

/* Converts to int16 in one pass and returns 1 when every sample is exactly
 * k / 32768 for an int16 k: the audio of an int16 engine (eSpeak NG) is then
 * stored in half the bytes and loads back exactly. */
static int to_int16_exact(const float *s, size_t n, int16_t *out) {
    int exact = 1;
    for (size_t i = 0; i < n; i++) {
        float v = s[i] * 32768.0f;
        int in = v >= -32768.0f && v <= 32767.0f; /* false for NaN */
        int16_t k = in ? (int16_t)v : 0;
        out[i] = k;
        exact &= in & ((float)k == v);
    }
    return exact;
}

enum nr_status nr_cache_save(const char *path, const struct nr_audio *a, struct nr_err *err) {
    NR_ASSERT(little_endian());
    /* pcm16 audio is written as it is; float audio is converted when it
     * turns out to be int16 in disguise. */
    int16_t *pcm = NULL;
    int fmt = FMT_S16;
    if (!a->pcm16) {
        pcm = nr_malloc((a->n ? a->n : 1) * sizeof *pcm);
        if (!pcm)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
        fmt = to_int16_exact(a->samples, a->n, pcm) ? FMT_S16 : FMT_F32;
    }
    const void *data = a->samples;
    size_t bytes = a->n * sizeof(float);
    if (fmt == FMT_S16) {
        data = a->pcm16 ? a->pcm16 : pcm;
        bytes = a->n * sizeof(int16_t);
    }
    unsigned char hdr[CACHE_HEADER];
    memcpy(hdr, CACHE_MAGIC, 8);
    put_u32(hdr + 8, (uint32_t)a->rate);
    put_u32(hdr + 12, (uint32_t)fmt);
    put_u64(hdr + 16, (uint64_t)a->n);
    put_u64(hdr + 24, nr_hash64(data, bytes));
    struct nr_atomic_file af;
    enum nr_status st = nr_atomic_open(&af, path, err);
    if (st != NR_OK) {
        nr_free(pcm);
        return st;
    }
    /* No fsync, of the file or its folder: every load checks the length and
     * the checksum (the render's cache scan loads each file), so a cache
     * file that a power cut lost or tore is simply rendered again. A crash
     * or kill -9 loses nothing either way (the page cache survives it).
     * Measured: 55 fsyncs cost the sample book's synthesis about 5 %. */
    af.skip_dir_sync = 1;
    af.skip_data_sync = 1;
    if (fwrite(hdr, 1, sizeof hdr, af.fp) != sizeof hdr ||
        (bytes && fwrite(data, 1, bytes, af.fp) != bytes)) {
        int e = errno;
        nr_atomic_abort(&af);
        nr_free(pcm);
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", path, strerror(e));
    }
    nr_free(pcm);
    return nr_atomic_commit(&af, err);
}

static enum nr_status bad(FILE *f, const char *path, const char *what, struct nr_err *err) {
    fclose(f);
    return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: %s", path, what);
}

enum nr_status nr_cache_load(const char *path, struct nr_audio *a, struct nr_err *err) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    unsigned char p[CACHE_HEADER];
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || fread(p, 1, sizeof p, f) != sizeof p ||
        memcmp(p, CACHE_MAGIC, 8) != 0)
        return bad(f, path, "not a narrate cache file", err);
    uint32_t rate = get_u32(p + 8), fmt = get_u32(p + 12);
    uint64_t n = get_u64(p + 16), sum = get_u64(p + 24);
    size_t width = fmt == FMT_S16 ? sizeof(int16_t) : sizeof(float);
    uint64_t data_len = (uint64_t)sb.st_size - CACHE_HEADER;
    if (fmt > FMT_S16)
        return bad(f, path, "unknown sample format (written by a newer narrate?)", err);
    if (rate == 0 || rate > 384000 || n > data_len / width || data_len != n * width)
        return bad(f, path, "truncated cache file", err);
    /* One buffer: int16 data is read into its upper half and widened in
     * place, front to back (float i never reaches an int16 not yet read). */
    float *s = nr_malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!s) {
        fclose(f);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    unsigned char *raw = (unsigned char *)s + (fmt == FMT_S16 ? (size_t)n * sizeof(int16_t) : 0);
    size_t got = n ? fread(raw, 1, (size_t)data_len, f) : 0;
    fclose(f);
    if (got != (size_t)data_len) {
        nr_free(s);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: truncated cache file", path);
    }
    if (nr_hash64(raw, (size_t)data_len) != sum) {
        nr_free(s);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: cache checksum mismatch", path);
    }
    if (fmt == FMT_S16)
        widen_s16(raw, (size_t)n, s);
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
