/* The eSpeak NG engine: real speech, in-process and in worker processes,
 * identical results both ways, bad voices refused. */
#include <math.h>

#include "check.h"
#include "narrate/voice.h"

static double rms(const struct nr_audio *a) {
    double s = 0;
    for (size_t i = 0; i < a->n; i++)
        s += (double)a->samples[i] * a->samples[i];
    return a->n ? sqrt(s / (double)a->n) : 0;
}

int main(void) {
    struct nr_err err = {0};
    struct nr_engine *in_proc = NULL, *pool = NULL;
    CHECK_EQ(nr_espeak_open("en-us", 175, 1, &in_proc, &err), NR_OK); /* one worker */
    CHECK_EQ(nr_espeak_open("en-us", 175, 3, &pool, &err), NR_OK);
    if (!in_proc || !pool)
        return check_result("test_espeak");
    CHECK_EQ(in_proc->sample_rate, 22050);
    CHECK_EQ(pool->sample_rate, 22050);
    CHECK_STR(in_proc->cache_key, pool->cache_key);
    const char *texts[4] = {"Hello there.", "This sentence is rather longer than the first one.",
                            "Three.", "A fourth chunk, so the pool hands out more than once."};
    struct nr_audio a[4], b[4];
    CHECK_EQ(nr_engine_synth_batch(in_proc, texts, 4, a, &err), NR_OK);
    CHECK_EQ(nr_engine_synth_batch(pool, texts, 4, b, &err), NR_OK);
    for (int i = 0; i < 4; i++) {
        /* Speech: about 0.3 s to 4 s at 175 wpm, audible, in order. */
        CHECK(a[i].n > 22050 / 4 && a[i].n < 22050 * 5);
        CHECK(rms(&a[i]) > 0.01);
        CHECK_EQ(a[i].n, b[i].n);
        CHECK(a[i].n == b[i].n && memcmp(a[i].samples, b[i].samples, a[i].n * 4) == 0);
    }
    CHECK(a[1].n > a[0].n * 2); /* the long sentence is longer */
    CHECK(a[2].n < a[1].n);
    for (int i = 0; i < 4; i++) {
        nr_audio_deinit(&a[i]);
        nr_audio_deinit(&b[i]);
    }
    /* Faster speech is shorter. */
    struct nr_engine *fast = NULL;
    CHECK_EQ(nr_espeak_open("en-us", 350, 1, &fast, &err), NR_OK);
    struct nr_audio f, s;
    CHECK_EQ(nr_engine_synth_batch(fast, texts + 1, 1, &f, &err), NR_OK);
    CHECK_EQ(nr_engine_synth_batch(in_proc, texts + 1, 1, &s, &err), NR_OK);
    CHECK(f.n < s.n * 3 / 4);
    CHECK(strcmp(fast->cache_key, in_proc->cache_key) != 0);
    nr_audio_deinit(&f);
    nr_audio_deinit(&s);
    nr_engine_free(fast);
    nr_engine_free(in_proc);
    nr_engine_free(pool);
    /* Unknown voices are refused in-process and in the pool, with the name. */
    struct nr_engine *bad = NULL;
    nr_err_clear(&err);
    CHECK_EQ(nr_espeak_open("xx-nope", 175, 1, &bad, &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "espeak:xx-nope");
    CHECK(bad == NULL);
    nr_err_clear(&err);
    CHECK_EQ(nr_espeak_open("xx-nope", 175, 2, &bad, &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "espeak:xx-nope");
    /* The voice list names en-us. */
    struct nr_buf list = {0};
    CHECK_EQ(nr_voices_list(&list, &err), NR_OK);
    CHECK_SUBSTR(list.data, "espeak:en-us");
    nr_buf_deinit(&list);
    return check_result("test_espeak");
}
