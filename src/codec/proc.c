/* proc.c - `lines` pre/postprocessors (more to come, see README).
 *
 * The lines preprocessor emits complete lines straight from the input where
 * it can and only copies the partial tail; a line longer than
 * TR_PROC_MAX_LINE is skipped to its end and counted, never buffered.
 */
#include "codec/proc.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

enum stage_kind { ST_LINES };

struct stage {
    enum stage_kind kind;
    struct tr_buf partial;
    int skipping;     /* inside an over-long line: drop until the next newline */
};

struct tr_preproc {
    struct stage *stages;
    size_t n;
    unsigned long dropped;
};

static const char *const pre_names[] = {"lines", NULL};
static const char *const post_names[] = {"lines", NULL};

static int check(char *const *names, size_t n, const char *const *known, const char *what,
                 struct tr_diag *d) {
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, names[i]) == 0) ok = 1;
        if (!ok)
            return tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0, "unknown %s '%s' (known: lines)", what,
                               names[i]);
    }
    return 0;
}

int tr_preproc_check(char *const *names, size_t n, struct tr_diag *d) {
    return check(names, n, pre_names, "preprocessor", d);
}

int tr_postproc_check(char *const *names, size_t n, struct tr_diag *d) {
    return check(names, n, post_names, "postprocessor", d);
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
    for (size_t i = 0; i < n; i++) {
        pp->stages[i].kind = ST_LINES;
        tr_buf_init(&pp->stages[i].partial);
    }
    *out = pp;
    return 0;
}

void tr_preproc_destroy(struct tr_preproc *pp) {
    if (!pp) return;
    for (size_t i = 0; i < pp->n; i++) tr_buf_fini(&pp->stages[i].partial);
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

static int lines_feed(struct ctx *c, size_t i, const char *data, size_t len) {
    struct stage *s = &c->pp->stages[i];
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->skipping) {
            if (nl) s->skipping = 0;
        } else if (nl && s->partial.len == 0) {
            int rc = emit(c, i + 1, data, take);
            if (rc) return rc;
        } else if (s->partial.len + take > TR_PROC_MAX_LINE) {
            c->pp->dropped++;
            TR_WARN("lines", "dropped a line longer than %u bytes", TR_PROC_MAX_LINE);
            tr_buf_reset(&s->partial);
            s->skipping = nl == NULL;
        } else {
            int rc = tr_buf_append(&s->partial, data, take);
            if (rc) return rc;
            if (nl) {
                rc = emit(c, i + 1, s->partial.data, s->partial.len);
                tr_buf_reset(&s->partial);
                if (rc) return rc;
            }
        }
        if (!nl) break;
        data = nl + 1;
        len -= take + 1;
    }
    return 0;
}

static int feed_stage(struct ctx *c, size_t i, const char *data, size_t len) {
    return lines_feed(c, i, data, len);
}

int tr_preproc_feed(struct tr_preproc *pp, const char *data, size_t len, tr_frame_fn fn,
                    void *arg) {
    struct ctx c = {pp, fn, arg};
    return emit(&c, 0, data, len);
}

int tr_preproc_finish(struct tr_preproc *pp, tr_frame_fn fn, void *arg) {
    struct ctx c = {pp, fn, arg};
    for (size_t i = 0; i < pp->n; i++) {
        struct stage *s = &pp->stages[i];
        s->skipping = 0;
        if (s->partial.len == 0) continue;
        int rc = emit(&c, i + 1, s->partial.data, s->partial.len);
        tr_buf_reset(&s->partial);
        if (rc) return rc;
    }
    return 0;
}

unsigned long tr_preproc_dropped(const struct tr_preproc *pp) { return pp->dropped; }

int tr_postproc_apply(char *const *names, size_t n, struct tr_buf *b) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "lines") == 0) {
            int rc = tr_buf_putc(b, '\n');
            if (rc) return rc;
        } else {
            return TR_EINVAL_CFG;
        }
    }
    return 0;
}
