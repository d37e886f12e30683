/* The ONNX reader's state while it fills a model (reader.c). */
#ifndef NARRATE_NN_READER_H
#define NARRATE_NN_READER_H

#include "nn_internal.h"

struct nr__nn_reader {
    struct nr_nn_model *m;
    struct nr_err *err;
    size_t cap_nodes;
};

/* Parses m->bytes into m's values, nodes, inputs and outputs. */
NR_MUST_CHECK enum nr_status nr__nn_read_model(struct nr__nn_reader *rd);
/* Value id of name, or -1. */
int nr__nn_reader_find(const struct nr__nn_reader *rd, const char *name, size_t len);
void nr__nn_attr_deinit(struct nr__nn_attr *a);

#endif
