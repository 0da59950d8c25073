/* reader.c - the read cursor: durable records in order, damage skipped and counted.
 *
 * Positions are log positions (G): file offsets with the segment headers left
 * out, counted from the oldest segment present at open, so one number orders
 * every byte of the log. The reader never reads past the durable end the sync
 * thread published, verifies every frame's CRCs, and serves frames from a
 * block-sized window (segment.c), so a read is one pread per block at most.
 * A damaged region is skipped by resynchronising on the next valid frame; the
 * records it held are counted once, quarantined, and treated as acknowledged.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

#include "core/log.h"

long tr_wal_seg_lookup(struct tr_wal *w, uint64_t pos) {
    long lo = 0, hi = (long)w->nsegs - 1, ans = -1;
    while (lo <= hi) {   /* last segment with g0 <= pos: empty ones are stepped over */
        long mid = lo + (hi - lo) / 2;
        if (w->segs[mid]->g0 <= pos) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

void tr_wal_reader_drop(struct tr_wal *w) {
    if (w->rseg && w->rscan.fd >= 0) w->io->close(w->io->ctx, w->rscan.fd);
    w->rseg = NULL;
    tr_wal_scan_reset(&w->rscan, -1, 0);
}

/* Bytes of seg the reader may see: the whole file once sealed, else (and in
 * any case) no further than the durable end. */
static uint64_t readable_limit(struct tr_wal *w, struct tr_wal_seg *s, int *complete) {
    uint64_t dl = w->durable_g >= s->g0 ? w->durable_g - s->g0 + TR_WAL_SEG_HDR : TR_WAL_SEG_HDR;
    *complete = 0;
    if (s == w->active) return dl;
    if (s->size <= dl) {
        *complete = 1;
        return s->size;
    }
    return dl;
}

static int use_seg(struct tr_wal *w, struct tr_wal_seg *s, uint64_t limit) {
    if (w->rseg != s) {
        tr_wal_reader_drop(w);
        w->rseg = s;
        int fd = s->gone ? -ENOENT : w->io->open(w->io->ctx, s->path, O_RDONLY, 0);
        if (fd == -ENOENT) {
            if (!s->gone) TR_WARN("wal", "%s: segment missing, its records are lost", s->path);
            s->gone = 1;
            fd = -1;
        } else if (fd < 0) {
            w->rseg = NULL;
            return fd;
        }
        tr_wal_scan_reset(&w->rscan, fd, limit);
    }
    w->rscan.limit = s->gone ? TR_WAL_SEG_HDR : limit;
    return 0;
}

/* Count a damaged region once (recovery may have counted it already). */
static void damaged(struct tr_wal *w, struct tr_wal_seg *s, uint64_t off, uint64_t end) {
    if (end <= off || off < s->checked_off) return;
    w->corrupt_bytes += end - off;
    s->checked_off = end;
    TR_WARN("wal", "%s: %" PRIu64 " damaged bytes at offset %" PRIu64 " skipped", s->path,
            end - off, off);
    tr_wal_quarantine(w, s, off, end - off);
}

/* A frame with sound checksums and a number it cannot have where it stands:
 * corrupt; counted once, quarantined, stepped over by its (checked) size. */
static void bad_seq(struct tr_wal *w, struct tr_wal_seg *s, uint64_t off, const struct tr_wal_frame *f) {
    if (off < s->checked_off) return;
    w->bad_seq_frames++;
    TR_WARN("wal", "%s: frame at offset %" PRIu64 " claims record %" PRIu64
            ", impossible there (segment starts at %" PRIu64 ", next number %" PRIu64 "): corrupt", s->path,
            off, f->seq, s->first_seq, w->next_seq);
    damaged(w, s, off, off + f->size);
}

/* The data of segment ix ended before its file does (a reused file): move
 * pos to the next segment and return 1, or 0 if there is none. */
static int past_end(struct tr_wal *w, long ix, uint64_t *pos) {
    if ((size_t)ix + 1 >= w->nsegs) return 0;
    *pos = w->segs[ix + 1]->g0;
    return 1;
}

/* Every record segment ix can hold was read: they are numbered below the
 * next segment's first. */
static int all_read(struct tr_wal *w, long ix, uint64_t expect) {
    return (size_t)ix + 1 < w->nsegs && expect >= w->segs[ix + 1]->first_seq;
}

/* Older content of a reused file shows at `at` (the trouble began at off,
 * where pos stands). With all of the segment's records read, that is where
 * its data ends. Otherwise records are missing: look past the older content
 * for the current use's data (a write a power cut lost leaves older frames
 * showing in the middle); the bytes up to it are damage. 1: pos moved (go
 * on), 0: nothing more in the log, or -errno. */
static int stale_from(struct tr_wal *w, long ix, uint64_t off, uint64_t at, uint64_t expect, uint64_t *pos) {
    struct tr_wal_seg *s = w->segs[ix];
    if (!all_read(w, ix, expect)) {
        uint64_t r;
        int rc = tr_wal_scan_past_stale(&w->rscan, at, expect, s->first_seq, &r);
        if (rc < 0) return rc;
        if (r < w->rscan.limit) {
            damaged(w, s, off, r);
            *pos += r - off;
            return 1;
        }
    }
    return past_end(w, ix, pos);
}

enum { NR_RECORD, NR_NONE };
struct step {
    int kind;
    uint64_t rpos, npos;          /* record's position, position after it */
    struct tr_wal_frame f;
};

/* From pos, find the first record numbered >= expect, stepping over markers,
 * stale frames and damage. NR_NONE: nothing more is readable (npos = where
 * the reader stands). */
static int next_record(struct tr_wal *w, uint64_t pos, uint64_t expect, struct step *st) {
    for (;;) {
        long ix = tr_wal_seg_lookup(w, pos);
        if (ix < 0 && w->nsegs && pos < w->segs[0]->g0) {
            /* Before the oldest segment: the bytes were reclaimed, which
             * means they held only acknowledged records and markers (the
             * horizon may point at a marker appended after the last record
             * it read). */
            pos = w->segs[0]->g0;
            continue;
        }
        if (ix < 0) {
            st->kind = NR_NONE;
            st->npos = pos;
            return 0;
        }
        struct tr_wal_seg *s = w->segs[ix];
        int complete;
        uint64_t limit = readable_limit(w, s, &complete);
        int rc = use_seg(w, s, limit);
        if (rc < 0) return rc;
        uint64_t off = pos - s->g0 + TR_WAL_SEG_HDR;
        int r = tr_wal_scan_frame(&w->rscan, off, &st->f);
        if (r < 0) return r;
        if (r == TR_WAL_F_OK && tr_wal_frame_stale(s, off, &st->f)) {
            /* a reused file's older content: this segment's data ended */
            rc = stale_from(w, ix, off, off, expect, &pos);
            if (rc < 0) return rc;
            if (rc) continue;
            st->kind = NR_NONE;
            st->npos = pos;
            return 0;
        }
        if (r == TR_WAL_F_OK) {
            /* a number at or past the next one to assign was never written */
            if (!st->f.marker && (!tr_wal_seq_plausible(s, off, st->f.seq) || st->f.seq >= w->next_seq)) {
                bad_seq(w, s, off, &st->f);
                pos += st->f.size;
                continue;
            }
            if (off + st->f.size > s->checked_off && off >= s->checked_off) s->checked_off = off + st->f.size;
            if (st->f.marker || st->f.seq < expect) {
                pos += st->f.size;
                continue;
            }
            st->kind = NR_RECORD;
            st->rpos = pos;
            st->npos = pos + st->f.size;
            return 0;
        }
        if (r == TR_WAL_F_END) {
            if ((complete || s->gone) && (size_t)ix + 1 < w->nsegs) {
                pos = w->segs[ix + 1]->g0;
                continue;
            }
            st->kind = NR_NONE;
            st->npos = pos;
            return 0;
        }
        if (r == TR_WAL_F_BADPAYLOAD) {
            /* The header is sound, so its length can be trusted to step over. */
            damaged(w, s, off, off + st->f.size);
            pos += st->f.size;
            continue;
        }
        uint64_t q;
        rc = tr_wal_scan_resync(&w->rscan, off, expect, s->first_seq, &q);
        if (rc < 0) return rc;
        /* A reused file's older content after the data: a frame of it
         * (rc 1), or the rest of one cut by the data's end when nothing more
         * was to come from this segment: not damage. */
        if (rc == 1 || (q >= w->rscan.limit && all_read(w, ix, expect))) {
            rc = rc == 1 ? stale_from(w, ix, off, q, expect, &pos) : past_end(w, ix, &pos);
            if (rc < 0) return rc;
            if (rc) continue;
            st->kind = NR_NONE;
            st->npos = pos;
            return 0;
        }
        damaged(w, s, off, q);
        pos += q - off;
    }
}

static int read_one(struct tr_wal *w, struct tr_wal_record *rec) {
    if (!w || !rec) return -EINVAL;
    memset(rec, 0, sizeof *rec);
    for (;;) {
        if (w->cur <= w->frontier) w->cur = w->frontier + 1;
        uint64_t c = w->cur;
        if (c > w->durable_seq) {
            tr_wal_pump(w);
            if (c > w->durable_seq) return -EAGAIN;
        }
        uint64_t h = w->frontier + tr_wal_ring_n(&w->ring);
        uint64_t pos;
        if (c <= h) {
            uint64_t e = *tr_wal_ring_at(&w->ring, (size_t)(c - w->frontier - 1));
            if (e & TR_WAL_RING_ACKED) {
                w->cur = c + 1;
                continue;
            }
            pos = e;
        } else {
            pos = w->hpos;
        }
        struct step st;
        int rc = next_record(w, pos, c, &st);
        if (rc < 0) return rc;
        uint64_t lost_to = st.kind == NR_RECORD ? st.f.seq - 1 : w->durable_seq;
        if (c > h && lost_to >= c && lost_to - c >= TR_WAL_GAP_ENTRIES) {
            /* A wide run of lost numbers (a segment gone, a checkpoint ahead
             * of the data): no entry per number. They count as acknowledged,
             * so the frontier steps over them, which needs an empty ring:
             * until the records out before them are acknowledged, wait. */
            if (tr_wal_ring_n(&w->ring)) return -EAGAIN;
            w->corrupt_records += lost_to - c + 1;
            TR_WARN("wal", "records %" PRIu64 "..%" PRIu64 " lost to damage, skipped", c, lost_to);
            tr_wal_frontier_jump(w, lost_to);
            c = w->cur;
            h = w->frontier;
        }
        if (c > h) {
            /* New ground: remember where each record is; lost ones are acked. */
            uint64_t lpos = st.kind == NR_RECORD ? st.rpos : st.npos;
            size_t pushed = 0;
            for (uint64_t s = c; s <= lost_to; s++, pushed++) {
                rc = tr_wal_ring_push(&w->ring, lpos | TR_WAL_RING_ACKED);
                if (rc < 0) break;
            }
            if (rc == 0 && st.kind == NR_RECORD) rc = tr_wal_ring_push(&w->ring, st.rpos);
            if (rc < 0) {   /* undo, so the state is as before the call */
                for (; pushed > 0; pushed--) {
                    tr_ring_pop_back(&w->ring.e, NULL);
                    w->ring.nacked--;
                }
                return rc;
            }
            if (lost_to >= c) {
                w->corrupt_records += lost_to - c + 1;
                TR_WARN("wal", "records %" PRIu64 "..%" PRIu64 " lost to damage, skipped", c, lost_to);
            }
            w->hpos = st.npos;
        } else {
            /* Replay over ground seen before: something that read fine then
             * does not now (damaged since) - it is lost now. */
            for (uint64_t s = c; s <= lost_to && s <= h; s++) {
                uint64_t *e = tr_wal_ring_at(&w->ring, (size_t)(s - w->frontier - 1));
                if (!(*e & TR_WAL_RING_ACKED)) {
                    *e |= TR_WAL_RING_ACKED;
                    w->ring.nacked++;
                    w->corrupt_records++;
                }
            }
            if (st.kind == NR_RECORD &&
                (st.f.seq > h ||
                 (*tr_wal_ring_at(&w->ring, (size_t)(st.f.seq - w->frontier - 1)) & TR_WAL_RING_ACKED))) {
                /* past the horizon (read it from there) or already acknowledged */
                w->cur = st.f.seq > h ? h + 1 : st.f.seq + 1;
                tr_wal_frontier_advance(w);
                continue;
            }
        }
        if (st.kind == NR_NONE) {
            w->cur = c > h ? lost_to + 1 : h + 1;
            tr_wal_frontier_advance(w);
            continue;
        }
        rec->seq = st.f.seq;
        rec->data = st.f.payload;
        rec->len = st.f.len;
        w->cur = st.f.seq + 1;
        tr_wal_frontier_advance(w);
        return 0;
    }
}

static int rewind_one(struct tr_wal *w, uint64_t seq) {
    if (!w) return -EINVAL;
    if (seq <= w->frontier) {
        w->cur = w->frontier + 1;
        return 0;
    }
    uint64_t cur = w->cur > w->frontier ? w->cur : w->frontier + 1;
    if (seq > cur) return -EINVAL;   /* the cursor never skips forward */
    w->cur = seq;
    return 0;
}

int tr_wal_reader_locate(struct tr_wal *w, uint64_t seq, uint64_t hint_seg, uint64_t hint_off,
                         uint64_t *pos) {
    long ix = (long)w->nsegs - 1;
    while (ix >= 0 && w->segs[ix]->first_seq > seq) ix--;
    if (ix < 0) {
        *pos = w->nsegs ? w->segs[0]->g0 : w->end_g;
        return 0;
    }
    struct tr_wal_seg *s = w->segs[ix];
    int complete;
    int rc = use_seg(w, s, readable_limit(w, s, &complete));
    if (rc < 0) return rc;
    struct tr_wal_frame f;
    if (hint_seg == s->first_seq && hint_off >= TR_WAL_SEG_HDR && hint_off < s->size &&
        tr_wal_scan_frame(&w->rscan, hint_off, &f) == TR_WAL_F_OK && !f.marker && f.seq == seq) {
        *pos = s->g0 + hint_off - TR_WAL_SEG_HDR;
        return 0;
    }
    /* No usable hint: walk the headers of this one segment. */
    uint64_t off = TR_WAL_SEG_HDR;
    for (;;) {
        int r = tr_wal_scan_frame(&w->rscan, off, &f);
        if (r < 0) return r;
        if (r == TR_WAL_F_END) break;
        if (r == TR_WAL_F_OK && tr_wal_frame_stale(s, off, &f)) break;   /* the reader sorts it out */
        if (r == TR_WAL_F_OK || r == TR_WAL_F_BADPAYLOAD) {
            if (!f.marker && f.seq >= seq) break;
            off += f.size;
            continue;
        }
        uint64_t q;
        rc = tr_wal_scan_resync(&w->rscan, off, seq, s->first_seq, &q);
        if (rc < 0) return rc;
        off = q;
        if (rc == 1) break;
    }
    *pos = s->g0 + off - TR_WAL_SEG_HDR;
    return 0;
}

int tr_wal_read(struct tr_wal *w, struct tr_wal_record *rec) {
    return tr_wal_read_held(w, 0, rec);
}

int tr_wal_read_held(struct tr_wal *w, uint64_t held, struct tr_wal_record *rec) {
    if (w) w->rscan.held_seq = held;
    int rc = read_one(w, rec);
    if (w) {
        w->rscan.held_seq = 0;
        TR_CHECK(tr_wal_broken(w));
    }
    return rc;
}

int tr_wal_rewind(struct tr_wal *w, uint64_t seq) {
    int rc = rewind_one(w, seq);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}
