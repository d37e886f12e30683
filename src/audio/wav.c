/* 16-bit mono WAV: a streaming, atomic writer and a small reader. */
#include "narrate/audio.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static void le16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void header(unsigned char h[44], int rate, uint64_t n) {
    uint32_t data = (uint32_t)(n * 2);
    memcpy(h, "RIFF", 4);
    le32(h + 4, 36 + data);
    memcpy(h + 8, "WAVEfmt ", 8);
    le32(h + 16, 16);
    le16(h + 20, 1); /* PCM */
    le16(h + 22, 1); /* mono */
    le32(h + 24, (uint32_t)rate);
    le32(h + 28, (uint32_t)rate * 2);
    le16(h + 32, 2);
    le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    le32(h + 40, data);
}

enum nr_status nr_wav_writer_open(struct nr_wav_writer *w, const char *path, int rate,
                                  struct nr_err *err) {
    memset(w, 0, sizeof *w);
    w->rate = rate;
    w->gain = 1.0f;
    enum nr_status st = nr_atomic_open(&w->af, path, err);
    if (st != NR_OK)
        return st;
    unsigned char h[44];
    header(h, rate, 0);
    if (fwrite(h, 1, sizeof h, w->af.fp) != sizeof h) {
        nr_wav_writer_abort(w);
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed", path);
    }
    return NR_OK;
}

enum nr_status nr_wav_writer_write(struct nr_wav_writer *w, const float *samples, size_t n,
                                   struct nr_err *err) {
    unsigned char buf[4096];
    size_t i = 0;
    while (i < n) {
        size_t m = 0;
        for (; i < n && m + 2 <= sizeof buf; i++, m += 2) {
            float v = samples ? samples[i] * w->gain * 32767.0f : 0.0f;
            long q = lrintf(v);
            if (q > 32767)
                q = 32767;
            if (q < -32768)
                q = -32768;
            le16(buf + m, (uint16_t)(int16_t)q);
        }
        if (fwrite(buf, 1, m, w->af.fp) != m)
            return nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", w->af.final_path,
                              strerror(errno));
    }
    w->n_samples += n;
    if (w->n_samples * 2 > 0xFFFFFFF0u)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: longer than a WAV file can hold",
                          w->af.final_path);
    return NR_OK;
}

enum nr_status nr_wav_writer_silence(struct nr_wav_writer *w, size_t n, struct nr_err *err) {
    return nr_wav_writer_write(w, NULL, n, err);
}

enum nr_status nr_wav_writer_close(struct nr_wav_writer *w, struct nr_err *err) {
    unsigned char h[44];
    header(h, w->rate, w->n_samples);
    if (fseek(w->af.fp, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->af.fp) != sizeof h) {
        nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", w->af.final_path, strerror(errno));
        nr_wav_writer_abort(w);
        return NR_STATUS_IO;
    }
    return nr_atomic_commit(&w->af, err);
}

void nr_wav_writer_abort(struct nr_wav_writer *w) {
    nr_atomic_abort(&w->af);
}

enum nr_status nr_wav_read(const char *path, struct nr_audio *a, struct nr_err *err) {
    memset(a, 0, sizeof *a);
    char *data = NULL;
    size_t len = 0;
    enum nr_status st = nr_file_read(path, &data, &len, err);
    if (st != NR_OK)
        return st;
    const unsigned char *p = (const unsigned char *)data;
    if (len < 12 || memcmp(p, "RIFF", 4) || memcmp(p + 8, "WAVE", 4)) {
        nr_free(data);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: not a WAV file", path);
    }
    int rate = 0, fmt_ok = 0;
    size_t off = 12;
    while (off + 8 <= len) {
        uint32_t sz = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 |
                      (uint32_t)p[off + 6] << 16 | (uint32_t)p[off + 7] << 24;
        const unsigned char *c = p + off + 8;
        if (sz > len - off - 8)
            break;
        if (!memcmp(p + off, "fmt ", 4) && sz >= 16) {
            int format = c[0] | c[1] << 8, channels = c[2] | c[3] << 8, bits = c[14] | c[15] << 8;
            rate = (int)((uint32_t)c[4] | (uint32_t)c[5] << 8 | (uint32_t)c[6] << 16 |
                         (uint32_t)c[7] << 24);
            fmt_ok = format == 1 && channels == 1 && bits == 16;
        } else if (!memcmp(p + off, "data", 4) && fmt_ok) {
            size_t n = sz / 2;
            a->samples = nr_malloc(n * sizeof(float));
            if (!a->samples) {
                nr_free(data);
                return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
            }
            for (size_t i = 0; i < n; i++)
                a->samples[i] = (float)(int16_t)(c[2 * i] | c[2 * i + 1] << 8) / 32768.0f;
            a->n = n;
            a->rate = rate;
            nr_free(data);
            return NR_OK;
        }
        off += 8 + sz + (sz & 1);
    }
    nr_free(data);
    return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: not a 16-bit mono PCM WAV file", path);
}
