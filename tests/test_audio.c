/* audio: cache file round trip and damage detection, WAV writer. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "narrate/audio.h"

static char tmpdir[256];

/* Overwrites the byte at offset in path: damage for the loader to find. */
static void poke(const char *path, long offset, int byte) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f)
        return;
    fseek(f, offset, SEEK_SET);
    fputc(byte, f);
    fclose(f);
}

static void test_cache(void) {
    struct nr_err err = {0};
    char *path = nr_path_join(tmpdir, "c.pcm");
    float s[1000];
    for (int i = 0; i < 1000; i++)
        s[i] = (float)i / 1000.0f - 0.5f;
    struct nr_audio a = {.samples = s, .n = 1000, .rate = 22050}, b;
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_OK);
    CHECK_EQ(b.n, 1000);
    CHECK_EQ(b.rate, 22050);
    CHECK(memcmp(b.samples, s, sizeof s) == 0);
    nr_audio_deinit(&b);
    /* Truncate: the length check catches it. */
    CHECK_EQ(truncate(path, 32 + 999 * 4), 0);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "truncated");
    CHECK(b.samples == NULL);
    /* Flip one sample byte: the checksum catches it. */
    nr_err_clear(&err);
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    poke(path, 32 + 400, 0x7f);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "checksum");
    /* Not a cache file at all. */
    nr_err_clear(&err);
    CHECK_EQ(nr_file_write_atomic(path, "hello", 5, &err), NR_OK);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    nr_free(path);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Audio that is exactly int16 (eSpeak NG's) is stored in 2 bytes a sample
 * and loads back bit-exact; one sample off the int16 grid keeps float32. */
static void test_cache_int16(void) {
    struct nr_err err = {0};
    char *path = nr_path_join(tmpdir, "s16.pcm");
    float s[1001];
    for (int i = 0; i < 1001; i++)
        s[i] = (float)((i * 37) % 65536 - 32768) / 32768.0f; /* covers -1 .. 32767/32768 */
    s[0] = -1.0f;
    s[1] = 32767.0f / 32768.0f;
    struct nr_audio a = {.samples = s, .n = 1001, .rate = 22050}, b;
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    CHECK_EQ(file_size(path), 32 + 1001 * 2);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_OK);
    CHECK_EQ(b.n, 1001);
    CHECK(b.samples && memcmp(b.samples, s, sizeof s) == 0);
    nr_audio_deinit(&b);
    /* The same audio handed over as pcm16 (an int16 engine's) is the same
     * file, byte for byte, and nr_audio_to_float gives the same floats. */
    char *path16 = nr_path_join(tmpdir, "s16b.pcm"), *x = NULL, *y = NULL;
    int16_t *k = nr_malloc(sizeof(int16_t) * 1001);
    CHECK(k != NULL);
    if (k) {
        for (int i = 0; i < 1001; i++)
            k[i] = (int16_t)(s[i] * 32768.0f);
        struct nr_audio c = {.n = 1001, .rate = 22050, .pcm16 = k};
        CHECK_EQ(nr_cache_save(path16, &c, &err), NR_OK);
        size_t nx = 0, ny = 0;
        CHECK_EQ(nr_file_read(path, &x, &nx, &err), NR_OK);
        CHECK_EQ(nr_file_read(path16, &y, &ny, &err), NR_OK);
        CHECK(nx == ny && x && y && memcmp(x, y, nx) == 0);
        CHECK_EQ(nr_audio_to_float(&c, &err), NR_OK);
        CHECK(c.pcm16 == NULL && c.samples && memcmp(c.samples, s, sizeof s) == 0);
        nr_audio_deinit(&c);
    }
    nr_free(x);
    nr_free(y);
    nr_free(path16);
    /* Damage in int16 files is caught the same way. */
    poke(path, 32 + 100, 0x55);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "checksum");
    nr_err_clear(&err);
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    CHECK_EQ(truncate(path, 32 + 1000 * 2), 0);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "truncated");
    /* Off the grid (and +1.0, which int16 cannot hold): float32. */
    nr_err_clear(&err);
    s[500] = 0.5f + 1.0f / 131072.0f;
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    CHECK_EQ(file_size(path), 32 + 1001 * 4);
    s[500] = 0.0f;
    s[7] = 1.0f;
    CHECK_EQ(nr_cache_save(path, &a, &err), NR_OK);
    CHECK_EQ(file_size(path), 32 + 1001 * 4);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_OK);
    CHECK(b.samples && memcmp(b.samples, s, sizeof s) == 0);
    nr_audio_deinit(&b);
    /* An unknown sample format is refused, not misread. */
    poke(path, 12, 7);
    CHECK_EQ(nr_cache_load(path, &b, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "sample format");
    nr_free(path);
}

static void test_wav(void) {
    struct nr_err err = {0};
    char *path = nr_path_join(tmpdir, "w.wav");
    struct nr_wav_writer w;
    CHECK_EQ(nr_wav_writer_open(&w, path, 16000, &err), NR_OK);
    /* The final name does not exist until close. */
    CHECK(!nr_file_exists(path));
    float s[4] = {0.5f, -0.5f, 2.0f, -2.0f};
    CHECK_EQ(nr_wav_writer_write(&w, s, 4, &err), NR_OK);
    CHECK_EQ(nr_wav_writer_silence(&w, 10, &err), NR_OK);
    CHECK_EQ(nr_wav_writer_close(&w, &err), NR_OK);
    char *data;
    size_t n;
    CHECK_EQ(nr_file_read(path, &data, &n, &err), NR_OK);
    CHECK_EQ(n, 44 + 14 * 2);
    const unsigned char *p = (const unsigned char *)data;
    CHECK(memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVEfmt ", 8) == 0);
    CHECK_EQ(p[40] | p[41] << 8, 28);                  /* data bytes */
    CHECK_EQ(p[24] | p[25] << 8 | p[26] << 16, 16000); /* rate */
    CHECK_EQ((int16_t)(p[44] | p[45] << 8), 16384);    /* 0.5 * 32767 rounded */
    CHECK_EQ((int16_t)(p[46] | p[47] << 8), -16384);
    CHECK_EQ((int16_t)(p[48] | p[49] << 8), 32767); /* clipped, not wrapped */
    CHECK_EQ((int16_t)(p[50] | p[51] << 8), -32768);
    CHECK_EQ((int16_t)(p[52] | p[53] << 8), 0);
    nr_free(data);
    struct nr_audio a;
    CHECK_EQ(nr_wav_read(path, &a, &err), NR_OK);
    CHECK_EQ(a.n, 14);
    CHECK_NEAR(a.samples[0], 16384.0 / 32768.0, 1e-6);
    nr_audio_deinit(&a);
    /* Abort leaves nothing behind. */
    char *p2 = nr_path_join(tmpdir, "aborted.wav");
    CHECK_EQ(nr_wav_writer_open(&w, p2, 16000, &err), NR_OK);
    CHECK_EQ(nr_wav_writer_write(&w, s, 2, &err), NR_OK);
    nr_wav_writer_abort(&w);
    CHECK(!nr_file_exists(p2));
    nr_free(p2);
    nr_free(path);
}

static void test_fade(void) {
    float s[100];
    for (int i = 0; i < 100; i++)
        s[i] = 1.0f;
    struct nr_audio a = {.samples = s, .n = 100, .rate = 1000};
    nr_audio_fade_edges(&a, 10);
    CHECK_NEAR(s[0], 0.0, 1e-7);
    CHECK_NEAR(s[99], 0.0, 1e-7);
    CHECK_NEAR(s[5], 0.5, 1e-6); /* raised cosine midpoint */
    CHECK_NEAR(s[50], 1.0, 0);
    for (int i = 1; i < 10; i++)
        CHECK(s[i] > s[i - 1]);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nr_test_audio_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_cache();
    test_cache_int16();
    test_wav();
    test_fade();
    check_remove_tree(tmpdir);
    return check_result("test_audio");
}
