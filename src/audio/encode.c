/* Encoded outputs: one streaming encoder for WAV (our own writer) and for
 * M4B, MP3, Opus and FLAC (FFmpeg's libavcodec + libavformat), writing
 * through an atomic temp file. docs/OUTPUTS.md explains the choices. */
#include "narrate/audio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/base64.h>
#include <libavutil/channel_layout.h>
#include <libavutil/intreadwrite.h>

#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define AVIO_CONST const /* FFmpeg 7 made the write buffer const */
#else
#define AVIO_CONST
#endif

#define IO_BUFFER 65536
#define BLOCK 4096 /* input samples scaled per step */

struct format_info {
    const char *name, *ext, *muxer, *encoder;
    int64_t bit_rate; /* 0: lossless */
    int has_pictures; /* the muxer carries an attached-picture stream */
};

/* Indexed by enum nr_audio_format. */
static const struct format_info formats[] = {
    {"wav", "wav", NULL, NULL, 0, 0},
    {"m4b", "m4b", "ipod", "aac", 64000, 1},
    {"mp3", "mp3", "mp3", "libmp3lame", 64000, 1},
    {"opus", "opus", "opus", "libopus", 32000, 0},
    {"flac", "flac", "flac", "flac", 0, 1},
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

enum nr_status nr_audio_format_parse(const char *name, enum nr_audio_format *out,
                                     struct nr_err *err) {
    for (size_t i = 0; i < N_FORMATS; i++) {
        if (name && strcmp(name, formats[i].name) == 0) {
            *out = (enum nr_audio_format)i;
            return NR_OK;
        }
    }
    return nr_err_set(err, NR_STATUS_INVALID_ARG,
                      "unknown output format \"%s\" (wav, m4b, mp3, opus, flac)", name ? name : "");
}

const char *nr_audio_format_ext(enum nr_audio_format f) {
    return (size_t)f < N_FORMATS ? formats[f].ext : "bin";
}

int nr_audio_format_rate(enum nr_audio_format f, int in_rate) {
    switch (f) {
    case NR_AUDIO_FORMAT_OPUS:
        return 48000; /* Opus runs at 48 kHz inside; players decode to 48 kHz */
    case NR_AUDIO_FORMAT_M4B:
    case NR_AUDIO_FORMAT_MP3:
        if (in_rate == 22050 || in_rate == 24000 || in_rate == 32000 || in_rate == 44100 ||
            in_rate == 48000)
            return in_rate;
        return in_rate <= 24000 ? 24000 : in_rate <= 32000 ? 32000 : 48000;
    default:
        return in_rate;
    }
}

/* ---- cover images -------------------------------------------------------- */

static uint32_t be16(const unsigned char *p) {
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the type and size of a JPEG (from its first SOFn segment) or a PNG
 * (from IHDR). Returns 1 when the header holds together. */
static int cover_info(const unsigned char *d, size_t len, const char **mime, int *w, int *h) {
    if (len > (size_t)32 << 20)
        return 0; /* no book cover is 32 MB; a packet size is an int */
    if (len > 24 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(d + 12, "IHDR", 4) == 0) {
        *mime = "image/png";
        *w = (int)be32(d + 16);
        *h = (int)be32(d + 20);
        return *w > 0 && *h > 0;
    }
    if (len < 4 || d[0] != 0xFF || d[1] != 0xD8)
        return 0;
    size_t off = 2;
    while (off + 4 <= len) {
        if (d[off] != 0xFF)
            return 0;
        unsigned m = d[off + 1];
        if (m == 0xFF) {
            off++; /* fill byte */
            continue;
        }
        size_t seg = be16(d + off + 2);
        if (seg < 2 || off + 2 + seg > len)
            return 0;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (seg < 7)
                return 0;
            *mime = "image/jpeg";
            *h = (int)be16(d + off + 5);
            *w = (int)be16(d + off + 7);
            return *w > 0 && *h > 0;
        }
        off += 2 + seg;
    }
    return 0;
}

int nr_audio_cover_ok(const unsigned char *data, size_t len, const char **mime) {
    const char *m = NULL;
    int w = 0, h = 0;
    int ok = data && cover_info(data, len, &m, &w, &h);
    if (mime)
        *mime = ok ? m : NULL;
    return ok;
}

/* ---- the encoder ------------------------------------------------------------- */

struct nr_audio_encoder {
    enum nr_audio_format fmt;
    int in_rate, out_rate;
    float gain;
    uint64_t n_in;
    struct nr_wav_writer wav; /* WAV only */

    struct nr_atomic_file af; /* the others: FFmpeg writes here through pb */
    AVIOContext *pb;
    AVFormatContext *oc;
    AVCodecContext *cc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct nr_limiter *lim;  /* NULL when off */
    struct nr_resampler *rs; /* NULL when in_rate == out_rate */
    int64_t n_sent;          /* output samples given to the encoder (its pts) */
    float *fifo;             /* (frame_size) samples waiting for a full frame */
    size_t fifo_n, frame_size;
    float block[BLOCK]; /* input scaled by gain */
};

static int io_write(void *opaque, AVIO_CONST uint8_t *buf, int size) {
    FILE *fp = opaque;
    if (fwrite(buf, 1, (size_t)size, fp) == (size_t)size)
        return size;
    return AVERROR(errno ? errno : EIO);
}

static int64_t io_seek(void *opaque, int64_t offset, int whence) {
    FILE *fp = opaque;
    if (whence & AVSEEK_SIZE) {
        struct stat sb;
        if (fflush(fp) != 0 || fstat(fileno(fp), &sb) != 0)
            return AVERROR(errno);
        return (int64_t)sb.st_size;
    }
    if (fseeko(fp, (off_t)offset, whence & ~AVSEEK_FORCE) != 0)
        return AVERROR(errno);
    return (int64_t)ftello(fp);
}

static enum nr_status av_fail(struct nr_audio_encoder *e, const char *what, int code,
                              struct nr_err *err) {
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, msg, sizeof msg);
    return nr_err_set(err, code == AVERROR(ENOMEM) ? NR_STATUS_NO_MEMORY : NR_STATUS_IO,
                      "%s: %s: %s", e->af.final_path ? e->af.final_path : "encoder", what, msg);
}

/* Releases FFmpeg's objects (not the temp file). */
static void release(struct nr_audio_encoder *e) {
    nr_limiter_free(e->lim);
    e->lim = NULL;
    nr_resampler_free(e->rs);
    e->rs = NULL;
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    avcodec_free_context(&e->cc);
    avformat_free_context(e->oc);
    e->oc = NULL;
    if (e->pb) {
        av_freep(&e->pb->buffer);
        avio_context_free(&e->pb);
    }
    nr_free(e->fifo);
    e->fifo = NULL;
}

/* Moves every packet the encoder has ready into the file. A packet never
 * lasts past the samples actually sent, so a padded last frame does not
 * lengthen the file. */
static enum nr_status drain(struct nr_audio_encoder *e, struct nr_err *err) {
    for (;;) {
        int ret = avcodec_receive_packet(e->cc, e->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return NR_OK;
        if (ret < 0)
            return av_fail(e, "encode", ret, err);
        if (e->pkt->pts != AV_NOPTS_VALUE && e->pkt->pts + e->pkt->duration > e->n_sent)
            e->pkt->duration = e->pkt->pts < e->n_sent ? e->n_sent - e->pkt->pts : 0;
        e->pkt->stream_index = e->st->index;
        av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
        ret = av_write_frame(e->oc, e->pkt);
        av_packet_unref(e->pkt);
        if (ret < 0)
            return av_fail(e, "write", ret, err);
    }
}

/* Encodes n output-rate samples (n <= frame_size) as one frame. */
static enum nr_status encode_frame(struct nr_audio_encoder *e, const float *s, size_t n,
                                   struct nr_err *err) {
    int ret = av_frame_make_writable(e->frame);
    if (ret < 0)
        return av_fail(e, "frame", ret, err);
    e->frame->nb_samples = (int)n;
    e->frame->pts = e->n_sent;
    /* Mono: the packed and planar layouts are the same single plane. */
    if (e->cc->sample_fmt == AV_SAMPLE_FMT_FLT || e->cc->sample_fmt == AV_SAMPLE_FMT_FLTP) {
        memcpy(e->frame->data[0], s, n * sizeof(float));
    } else {
        int16_t *d = (int16_t *)e->frame->data[0];
        for (size_t i = 0; i < n; i++) {
            long q = lrintf(s[i] * 32767.0f);
            d[i] = (int16_t)(q > 32767 ? 32767 : q < -32768 ? -32768 : q);
        }
    }
    e->n_sent += (int64_t)n;
    ret = avcodec_send_frame(e->cc, e->frame);
    if (ret < 0)
        return av_fail(e, "encode", ret, err);
    return drain(e, err);
}

/* Sink for output-rate samples: fills frames of frame_size. */
static enum nr_status to_frames(void *user, const float *s, size_t n, struct nr_err *err) {
    struct nr_audio_encoder *e = user;
    while (n > 0) {
        size_t m = e->frame_size - e->fifo_n;
        if (m > n)
            m = n;
        memcpy(e->fifo + e->fifo_n, s, m * sizeof(float));
        e->fifo_n += m;
        s += m;
        n -= m;
        if (e->fifo_n == e->frame_size) {
            e->fifo_n = 0;
            enum nr_status st = encode_frame(e, e->fifo, e->frame_size, err);
            if (st != NR_OK)
                return st;
        }
    }
    return NR_OK;
}

static enum nr_status pick_sample_format(struct nr_audio_encoder *e, const AVCodec *codec,
                                         struct nr_err *err) {
    static const enum AVSampleFormat wanted[] = {AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT,
                                                 AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S16P};
    for (size_t w = 0; w < sizeof wanted / sizeof wanted[0]; w++)
        for (const enum AVSampleFormat *f = codec->sample_fmts; f && *f != AV_SAMPLE_FMT_NONE; f++)
            if (*f == wanted[w]) {
                e->cc->sample_fmt = *f;
                return NR_OK;
            }
    return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: encoder %s takes no float or 16-bit input",
                      e->af.final_path, codec->name);
}

static enum nr_status open_codec(struct nr_audio_encoder *e, struct nr_err *err) {
    const struct format_info *fi = &formats[e->fmt];
    const AVCodec *codec = avcodec_find_encoder_by_name(fi->encoder);
    if (!codec)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                          "%s: this FFmpeg has no %s encoder (needed for %s)", e->af.final_path,
                          fi->encoder, fi->name);
    e->cc = avcodec_alloc_context3(codec);
    e->st = avformat_new_stream(e->oc, NULL);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->cc || !e->st || !e->frame || !e->pkt)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    enum nr_status st = pick_sample_format(e, codec, err);
    if (st != NR_OK)
        return st;
    av_channel_layout_default(&e->cc->ch_layout, 1);
    e->cc->sample_rate = e->out_rate;
    e->cc->time_base = (AVRational){1, e->out_rate};
    e->cc->bit_rate = fi->bit_rate;
    if (e->cc->sample_fmt == AV_SAMPLE_FMT_S16 || e->cc->sample_fmt == AV_SAMPLE_FMT_S16P)
        e->cc->bits_per_raw_sample = 16;
    if (e->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    /* FFmpeg's AAC encoder: the "fast" coder is about five times quicker
     * than the default "twoloop" one, with no audible difference on speech
     * at 64 kbit/s. */
    if (e->fmt == NR_AUDIO_FORMAT_M4B && av_dict_set(&opts, "aac_coder", "fast", 0) < 0)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    int ret = avcodec_open2(e->cc, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return av_fail(e, "open encoder", ret, err);
    ret = avcodec_parameters_from_context(e->st->codecpar, e->cc);
    if (ret < 0)
        return av_fail(e, "stream parameters", ret, err);
    e->st->time_base = e->cc->time_base;
    /* A codec that takes any frame length still gets moderate frames. */
    e->frame_size = e->cc->frame_size > 0 ? (size_t)e->cc->frame_size : 4096;
    e->fifo = nr_malloc(e->frame_size * sizeof(float));
    if (!e->fifo)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    e->frame->format = e->cc->sample_fmt;
    e->frame->sample_rate = e->out_rate;
    e->frame->nb_samples = (int)e->frame_size;
    ret = av_channel_layout_copy(&e->frame->ch_layout, &e->cc->ch_layout);
    if (ret >= 0)
        ret = av_frame_get_buffer(e->frame, 0);
    return ret < 0 ? av_fail(e, "frame", ret, err) : NR_OK;
}

static int set_tag(AVDictionary **d, const char *key, const char *value) {
    return value && *value ? av_dict_set(d, key, value, 0) : 0;
}

/* The FLAC picture block, base64, as Ogg files carry a cover
 * (METADATA_BLOCK_PICTURE Vorbis comment). */
static int opus_cover_tag(AVDictionary **d, const unsigned char *img, size_t len, const char *mime,
                          int w, int h) {
    size_t mlen = strlen(mime), blen = 32 + mlen + len;
    if (blen > (size_t)INT_MAX / 2)
        return AVERROR(EINVAL);
    unsigned char *b = av_malloc(blen);
    int b64len = AV_BASE64_SIZE((int)blen);
    char *text = av_malloc((size_t)b64len);
    int ret = AVERROR(ENOMEM);
    if (b && text) {
        uint32_t fields[] = {3 /* front cover */, (uint32_t)mlen};
        unsigned char *p = b;
        for (int i = 0; i < 2; i++, p += 4)
            AV_WB32(p, fields[i]);
        memcpy(p, mime, mlen);
        p += mlen;
        uint32_t rest[] = {0 /* description */, (uint32_t)w, (uint32_t)h, 24, 0, (uint32_t)len};
        for (int i = 0; i < 6; i++, p += 4)
            AV_WB32(p, rest[i]);
        memcpy(p, img, len);
        ret = av_base64_encode(text, b64len, b, (int)blen) ? 0 : AVERROR(EINVAL);
        if (ret == 0)
            ret = av_dict_set(d, "METADATA_BLOCK_PICTURE", text, 0);
    }
    av_free(b);
    av_free(text);
    return ret;
}

/* Vorbis comment chapters (CHAPTER001=HH:MM:SS.mmm, CHAPTER001NAME=title)
 * for Ogg and FLAC, written as tags by us: FFmpeg 5.1's own writer rounds
 * the seconds to the nearest one (a start at 31.81 s comes out as 32.81 s)
 * and its FLAC muxer writes no chapters at all. */
static enum nr_status vorbis_chapters(struct nr_audio_encoder *e, const struct nr_audio_tags *t,
                                      struct nr_err *err) {
    for (size_t i = 0; i < t->n_chapters && i < 999; i++) {
        uint64_t ms =
            (t->chapters[i].start * 1000 + (uint64_t)e->in_rate / 2) / (uint64_t)e->in_rate;
        char key[32], value[32];
        snprintf(key, sizeof key, "CHAPTER%03zu", i + 1);
        snprintf(value, sizeof value, "%02llu:%02llu:%02llu.%03llu",
                 (unsigned long long)(ms / 3600000), (unsigned long long)(ms / 60000 % 60),
                 (unsigned long long)(ms / 1000 % 60), (unsigned long long)(ms % 1000));
        int ret = av_dict_set(&e->oc->metadata, key, value, 0);
        snprintf(key, sizeof key, "CHAPTER%03zuNAME", i + 1);
        if (ret >= 0)
            ret = set_tag(&e->oc->metadata, key, t->chapters[i].title);
        if (ret < 0)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    }
    return NR_OK;
}

static enum nr_status add_chapters(struct nr_audio_encoder *e, const struct nr_audio_tags *t,
                                   struct nr_err *err) {
    if (e->fmt == NR_AUDIO_FORMAT_OPUS || e->fmt == NR_AUDIO_FORMAT_FLAC)
        return vorbis_chapters(e, t, err);
    for (size_t i = 0; i < t->n_chapters; i++) {
        AVChapter *ch = av_mallocz(sizeof *ch);
        AVChapter **list =
            ch ? av_realloc_array(e->oc->chapters, e->oc->nb_chapters + 1, sizeof *list) : NULL;
        if (!list) {
            av_free(ch);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
        }
        /* avformat_free_context frees the list, each chapter and its tags. */
        e->oc->chapters = list;
        list[e->oc->nb_chapters++] = ch;
        ch->id = (int64_t)i + 1;
        ch->time_base = (AVRational){1, e->in_rate};
        ch->start = (int64_t)t->chapters[i].start;
        ch->end = (int64_t)t->chapters[i].end;
        if (set_tag(&ch->metadata, "title", t->chapters[i].title) < 0)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    }
    return NR_OK;
}

/* Tags, chapters and the cover; returns the cover packet's stream or NULL. */
static enum nr_status describe(struct nr_audio_encoder *e, const struct nr_audio_tags *t,
                               AVStream **cover, struct nr_err *err) {
    AVDictionary **d = &e->oc->metadata;
    char track[32];
    snprintf(track, sizeof track, t->n_tracks > 0 ? "%d/%d" : "%d", t->track, t->n_tracks);
    int ret = 0;
    if (set_tag(d, "title", t->title) < 0 || set_tag(d, "artist", t->artist) < 0 ||
        set_tag(d, "album_artist", t->artist) < 0 || set_tag(d, "album", t->album) < 0 ||
        set_tag(d, "genre", "Audiobook") < 0 || (t->track > 0 && set_tag(d, "track", track) < 0) ||
        (e->fmt == NR_AUDIO_FORMAT_M4B && set_tag(d, "media_type", "2") < 0 /* audiobook */))
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    enum nr_status st = add_chapters(e, t, err);
    if (st != NR_OK)
        return st;
    const char *mime = NULL;
    int w = 0, h = 0;
    *cover = NULL;
    if (!t->cover || !cover_info(t->cover, t->cover_len, &mime, &w, &h))
        return NR_OK; /* the caller checked and warned with nr_audio_cover_ok */
    if (e->fmt == NR_AUDIO_FORMAT_OPUS) {
        ret = opus_cover_tag(d, t->cover, t->cover_len, mime, w, h);
        return ret < 0 ? av_fail(e, "cover", ret, err) : NR_OK;
    }
    if (!formats[e->fmt].has_pictures)
        return NR_OK;
    AVStream *cs = avformat_new_stream(e->oc, NULL);
    if (!cs)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    cs->disposition = AV_DISPOSITION_ATTACHED_PIC;
    cs->time_base = (AVRational){1, 90000};
    cs->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    cs->codecpar->codec_id = strcmp(mime, "image/png") == 0 ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG;
    cs->codecpar->width = w;
    cs->codecpar->height = h;
    *cover = cs;
    return NR_OK;
}

static enum nr_status write_cover(struct nr_audio_encoder *e, AVStream *cs,
                                  const struct nr_audio_tags *t, struct nr_err *err) {
    int ret = av_new_packet(e->pkt, (int)t->cover_len);
    if (ret < 0)
        return av_fail(e, "cover", ret, err);
    memcpy(e->pkt->data, t->cover, t->cover_len);
    e->pkt->stream_index = cs->index;
    e->pkt->flags |= AV_PKT_FLAG_KEY;
    e->pkt->pts = e->pkt->dts = 0;
    ret = av_write_frame(e->oc, e->pkt);
    av_packet_unref(e->pkt);
    return ret < 0 ? av_fail(e, "cover", ret, err) : NR_OK;
}

static enum nr_status open_ffmpeg(struct nr_audio_encoder *e, const struct nr_audio_tags *t,
                                  struct nr_err *err) {
    /* FFmpeg's log is process-wide and goes to stderr; narrate reports
     * FFmpeg's failures itself through nr_err, so the library stays quiet. */
    av_log_set_level(AV_LOG_QUIET);
    int ret = avformat_alloc_output_context2(&e->oc, NULL, formats[e->fmt].muxer, NULL);
    if (ret < 0 || !e->oc)
        return av_fail(e, "muxer", ret < 0 ? ret : AVERROR_MUXER_NOT_FOUND, err);
    unsigned char *buf = av_malloc(IO_BUFFER);
    e->pb = buf ? avio_alloc_context(buf, IO_BUFFER, 1, e->af.fp, NULL, io_write, io_seek) : NULL;
    if (!e->pb) {
        av_free(buf);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->af.final_path);
    }
    e->oc->pb = e->pb;
    e->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    enum nr_status st = open_codec(e, err);
    AVStream *cover = NULL;
    if (st == NR_OK)
        st = describe(e, t, &cover, err);
    if (st != NR_OK)
        return st;
    ret = avformat_write_header(e->oc, NULL);
    if (ret < 0)
        return av_fail(e, "header", ret, err);
    if (cover)
        st = write_cover(e, cover, t, err);
    if (st == NR_OK && e->out_rate != e->in_rate)
        st = nr_resampler_new(e->in_rate, e->out_rate, to_frames, e, &e->rs, err);
    return st;
}

static enum nr_status after_limiter(void *user, const float *s, size_t n, struct nr_err *err);

enum nr_status nr_audio_encoder_open(const char *path, enum nr_audio_format f, int in_rate,
                                     float gain, double limit_db, const struct nr_audio_tags *tags,
                                     struct nr_audio_encoder **out, struct nr_err *err) {
    static const struct nr_audio_tags no_tags; /* const: "no tags" */
    *out = NULL;
    if ((size_t)f >= N_FORMATS || in_rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: bad format or rate", path);
    struct nr_audio_encoder *e = nr_calloc(1, sizeof *e);
    if (!e)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    e->fmt = f;
    e->in_rate = in_rate;
    e->out_rate = nr_audio_format_rate(f, in_rate);
    e->gain = gain;
    enum nr_status st;
    if (f == NR_AUDIO_FORMAT_WAV) {
        st = nr_wav_writer_open(&e->wav, path, in_rate, err);
        e->wav.gain = 1.0f; /* the gain is applied once, in nr_audio_encoder_write */
    } else {
        st = nr_atomic_open(&e->af, path, err);
        if (st == NR_OK)
            st = open_ffmpeg(e, tags ? tags : &no_tags, err);
    }
    if (st == NR_OK && limit_db <= 0)
        st = nr_limiter_new(in_rate, limit_db, after_limiter, e, &e->lim, err);
    if (st != NR_OK) {
        nr_audio_encoder_abort(e);
        return st;
    }
    *out = e;
    return NR_OK;
}

/* Limited input goes to the WAV file, the resampler or straight to frames. */
static enum nr_status after_limiter(void *user, const float *s, size_t n, struct nr_err *err) {
    struct nr_audio_encoder *e = user;
    if (e->fmt == NR_AUDIO_FORMAT_WAV)
        return nr_wav_writer_write(&e->wav, s, n, err);
    if (e->rs)
        return nr_resampler_push(e->rs, s, n, err);
    return to_frames(e, s, n, err);
}

enum nr_status nr_audio_encoder_write(struct nr_audio_encoder *e, const float *samples, size_t n,
                                      struct nr_err *err) {
    e->n_in += n;
    while (n > 0) {
        size_t m = n < BLOCK ? n : BLOCK;
        if (samples) {
            for (size_t i = 0; i < m; i++)
                e->block[i] = samples[i] * e->gain;
            samples += m;
        } else {
            memset(e->block, 0, m * sizeof(float));
        }
        enum nr_status st =
            e->lim ? nr_limiter_push(e->lim, e->block, m, err) : after_limiter(e, e->block, m, err);
        if (st != NR_OK)
            return st;
        n -= m;
    }
    return NR_OK;
}

uint64_t nr_audio_encoder_samples(const struct nr_audio_encoder *e) {
    return e->n_in;
}

double nr_audio_encoder_limited(const struct nr_audio_encoder *e, uint64_t *n_samples) {
    *n_samples = e->lim ? nr_limiter_samples_limited(e->lim) : 0;
    return e->lim ? nr_limiter_max_reduction_db(e->lim) : 0.0;
}

static enum nr_status finish(struct nr_audio_encoder *e, struct nr_err *err) {
    enum nr_status st = e->rs ? nr_resampler_flush(e->rs, err) : NR_OK;
    if (st == NR_OK && e->fifo_n > 0)
        st = encode_frame(e, e->fifo, e->fifo_n, err);
    e->fifo_n = 0;
    if (st == NR_OK) {
        int ret = avcodec_send_frame(e->cc, NULL);
        st = ret < 0 ? av_fail(e, "flush", ret, err) : drain(e, err);
    }
    if (st == NR_OK) {
        int ret = av_write_trailer(e->oc);
        if (ret < 0)
            st = av_fail(e, "trailer", ret, err);
    }
    if (st == NR_OK) {
        avio_flush(e->pb);
        if (e->pb->error < 0)
            st = av_fail(e, "write", e->pb->error, err);
    }
    return st;
}

enum nr_status nr_audio_encoder_close(struct nr_audio_encoder *e, struct nr_err *err) {
    enum nr_status st = e->lim ? nr_limiter_flush(e->lim, err) : NR_OK;
    if (e->fmt == NR_AUDIO_FORMAT_WAV) {
        if (st == NR_OK)
            st = nr_wav_writer_close(&e->wav, err);
        else
            nr_wav_writer_abort(&e->wav);
        nr_limiter_free(e->lim);
        nr_free(e);
        return st;
    }
    if (st == NR_OK)
        st = finish(e, err);
    release(e);
    if (st == NR_OK)
        st = nr_atomic_commit(&e->af, err);
    else
        nr_atomic_abort(&e->af);
    nr_free(e);
    return st;
}

void nr_audio_encoder_abort(struct nr_audio_encoder *e) {
    if (!e)
        return;
    if (e->fmt == NR_AUDIO_FORMAT_WAV) {
        nr_limiter_free(e->lim);
        nr_wav_writer_abort(&e->wav);
    } else {
        release(e);
        nr_atomic_abort(&e->af);
    }
    nr_free(e);
}
