/* The eSpeak NG engine: real speech, in-process and in worker processes,
 * identical results both ways, each chunk exactly what a fresh eSpeak NG
 * says for its text, hints followed or ignored, bad voices refused. */
#include <espeak-ng/speak_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "narrate/voice.h"

/* The engine hands over int16 audio as it came from eSpeak NG (pcm16). */
static double rms(const struct nr_audio *a) {
    double s = 0;
    for (size_t i = 0; i < a->n; i++)
        s += (double)a->pcm16[i] * a->pcm16[i];
    return a->n ? sqrt(s / (double)a->n) / 32768.0 : 0;
}

/* The reference: eSpeak NG driven directly, in a new process that says
 * only this text (what "audio depends on its text alone" means). */
static FILE *ref_out;
static int ref_collect(short *wav, int n, espeak_EVENT *events) {
    (void)events;
    if (wav && n > 0)
        fwrite(wav, sizeof(short), (size_t)n, ref_out);
    return 0;
}

static size_t reference(const char *text, short **out) {
    char path[] = "/tmp/nr_espeak_ref_XXXXXX";
    int fd = mkstemp(path);
    *out = NULL;
    if (fd < 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        ref_out = fdopen(fd, "wb");
        if (!ref_out || espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL,
                                          espeakINITIALIZE_DONT_EXIT) <= 0 ||
            espeak_SetVoiceByName("en-us") != EE_OK)
            _exit(1);
        espeak_SetParameter(espeakRATE, 175, 0);
        espeak_SetSynthCallback(ref_collect);
        espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE,
                     NULL, NULL);
        espeak_Synchronize();
        _exit(fclose(ref_out) == 0 ? 0 : 1);
    }
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    if (f && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        fseek(f, 0, SEEK_END);
        n = (size_t)ftell(f) / sizeof(short);
        fseek(f, 0, SEEK_SET);
        *out = malloc((n ? n : 1) * sizeof(short));
        if (!*out || fread(*out, sizeof(short), n, f) != n)
            n = 0;
    }
    if (f)
        fclose(f);
    unlink(path);
    return n;
}

static int same_as_reference(const struct nr_audio *a, const short *ref, size_t n) {
    if (a->n != n || a->samples || !a->pcm16)
        return 0;
    return memcmp(a->pcm16, ref, n * sizeof *ref) == 0;
}

/* Batches with hints, right and wrong, through one worker and through a
 * pool: every chunk equals the reference for its text. */
static void test_hints(void) {
    static const char *const texts[] = {
        "One.", "Two, a little longer.", "Three is the third.", "Four.",
        "Five; and a clause.", "Six.", "Seven, seven.", "Eight is last."};
    enum { N = 8 };
    short *ref[N];
    size_t ref_n[N];
    for (int i = 0; i < N; i++) {
        ref_n[i] = reference(texts[i], &ref[i]);
        CHECK(ref_n[i] > 1000);
    }
    struct nr_err err = {0};
    for (int workers = 1; workers <= 2; workers++) {
        struct nr_engine *e = NULL;
        CHECK_EQ(nr_espeak_open("en-us", 175, workers, &e, &err), NR_OK);
        if (!e)
            continue;
        struct nr_audio out[N];
        /* Right hints: batches of 3, 3, 2 with the next batch hinted. */
        for (int b = 0; b < N; b += 3) {
            int n = N - b < 3 ? N - b : 3;
            int next = N - b - n < 3 ? N - b - n : 3;
            nr_engine_hint_next(e, texts + b + n, (size_t)(next > 0 ? next : 0));
            CHECK_EQ(nr_engine_synth_batch(e, texts + b, (size_t)n, out, &err), NR_OK);
            for (int i = 0; i < n; i++) {
                CHECK(same_as_reference(&out[i], ref[b + i], ref_n[b + i]));
                nr_audio_deinit(&out[i]);
            }
        }
        /* A wrong hint: other texts come; then a text the hint had, twice
         * in one batch. */
        nr_engine_hint_next(e, texts + 4, 4);
        CHECK_EQ(nr_engine_synth_batch(e, texts, 2, out, &err), NR_OK);
        CHECK(same_as_reference(&out[0], ref[0], ref_n[0]));
        CHECK(same_as_reference(&out[1], ref[1], ref_n[1]));
        nr_audio_deinit(&out[0]);
        nr_audio_deinit(&out[1]);
        const char *twice[3] = {texts[5], texts[2], texts[5]};
        CHECK_EQ(nr_engine_synth_batch(e, twice, 3, out, &err), NR_OK);
        CHECK(same_as_reference(&out[0], ref[5], ref_n[5]));
        CHECK(same_as_reference(&out[1], ref[2], ref_n[2]));
        CHECK(same_as_reference(&out[2], ref[5], ref_n[5]));
        for (int i = 0; i < 3; i++)
            nr_audio_deinit(&out[i]);
        /* A hint left hanging when the engine closes costs nothing. */
        nr_engine_hint_next(e, texts, 4);
        CHECK_EQ(nr_engine_synth_batch(e, texts + 7, 1, out, &err), NR_OK);
        CHECK(same_as_reference(&out[0], ref[7], ref_n[7]));
        nr_audio_deinit(&out[0]);
        nr_engine_free(e);
    }
    for (int i = 0; i < N; i++)
        free(ref[i]);
}

/* Kills and reaps this process's children (the engine's workers); returns
 * how many. */
static int kill_children(void) {
    DIR *d = opendir("/proc");
    int killed = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int pid = 0, ppid = 0;
        char state;
        /* pid (comm) state ppid: comm has no spaces or parentheses here */
        if (fgets(line, sizeof line, f) &&
            sscanf(line, "%d %*s %c %d", &pid, &state, &ppid) == 3 && ppid == getpid() &&
            kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid)
            killed++; /* reaped: its pipe ends are closed */
        fclose(f);
    }
    if (d)
        closedir(d);
    return killed;
}

/* A worker that dies is an error naming it, and the next batch runs on
 * fresh workers. */
static void test_worker_death(void) {
    struct nr_err err = {0};
    struct nr_engine *e = NULL;
    const char *text = "Still here after the crash.";
    short *ref = NULL;
    size_t ref_n = reference(text, &ref);
    CHECK_EQ(nr_espeak_open("en-us", 175, 2, &e, &err), NR_OK);
    if (!e)
        return;
    CHECK(kill_children() >= 2);
    struct nr_audio out[2];
    const char *two[2] = {text, text};
    CHECK_EQ(nr_engine_synth_batch(e, two, 2, out, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "worker process died");
    CHECK(out[0].samples == NULL && out[1].samples == NULL);
    CHECK(out[0].pcm16 == NULL && out[1].pcm16 == NULL);
    nr_err_clear(&err);
    CHECK_EQ(nr_engine_synth_batch(e, two, 2, out, &err), NR_OK);
    CHECK(same_as_reference(&out[0], ref, ref_n));
    CHECK(same_as_reference(&out[1], ref, ref_n));
    nr_audio_deinit(&out[0]);
    nr_audio_deinit(&out[1]);
    nr_engine_free(e);
    free(ref);
}

/* The largest batch the render loop makes, with the next one hinted while
 * the last hint is still in flight. */
static void test_full_batches(void) {
    enum { B = NR_BATCH_MAX };
    static char words[3 * B][16];
    static const char *texts[3 * B];
    for (int i = 0; i < 3 * B; i++) {
        snprintf(words[i], sizeof words[i], "%d.", i);
        texts[i] = words[i];
    }
    struct nr_err err = {0};
    struct nr_engine *e = NULL;
    CHECK_EQ(nr_espeak_open("en-us", 175, 2, &e, &err), NR_OK);
    if (!e)
        return;
    static struct nr_audio out[B];
    for (int b = 0; b < 3; b++) {
        nr_engine_hint_next(e, texts + (b + 1) * B, b < 2 ? B : 0);
        CHECK_EQ(nr_engine_synth_batch(e, texts + b * B, B, out, &err), NR_OK);
        int ok = 1;
        for (int i = 0; i < B; i++) {
            ok &= out[i].n > 1000;
            nr_audio_deinit(&out[i]);
        }
        CHECK(ok);
    }
    nr_engine_free(e);
}

/* A hinted text that finishes while the current batch is still speaking
 * is kept, not spoken again: with the workers gone, asking for it still
 * works. */
static void test_hint_kept(void) {
    static char long_text[2048];
    long_text[0] = '\0';
    for (int i = 0; i < 16; i++)
        strcat(long_text, "The clock in the tower kept its own time, slow and patient. ");
    const char *now[1] = {long_text}, *next[1] = {"Short."};
    short *ref = NULL;
    size_t ref_n = reference(next[0], &ref);
    struct nr_err err = {0};
    struct nr_engine *e = NULL;
    CHECK_EQ(nr_espeak_open("en-us", 175, 2, &e, &err), NR_OK);
    if (!e)
        return;
    struct nr_audio out;
    nr_engine_hint_next(e, next, 1);
    CHECK_EQ(nr_engine_synth_batch(e, now, 1, &out, &err), NR_OK);
    CHECK(out.n > 22050 * 10);
    nr_audio_deinit(&out);
    CHECK(kill_children() >= 2);
    CHECK_EQ(nr_engine_synth_batch(e, next, 1, &out, &err), NR_OK);
    CHECK(same_as_reference(&out, ref, ref_n));
    nr_audio_deinit(&out);
    nr_engine_free(e);
    free(ref);
}

int main(void) {
    test_hints();
    test_hint_kept();
    test_full_batches();
    test_worker_death();
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
        CHECK(a[i].n == b[i].n && memcmp(a[i].pcm16, b[i].pcm16, a[i].n * 2) == 0);
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
