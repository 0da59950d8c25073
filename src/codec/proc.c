/* proc.c - pre- and postprocessor chains, their registry, and the framing
 * stages (lines, length prefixes, base64, ingest-ns); see proc.h for names
 * and wire formats. Compression is in proc_zip.c, GELF in proc_gelf.c.
 *
 * A chain is an array of stages; a frame leaving stage i is fed to stage
 * i+1 and the last stage hands it to the caller. Stages emit frames straight
 * from their input where they can and copy only a partial tail. Invariant:
 * no stage ever buffers more than max_frame bytes of one frame (a longer
 * line is skipped to its end and counted, never stored; a longer length
 * prefix fails the chain), and with a budget the capacity of every stage's
 * buffers is charged to it before it grows.
 */
#include "codec/proc.h"
#include "codec/proc_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec/base64.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "proc"
#define MAX_DIGITS 10     /* textual-length-prefix: up to 4294967295, a u32 as in Tremor */

struct pre_def {
    const char *name;
    enum stage_kind kind;
    char sep;             /* lines: the separator */
    int arg;              /* see struct stage */
};

static const struct pre_def pre_defs[] = {
    {"lines", ST_LINES, '\n', 0},
    {"lines-null", ST_LINES, '\0', 0},
    {"lines-pipe", ST_LINES, '|', 0},
    {"lines-no-buffer", ST_LINES_NOBUF, '\n', 0},
    {"lines-cr-no-buffer", ST_LINES_NOBUF, '\r', 0},
    {"remove-empty", ST_REMOVE_EMPTY, 0, 0},
    {"base64", ST_BASE64, 0, 0},
    {"length-prefixed", ST_LENGTH, 0, 0},
    {"textual-length-prefix", ST_TEXTLEN, 0, 0},
    {"gzip", ST_INFLATE, 0, TR_FMT_GZIP},
    {"zlib", ST_INFLATE, 0, TR_FMT_ZLIB},
    {"xz2", ST_INFLATE, 0, TR_FMT_XZ},
    {"xz", ST_INFLATE, 0, TR_FMT_XZ},   /* the name 0.11's docs use */
    {"snappy", ST_INFLATE, 0, TR_FMT_SNAPPY},
    {"lz4", ST_INFLATE, 0, TR_FMT_LZ4},
    {"zstd", ST_INFLATE, 0, TR_FMT_ZSTD},
    {"decompress", ST_DECOMPRESS, 0, 0},
    {"gelf-chunking", ST_GELF, 0, 0},
    {"gelf-chunking-tcp", ST_GELF, 0, 1},
    {"ingest-ns", ST_INGEST_NS, 0, 0},
};

enum post_kind {
    PO_LINES, PO_BASE64, PO_LENGTH, PO_TEXTLEN, PO_DEFLATE, PO_GELF, PO_INGEST_NS,
};

struct post_def {
    const char *name;
    enum post_kind kind;
    int fmt;              /* deflate: enum tr_proc_fmt */
};

static const struct post_def post_defs[] = {
    {"lines", PO_LINES, 0},
    {"base64", PO_BASE64, 0},
    {"length-prefixed", PO_LENGTH, 0},
    {"textual-length-prefix", PO_TEXTLEN, 0},
    {"gzip", PO_DEFLATE, TR_FMT_GZIP},
    {"zlib", PO_DEFLATE, TR_FMT_ZLIB},
    {"xz2", PO_DEFLATE, TR_FMT_XZ},
    {"xz", PO_DEFLATE, TR_FMT_XZ},
    {"snappy", PO_DEFLATE, TR_FMT_SNAPPY},
    {"lz4", PO_DEFLATE, TR_FMT_LZ4},
    {"zstd", PO_DEFLATE, TR_FMT_ZSTD},
    {"gelf-chunking", PO_GELF, 0},
    {"ingest-ns", PO_INGEST_NS, 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct pre_def *pre_find(const char *name) {
    for (size_t i = 0; i < COUNT(pre_defs); i++)
        if (strcmp(pre_defs[i].name, name) == 0) return &pre_defs[i];
    return NULL;
}

static const struct post_def *post_find(const char *name) {
    for (size_t i = 0; i < COUNT(post_defs); i++)
        if (strcmp(post_defs[i].name, name) == 0) return &post_defs[i];
    return NULL;
}

static void known_list(int pre, char *buf, size_t n) {
    size_t off = 0, count = pre ? COUNT(pre_defs) : COUNT(post_defs);
    buf[0] = 0;
    for (size_t i = 0; i < count && off < n; i++) {
        const char *name = pre ? pre_defs[i].name : post_defs[i].name;
        size_t len = strlen(name) + (off ? 2 : 0);
        if (off + len + 1 > n) break;
        memcpy(buf + off, off ? ", " : "", off ? 2 : 0);
        memcpy(buf + off + (off ? 2 : 0), name, strlen(name) + 1);
        off += len;
    }
}

static int check(char *const *names, size_t n, int pre, struct tr_diag *d) {
    for (size_t i = 0; i < n; i++) {
        if (pre ? pre_find(names[i]) != NULL : post_find(names[i]) != NULL) continue;
        char known[512];
        known_list(pre, known, sizeof known);
        return tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0, "unknown %s '%s' (known: %s)",
                           pre ? "preprocessor" : "postprocessor", names[i], known);
    }
    return 0;
}

int tr_preproc_check(char *const *names, size_t n, struct tr_diag *d) { return check(names, n, 1, d); }

int tr_postproc_check(char *const *names, size_t n, struct tr_diag *d) {
    return check(names, n, 0, d);
}

int tr_preproc_create(char *const *names, size_t n, struct tr_preproc **out) {
    *out = NULL;
    if (tr_preproc_check(names, n, NULL) != 0) return TR_EINVAL_CFG;
    struct tr_preproc *pp = tr_calloc(1, sizeof *pp);
    if (!pp) return -ENOMEM;
    pp->stages = tr_calloc(n ? n : 1, sizeof *pp->stages);
    if (!pp->stages) {
        tr_free(pp);
        return -ENOMEM;
    }
    pp->n = n;
    pp->lim.max_frame = TR_PROC_MAX_LINE;
    for (size_t i = 0; i < n; i++) {
        const struct pre_def *def = pre_find(names[i]);
        pp->stages[i].kind = def->kind;
        pp->stages[i].sep = def->sep;
        pp->stages[i].arg = def->arg;
        tr_buf_init(&pp->stages[i].partial);
        tr_buf_init(&pp->stages[i].scratch);
    }
    *out = pp;
    return 0;
}

void tr_preproc_set_limits(struct tr_preproc *pp, const struct tr_preproc_limits *l) {
    pp->lim = *l;
    if (!pp->lim.max_frame) pp->lim.max_frame = TR_PROC_MAX_LINE;
}

void tr_preproc_destroy(struct tr_preproc *pp) {
    if (!pp) return;
    if (pp->lim.budget) tr_budget_release(pp->lim.budget, &pp->hold);
    for (size_t i = 0; i < pp->n; i++) {
        tr_buf_fini(&pp->stages[i].partial);
        tr_buf_fini(&pp->stages[i].scratch);
        tr_proc_gelf_free(pp->stages[i].gelf);
    }
    tr_free(pp->stages);
    tr_free(pp);
}

static int feed_stage(struct proc_ctx *c, size_t i, const char *data, size_t len);

int tr_proc_emit(struct proc_ctx *c, size_t next, const char *data, size_t len) {
    if (next == c->pp->n) return c->fn(c->arg, data, len);
    return feed_stage(c, next, data, len);
}

/* Rate-limited: a stream of garbage must not turn into a stream of log lines. */
void tr_proc_drop(struct proc_ctx *c, const char *why) {
    struct tr_preproc *pp = c->pp;
    unsigned long n = ++pp->dropped;
    tr_log_limited(pp->lim.log ? pp->lim.log : &pp->own_log, TR_LOG_WARN, MOD,
                   "dropped a frame: %s (%lu so far on this stream)", why, n);
    if (pp->on_error) pp->on_error(pp->on_error_arg, why);
}

/* The chain cannot go on: every later feed returns rc. */
int tr_proc_fail(struct proc_ctx *c, int rc) {
    struct tr_preproc *pp = c->pp;
    if (!pp->failed && pp->on_error) {
        char why[128];
        snprintf(why, sizeof why, "the stream ends: %s", tr_strerror(rc));
        pp->failed = rc;
        pp->on_error(pp->on_error_arg, why);
    }
    pp->failed = rc;
    return rc;
}

/* Move the chain's charge by delta bytes; over the budget the chain fails. */
int tr_proc_charge(struct proc_ctx *c, int64_t delta) {
    struct tr_preproc *pp = c->pp;
    if (!pp->lim.budget || delta == 0) return 0;
    uint64_t total = delta < 0 ? pp->hold.bytes - (uint64_t)-delta : pp->hold.bytes + (uint64_t)delta;
    int rc = tr_budget_set(pp->lim.budget, &pp->hold, total, delta < 0 ? UINT64_MAX : pp->lim.share);
    return rc ? tr_proc_fail(c, rc) : 0;
}

int tr_proc_grow(struct proc_ctx *c, struct tr_buf *b, size_t extra) {
    if (extra > SIZE_MAX / 4 - b->len) return -ENOMEM;
    if (b->len + extra + 1 <= b->cap) return 0;
    /* what tr_buf_reserve will allocate: doubling from 64 */
    size_t nc = b->cap ? b->cap : 64;
    while (nc < b->len + extra + 1) nc *= 2;
    int rc = tr_proc_charge(c, (int64_t)nc - (int64_t)b->cap);
    return rc ? rc : tr_buf_reserve(b, extra);
}

static int append(struct proc_ctx *c, struct tr_buf *b, const void *p, size_t n) {
    int rc = tr_proc_grow(c, b, n);
    return rc ? rc : tr_buf_append(b, p, n);
}

/* After a frame: empty b, and free it when it is large, so one long frame
 * does not keep its memory (and its charge) for the rest of the stream. */
void tr_proc_done_with(struct proc_ctx *c, struct tr_buf *b) {
    if (b->cap <= 65536) {
        tr_buf_reset(b);
        return;
    }
    (void)tr_proc_charge(c, -(int64_t)b->cap);
    tr_buf_fini(b);
}

/* --------------------------------------------------------------- lines */

static int lines_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    while (len) {
        const char *nl = memchr(data, s->sep, len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->skipping) {
            if (nl) s->skipping = 0;
        } else if (nl && s->partial.len == 0 && take <= c->pp->lim.max_frame) {
            int rc = tr_proc_emit(c, i + 1, data, take);
            if (rc) return rc;
        } else if (s->partial.len + take > c->pp->lim.max_frame) {
            tr_proc_drop(c, "line longer than the limit");
            tr_proc_done_with(c, &s->partial);
            s->skipping = nl == NULL;
        } else {
            int rc = append(c, &s->partial, data, take);
            if (rc) return rc;
            if (nl) {
                rc = tr_proc_emit(c, i + 1, s->partial.data, s->partial.len);
                tr_proc_done_with(c, &s->partial);
                if (rc) return rc;
            }
        }
        if (!nl) break;
        data = nl + 1;
        len -= take + 1;
    }
    return 0;
}

/* ------------------------------------------------------- length-framed */

/* A prefix has been read: expect len payload bytes. One above max_frame
 * ends the stream: skipping it could mean waiting for 2^64 bytes, and a
 * prefix that large means the framing is lost anyway. */
static int framed_begin(struct proc_ctx *c, size_t i, uint64_t len) {
    struct stage *s = &c->pp->stages[i];
    if (len > c->pp->lim.max_frame) {
        TR_DEBUG(MOD, "length prefix %llu above the limit of %llu: the stream ends",
                 (unsigned long long)len, (unsigned long long)c->pp->lim.max_frame);
        return tr_proc_fail(c, TR_ETOOBIG);
    }
    if (len == 0) return tr_proc_emit(c, i + 1, "", 0);
    s->have_len = 1;
    s->want = len;
    return 0;
}

/* The payload part of a framed stage; returns bytes consumed via *used. */
static int framed_body(struct proc_ctx *c, size_t i, const char *data, size_t len, size_t *used) {
    struct stage *s = &c->pp->stages[i];
    *used = 0;
    if (s->partial.len == 0 && len >= s->want) {
        size_t n = (size_t)s->want;
        s->have_len = 0;
        *used = n;
        return tr_proc_emit(c, i + 1, data, n);
    }
    size_t n = s->want - s->partial.len < len ? (size_t)(s->want - s->partial.len) : len;
    int rc = append(c, &s->partial, data, n);
    if (rc) return rc;
    *used = n;
    if (s->partial.len < s->want) return 0;
    s->have_len = 0;
    rc = tr_proc_emit(c, i + 1, s->partial.data, s->partial.len);
    tr_proc_done_with(c, &s->partial);
    return rc;
}

static int length_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    while (len) {
        size_t used;
        if (s->have_len) {
            int rc = framed_body(c, i, data, len, &used);
            if (rc) return rc;
        } else {
            used = 8 - s->partial.len < len ? 8 - s->partial.len : len;
            int rc = append(c, &s->partial, data, used);
            if (rc) return rc;
            if (s->partial.len == 8) {
                uint64_t n = tr_proc_get64((const unsigned char *)s->partial.data);
                tr_buf_reset(&s->partial);
                rc = framed_begin(c, i, n);
                if (rc) return rc;
            }
        }
        data += used;
        len -= used;
    }
    return 0;
}

static int is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

static int textlen_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    while (len) {
        if (s->have_len) {
            size_t used;
            int rc = framed_body(c, i, data, len, &used);
            if (rc) return rc;
            data += used;
            len -= used;
            continue;
        }
        char ch = *data++;
        len--;
        if (!is_space(ch)) {
            if (ch < '0' || ch > '9' || s->partial.len >= MAX_DIGITS) s->bad_prefix = 1;
            else if (append(c, &s->partial, &ch, 1) != 0) return c->pp->failed ? c->pp->failed : -ENOMEM;
            continue;
        }
        int bad = s->bad_prefix || s->partial.len == 0;
        uint64_t n = 0;
        for (size_t k = 0; k < s->partial.len; k++) n = n * 10 + (uint64_t)(s->partial.data[k] - '0');
        tr_buf_reset(&s->partial);
        s->bad_prefix = 0;
        if (bad) {
            tr_proc_drop(c, "textual length prefix is not a number");
            continue;
        }
        int rc = framed_begin(c, i, n);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------ frame by frame */

static int base64_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    tr_buf_reset(&s->scratch);
    int rc = tr_proc_grow(c, &s->scratch, len / 4 * 3 + 3);
    if (rc) return rc;
    size_t n;
    if (tr_base64_decode(data, len, (unsigned char *)s->scratch.data, &n) != 0) {
        tr_proc_drop(c, "not valid base64");
        return 0;
    }
    s->scratch.len = n;
    return tr_proc_emit(c, i + 1, s->scratch.data, n);
}

/* lines-no-buffer, lines-cr-no-buffer: every piece of this frame is a
 * frame, the last one too (so "a\n" gives "a" and ""); nothing is kept. */
static int nobuf_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    for (;;) {
        const char *nl = len ? memchr(data, s->sep, len) : NULL;   /* data may be NULL when len is 0 */
        size_t take = nl ? (size_t)(nl - data) : len;
        int rc = take > c->pp->lim.max_frame ? (tr_proc_drop(c, "line longer than the limit"), 0)
                                             : tr_proc_emit(c, i + 1, data, take);
        if (rc || !nl) return rc;
        data = nl + 1;
        len -= take + 1;
    }
}

/* ingest-ns: the first 8 bytes are the frame's ingest time (u64 BE). */
static int ingest_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    if (len < 8) {
        tr_proc_drop(c, "ingest-ns: frame shorter than 8 bytes");
        return 0;
    }
    c->pp->ingest_ns = tr_proc_get64((const unsigned char *)data);
    c->pp->have_ingest = 1;
    return tr_proc_emit(c, i + 1, data + 8, len - 8);
}

/* gzip, zlib, ...: the frame is one whole compressed stream; decompress
 * isolates the format from the magic bytes and passes anything else on. */
static int inflate_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    int fmt = s->arg;
    if (s->kind == ST_DECOMPRESS) {
        fmt = tr_proc_sniff(data, len);
        if (fmt < 0) return tr_proc_emit(c, i + 1, data, len);
    }
    tr_buf_reset(&s->scratch);
    const char *why = NULL;
    int rc = tr_proc_inflate(c, (enum tr_proc_fmt)fmt, data, len, &s->scratch, &why);
    if (rc < 0) return rc;
    if (rc > 0) {
        tr_proc_drop(c, why);
        tr_proc_done_with(c, &s->scratch);
        return 0;
    }
    rc = tr_proc_emit(c, i + 1, s->scratch.data, s->scratch.len);
    tr_proc_done_with(c, &s->scratch);
    return rc;
}

static int feed_stage(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    switch (c->pp->stages[i].kind) {
    case ST_LINES: return lines_feed(c, i, data, len);
    case ST_LINES_NOBUF: return nobuf_feed(c, i, data, len);
    case ST_REMOVE_EMPTY: return len ? tr_proc_emit(c, i + 1, data, len) : 0;
    case ST_BASE64: return base64_feed(c, i, data, len);
    case ST_LENGTH: return length_feed(c, i, data, len);
    case ST_TEXTLEN: return textlen_feed(c, i, data, len);
    case ST_INFLATE:
    case ST_DECOMPRESS: return inflate_feed(c, i, data, len);
    case ST_GELF: return tr_proc_gelf_feed(c, i, data, len);
    case ST_INGEST_NS: return ingest_feed(c, i, data, len);
    }
    return 0;
}

int tr_preproc_feed(struct tr_preproc *pp, const char *data, size_t len, tr_frame_fn fn,
                    void *arg) {
    if (pp->failed) return pp->failed;
    struct proc_ctx c = {pp, fn, arg};
    pp->have_ingest = 0;
    return tr_proc_emit(&c, 0, data, len);
}

uint64_t tr_proc_now(const struct tr_preproc *pp) {
    return pp->lim.now_ns ? pp->lim.now_ns(pp->lim.now_arg) : tr_now_ns();
}

int tr_preproc_ingest_ns(const struct tr_preproc *pp, uint64_t *ns) {
    if (pp->have_ingest) *ns = pp->ingest_ns;
    return pp->have_ingest;
}

/* What a failed chain held is not a frame: it is given back, not emitted. */
static void discard(struct tr_preproc *pp) {
    for (size_t i = 0; i < pp->n; i++) {
        struct stage *s = &pp->stages[i];
        tr_buf_fini(&s->partial);
        tr_buf_fini(&s->scratch);
        tr_proc_gelf_free(s->gelf);
        s->gelf = NULL;
        s->skipping = s->have_len = s->bad_prefix = 0;
        s->want = 0;
    }
    if (pp->lim.budget) tr_budget_release(pp->lim.budget, &pp->hold);
}

int tr_preproc_finish(struct tr_preproc *pp, tr_frame_fn fn, void *arg) {
    if (pp->failed) {
        discard(pp);
        return 0;
    }
    struct proc_ctx c = {pp, fn, arg};
    pp->have_ingest = 0;
    for (size_t i = 0; i < pp->n; i++) {
        struct stage *s = &pp->stages[i];
        if (s->kind == ST_LINES) {
            s->skipping = 0;
            if (s->partial.len == 0) continue;
            int rc = tr_proc_emit(&c, i + 1, s->partial.data, s->partial.len);
            tr_proc_done_with(&c, &s->partial);
            if (rc) return rc;
        } else if (s->kind == ST_LENGTH || s->kind == ST_TEXTLEN) {
            if (s->partial.len || s->have_len || s->bad_prefix) tr_proc_drop(&c, "stream ended inside a frame");
            tr_proc_done_with(&c, &s->partial);
            s->have_len = s->bad_prefix = 0;
        } else if (s->kind == ST_GELF) {
            tr_proc_gelf_finish(&c, i);
        }
        if (pp->failed) return pp->failed;
    }
    return 0;
}

void tr_preproc_on_error(struct tr_preproc *pp, tr_preproc_err_fn fn, void *arg) {
    pp->on_error = fn;
    pp->on_error_arg = arg;
}

unsigned long tr_preproc_dropped(const struct tr_preproc *pp) { return pp->dropped; }

/* -------------------------------------------------------- postprocessors */

/* A chain's output so far: chunks end to end in buf, chunk k ending at
 * ends[k]. Each stage reads one such list and writes the next. */
struct chunks {
    struct tr_buf buf;
    size_t *ends;
    size_t n, cap;
};

struct tr_postproc {
    const struct post_def **defs;
    size_t n;
    uint64_t gelf_id;        /* the next GELF message id */
    struct chunks a, b;
};

int tr_postproc_create(char *const *names, size_t n, struct tr_postproc **out) {
    *out = NULL;
    if (tr_postproc_check(names, n, NULL) != 0) return TR_EINVAL_CFG;
    struct tr_postproc *pp = tr_calloc(1, sizeof *pp);
    if (!pp) return -ENOMEM;
    pp->defs = tr_calloc(n ? n : 1, sizeof *pp->defs);
    if (!pp->defs) {
        tr_free(pp);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) pp->defs[i] = post_find(names[i]);
    pp->n = n;
    tr_buf_init(&pp->a.buf);
    tr_buf_init(&pp->b.buf);
    *out = pp;
    return 0;
}

void tr_postproc_destroy(struct tr_postproc *pp) {
    if (!pp) return;
    tr_buf_fini(&pp->a.buf);
    tr_buf_fini(&pp->b.buf);
    tr_free(pp->a.ends);
    tr_free(pp->b.ends);
    tr_free(pp->defs);
    tr_free(pp);
}

static int push_end(struct chunks *c, size_t end) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        size_t *p = tr_realloc(c->ends, nc * sizeof *p);
        if (!p) return -ENOMEM;
        c->ends = p;
        c->cap = nc;
    }
    c->ends[c->n++] = end;
    return 0;
}

static int chunk_end(void *arg) {
    struct chunks *c = arg;
    return push_end(c, c->buf.len);
}

static int put_prefix64(struct tr_buf *o, uint64_t v) {
    unsigned char p[8];
    tr_proc_put64(p, v);
    return tr_buf_append(o, p, 8);
}

/* One stage over one chunk, appending its output chunk(s) to out. */
static int post_one(struct tr_postproc *pp, const struct post_def *d, uint64_t ingest_ns,
                    const char *in, size_t len, struct chunks *out) {
    struct tr_buf *o = &out->buf;
    int rc;
    switch (d->kind) {
    case PO_LINES:
        rc = tr_buf_append(o, in, len);
        if (!rc) rc = tr_buf_putc(o, '\n');
        break;
    case PO_LENGTH:
        rc = put_prefix64(o, len);
        if (!rc) rc = tr_buf_append(o, in, len);
        break;
    case PO_INGEST_NS:
        rc = put_prefix64(o, ingest_ns);
        if (!rc) rc = tr_buf_append(o, in, len);
        break;
    case PO_TEXTLEN:
        rc = tr_buf_printf(o, "%zu ", len);
        if (!rc) rc = tr_buf_append(o, in, len);
        break;
    case PO_BASE64: {
        size_t n = tr_base64_encoded_len(len);
        if (n == SIZE_MAX || n > TR_PROC_MAX_LINE * 2u) return TR_ETOOBIG;
        rc = tr_buf_reserve(o, n);
        if (rc) return rc;
        o->len += tr_base64_encode((const unsigned char *)in, len, o->data + o->len);
        o->data[o->len] = 0;
        break;
    }
    case PO_DEFLATE:
        rc = tr_proc_deflate((enum tr_proc_fmt)d->fmt, in, len, o);
        if (!rc) o->data[o->len] = 0;
        break;
    case PO_GELF:
        /* 0.11's chunk size: 8192 bytes with the 12-byte header */
        return tr_proc_gelf_chunk(in, len, pp->gelf_id++, 8192, o, chunk_end, out);
    default:
        rc = TR_EINVAL_CFG;
    }
    return rc ? rc : chunk_end(out);
}

int tr_postproc_run(struct tr_postproc *pp, uint64_t ingest_ns, struct tr_buf *b) {
    if (pp->n == 1 && pp->defs[0]->kind == PO_LINES) {
        /* `lines` alone, the commonest chain: the separator goes on in
         * place, the payload is not copied; one chunk, the whole of b */
        pp->a.n = 0;
        int rc = tr_buf_putc(b, '\n');
        if (!rc) rc = push_end(&pp->a, b->len);
        if (rc) pp->a.n = 0;
        return rc;
    }
    struct chunks *cur = &pp->a, *next = &pp->b;
    /* the payload becomes the one chunk of the first list */
    struct tr_buf t = cur->buf;
    cur->buf = *b;
    *b = t;
    cur->n = 0;
    int rc = chunk_end(cur);
    for (size_t i = 0; i < pp->n && !rc; i++) {
        tr_buf_reset(&next->buf);
        next->n = 0;
        size_t start = 0;
        for (size_t k = 0; k < cur->n && !rc; k++) {
            rc = post_one(pp, pp->defs[i], ingest_ns, cur->buf.data + start, cur->ends[k] - start, next);
            start = cur->ends[k];
        }
        struct chunks *x = cur;
        cur = next;
        next = x;
    }
    /* hand the result back in b; the caller's buffer stays with the chain */
    t = *b;
    *b = cur->buf;
    cur->buf = t;
    tr_buf_reset(&cur->buf);
    if (cur != &pp->a) {
        /* keep the chunk list where tr_postproc_chunk_end looks */
        struct chunks x = pp->a;
        pp->a = pp->b;
        pp->b = x;
    }
    if (rc) {
        pp->a.n = 0;
        return rc;
    }
    return 0;
}

size_t tr_postproc_chunks(const struct tr_postproc *pp) { return pp->a.n; }

size_t tr_postproc_chunk_end(const struct tr_postproc *pp, size_t k) { return pp->a.ends[k]; }

int tr_postproc_apply(char *const *names, size_t n, struct tr_buf *b) {
    struct tr_postproc *pp;
    int rc = tr_postproc_create(names, n, &pp);
    if (rc) return rc;
    rc = tr_postproc_run(pp, 0, b);
    tr_postproc_destroy(pp);
    return rc;
}
