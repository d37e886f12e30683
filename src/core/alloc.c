/* Allocation hooks. Every allocation of the project goes through here so a
 * test can fail the N-th one and check that each caller cleans up. */
#include "narrate/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Process-wide test hook: 0 = off, else the allocation number that fails. */
static atomic_size_t fail_at;
static atomic_size_t counter;

static int should_fail(void) {
    size_t at = atomic_load(&fail_at);
    size_t n = atomic_fetch_add(&counter, 1) + 1;
    return at != 0 && n == at;
}

size_t nr_alloc_fail_after(size_t n) {
    size_t seen = atomic_exchange(&counter, 0);
    atomic_store(&fail_at, n);
    return seen;
}

void *nr_malloc(size_t n) {
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *nr_calloc(size_t count, size_t size) {
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *nr_realloc(void *p, size_t n) {
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void nr_free(void *p) {
    free(p);
}

char *nr_strndup(const char *s, size_t n) {
    char *d = nr_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *nr_strdup(const char *s) {
    return nr_strndup(s, strlen(s));
}
