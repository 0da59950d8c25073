/* wal.c - the WAL's lifecycle and write side: open, append, flush, sync, stats, close.
 *
 * The owner thread does every write: append frames the record into the one
 * in-memory chunk and writes the chunk to the segment file (page cache, no
 * fdatasync) when it fills, on tr_wal_flush, before a segment rolls, and,
 * under ALWAYS, at once (once per flush) when the sync thread is between
 * passes with nothing to take (so a lone record does not wait for a flush).
 * The sync thread (syncer.c) only makes written bytes durable. So memory
 * stays at one chunk whatever the backlog. Capacity is checked here, at
 * admission. The on-disk format is in format.c; recovery in recover.c; the
 * read side in reader.c and ack.c.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hist.h"
#include "core/log.h"

void tr_wal_config_init(struct tr_wal_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->segment_bytes = 64ull << 20;
    cfg->max_record_bytes = 1u << 20;
    cfg->on_full = TR_WAL_ON_FULL_BLOCK;
    cfg->sync = TR_WAL_SYNC_ALWAYS;
    cfg->sync_interval_ms = 100;
    cfg->checkpoint_interval_ms = 1000;
    cfg->spare_segments = 2;
}

static uint64_t worst_chunk(uint64_t max_rec) {
    /* segment header + start marker + the record + room for the end marker */
    return TR_WAL_SEG_HDR + 2ull * TR_WAL_MARKER_BYTES + max_rec + TR_WAL_FRAME_OVERHEAD;
}

static int check_config(const struct tr_wal_config *c, struct tr_diag *d) {
    if (!c->dir || !c->dir[0])
        return tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0, "wal: dir is required");
    if (strlen(c->dir) > 3800)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: dir path too long");
    if (c->max_record_bytes < 1 || c->max_record_bytes > TR_WAL_MAX_RECORD_LIMIT)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: max_record_bytes must be 1..%u",
                           TR_WAL_MAX_RECORD_LIMIT);
    if (c->segment_bytes < worst_chunk(c->max_record_bytes) || c->segment_bytes > (64ull << 30))
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0,
                           "wal: segment_bytes must be %" PRIu64 "..%llu for max_record_bytes %u",
                           worst_chunk(c->max_record_bytes), 64ull << 30, c->max_record_bytes);
    if (c->max_bytes && c->max_bytes < (uint64_t)c->max_record_bytes + TR_WAL_FRAME_OVERHEAD)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0,
                           "wal: max_bytes must hold at least one record of max_record_bytes (%u)",
                           c->max_record_bytes + TR_WAL_FRAME_OVERHEAD);
    if (c->sync != TR_WAL_SYNC_ALWAYS && c->sync != TR_WAL_SYNC_INTERVAL && c->sync != TR_WAL_SYNC_NONE)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: unknown sync policy");
    if (c->on_full != TR_WAL_ON_FULL_BLOCK && c->on_full != TR_WAL_ON_FULL_DROP_NEWEST)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: unknown on_full policy");
    if (c->sync == TR_WAL_SYNC_INTERVAL && (c->sync_interval_ms < 1 || c->sync_interval_ms > 3600000))
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: sync_interval_ms must be 1..3600000");
    if (c->checkpoint_interval_ms < 1 || c->checkpoint_interval_ms > 3600000)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: checkpoint_interval_ms must be 1..3600000");
    if (c->spare_segments > TR_WAL_SPARES_MAX)
        return tr_diag_set(d, TR_EINVAL_CFG, c->dir, 0, 0, "wal: spare_segments must be 0..%u", TR_WAL_SPARES_MAX);
    return 0;
}

static void free_segs(struct tr_wal_seg *s) {
    while (s) {
        struct tr_wal_seg *n = s->next_link;
        tr_wal_seg_free(s);
        s = n;
    }
}

/* Free everything; the sync thread must not be running. */
static void destroy(struct tr_wal *w) {
    const struct tr_wal_io *io = w->io;
    tr_wal_reader_drop(w);
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i]->wfd >= 0) io->close(io->ctx, w->segs[i]->wfd);
        tr_wal_seg_free(w->segs[i]);
    }
    for (struct tr_wal_seg *s = w->seals; s; s = s->seal_next)
        if (s->wfd >= 0) io->close(io->ctx, s->wfd);
    tr_free(w->segs);
    free_segs(w->reclaim);
    free_segs(w->dead);
    free_segs(w->spares);   /* their files stay: the next open keeps them again */
    for (struct tr_wal_chunk *c = w->wq, *n; c; c = n) {
        n = c->next;
        tr_free(c);
    }
    for (struct tr_wal_chunk *c = w->cfree, *n; c; c = n) {
        n = c->next;
        tr_free(c);
    }
    tr_ring_fini(&w->ring.e);
    tr_wal_scan_fini(&w->rscan);
    tr_hist_destroy(w->lat);
    tr_ring_fini(&w->marks);
    if (w->ckpt_fd >= 0) io->close(io->ctx, w->ckpt_fd);
    if (w->dirfd >= 0) io->close(io->ctx, w->dirfd);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->mu);
    tr_free(w->dir);
    tr_free(w);
}

/* A reopen whose directory is missing: made again only where the log was
 * wiped in place, i.e. its nearest existing ancestor is on the log's file
 * system. Otherwise that ancestor is another file system (typically the
 * mount point of the log's disk, not mounted (yet)): refuse, create nothing. */
static int gone_dir(struct tr_wal *w, struct tr_diag *d) {
    struct stat sb;
    if (stat(w->dir, &sb) == 0) return 0;
    if (errno != ENOENT) return 0;   /* open reports it */
    char *p = tr_strdup(w->dir);
    if (!p) return -ENOMEM;
    int same = 0;
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            same = stat(".", &sb) == 0 && (uint64_t)sb.st_dev == w->want.dev;
            break;
        }
        if (slash == p) slash[1] = 0;   /* "/" */
        else *slash = 0;
        if (stat(p, &sb) == 0) {
            same = (uint64_t)sb.st_dev == w->want.dev;
            break;
        }
        if (slash == p) break;
    }
    tr_free(p);
    if (same) {
        TR_WARN("wal", "%s: the log's directory is gone from its file system; starting a new, empty log there",
                w->dir);
        return 0;
    }
    return tr_diag_set(d, -ENOENT, w->dir, 0, 0, "the log's directory is gone and what is there now is "
                       "another file system; not creating it there (is the log's file system mounted?)");
}

static int mkdir_p(struct tr_wal *w, struct tr_diag *d) {
    const struct tr_wal_io *io = w->io;
    char *p = w->dir;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char save = *s;
        *s = 0;
        int rc = io->mkdir(io->ctx, p, 0755);
        *s = save;
        if (rc && rc != -EEXIST)
            return tr_diag_set(d, rc, w->dir, 0, 0, "cannot create WAL directory: %s", tr_strerror(rc));
        if (!save) return 0;
    }
}

int tr_wal_open(const struct tr_wal_config *cfg, struct tr_wal **out, struct tr_diag *d) {
    if (out) *out = NULL;
    if (!cfg || !out) return -EINVAL;
    int rc = check_config(cfg, d);
    if (rc) return rc;
    struct tr_wal *w = tr_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->cfg = *cfg;
    w->io = cfg->io ? cfg->io : tr_wal_io_posix();
    w->dirfd = w->ckpt_fd = -1;
    tr_wal_scan_init(&w->rscan, w->io, cfg->max_record_bytes);
    tr_ring_init(&w->ring.e, sizeof(uint64_t));
    tr_ring_init(&w->marks, sizeof(struct tr_wal_lat_mark));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the sync thread's deadlines */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, &ca);
    pthread_cond_init(&w->done, &ca);
    w->wq_tail = &w->wq;
    pthread_condattr_destroy(&ca);
    w->dir = tr_strdup(cfg->dir);
    if (!w->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t n = strlen(w->dir); n > 1 && w->dir[n - 1] == '/'; n--) w->dir[n - 1] = 0;
    w->cfg.dir = w->dir;
    rc = tr_ring_reserve(&w->marks, TR_WAL_LAT_MARKS);
    if (!rc) rc = tr_hist_create(TR_WAL_LAT_HIGHEST, 2, &w->lat);
    if (rc) goto fail;
    w->lat_res_ns = TR_WAL_LAT_RES_NS;
    w->cfg.expect = NULL;   /* not kept: checked here and in recovery */
    if (cfg->expect) {
        w->want = *cfg->expect;
        w->reopening = 1;
        rc = gone_dir(w, d);
        if (rc) goto fail;
    }
    rc = mkdir_p(w, d);
    if (rc) goto fail;
    w->dirfd = w->io->open(w->io->ctx, w->dir, O_RDONLY | O_DIRECTORY, 0);
    if (w->dirfd < 0) {
        rc = tr_diag_set(d, w->dirfd, w->dir, 0, 0, "cannot open WAL directory: %s", tr_strerror(w->dirfd));
        goto fail;
    }
    /* Two writers on one directory would interleave segments: refuse. The
     * lock dies with the process, so a crash never leaves it held. */
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        tr_diag_set(d, rc, w->dir, 0, 0, "WAL directory is in use by another process");
        goto fail;
    }
    struct stat sb;
    if (fstat(w->dirfd, &sb) < 0) {
        rc = tr_diag_set(d, -errno, w->dir, 0, 0, "cannot stat WAL directory: %s", strerror(errno));
        goto fail;
    }
    w->dev = (uint64_t)sb.st_dev;
    rc = tr_wal_recover(w, d);
    if (rc) goto fail;
    w->lat_done = w->next_seq - 1;   /* recovered records were appended by an earlier run */
    rc = tr_wal_syncer_start(w);
    if (rc) {
        tr_diag_set(d, rc, w->dir, 0, 0, "cannot start the sync thread: %s", tr_strerror(rc));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    destroy(w);
    return rc;
}

/* Time the records that became durable: each durable-through advance the
 * sync thread reported (with when) against the runs of appends (with
 * when). Owner thread, mu not held. */
static void lat_settle(struct tr_wal *w, const struct tr_wal_lat_mark *pubs, size_t npubs) {
    for (size_t i = 0; i < npubs; i++) {
        uint64_t dseq = pubs[i].seq;
        const struct tr_wal_lat_mark *m;
        while (w->lat_done < dseq && (m = tr_ring_peek(&w->marks))) {
            uint64_t end = tr_ring_len(&w->marks) > 1
                               ? ((const struct tr_wal_lat_mark *)tr_ring_at(&w->marks, 1))->seq - 1
                               : UINT64_MAX;
            uint64_t upto = end < dseq ? end : dseq;
            uint64_t v = pubs[i].ns > m->ns ? pubs[i].ns - m->ns : 0;
            uint64_t from = w->lat_done < m->seq ? m->seq : w->lat_done + 1;
            if (from <= upto) tr_hist_record_n(w->lat, v, upto - from + 1);
            w->lat_done = upto;
            if (upto != end) break;
            tr_ring_pop(&w->marks, NULL);
        }
        if (w->lat_done < dseq) w->lat_done = dseq;   /* appended before open: not timed */
    }
    if (!tr_ring_len(&w->marks)) {
        w->lat_res_ns = TR_WAL_LAT_RES_NS;
    }
}

/* Start a run of appends at seq if the clock moved on since the newest;
 * when the array is full, keep every other run and double the resolution
 * (records then count from the run before theirs: overstated, by at most
 * the new resolution, never understated). Owner thread. */
static void lat_mark(struct tr_wal *w, uint64_t seq) {
    if (w->lat_unclocked && w->lat_unclocked < TR_WAL_LAT_EVERY) {
        w->lat_unclocked++;
        return;
    }
    w->lat_unclocked = 1;
    uint64_t now = tr_mono_ns();
    struct tr_ring *r = &w->marks;
    size_t n = tr_ring_len(r);
    if (n && now - ((const struct tr_wal_lat_mark *)tr_ring_at(r, n - 1))->ns < w->lat_res_ns) return;
    if (n == TR_WAL_LAT_MARKS) {
        size_t k = 0;
        for (size_t i = 0; i < n; i += 2, k++)
            memcpy(tr_ring_at(r, k), tr_ring_at(r, i), sizeof(struct tr_wal_lat_mark));
        tr_ring_truncate(r, k);
        w->lat_res_ns *= 2;
    }
    struct tr_wal_lat_mark m = {.seq = seq, .ns = now};
    (void)tr_ring_push(r, &m);   /* cannot fail: room for TR_WAL_LAT_MARKS reserved at open */
}

void tr_wal_ident(const struct tr_wal *w, struct tr_wal_ident *out) {
    memcpy(out->id, w->id, TR_WAL_ID_BYTES);
    out->dev = w->dev;
}

static int pump_one(struct tr_wal *w) {
    if (!w) return -EINVAL;
    struct tr_wal_lat_mark pubs[TR_WAL_LAT_PUBS];
    pthread_mutex_lock(&w->mu);
    w->durable_seq = w->s_durable_seq;
    w->durable_g = w->s_durable_g;
    int rc = w->failed;
    struct tr_wal_seg *dead = w->dead;
    w->dead = NULL;
    int spared = w->spared;
    w->spared = 0;
    size_t npubs = w->npubs;
    memcpy(pubs, w->pubs, npubs * sizeof *pubs);
    w->npubs = 0;
    pthread_mutex_unlock(&w->mu);
    if (npubs) lat_settle(w, pubs, npubs);
    if ((dead || spared) && w->nospace) {
        /* segments were unlinked or kept for reuse: a new one may fit now */
        w->nospace_retry_ns = 0;
        w->nospace_backoff_ns = TR_WAL_NOSPACE_MIN_NS;
    }
    free_segs(dead);
    return rc;
}

uint64_t tr_wal_durable_seq(struct tr_wal *w) {
    if (!w) return 0;
    tr_wal_flush(w);   /* a caller waiting for durability needs its records written */
    tr_wal_pump(w);
    return w->durable_seq;
}

int tr_wal_close(struct tr_wal *w) {
    if (!w) return 0;
    tr_wal_flush(w);   /* a failure stays in w->failed and is returned below */
    tr_wal_syncer_stop(w);
    tr_wal_pump(w);
    int rc = w->failed;
    destroy(w);
    return rc;
}

int tr_wal_sync(struct tr_wal *w) {
    if (!w) return -EINVAL;
    tr_wal_flush(w);   /* a failure stays in w->failed and is returned below */
    pthread_mutex_lock(&w->mu);
    uint64_t target = ++w->sync_req;
    pthread_cond_signal(&w->work);
    while (w->sync_done < target && !w->failed && !w->thread_exited) pthread_cond_wait(&w->done, &w->mu);
    int rc = w->failed;
    pthread_mutex_unlock(&w->mu);
    tr_wal_pump(w);
    return rc;
}

/* Hand the bytes framed in the owner's chunk since the last handover to
 * the sync thread, which writes them to the segment file, ending them with
 * a frontier marker if the frontier moved since the last marker or
 * checkpoint (the frontier is owner state, and the same fdatasync then makes
 * it durable with the data). done: the owner frames no more in the chunk
 * (full, or its segment rolls); it goes back to the free list once
 * written. Returns the WAL's failure if it has one (nothing is handed over
 * then); a write error met by the sync thread shows at a later call. Owner
 * thread, mu not held. */
static int hand_chunk(struct tr_wal *w, int done) {
    struct tr_wal_chunk *c = w->chunk;
    if (!c) return w->failed;
    pthread_mutex_lock(&w->mu);
    int rc = w->failed;
    if (rc || (c->len == c->hand && !done)) {
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    /* c->framed: a record was framed since the last handover, so the
     * segment's reserve for one marker is still free */
    if (c->framed && w->pub_frontier != w->persisted_frontier && c->len + TR_WAL_MARKER_BYTES <= c->cap) {
        tr_wal_marker_encode(c->buf + c->len, w->next_seq, w->pub_frontier, w->pub_hint_seg, w->pub_hint_off);
        c->len += TR_WAL_MARKER_BYTES;
        w->active_off += TR_WAL_MARKER_BYTES;
        w->active->size = w->active_off;
        w->end_g += TR_WAL_MARKER_BYTES;
        w->persisted_frontier = w->pub_frontier;
    }
    if (c->len > c->hand) {
        c->hand = c->len;
        w->handovers++;
        if (c->last_seq) w->flushed_seq = c->last_seq;
        w->flushed_g = w->end_g;
        if (w->idle) pthread_cond_signal(&w->work);   /* to write, sync and publish */
    }
    c->framed = 0;
    if (done) {
        c->done = 1;
        w->chunk = NULL;
        if (w->idle) pthread_cond_signal(&w->work);   /* to give it back once written */
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int tr_wal_flush(struct tr_wal *w) {
    if (!w) return -EINVAL;
    w->wrote_early = 0;
    w->lat_unclocked = 0;
    return hand_chunk(w, 0);
}

/* The chunk's segment was reclaimed under it (disk full, everything
 * acknowledged): frame no more in it. Owner thread, mu held. */
void tr_wal_chunk_retire(struct tr_wal *w) {
    if (!w->chunk) return;
    w->chunk->done = 1;
    w->chunk = NULL;
}

/* A chunk of at least want bytes for the owner, on the write queue, empty,
 * framing at the active segment's end. Takes one from the free list (too
 * small or needlessly big ones are freed), else makes one; with
 * TR_WAL_CHUNKS_MAX of them handed over and unwritten it waits for the sync
 * thread's writes. Owner thread, mu not held. */
static int take_chunk(struct tr_wal *w, uint64_t want) {
    size_t cap = want > TR_WAL_CHUNK_MIN ? (size_t)want : TR_WAL_CHUNK_MIN;
    struct tr_wal_chunk *n = NULL, *drop = NULL;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->failed) break;
        while (w->cfree && !n) {
            struct tr_wal_chunk *f = w->cfree;
            w->cfree = f->next;
            w->nfree--;
            if (f->cap >= cap && (f->cap == TR_WAL_CHUNK_MIN || cap > TR_WAL_CHUNK_MIN)) {
                n = f;
            } else {
                f->next = drop;
                drop = f;
                w->nchunks--;
            }
        }
        while (w->nfree > TR_WAL_CHUNKS_KEEP) {   /* a burst is over: give back its memory */
            struct tr_wal_chunk *f = w->cfree;
            w->cfree = f->next;
            w->nfree--;
            f->next = drop;
            drop = f;
            w->nchunks--;
        }
        if (n || w->nchunks < TR_WAL_CHUNKS_MAX || w->thread_exited) break;
        if (w->idle) pthread_cond_signal(&w->work);
        pthread_cond_wait(&w->done, &w->mu);   /* every chunk waits for the disk */
    }
    int rc = w->failed;
    if (!rc && !n) w->nchunks++;   /* made below */
    pthread_mutex_unlock(&w->mu);
    while (drop) {
        struct tr_wal_chunk *f = drop;
        drop = f->next;
        tr_free(f);
    }
    if (rc) return rc;
    if (!n) {
        n = tr_malloc(sizeof *n + cap);
        if (!n) {
            pthread_mutex_lock(&w->mu);
            w->nchunks--;
            pthread_mutex_unlock(&w->mu);
            return -ENOMEM;
        }
        n->cap = cap;
    }
    n->next = NULL;
    n->seg = w->active;
    n->off = w->active_off;
    n->last_seq = 0;
    n->framed = 0;
    n->len = n->hand = n->take = n->wrote = 0;
    n->done = 0;
    pthread_mutex_lock(&w->mu);
    *w->wq_tail = n;
    w->wq_tail = &n->next;
    pthread_mutex_unlock(&w->mu);
    w->chunk = n;
    return 0;
}

/* Make the owner's chunk able to hold a frame of need bytes plus a
 * marker: hand over a chunk whose contents leave no room and take another
 * (bigger, once, for a bigger record than any before). Owner thread. */
static int make_room(struct tr_wal *w, uint64_t need) {
    struct tr_wal_chunk *c = w->chunk;
    uint64_t want = need + TR_WAL_MARKER_BYTES;
    if (c && c->len + want <= c->cap) return 0;
    int rc = hand_chunk(w, 1);
    if (rc) return rc;
    return take_chunk(w, want);
}

/* Reuse a kept file for the segment s: renamed to s's name (the sync thread
 * fsyncs the directory before any of its records counts, as for a new file)
 * and written over from the start. Its old frames stay past what is
 * written; they are numbered below s->first_seq, which is how the readers
 * tell where s ends (reader.c, recover.c). 0, or an error after which the
 * spare is gone and a new file is made instead. */
static int reuse_spare(struct tr_wal *w, struct tr_wal_seg *s) {
    const struct tr_wal_io *io = w->io;
    pthread_mutex_lock(&w->mu);
    struct tr_wal_seg *sp = w->spares;
    if (sp) {
        w->spares = sp->next_link;
        w->nspares--;
    }
    pthread_mutex_unlock(&w->mu);
    if (!sp) return -ENOENT;
    int rc = io->rename(io->ctx, sp->path, s->path);
    int fd = rc ? rc : io->open(io->ctx, s->path, O_WRONLY, 0);
    if (fd < 0) {
        TR_WARN("wal", "%s: cannot reuse it for %s: %s; creating a new file", sp->path, s->path,
                tr_strerror(fd));
        io->unlink(io->ctx, rc ? sp->path : s->path);
        tr_wal_seg_free(sp);
        return fd;
    }
    tr_wal_seg_free(sp);
    /* Its blocks are there already, unless it was truncated (a torn tail
     * or older content cut at open) or segment_bytes grew: then space is
     * reserved as for a new file, and a full disk is met here. */
    int fr = io->fallocate(io->ctx, fd, w->cfg.segment_bytes);
    if (fr == -ENOSPC || fr == -EDQUOT) {
        io->close(io->ctx, fd);
        io->unlink(io->ctx, s->path);
        return -ENOSPC;
    }
    s->wfd = fd;
    s->size = TR_WAL_SEG_HDR;
    w->recycled++;
    return 0;
}

/* Create the file for the segment starting at first_seq (or reuse a kept
 * one): the header comes later in the first chunk; space is reserved now
 * so a full disk is met here, where it can be refused cleanly, rather than
 * in the middle of a write. */
static int create_segment(struct tr_wal *w, uint64_t first_seq, struct tr_wal_seg **out) {
    const struct tr_wal_io *io = w->io;
    *out = NULL;
    struct tr_wal_seg *s = tr_wal_seg_new(w->dir, first_seq);
    if (!s) return -ENOMEM;
    if (reuse_spare(w, s) == 0) {
        *out = s;
        return 0;
    }
    int fd = io->open(io->ctx, s->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd == -EEXIST) {
        /* Left by a creation that failed half-way (its unlink failed too):
         * no record numbered first_seq or later was ever durable, so the
         * file holds nothing of value. */
        io->unlink(io->ctx, s->path);
        fd = io->open(io->ctx, s->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    }
    if (fd == -EDQUOT) fd = -ENOSPC;
    if (fd < 0) {
        tr_wal_seg_free(s);
        return fd;
    }
    int rc = io->fallocate(io->ctx, fd, w->cfg.segment_bytes);
    if (rc == -ENOSPC || rc == -EDQUOT) {
        io->close(io->ctx, fd);
        io->unlink(io->ctx, s->path);
        tr_wal_seg_free(s);
        return -ENOSPC;
    }
    /* other fallocate errors (not supported here) only lose the early warning */
    s->wfd = fd;
    s->size = TR_WAL_SEG_HDR;
    *out = s;
    return 0;
}

/* Put the WAL in the failed state (first error wins), logged once. */
static void fail(struct tr_wal *w, int rc, const char *what) {
    pthread_mutex_lock(&w->mu);
    if (!w->failed) {
        w->failed = rc;
        TR_ERROR("wal", "%s: %s: %s; no more records are taken (close and reopen to recover)", w->dir,
                 what, tr_strerror(rc));
    }
    if (w->idle) pthread_cond_signal(&w->work);   /* so the sync thread notifies the failure */
    pthread_mutex_unlock(&w->mu);
}

/* A segment could not be created for lack of space: start or continue the
 * disk-full state and set when the next creation may be tried. */
static void no_space(struct tr_wal *w) {
    if (!w->nospace) {
        w->nospace = 1;
        w->nospace_backoff_ns = TR_WAL_NOSPACE_MIN_NS;
        TR_WARN("wal", "%s: disk full, no space for a new segment: refusing appends until space "
                "returns (retrying every 10 ms to 1.28 s; acknowledged segments are reclaimed)", w->dir);
    } else {
        w->space_retries++;
        if (w->nospace_backoff_ns < TR_WAL_NOSPACE_MAX_NS) w->nospace_backoff_ns *= 2;
        if (w->nospace_backoff_ns > TR_WAL_NOSPACE_MAX_NS) w->nospace_backoff_ns = TR_WAL_NOSPACE_MAX_NS;
    }
    w->nospace_retry_ns = tr_mono_ns() + w->nospace_backoff_ns;
    tr_wal_reclaim_active(w);   /* everything may be acknowledged already */
}

static int refuse(struct tr_wal *w) {
    if (w->cfg.on_full == TR_WAL_ON_FULL_DROP_NEWEST) {
        w->dropped++;
        return TR_EDROPPED;
    }
    w->refused_full++;
    return TR_EFULL;
}

/* 0 when a record of fsize bytes may be appended, else the log's failure
 * or (limits reached) refuse's answer. Owner thread; reads only owner
 * fields and the atomic failed, so mu is not needed. */
static int admit(struct tr_wal *w, uint64_t fsize) {
    int rc = w->failed;
    if (!rc) {
        uint64_t recs = (w->next_seq - 1) - w->frontier - w->ring.nacked;
        uint64_t bytes = w->end_g - tr_wal_first_unacked_pos(w);
        if ((w->cfg.max_records && recs + 1 > w->cfg.max_records) ||
            (w->cfg.max_bytes && bytes + fsize > w->cfg.max_bytes))
            rc = refuse(w);
    }
    return rc;
}

static int append_one(struct tr_wal *w, const void *data, size_t len, uint64_t *seq_out) {
    if (seq_out) *seq_out = 0;
    if (!w || !data || len == 0) return -EINVAL;
    if (len > w->cfg.max_record_bytes) {
        w->refused_too_big++;
        return TR_ETOOBIG;
    }
    const uint64_t fsize = len + TR_WAL_FRAME_OVERHEAD;
    int rc = tr_grow((void **)&w->segs, &w->segcap, w->nsegs + 1, sizeof *w->segs);
    if (rc) return rc;

    /* the payload's checksum, taken before the frame is built in the chunk */
    const uint32_t crc = tr_wal_crc32c(0, data, len);

    /* active, active_off, end_g, next_seq and the chunk's bytes past what
     * was handed over change only on this thread, and the sync thread reads
     * none of them: it writes and syncs what hand_chunk hands over under
     * mu. So a record that does not start a segment is framed without mu;
     * a roll takes it, for the segment lists and the frontier its marker
     * carries. */
    int roll = !w->active || w->active_off + fsize + TR_WAL_MARKER_BYTES > w->cfg.segment_bytes;
    rc = admit(w, fsize);
    if (rc) return rc;

    uint64_t need = fsize + (roll ? TR_WAL_SEG_HDR + TR_WAL_MARKER_BYTES : 0);
    if (roll && w->nospace && tr_mono_ns() < w->nospace_retry_ns) {
        w->refused_nospace++;   /* not yet time to try again: no I/O, no log line */
        return refuse(w);
    }
    if (roll) {
        rc = hand_chunk(w, 1);   /* the old segment's last bytes, before it is sealed */
        if (rc) return rc;
    }
    rc = make_room(w, need);
    if (rc) return rc;
    struct tr_wal_chunk *t = w->chunk;
    if (roll) {
        struct tr_wal_seg *ns = NULL;
        rc = create_segment(w, w->next_seq, &ns);
        if (rc == -ENOSPC) {
            no_space(w);
            w->refused_nospace++;
            return refuse(w);
        }
        if (rc == -ENOMEM) return rc;
        if (rc) {
            fail(w, rc, "cannot create a segment");
            return rc;
        }
        if (w->nospace) {
            TR_INFO("wal", "%s: space again: new segment after %" PRIu64 " retries; %" PRIu64
                    " appends were refused while the disk was full (in total)", w->dir, w->space_retries,
                    w->refused_nospace);
            w->nospace = 0;
        }
        pthread_mutex_lock(&w->mu);
        if (w->active) {   /* the sync thread syncs and closes it */
            w->active->seal_next = w->seals;
            w->seals = w->active;
        }
        ns->g0 = w->end_g;
        w->dir_changes++;   /* the sync thread fsyncs the directory before its records count */
        w->segs[w->nsegs++] = ns;
        w->active = ns;
        w->active_off = 0;
        pthread_mutex_unlock(&w->mu);
        t->seg = ns;
        t->off = 0;
    }

    unsigned char *start = t->buf + t->len, *p = start;
    uint64_t seq = w->next_seq;
    if (roll) {
        tr_wal_seghdr_encode(p, seq);
        p += TR_WAL_SEG_HDR;
        pthread_mutex_lock(&w->mu);
        if (w->pub_frontier) {
            /* so the last segment alone tells recovery the frontier */
            tr_wal_marker_encode(p, seq, w->pub_frontier, w->pub_hint_seg, w->pub_hint_off);
            p += TR_WAL_MARKER_BYTES;
            w->persisted_frontier = w->pub_frontier;
        }
        pthread_mutex_unlock(&w->mu);
    }
    tr_wal_frame_hdr_encode(p, (uint32_t)len, 0, seq);
    memcpy(p + TR_WAL_FRAME_HDR, data, len);
    tr_wal_put32(p + TR_WAL_FRAME_HDR + len, crc);
    p += fsize;
    size_t added = (size_t)(p - start);
    t->len += added;
    w->active_off += added;
    w->active->size = w->active_off;
    w->end_g += added - (roll ? TR_WAL_SEG_HDR : 0);
    t->last_seq = seq;
    t->framed = 1;
    w->next_seq = seq + 1;
    /* ALWAYS: a sync thread between passes with nothing to take could start
     * a fdatasync now; give it this record rather than wait for the next
     * flush (group commit takes over while a pass runs or is due). Once per
     * flush at most: a fast fdatasync must not turn this into a write per
     * record. */
    int write_now = !w->wrote_early && w->cfg.sync == TR_WAL_SYNC_ALWAYS && !atomic_load(&w->busy);
    if (seq_out) *seq_out = seq;
    lat_mark(w, seq);
    /* the record is accepted; a write error fails the WAL and shows on the next call */
    if (write_now) {
        w->wrote_early = 1;
        hand_chunk(w, 0);
    }
    return 0;
}

void tr_wal_stats(struct tr_wal *w, struct tr_wal_stats *st) {
    memset(st, 0, sizeof *st);
    if (!w) return;
    tr_wal_pump(w);
    pthread_mutex_lock(&w->mu);
    st->bytes = w->end_g - tr_wal_first_unacked_pos(w);
    st->syncs = w->syncs;
    st->checkpoints = w->checkpoints;
    st->sync_wakeups = w->wakeups;
    st->dir_syncs = w->dir_syncs;
    st->synced_seq = w->synced_seq;
    st->failed = w->failed;
    st->spares = w->nspares;
    pthread_mutex_unlock(&w->mu);
    st->records = (w->next_seq - 1) - w->frontier - w->ring.nacked;
    st->segments = w->nsegs;
    st->dropped = w->dropped;
    st->refused_full = w->refused_full;
    st->refused_too_big = w->refused_too_big;
    st->corrupt_records = w->corrupt_records;
    st->corrupt_bytes = w->corrupt_bytes;
    st->torn_bytes = w->torn_bytes;
    st->bad_seq_frames = w->bad_seq_frames;
    st->no_space = w->nospace;
    st->refused_no_space = w->refused_nospace;
    st->space_retries = w->space_retries;
    st->recycled = w->recycled;
    st->durable_seq = w->durable_seq;
    st->frontier = w->frontier;
    st->next_seq = w->next_seq;
    st->read_seq = w->cur > w->frontier ? w->cur : w->frontier + 1;
}

const struct tr_hist *tr_wal_durable_hist(struct tr_wal *w) {
    if (!w) return NULL;
    tr_wal_pump(w);
    return w->lat;
}

int tr_wal_durable_report(struct tr_wal *w, struct tr_buf *out) {
    const struct tr_hist *h = tr_wal_durable_hist(w);
    if (!h || !tr_hist_count(h)) return tr_buf_printf(out, "append->durable: no record");
    return tr_buf_printf(out, "append->durable: %" PRIu64 " records, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, "
                         "max %.3f ms", tr_hist_count(h), (double)tr_hist_value_at(h, 0.5) / 1e6,
                         (double)tr_hist_value_at(h, 0.99) / 1e6, (double)tr_hist_value_at(h, 0.999) / 1e6,
                         (double)tr_hist_max(h) / 1e6);
}

int tr_wal_append(struct tr_wal *w, const void *data, size_t len, uint64_t *seq_out) {
    int rc = append_one(w, data, len, seq_out);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}

int tr_wal_pump(struct tr_wal *w) {
    int rc = pump_one(w);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}
