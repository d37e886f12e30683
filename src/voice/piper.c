/* The Piper voice engine: text -> eSpeak NG IPA phonemes -> the voice's
 * symbol ids -> one inference run of the VITS graph per batch on narrate's
 * nn engine -> each item's audio trimmed to its own length.
 *
 * Batching: the items of a batch are padded with the pad symbol to the
 * longest and run together. The graph's single Ceil node gives every
 * symbol's duration in frames; an item's length is the sum of its
 * durations times the hop size (output length / the longest item's frames).
 *
 * Reproducibility: the session's random generator restarts from the seed at
 * every run, so the same texts in the same batch with the same seed give
 * bit-identical audio, whatever ran before. The same text in a batch of a
 * different composition is not bit-identical: the noise tensors are drawn
 * for the whole padded batch, and the decoder's convolutions see the
 * neighbouring padded frames in the last few hundred samples of shorter
 * items. docs/PIPER.md gives the figures.
 */
#include "piper.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "narrate/nn.h"

#define MAX_IDS_PER_PHONEME 4

struct phoneme {
    char key[16]; /* UTF-8 of one phoneme (one code point in Piper's maps) */
    size_t n_ids;
    int64_t ids[MAX_IDS_PER_PHONEME];
};

struct piper_engine {
    struct nr_engine base; /* first member: the public part */
    struct nr_nn_model *model;
    struct nr_nn_session *session;
    char *model_path;
    char espeak_voice[64];
    struct phoneme *map; /* (n_map), sorted by key for bsearch */
    size_t n_map;
    const struct phoneme *pad, *bos, *eos;
    float scales[3]; /* noise_scale, length_scale, noise_w: the graph's `scales` input */
    int64_t speaker;
    int has_sid;           /* 1 when the graph takes `sid` as an input */
    const char *ceil_name; /* value name of the Ceil node's output (owned by model) */
    struct nr_log *log;    /* borrowed; NULL = warnings are not reported */
    int warned_unknown;
    int64_t *last_frames; /* (n_last) frames per item of the last batch */
    size_t n_last;
    int64_t last_hop;
};

/* ---- eSpeak NG ------------------------------------------------------------ */

/* eSpeak NG keeps its state in process globals and is initialized once per
 * process. This flag records that this file has done it. src/voice/espeak.c
 * keeps its own flag for its in-process engine; initializing twice (once by
 * each) is harmless, and both always select their voice before use, because
 * the other engine may have changed it. */
static int espeak_ready;

static enum nr_status espeak_select(const char *voice, const char *config_path,
                                    struct nr_err *err) {
    if (!espeak_ready) {
        if (espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT) <= 0)
            return nr_err_set(err, NR_STATUS_IO,
                              "piper: cannot initialize eSpeak NG (is espeak-ng-data installed?)");
        espeak_ready = 1;
    }
    if (espeak_SetVoiceByName(voice) != EE_OK)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: eSpeak NG has no voice \"%s\"",
                          config_path ? config_path : "piper", voice);
    return NR_OK;
}

static int is_terminator(char c) {
    return c == '.' || c == ',' || c == '?' || c == '!' || c == ';' || c == ':';
}

/* Appends eSpeak's phonemes for one clause, without its language-switch
 * flags such as "(fr)" (they name a language, not a sound). */
static enum nr_status append_phonemes(struct nr_buf *b, const char *ph) {
    while (*ph) {
        if (*ph == '(') {
            const char *close = strchr(ph, ')');
            if (close) {
                ph = close + 1;
                continue;
            }
        }
        size_t run = strcspn(ph, "(");
        if (run == 0)
            run = 1;
        if (nr_buf_append(b, ph, run) != NR_OK)
            return NR_STATUS_NO_MEMORY;
        ph += run;
    }
    return NR_OK;
}

enum nr_status nr_piper_phonemize(struct nr_engine *e, const char *text, char **ipa,
                                  struct nr_err *err) {
    struct piper_engine *p = (struct piper_engine *)e;
    *ipa = NULL;
    enum nr_status st = espeak_select(p->espeak_voice, NULL, err);
    if (st != NR_OK)
        return st;
    struct nr_buf b = {0};
    const void *pos = text;
    while (pos && *(const char *)pos) {
        const char *start = pos;
        const char *ph = espeak_TextToPhonemes(&pos, espeakCHARS_UTF8, espeakPHONEMES_IPA);
        /* eSpeak drops the clause's punctuation; Piper keeps it as a
         * phoneme. eSpeak advances past the terminator (and reads a little
         * ahead), so the terminator is the last one in the consumed text. */
        const char *end = pos ? (const char *)pos : start + strlen(start);
        char term = 0;
        for (const char *c = end; c > start; c--) {
            if (is_terminator(c[-1])) {
                term = c[-1];
                break;
            }
        }
        size_t before = b.len;
        if (before > 0 && nr_buf_append(&b, " ", 1) != NR_OK)
            goto oom;
        size_t mark = b.len;
        if (ph && append_phonemes(&b, ph) != NR_OK)
            goto oom;
        if (term && nr_buf_append(&b, &term, 1) != NR_OK)
            goto oom;
        if (b.len == mark) /* nothing said: drop the separator too */
            b.len = before;
        if (b.data)
            b.data[b.len] = '\0';
    }
    if (nr_buf_append(&b, "", 0) != NR_OK) /* an empty result is "" too */
        goto oom;
    *ipa = nr_buf_take(&b);
    return NR_OK;
oom:
    nr_buf_deinit(&b);
    return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
}

/* ---- phoneme ids ----------------------------------------------------------- */

static int phoneme_cmp(const void *a, const void *b) {
    return strcmp(((const struct phoneme *)a)->key, ((const struct phoneme *)b)->key);
}

static const struct phoneme *phoneme_find(const struct piper_engine *p, const char *key) {
    struct phoneme probe;
    snprintf(probe.key, sizeof probe.key, "%s", key);
    return bsearch(&probe, p->map, p->n_map, sizeof *p->map, phoneme_cmp);
}

/* Length in bytes of the UTF-8 sequence starting at s (1 for a bad byte). */
static size_t utf8_len(const unsigned char *s) {
    size_t n = *s < 0x80           ? 1
               : (*s >> 5) == 0x6  ? 2
               : (*s >> 4) == 0xE  ? 3
               : (*s >> 3) == 0x1E ? 4
                                   : 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

static void push_ids(int64_t *ids, size_t *n, const struct phoneme *ph) {
    for (size_t i = 0; i < ph->n_ids; i++)
        ids[(*n)++] = ph->ids[i];
}

enum nr_status nr_piper_text_to_ids(struct nr_engine *e, const char *text, int64_t **ids,
                                    size_t *n_ids, size_t *n_dropped, struct nr_err *err) {
    struct piper_engine *p = (struct piper_engine *)e;
    *ids = NULL;
    *n_ids = 0;
    if (n_dropped)
        *n_dropped = 0;
    char *ipa;
    enum nr_status st = nr_piper_phonemize(e, text, &ipa, err);
    if (st != NR_OK)
        return st;
    /* Each byte is at most one phoneme, each phoneme at most
     * 2 * MAX_IDS_PER_PHONEME ids with its pad, plus "^" and "$". */
    size_t len = strlen(ipa);
    int64_t *out = nr_malloc((len + 2) * 2 * MAX_IDS_PER_PHONEME * sizeof *out);
    if (!out) {
        nr_free(ipa);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
    }
    size_t n = 0, dropped = 0;
    push_ids(out, &n, p->bos);
    for (size_t i = 0; i < len;) {
        size_t k = utf8_len((const unsigned char *)ipa + i);
        char key[8] = {0};
        memcpy(key, ipa + i, k);
        i += k;
        if ((unsigned char)key[0] < 0x20) /* line breaks between clauses: not sounds */
            continue;
        const struct phoneme *ph = phoneme_find(p, key);
        if (!ph) {
            dropped++;
            if (!p->warned_unknown && p->log)
                nr_log_event(p->log,
                             "WARNING: %s: phoneme \"%s\" is not in the voice's phoneme_id_map; "
                             "dropped (later unknown phonemes are dropped silently)",
                             p->model_path, key);
            p->warned_unknown = 1;
            continue;
        }
        push_ids(out, &n, ph);
        push_ids(out, &n, p->pad);
    }
    push_ids(out, &n, p->eos);
    nr_free(ipa);
    *ids = out;
    *n_ids = n;
    if (n_dropped)
        *n_dropped = dropped;
    return NR_OK;
}

/* ---- voice config ---------------------------------------------------------- */

static double json_number(const cJSON *obj, const char *a, const char *b, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static enum nr_status parse_phoneme_map(struct piper_engine *p, const cJSON *map, const char *path,
                                        struct nr_err *err) {
    if (!cJSON_IsObject(map) || !map->child)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: no phoneme_id_map", path);
    size_t n = 0;
    for (const cJSON *it = map->child; it; it = it->next)
        n++;
    p->map = nr_calloc(n, sizeof *p->map);
    if (!p->map)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
    for (const cJSON *it = map->child; it; it = it->next) {
        struct phoneme *ph = &p->map[p->n_map];
        size_t klen = strlen(it->string);
        if (klen == 0 || klen >= sizeof ph->key)
            continue; /* never matches a single phoneme */
        memcpy(ph->key, it->string, klen + 1);
        const cJSON *id;
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) < 1 ||
            cJSON_GetArraySize(it) > MAX_IDS_PER_PHONEME)
            return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                              "%s: phoneme_id_map[\"%s\"] is not a list of 1 to %d ids", path,
                              it->string, MAX_IDS_PER_PHONEME);
        cJSON_ArrayForEach(id, it) {
            if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 1e9 ||
                id->valuedouble != floor(id->valuedouble))
                return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                                  "%s: phoneme_id_map[\"%s\"] holds a bad id", path, it->string);
            ph->ids[ph->n_ids++] = (int64_t)id->valuedouble;
        }
        p->n_map++;
    }
    qsort(p->map, p->n_map, sizeof *p->map, phoneme_cmp);
    p->pad = phoneme_find(p, "_");
    p->bos = phoneme_find(p, "^");
    p->eos = phoneme_find(p, "$");
    const char *missing = !p->pad ? "_" : !p->bos ? "^" : !p->eos ? "$" : NULL;
    if (missing)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: phoneme_id_map has no \"%s\"", path,
                          missing);
    return NR_OK;
}

static enum nr_status load_config(struct piper_engine *p, const char *path,
                                  const struct nr_settings *s, char hash[33], struct nr_err *err) {
    char *text;
    size_t len;
    enum nr_status st = nr_file_read(path, &text, &len, err);
    if (st != NR_OK)
        return st;
    nr_hash_hex(text, len, hash);
    cJSON *root = cJSON_ParseWithLength(text, len);
    nr_free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: not a JSON object", path);
    }
    double rate = json_number(root, "audio", "sample_rate", 0);
    const cJSON *voice =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "espeak"), "voice");
    double speakers = json_number(root, "num_speakers", NULL, 1);
    if (rate < 1000 || rate > 384000 || rate != floor(rate)) {
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: no valid audio.sample_rate", path);
    } else if (!cJSON_IsString(voice) || !voice->valuestring[0] ||
               strlen(voice->valuestring) >= sizeof p->espeak_voice) {
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: no espeak.voice", path);
    } else if (s->speaker < 0 || s->speaker >= speakers) {
        st =
            nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: speaker %d out of range (the voice has %g)",
                       path, s->speaker, speakers);
    } else {
        p->base.sample_rate = (int)rate;
        snprintf(p->espeak_voice, sizeof p->espeak_voice, "%s", voice->valuestring);
        double cfg[3] = {json_number(root, "inference", "noise_scale", 0.667),
                         json_number(root, "inference", "length_scale", 1.0),
                         json_number(root, "inference", "noise_w", 0.8)};
        double set[3] = {s->noise_scale, s->length_scale, s->noise_w};
        for (int i = 0; i < 3; i++)
            p->scales[i] = (float)(set[i] >= 0 ? set[i] : cfg[i]);
        p->speaker = s->speaker;
        st = parse_phoneme_map(p, cJSON_GetObjectItemCaseSensitive(root, "phoneme_id_map"), path,
                               err);
    }
    cJSON_Delete(root);
    return st;
}

/* XXH3-128 of the model file's bytes (mapped, not read). */
static enum nr_status hash_file(const char *path, char hash[33], struct nr_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    enum nr_status st = NR_OK;
    if (fstat(fd, &sb) != 0) {
        st = nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    } else if (sb.st_size == 0) {
        nr_hash_hex("", 0, hash);
    } else {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
        } else {
            nr_hash_hex(m, (size_t)sb.st_size, hash);
            munmap(m, (size_t)sb.st_size);
        }
    }
    close(fd);
    return st;
}

/* ---- synthesis ------------------------------------------------------------- */

struct batch {
    int64_t **ids; /* (n) symbol ids per item */
    size_t *len;   /* (n) */
    struct nr_nn_tensor *in[4];
    struct nr_nn_tensor *out[2]; /* audio [B,...,N], durations [B,1,T] */
};

static void batch_deinit(struct batch *b, size_t n) {
    for (size_t i = 0; b->ids && i < n; i++)
        nr_free(b->ids[i]);
    nr_free(b->ids);
    nr_free(b->len);
    for (size_t i = 0; i < 4; i++)
        nr_nn_tensor_free(b->in[i]);
    for (size_t i = 0; i < 2; i++)
        nr_nn_tensor_free(b->out[i]);
}

/* Phonemizes the batch and builds the graph's inputs. */
static enum nr_status batch_inputs(struct piper_engine *p, struct batch *b,
                                   const char *const *texts, size_t n, struct nr_err *err) {
    b->ids = nr_calloc(n, sizeof *b->ids);
    b->len = nr_calloc(n, sizeof *b->len);
    if (!b->ids || !b->len)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
    size_t tmax = 1;
    for (size_t i = 0; i < n; i++) {
        enum nr_status st =
            nr_piper_text_to_ids(&p->base, texts[i], &b->ids[i], &b->len[i], NULL, err);
        if (st != NR_OK)
            return st;
        if (b->len[i] > tmax)
            tmax = b->len[i];
    }
    int64_t dims[2] = {(int64_t)n, (int64_t)tmax}, three = 3;
    enum nr_status st;
    if ((st = nr_nn_tensor_new(NR_NN_I64, 2, dims, &b->in[0], err)) != NR_OK ||
        (st = nr_nn_tensor_new(NR_NN_I64, 1, dims, &b->in[1], err)) != NR_OK ||
        (st = nr_nn_tensor_new(NR_NN_F32, 1, &three, &b->in[2], err)) != NR_OK ||
        (p->has_sid && (st = nr_nn_tensor_new(NR_NN_I64, 1, dims, &b->in[3], err)) != NR_OK))
        return st;
    int64_t *ids = nr_nn_tensor_data(b->in[0]), *lens = nr_nn_tensor_data(b->in[1]);
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < tmax; t++)
            ids[i * tmax + t] = t < b->len[i] ? b->ids[i][t] : p->pad->ids[0];
        lens[i] = (int64_t)b->len[i];
        if (p->has_sid)
            ((int64_t *)nr_nn_tensor_data(b->in[3]))[i] = p->speaker;
    }
    memcpy(nr_nn_tensor_data(b->in[2]), p->scales, sizeof p->scales);
    return NR_OK;
}

/* Splits the batch's audio into items of frames * hop samples each. */
static enum nr_status batch_outputs(struct piper_engine *p, struct batch *b, size_t n,
                                    struct nr_audio *out, struct nr_err *err) {
    const struct nr_nn_tensor *audio = b->out[0], *dur = b->out[1];
    size_t nd = nr_nn_tensor_ndim(audio);
    int64_t samples = nd ? nr_nn_tensor_dims(audio)[nd - 1] : 0;
    if (nd < 2 || nr_nn_tensor_dims(audio)[0] != (int64_t)n ||
        nr_nn_tensor_numel(audio) != n * (size_t)samples ||
        nr_nn_tensor_dtype(audio) != NR_NN_F32 || nr_nn_tensor_dtype(dur) != NR_NN_F32 ||
        nr_nn_tensor_numel(dur) % n != 0)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                          "%s: the graph's output does not have a Piper voice's shape",
                          p->model_path);
    size_t per = nr_nn_tensor_numel(dur) / n;
    const float *d = nr_nn_tensor_data(dur);
    int64_t *frames = nr_calloc(n, sizeof *frames);
    if (!frames)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
    int64_t longest = 1; /* the graph clamps every item to at least one frame */
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t t = 0; t < per; t++)
            sum += d[i * per + t];
        frames[i] = (int64_t)llround(sum);
        if (frames[i] > longest)
            longest = frames[i];
    }
    if (samples % longest != 0) {
        nr_free(frames);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                          "%s: output length %lld is not a multiple of the %lld frames of the "
                          "longest item",
                          p->model_path, (long long)samples, (long long)longest);
    }
    int64_t hop = samples / longest;
    const float *pcm = nr_nn_tensor_data(audio);
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(frames[i] * hop);
        out[i].rate = p->base.sample_rate;
        out[i].n = len;
        out[i].samples = len ? nr_malloc(len * sizeof(float)) : NULL;
        if (len && !out[i].samples) {
            nr_free(frames);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "piper: out of memory");
        }
        if (len)
            memcpy(out[i].samples, pcm + i * (size_t)samples, len * sizeof(float));
    }
    nr_free(p->last_frames);
    p->last_frames = frames;
    p->n_last = n;
    p->last_hop = hop;
    return NR_OK;
}

static enum nr_status piper_synth_batch(struct nr_engine *e, const char *const *texts, size_t n,
                                        struct nr_audio *out, struct nr_err *err) {
    struct piper_engine *p = (struct piper_engine *)e;
    if (n == 0)
        return NR_OK;
    struct batch b = {0};
    enum nr_status st = batch_inputs(p, &b, texts, n, err);
    if (st == NR_OK) {
        const char *in_names[4] = {"input", "input_lengths", "scales", "sid"};
        const char *out_names[2] = {"output", p->ceil_name};
        const struct nr_nn_tensor *in[4] = {b.in[0], b.in[1], b.in[2], b.in[3]};
        st = nr_nn_session_run(p->session, in_names, in, p->has_sid ? 4 : 3, out_names, b.out, 2,
                               err);
    }
    if (st == NR_OK)
        st = batch_outputs(p, &b, n, out, err);
    if (st != NR_OK) {
        for (size_t i = 0; i < n; i++)
            nr_audio_deinit(&out[i]);
    }
    batch_deinit(&b, n);
    return st;
}

static void piper_destroy(struct nr_engine *e) {
    struct piper_engine *p = (struct piper_engine *)e;
    nr_nn_session_free(p->session);
    nr_nn_model_free(p->model);
    nr_free(p->model_path);
    nr_free(p->map);
    nr_free(p->last_frames);
    nr_free(p);
}

static const struct nr_engine_ops piper_ops = {
    .synth_batch = piper_synth_batch,
    .batch_bytes = NULL, /* CPU only for now: no device memory to predict */
    .destroy = piper_destroy,
};

void nr_piper_set_log(struct nr_engine *e, struct nr_log *log) {
    NR_ASSERT(e && e->ops == &piper_ops);
    ((struct piper_engine *)e)->log = log;
}

size_t nr_piper_last_frames(const struct nr_engine *e, const int64_t **frames, int64_t *hop) {
    NR_ASSERT(e && e->ops == &piper_ops);
    const struct piper_engine *p = (const struct piper_engine *)e;
    *frames = p->last_frames;
    *hop = p->last_hop;
    return p->n_last;
}

/* Checks that the loaded graph is a Piper voice and finds its parts. */
static enum nr_status check_graph(struct piper_engine *p, struct nr_err *err) {
    static const char *const required[3] = {"input", "input_lengths", "scales"};
    for (size_t i = 0; i < 3; i++)
        if (!nr_nn_model_has_input(p->model, required[i]))
            return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                              "%s: not a Piper voice (the graph has no input \"%s\")",
                              p->model_path, required[i]);
    p->ceil_name = nr_nn_model_find_node_output(p->model, "Ceil", 0, 0);
    if (!p->ceil_name || nr_nn_model_find_node_output(p->model, "Ceil", 1, 0))
        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                          "%s: not a Piper voice (the graph must hold exactly one Ceil node, the "
                          "durations)",
                          p->model_path);
    int has_output = 0;
    for (size_t i = 0; i < nr_nn_model_n_outputs(p->model); i++)
        has_output |= strcmp(nr_nn_model_output_name(p->model, i), "output") == 0;
    if (!has_output)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                          "%s: not a Piper voice (the graph has no output \"output\")",
                          p->model_path);
    /* A single-speaker voice holds `sid` as an initializer: only a listed
     * input is fed. */
    for (size_t i = 0; i < nr_nn_model_n_inputs(p->model); i++)
        if (strcmp(nr_nn_model_input_name(p->model, i), "sid") == 0)
            p->has_sid = 1;
    if (p->speaker != 0 && !p->has_sid)
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "%s: speaker %lld asked for, but the voice has one speaker",
                          p->model_path, (long long)p->speaker);
    return NR_OK;
}

enum nr_status nr_piper_open(const struct nr_settings *s, struct nr_engine **out,
                             struct nr_err *err) {
    *out = NULL;
    struct piper_engine *p = nr_calloc(1, sizeof *p);
    char *config_path = NULL;
    char model_hash[33], config_hash[33];
    enum nr_status st = NR_STATUS_NO_MEMORY;
    if (!p)
        return nr_err_set(err, st, "piper: out of memory");
    p->base.ops = &piper_ops;
    snprintf(p->base.name, sizeof p->base.name, "piper");
    p->model_path = nr_strdup(s->voice);
    size_t vlen = strlen(s->voice);
    config_path = nr_malloc(vlen + 6);
    if (!p->model_path || !config_path) {
        nr_err_set(err, st, "piper: out of memory");
        goto fail;
    }
    memcpy(config_path, s->voice, vlen);
    memcpy(config_path + vlen, ".json", 6);
    if ((st = nr_nn_model_load(p->model_path, &p->model, err)) != NR_OK ||
        (st = hash_file(p->model_path, model_hash, err)) != NR_OK ||
        (st = load_config(p, config_path, s, config_hash, err)) != NR_OK ||
        (st = check_graph(p, err)) != NR_OK ||
        (st = espeak_select(p->espeak_voice, config_path, err)) != NR_OK)
        goto fail;
    struct nr_nn_session_opts o;
    nr_nn_session_opts_defaults(&o);
    o.threads = s->threads;
    o.seed = s->seed;
    if ((st = nr_nn_session_new(p->model, &o, &p->session, err)) != NR_OK)
        goto fail;
    snprintf(p->base.cache_key, sizeof p->base.cache_key,
             "piper:model=%s:config=%s:espeak=%s:noise=%.9g:length=%.9g:noise_w=%.9g:"
             "speaker=%lld:seed=%llu",
             model_hash, config_hash, p->espeak_voice, (double)p->scales[0], (double)p->scales[1],
             (double)p->scales[2], (long long)p->speaker, (unsigned long long)s->seed);
    nr_free(config_path);
    *out = &p->base;
    return NR_OK;
fail:
    nr_free(config_path);
    piper_destroy(&p->base);
    return st;
}
