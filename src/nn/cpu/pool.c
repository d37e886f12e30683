/* A small thread pool for the CPU kernels: parallel_for(n, fn) runs fn on
 * tasks 0..n-1, handed out one at a time from an atomic counter, on the
 * calling thread plus the pool's workers. One pool per session (no global
 * state); OpenBLAS runs single-threaded inside the tasks, so that every
 * thread does whole GEMMs instead of splitting small ones. */
#include <pthread.h>
#include <stdatomic.h>

#include "cpu.h"

struct nr__pool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int stop;
    unsigned long generation; /* bumped for every job */
    int busy;                 /* workers still inside the current job */
    /* the current job */
    nr__task_fn fn;
    void *ctx;
    int64_t n;
    atomic_llong next;
};

/* Runs tasks of the current job until none are left. */
static void drain(struct nr__pool *p, int worker) {
    for (;;) {
        int64_t i = (int64_t)atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i, worker);
    }
}

struct worker_arg {
    struct nr__pool *p;
    int id;
};

static void *worker_main(void *arg) {
    struct worker_arg *wa = arg;
    struct nr__pool *p = wa->p;
    int id = wa->id;
    nr_free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        drain(p, id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct nr__pool *nr__pool_new(int threads) {
    struct nr__pool *p = nr_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    int want = threads > 1 ? threads - 1 : 0;
    p->threads = want ? nr_calloc((size_t)want, sizeof *p->threads) : NULL;
    for (int i = 0; i < want && p->threads; i++) {
        struct worker_arg *wa = nr_malloc(sizeof *wa);
        if (!wa)
            break;
        wa->p = p;
        wa->id = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            nr_free(wa);
            break;
        }
        p->n_workers++;
    }
    /* fewer workers than asked (no memory, no threads) only means less parallelism */
    return p;
}

void nr__pool_free(struct nr__pool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    nr_free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    nr_free(p);
}

int nr__pool_size(const struct nr__pool *p) {
    return p ? p->n_workers + 1 : 1;
}

void nr__pool_run(struct nr__pool *p, int64_t n, nr__task_fn fn, void *ctx) {
    if (n <= 0)
        return;
    if (!p || p->n_workers == 0 || n == 1) {
        for (int64_t i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    p->busy = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
