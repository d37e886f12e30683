/* The VRAM / throughput graph of one run as a standalone SVG 1.1 file:
 * used VRAM (left axis, GB) with the total, 80 % and 95 % guides, batch
 * and stall markers, pause markers, and seconds per chunk (right axis).
 * Plain SVG, no script or CSS, so browsers, viewers and xmllint all agree. */
#include <math.h>
#include <string.h>

#include "report_internal.h"

#define W 1000.0
#define H 600.0
#define X0 78.0 /* plot area */
#define X1 912.0
#define Y0 96.0
#define Y1 528.0
#define MAX_MARKERS 400 /* beyond this many batches, draw the lines only */

#define C_USED "#1a73e8"
#define C_SPC "#188038"
#define C_TOTAL "#3c4043"
#define C_80 "#e8a200"
#define C_95 "#d93025"
#define C_PAUSE "#9334e6"
#define C_GRID "#e8eaed"
#define C_TEXT "#202124"
#define C_MUTED "#5f6368"

struct scale {
    double lo, hi, step; /* axis range and tick step */
};

struct ctx {
    struct nr_buf *b;
    enum nr_status st;
    struct scale x, y, s;
    int has_vram, has_spc, has_proc;
    double total; /* GB, 0 when unknown */
};

static void out(struct ctx *c, const char *fmt, ...) NR_PRINTF(2, 3);
static void out(struct ctx *c, const char *fmt, ...) {
    if (c->st != NR_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    c->st = nr_buf_vprintf(c->b, fmt, ap);
    va_end(ap);
}

/* XML-escaped text. */
static void text(struct ctx *c, const char *s) {
    for (; *s && c->st == NR_OK; s++) {
        switch (*s) {
        case '&':
            out(c, "&amp;");
            break;
        case '<':
            out(c, "&lt;");
            break;
        case '>':
            out(c, "&gt;");
            break;
        case '"':
            out(c, "&quot;");
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                c->st = nr_buf_append(c->b, s, 1);
        }
    }
}

static double px(const struct ctx *c, double t) {
    return X0 + (t - c->x.lo) / (c->x.hi - c->x.lo) * (X1 - X0);
}
static double py(const struct scale *s, double v) {
    return Y1 - (v - s->lo) / (s->hi - s->lo) * (Y1 - Y0);
}

/* A 1-2-5 step giving at most max_ticks ticks over [0, hi]. */
static double nice_step(double hi, int max_ticks) {
    double raw = hi / max_ticks;
    double p = pow(10, floor(log10(raw)));
    const double m[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (m[i] * p >= raw)
            return m[i] * p;
    return 10 * p;
}

/* Time steps in seconds that read well as m:ss. */
static double time_step(double hi) {
    const double steps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                            600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (hi / steps[i] <= 10)
            return steps[i];
    return nice_step(hi, 10);
}

static void fmt_clock(double t, char *buf, size_t size) {
    long long s = llround(t);
    if (s >= 3600)
        snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
}

/* Tick labels: as few decimals as the step needs. */
static void fmt_tick(double v, double step, char *buf, size_t size) {
    int dec = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
    if (step >= 1 && fabs(step - round(step)) > 1e-9)
        dec = 1;
    snprintf(buf, size, "%.*f", dec, v);
}

static void setup(struct ctx *c, const struct nr__run *r) {
    double tmax = 0, vmax = 0, smax = 0;
    c->total = r->total_gb.has ? r->total_gb.v : 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const struct nr__row *w = &r->rows[i];
        if (w->t.has && w->t.v > tmax)
            tmax = w->t.v;
        if (w->type == NR__ROW_PAUSE)
            continue;
        if (w->used.has) {
            c->has_vram = 1;
            vmax = fmax(vmax, w->used.v);
        }
        if (w->proc.has)
            c->has_proc = 1;
        if (w->total.has && w->total.v > c->total)
            c->total = w->total.v;
        if (w->type == NR__ROW_BATCH && w->sec_per_chunk.has) {
            c->has_spc = 1;
            smax = fmax(smax, w->sec_per_chunk.v);
        }
    }
    if (r->end_t.has && r->end_t.v > tmax)
        tmax = r->end_t.v;
    c->x.lo = 0;
    c->x.step = time_step(tmax > 0 ? tmax : 1);
    c->x.hi = tmax > 0 ? tmax : 1;
    double vtop = c->total > 0 ? c->total : (vmax > 0 ? vmax : 1);
    c->y.lo = 0;
    c->y.step = nice_step(vtop, 8);
    c->y.hi = vtop * 1.06; /* room above the total line for its label */
    c->s.lo = 0;
    c->s.step = nice_step(smax > 0 ? smax * 1.15 : 1, 6);
    c->s.hi = smax > 0 ? ceil(smax * 1.15 / c->s.step) * c->s.step : 1;
}

static void header(struct ctx *c, const struct nr__run *r) {
    out(c,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
        "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
        W, H, W, H);
    out(c, "<title>");
    text(c, "VRAM and speed: ");
    text(c, r->gpu[0] ? r->gpu : "no GPU");
    out(c,
        "</title>\n<rect id=\"background\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
        "fill=\"#ffffff\"/>\n",
        W, H);
    out(c,
        "<text id=\"title\" x=\"%.0f\" y=\"30\" font-size=\"19\" font-weight=\"bold\" "
        "fill=\"" C_TEXT "\">",
        X0);
    text(c, "VRAM and speed \xe2\x80\x94 ");
    text(c, r->gpu[0] && strcmp(r->gpu, "none") ? r->gpu : "no GPU");
    if (r->batch_size.has)
        out(c, " \xe2\x80\x94 batch size %.0f", r->batch_size.v);
    out(c, "</text>\n");

    /* Subtitle: what ran and how it ended. */
    struct nr_buf sub = {0};
    size_t batches = 0;
    for (size_t i = 0; i < r->n_rows; i++)
        batches += r->rows[i].type == NR__ROW_BATCH;
    enum nr_status st = NR_OK;
    if (r->start_time[0])
        st = nr_buf_printf(&sub, "started %s", r->start_time);
    if (st == NR_OK && r->engine[0])
        st = nr_buf_printf(&sub, "%s%s%s%s%s", sub.len ? " \xc2\xb7 " : "", r->engine,
                           r->voice[0] ? " (" : "", r->voice, r->voice[0] ? ")" : "");
    if (st == NR_OK)
        st = nr_buf_printf(&sub, "%s%zu batch%s", sub.len ? " \xc2\xb7 " : "", batches,
                           batches == 1 ? "" : "es");
    if (st == NR_OK && r->chunks_total.has)
        st = nr_buf_printf(&sub, " \xc2\xb7 %.0f chunks (%.0f cached)", r->chunks_total.v,
                           r->chunks_cached.has ? r->chunks_cached.v : 0);
    if (st == NR_OK)
        st = nr_buf_printf(&sub, " \xc2\xb7 %s",
                           r->has_end ? r->end_status : "no end record (interrupted?)");
    if (st == NR_OK && r->end_trend[0] && strcmp(r->end_trend, "unknown"))
        st = nr_buf_printf(&sub, " \xc2\xb7 VRAM trend %s", r->end_trend);
    if (st != NR_OK)
        c->st = st;
    out(c, "<text id=\"subtitle\" x=\"%.0f\" y=\"52\" font-size=\"13\" fill=\"" C_MUTED "\">", X0);
    text(c, sub.data ? sub.data : "");
    out(c, "</text>\n");
    nr_buf_deinit(&sub);
}

/* One legend entry: a line sample (dash may be NULL) and its label; returns the next x. */
static double legend_item(struct ctx *c, double x, const char *color, const char *dash,
                          double width, const char *marker, const char *label) {
    double y = 76;
    out(c,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        "stroke-width=\"%.1f\"%s%s%s/>",
        x, y - 4, x + 24, y - 4, color, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
        dash ? "\"" : "");
    if (marker && !strcmp(marker, "circle"))
        out(c, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>", x + 12, y - 4, color);
    else if (marker && !strcmp(marker, "square"))
        out(c, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"%s\"/>", x + 9, y - 7,
            color);
    else if (marker && !strcmp(marker, "triangle"))
        out(c, "<path d=\"M%.1f %.1f l5 9 h-10 z\" fill=\"%s\"/>", x + 12, y - 9, color);
    out(c, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"" C_TEXT "\">", x + 30, y);
    text(c, label);
    out(c, "</text>\n");
    return x + 30 + 6.4 * (double)strlen(label) + 16;
}

static void legend(struct ctx *c, int has_stall, int has_pause) {
    out(c, "<g id=\"legend\">\n");
    double x = X0;
    if (c->has_vram) {
        x = legend_item(c, x, C_USED, NULL, 2.5, "circle", "VRAM used (batch)");
        if (c->has_proc)
            x = legend_item(c, x, C_USED, "2 3", 1.5, NULL, "this process");
        if (c->total > 0) {
            x = legend_item(c, x, C_TOTAL, NULL, 1.5, NULL, "total");
            x = legend_item(c, x, C_80, "6 4", 1.5, NULL, "80 %");
            x = legend_item(c, x, C_95, "6 4", 1.5, NULL, "95 %");
        }
    }
    if (c->has_spc)
        x = legend_item(c, x, C_SPC, NULL, 2, "square", "seconds per chunk");
    if (has_stall)
        x = legend_item(c, x, C_95, NULL, 0, "triangle", "stall warning");
    if (has_pause)
        legend_item(c, x, C_PAUSE, "3 3", 1.5, NULL, "pause");
    out(c, "</g>\n");
}

static void axes(struct ctx *c) {
    char lab[32];
    out(c, "<g id=\"grid\" stroke=\"" C_GRID "\" stroke-width=\"1\">\n");
    const struct scale *g = c->has_vram ? &c->y : &c->s;
    for (double v = g->step; v <= g->hi + 1e-9; v += g->step)
        out(c, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", X0, py(g, v), X1,
            py(g, v));
    out(c,
        "</g>\n<g id=\"x-axis\" font-size=\"12\" fill=\"" C_MUTED "\" text-anchor=\"middle\">\n");
    out(c, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_MUTED "\"/>\n", X0,
        Y1, X1, Y1);
    for (double t = 0; t <= c->x.hi + 1e-9; t += c->x.step) {
        fmt_clock(t, lab, sizeof lab);
        out(c,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_MUTED "\"/>"
            "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            px(c, t), Y1, px(c, t), Y1 + 5, px(c, t), Y1 + 19, lab);
    }
    out(c,
        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">time since the render started "
        "(m:ss)</text>\n</g>\n",
        (X0 + X1) / 2, H - 22);
    if (c->has_vram) {
        out(c, "<g id=\"y-axis-vram\" font-size=\"12\" fill=\"" C_USED "\" text-anchor=\"end\">\n");
        out(c, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_MUTED "\"/>\n",
            X0, Y0, X0, Y1);
        for (double v = 0; v <= c->y.hi + 1e-9; v += c->y.step) {
            fmt_tick(v, c->y.step, lab, sizeof lab);
            out(c, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", X0 - 7, py(&c->y, v) + 4, lab);
        }
        out(c,
            "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"13\">VRAM used (GB)</text>\n</g>\n",
            X0 - 48, (Y0 + Y1) / 2);
    }
    if (c->has_spc) {
        out(c,
            "<g id=\"y-axis-speed\" font-size=\"12\" fill=\"" C_SPC "\" text-anchor=\"start\">\n");
        out(c, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_MUTED "\"/>\n",
            X1, Y0, X1, Y1);
        for (double v = 0; v <= c->s.hi + 1e-9; v += c->s.step) {
            fmt_tick(v, c->s.step, lab, sizeof lab);
            out(c, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", X1 + 7, py(&c->s, v) + 4, lab);
        }
        out(c,
            "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\" "
            "font-size=\"13\">seconds per chunk</text>\n</g>\n",
            X1 + 56, (Y0 + Y1) / 2);
    }
}

/* Total line, 80 % / 95 % guides and the shaded zones above them. */
static void guides(struct ctx *c) {
    if (!c->has_vram || c->total <= 0)
        return;
    double t = c->total, y80 = py(&c->y, 0.8 * t), y95 = py(&c->y, 0.95 * t), yt = py(&c->y, t);
    out(c, "<g id=\"guides\" font-size=\"11\">\n");
    out(c, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fef7e0\"/>\n", X0,
        y95, X1 - X0, y80 - y95);
    out(c, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fce8e6\"/>\n", X0,
        yt, X1 - X0, y95 - yt);
    out(c,
        "<line id=\"guide-80\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_80 "\" "
        "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
        X0, y80, X1, y80);
    out(c,
        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#b06000\" text-anchor=\"end\">80 %% (%.1f GB)</text>\n",
        X1 - 6, y80 - 4, 0.8 * t);
    out(c,
        "<line id=\"guide-95\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_95 "\" "
        "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
        X0, y95, X1, y95);
    out(c, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" C_95 "\" text-anchor=\"end\">95 %%</text>\n",
        X1 - 6, y95 + 12);
    out(c,
        "<line id=\"total\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_TOTAL "\" "
        "stroke-width=\"1.5\"/>\n",
        X0, yt, X1, yt);
    out(c, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" C_TOTAL "\">total %.1f GB</text>\n</g>\n", X0 + 6,
        yt - 5, t);
}

/* Pause markers: a line each, with a label when there is room for it
 * (labels extend left of the line; a crowded run keeps the tooltips). */
static void pauses(struct ctx *c, const struct nr__run *r) {
    double last_label = -1e9;
    for (size_t i = 0; i < r->n_rows; i++) {
        const struct nr__row *w = &r->rows[i];
        if (w->type != NR__ROW_PAUSE || !w->t.has)
            continue;
        char what[96];
        int k = snprintf(what, sizeof what, "pause");
        if (w->batch_size.has && w->new_batch_size.has && k > 0)
            k += snprintf(what + k, sizeof what - (size_t)k, " %.0f\xe2\x86\x92%.0f",
                          w->batch_size.v, w->new_batch_size.v);
        if (w->percent.has && k > 0 && (size_t)k < sizeof what)
            snprintf(what + k, sizeof what - (size_t)k, " (%.0f%%)", w->percent.v);
        double x = px(c, w->t.v);
        out(c,
            "<g class=\"pause\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"" C_PAUSE "\" "
            "stroke-width=\"1.5\" stroke-dasharray=\"3 3\"><title>%s</title></line>",
            x, Y0, x, Y1, what);
        if (x - last_label > 120) {
            out(c,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"" C_PAUSE
                "\" text-anchor=\"end\">%s</text>",
                x - 4, Y0 + 12, what);
            last_label = x;
        }
        out(c, "</g>\n");
    }
}

/* <polyline> through the rows that have the value `which` (0 used, 1 proc, 2 s/chunk). */
static void polyline(struct ctx *c, const struct nr__run *r, int which, const char *id,
                     const char *attrs) {
    out(c, "<polyline id=\"%s\" fill=\"none\" %s points=\"", id, attrs);
    int n = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const struct nr__row *w = &r->rows[i];
        if (w->type == NR__ROW_PAUSE || !w->t.has)
            continue;
        const struct nr__num *v = which == 0 ? &w->used : which == 1 ? &w->proc : &w->sec_per_chunk;
        if (!v->has || (which == 2 && w->type != NR__ROW_BATCH))
            continue;
        double y = which == 2 ? py(&c->s, v->v) : py(&c->y, v->v);
        out(c, "%s%.1f,%.1f", n++ ? " " : "", px(c, w->t.v), y);
    }
    out(c, "\"/>\n");
}

static void markers(struct ctx *c, const struct nr__run *r) {
    size_t batches = 0;
    for (size_t i = 0; i < r->n_rows; i++)
        batches += r->rows[i].type == NR__ROW_BATCH;
    out(c, "<g id=\"markers\">\n");
    for (size_t i = 0; i < r->n_rows; i++) {
        const struct nr__row *w = &r->rows[i];
        if (!w->t.has)
            continue;
        double x = px(c, w->t.v);
        if (w->type == NR__ROW_WATCHDOG) {
            double y = w->used.has ? py(&c->y, w->used.v) : Y1 - 8;
            out(c, "<path class=\"stall\" d=\"M%.1f %.1f l6 10 h-12 z\" fill=\"" C_95 "\"><title>",
                x, y - 5);
            out(c, "stall: no batch finished for %.0f s", w->since.has ? w->since.v : 0);
            out(c, "</title></path>\n");
            continue;
        }
        if (w->type != NR__ROW_BATCH || batches > MAX_MARKERS)
            continue;
        char tip[160];
        int k = snprintf(tip, sizeof tip, "Batch %.0f at %s", w->batch.has ? w->batch.v : 0,
                         w->time[0] ? w->time : "?");
        if (w->used.has && w->total.has && k > 0 && (size_t)k < sizeof tip)
            k += snprintf(tip + k, sizeof tip - (size_t)k, ": VRAM %.1f/%.1fGB (%.0f%%)", w->used.v,
                          w->total.v, w->percent.has ? w->percent.v : 0);
        if (w->sec_per_chunk.has && k > 0 && (size_t)k < sizeof tip)
            snprintf(tip + k, sizeof tip - (size_t)k, ", %.2f s/chunk", w->sec_per_chunk.v);
        if (c->has_vram && w->used.has)
            out(c,
                "<circle class=\"batch\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"" C_USED
                "\"><title>%s</title></circle>\n",
                x, py(&c->y, w->used.v), tip);
        if (w->sec_per_chunk.has)
            out(c,
                "<rect class=\"batch-speed\" x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" "
                "fill=\"" C_SPC "\"><title>%s</title></rect>\n",
                x - 3, py(&c->s, w->sec_per_chunk.v) - 3, tip);
    }
    out(c, "</g>\n");
}

enum nr_status nr__report_svg(const struct nr__run *r, struct nr_buf *b, struct nr_err *err) {
    struct ctx c;
    memset(&c, 0, sizeof c);
    c.b = b;
    int has_stall = 0, has_pause = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        has_stall |= r->rows[i].type == NR__ROW_WATCHDOG;
        has_pause |= r->rows[i].type == NR__ROW_PAUSE;
    }
    setup(&c, r);
    header(&c, r);
    legend(&c, has_stall, has_pause);
    guides(&c);
    axes(&c);
    if (!c.has_vram) {
        out(&c,
            "<g id=\"no-gpu\" text-anchor=\"middle\" fill=\"#9aa0a6\">"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"26\">no GPU telemetry</text>"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">this run had no NVIDIA GPU to watch; "
            "only the speed is shown</text></g>\n",
            (X0 + X1) / 2, (Y0 + Y1) / 2 - 6, (X0 + X1) / 2, (Y0 + Y1) / 2 + 18);
    }
    if (!r->n_rows)
        out(&c,
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" text-anchor=\"middle\" fill=\"" C_MUTED
            "\">"
            "no batches in this run</text>\n",
            (X0 + X1) / 2, (Y0 + Y1) / 2 + 44);
    pauses(&c, r);
    if (c.has_spc)
        polyline(&c, r, 2, "speed",
                 "stroke=\"" C_SPC "\" stroke-width=\"2\" stroke-linejoin=\"round\"");
    if (c.has_proc)
        polyline(&c, r, 1, "vram-process",
                 "stroke=\"" C_USED "\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"");
    if (c.has_vram)
        polyline(&c, r, 0, "vram-used",
                 "stroke=\"" C_USED "\" stroke-width=\"2.5\" stroke-linejoin=\"round\"");
    markers(&c, r);
    out(&c, "</svg>\n");
    if (c.st != NR_OK)
        return nr_err_set(err, c.st, "out of memory");
    return NR_OK;
}
