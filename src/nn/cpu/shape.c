/* Shape kernels: Shape, Reshape, Squeeze, Unsqueeze (views of their input,
 * no copy), Expand, Constant, ConstantOfShape, Range, NonZero, CumSum. */
#include <math.h>

#include "cpu.h"
#include "ops.h"

enum nr_status nr__op_shape(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    int r = in[0]->ndim;
    int64_t start = nr__nn_attr_int(n, "start", 0), end = nr__nn_attr_int(n, "end", r);
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t len = end > start ? end - start : 0;
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, NR_NN_I64, 1, &len, &o, err)) != NR_OK)
        return st;
    for (int64_t i = 0; i < len; i++)
        nr__ti64(o)[i] = in[0]->dims[start + i];
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_reshape(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int64_t dims[NR_NN_MAX_DIMS];
    size_t r;
    if (nr__read_ints(in[1], dims, NR_NN_MAX_DIMS, &r) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad shape tensor");
    int allow_zero = (int)nr__nn_attr_int(n, "allowzero", 0);
    int infer = -1;
    size_t known = 1;
    for (size_t i = 0; i < r; i++) {
        if (dims[i] == 0 && !allow_zero) {
            if ((int)i >= a->ndim)
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "0 at dim %zu past input rank", i);
            dims[i] = a->dims[i];
        }
        if (dims[i] == -1) {
            if (infer >= 0)
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "two -1 dims");
            infer = (int)i;
            continue;
        }
        if (dims[i] < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "negative dim");
        if (dims[i] != 0 && known > SIZE_MAX / 2 / (size_t)dims[i])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "shape too large");
        known *= (size_t)dims[i];
    }
    if (infer >= 0) {
        if (known == 0 || a->numel % known)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "cannot infer the -1 dim");
        dims[infer] = (int64_t)(a->numel / known);
    } else if (known != a->numel) {
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "%zu elements do not fit the new shape",
                          a->numel);
    }
    return nr__nn_tensor_view(a, (int)r, dims, &out[0], err);
}

/* Axes from input k (opset >= 13) or the "axes" attribute; count 0 when absent. */
static enum nr_status get_axes(const struct nr__nn_node *n, struct nr_nn_tensor *const *in,
                               size_t n_in, size_t k, int64_t *axes, size_t *count,
                               struct nr_err *err) {
    *count = 0;
    if (n_in > k && in[k]) {
        if (nr__read_ints(in[k], axes, NR_NN_MAX_DIMS, count) < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axes tensor");
        return NR_OK;
    }
    const struct nr__nn_attr *a = nr__nn_attr(n, "axes");
    if (a && a->type == NR__ATTR_INTS) {
        if (a->n > NR_NN_MAX_DIMS)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "too many axes");
        memcpy(axes, a->ints, a->n * sizeof *axes);
        *count = a->n;
    }
    return NR_OK;
}

enum nr_status nr__op_squeeze(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int64_t axes[NR_NN_MAX_DIMS];
    size_t na;
    if ((st = get_axes(n, in, n_in, 1, axes, &na, err)) != NR_OK)
        return st;
    unsigned char drop[NR_NN_MAX_DIMS] = {0};
    for (size_t i = 0; i < na; i++) {
        int ax = nr__axis(axes[i], a->ndim);
        if (ax < 0 || a->dims[ax] != 1)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "axis %lld is not a 1-dim",
                              (long long)axes[i]);
        drop[ax] = 1;
    }
    int64_t dims[NR_NN_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < a->ndim; i++)
        if (!(na ? drop[i] : a->dims[i] == 1))
            dims[r++] = a->dims[i];
    return nr__nn_tensor_view(a, r, dims, &out[0], err);
}

enum nr_status nr__op_unsqueeze(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int64_t axes[NR_NN_MAX_DIMS];
    size_t na;
    if ((st = get_axes(n, in, n_in, 1, axes, &na, err)) != NR_OK)
        return st;
    int r = a->ndim + (int)na;
    if (r > NR_NN_MAX_DIMS)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "more than 8 dims");
    unsigned char ins[NR_NN_MAX_DIMS] = {0};
    for (size_t i = 0; i < na; i++) {
        int ax = nr__axis(axes[i], r);
        if (ax < 0 || ins[ax])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis %lld", (long long)axes[i]);
        ins[ax] = 1;
    }
    int64_t dims[NR_NN_MAX_DIMS];
    for (int i = 0, j = 0; i < r; i++)
        dims[i] = ins[i] ? 1 : a->dims[j++];
    return nr__nn_tensor_view(a, r, dims, &out[0], err);
}

enum nr_status nr__op_expand(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int64_t shape[NR_NN_MAX_DIMS], dims[NR_NN_MAX_DIMS];
    size_t ns;
    int rank;
    if (nr__read_ints(in[1], shape, NR_NN_MAX_DIMS, &ns) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad shape tensor");
    if (nr__broadcast_shape(a->ndim, a->dims, (int)ns, shape, &rank, dims) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "shape does not broadcast");
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, rank, dims, &o, err)) != NR_OK)
        return st;
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t sa[NR_NN_MAX_DIMS], idx[NR_NN_MAX_DIMS] = {0};
    nr__broadcast_strides(a, rank, dims, sa);
    const char *src = nr__tdata(a);
    char *dst = nr__tdata(o);
    int64_t inner = rank ? dims[rank - 1] : 1, s_in = rank ? sa[rank - 1] : 0;
    int64_t off = 0;
    for (size_t i = 0; i < o->numel; i += (size_t)inner) {
        if (s_in == 1) {
            memcpy(dst + i * es, src + off * (int64_t)es, (size_t)inner * es);
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + (i + (size_t)j) * es, src + (off + j * s_in) * (int64_t)es, es);
        }
        for (int d = rank - 2; d >= 0; d--) {
            off += sa[d];
            if (++idx[d] < dims[d])
                break;
            off -= sa[d] * dims[d];
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_constant(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 0, 0, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr__nn_attr *a;
    if ((a = nr__nn_attr(n, "value")) && a->type == NR__ATTR_TENSOR)
        return nr__nn_tensor_view(a->t, a->t->ndim, a->t->dims, &out[0], err);
    struct nr_nn_tensor *o;
    int64_t len;
    if ((a = nr__nn_attr(n, "value_float")) && a->type == NR__ATTR_FLOAT) {
        if ((st = nr__nn_alloc(x, NR_NN_F32, 0, NULL, &o, err)) == NR_OK)
            nr__tf32(o)[0] = a->f;
    } else if ((a = nr__nn_attr(n, "value_int")) && a->type == NR__ATTR_INT) {
        if ((st = nr__nn_alloc(x, NR_NN_I64, 0, NULL, &o, err)) == NR_OK)
            nr__ti64(o)[0] = a->i;
    } else if ((a = nr__nn_attr(n, "value_floats")) && a->type == NR__ATTR_FLOATS) {
        len = (int64_t)a->n;
        if ((st = nr__nn_alloc(x, NR_NN_F32, 1, &len, &o, err)) == NR_OK && a->n)
            memcpy(nr__tf32(o), a->floats, a->n * sizeof(float));
    } else if ((a = nr__nn_attr(n, "value_ints")) && a->type == NR__ATTR_INTS) {
        len = (int64_t)a->n;
        if ((st = nr__nn_alloc(x, NR_NN_I64, 1, &len, &o, err)) == NR_OK && a->n)
            memcpy(nr__ti64(o), a->ints, a->n * sizeof(int64_t));
    } else {
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "no supported value attribute");
    }
    if (st == NR_OK)
        out[0] = o;
    return st;
}

enum nr_status nr__op_constant_of_shape(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    int64_t dims[NR_NN_MAX_DIMS];
    size_t r;
    if (nr__read_ints(in[0], dims, NR_NN_MAX_DIMS, &r) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad shape tensor");
    const struct nr__nn_attr *a = nr__nn_attr(n, "value");
    enum nr_nn_dtype dt = NR_NN_F32;
    const void *val = NULL;
    if (a) {
        if (a->type != NR__ATTR_TENSOR || a->t->numel != 1)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "value must be a 1-element tensor");
        dt = a->t->dtype;
        val = nr__tdata(a->t);
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, dt, (int)r, dims, &o, err)) != NR_OK)
        return st;
    size_t es = nr_nn_dtype_size(dt);
    char *p = nr__tdata(o);
    if (!val && o->numel)
        memset(p, 0, o->numel * es);
    else
        for (size_t i = 0; i < o->numel; i++)
            memcpy(p + i * es, val, es);
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_range(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 3, 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    enum nr_nn_dtype dt = in[0]->dtype;
    for (int i = 0; i < 3; i++)
        if (in[i]->numel != 1 || in[i]->dtype != dt || dt == NR_NN_BOOL)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "inputs must be scalars of one type");
    double start, limit, delta;
    if (dt == NR_NN_F32) {
        start = nr__tf32(in[0])[0];
        limit = nr__tf32(in[1])[0];
        delta = nr__tf32(in[2])[0];
    } else {
        start = (double)nr__int_at(in[0], 0);
        limit = (double)nr__int_at(in[1], 0);
        delta = (double)nr__int_at(in[2], 0);
    }
    double cnt = delta != 0 ? ceil((limit - start) / delta) : -1;
    if (!(cnt >= -1e18 && cnt <= 1e12))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad range");
    int64_t len = cnt > 0 ? (int64_t)cnt : 0;
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, dt, 1, &len, &o, err)) != NR_OK)
        return st;
    for (int64_t i = 0; i < len; i++) {
        if (dt == NR_NN_F32)
            nr__tf32(o)[i] = nr__tf32(in[0])[0] + (float)i * nr__tf32(in[2])[0];
        else if (dt == NR_NN_I64)
            nr__ti64(o)[i] = nr__ti64(in[0])[0] + i * nr__ti64(in[2])[0];
        else
            nr__ti32(o)[i] = (int32_t)(nr__ti32(in[0])[0] + i * nr__ti32(in[2])[0]);
    }
    out[0] = o;
    return NR_OK;
}

static int is_nonzero(const struct nr_nn_tensor *t, size_t i) {
    return t->dtype == NR_NN_F32 ? nr__tf32(t)[i] != 0.0f : nr__int_at(t, i) != 0;
}

enum nr_status nr__op_non_zero(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    size_t nnz = 0;
    for (size_t i = 0; i < a->numel; i++)
        nnz += is_nonzero(a, i);
    int r = a->ndim ? a->ndim : 1;
    int64_t dims[2] = {r, (int64_t)nnz};
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, NR_NN_I64, 2, dims, &o, err)) != NR_OK)
        return st;
    int64_t idx[NR_NN_MAX_DIMS] = {0};
    int64_t *p = nr__ti64(o);
    size_t k = 0;
    for (size_t i = 0; i < a->numel; i++) {
        if (is_nonzero(a, i)) {
            for (int d = 0; d < r; d++)
                p[(size_t)d * nnz + k] = a->ndim ? idx[d] : 0;
            k++;
        }
        for (int d = a->ndim - 1; d >= 0; d--) {
            if (++idx[d] < a->dims[d])
                break;
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_cumsum(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    if (in[1]->numel != 1 || (in[1]->dtype != NR_NN_I64 && in[1]->dtype != NR_NN_I32))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "axis must be an integer scalar");
    int ax = nr__axis(nr__int_at(in[1], 0), a->ndim);
    if (ax < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis");
    if (a->dtype == NR_NN_BOOL)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "bool input");
    int excl = (int)nr__nn_attr_int(n, "exclusive", 0), rev = (int)nr__nn_attr_int(n, "reverse", 0);
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, a->ndim, a->dims, &o, err)) != NR_OK)
        return st;
    int64_t len = a->dims[ax], inner = 1, outer = 1;
    for (int d = ax + 1; d < a->ndim; d++)
        inner *= a->dims[d];
    for (int d = 0; d < ax; d++)
        outer *= a->dims[d];
    for (int64_t ob = 0; ob < outer; ob++)
        for (int64_t ib = 0; ib < inner; ib++) {
            float accd = 0;
            int64_t acci = 0;
            for (int64_t j = 0; j < len; j++) {
                int64_t jj = rev ? len - 1 - j : j;
                size_t i = (size_t)((ob * len + jj) * inner + ib);
                if (a->dtype == NR_NN_F32) {
                    float v = nr__tf32(a)[i];
                    if (!excl)
                        accd += v;
                    nr__tf32(o)[i] = accd;
                    if (excl)
                        accd += v;
                } else {
                    int64_t v = nr__int_at(a, i);
                    if (!excl)
                        acci = (int64_t)((uint64_t)acci + (uint64_t)v);
                    if (a->dtype == NR_NN_I64)
                        nr__ti64(o)[i] = acci;
                    else
                        nr__ti32(o)[i] = (int32_t)acci;
                    if (excl)
                        acci = (int64_t)((uint64_t)acci + (uint64_t)v);
                }
            }
        }
    out[0] = o;
    return NR_OK;
}
