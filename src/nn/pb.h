/* A bounds-checked reader for the protobuf wire format: varints, fixed
 * 32/64-bit and length-delimited fields. Every read checks the remaining
 * length, so a hostile buffer can only produce an error, never a read past
 * its end. Groups (wire types 3 and 4) are errors: ONNX never uses them. */
#ifndef NARRATE_NN_PB_H
#define NARRATE_NN_PB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pb {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
};

enum pb_wire { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* One field: its number and wire type, the scalar value (VARINT, I64, I32)
 * or the bytes of a LEN field. */
struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
};

static inline void pb_init(struct pb *r, const uint8_t *p, size_t len) {
    r->p = p;
    r->end = p + len;
}

static inline int pb_at_end(const struct pb *r) {
    return r->p >= r->end;
}

/* Returns 0 and the value, or -1 on truncation or a varint over 10 bytes. */
static inline int pb_varint(struct pb *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e))
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field. Returns 1 with *f filled, 0 at the end of the
 * buffer, -1 on malformed input. */
static inline int pb_next(struct pb *r, struct pb_field *f) {
    if (r->p >= r->end)
        return 0;
    uint64_t tag;
    if (pb_varint(r, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case PB_VARINT:
        return pb_varint(r, &f->v) < 0 ? -1 : 1;
    case PB_I64:
        if (r->end - r->p < 8)
            return -1;
        memcpy(&f->v, r->p, 8);
        r->p += 8;
        return 1;
    case PB_I32: {
        if (r->end - r->p < 4)
            return -1;
        uint32_t w;
        memcpy(&w, r->p, 4);
        f->v = w;
        r->p += 4;
        return 1;
    }
    case PB_LEN: {
        uint64_t n;
        if (pb_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return -1;
    }
}

/* Iterates a repeated int64 field that may be packed (LEN) or not (VARINT):
 * calls back for each element. Returns -1 on malformed input. */
static inline int pb_count_packed_varints(const uint8_t *p, size_t len, size_t *count) {
    struct pb r;
    pb_init(&r, p, len);
    size_t n = 0;
    while (!pb_at_end(&r)) {
        uint64_t v;
        if (pb_varint(&r, &v) < 0)
            return -1;
        n++;
    }
    *count = n;
    return 0;
}

#endif
