/* The eSpeak NG engine. eSpeak NG keeps its state in process globals and is
 * not thread-safe, so parallel synthesis uses worker processes: each one
 * initializes its own eSpeak NG and answers requests over a pair of pipes.
 *
 * Every chunk is spoken by a fresh fork of a worker that has loaded the
 * voice but never spoken (see worker_main): eSpeak NG's output otherwise
 * depends on what the process said before. The worker forks the next
 * speaking process ahead, while the current one speaks, so the fork is off
 * the critical path; the speaking process streams its samples to the parent
 * as it goes, so receiving overlaps with speaking.
 *
 * Wire protocol (native byte order, same machine):
 *   worker -> parent at start: int32 sample_rate (0 = failure), then
 *                              uint32 message length and message on failure
 *   parent -> worker:          uint32 text length, text bytes (UTF-8); the
 *                              parent may queue a second text before the
 *                              first is answered (replies come in order)
 *   worker -> parent, a reply: frames of int32 n > 0 then n int16 samples,
 *                              ended by int32 0 (done) or -1 (failed). A
 *                              speaking process that dies mid-reply takes
 *                              its worker with it: the parent sees EOF.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "narrate/voice.h"

#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define FRAME_SAMPLES 32768 /* samples in one reply frame, at most */

struct worker {
    pid_t pid;
    int to_fd;   /* parent writes requests */
    int from_fd; /* parent reads replies */
};

#define QUEUE_DEPTH 2 /* texts a worker holds: one speaking, one waiting */
/* In flight from the last hint, this batch, and the next batch's hint. */
#define MAX_JOBS (MAX_WORKERS * QUEUE_DEPTH + 2 * NR_BATCH_MAX)

/* Job roles: asked for by the current batch; sent ahead on the hint for
 * the next batch (kept when done); left from a hint that proved wrong
 * (thrown away when done). */
enum { WANTED, AHEAD, STALE };

/* A text on its way through a worker. Jobs are kept in the order they were
 * sent; each worker answers its own jobs in order. */
struct job {
    char *text;
    struct nr_audio audio; /* received so far, in audio.pcm16 */
    size_t cap;            /* samples allocated in audio.pcm16 */
    int worker;            /* -1 until sent */
    int done;
    int role; /* WANTED, AHEAD or STALE */
    uint64_t id;
};

struct espeak_engine {
    struct nr_engine base; /* first member: the public part */
    char voice[128];
    int rate_wpm;
    int n_workers; /* >= 1 once open */
    struct worker workers[MAX_WORKERS];
    int queued[MAX_WORKERS]; /* jobs sent to each worker and not done */
    struct job jobs[MAX_JOBS];
    size_t n_jobs;
    size_t wanted_left; /* WANTED jobs not done yet */
    uint64_t next_id;
    char **hint; /* texts the next batch will probably ask for */
    size_t n_hint;
};

/* eSpeak NG's own state is process-global; this flag records that this
 * process has initialized it (once), and its sample rate. */
static int espeak_rate_in_process;

static enum nr_status espeak_init_here(const char *voice, int rate_wpm, struct nr_err *err) {
    if (!espeak_rate_in_process) {
        int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
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

/* The speaking process's output: samples gathered into a block and written
 * as one frame when it fills (a few writes a chunk, not one per callback). */
static struct {
    int fd;
    int failed;
    int32_t n;
    short pcm[FRAME_SAMPLES];
} out_frame;

static int flush_frame(void) {
    if (out_frame.n == 0)
        return 0;
    int32_t n = out_frame.n;
    out_frame.n = 0;
    return write_all(out_frame.fd, &n, sizeof n) == 0 &&
                   write_all(out_frame.fd, out_frame.pcm, (size_t)n * sizeof(short)) == 0
               ? 0
               : -1;
}

static int on_frame(short *wav, int n, espeak_EVENT *events) {
    (void)events;
    while (wav && n > 0 && !out_frame.failed) {
        int room = FRAME_SAMPLES - out_frame.n, m = n < room ? n : room;
        memcpy(out_frame.pcm + out_frame.n, wav, (size_t)m * sizeof(short));
        out_frame.n += m;
        wav += m;
        n -= m;
        if (out_frame.n == FRAME_SAMPLES && flush_frame() != 0)
            out_frame.failed = 1;
    }
    return out_frame.failed; /* nonzero aborts synthesis */
}

/* The speaking process: waits for its text on go_fd, speaks it into
 * out_fd, exits. Forked before its text is known, from a worker that has
 * never spoken. */
_Noreturn static void speaker_main(int go_fd, int out_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint32_t len;
    if (read_all(go_fd, &len, sizeof len) != 0)
        _exit(0); /* the worker is ending: nothing to say */
    char *text = nr_malloc((size_t)len + 1);
    if (!text || read_all(go_fd, text, len) != 0)
        _exit(1);
    text[len] = '\0';
    out_frame.fd = out_fd;
    espeak_SetSynthCallback(on_frame);
    espeak_ERROR e = espeak_Synth(text, (size_t)len + 1, 0, POS_CHARACTER, 0,
                                  espeakCHARS_UTF8 | espeakENDPAUSE, NULL, NULL);
    int ok = e == EE_OK && espeak_Synchronize() == EE_OK && !out_frame.failed && flush_frame() == 0;
    int32_t end = ok ? 0 : -1;
    _exit(write_all(out_fd, &end, sizeof end) == 0 && ok ? 0 : 1);
}

struct spare {
    pid_t pid;
    int go_fd; /* the worker writes the text here */
};

static int fork_spare(struct spare *sp, int in_fd, int out_fd) {
    int go[2];
    if (pipe(go) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(go[0]);
        close(go[1]);
        return -1;
    }
    if (pid == 0) {
        close(go[1]);
        close(in_fd);
        speaker_main(go[0], out_fd);
    }
    close(go[0]);
    *sp = (struct spare){pid, go[1]};
    return 0;
}

_Noreturn void nr__espeak_worker_main(int in_fd, int out_fd, const char *voice, int rate_wpm) {
    /* Die with the parent, whatever way it goes. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_IGN); /* the parent decides when to stop */
    signal(SIGPIPE, SIG_DFL);
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
    /* eSpeak NG carries state from one utterance to the next (the same text
     * gives a few samples more or less the second time). Each chunk is
     * therefore spoken by a fresh fork of this process, which has loaded the
     * voice but never speaks itself: a chunk's audio depends on its text
     * alone, so a resumed render is byte-identical. */
    struct spare next;
    if (fork_spare(&next, in_fd, out_fd) != 0)
        _exit(1);
    for (;;) {
        uint32_t len;
        if (read_all(in_fd, &len, sizeof len) != 0)
            _exit(0); /* parent closed the pipe: done (the spare sees EOF) */
        char *text = nr_malloc((size_t)len + 1);
        if (!text || read_all(in_fd, text, len) != 0)
            _exit(1);
        struct spare now = next;
        int handed =
            write_all(now.go_fd, &len, sizeof len) == 0 && write_all(now.go_fd, text, len) == 0;
        close(now.go_fd);
        nr_free(text);
        /* The next speaker is forked while this one speaks. */
        if (!handed || fork_spare(&next, in_fd, out_fd) != 0)
            _exit(1);
        int wstatus = 0;
        if (waitpid(now.pid, &wstatus, 0) != now.pid || !WIFEXITED(wstatus) ||
            WEXITSTATUS(wstatus) != 0)
            _exit(1); /* its reply may be cut short: the parent sees EOF */
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
        /* A chunk's reply is ~0.5 MB; a pipe that holds it whole lets the
         * speaking process finish and exit without waiting for the parent. */
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

/* Writes a request. A worker that has died makes the write fail with
 * EPIPE; its SIGPIPE is blocked for the write and taken back, so the caller
 * gets an error instead of a process killed without a word. */
static enum nr_status send_text(struct worker *w, const char *text) {
    uint32_t len = (uint32_t)strlen(text);
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int failed = write_all(w->to_fd, &len, sizeof len) != 0 || write_all(w->to_fd, text, len) != 0;
    if (failed && errno == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return failed ? NR_STATUS_IO : NR_OK;
}

/* About how many samples a text comes to, a little over for most: about
 * 1,300 per character at 175 words a minute and 22,050 Hz. */
static size_t guess_samples(const struct espeak_engine *e, const char *text) {
    double wpm = e->rate_wpm > 0 ? e->rate_wpm : 175;
    double per_char = 1600.0 * (175.0 / wpm) * (e->base.sample_rate / 22050.0);
    size_t g = (size_t)((double)strlen(text) * per_char);
    return g < 16384 ? 16384 : g;
}

/* Makes room for n more samples in job j's pcm16, growing it by doubling
 * from a first guess at the chunk's length, so that a chunk is read
 * straight into its buffer, mostly without a copy. */
static enum nr_status reserve_samples(const struct espeak_engine *e, struct job *j, size_t n) {
    struct nr_audio *a = &j->audio;
    if (a->n + n <= j->cap)
        return NR_OK;
    size_t c = j->cap ? j->cap * 2 : guess_samples(e, j->text);
    while (c < a->n + n)
        c *= 2;
    int16_t *p = nr_realloc(a->pcm16, c * sizeof *p);
    if (!p)
        return NR_STATUS_NO_MEMORY;
    a->pcm16 = p;
    j->cap = c;
    return NR_OK;
}

static void job_free(struct job *j) {
    nr_free(j->text);
    nr_audio_deinit(&j->audio);
}

static void drop_jobs(struct espeak_engine *e) {
    for (size_t i = 0; i < e->n_jobs; i++)
        job_free(&e->jobs[i]);
    e->n_jobs = 0;
    e->wanted_left = 0;
    for (int w = 0; w < MAX_WORKERS; w++)
        e->queued[w] = 0;
}

static void drop_hint(struct espeak_engine *e) {
    for (size_t i = 0; i < e->n_hint; i++)
        nr_free(e->hint[i]);
    nr_free(e->hint);
    e->hint = NULL;
    e->n_hint = 0;
}

/* The oldest unfinished job sent to worker w: the one its frames are for. */
static struct job *front_job(struct espeak_engine *e, int w) {
    for (size_t i = 0; i < e->n_jobs; i++)
        if (e->jobs[i].worker == w && !e->jobs[i].done)
            return &e->jobs[i];
    return NULL;
}

static enum nr_status add_job(struct espeak_engine *e, const char *text, int role,
                              struct nr_err *err) {
    if (e->n_jobs == MAX_JOBS)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "espeak: too many texts at once");
    char *copy = nr_strdup(text);
    if (!copy)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "espeak: out of memory");
    e->jobs[e->n_jobs++] = (struct job){.text = copy,
                                        .audio = {.rate = e->base.sample_rate},
                                        .worker = -1,
                                        .role = role,
                                        .id = ++e->next_id};
    return NR_OK;
}

/* Sends unsent jobs, in order, to the workers with the fewest texts, at
 * most QUEUE_DEPTH each (a worker's waiting text starts the moment the
 * speaking one ends, with no round trip through this process). A single
 * worker (batch size 1) keeps one text speaking and one queued, so chunks
 * are still spoken one at a time. */
static enum nr_status dispatch(struct espeak_engine *e, struct nr_err *err) {
    for (size_t i = 0; i < e->n_jobs; i++) {
        struct job *j = &e->jobs[i];
        if (j->worker >= 0)
            continue;
        int best = -1;
        for (int w = 0; w < e->n_workers; w++)
            if (e->queued[w] < QUEUE_DEPTH && (best < 0 || e->queued[w] < e->queued[best]))
                best = w;
        if (best < 0)
            return NR_OK;
        if (send_text(&e->workers[best], j->text) != NR_OK)
            return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
        j->worker = best;
        e->queued[best]++;
    }
    return NR_OK;
}

/* Waits for frames and files them under their jobs; returns once at least
 * one worker was read from. */
static enum nr_status receive(struct espeak_engine *e, struct nr_err *err) {
    struct pollfd fds[MAX_WORKERS];
    int map[MAX_WORKERS], nfds = 0;
    for (int w = 0; w < e->n_workers; w++) {
        if (e->queued[w] > 0) {
            fds[nfds] = (struct pollfd){.fd = e->workers[w].from_fd, .events = POLLIN};
            map[nfds++] = w;
        }
    }
    NR_ASSERT(nfds > 0);
    while (poll(fds, (nfds_t)nfds, -1) < 0) {
        if (errno != EINTR)
            return nr_err_set(err, NR_STATUS_IO, "espeak: poll: %s", strerror(errno));
    }
    for (int k = 0; k < nfds; k++) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        int w = map[k];
        struct job *j = front_job(e, w);
        NR_ASSERT(j);
        int32_t frame;
        if (read_all(e->workers[w].from_fd, &frame, sizeof frame) != 0)
            return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
        if (frame < 0 || frame > FRAME_SAMPLES)
            return nr_err_set(err, NR_STATUS_IO, "espeak: synthesis failed in a worker process");
        if (frame == 0) { /* this text is done; the next in line is speaking */
            j->done = 1;
            e->queued[w]--;
            e->wanted_left -= j->role == WANTED;
            continue;
        }
        if (reserve_samples(e, j, (size_t)frame) != NR_OK)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "espeak: out of memory");
        if (read_all(e->workers[w].from_fd, j->audio.pcm16 + j->audio.n,
                     (size_t)frame * sizeof(int16_t)) != 0)
            return nr_err_set(err, NR_STATUS_IO, "espeak: worker process died");
        j->audio.n += (size_t)frame;
    }
    return NR_OK;
}

/* Removes the jobs nobody wants (a hint that turned out wrong, results
 * handed over) once they are done, and with unsent_too those never sent. A
 * sent job stays until its reply is read: replies come in order. */
static void drop_stale(struct espeak_engine *e, int unsent_too) {
    size_t k = 0;
    for (size_t i = 0; i < e->n_jobs; i++) {
        struct job *j = &e->jobs[i];
        if (j->role == STALE && (j->done || (unsent_too && j->worker < 0)))
            job_free(j);
        else
            e->jobs[k++] = *j;
    }
    e->n_jobs = k;
}

static struct job *job_by_id(struct espeak_engine *e, uint64_t id) {
    for (size_t i = 0; i < e->n_jobs; i++)
        if (e->jobs[i].id == id)
            return &e->jobs[i];
    return NULL;
}

static enum nr_status synth_jobs(struct espeak_engine *e, const char *const *texts, size_t n,
                                 struct nr_audio *out, struct nr_err *err) {
    /* Texts already sent ahead on the last hint are taken over; the rest
     * of that hint is left to finish and thrown away. */
    uint64_t ids[NR_BATCH_MAX];
    if (n > NR_BATCH_MAX)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "espeak: batch of %zu, at most %d", n,
                          NR_BATCH_MAX);
    NR_ASSERT(e->wanted_left == 0); /* the last batch was handed over or dropped */
    for (size_t i = 0; i < e->n_jobs; i++)
        e->jobs[i].role = STALE; /* until this batch claims it */
    for (size_t t = 0; t < n; t++) {
        struct job *j = NULL;
        for (size_t i = 0; i < e->n_jobs && !j; i++)
            if (e->jobs[i].role == STALE && strcmp(e->jobs[i].text, texts[t]) == 0)
                j = &e->jobs[i];
        if (!j) {
            enum nr_status st = add_job(e, texts[t], WANTED, err);
            if (st != NR_OK)
                return st;
            j = &e->jobs[e->n_jobs - 1];
        }
        j->role = WANTED;
        ids[t] = j->id;
        e->wanted_left += !j->done;
    }
    /* Unsent leftovers of the old hint go; the new hint queues behind this
     * batch, so the workers go on speaking while the caller stores this
     * batch and logs it. */
    drop_stale(e, 1);
    for (size_t h = 0; h < e->n_hint && e->n_jobs < MAX_JOBS; h++) {
        struct nr_err ignored = {0};
        if (add_job(e, e->hint[h], AHEAD, &ignored) != NR_OK)
            break; /* a hint is only a hint */
    }
    drop_hint(e);
    while (e->wanted_left > 0) {
        enum nr_status st = dispatch(e, err);
        if (st == NR_OK)
            st = receive(e, err);
        if (st != NR_OK)
            return st;
        drop_stale(e, 0);
    }
    for (size_t t = 0; t < n; t++) {
        struct job *j = job_by_id(e, ids[t]);
        out[t] = j->audio;
        memset(&j->audio, 0, sizeof j->audio);
        j->role = STALE; /* handed over: dropped below */
    }
    drop_stale(e, 0);
    return dispatch(e, err); /* the hint's texts start now */
}

static enum nr_status espeak_synth_batch(struct nr_engine *base, const char *const *texts, size_t n,
                                         struct nr_audio *out, struct nr_err *err) {
    struct espeak_engine *e = (struct espeak_engine *)base;
    if (e->n_workers == 0) {
        drop_hint(e);
        return nr_err_set(err, NR_STATUS_IO, "espeak: no worker process (an earlier failure)");
    }
    enum nr_status st = synth_jobs(e, texts, n, out, err);
    if (st != NR_OK) {
        /* Replies may be half read: start over with fresh workers. */
        int n_workers = e->n_workers;
        struct nr_err ignored = {0};
        drop_jobs(e);
        drop_hint(e);
        stop_workers(e);
        if (start_workers(e, n_workers, &ignored) != NR_OK)
            stop_workers(e);
    }
    return st;
}

static void espeak_hint_next(struct nr_engine *base, const char *const *texts, size_t n) {
    struct espeak_engine *e = (struct espeak_engine *)base;
    drop_hint(e);
    if (n == 0 || n > NR_BATCH_MAX || !(e->hint = nr_calloc(n, sizeof *e->hint)))
        return; /* a hint is only a hint */
    for (size_t i = 0; i < n; i++) {
        if (!(e->hint[e->n_hint] = nr_strdup(texts[i])))
            break;
        e->n_hint++;
    }
}

static void espeak_destroy(struct nr_engine *base) {
    struct espeak_engine *e = (struct espeak_engine *)base;
    stop_workers(e);
    drop_jobs(e);
    drop_hint(e);
    nr_free(e);
}

static const struct nr_engine_ops espeak_ops = {
    .synth_batch = espeak_synth_batch,
    .batch_bytes = NULL,
    .destroy = espeak_destroy,
    .hint_next = espeak_hint_next,
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
        if (nr_buf_printf(out, "  espeak:%-20s %-12s %s\n", lang,
                          v->identifier ? v->identifier : "", v->name ? v->name : "") != NR_OK)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "voices: out of memory");
    }
    if (nr_buf_printf(out, "Piper voices: --voice path/to/voice.onnx (with voice.onnx.json beside "
                           "it)\n") != NR_OK)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "voices: out of memory");
    return NR_OK;
}
