/* segment.c - segment files: names, and the read window that parses frames.
 *
 * A scan reads a segment in large blocks (TR_WAL_READ_BUF) and parses frames
 * in place, so reading costs one pread per block, not per record. It never
 * reads past its limit (the durable end while the segment is being written)
 * and checks the header CRC before it believes a length, and the length
 * against max_rec before it sizes anything by it. Not the recovery policy:
 * what to do with a bad frame is recover.c's and reader.c's business.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

struct tr_wal_seg *tr_wal_seg_new(const char *dir, uint64_t first_seq) {
    size_t n = strlen(dir) + 1 + 20 + 4 + 1;
    struct tr_wal_seg *s = tr_calloc(1, sizeof *s + n);
    if (!s) return NULL;
    snprintf(s->path, n, "%s/%020" PRIu64 ".wal", dir, first_seq);
    s->first_seq = first_seq;
    s->wfd = -1;
    return s;
}

void tr_wal_seg_free(struct tr_wal_seg *s) { tr_free(s); }

int tr_wal_seg_name_parse(const char *name, uint64_t *seq) {
    if (strlen(name) != 24 || strcmp(name + 20, ".wal") != 0) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (v == 0) return 0;   /* sequence numbers start at 1 */
    *seq = v;
    return 1;
}

void tr_wal_scan_init(struct tr_wal_scan *s, const struct tr_wal_io *io, uint32_t max_rec) {
    memset(s, 0, sizeof *s);
    s->io = io;
    s->fd = -1;
    s->max_rec = max_rec;
}

void tr_wal_scan_fini(struct tr_wal_scan *s) {
    tr_free(s->buf);
    s->buf = NULL;
    s->cap = 0;
    s->blen = 0;
}

void tr_wal_scan_reset(struct tr_wal_scan *s, int fd, uint64_t limit) {
    s->fd = fd;
    s->limit = limit;
    s->boff = 0;
    s->blen = 0;
}

/* Make the bytes at off available (as many as limit and the file allow, at
 * least n when they exist). Returns how many bytes from off are in the
 * buffer (*p points at off), or -errno. The buffer only ever holds bytes
 * below the limit in force when they were read. */
static ssize_t window(struct tr_wal_scan *s, uint64_t off, size_t n, const unsigned char **p) {
    if (off >= s->limit) return 0;
    uint64_t room = s->limit - off;
    if (n > room) n = (size_t)room;
    if (s->buf && off >= s->boff && off + n <= s->boff + s->blen) {
        *p = s->buf + (off - s->boff);
        return (ssize_t)(s->boff + s->blen - off);
    }
    if (n > s->cap || !s->buf) {
        size_t nc = s->cap ? s->cap : TR_WAL_READ_BUF;
        while (nc < n) nc *= 2;   /* n <= max frame, bounded by config */
        unsigned char *nb = tr_realloc(s->buf, nc);
        if (!nb) return -ENOMEM;
        s->buf = nb;
        s->cap = nc;
    }
    size_t want = s->cap;
    if (want > room) want = (size_t)room;
    s->blen = 0;
    ssize_t r = tr_wal_pread_full(s->io, s->fd, s->buf, want, off);
    if (r < 0) return r;
    s->boff = off;
    s->blen = (size_t)r;
    *p = s->buf;
    return r;
}

int tr_wal_scan_frame(struct tr_wal_scan *s, uint64_t off, struct tr_wal_frame *f) {
    memset(f, 0, sizeof *f);
    if (off >= s->limit) return TR_WAL_F_END;
    const unsigned char *p;
    ssize_t a = window(s, off, TR_WAL_FRAME_HDR, &p);
    if (a < 0) return (int)a;
    if (a < (ssize_t)TR_WAL_FRAME_HDR) return TR_WAL_F_BAD;   /* file ends early */
    if (tr_wal_frame_hdr_decode(p, s->max_rec, f) < 0) return TR_WAL_F_BAD;
    if (off + f->size > s->limit) return TR_WAL_F_BAD;
    a = window(s, off, (size_t)f->size, &p);
    if (a < 0) return (int)a;
    if ((uint64_t)a < f->size) return TR_WAL_F_BAD;
    const unsigned char *pl = p + TR_WAL_FRAME_HDR;
    if (!f->marker && s->held_seq && f->seq == s->held_seq) return TR_WAL_F_OK;   /* payload stays NULL */
    if (tr_wal_crc32c(0, pl, f->len) != tr_wal_get32(pl + f->len)) return TR_WAL_F_BADPAYLOAD;
    f->payload = pl;
    if (f->marker) {
        f->m_frontier = tr_wal_get64(pl);
        f->m_hint_seg = tr_wal_get64(pl + 8);
        f->m_hint_off = tr_wal_get64(pl + 16);
    }
    return TR_WAL_F_OK;
}

int tr_wal_scan_resync(struct tr_wal_scan *s, uint64_t off, uint64_t min_seq, uint64_t first_seq,
                       uint64_t *found) {
    uint64_t q = off + 1;
    while (q + TR_WAL_FRAME_HDR <= s->limit) {
        const unsigned char *p;
        ssize_t a = window(s, q, TR_WAL_FRAME_HDR, &p);
        if (a < 0) return (int)a;
        if (a < (ssize_t)TR_WAL_FRAME_HDR) break;   /* the file ends before the limit */
        size_t span = (size_t)a - TR_WAL_FRAME_HDR + 1, i;
        uint64_t cand = 0;
        int hit = 0;
        for (i = 0; i < span; i++) {
            struct tr_wal_frame f;
            if (tr_wal_frame_hdr_decode(p + i, s->max_rec, &f) == 0 &&
                (f.seq >= min_seq || tr_wal_frame_stale_at(first_seq, q + i, &f)) &&
                q + i + f.size <= s->limit) {
                cand = q + i;
                hit = 1;
                break;
            }
        }
        if (!hit) {
            q += span;
            continue;
        }
        struct tr_wal_frame f;
        int r = tr_wal_scan_frame(s, cand, &f);   /* may move the window */
        if (r < 0) return r;
        if (r == TR_WAL_F_OK) {
            *found = cand;
            return tr_wal_frame_stale_at(first_seq, cand, &f) ? 1 : 0;
        }
        q = cand + 1;
    }
    *found = s->limit;
    return 0;
}

int tr_wal_scan_past_stale(struct tr_wal_scan *s, uint64_t off, uint64_t min_seq, uint64_t first_seq,
                           uint64_t *found) {
    uint64_t q = off;
    for (;;) {
        struct tr_wal_frame f;
        int r = tr_wal_scan_frame(s, q, &f);
        if (r < 0) return r;
        if (r == TR_WAL_F_END) break;
        if (r == TR_WAL_F_OK && !f.marker && f.seq >= min_seq && !tr_wal_frame_stale_at(first_seq, q, &f)) {
            *found = q;
            return 0;
        }
        if (r == TR_WAL_F_OK || r == TR_WAL_F_BADPAYLOAD) {   /* a sound header: its length holds */
            q += f.size;
            continue;
        }
        uint64_t n;
        r = tr_wal_scan_resync(s, q, min_seq, first_seq, &n);
        if (r < 0) return r;
        if (n >= s->limit) break;
        q = n;
    }
    *found = s->limit;
    return 0;
}
