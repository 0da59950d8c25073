/* proc.c - pre- and postprocessors (see proc.h for names and wire formats).
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

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec/base64.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/log.h"

#define MOD "proc"
#define MAX_DIGITS 10     /* textual-length-prefix: up to 4294967295, a u32 as in Tremor */

enum stage_kind { ST_LINES, ST_REMOVE_EMPTY, ST_BASE64, ST_LENGTH, ST_TEXTLEN };

struct pre_def {
    const char *name;
    enum stage_kind kind;
    char sep;             /* lines: the separator */
};

static const struct pre_def pre_defs[] = {
    {"lines", ST_LINES, '\n'},
    {"lines-null", ST_LINES, '\0'},
    {"lines-pipe", ST_LINES, '|'},
    {"remove-empty", ST_REMOVE_EMPTY, 0},
    {"base64", ST_BASE64, 0},
    {"length-prefixed", ST_LENGTH, 0},
    {"textual-length-prefix", ST_TEXTLEN, 0},
};

static const char *const post_names[] = {"lines", "base64", "length-prefixed",
                                         "textual-length-prefix"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Length-framed stages: reading the prefix, then want payload bytes.
 *
 *   HEAD --prefix complete--> BODY --want bytes--> emit, HEAD
 *     |--prefix above max_frame--> the chain fails (TR_ETOOBIG)
 *     +--bad textual prefix--> drop up to the next whitespace, HEAD
 */
struct stage {
    enum stage_kind kind;
    char sep;
    struct tr_buf partial;   /* lines: the unfinished line; framed: prefix or payload so far */
    struct tr_buf scratch;   /* base64: the decoded frame */
    int skipping;            /* lines: inside an over-long line */
    int have_len;            /* framed: in BODY */
    int bad_prefix;          /* textual: the prefix so far is not a number */
    uint64_t want;           /* framed: payload length */
};

struct tr_preproc {
    struct stage *stages;
    size_t n;
    unsigned long dropped;
    int failed;                  /* 0, or the error that ended the stream */
    struct tr_preproc_limits lim;
    struct tr_budget_hold hold;  /* sum of the stages' capacities */
    struct tr_log_limit own_log;
    tr_preproc_err_fn on_error;  /* NULL: nobody listens */
    void *on_error_arg;
};

static const struct pre_def *pre_find(const char *name) {
    for (size_t i = 0; i < COUNT(pre_defs); i++)
        if (strcmp(pre_defs[i].name, name) == 0) return &pre_defs[i];
    return NULL;
}

static int post_known(const char *name) {
    for (size_t i = 0; i < COUNT(post_names); i++)
        if (strcmp(post_names[i], name) == 0) return 1;
    return 0;
}

static void known_list(int pre, char *buf, size_t n) {
    size_t off = 0, count = pre ? COUNT(pre_defs) : COUNT(post_names);
    buf[0] = 0;
    for (size_t i = 0; i < count && off < n; i++) {
        const char *name = pre ? pre_defs[i].name : post_names[i];
        size_t len = strlen(name) + (off ? 2 : 0);
        if (off + len + 1 > n) break;
        memcpy(buf + off, off ? ", " : "", off ? 2 : 0);
        memcpy(buf + off + (off ? 2 : 0), name, strlen(name) + 1);
        off += len;
    }
}

static int check(char *const *names, size_t n, int pre, struct tr_diag *d) {
    for (size_t i = 0; i < n; i++) {
        if (pre ? pre_find(names[i]) != NULL : post_known(names[i])) continue;
        char known[256];
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
    }
    tr_free(pp->stages);
    tr_free(pp);
}

struct ctx {
    struct tr_preproc *pp;
    tr_frame_fn fn;
    void *arg;
};

static int feed_stage(struct ctx *c, size_t i, const char *data, size_t len);

static int emit(struct ctx *c, size_t next, const char *data, size_t len) {
    if (next == c->pp->n) return c->fn(c->arg, data, len);
    return feed_stage(c, next, data, len);
}

/* Rate-limited: a stream of garbage must not turn into a stream of log lines. */
static void drop(struct ctx *c, const char *why) {
    struct tr_preproc *pp = c->pp;
    unsigned long n = ++pp->dropped;
    tr_log_limited(pp->lim.log ? pp->lim.log : &pp->own_log, TR_LOG_WARN, MOD,
                   "dropped a frame: %s (%lu so far on this stream)", why, n);
    if (pp->on_error) pp->on_error(pp->on_error_arg, why);
}

/* The chain cannot go on: every later feed returns rc. */
static int fail(struct ctx *c, int rc) {
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

/* Room for extra more bytes in b, charged to the budget first. */
static int grow(struct ctx *c, struct tr_buf *b, size_t extra) {
    struct tr_preproc *pp = c->pp;
    if (b->len + extra + 1 <= b->cap) return 0;
    if (pp->lim.budget) {
        /* what tr_buf_reserve will allocate: doubling from 64 */
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + extra + 1) nc *= 2;
        uint64_t total = pp->hold.bytes - b->cap + nc;
        int rc = tr_budget_set(pp->lim.budget, &pp->hold, total, pp->lim.share);
        if (rc) return fail(c, rc);
    }
    return tr_buf_reserve(b, extra);
}

static int append(struct ctx *c, struct tr_buf *b, const void *p, size_t n) {
    int rc = grow(c, b, n);
    return rc ? rc : tr_buf_append(b, p, n);
}

/* After a frame: empty b, and free it when it is large, so one long frame
 * does not keep its memory (and its charge) for the rest of the stream. */
static void done_with(struct ctx *c, struct tr_buf *b) {
    if (b->cap <= 65536) {
        tr_buf_reset(b);
        return;
    }
    if (c->pp->lim.budget)
        (void)tr_budget_set(c->pp->lim.budget, &c->pp->hold, c->pp->hold.bytes - b->cap, UINT64_MAX);
    tr_buf_fini(b);
}

/* --------------------------------------------------------------- lines */

static int lines_feed(struct ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    while (len) {
        const char *nl = memchr(data, s->sep, len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->skipping) {
            if (nl) s->skipping = 0;
        } else if (nl && s->partial.len == 0 && take <= c->pp->lim.max_frame) {
            int rc = emit(c, i + 1, data, take);
            if (rc) return rc;
        } else if (s->partial.len + take > c->pp->lim.max_frame) {
            drop(c, "line longer than the limit");
            done_with(c, &s->partial);
            s->skipping = nl == NULL;
        } else {
            int rc = append(c, &s->partial, data, take);
            if (rc) return rc;
            if (nl) {
                rc = emit(c, i + 1, s->partial.data, s->partial.len);
                done_with(c, &s->partial);
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

static uint64_t be64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | p[k];
    return v;
}

/* A prefix has been read: expect len payload bytes. One above max_frame
 * ends the stream: skipping it could mean waiting for 2^64 bytes, and a
 * prefix that large means the framing is lost anyway. */
static int framed_begin(struct ctx *c, size_t i, uint64_t len) {
    struct stage *s = &c->pp->stages[i];
    if (len > c->pp->lim.max_frame) {
        TR_DEBUG(MOD, "length prefix %llu above the limit of %llu: the stream ends",
                 (unsigned long long)len, (unsigned long long)c->pp->lim.max_frame);
        return fail(c, TR_ETOOBIG);
    }
    if (len == 0) return emit(c, i + 1, "", 0);
    s->have_len = 1;
    s->want = len;
    return 0;
}

/* The payload part of a framed stage; returns bytes consumed via *used. */
static int framed_body(struct ctx *c, size_t i, const char *data, size_t len, size_t *used) {
    struct stage *s = &c->pp->stages[i];
    *used = 0;
    if (s->partial.len == 0 && len >= s->want) {
        size_t n = (size_t)s->want;
        s->have_len = 0;
        *used = n;
        return emit(c, i + 1, data, n);
    }
    size_t n = s->want - s->partial.len < len ? (size_t)(s->want - s->partial.len) : len;
    int rc = append(c, &s->partial, data, n);
    if (rc) return rc;
    *used = n;
    if (s->partial.len < s->want) return 0;
    s->have_len = 0;
    rc = emit(c, i + 1, s->partial.data, s->partial.len);
    done_with(c, &s->partial);
    return rc;
}

static int length_feed(struct ctx *c, size_t i, const char *data, size_t len) {
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
                uint64_t n = be64((const unsigned char *)s->partial.data);
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

static int textlen_feed(struct ctx *c, size_t i, const char *data, size_t len) {
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
            drop(c, "textual length prefix is not a number");
            continue;
        }
        int rc = framed_begin(c, i, n);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------ frame by frame */

static int base64_feed(struct ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    tr_buf_reset(&s->scratch);
    int rc = grow(c, &s->scratch, len / 4 * 3 + 3);
    if (rc) return rc;
    size_t n;
    if (tr_base64_decode(data, len, (unsigned char *)s->scratch.data, &n) != 0) {
        drop(c, "not valid base64");
        return 0;
    }
    s->scratch.len = n;
    return emit(c, i + 1, s->scratch.data, n);
}

static int feed_stage(struct ctx *c, size_t i, const char *data, size_t len) {
    switch (c->pp->stages[i].kind) {
    case ST_LINES: return lines_feed(c, i, data, len);
    case ST_REMOVE_EMPTY: return len ? emit(c, i + 1, data, len) : 0;
    case ST_BASE64: return base64_feed(c, i, data, len);
    case ST_LENGTH: return length_feed(c, i, data, len);
    case ST_TEXTLEN: return textlen_feed(c, i, data, len);
    }
    return 0;
}

int tr_preproc_feed(struct tr_preproc *pp, const char *data, size_t len, tr_frame_fn fn,
                    void *arg) {
    if (pp->failed) return pp->failed;
    struct ctx c = {pp, fn, arg};
    return emit(&c, 0, data, len);
}

/* What a failed chain held is not a frame: it is given back, not emitted. */
static void discard(struct tr_preproc *pp) {
    for (size_t i = 0; i < pp->n; i++) {
        struct stage *s = &pp->stages[i];
        tr_buf_fini(&s->partial);
        tr_buf_fini(&s->scratch);
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
    struct ctx c = {pp, fn, arg};
    for (size_t i = 0; i < pp->n; i++) {
        struct stage *s = &pp->stages[i];
        if (s->kind == ST_LINES) {
            s->skipping = 0;
            if (s->partial.len == 0) continue;
            int rc = emit(&c, i + 1, s->partial.data, s->partial.len);
            done_with(&c, &s->partial);
            if (rc) return rc;
        } else if (s->kind == ST_LENGTH || s->kind == ST_TEXTLEN) {
            if (s->partial.len || s->have_len || s->bad_prefix) drop(&c, "stream ended inside a frame");
            done_with(&c, &s->partial);
            s->have_len = s->bad_prefix = 0;
        }
    }
    return 0;
}

void tr_preproc_on_error(struct tr_preproc *pp, tr_preproc_err_fn fn, void *arg) {
    pp->on_error = fn;
    pp->on_error_arg = arg;
}

unsigned long tr_preproc_dropped(const struct tr_preproc *pp) { return pp->dropped; }

/* -------------------------------------------------------- postprocessors */

static int prepend(struct tr_buf *b, const char *p, size_t n) {
    int rc = tr_buf_reserve(b, n);
    if (rc) return rc;
    memmove(b->data + n, b->data, b->len + 1);
    memcpy(b->data, p, n);
    b->len += n;
    return 0;
}

static int post_base64(struct tr_buf *b) {
    size_t out = tr_base64_encoded_len(b->len);
    if (out == SIZE_MAX || out > TR_PROC_MAX_LINE * 2u) return TR_ETOOBIG;
    int rc = tr_buf_reserve(b, out - b->len);
    if (rc) return rc;
    b->len = tr_base64_encode((const unsigned char *)b->data, b->len, b->data);
    b->data[b->len] = 0;
    return 0;
}

int tr_postproc_apply(char *const *names, size_t n, struct tr_buf *b) {
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        int rc;
        if (strcmp(name, "lines") == 0) {
            rc = tr_buf_putc(b, '\n');
        } else if (strcmp(name, "length-prefixed") == 0) {
            unsigned char p[8];
            uint64_t len = b->len;
            for (int k = 7; k >= 0; k--, len >>= 8) p[k] = (unsigned char)len;
            rc = prepend(b, (const char *)p, 8);
        } else if (strcmp(name, "textual-length-prefix") == 0) {
            char p[24];
            int w = snprintf(p, sizeof p, "%zu ", b->len);
            rc = w > 0 ? prepend(b, p, (size_t)w) : -EINVAL;
        } else if (strcmp(name, "base64") == 0) {
            rc = post_base64(b);
        } else {
            rc = TR_EINVAL_CFG;
        }
        if (rc) return rc;
    }
    return 0;
}
