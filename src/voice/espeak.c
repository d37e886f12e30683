/* The eSpeak NG engine. eSpeak NG keeps its state in process globals and is
 * not thread-safe, so parallel synthesis uses worker processes: each one
 * initializes its own eSpeak NG and answers requests over a pair of pipes.
 *
 * Every chunk is spoken by a fresh fork of a worker that has loaded the
 * voice but never spoken (see worker_main): eSpeak NG's output otherwise
 * depends on what the process said before.
 *
 * Wire protocol (native byte order, same machine):
 *   worker -> parent at start: int32 sample_rate (0 = failure), then
 *                              uint32 message length and message on failure
 *   parent -> worker:          uint32 text length, text bytes (UTF-8)
 *   worker -> parent:          int32 status (0 = ok), uint64 n, n int16 samples
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "narrate/voice.h"

#include <errno.h>
#include <fcntl.h>
#include <espeak-ng/speak_lib.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64

struct worker {
    pid_t pid;
    int to_fd;   /* parent writes requests */
    int from_fd; /* parent reads replies */
};

struct espeak_engine {
    struct nr_engine base; /* first member: the public part */
    char voice[128];
    int rate_wpm;
    int n_workers; /* >= 1 once open */
    struct worker workers[MAX_WORKERS];
};

/* eSpeak NG's own state is process-global; this flag records that this
 * process has initialized it (once), and its sample rate. */
static int espeak_rate_in_process;

static enum nr_status espeak_init_here(const char *voice, int rate_wpm, struct nr_err *err) {
    if (!espeak_rate_in_process) {
        int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL,
                                     espeakINITIALIZE_DONT_EXIT);
        if (rate <= 0)
            return nr_err_set(err, NR_STATUS_IO,
                              "espeak: cannot initialize eSpeak NG (is espeak-ng-data installed?)");
        espeak_rate_in_process = rate;
    }
    if (voice && espeak_SetVoiceByName(voice) != EE_OK)
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "voice \"espeak:%s\": unknown eSpeak NG voice (see `narrate voices`)",
                          voice);
    if (rate_wpm > 0)
        espeak_SetParameter(espeakRATE, rate_wpm, 0);
    return NR_OK;
}

/* Collects synthesized samples into an nr_buf passed as user_data. */
static int on_synth(short *wav, int n, espeak_EVENT *events) {
    struct nr_buf *b = events ? events->user_data : NULL;
    if (b && wav && n > 0 && nr_buf_append(b, wav, (size_t)n * sizeof(short)) != NR_OK)
        return 1; /* abort synthesis: out of memory */
    return 0;
}

/* Synthesizes text in this process into int16 samples held by b. */
static enum nr_status synth_here(const char *text, struct nr_buf *b, struct nr_err *err) {
    /* Room for ~20 s of speech up front: fewer reallocations and copies in
     * the short-lived speaking process. */
    if (!b->cap && nr_buf_append(b, "", 0) == NR_OK) {
        char *p = nr_realloc(b->data, 1 << 20);
        if (p) {
            b->data = p;
            b->cap = 1 << 20;
        }
    }
    espeak_SetSynthCallback(on_synth);
    espeak_ERROR e = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0,
                                  espeakCHARS_UTF8 | espeakENDPAUSE, NULL, b);
    if (e != EE_OK)
        return nr_err_set(err, NR_STATUS_IO, "espeak: synthesis failed (error %d)", (int)e);
    if (espeak_Synchronize() != EE_OK)
        return nr_err_set(err, NR_STATUS_IO, "espeak: synthesis failed");
    return NR_OK;
}

static enum nr_status to_audio(const short *pcm, size_t n, int rate, struct nr_audio *out,
                               struct nr_err *err) {
    out->samples = nr_malloc((n ? n : 1) * sizeof(float));
    if (!out->samples)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "espeak: out of memory");
    for (size_t i = 0; i < n; i++)
        out->samples[i] = (float)pcm[i] / 32768.0f;
    out->n = n;
    out->rate = rate;
    return NR_OK;
}

/* ---- pipes --------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- worker process -------------------------------------------------------- */

_Noreturn void nr__espeak_worker_main(int in_fd, int out_fd, const char *voice, int rate_wpm) {
    /* Die with the parent, whatever way it goes. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_IGN); /* the parent decides when to stop */
    struct nr_err err = {0};
    espeak_rate_in_process = 0;
    int32_t rate = 0;
    if (espeak_init_here(voice, rate_wpm, &err) == NR_OK)
        rate = espeak_rate_in_process;
    if (write_all(out_fd, &rate, sizeof rate) != 0)
        _exit(1);
    if (!rate) {
        uint32_t n = (uint32_t)strlen(err.msg);
        write_all(out_fd, &n, sizeof n);
        write_all(out_fd, err.msg, n);
        _exit(1);
    }
    for (;;) {
        uint32_t len;
        if (read_all(in_fd, &len, sizeof len) != 0)
            _exit(0); /* parent closed the pipe: done */
        char *text = nr_malloc((size_t)len + 1);
        if (!text || read_all(in_fd, text, len) != 0)
            _exit(1);
        text[len] = '\0';
        /* eSpeak NG carries state from one utterance to the next (the same
         * text gives a few samples more or less the second time). Each chunk
         * is therefore spoken by a fresh fork of this worker, which has
         * loaded the voice but never spoken: a chunk's audio depends on its
         * text alone, so a resumed render is byte-identical. */
        pid_t pid = fork();
        if (pid == 0) {
            struct nr_buf b = {0};
            int32_t status = synth_here(text, &b, &err) == NR_OK ? 0 : 1;
            uint64_t n = status ? 0 : b.len / sizeof(short);
            int ok = write_all(out_fd, &status, sizeof status) == 0 &&
                     write_all(out_fd, &n, sizeof n) == 0 &&
                     (!n || write_all(out_fd, b.data, (size_t)n * sizeof(short)) == 0);
            _exit(ok ? 0 : 1);
        }
        nr_free(text);
        int wstatus = 0;
        if (pid < 0 || waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus)) {
            /* The speaking process died before replying: reply for it. */
            int32_t status = 1;
            uint64_t n = 0;
            if (write_all(out_fd, &status, sizeof status) != 0 ||
                write_all(out_fd, &n, sizeof n) != 0)
                _exit(1);
        }
    }
}

/* The worker runs as its own small program when it can be found: a
 * process that maps only eSpeak NG forks about twice as fast as one that
 * maps FFmpeg, OpenBLAS and the rest of narrate (measured: 3 ms a chunk),
 * and every chunk is a fork. Without it, the worker runs in this fork. */
static const char *worker_path(char *buf, size_t size) {
    const char *env = getenv("NARRATE_ESPEAK_WORKER");
    if (env && *env)
        return access(env, X_OK) == 0 ? env : NULL;
    ssize_t n = readlink("/proc/self/exe", buf, size - 32);
    if (n > 0) {
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (slash) {
            snprintf(slash + 1, 32, "narrate-espeak-worker");
            if (access(buf, X_OK) == 0)
                return buf;
        }
    }
#ifdef NR_ESPEAK_WORKER_BUILD_PATH
    if (access(NR_ESPEAK_WORKER_BUILD_PATH, X_OK) == 0)
        return NR_ESPEAK_WORKER_BUILD_PATH;
#endif
    return NULL;
}

_Noreturn static void exec_worker(int in_fd, int out_fd, const char *voice, int rate_wpm) {
    char buf[4096], a[16], b[16], r[16];
    const char *path = worker_path(buf, sizeof buf);
    if (path) {
        snprintf(a, sizeof a, "%d", in_fd);
        snprintf(b, sizeof b, "%d", out_fd);
        snprintf(r, sizeof r, "%d", rate_wpm);
        char *argv[] = {(char *)"narrate-espeak-worker", a, b, (char *)voice, r, NULL};
        execv(path, argv);
    }
    nr__espeak_worker_main(in_fd, out_fd, voice, rate_wpm);
}

static void stop_workers(struct espeak_engine *e) {
    for (int i = 0; i < e->n_workers; i++) {
        struct worker *w = &e->workers[i];
        if (w->to_fd >= 0)
            close(w->to_fd);
        if (w->from_fd >= 0)
            close(w->from_fd);
        if (w->pid > 0) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
        }
    }
    e->n_workers = 0;
}

static enum nr_status start_workers(struct espeak_engine *e, int n, struct nr_err *err) {
    fflush(NULL); /* no duplicated stdio buffers in the children */
    for (int i = 0; i < n; i++) {
        int req[2], rep[2];
        if (pipe(req) != 0)
            return nr_err_set(err, NR_STATUS_IO, "espeak: pipe: %s", strerror(errno));
        if (pipe(rep) != 0) {
            close(req[0]);
            close(req[1]);
            return nr_err_set(err, NR_STATUS_IO, "espeak: pipe: %s", strerror(errno));
        }
        /* A reply is ~1 MB; a pipe that holds it whole lets the speaking
         * process write and exit without waiting for the parent to read. */
        fcntl(rep[1], F_SETPIPE_SZ, 1 << 20);
        pid_t pid = fork();
        if (pid < 0) {
            int en = errno;
            close(req[0]), close(req[1]), close(rep[0]), close(rep[1]);
            return nr_err_set(err, NR_STATUS_IO, "espeak: fork: %s", strerror(en));
        }
        if (pid == 0) {
            close(req[1]);
            close(rep[0]);
            for (int j = 0; j < e->n_workers; j++) {
                close(e->workers[j].to_fd);
                close(e->workers[j].from_fd);
            }
            exec_worker(req[0], rep[1], e->voice, e->rate_wpm);
        }
        close(req[0]);
        close(rep[1]);
        e->workers[e->n_workers++] = (struct worker){pid, req[1], rep[0]};
    }
    /* Every worker reports its sample rate, or why it could not start. */
    for (int i = 0; i < e->n_workers; i++) {
        int32_t rate = 0;
        if (read_all(e->workers[i].from_fd, &rate, sizeof rate) != 0)
            return nr_err_set(err, NR_STATUS_IO, "espeak: worker process failed to start");
        if (rate <= 0) {
            uint32_t len = 0;
            char msg[512] = "espeak: worker process failed to start";
            if (read_all(e->workers[i].from_fd, &len, sizeof len) == 0 && len < sizeof msg &&
                read_all(e->workers[i].from_fd, msg, len) == 0)
                msg[len] = '\0';
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s", msg);
        }
        e->base.sample_rate = rate;
    }
    return NR_OK;
}

static enum nr_status send_text(struct worker *w, const char *text) {
    uint32_t len = (uint32_t)strlen(text);
    if (write_all(w->to_fd, &len, sizeof len) != 0 || write_all(w->to_fd, text, len) != 0)
        return NR_STATUS_IO;
    return NR_OK;
}

static enum nr_status recv_audio(struct espeak_engine *e, struct worker *w, struct nr_audio *out,
                                 struct nr_err *err) {
    int32_t status;
    uint64_t n;
    if (read_all(w->from_fd, &status, sizeof status) != 0 ||
        read_all(w->from_fd, &n, sizeof n) != 0)
        return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
    if (status != 0)
        return nr_err_set(err, NR_STATUS_IO, "espeak: synthesis failed in a worker process");
    short *pcm = nr_malloc((size_t)(n ? n : 1) * sizeof(short));
    if (!pcm)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "espeak: out of memory");
    if (n && read_all(w->from_fd, pcm, (size_t)n * sizeof(short)) != 0) {
        nr_free(pcm);
        return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
    }
    enum nr_status st = to_audio(pcm, (size_t)n, e->base.sample_rate, out, err);
    nr_free(pcm);
    return st;
}

/* Hands texts to idle workers as they become free, so a slow chunk does not
 * hold up the rest of the batch. */
static enum nr_status synth_parallel(struct espeak_engine *e, const char *const *texts, size_t n,
                                     struct nr_audio *out, struct nr_err *err) {
    long busy[MAX_WORKERS];
    size_t next = 0, done = 0;
    for (int i = 0; i < e->n_workers; i++)
        busy[i] = -1;
    while (done < n) {
        for (int i = 0; i < e->n_workers && next < n; i++) {
            if (busy[i] < 0) {
                if (send_text(&e->workers[i], texts[next]) != NR_OK)
                    return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
                busy[i] = (long)next++;
            }
        }
        struct pollfd fds[MAX_WORKERS];
        int map[MAX_WORKERS], nfds = 0;
        for (int i = 0; i < e->n_workers; i++) {
            if (busy[i] >= 0) {
                fds[nfds] = (struct pollfd){.fd = e->workers[i].from_fd, .events = POLLIN};
                map[nfds++] = i;
            }
        }
        if (poll(fds, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            return nr_err_set(err, NR_STATUS_IO, "espeak: poll: %s", strerror(errno));
        }
        for (int k = 0; k < nfds; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int i = map[k];
            enum nr_status st = recv_audio(e, &e->workers[i], &out[busy[i]], err);
            if (st != NR_OK)
                return st;
            busy[i] = -1;
            done++;
        }
    }
    return NR_OK;
}

static enum nr_status espeak_synth_batch(struct nr_engine *base, const char *const *texts,
                                         size_t n, struct nr_audio *out, struct nr_err *err) {
    struct espeak_engine *e = (struct espeak_engine *)base;
    return synth_parallel(e, texts, n, out, err);
}

static void espeak_destroy(struct nr_engine *base) {
    struct espeak_engine *e = (struct espeak_engine *)base;
    stop_workers(e);
    nr_free(e);
}

static const struct nr_engine_ops espeak_ops = {
    .synth_batch = espeak_synth_batch,
    .batch_bytes = NULL,
    .destroy = espeak_destroy,
};

enum nr_status nr_espeak_open(const char *voice_name, int rate_wpm, int workers,
                              struct nr_engine **out, struct nr_err *err) {
    *out = NULL;
    if (!voice_name || !*voice_name || strlen(voice_name) >= 128)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "voice \"espeak:%s\": bad voice name",
                          voice_name ? voice_name : "");
    struct espeak_engine *e = nr_calloc(1, sizeof *e);
    if (!e)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "espeak: out of memory");
    e->base.ops = &espeak_ops;
    snprintf(e->base.name, sizeof e->base.name, "espeak");
    snprintf(e->voice, sizeof e->voice, "%s", voice_name);
    e->rate_wpm = rate_wpm;
    if (workers < 1)
        workers = 1;
    enum nr_status st = start_workers(e, workers > MAX_WORKERS ? MAX_WORKERS : workers, err);
    if (st != NR_OK) {
        espeak_destroy(&e->base);
        return st;
    }
    const char *data_path = NULL;
    const char *version = espeak_Info(&data_path);
    /* Everything that changes the audio: engine version, voice, rate. */
    snprintf(e->base.cache_key, sizeof e->base.cache_key,
             "engine=espeak-ng/%s;voice=%s;rate_wpm=%d;sample_rate=%d", version ? version : "?",
             voice_name, rate_wpm, e->base.sample_rate);
    *out = &e->base;
    return NR_OK;
}

enum nr_status nr_voices_list(struct nr_buf *out, struct nr_err *err) {
    enum nr_status st = espeak_init_here(NULL, 0, err);
    if (st != NR_OK)
        return st;
    const espeak_VOICE **voices = espeak_ListVoices(NULL);
    if (nr_buf_printf(out, "eSpeak NG voices (use --voice espeak:<name>):\n") != NR_OK)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "voices: out of memory");
    for (size_t i = 0; voices && voices[i]; i++) {
        const espeak_VOICE *v = voices[i];
        /* languages: a priority byte, then a NUL-terminated language name. */
        const char *lang = v->languages ? v->languages + 1 : "";
        if (nr_buf_printf(out, "  espeak:%-20s %-12s %s\n", lang, v->identifier ? v->identifier : "",
                          v->name ? v->name : "") != NR_OK)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "voices: out of memory");
    }
    if (nr_buf_printf(out, "Piper voices: --voice path/to/voice.onnx (with voice.onnx.json beside "
                           "it)\n") != NR_OK)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "voices: out of memory");
    return NR_OK;
}
