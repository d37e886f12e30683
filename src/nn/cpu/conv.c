/* MatMul, Conv and ConvTranspose through cblas_sgemm.
 *
 * Conv: for each image and group, Y_g[M_g, P] = W_g[M_g, C_g*K] x col[C_g*K, P]
 * where col is the im2col matrix (P output positions); a 1x1 kernel with
 * stride 1 and no padding uses the input itself as col (no copy). Depthwise
 * convolutions (one input channel per group) run as direct shifted
 * multiply-adds, which beat a GEMM of one row.
 * ConvTranspose: col[M_g*K, P_in] = W_g^T x X_g, then col2im scatter-adds the
 * columns into the output. Bias is written first and the GEMM accumulates. */
#include <math.h>

#include "cpu.h"
#include "ops.h"

/* ---- MatMul ------------------------------------------------------------------ */

enum nr_status nr__op_matmul(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *b = in[1];
    if (a->dtype != NR_NN_F32 || b->dtype != NR_NN_F32)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "only float32 is supported");
    if (a->ndim < 1 || b->ndim < 1)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "scalar operand");
    /* 1-D operands are promoted: a to [1, K], b to [K, 1], and the added dim removed after. */
    int64_t ad[NR_NN_MAX_DIMS], bd[NR_NN_MAX_DIMS];
    int ar = a->ndim, br = b->ndim;
    memcpy(ad, a->dims, sizeof ad);
    memcpy(bd, b->dims, sizeof bd);
    if (ar == 1) {
        ad[1] = ad[0];
        ad[0] = 1;
        ar = 2;
    }
    if (br == 1) {
        bd[1] = 1;
        br = 2;
    }
    int64_t M = ad[ar - 2], K = ad[ar - 1], N = bd[br - 1];
    if (bd[br - 2] != K)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "inner dims differ (%lld vs %lld)",
                          (long long)K, (long long)bd[br - 2]);
    int brank;
    int64_t bdims[NR_NN_MAX_DIMS];
    if (nr__broadcast_shape(ar - 2, ad, br - 2, bd, &brank, bdims) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "batch dims do not broadcast");
    int64_t odims[NR_NN_MAX_DIMS];
    int orank = 0;
    for (int d = 0; d < brank; d++)
        odims[orank++] = bdims[d];
    if (a->ndim > 1)
        odims[orank++] = M;
    if (b->ndim > 1)
        odims[orank++] = N;
    if (orank > NR_NN_MAX_DIMS)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "more than 8 dims");
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "matrix too large");
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, NR_NN_F32, orank, odims, &o, err)) != NR_OK)
        return st;
    size_t batch = nr__nn_numel(brank, bdims);
    const float *pa = nr__tf32(a), *pb = nr__tf32(b);
    float *po = nr__tf32(o);
    if (o->numel == 0 || K == 0) { /* K == 0: a sum over nothing */
        if (o->numel)
            memset(po, 0, o->numel * sizeof *po);
        out[0] = o;
        return NR_OK;
    }
    /* b shared by every batch and a contiguous: one GEMM over all rows */
    size_t b_batch = nr__nn_numel(br - 2, bd);
    size_t a_batch = nr__nn_numel(ar - 2, ad);
    if (b_batch == 1 && a_batch == batch) {
        int64_t rows = (int64_t)batch * M;
        if (rows <= INT32_MAX) {
            nr__sgemm(0, 0, (int)rows, (int)N, (int)K, 1.0f, pa, (int)K, pb, (int)N, 0.0f, po,
                      (int)N);
            out[0] = o;
            return NR_OK;
        }
    }
    /* general: one GEMM per broadcast batch */
    int64_t sa[NR_NN_MAX_DIMS], sb[NR_NN_MAX_DIMS], idx[NR_NN_MAX_DIMS] = {0};
    struct nr_nn_tensor va = {.ndim = ar - 2}, vb = {.ndim = br - 2};
    memcpy(va.dims, ad, sizeof va.dims);
    memcpy(vb.dims, bd, sizeof vb.dims);
    nr__broadcast_strides(&va, brank, bdims, sa);
    nr__broadcast_strides(&vb, brank, bdims, sb);
    int64_t oa = 0, ob = 0;
    for (size_t i = 0; i < batch; i++) {
        nr__sgemm(0, 0, (int)M, (int)N, (int)K, 1.0f, pa + oa * M * K, (int)K, pb + ob * K * N,
                  (int)N, 0.0f, po + (int64_t)i * M * N, (int)N);
        for (int d = brank - 1; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < bdims[d])
                break;
            oa -= sa[d] * bdims[d];
            ob -= sb[d] * bdims[d];
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}

/* ---- shared convolution geometry ---------------------------------------------- */

#define MAX_SP 3 /* spatial dims supported */

struct geom {
    int sp;                 /* spatial rank */
    int64_t n, c, m, group; /* batch, input channels, output channels, groups */
    int64_t in[MAX_SP], k[MAX_SP], out[MAX_SP];
    int64_t stride[MAX_SP], dil[MAX_SP], pad_b[MAX_SP], pad_e[MAX_SP];
    int64_t in_sz, k_sz, out_sz; /* products */
};

static int attr_ints(const struct nr__nn_node *n, const char *name, int64_t *dst, int count,
                     int64_t def) {
    const struct nr__nn_attr *a = nr__nn_attr(n, name);
    for (int i = 0; i < count; i++)
        dst[i] = def;
    if (!a || a->type != NR__ATTR_INTS || a->n == 0)
        return 0;
    if ((int)a->n != count)
        return -1;
    for (int i = 0; i < count; i++)
        dst[i] = a->ints[i];
    return 0;
}

/* Reads strides, dilations, pads and auto_pad; in/k must be filled. For
 * ConvTranspose (is_t), out is computed from the transpose formula. */
static enum nr_status geom_attrs(const struct nr__nn_node *n, struct geom *g, int is_t,
                                 struct nr_err *err) {
    int sp = g->sp;
    int64_t pads[2 * MAX_SP], outpad[MAX_SP], oshape[MAX_SP];
    if (attr_ints(n, "strides", g->stride, sp, 1) < 0 ||
        attr_ints(n, "dilations", g->dil, sp, 1) < 0 || attr_ints(n, "pads", pads, 2 * sp, 0) < 0 ||
        attr_ints(n, "output_padding", outpad, sp, 0) < 0 ||
        attr_ints(n, "output_shape", oshape, sp, -1) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "attribute of the wrong length");
    const struct nr__nn_attr *ap = nr__nn_attr(n, "auto_pad");
    const char *auto_pad = ap && ap->type == NR__ATTR_STRING ? ap->s : "NOTSET";
    for (int i = 0; i < sp; i++) {
        if (g->stride[i] < 1 || g->dil[i] < 1 || g->stride[i] > 1 << 20 || g->dil[i] > 1 << 20 ||
            pads[i] < 0 || pads[sp + i] < 0 || pads[i] > 1 << 20 || pads[sp + i] > 1 << 20 ||
            outpad[i] < 0 || outpad[i] > 1 << 20)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad strides, dilations or pads");
        int64_t ek = (g->k[i] - 1) * g->dil[i] + 1; /* effective kernel extent */
        int same = strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0;
        int upper = strcmp(auto_pad, "SAME_UPPER") == 0;
        if (!is_t && same) {
            int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t total = (o - 1) * g->stride[i] + ek - g->in[i];
            total = total < 0 ? 0 : total;
            g->pad_b[i] = upper ? total / 2 : total - total / 2;
            g->pad_e[i] = total - g->pad_b[i];
        } else if (is_t && (oshape[i] >= 0 || same)) {
            /* ONNX: total padding from the wanted size; a negative total
             * grows the output at the end (like output_padding) */
            int64_t o = oshape[i] >= 0 ? oshape[i] : g->in[i] * g->stride[i];
            int64_t total = g->stride[i] * (g->in[i] - 1) + outpad[i] + ek - o;
            if (total < 0) {
                g->pad_b[i] = 0;
                g->pad_e[i] = total;
            } else {
                g->pad_b[i] = upper ? total / 2 : total - total / 2;
                g->pad_e[i] = total - g->pad_b[i];
            }
        } else if (strcmp(auto_pad, "VALID") == 0) {
            g->pad_b[i] = g->pad_e[i] = 0;
        } else if (strcmp(auto_pad, "NOTSET") == 0) {
            g->pad_b[i] = pads[i];
            g->pad_e[i] = pads[sp + i];
        } else {
            return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "auto_pad '%s'", auto_pad);
        }
        if (!is_t) {
            int64_t span = g->in[i] + g->pad_b[i] + g->pad_e[i] - ek;
            g->out[i] = span < 0 ? 0 : span / g->stride[i] + 1;
        } else {
            g->out[i] = g->stride[i] * (g->in[i] - 1) + outpad[i] + ek - g->pad_b[i] - g->pad_e[i];
            if (g->out[i] < 0)
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "negative output size");
        }
    }
    g->in_sz = g->k_sz = g->out_sz = 1;
    for (int i = 0; i < sp; i++) {
        g->in_sz *= g->in[i];
        g->k_sz *= g->k[i];
        g->out_sz *= g->out[i];
    }
    return NR_OK;
}

/* Common input checks; fills n, c, in[], k[], sp. w_out_dim0 is W's dim 0
 * meaning (M for Conv, C for ConvTranspose). */
static enum nr_status geom_inputs(const struct nr__nn_node *n, struct nr_nn_tensor *const *in,
                                  size_t n_in, struct geom *g, struct nr_err *err) {
    const struct nr_nn_tensor *X = in[0], *W = in[1];
    if (X->dtype != NR_NN_F32 || W->dtype != NR_NN_F32 ||
        (n_in > 2 && in[2] && in[2]->dtype != NR_NN_F32))
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "only float32 is supported");
    if (X->ndim < 3 || X->ndim > 2 + MAX_SP || W->ndim != X->ndim)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "input rank %d", X->ndim);
    memset(g, 0, sizeof *g);
    g->sp = X->ndim - 2;
    g->n = X->dims[0];
    g->c = X->dims[1];
    g->group = nr__nn_attr_int(n, "group", 1);
    if (g->group < 1 || g->c % g->group)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad group");
    int64_t ks[MAX_SP];
    if (attr_ints(n, "kernel_shape", ks, g->sp, -1) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad kernel_shape");
    for (int i = 0; i < g->sp; i++) {
        g->in[i] = X->dims[2 + i];
        g->k[i] = W->dims[2 + i];
        if (ks[i] >= 0 && ks[i] != g->k[i])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "kernel_shape differs from weights");
        if (g->k[i] < 1)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "empty kernel");
    }
    return NR_OK;
}

/* col[(c*K + k), p] for one group of one image (x points at channel 0 of the group). */
static void im2col(const float *x, const struct geom *g, int64_t cg, float *col) {
    int64_t P = g->out_sz, K = g->k_sz;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t kk = 0; kk < K; kk++) {
            int64_t ki[MAX_SP] = {0}, rem = kk;
            for (int i = g->sp - 1; i >= 0; i--) {
                ki[i] = rem % g->k[i];
                rem /= g->k[i];
            }
            float *dst = col + (c * K + kk) * P;
            const float *src = x + c * g->in_sz;
            if (g->sp == 1) {
                int64_t off = ki[0] * g->dil[0] - g->pad_b[0], s = g->stride[0];
                for (int64_t p = 0; p < P; p++) {
                    int64_t t = p * s + off;
                    dst[p] = t >= 0 && t < g->in[0] ? src[t] : 0.0f;
                }
                continue;
            }
            int64_t oi[MAX_SP] = {0};
            for (int64_t p = 0; p < P; p++) {
                int64_t off = 0, ok = 1;
                for (int i = 0; i < g->sp; i++) {
                    int64_t t = oi[i] * g->stride[i] + ki[i] * g->dil[i] - g->pad_b[i];
                    if (t < 0 || t >= g->in[i])
                        ok = 0;
                    off = off * g->in[i] + t;
                }
                dst[p] = ok ? src[off] : 0.0f;
                for (int i = g->sp - 1; i >= 0; i--) {
                    if (++oi[i] < g->out[i])
                        break;
                    oi[i] = 0;
                }
            }
        }
}

/* Depthwise 1-D: y[t] = sum_k w[k] x[t*s + k*d - pad], one channel. */
static void depthwise1d(const float *xc, const float *w, const struct geom *g, float *y) {
    int64_t T = g->out[0], L = g->in[0], s = g->stride[0];
    for (int64_t kk = 0; kk < g->k[0]; kk++) {
        int64_t off = kk * g->dil[0] - g->pad_b[0];
        /* valid t: 0 <= t*s + off < L */
        int64_t t0 = off >= 0 ? 0 : (-off + s - 1) / s;
        int64_t t1 = L - off <= 0 ? 0 : (L - off - 1) / s + 1;
        if (t1 > T)
            t1 = T;
        float wk = w[kk];
        if (s == 1) {
            const float *src = xc + off;
            for (int64_t t = t0; t < t1; t++)
                y[t] += wk * src[t];
        } else {
            for (int64_t t = t0; t < t1; t++)
                y[t] += wk * xc[t * s + off];
        }
    }
}

/* LeakyRelu fused in front of a convolution (see fuse_pre_activation in
 * model.c): applied while the input is copied anyway. */
static void pre_act(const float *restrict src, float *restrict dst, int64_t n, float alpha) {
    /* branch-free so that it vectorizes: max(v, 0) + alpha * min(v, 0) */
    for (int64_t i = 0; i < n; i++) {
        float v = src[i];
        dst[i] = (v > 0.0f ? v : 0.0f) + alpha * (v < 0.0f ? v : 0.0f);
    }
}

struct conv_job {
    const struct geom *g;
    int64_t cg, mg;
    float alpha;
    int pre;
};

/* Output columns per block of the blocked 1-D im2col: the block's column
 * matrix [C_g*K, tb] stays near 512 KiB so it is still in cache when the
 * GEMM reads it, and the GEMM keeps a large inner dimension C_g*K. (One GEMM
 * per kernel tap on shifted views avoids the copy but re-reads and rewrites
 * the output K times, which is memory-bound for few channels.) */
static int64_t block_cols(int64_t rows, int64_t total, int workers) {
    int64_t tb = (int64_t)(256 * 1024 / 4) / (rows > 0 ? rows : 1);
    /* with several threads, at least two blocks per thread when possible */
    if (workers > 1) {
        int64_t even = (total + 2 * workers - 1) / (2 * workers);
        tb = even < tb ? even : tb;
    }
    tb = tb < 64 ? 64 : (tb + 15) / 16 * 16;
    return tb > total ? (total > 0 ? total : 1) : tb;
}

/* Input positions one column block of a 1-D convolution reads. */
static int64_t block_span(const struct geom *g, int64_t tb) {
    return (tb - 1) * g->stride[0] + (g->k[0] - 1) * g->dil[0] + 1;
}

/* col[c*K + k, tt] = act(x[c, (t0 + tt)*s + k*d - pad]) for tt < tb, zero
 * outside the input. Each channel's span is first copied (activated, zero
 * padded) into row, so the K taps are plain copies from a row in cache. */
static void im2col1d_block(const struct conv_job *j, const float *xg, int64_t t0, int64_t tb,
                           float *col, float *row) {
    const struct geom *g = j->g;
    int64_t L = g->in[0], s = g->stride[0], K = g->k[0], d = g->dil[0];
    int64_t start = t0 * s - g->pad_b[0], span = block_span(g, tb);
    /* valid u in [0, span): 0 <= start + u < L */
    int64_t lo = start >= 0 ? 0 : -start, hi = L - start;
    lo = lo > span ? span : lo;
    hi = hi > span ? span : hi < lo ? lo : hi;
    for (int64_t c = 0; c < j->cg; c++) {
        const float *src = xg + c * L + start;
        memset(row, 0, (size_t)lo * sizeof *row);
        if (j->pre)
            pre_act(src + lo, row + lo, hi - lo, j->alpha);
        else
            memcpy(row + lo, src + lo, (size_t)(hi - lo) * sizeof *row);
        memset(row + hi, 0, (size_t)(span - hi) * sizeof *row);
        for (int64_t k = 0; k < K; k++) {
            float *dst = col + (c * K + k) * tb;
            if (s == 1) {
                memcpy(dst, row + k * d, (size_t)tb * sizeof *dst);
            } else {
                for (int64_t tt = 0; tt < tb; tt++)
                    dst[tt] = row[k * d + tt * s];
            }
        }
    }
}

/* One Conv call split into tasks for the thread pool. */
struct conv_run {
    struct conv_job j;
    const float *x, *w, *b;
    float *y;
    int64_t ck, tb, nblk;
    int mode;       /* 0 blocked im2col (1-D), 1 direct (1x1), 2 depthwise (1-D) */
    float *scratch; /* per_worker floats for each worker */
    size_t per_worker;
    const float *res; /* fused residual of the output's shape, or NULL */
    int res_in_place; /* the output is the residual's buffer */
};

/* Starts n output values: bias, plus the fused residual when there is one. */
static void start_out(float *y, const float *res, int in_place, float bv, int64_t n) {
    if (in_place) {
        for (int64_t t = 0; t < n; t++)
            y[t] += bv;
    } else if (res) {
        for (int64_t t = 0; t < n; t++)
            y[t] = bv + res[t];
    } else {
        for (int64_t t = 0; t < n; t++)
            y[t] = bv;
    }
}

/* Task i: depthwise: channel i of all images; else (image, group, block of
 * output columns). Each writes its own part of y, bias first. */
static void conv_task(void *ctx, int64_t i, int worker) {
    const struct conv_run *r = ctx;
    const struct geom *g = r->j.g;
    /* no scratch (direct, plain depthwise): no pointer arithmetic on NULL */
    float *ws = r->scratch ? r->scratch + (size_t)worker * r->per_worker : NULL;
    if (r->mode == 2) {
        int64_t c = i % g->c;
        const float *xc = r->x + i * g->in_sz;
        float *yc = r->y + i * g->out_sz, bv = r->b ? r->b[c] : 0.0f;
        start_out(yc, r->res ? r->res + i * g->out_sz : NULL, r->res_in_place, bv, g->out_sz);
        if (r->j.pre) {
            pre_act(xc, ws, g->in_sz, r->j.alpha);
            xc = ws;
        }
        depthwise1d(xc, r->w + c * g->k[0], g, yc);
        return;
    }
    int64_t blk = i % r->nblk, rest = i / r->nblk, gr = rest % g->group, im = rest / g->group;
    int64_t t0 = blk * r->tb, nb = g->out_sz - t0 < r->tb ? g->out_sz - t0 : r->tb;
    const float *xg = r->x + (im * g->c + gr * r->j.cg) * g->in_sz;
    float *yg = r->y + (im * g->m + gr * r->j.mg) * g->out_sz;
    const float *wg = r->w + gr * r->j.mg * r->ck;
    for (int64_t m = 0; m < r->j.mg; m++) {
        float bv = r->b ? r->b[gr * r->j.mg + m] : 0.0f, *yr = yg + m * g->out_sz + t0;
        start_out(yr, r->res ? r->res + (yr - r->y) : NULL, r->res_in_place, bv, nb);
    }
    if (r->mode == 1) {
        nr__sgemm(0, 0, (int)r->j.mg, (int)nb, (int)r->ck, 1.0f, wg, (int)r->ck, xg + t0,
                  (int)g->in_sz, 1.0f, yg + t0, (int)g->out_sz);
        return;
    }
    im2col1d_block(&r->j, xg, t0, nb, ws, ws + r->ck * r->tb);
    nr__sgemm(0, 0, (int)r->j.mg, (int)nb, (int)r->ck, 1.0f, wg, (int)r->ck, ws, (int)nb, 1.0f,
              yg + t0, (int)g->out_sz);
}

/* Hands o out, adding res first when the fused residual could not go into
 * the output's first write (another shape: a broadcasting Add after all). */
static enum nr_status finish(struct nr__nn_exec *x, const struct nr__nn_node *n,
                             struct nr_nn_tensor *o, struct nr_nn_tensor *res,
                             struct nr_nn_tensor **out, struct nr_err *err) {
    if (!res) {
        out[0] = o;
        return NR_OK;
    }
    struct nr_nn_tensor *pair[2] = {o, res}, *sum = NULL;
    const unsigned char *reuse = x->can_reuse;
    x->can_reuse = NULL;
    enum nr_status st = nr__op_add(x, n, pair, 2, &sum, 1, err);
    x->can_reuse = reuse;
    nr__nn_release(o);
    if (st != NR_OK)
        return st;
    out[0] = sum;
    return NR_OK;
}

/* The Conv itself. res (may be NULL) is added to the output; when it has
 * the output's shape it goes into the output's first write, and when the
 * executor allows, the output is written into res's own buffer. */
static enum nr_status conv_impl(OP_ARGS, struct nr_nn_tensor *res, size_t res_index) {
    enum nr_status st;
    struct geom g;
    if ((st = geom_inputs(n, in, n_in, &g, err)) != NR_OK)
        return st;
    const struct nr_nn_tensor *X = in[0], *W = in[1], *B = n_in > 2 ? in[2] : NULL;
    g.m = W->dims[0];
    int64_t cg = g.c / g.group;
    if (W->dims[1] != cg || g.m % g.group)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "weights do not match the input");
    if (B && (B->ndim != 1 || B->dims[0] != g.m))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bias does not match the weights");
    if ((st = geom_attrs(n, &g, 0, err)) != NR_OK)
        return st;
    int64_t mg = g.m / g.group, ck = cg * g.k_sz;
    if (ck > INT32_MAX || g.out_sz > INT32_MAX || mg > INT32_MAX)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "convolution too large");
    int64_t odims[2 + MAX_SP] = {g.n, g.m};
    for (int i = 0; i < g.sp; i++)
        odims[2 + i] = g.out[i];
    int same = res && res->dtype == NR_NN_F32 && res->ndim == 2 + g.sp;
    for (int i = 0; same && i < 2 + g.sp; i++)
        same = res->dims[i] == odims[i];
    struct nr_nn_tensor *o = same ? nr__nn_take_input(x, in, res_index) : NULL;
    int in_place = o != NULL;
    if (!o && (st = nr__nn_alloc(x, NR_NN_F32, 2 + g.sp, odims, &o, err)) != NR_OK)
        return st;
    float *y = nr__tf32(o);
    const float *rp = same && !in_place ? nr__tf32(res) : NULL;
    const float *xp = nr__tf32(X), *w = nr__tf32(W), *b = B ? nr__tf32(B) : NULL;
    int depthwise = cg == 1 && mg == 1 && g.sp == 1;
    int direct = !n->has_pre_act;
    for (int i = 0; i < g.sp; i++)
        direct = direct && g.k[i] == 1 && g.stride[i] == 1 && g.pad_b[i] == 0 && g.pad_e[i] == 0;
    int blocked = !depthwise && !direct && g.sp == 1;
    int general = !depthwise && !direct && !blocked;
    /* an empty input (a zero dim, or no channels) gives the bias alone */
    int empty = X->numel == 0 || ck == 0;
    if ((general || empty) && o->numel) /* the other paths write the bias block by block */
        for (int64_t i = 0; i < g.n * g.m; i++)
            start_out(y + i * g.out_sz, rp ? rp + i * g.out_sz : NULL, in_place,
                      b ? b[i % g.m] : 0.0f, g.out_sz);
    if (o->numel == 0 || empty)
        return finish(x, n, o, res && !same ? res : NULL, out, err);
    int workers = nr__workers(x);
    struct conv_run r = {
        .j = {.g = &g, .cg = cg, .mg = mg, .alpha = n->pre_alpha, .pre = n->has_pre_act},
        .x = xp,
        .w = w,
        .b = b,
        .y = y,
        .ck = ck,
        .mode = depthwise ? 2
                : direct  ? 1
                          : 0,
        .res = rp,
        .res_in_place = in_place};
    if (!general) {
        r.tb = depthwise ? g.out_sz : block_cols(direct ? mg + ck : ck, g.out_sz, workers);
        r.nblk = (g.out_sz + r.tb - 1) / r.tb;
    }
    /* scratch per worker: a column block and one activated input span
     * (1-D), an activated channel (depthwise), nothing (direct); or the whole
     * im2col matrix plus the activated input (2-D, 3-D) */
    r.per_worker = blocked     ? (size_t)(ck * r.tb + block_span(&g, r.tb))
                   : depthwise ? (n->has_pre_act ? (size_t)g.in_sz : 0)
                   : direct    ? 0
                               : (size_t)(ck * g.out_sz + (n->has_pre_act ? cg * g.in_sz : 0));
    size_t xbytes = r.per_worker * (general ? 1 : (size_t)workers) * sizeof(float);
    float *xs = NULL;
    if ((st = nr__scratch(x, xbytes, (void **)&xs, err)) != NR_OK) {
        if (!in_place)
            nr__nn_release(o);
        return st;
    }
    r.scratch = xs;
    if (!general) {
        int64_t tasks = depthwise ? g.n * g.c : g.n * g.group * r.nblk;
        nr__parallel(x, tasks, conv_task, &r);
    } else {
        for (int64_t im = 0; im < g.n; im++)
            for (int64_t gr = 0; gr < g.group; gr++) {
                const float *xg = xp + (im * g.c + gr * cg) * g.in_sz;
                float *yg = y + (im * g.m + gr * mg) * g.out_sz;
                const float *wg = w + gr * mg * ck;
                float *col = xs;
                const float *xin = xg;
                if (n->has_pre_act) {
                    float *xa = xs + ck * g.out_sz;
                    pre_act(xg, xa, cg * g.in_sz, n->pre_alpha);
                    xin = xa;
                }
                im2col(xin, &g, cg, col);
                nr__sgemm(0, 0, (int)mg, (int)g.out_sz, (int)ck, 1.0f, wg, (int)ck, col,
                          (int)g.out_sz, 1.0f, yg, (int)g.out_sz);
            }
    }
    nr__scratch_free(x, xs, xbytes);
    return finish(x, n, o, res && !same ? res : NULL, out, err);
}

enum nr_status nr__op_conv(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, n->has_residual ? 4 : 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    if (!n->has_residual)
        return conv_impl(x, n, in, n_in, out, n_out, err, NULL, 0);
    /* a fused residual Add (model.c, fuse_residual) is input 3 */
    if (n_in != 4 || !in[3])
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "fused residual is missing");
    return conv_impl(x, n, in, 3, out, n_out, err, in[3], 3);
}

/* Adds col[(m*K + k), p] into y (one group of one image). */
static void col2im(const float *col, const struct geom *g, int64_t mg, float *y) {
    int64_t P = g->in_sz, K = g->k_sz;
    for (int64_t m = 0; m < mg; m++)
        for (int64_t kk = 0; kk < K; kk++) {
            int64_t ki[MAX_SP] = {0}, rem = kk;
            for (int i = g->sp - 1; i >= 0; i--) {
                ki[i] = rem % g->k[i];
                rem /= g->k[i];
            }
            const float *src = col + (m * K + kk) * P;
            float *dst = y + m * g->out_sz;
            if (g->sp == 1) {
                int64_t off = ki[0] * g->dil[0] - g->pad_b[0], s = g->stride[0];
                for (int64_t p = 0; p < P; p++) {
                    int64_t t = p * s + off;
                    if (t >= 0 && t < g->out[0])
                        dst[t] += src[p];
                }
                continue;
            }
            int64_t ii[MAX_SP] = {0};
            for (int64_t p = 0; p < P; p++) {
                int64_t off = 0, ok = 1;
                for (int i = 0; i < g->sp; i++) {
                    int64_t t = ii[i] * g->stride[i] + ki[i] * g->dil[i] - g->pad_b[i];
                    if (t < 0 || t >= g->out[i])
                        ok = 0;
                    off = off * g->out[i] + t;
                }
                if (ok)
                    dst[off] += src[p];
                for (int i = g->sp - 1; i >= 0; i--) {
                    if (++ii[i] < g->in[i])
                        break;
                    ii[i] = 0;
                }
            }
        }
}

/* y[m, (t0 + p)*s + k*d - pad] += col[m*K + k, p] for the input columns
 * t0 .. t0 + nb of a 1-D transposed convolution. */
static void col2im1d_block(const float *col, const struct geom *g, int64_t mg, int64_t t0,
                           int64_t nb, float *y) {
    int64_t K = g->k[0], s = g->stride[0], T = g->out[0];
    for (int64_t m = 0; m < mg; m++)
        for (int64_t k = 0; k < K; k++) {
            const float *src = col + (m * K + k) * nb;
            float *dst = y + m * T;
            int64_t off = t0 * s + k * g->dil[0] - g->pad_b[0];
            /* valid p: 0 <= p*s + off < T */
            int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
            int64_t hi = T - off <= 0 ? 0 : (T - off - 1) / s + 1;
            hi = hi > nb ? nb : hi;
            for (int64_t p = lo; p < hi; p++)
                dst[p * s + off] += src[p];
        }
}

/* One ConvTranspose call split into tasks. Block j of input columns adds
 * into outputs [t0*s - pad, (t0 + nb - 1)*s + (K-1)*d - pad], which can
 * overlap block j+1's but not block j+2's (tb*s > (K-1)*d), so even blocks
 * run in parallel first, then odd ones. */
struct convt_run {
    const struct geom *g;
    const float *x, *w;
    float *y;
    int64_t cg, mg, mk, tb, nblk;
    int pre, phase;
    float alpha;
    float *scratch;
    size_t per_worker;
};

static void convt_task(void *ctx, int64_t i, int worker) {
    const struct convt_run *r = ctx;
    const struct geom *g = r->g;
    int64_t half = (r->nblk + 1) / 2;
    int64_t blk = 2 * (i % half) + r->phase, rest = i / half;
    if (blk >= r->nblk)
        return;
    int64_t gr = rest % g->group, im = rest / g->group;
    int64_t t0 = blk * r->tb, nb = g->in_sz - t0 < r->tb ? g->in_sz - t0 : r->tb;
    float *col = r->scratch ? r->scratch + (size_t)worker * r->per_worker : NULL;
    const float *xg = r->x + (im * g->c + gr * r->cg) * g->in_sz;
    const float *wg = r->w + gr * r->cg * r->mk; /* [cg, mg*K] */
    float *yg = r->y + (im * g->m + gr * r->mg) * g->out_sz;
    const float *xb = xg + t0;
    int64_t ldx = g->in_sz;
    if (r->pre) {
        float *xa = col + r->mk * r->tb;
        for (int64_t c = 0; c < r->cg; c++)
            pre_act(xg + c * g->in_sz + t0, xa + c * nb, nb, r->alpha);
        xb = xa;
        ldx = nb;
    }
    nr__sgemm(1, 0, (int)r->mk, (int)nb, (int)r->cg, 1.0f, wg, (int)r->mk, xb, (int)ldx, 0.0f, col,
              (int)nb);
    if (g->sp == 1)
        col2im1d_block(col, g, r->mg, t0, nb, yg);
    else
        col2im(col, g, r->mg, yg);
}

enum nr_status nr__op_conv_transpose(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    struct geom g;
    if ((st = geom_inputs(n, in, n_in, &g, err)) != NR_OK)
        return st;
    const struct nr_nn_tensor *X = in[0], *W = in[1], *B = n_in > 2 ? in[2] : NULL;
    int64_t cg = g.c / g.group, mg = W->dims[1];
    g.m = mg * g.group;
    if (W->dims[0] != g.c)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "weights do not match the input");
    if (B && (B->ndim != 1 || B->dims[0] != g.m))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bias does not match the weights");
    if ((st = geom_attrs(n, &g, 1, err)) != NR_OK)
        return st;
    int64_t mk = mg * g.k_sz;
    if (mk > INT32_MAX || g.in_sz > INT32_MAX || cg > INT32_MAX)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "convolution too large");
    int64_t odims[2 + MAX_SP] = {g.n, g.m};
    for (int i = 0; i < g.sp; i++)
        odims[2 + i] = g.out[i];
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, NR_NN_F32, 2 + g.sp, odims, &o, err)) != NR_OK)
        return st;
    float *y = nr__tf32(o);
    const float *xp = nr__tf32(X), *w = nr__tf32(W), *b = B ? nr__tf32(B) : NULL;
    for (int64_t i = 0; i < g.n * g.m; i++) {
        float bv = b ? b[i % g.m] : 0.0f;
        for (int64_t p = 0; p < g.out_sz; p++)
            y[i * g.out_sz + p] = bv;
    }
    if (o->numel == 0 || g.in_sz == 0 || cg == 0) {
        out[0] = o;
        return NR_OK;
    }
    /* 1-D: blocks of input columns so the column matrix stays in cache, run
     * by the thread pool; 2-D/3-D: the whole matrix, serially. */
    int workers = g.sp == 1 ? nr__workers(x) : 1;
    struct convt_run r = {.g = &g,
                          .x = xp,
                          .w = w,
                          .y = y,
                          .cg = cg,
                          .mg = mg,
                          .mk = mk,
                          .pre = n->has_pre_act,
                          .alpha = n->pre_alpha};
    r.tb = g.sp == 1 ? block_cols(mk, g.in_sz, workers) : g.in_sz;
    /* blocks two apart must not write the same outputs (see convt_task) */
    int64_t reach = ((g.k[0] - 1) * g.dil[0]) / g.stride[0] + 1;
    if (g.sp == 1 && r.tb < reach)
        r.tb = reach < g.in_sz ? reach : g.in_sz;
    r.nblk = (g.in_sz + r.tb - 1) / r.tb;
    r.per_worker = (size_t)(mk * r.tb + (r.pre ? cg * r.tb : 0));
    size_t col_bytes = r.per_worker * (size_t)workers * sizeof(float);
    float *col = NULL;
    if ((st = nr__scratch(x, col_bytes, (void **)&col, err)) != NR_OK) {
        nr__nn_release(o);
        return st;
    }
    r.scratch = col;
    int64_t half = (r.nblk + 1) / 2;
    for (r.phase = 0; r.phase < 2; r.phase++)
        nr__parallel(x, g.n * g.group * half, convt_task, &r);
    nr__scratch_free(x, col, col_bytes);
    out[0] = o;
    return NR_OK;
}
