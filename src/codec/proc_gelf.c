/* proc_gelf.c - GELF chunking (0.11's gelf-chunking pre- and
 * postprocessors): reassembly of chunked GELF messages and cutting a
 * message into chunks. Decompressing a GELF payload is another stage's job
 * (decompress).
 *
 * A frame is one datagram, one of:
 *   0x1e 0x0f, message id (8 bytes, big-endian), seq (1), count (1), data
 *                       a chunk: seq in [0, count), at most 128 by the spec
 *   0x1f 0x3c, data     an unchunked message (0.11 accepts this "WELF")
 *   '{' ...             an unchunked, uncompressed message (2 bytes or more)
 * Anything else is dropped and counted. gelf-chunking-tcp removes the last
 * byte (the null terminator) of every message it emits.
 *
 * Invariant (what 0.11 leaves unbounded): an incomplete message lives at
 * most gelf_timeout_ns (5 s, the spec's limit) after its first chunk, at
 * most gelf_max_open are held (the oldest makes room), their bytes together
 * stay within max_frame and are charged to the budget; all are dropped and
 * counted when they go without completing.
 */
#include "codec/proc_int.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

#define GELF_TIMEOUT_NS 5000000000ull
#define GELF_MAX_CHUNKS 128

struct gset {
    uint64_t id;
    uint64_t first_ns;    /* when its first chunk came */
    unsigned count, stored;
    size_t bytes;
    char **seg;           /* count segments, NULL until they come */
    size_t *seglen;
};

struct proc_gelf {
    struct gset *sets;
    size_t n, cap;
    uint64_t bytes;       /* of every set's segments */
};

static void set_free(struct gset *s) {
    for (unsigned k = 0; k < s->count; k++) tr_free(s->seg[k]);
    tr_free(s->seg);
    tr_free(s->seglen);
}

/* Take set k out (uncharging it); count it as dropped when why is set. */
static void set_remove(struct proc_ctx *c, struct proc_gelf *g, size_t k, const char *why) {
    struct gset *s = &g->sets[k];
    g->bytes -= s->bytes;
    (void)tr_proc_charge(c, -(int64_t)s->bytes);
    if (why) tr_proc_drop(c, why);
    set_free(s);
    g->sets[k] = g->sets[--g->n];
}

static size_t oldest(const struct proc_gelf *g, size_t except) {
    size_t best = g->n;
    for (size_t k = 0; k < g->n; k++)
        if (k != except && (best == g->n || g->sets[k].first_ns < g->sets[best].first_ns)) best = k;
    return best;
}

static int deliver(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    if (c->pp->stages[i].arg) {   /* TCP: the null terminator goes */
        if (len == 0) return 0;
        len--;
    }
    return tr_proc_emit(c, i + 1, data, len);
}

static void expire(struct proc_ctx *c, struct proc_gelf *g, uint64_t now) {
    uint64_t t = c->pp->lim.gelf_timeout_ns ? c->pp->lim.gelf_timeout_ns : GELF_TIMEOUT_NS;
    for (size_t k = 0; k < g->n;)
        if (now > g->sets[k].first_ns && now - g->sets[k].first_ns > t)
            set_remove(c, g, k, "GELF message incomplete at its timeout");
        else
            k++;
}

static int assemble(struct proc_ctx *c, size_t i, struct proc_gelf *g, size_t k) {
    struct stage *st = &c->pp->stages[i];
    struct gset *s = &g->sets[k];
    tr_buf_reset(&st->scratch);
    int rc = tr_proc_grow(c, &st->scratch, s->bytes);
    if (rc) return rc;
    for (unsigned j = 0; j < s->count; j++) {
        memcpy(st->scratch.data + st->scratch.len, s->seg[j], s->seglen[j]);
        st->scratch.len += s->seglen[j];
    }
    set_remove(c, g, k, NULL);
    rc = deliver(c, i, st->scratch.data, st->scratch.len);
    tr_proc_done_with(c, &st->scratch);
    return rc;
}

static int new_set(struct proc_gelf *g, uint64_t id, unsigned count, uint64_t now, size_t *k) {
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 8;
        struct gset *p = tr_realloc(g->sets, nc * sizeof *p);
        if (!p) return -ENOMEM;
        g->sets = p;
        g->cap = nc;
    }
    struct gset *s = &g->sets[g->n];
    memset(s, 0, sizeof *s);
    s->seg = tr_calloc(count, sizeof *s->seg);
    s->seglen = tr_calloc(count, sizeof *s->seglen);
    if (!s->seg || !s->seglen) {
        tr_free(s->seg);
        tr_free(s->seglen);
        return -ENOMEM;
    }
    s->id = id;
    s->count = count;
    s->first_ns = now;
    *k = g->n++;
    return 0;
}

static int chunk_in(struct proc_ctx *c, size_t i, const unsigned char *p, size_t len) {
    struct tr_preproc *pp = c->pp;
    struct stage *st = &pp->stages[i];
    uint64_t id = tr_proc_get64(p + 2);
    unsigned seq = p[10], count = p[11];
    const char *data = (const char *)p + 12;
    size_t dlen = len - 12;
    if (!st->gelf && !(st->gelf = tr_calloc(1, sizeof *st->gelf))) return tr_proc_fail(c, -ENOMEM);
    struct proc_gelf *g = st->gelf;
    uint64_t now = tr_proc_now(pp);
    expire(c, g, now);
    if (count == 1) return deliver(c, i, data, dlen);
    if (seq >= count) {
        tr_proc_drop(c, "GELF chunk number out of range");
        return 0;
    }
    size_t k = g->n;
    for (size_t j = 0; j < g->n; j++)
        if (g->sets[j].id == id) k = j;
    if (k < g->n && g->sets[k].seg[seq]) {   /* 0.11 gives the message up too */
        set_remove(c, g, k, "duplicate GELF chunk");
        return 0;
    }
    uint64_t cap = pp->lim.max_frame;
    if ((k < g->n ? g->sets[k].bytes : 0) + dlen > cap) {
        if (k < g->n) set_remove(c, g, k, "GELF message larger than the limit");
        else tr_proc_drop(c, "GELF message larger than the limit");
        return 0;
    }
    if (k == g->n) {
        uint32_t most = pp->lim.gelf_max_open ? pp->lim.gelf_max_open : TR_PROC_GELF_OPEN;
        while (g->n >= most) set_remove(c, g, oldest(g, g->n), "GELF message evicted for a newer one");
        int rc = new_set(g, id, count, now, &k);
        if (rc) return tr_proc_fail(c, rc);
    }
    /* set k holds at most cap - dlen, so this ends before it is evicted;
     * set_remove moves the last set into the hole, so k is looked up again */
    while (g->bytes + dlen > cap) {
        set_remove(c, g, oldest(g, k), "GELF message evicted for a newer one");
        for (size_t j = 0; j < g->n; j++)
            if (g->sets[j].id == id) k = j;
    }
    int rc = tr_proc_charge(c, (int64_t)dlen);
    if (rc) return rc;
    struct gset *s = &g->sets[k];
    s->seg[seq] = tr_malloc(dlen ? dlen : 1);
    if (!s->seg[seq]) return tr_proc_fail(c, -ENOMEM);
    memcpy(s->seg[seq], data, dlen);
    s->seglen[seq] = dlen;
    s->bytes += dlen;
    g->bytes += dlen;
    if (++s->stored < s->count) return 0;
    return assemble(c, i, g, k);
}

int tr_proc_gelf_feed(struct proc_ctx *c, size_t i, const char *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x3c) return deliver(c, i, data + 2, len - 2);
    if (len >= 12 && p[0] == 0x1e && p[1] == 0x0f) return chunk_in(c, i, p, len);
    if (len >= 2 && p[0] == '{') return deliver(c, i, data, len);
    tr_proc_drop(c, "not a GELF chunk or message");
    return 0;
}

void tr_proc_gelf_finish(struct proc_ctx *c, size_t i) {
    struct proc_gelf *g = c->pp->stages[i].gelf;
    if (!g) return;
    while (g->n) set_remove(c, g, g->n - 1, "stream ended inside a GELF message");
    tr_proc_gelf_free(g);
    c->pp->stages[i].gelf = NULL;
}

void tr_proc_gelf_free(struct proc_gelf *g) {
    if (!g) return;
    for (size_t k = 0; k < g->n; k++) set_free(&g->sets[k]);
    tr_free(g->sets);
    tr_free(g);
}

/* An empty message is one chunk with no data (0.11 would send nothing). */
int tr_proc_gelf_chunk(const char *in, size_t len, uint64_t id, size_t chunk, struct tr_buf *out,
                       int (*end)(void *arg), void *arg) {
    size_t per = chunk - 12;
    size_t n = len ? (len + per - 1) / per : 1;
    if (n > GELF_MAX_CHUNKS) return TR_ETOOBIG;
    int rc = tr_buf_reserve(out, len + 12 * n);
    if (rc) return rc;
    for (size_t k = 0; k < n; k++) {
        size_t off = k * per, m = len - off < per ? len - off : per;
        unsigned char h[12] = {0x1e, 0x0f};
        tr_proc_put64(h + 2, id);
        h[10] = (unsigned char)k;
        h[11] = (unsigned char)n;
        if ((rc = tr_buf_append(out, h, 12)) || (rc = tr_buf_append(out, in + off, m)) || (rc = end(arg)))
            return rc;
    }
    return 0;
}
