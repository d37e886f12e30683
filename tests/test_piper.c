/* The Piper voice engine on our own tiny test voice (tests/data/voice/tiny,
 * made by scripts/make-test-voice.py; its weights are random, so the audio
 * is noise, but its shape and numbers are exact):
 *  - phonemes and ids against hand-written expectations;
 *  - audio against ONNX Runtime's output for the same texts (texts.json
 *    and the matching test_data_set_*), lengths = durations x hop;
 *  - seeds, batch composition, unknown phonemes, error messages. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "narrate/nn.h"
#include "narrate/voice.h"
#include "voice/piper.h"

#define HOP 256 /* 8 * 8 * 4: the tiny voice's upsampling */

static char voice_dir[1024];
static char voice_path[1100];
static char tmp_dir[256];

static void settings_for(struct nr_settings *s, const char *voice) {
    nr_settings_defaults(s);
    snprintf(s->voice, sizeof s->voice, "%s", voice);
    s->threads = 1;
}

static struct nr_engine *open_path(const char *path, int speaker, double noise, double length,
                                   double noise_w, uint64_t seed) {
    struct nr_settings s;
    settings_for(&s, path);
    s.speaker = speaker;
    s.noise_scale = noise;
    s.length_scale = length;
    s.noise_w = noise_w;
    s.seed = seed;
    struct nr_err err = {0};
    struct nr_engine *e = NULL;
    if (nr_engine_open(&s, &e, &err) != NR_OK)
        fprintf(stderr, "open: %s\n", err.msg);
    return e;
}

static struct nr_engine *open_voice(double noise, double length, double noise_w, uint64_t seed) {
    return open_path(voice_path, 0, noise, length, noise_w, seed);
}

static void test_phonemes_and_ids(void) {
    struct nr_engine *e = open_voice(-1, -1, -1, 1);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK_STR(e->name, "piper");
    CHECK_EQ(e->sample_rate, 22050);
    struct nr_err err = {0};
    char *ipa = NULL;
    /* eSpeak NG's IPA (espeak-ng -q --ipa -v en-us) with the clause
     * punctuation put back and clauses joined by a space. */
    CHECK(nr_piper_phonemize(e, "Hello there, world!", &ipa, &err) == NR_OK);
    CHECK_STR(ipa, "həlˈoʊ ðˈɛɹ, wˈɜːld!");
    nr_free(ipa);
    CHECK(nr_piper_phonemize(e, "Yes; fine: done.", &ipa, &err) == NR_OK);
    CHECK_STR(ipa, "jˈɛs; fˈaɪn: dˈʌn.");
    nr_free(ipa);
    CHECK(nr_piper_phonemize(e, "", &ipa, &err) == NR_OK);
    CHECK_STR(ipa, "");
    nr_free(ipa);

    /* "Hi, ok." = h ˈ a ɪ , space ˌ o ʊ k ˈ e ɪ . with the voice's ids
     * (model.onnx.json): ^=1 _=0 $=2 space=3 ,=8 .=10 a=14 e=18 h=21 k=24
     * o=28 ɪ=72 ʊ=98 ˈ=118 ˌ=119. */
    static const int64_t want[] = {1,  21, 0,  118, 0,  14, 0,   72, 0,  8, 0,  3, 0,  119, 0,
                                   28, 0,  98, 0,   24, 0,  118, 0,  18, 0, 72, 0, 10, 0,   2};
    int64_t *ids = NULL;
    size_t n = 0, dropped = 99;
    CHECK(nr_piper_text_to_ids(e, "Hi, ok.", &ids, &n, &dropped, &err) == NR_OK);
    CHECK_EQ(n, sizeof want / sizeof want[0]);
    CHECK_EQ(dropped, 0);
    for (size_t i = 0; ids && i < n && i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ(ids[i], want[i]);
    nr_free(ids);
    nr_engine_free(e);
}

static double relative_l2(const float *got, const float *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static int all_finite(const struct nr_audio *a) {
    for (size_t i = 0; i < a->n; i++)
        if (!isfinite(a->samples[i]))
            return 0;
    return 1;
}

/* The engine from text to audio against ONNX Runtime from the same ids,
 * for the voice in dir (texts.json lists the cases and the speaker). */
static void test_against_reference(const char *dir, int n_cases) {
    char path[1200], model[1100];
    snprintf(path, sizeof path, "%s/texts.json", dir);
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    char *json;
    size_t len;
    struct nr_err err = {0};
    CHECK(nr_file_read(path, &json, &len, &err) == NR_OK);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    nr_free(json);
    CHECK(cJSON_GetArraySize(root) == n_cases);
    const cJSON *spk = cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "speaker");
    CHECK(cJSON_IsNumber(spk));
    int speaker = cJSON_IsNumber(spk) ? (int)spk->valuedouble : 0;
    /* noise scales 0, as in the reference run */
    struct nr_engine *e = open_path(model, speaker, 0, 1, 0, 1);
    CHECK(e != NULL);
    const cJSON *c;
    cJSON_ArrayForEach(c, root) {
        const cJSON *texts = cJSON_GetObjectItem(c, "texts"),
                    *frames = cJSON_GetObjectItem(c, "frames");
        const cJSON *ipas = cJSON_GetObjectItem(c, "ipa");
        size_t n = (size_t)cJSON_GetArraySize(texts);
        const char *tx[3];
        for (size_t i = 0; i < n && i < 3; i++)
            tx[i] = cJSON_GetArrayItem(texts, (int)i)->valuestring;
        CHECK_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "speaker")), speaker);
        snprintf(path, sizeof path, "%s/%s/output_0.pb", dir,
                 cJSON_GetObjectItem(c, "case")->valuestring);
        struct nr_nn_tensor *ref = NULL;
        CHECK(nr_nn_tensor_load(path, &ref, NULL, &err) == NR_OK);
        struct nr_audio out[3];
        if (!e || !ref || n > 3 || nr_engine_synth_batch(e, tx, n, out, &err) != NR_OK) {
            fprintf(stderr, "synth: %s\n", err.msg);
            CHECK(0);
            nr_nn_tensor_free(ref);
            continue;
        }
        const int64_t *fr;
        int64_t hop;
        CHECK_EQ(nr_piper_last_frames(e, &fr, &hop), n);
        CHECK_EQ(hop, HOP);
        int64_t row = nr_nn_tensor_dims(ref)[nr_nn_tensor_ndim(ref) - 1];
        for (size_t i = 0; i < n; i++) {
            char *ipa = NULL;
            CHECK(nr_piper_phonemize(e, tx[i], &ipa, &err) == NR_OK);
            CHECK_STR(ipa, cJSON_GetArrayItem(ipas, (int)i)->valuestring);
            nr_free(ipa);
            int64_t want_frames = (int64_t)cJSON_GetArrayItem(frames, (int)i)->valuedouble;
            CHECK_EQ(fr[i], want_frames);
            CHECK_EQ(out[i].n, (size_t)(want_frames * HOP)); /* durations x hop */
            CHECK_EQ(out[i].rate, 22050);
            CHECK(all_finite(&out[i]));
            if (out[i].n == (size_t)(want_frames * HOP) && (int64_t)out[i].n <= row) {
                const float *want = (const float *)nr_nn_tensor_data(ref) + i * (size_t)row;
                double rel = relative_l2(out[i].samples, want, out[i].n);
                printf("%s speaker %d \"%s\": %zu samples, relative L2 to ONNX Runtime %.3g\n", dir,
                       speaker, tx[i], out[i].n, rel);
                CHECK(rel <= 1e-4);
            }
            nr_audio_deinit(&out[i]);
        }
        nr_nn_tensor_free(ref);
    }
    nr_engine_free(e);
    cJSON_Delete(root);
}

static void test_seed_and_batches(void) {
    const char *texts[3] = {"Short one.", "A somewhat longer sentence, with a clause.",
                            "Mid size."};
    struct nr_err err = {0};
    /* Default scales come from the config (noise 0.667, noise_w 0.8). */
    struct nr_engine *a = open_voice(-1, -1, -1, 42), *b = open_voice(-1, -1, -1, 42);
    struct nr_engine *c = open_voice(-1, -1, -1, 43);
    CHECK(a && b && c);
    if (!a || !b || !c)
        goto done;
    CHECK(strcmp(a->cache_key, b->cache_key) == 0);
    CHECK(strcmp(a->cache_key, c->cache_key) != 0);
    struct nr_audio x[3], y[3], z[3], again[3];
    CHECK(nr_engine_synth_batch(a, texts, 3, x, &err) == NR_OK);
    CHECK(nr_engine_synth_batch(b, texts, 3, y, &err) == NR_OK);
    CHECK(nr_engine_synth_batch(c, texts, 3, z, &err) == NR_OK);
    CHECK(nr_engine_synth_batch(a, texts, 3, again, &err) == NR_OK); /* seed restarts per run */
    int differs = 0;
    for (int i = 0; i < 3; i++) {
        CHECK(x[i].n > 0 && all_finite(&x[i]));
        CHECK_EQ(x[i].n, y[i].n);
        CHECK(x[i].n == y[i].n && memcmp(x[i].samples, y[i].samples, x[i].n * sizeof(float)) == 0);
        CHECK(x[i].n == again[i].n &&
              memcmp(x[i].samples, again[i].samples, x[i].n * sizeof(float)) == 0);
        differs |= x[i].n != z[i].n || memcmp(x[i].samples, z[i].samples, x[i].n * sizeof(float));
        nr_audio_deinit(&y[i]);
        nr_audio_deinit(&z[i]);
        nr_audio_deinit(&again[i]);
    }
    CHECK(differs); /* another seed, other noise */
    for (int i = 0; i < 3; i++)
        nr_audio_deinit(&x[i]);

done:
    nr_engine_free(a);
    nr_engine_free(b);
    nr_engine_free(c);
}

/* Without noise, an item's audio does not depend on the batch around it,
 * except in its last samples, where the decoder's convolutions see the
 * padding of the longer items (docs/PIPER.md). */
static void test_batch_composition(void) {
    const char *texts[3] = {"Short one.", "A somewhat longer sentence, with a clause.",
                            "Mid size."};
    struct nr_err err = {0};
    struct nr_engine *e = open_voice(0, 1, 0, 7);
    CHECK(e != NULL);
    if (!e)
        return;
    struct nr_audio batch[3], alone[1];
    CHECK(nr_engine_synth_batch(e, texts, 3, batch, &err) == NR_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(nr_engine_synth_batch(e, &texts[i], 1, alone, &err) == NR_OK);
        CHECK_EQ(alone[0].n, batch[i].n);
        size_t tail = 4 * HOP; /* tail the decoder's receptive field reaches */
        size_t cmp = alone[0].n > tail ? alone[0].n - tail : 0;
        double maxd = 0;
        for (size_t k = 0; k < cmp && alone[0].n == batch[i].n; k++)
            maxd = fmax(maxd, fabs((double)alone[0].samples[k] - batch[i].samples[k]));
        CHECK(maxd <= 1e-4);
        nr_audio_deinit(&alone[0]);
        nr_audio_deinit(&batch[i]);
    }
    nr_engine_free(e);
}

/* A multi-speaker voice: `sid` is fed, speakers differ, range checked. */
static void test_speakers(const char *multi) {
    const char *t = "Hi, ok.";
    struct nr_err err = {0};
    struct nr_engine *a = open_path(multi, 0, 0, 1, 0, 1), *b = open_path(multi, 3, 0, 1, 0, 1);
    CHECK(a && b);
    if (a && b) {
        CHECK(strcmp(a->cache_key, b->cache_key) != 0);
        struct nr_audio x[1], y[1];
        CHECK(nr_engine_synth_batch(a, &t, 1, x, &err) == NR_OK);
        CHECK(nr_engine_synth_batch(b, &t, 1, y, &err) == NR_OK);
        CHECK(x[0].n > 0 && y[0].n > 0);
        CHECK(x[0].n != y[0].n || memcmp(x[0].samples, y[0].samples, x[0].n * sizeof(float)) != 0);
        nr_audio_deinit(&x[0]);
        nr_audio_deinit(&y[0]);
    }
    nr_engine_free(a);
    nr_engine_free(b);
    struct nr_settings s;
    settings_for(&s, multi);
    s.speaker = 4; /* 4 speakers: 0..3 */
    struct nr_engine *e = NULL;
    CHECK(nr_engine_open(&s, &e, &err) == NR_STATUS_INVALID_ARG);
    CHECK(e == NULL);
    CHECK_SUBSTR(err.msg, "speaker 4 out of range");
}

static int n_lines;
static char last_line[1024];
static void on_line(void *user, const char *line) {
    (void)user;
    n_lines++;
    snprintf(last_line, sizeof last_line, "%s", line);
}

static int write_file(const char *path, const void *data, size_t n) {
    struct nr_err err = {0};
    return nr_file_write_atomic(path, data, n, &err) == NR_OK;
}

static int copy_file(const char *from, const char *to, size_t max) {
    char *data;
    size_t n;
    struct nr_err err = {0};
    if (nr_file_read(from, &data, &n, &err) != NR_OK)
        return 0;
    int ok = write_file(to, data, n < max ? n : max);
    nr_free(data);
    return ok;
}

/* A config whose phoneme map lacks "ɪ": the phoneme is dropped with one warning. */
static void test_unknown_phoneme(void) {
    char cfg_path[1200], model[512], cfg2[600];
    snprintf(cfg_path, sizeof cfg_path, "%s.json", voice_path);
    snprintf(model, sizeof model, "%s/nomap-i.onnx", tmp_dir);
    snprintf(cfg2, sizeof cfg2, "%s.json", model);
    CHECK(copy_file(voice_path, model, (size_t)-1));
    char *json;
    size_t len;
    struct nr_err err = {0};
    CHECK(nr_file_read(cfg_path, &json, &len, &err) == NR_OK);
    cJSON *root = cJSON_Parse(json);
    nr_free(json);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "phoneme_id_map"), "ɪ");
    char *text = cJSON_PrintUnformatted(root);
    CHECK(write_file(cfg2, text, strlen(text)));
    free(text);
    cJSON_Delete(root);

    struct nr_settings s;
    settings_for(&s, model);
    struct nr_engine *e = NULL;
    CHECK(nr_engine_open(&s, &e, &err) == NR_OK);
    struct nr_log *log = NULL;
    CHECK(nr_log_new(&log, &err) == NR_OK);
    if (!e || !log) {
        nr_engine_free(e);
        nr_log_free(log);
        return;
    }
    nr_log_add_sink(log, on_line, NULL);
    nr_piper_set_log(e, log);
    int64_t *ids;
    size_t n, dropped;
    CHECK(nr_piper_text_to_ids(e, "Hi, ok.", &ids, &n, &dropped, &err) == NR_OK);
    CHECK_EQ(dropped, 2); /* the two ɪ of hˈaɪ and ˌoʊkˈeɪ */
    CHECK_EQ(n, 30 - 2 * 2);
    nr_free(ids);
    CHECK(nr_piper_text_to_ids(e, "Sit in it.", &ids, &n, &dropped, &err) == NR_OK);
    CHECK(dropped >= 2);
    nr_free(ids);
    CHECK_EQ(n_lines, 1); /* one warning per engine */
    CHECK_SUBSTR(last_line, "\"ɪ\"");
    CHECK_SUBSTR(last_line, "nomap-i.onnx");
    struct nr_audio out[1];
    const char *t = "Hi, ok.";
    CHECK(nr_engine_synth_batch(e, &t, 1, out, &err) == NR_OK);
    CHECK(out[0].n > 0);
    nr_audio_deinit(&out[0]);
    nr_engine_free(e);
    nr_log_free(log);
    unlink(model);
    unlink(cfg2);
}

static void expect_error(const char *model, const char *what, const char *substr) {
    struct nr_settings s;
    settings_for(&s, model);
    struct nr_engine *e = NULL;
    struct nr_err err = {0};
    enum nr_status st = nr_engine_open(&s, &e, &err);
    CHECK(st != NR_OK);
    CHECK(e == NULL);
    CHECK_EQ(st, err.status);
    CHECK(strchr(err.msg, '\n') == NULL); /* one line */
    CHECK_SUBSTR(err.msg, substr);
    printf("%-28s -> %s\n", what, err.msg);
}

static void test_errors(void) {
    char cfg[1200], path[600], path_cfg[700];
    snprintf(cfg, sizeof cfg, "%s.json", voice_path);

    snprintf(path, sizeof path, "%s/missing.onnx", tmp_dir);
    expect_error(path, "missing voice", "missing.onnx");

    snprintf(path, sizeof path, "%s/truncated.onnx", tmp_dir);
    snprintf(path_cfg, sizeof path_cfg, "%s.json", path);
    CHECK(copy_file(voice_path, path, 100000));
    CHECK(copy_file(cfg, path_cfg, (size_t)-1));
    expect_error(path, "truncated voice", "truncated.onnx");
    unlink(path);
    unlink(path_cfg);

    snprintf(path, sizeof path, "%s/text.onnx", tmp_dir);
    snprintf(path_cfg, sizeof path_cfg, "%s.json", path);
    CHECK(write_file(path, "this is not an ONNX model, just text\n", 37));
    CHECK(copy_file(cfg, path_cfg, (size_t)-1));
    expect_error(path, "non-ONNX voice", "text.onnx");
    unlink(path);
    unlink(path_cfg);

    snprintf(path, sizeof path, "%s/noconfig.onnx", tmp_dir);
    CHECK(copy_file(voice_path, path, (size_t)-1));
    expect_error(path, "missing config", "noconfig.onnx.json");

    snprintf(path_cfg, sizeof path_cfg, "%s.json", path);
    const char *nomap = "{\"audio\": {\"sample_rate\": 22050}, \"espeak\": {\"voice\": \"en-us\"}}";
    CHECK(write_file(path_cfg, nomap, strlen(nomap)));
    expect_error(path, "config without phoneme map", "noconfig.onnx.json: no phoneme_id_map");
    const char *badvoice = "{\"audio\": {\"sample_rate\": 22050}, \"espeak\": {\"voice\": "
                           "\"no-such-voice\"}, \"phoneme_id_map\": {\"_\": [0], \"^\": [1], "
                           "\"$\": [2]}}";
    CHECK(write_file(path_cfg, badvoice, strlen(badvoice)));
    expect_error(path, "unknown eSpeak voice", "noconfig.onnx.json: eSpeak NG has no voice");
    CHECK(write_file(path_cfg, "{\"audio\": ", 10));
    expect_error(path, "broken config", "noconfig.onnx.json");
    unlink(path);
    unlink(path_cfg);

    /* A valid ONNX model that is not a Piper voice (ONNX's own Ceil test). */
    const char *ceil_model = "/usr/share/libonnx-testdata/data/node/test_ceil/model.onnx";
    if (nr_file_exists(ceil_model)) {
        snprintf(path, sizeof path, "%s/notpiper.onnx", tmp_dir);
        snprintf(path_cfg, sizeof path_cfg, "%s.json", path);
        CHECK(copy_file(ceil_model, path, (size_t)-1));
        CHECK(copy_file(cfg, path_cfg, (size_t)-1));
        expect_error(path, "ONNX model, not a voice", "notpiper.onnx: not a Piper voice");
        unlink(path);
        unlink(path_cfg);
    }

    struct nr_settings s;
    settings_for(&s, voice_path);
    s.speaker = 3;
    struct nr_engine *e = NULL;
    struct nr_err err = {0};
    CHECK(nr_engine_open(&s, &e, &err) == NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "speaker 3");
}

/* Every allocation of opening the voice and rendering one text fails in
 * turn (a sample of them for speed): a clean status, no leak, no crash. */
static void test_alloc_failures(void) {
    const char *t = "Hi, ok.";
    struct nr_settings s;
    settings_for(&s, voice_path);
    struct nr_err err = {0};
    struct nr_engine *e = NULL;
    struct nr_audio out[1];
    (void)nr_alloc_fail_after(0);
    CHECK(nr_engine_open(&s, &e, &err) == NR_OK);
    if (!e)
        return;
    CHECK(nr_engine_synth_batch(e, &t, 1, out, &err) == NR_OK);
    nr_audio_deinit(&out[0]);
    nr_engine_free(e);
    size_t total = nr_alloc_fail_after(0);
    size_t step = total > 300 ? total / 300 : 1, failed = 0;
    for (size_t k = 1; k <= total; k += step) {
        struct nr_err e2 = {0};
        struct nr_engine *x = NULL;
        (void)nr_alloc_fail_after(k);
        enum nr_status st = nr_engine_open(&s, &x, &e2);
        if (st == NR_OK) {
            st = nr_engine_synth_batch(x, &t, 1, out, &e2);
            if (st == NR_OK)
                nr_audio_deinit(&out[0]);
            else
                CHECK(out[0].samples == NULL && out[0].n == 0);
            nr_engine_free(x);
        } else {
            CHECK(x == NULL);
        }
        (void)nr_alloc_fail_after(0);
        if (st != NR_OK) {
            failed++;
            if (st != NR_STATUS_NO_MEMORY && st != NR_STATUS_DEVICE_OOM)
                fprintf(stderr, "allocation %zu failed: status %s: %s\n", k, nr_status_name(st),
                        e2.msg);
            CHECK(st == NR_STATUS_NO_MEMORY || st == NR_STATUS_DEVICE_OOM);
            CHECK(e2.msg[0] != '\0');
        }
    }
    printf("allocation failures: %zu allocations, %zu injected failures surfaced as errors\n",
           total, failed);
    CHECK(failed > 0);
}

int main(void) {
    const char *src = getenv("NARRATE_SOURCE_DIR");
    snprintf(voice_dir, sizeof voice_dir, "%s/tests/data/voice/tiny", src ? src : ".");
    snprintf(voice_path, sizeof voice_path, "%s/model.onnx", voice_dir);
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/narrate-test-piper-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    char multi_dir[1024], multi_path[1100];
    snprintf(multi_dir, sizeof multi_dir, "%s/tests/data/voice/multi", src ? src : ".");
    snprintf(multi_path, sizeof multi_path, "%s/model.onnx", multi_dir);
    test_phonemes_and_ids();
    test_against_reference(voice_dir, 2);
    test_against_reference(multi_dir, 1);
    test_speakers(multi_path);
    test_seed_and_batches();
    test_batch_composition();
    test_unknown_phoneme();
    test_errors();
    test_alloc_failures();
    rmdir(tmp_dir);
    return check_result("test_piper");
}
