/* The CPU op table: ONNX op_type -> kernel. */
#include <string.h>

#include "ops.h"

struct op_entry {
    const char *name;
    nr__nn_op_fn fn;
};

/* const table of every op the engine runs (sorted by name) */
static const struct op_entry ops[] = {
#define NR__ENTRY(name, fn) {name, fn},
    NR__OPS(NR__ENTRY)
#undef NR__ENTRY
};

nr__nn_op_fn nr__nn_cpu_find_op(const char *op_type) {
    size_t lo = 0, hi = sizeof ops / sizeof ops[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(op_type, ops[mid].name);
        if (c == 0)
            return ops[mid].fn;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int nr_nn_op_is_supported(const char *op_type) {
    return op_type && nr__nn_cpu_find_op(op_type) != NULL;
}
