/* Growable byte buffer. */
#include "narrate/core.h"

#include <string.h>

static enum nr_status reserve(struct nr_buf *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return NR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = nr_realloc(b->data, cap);
    if (!p)
        return NR_STATUS_NO_MEMORY;
    b->data = p;
    b->cap = cap;
    return NR_OK;
}

enum nr_status nr_buf_append(struct nr_buf *b, const void *data, size_t n) {
    if (reserve(b, n) != NR_OK)
        return NR_STATUS_NO_MEMORY;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return NR_OK;
}

enum nr_status nr_buf_vprintf(struct nr_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || reserve(b, (size_t)n) != NR_OK)
        return NR_STATUS_NO_MEMORY;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return NR_OK;
}

enum nr_status nr_buf_printf(struct nr_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    enum nr_status st = nr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

char *nr_buf_take(struct nr_buf *b) {
    char *p = b->data;
    if (!p)
        p = nr_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void nr_buf_deinit(struct nr_buf *b) {
    nr_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
