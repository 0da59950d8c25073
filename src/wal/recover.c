/* recover.c - open-time recovery: from whatever is on disk to a running WAL.
 *
 * Whatever is on disk, open either succeeds and counts what it dropped, or
 * (a file not ours, an unknown version) fails naming the file. The log is the
 * truth and the checkpoint a hint. Cost: a header read per segment, the
 * checkpoint, a scan of the last segment, at most a walk of the first one's
 * acknowledged prefix; never the backlog into memory. Damage in older
 * segments is found lazily by the reader (reader.c).
 */
#include "wal/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/log.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int list_dir(struct tr_wal *w, uint64_t **seqs, size_t *nseq, struct tr_diag *d) {
    size_t cap = 0;
    int rc = 0;
    DIR *dp = opendir(w->dir);
    if (!dp) return tr_diag_set(d, -errno, w->dir, 0, 0, "cannot list WAL directory: %s", strerror(errno));
    struct dirent *de;
    while ((de = readdir(dp))) {
        const char *nm = de->d_name;
        uint64_t seq;
        if (tr_wal_seg_name_parse(nm, &seq)) {
            rc = tr_grow((void **)seqs, &cap, *nseq + 1, sizeof **seqs);
            if (rc) break;
            (*seqs)[(*nseq)++] = seq;
        } else if (has_suffix(nm, ".tmp")) {
            /* left by an interrupted checkpoint creation: never data */
            size_t n = strlen(w->dir) + strlen(nm) + 2;
            char *p = tr_malloc(n);
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            snprintf(p, n, "%s/%s", w->dir, nm);
            TR_INFO("wal", "%s: removing stray temporary file", p);
            w->io->unlink(w->io->ctx, p);
            tr_free(p);
        } else if (strcmp(nm, ".") && strcmp(nm, "..") && strcmp(nm, "checkpoint") &&
                   strcmp(nm, "quarantine")) {
            TR_INFO("wal", "%s/%s: not a WAL file, ignored", w->dir, nm);
        }
    }
    closedir(dp);
    if (!rc && *nseq > 1) qsort(*seqs, *nseq, sizeof **seqs, cmp_u64);
    return rc;
}

/* Open each segment just to check its header and learn its size. */
static int load_segments(struct tr_wal *w, const uint64_t *seqs, size_t nseq, struct tr_diag *d) {
    const struct tr_wal_io *io = w->io;
    for (size_t i = 0; i < nseq; i++) {
        int rc = tr_grow((void **)&w->segs, &w->segcap, w->nsegs + 1, sizeof *w->segs);
        if (rc) return rc;
        struct tr_wal_seg *s = tr_wal_seg_new(w->dir, seqs[i]);
        if (!s) return -ENOMEM;
        int fd = io->open(io->ctx, s->path, O_RDONLY, 0);
        if (fd == -ENOENT) {
            tr_wal_seg_free(s);
            continue;
        }
        if (fd < 0) {
            rc = tr_diag_set(d, fd, s->path, 0, 0, "cannot open segment: %s", tr_strerror(fd));
            tr_wal_seg_free(s);
            return rc;
        }
        unsigned char hdr[TR_WAL_SEG_HDR];
        uint64_t size = 0, first = 0;
        uint32_t version = 0;
        rc = io->fsize(io->ctx, fd, &size);
        ssize_t got = rc ? 0 : tr_wal_pread_full(io, fd, hdr, sizeof hdr, 0);
        io->close(io->ctx, fd);
        if (!rc && got < 0) rc = (int)got;
        if (rc) {
            rc = tr_diag_set(d, rc, s->path, 0, 0, "cannot read segment: %s", tr_strerror(rc));
            tr_wal_seg_free(s);
            return rc;
        }
        int h = tr_wal_seghdr_decode(hdr, (size_t)got, &first, &version);
        if (h == TR_ECORRUPT) {
            rc = tr_diag_set(d, TR_ECORRUPT, s->path, 0, 0,
                             "not a tremor WAL segment (bad magic); move it out of %s", w->dir);
            tr_wal_seg_free(s);
            return rc;
        }
        if (h == TR_EUNSUPPORTED) {
            rc = tr_diag_set(d, TR_EUNSUPPORTED, s->path, 0, 0,
                             "WAL format version %u is not supported (this build reads %u); "
                             "open it with the tremor that wrote it",
                             version, TR_WAL_VERSION);
            tr_wal_seg_free(s);
            return rc;
        }
        if (h == TR_WAL_HDR_DAMAGED && size >= TR_WAL_SEG_HDR)
            TR_WARN("wal", "%s: segment header damaged, trusting the file name", s->path);
        else if (h == TR_WAL_HDR_OK && first != s->first_seq)
            TR_WARN("wal", "%s: header says first record %" PRIu64 ", trusting the file name", s->path,
                    first);
        s->size = size;
        s->hdr_ok = h == TR_WAL_HDR_OK && first == s->first_seq;
        w->segs[w->nsegs++] = s;
    }
    return 0;
}

struct tail {
    uint64_t last_seq;          /* last record found in the last segment (0 = none) */
    uint64_t m_frontier, m_hint_seg, m_hint_off;   /* newest marker seen */
};

/* Scan segment t end to end: truncate a torn tail, skip (and count) damage. */
static int scan_tail(struct tr_wal *w, struct tr_wal_seg *t, struct tail *tl, int *has_record,
                     struct tr_diag *d) {
    const struct tr_wal_io *io = w->io;
    struct tr_wal_scan sc;
    tr_wal_scan_init(&sc, io, w->cfg.max_record_bytes);
    int rc = 0;
    *has_record = 0;
    int fd = io->open(io->ctx, t->path, O_RDWR, 0);
    if (fd < 0) {
        rc = tr_diag_set(d, fd, t->path, 0, 0, "cannot open segment: %s", tr_strerror(fd));
        goto out;
    }
    tr_wal_scan_reset(&sc, fd, t->size);
    uint64_t off = TR_WAL_SEG_HDR, valid_end = TR_WAL_SEG_HDR, last = 0;
    int stale = 0;
    for (;;) {
        struct tr_wal_frame f;
        int r = tr_wal_scan_frame(&sc, off, &f);
        if (r < 0) {
            rc = tr_diag_set(d, r, t->path, 0, 0, "cannot read segment: %s", tr_strerror(r));
            goto out;
        }
        if (r == TR_WAL_F_END) break;
        if (r == TR_WAL_F_OK && tr_wal_frame_stale(t, off, &f)) {
            /* Older content of a reused file: the data ends here. Records of
             * the current use after it (a write a power cut lost in the
             * middle of the unsynced ones) were never durable: cut with it. */
            stale = 1;
            break;
        }
        if (r == TR_WAL_F_OK) {
            if (f.marker) {
                if (f.m_frontier > tl->m_frontier) {
                    tl->m_frontier = f.m_frontier;
                    tl->m_hint_seg = f.m_hint_seg;
                    tl->m_hint_off = f.m_hint_off;
                }
            } else if (!tr_wal_seq_plausible(t, off, f.seq)) {
                /* checksums hold but the number cannot be here: corrupt, and
                 * never the log's last number (nothing is sized by it) */
                TR_WARN("wal", "%s: frame at offset %" PRIu64 " claims record %" PRIu64
                        ", impossible in a segment starting at %" PRIu64 ": corrupt", t->path, off, f.seq,
                        t->first_seq);
                w->bad_seq_frames++;
                w->corrupt_bytes += f.size;
                tr_wal_quarantine(w, t, off, f.size);
            } else if (f.seq > last) {
                last = f.seq;
                *has_record = 1;
            }
            off += f.size;
            valid_end = off;
            continue;
        }
        uint64_t q;
        rc = tr_wal_scan_resync(&sc, off, last + 1, t->first_seq, &q);
        if (rc < 0) {
            tr_diag_set(d, rc, t->path, 0, 0, "cannot read segment: %s", tr_strerror(rc));
            goto out;
        }
        if (rc == 1) {   /* a write cut short over a reused file's older frames */
            rc = 0;
            stale = 1;
            break;
        }
        if (q >= t->size) break;   /* nothing valid after it: a torn tail */
        TR_WARN("wal", "%s: %" PRIu64 " damaged bytes at offset %" PRIu64 " skipped", t->path, q - off, off);
        w->corrupt_bytes += q - off;
        tr_wal_quarantine(w, t, off, q - off);
        off = q;
    }
    if (valid_end < t->size) {
        /* A torn tail, or (stale) a reused file's older content after its
         * data - maybe with the rest of a write cut short, which cannot be
         * told from it: not counted as torn. Both are cut: a frame left
         * there could carry a number a new record gets after a crash
         * (records never durable give theirs back), and the file may be
         * kept for reuse again: it must hold nothing numbered that high. */
        uint64_t cut = t->size - valid_end;
        if (stale) {
            TR_INFO("wal", "%s: data ends at offset %" PRIu64 "; the %" PRIu64 " bytes after it, the reused "
                    "file's older content, are truncated", t->path, valid_end, cut);
        } else {
            TR_WARN("wal", "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " truncated", t->path, cut,
                    valid_end);
            w->torn_bytes += cut;
        }
        rc = io->ftruncate(io->ctx, fd, valid_end);
        if (!rc && w->cfg.sync != TR_WAL_SYNC_NONE) rc = io->fdatasync(io->ctx, fd);
        if (rc) {
            tr_diag_set(d, rc, t->path, 0, 0, "cannot truncate the segment after its data: %s", tr_strerror(rc));
            goto out;
        }
        t->size = valid_end;
    }
    t->checked_off = t->size;   /* its damage is counted: the reader must not count it again */
    if (*has_record) tl->last_seq = last;
out:
    if (fd >= 0) io->close(io->ctx, fd);
    tr_wal_scan_fini(&sc);
    return rc;
}

static int push(struct tr_wal_seg ***v, size_t *n, size_t *cap, struct tr_wal_seg *s) {
    int rc = tr_grow((void **)v, cap, *n + 1, sizeof **v);
    if (!rc) (*v)[(*n)++] = s;
    return rc;
}

/* The rules:
 *   - next number = max(last record found + 1, checkpoint's durable floor,
 *     frontier + 1); frontier = max(checkpoint, newest marker found);
 *   - a bad tail with nothing valid after it is a torn write: truncated and
 *     counted; damage with valid frames after it is skipped and counted;
 *   - a last segment with no record (torn at creation) is removed and the
 *     one before it becomes the last;
 *   - segments wholly acknowledged are removed after the checkpoint. */
static void id_hex(const unsigned char *id, char *out) {   /* 8 bytes are enough to tell */
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* The log's identity: the checkpoint's, or a new one for a new log (or one
 * whose checkpoint is lost or from before identities). A reopen takes its
 * own log, or a directory with none on the log's own file system (wiped in
 * place); not another log, and not an empty directory elsewhere: that is
 * some other directory at the same path (a bare mount point), and taking it
 * for the log would strand the records on the real disk. */
static int take_identity(struct tr_wal *w, const struct tr_wal_ckpt *ck, int valid, struct tr_diag *d) {
    static const unsigned char none[TR_WAL_ID_BYTES];
    int has = valid && memcmp(ck->id, none, sizeof none) != 0;
    if (w->reopening && !(has && memcmp(ck->id, w->want.id, sizeof none) == 0)) {
        char want[17], found[17];
        id_hex(w->want.id, want);
        if (has) {
            id_hex(ck->id, found);
            return tr_diag_set(d, -ENOENT, w->dir, 0, 0, "holds log %s, not %s, the one opened here before; "
                               "not reopening it (is the right file system mounted?)", found, want);
        }
        if (w->dev != w->want.dev)
            return tr_diag_set(d, -ENOENT, w->dir, 0, 0, "holds no checkpoint of log %s and is on another "
                               "file system than it was; not taking it for that log (is its file system "
                               "mounted?)", want);
        TR_WARN("wal", "%s: the checkpoint of log %s is gone from its file system; taking what is there "
                "as the log (a new one if empty)", w->dir, want);
    }
    if (has) {
        memcpy(w->id, ck->id, sizeof none);
        return 0;
    }
    ssize_t n = getrandom(w->id, sizeof none, 0);
    if (n != (ssize_t)sizeof none)
        return tr_diag_set(d, n < 0 ? -errno : -EIO, w->dir, 0, 0, "cannot draw an identity for the log: %s",
                           n < 0 ? strerror(errno) : "short read");
    return 0;
}

int tr_wal_recover(struct tr_wal *w, struct tr_diag *d) {
    const struct tr_wal_io *io = w->io;
    uint64_t *seqs = NULL;
    size_t nseq = 0, nunl = 0, unlcap = 0;
    struct tr_wal_seg **unl = NULL;   /* removed from the log, to unlink after the checkpoint */
    struct tr_wal_ckpt ck;
    struct tail tl = {0, 0, 0, 0};
    int ck_valid = 0, rc;

    rc = list_dir(w, &seqs, &nseq, d);
    if (rc) goto out;
    rc = tr_wal_ckpt_load(w, &ck, &ck_valid, d);
    if (rc) goto out;
    rc = take_identity(w, &ck, ck_valid, d);   /* before anything is changed */
    if (rc) goto out;
    rc = load_segments(w, seqs, nseq, d);
    if (rc) goto out;

    while (w->nsegs) {
        struct tr_wal_seg *t = w->segs[w->nsegs - 1];
        int has_record = 0;
        if (t->size > TR_WAL_SEG_HDR) {
            rc = scan_tail(w, t, &tl, &has_record, d);
            if (rc) goto out;
        } else if (t->size > 0 && t->size < TR_WAL_SEG_HDR) {
            w->torn_bytes += t->size;
        }
        if (has_record) break;
        if (t->size != TR_WAL_SEG_HDR)
            TR_WARN("wal", "%s: last segment holds no record, removed", t->path);
        rc = push(&unl, &nunl, &unlcap, t);
        if (rc) goto out;
        w->nsegs--;
    }

    uint64_t next = tl.last_seq + 1, frontier = 0, hseg = 0, hoff = 0;
    if (ck_valid) {
        if (ck.next_seq > next) {
            if (tl.last_seq)
                TR_WARN("wal", "%s: records %" PRIu64 "..%" PRIu64 " were durable but are missing", w->dir,
                        next, ck.next_seq - 1);
            next = ck.next_seq;
        }
        frontier = ck.frontier;
        hseg = ck.hint_seg;
        hoff = ck.hint_off;
    }
    if (tl.m_frontier > frontier) {
        frontier = tl.m_frontier;
        hseg = tl.m_hint_seg;
        hoff = tl.m_hint_off;
    }
    if (frontier >= next) next = frontier + 1;   /* never reuse an acknowledged number */
    /* A new segment is named after the next number, so it must sort after
     * the last one: a last segment whose name is above the records found in
     * it (damaged or crafted) moves the numbering past its name; the numbers
     * between are stepped over as lost. */
    if (w->nsegs && next <= w->segs[w->nsegs - 1]->first_seq) {
        uint64_t f = w->segs[w->nsegs - 1]->first_seq;
        if (f == UINT64_MAX) {
            rc = tr_diag_set(d, TR_ECORRUPT, w->segs[w->nsegs - 1]->path, 0, 0,
                             "segment named at the end of the number space; move it out of %s", w->dir);
            goto out;
        }
        TR_WARN("wal", "%s: named for record %" PRIu64 " but its records end at %" PRIu64
                "; numbering goes on after its name", w->segs[w->nsegs - 1]->path, f, next - 1);
        next = f + 1;
    }
    w->next_seq = next;
    w->frontier = frontier;

    /* Segments wholly acknowledged (kept for reuse by the last run, or a
     * crash between checkpoint and unlink): kept again as spares while
     * there is room, the newest first (the oldest go), else removed. A
     * checkpoint that is lost makes them count as records again: replayed
     * (duplicates, never loss), as for any crash before an unlink. */
    size_t k = 0;
    while (k < w->nsegs) {
        uint64_t last = k + 1 < w->nsegs ? w->segs[k + 1]->first_seq - 1 : next - 1;
        if (last > frontier) break;
        k++;
    }
    for (size_t i = 0; i < k; i++) {
        struct tr_wal_seg *s = w->segs[i];
        /* Only a file whose header names it: one that names another number
         * was renamed for reuse and written with the rename lost in a power
         * cut; what it holds (never durable) could be numbered above what
         * comes next, so it goes. */
        if (k - i <= w->cfg.spare_segments && s->hdr_ok) {
            s->next_link = w->spares;
            w->spares = s;
            w->nspares++;
            continue;
        }
        rc = push(&unl, &nunl, &unlcap, s);
        if (rc) {
            /* not on either list yet: keep the rest in the log for destroy */
            memmove(w->segs, w->segs + i, (w->nsegs - i) * sizeof *w->segs);
            w->nsegs -= i;
            goto out;
        }
    }
    if (k) memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof *w->segs);
    w->nsegs -= k;

    /* Written at every open, even unchanged: it is also the proof that the
     * disk takes a durable write, so an open after a failure (the owner's
     * way to recover) fails while the disk still does. */
    {
        struct tr_wal_ckpt nc = {.frontier = frontier, .next_seq = next, .hint_seg = hseg, .hint_off = hoff};
        rc = tr_wal_ckpt_write(w, &nc);
        if (rc) {
            tr_diag_set(d, rc, w->dir, 0, 0, "cannot write checkpoint: %s", tr_strerror(rc));
            goto out;
        }
    }
    if (nunl) {
        for (size_t i = 0; i < nunl; i++) {
            int r = io->unlink(io->ctx, unl[i]->path);
            if (r && r != -ENOENT) TR_WARN("wal", "%s: unlink: %s", unl[i]->path, tr_strerror(r));
        }
        if (w->cfg.sync != TR_WAL_SYNC_NONE) {
            rc = io->fsync(io->ctx, w->dirfd);
            if (rc) {
                tr_diag_set(d, rc, w->dir, 0, 0, "cannot sync WAL directory: %s", tr_strerror(rc));
                goto out;
            }
        }
    }

    /* The kept files are cut to their header (synced) before any reuse:
     * what a crashed run wrote into one (a reuse whose rename a power cut
     * undid, or records a crash lost after a hole) could be numbered at or
     * above what this run gives out, and must not show after its data when
     * the file is written over. Files kept within a run need none of this:
     * they only ever held that run's durable records and older content. */
    for (struct tr_wal_seg **pp = &w->spares; *pp;) {
        struct tr_wal_seg *sp = *pp;
        int fd = io->open(io->ctx, sp->path, O_WRONLY, 0);
        int r = fd < 0 ? fd : io->ftruncate(io->ctx, fd, TR_WAL_SEG_HDR);
        if (!r && w->cfg.sync != TR_WAL_SYNC_NONE) r = io->fdatasync(io->ctx, fd);
        if (fd >= 0) io->close(io->ctx, fd);
        if (!r) {
            pp = &sp->next_link;
            continue;
        }
        TR_WARN("wal", "%s: cannot keep it for reuse (%s): removed", sp->path, tr_strerror(r));
        *pp = sp->next_link;
        w->nspares--;
        r = io->unlink(io->ctx, sp->path);
        if (r && r != -ENOENT) TR_WARN("wal", "%s: unlink: %s", sp->path, tr_strerror(r));
        tr_wal_seg_free(sp);
    }

    uint64_t g = 0;
    for (size_t i = 0; i < w->nsegs; i++) {
        w->segs[i]->g0 = g;
        if (w->segs[i]->size > TR_WAL_SEG_HDR) g += w->segs[i]->size - TR_WAL_SEG_HDR;
    }
    w->end_g = g;
    w->flushed_seq = w->written_seq = w->synced_seq = w->s_durable_seq = w->durable_seq = next - 1;
    w->flushed_g = w->written_g = w->synced_g = w->s_durable_g = w->durable_g = g;
    w->pub_frontier = w->persisted_frontier = frontier;
    w->pub_hint_seg = hseg;
    w->pub_hint_off = hoff;
    w->cur = frontier + 1;
    rc = tr_wal_reader_locate(w, frontier + 1, hseg, hoff, &w->hpos);
    if (rc) {
        tr_diag_set(d, rc, w->dir, 0, 0, "cannot read WAL: %s", tr_strerror(rc));
        goto out;
    }
    if (w->torn_bytes || w->corrupt_bytes)
        TR_WARN("wal", "%s: recovered with loss: %" PRIu64 " torn bytes truncated, %" PRIu64
                " damaged bytes skipped (quarantined)", w->dir, w->torn_bytes, w->corrupt_bytes);
    TR_INFO("wal", "%s: open: records %" PRIu64 "..%" PRIu64 " unacknowledged in %zu segments", w->dir,
            frontier + 1, next - 1, w->nsegs);
out:
    for (size_t i = 0; i < nunl; i++) tr_wal_seg_free(unl[i]);
    tr_free(unl);
    tr_free(seqs);
    return rc;
}
