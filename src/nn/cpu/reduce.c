/* Reductions (ReduceMax, ReduceMean, ReduceSum) and Softmax. */
#include <math.h>

#include "cpu.h"
#include "ops.h"

enum red_kind { R_SUM, R_MEAN, R_MAX };

static enum nr_status reduce(OP_ARGS, enum red_kind kind) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    if (a->dtype == NR_NN_BOOL)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "bool input");
    int r = a->ndim;
    int64_t axes[NR_NN_MAX_DIMS];
    size_t na = 0;
    if (n_in > 1 && in[1]) {
        if (nr__read_ints(in[1], axes, NR_NN_MAX_DIMS, &na) < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axes tensor");
    } else {
        const struct nr__nn_attr *aa = nr__nn_attr(n, "axes");
        if (aa && aa->type == NR__ATTR_INTS) {
            if (aa->n > NR_NN_MAX_DIMS)
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "too many axes");
            memcpy(axes, aa->ints, aa->n * sizeof *axes);
            na = aa->n;
        }
    }
    int keep = (int)nr__nn_attr_int(n, "keepdims", 1);
    unsigned char red[NR_NN_MAX_DIMS] = {0};
    if (na == 0) {
        if (nr__nn_attr_int(n, "noop_with_empty_axes", 0)) {
            struct nr_nn_tensor *o = NULL;
            if ((st = nr__nn_alloc(x, a->dtype, r, a->dims, &o, err)) != NR_OK)
                return st;
            if (a->numel)
                memcpy(nr__tdata(o), nr__tdata(a), a->numel * nr_nn_dtype_size(a->dtype));
            out[0] = o;
            return NR_OK;
        }
        for (int d = 0; d < r; d++)
            red[d] = 1;
    }
    for (size_t i = 0; i < na; i++) {
        int d = nr__axis(axes[i], r);
        if (d < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis %lld", (long long)axes[i]);
        red[d] = 1;
    }
    int64_t odims[NR_NN_MAX_DIMS], full[NR_NN_MAX_DIMS], ost[NR_NN_MAX_DIMS];
    int orank = 0;
    size_t count = 1;
    for (int d = 0; d < r; d++) {
        full[d] = red[d] ? 1 : a->dims[d];
        if (red[d])
            count *= (size_t)a->dims[d];
        if (!red[d] || keep)
            odims[orank++] = full[d];
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, orank, odims, &o, err)) != NR_OK)
        return st;
    nr__strides(r, full, ost);
    for (int d = 0; d < r; d++)
        if (red[d])
            ost[d] = 0;
    /* initialise, then fold every input element into its output slot */
    for (size_t i = 0; i < o->numel; i++) {
        if (a->dtype == NR_NN_F32)
            nr__tf32(o)[i] = kind == R_MAX ? -INFINITY : 0.0f;
        else if (a->dtype == NR_NN_I64)
            nr__ti64(o)[i] = kind == R_MAX ? INT64_MIN : 0;
        else
            nr__ti32(o)[i] = kind == R_MAX ? INT32_MIN : 0;
    }
    int64_t idx[NR_NN_MAX_DIMS] = {0}, off = 0;
    int64_t inner = r ? a->dims[r - 1] : 1, si = r ? ost[r - 1] : 0;
    for (size_t i = 0; i < a->numel; i += (size_t)inner) {
        if (a->dtype == NR_NN_F32) {
            const float *p = nr__tf32(a) + i;
            float *q = nr__tf32(o) + off;
            if (kind == R_MAX) {
                for (int64_t j = 0; j < inner; j++)
                    q[j * si] = p[j] > q[j * si] ? p[j] : q[j * si];
            } else if (si == 0) {
                float acc = q[0];
                for (int64_t j = 0; j < inner; j++)
                    acc += p[j];
                q[0] = acc;
            } else {
                for (int64_t j = 0; j < inner; j++)
                    q[j] += p[j];
            }
        } else {
            for (int64_t j = 0; j < inner; j++) {
                int64_t v = nr__int_at(a, i + (size_t)j), cur;
                size_t oi = (size_t)(off + j * si);
                cur = a->dtype == NR_NN_I64 ? nr__ti64(o)[oi] : nr__ti32(o)[oi];
                cur = kind == R_MAX ? (v > cur ? v : cur) : (int64_t)((uint64_t)cur + (uint64_t)v);
                if (a->dtype == NR_NN_I64)
                    nr__ti64(o)[oi] = cur;
                else
                    nr__ti32(o)[oi] = (int32_t)cur;
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            off += ost[d];
            if (++idx[d] < a->dims[d])
                break;
            off -= ost[d] * a->dims[d];
            idx[d] = 0;
        }
    }
    if (kind == R_MEAN && count > 0) {
        for (size_t i = 0; i < o->numel; i++) {
            if (a->dtype == NR_NN_F32)
                nr__tf32(o)[i] /= (float)count;
            else if (a->dtype == NR_NN_I64)
                nr__ti64(o)[i] /= (int64_t)count;
            else
                nr__ti32(o)[i] /= (int32_t)count;
        }
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_reduce_sum(OP_ARGS) {
    return reduce(x, n, in, n_in, out, n_out, err, R_SUM);
}
enum nr_status nr__op_reduce_mean(OP_ARGS) {
    return reduce(x, n, in, n_in, out, n_out, err, R_MEAN);
}
enum nr_status nr__op_reduce_max(OP_ARGS) {
    return reduce(x, n, in, n_in, out, n_out, err, R_MAX);
}

enum nr_status nr__op_softmax(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    if (a->dtype != NR_NN_F32)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "dtype %s", nr_nn_dtype_name(a->dtype));
    int legacy = x->opset < 13;
    int ax = nr__axis(nr__nn_attr_int(n, "axis", legacy ? 1 : -1), a->ndim ? a->ndim : 1);
    if (ax < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis");
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (d < ax)
            outer *= a->dims[d];
        else if (d == ax || legacy)
            len *= a->dims[d];
        else
            inner *= a->dims[d];
    }
    struct nr_nn_tensor *o = nr__nn_take_input(x, in, 0);
    if (!o && (st = nr__nn_alloc(x, a->dtype, a->ndim, a->dims, &o, err)) != NR_OK)
        return st;
    const float *p = nr__tf32(a);
    float *q = nr__tf32(o);
    for (int64_t ob = 0; ob < outer; ob++)
        for (int64_t ib = 0; ib < inner; ib++) {
            size_t base = (size_t)(ob * len * inner + ib);
            float mx = -INFINITY;
            for (int64_t j = 0; j < len; j++)
                mx = p[base + (size_t)(j * inner)] > mx ? p[base + (size_t)(j * inner)] : mx;
            float sum = 0;
            for (int64_t j = 0; j < len; j++) {
                float e = expf(p[base + (size_t)(j * inner)] - mx);
                q[base + (size_t)(j * inner)] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            for (int64_t j = 0; j < len; j++)
                q[base + (size_t)(j * inner)] *= inv;
        }
    out[0] = o;
    return NR_OK;
}
