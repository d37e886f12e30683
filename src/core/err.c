/* Error records and assertion failures. */
#include "narrate/core.h"

#include <stdlib.h>

enum nr_status nr_err_set(struct nr_err *err, enum nr_status status, const char *fmt, ...) {
    if (!err || err->status != NR_OK)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return status;
}

void nr_err_clear(struct nr_err *err) {
    if (!err)
        return;
    err->status = NR_OK;
    err->msg[0] = '\0';
}

const char *nr_status_name(enum nr_status status) {
    switch (status) {
    case NR_OK: return "ok";
    case NR_STATUS_INVALID_ARG: return "invalid argument";
    case NR_STATUS_NO_MEMORY: return "out of memory";
    case NR_STATUS_IO: return "i/o error";
    case NR_STATUS_BAD_FORMAT: return "bad format";
    case NR_STATUS_UNSUPPORTED: return "unsupported";
    case NR_STATUS_DEVICE: return "device error";
    case NR_STATUS_DEVICE_OOM: return "device out of memory";
    case NR_STATUS_CANCELLED: return "cancelled";
    }
    return "unknown";
}

_Noreturn void nr__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "narrate: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
