/* syncer.c - the sync thread: write, fdatasync, directory fsync, checkpoint, unlink (group commit).
 *
 * It frames no record: the owner thread frames them in chunks (wal.c) and
 * hands over the bytes and the numbers they hold. Each pass takes
 * EVERYTHING handed over since the last one, writes it to the segment files
 * (pwrite; the chunks the owner is done with go back to it) and (ALWAYS)
 * covers it with one fdatasync while the owner keeps framing. Durable order
 * of a pass:
 *   data write -> data fdatasync -> directory fsync, only if a segment file was created
 *   since the last one (no record of a new segment is reported durable
 *   before its file name is) -> durable-through published -> checkpoint +
 *   fdatasync, only when due (below) -> acknowledged segments kept for
 *   reuse (spare_segments) or unlinked -> directory fsync, only if something
 *   was unlinked -> notify.
 * The frontier rides in marker frames, made durable by the data's own
 * fdatasync (a new segment starts with one); the checkpoint is written
 * only when segments are to be removed, for tr_wal_sync and close, and when the frontier moved
 * with no marker to carry it, at most once per checkpoint_interval_ms. So a
 * steady stream costs one fdatasync per group commit and nothing else.
 * Any sync error fails the WAL for good; a failed fdatasync is never
 * retried. This thread allocates nothing.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

struct pass {
    uint64_t syncs, ckpts, dirsyncs;
    int synced;
};

/* The directory, if a segment file was created since its last fsync:
 * dirgen is the creation count the pass took, *dir_synced the count the
 * directory is durable through. */
static int dir_sync(struct tr_wal *w, uint64_t dirgen, uint64_t *dir_synced, struct pass *p) {
    if (dirgen == *dir_synced) return 0;
    int rc = w->io->fsync(w->io->ctx, w->dirfd);
    p->dirsyncs++;
    if (!rc) *dir_synced = dirgen;
    return rc;
}

static int sync_dirty(struct tr_wal *w, struct tr_wal_seg **dirty, uint64_t dirgen, uint64_t *dir_synced,
                      struct pass *p) {
    const struct tr_wal_io *io = w->io;
    int rc = 0;
    for (struct tr_wal_seg *s = *dirty; s; s = s->next_dirty) {
        if (s->wfd < 0) continue;
        rc = io->fdatasync(io->ctx, s->wfd);
        p->syncs++;
        if (rc) return rc;
        s->dirty = 0;
    }
    *dirty = NULL;
    rc = dir_sync(w, dirgen, dir_synced, p);
    if (rc) return rc;
    p->synced = 1;
    return 0;
}

static void dirty_remove(struct tr_wal_seg **dirty, struct tr_wal_seg *s) {
    for (struct tr_wal_seg **pp = dirty; *pp; pp = &(*pp)->next_dirty)
        if (*pp == s) {
            *pp = s->next_dirty;
            return;
        }
}

/* Publish what this pass made durable (or its failure) and tell the owner.
 * Called with mu held; drops it around the notify callback. *told is the
 * durable number the owner was last told. */
static void publish(struct tr_wal *w, int rc, uint64_t wseq, uint64_t wg, uint64_t sseq, uint64_t sg,
                    uint64_t *told) {
    if (rc && !w->failed) {
        w->failed = rc;
        TR_ERROR("wal", "%s: write or sync failed, no more records become durable: %s", w->dir,
                 tr_strerror(rc));
    }
    uint64_t before = w->s_durable_seq;
    if (!w->failed) {
        w->written_seq = wseq;
        w->written_g = wg;
        w->synced_seq = sseq;
        w->synced_g = sg;
        int always = w->cfg.sync == TR_WAL_SYNC_ALWAYS;
        w->s_durable_seq = always ? sseq : wseq;
        w->s_durable_g = always ? sg : wg;
    }
    uint64_t nd = w->s_durable_seq;
    if (nd > before) {
        /* when these records became durable, for the owner's latency
         * histogram; a full array (the owner has not pumped for a while)
         * moves its last entry forward, which can only overstate */
        size_t i = w->npubs < TR_WAL_LAT_PUBS ? w->npubs++ : TR_WAL_LAT_PUBS - 1;
        w->pubs[i].seq = nd;
        w->pubs[i].ns = tr_mono_ns();
    }
    /* a failure met here or by the owner's write is told once */
    int tell_fail = w->failed && !w->fail_told;
    if (w->failed) w->fail_told = 1;
    if ((nd != *told || tell_fail) && w->cfg.notify) {
        pthread_mutex_unlock(&w->mu);
        w->cfg.notify(w->cfg.notify_arg, nd);
        pthread_mutex_lock(&w->mu);
    }
    *told = nd;
}

static void wait_until(struct tr_wal *w, uint64_t deadline_ns) {
    if (deadline_ns == UINT64_MAX) {
        pthread_cond_wait(&w->work, &w->mu);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    pthread_cond_timedwait(&w->work, &w->mu, &ts);
}

/* Write what the chunks qhead..qlast (taken under mu) hold past what was
 * written of them, in queue order; each segment written goes on the dirty
 * list. The owner hands nothing over once the WAL has failed, so all of it
 * was handed over before: it is written even if the WAL failed since, as
 * the owner's own write did before (a segment that cannot be created does
 * not take back the acks and records written ahead of it). After a write
 * that fails nothing more is: those bytes are given up. 0 or -errno. */
static int write_taken(struct tr_wal *w, struct tr_wal_chunk *qhead, struct tr_wal_chunk *qlast,
                       struct tr_wal_seg **dirty) {
    int rc = 0;
    for (struct tr_wal_chunk *c = qhead; c; c = c->next) {
        if (!rc && c->take > c->wrote && c->seg && c->seg->wfd >= 0) {
            rc = tr_wal_pwrite_full(w->io, c->seg->wfd, c->buf + c->wrote, c->take - c->wrote, c->off + c->wrote);
            if (!rc && !c->seg->dirty) {
                c->seg->dirty = 1;
                c->seg->next_dirty = *dirty;
                *dirty = c->seg;
            }
        }
        if (!rc) c->wrote = c->take;
        if (c == qlast) break;   /* its link is the owner's to set */
    }
    return rc;
}

/* Chunks at the queue's head that the owner is done with and that are
 * written (or never will be: a write failed) go to the free list, now rather than
 * after the fdatasync, so an owner waiting for one goes on at once. */
static void give_back(struct tr_wal *w, int failed) {
    pthread_mutex_lock(&w->mu);
    int freed = 0;
    if (failed)
        for (struct tr_wal_chunk *c = w->wq; c; c = c->next) c->wrote = c->hand;
    while (w->wq && w->wq->done && w->wq->wrote == w->wq->hand) {
        struct tr_wal_chunk *c = w->wq;
        w->wq = c->next;
        if (!w->wq) w->wq_tail = &w->wq;
        c->next = w->cfree;
        w->cfree = c;
        w->nfree++;
        freed = 1;
    }
    if (freed) pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
}

static void *sync_main(void *arg) {
    struct tr_wal *w = arg;
    const struct tr_wal_io *io = w->io;
    const enum tr_wal_sync_policy pol = w->cfg.sync;
    const uint64_t interval_ns = (uint64_t)w->cfg.sync_interval_ms * 1000000ull;
    const uint64_t ckpt_ns = (uint64_t)w->cfg.checkpoint_interval_ms * 1000000ull;
    struct tr_wal_seg *dirty = NULL;
    uint64_t taken = 0;   /* handovers taken so far */
    /* open wrote the checkpoint and left the directory synced */
    uint64_t last_sync_ns = tr_mono_ns(), last_ckpt_ns = last_sync_ns;
    int unsynced = 0;

    /* dir_changes is 0 at open (recovery leaves the directory synced);
     * not read here: the owner may have created a segment already */
    uint64_t dir_synced = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        uint64_t now;
        for (;;) {
            now = tr_mono_ns();
            if (w->reclaim || w->seals || w->sync_req != w->sync_done || w->closing) break;
            if (w->handovers != taken || (w->failed && !w->fail_told)) break;
            /* a chunk the owner retired with nothing more to write: to the
             * free list, or an owner waiting for one waits for ever */
            if (w->wq && w->wq->done && w->wq->wrote == w->wq->hand) break;
            uint64_t deadline = UINT64_MAX;
            if (!w->failed && w->pub_frontier != w->persisted_frontier) {
                /* acks with no data write to carry them: checkpoint them
                 * once the interval since the last one is over */
                if (now >= last_ckpt_ns + ckpt_ns) break;
                deadline = last_ckpt_ns + ckpt_ns;
            }
            if (!w->failed && pol == TR_WAL_SYNC_INTERVAL && unsynced) {
                if (now >= last_sync_ns + interval_ns) break;
                if (last_sync_ns + interval_ns < deadline) deadline = last_sync_ns + interval_ns;
            }
            w->idle = 1;
            wait_until(w, deadline);
            w->idle = 0;
            w->wakeups++;
        }

        /* Take what the owner handed over: everything written in this pass
         * is covered by the fdatasync below. Each chunk on the queue up to
         * its current last one is written through what it held now (the
         * owner only appends: chunks it adds later, and bytes, are the next
         * pass's). A segment is created before anything is handed over for
         * it, so dirgen counts every file the data taken here lives in. */
        w->busy = 1;
        int failed = w->failed, wrote = w->handovers != taken;
        taken = w->handovers;
        struct tr_wal_chunk *qhead = w->wq, *qlast = NULL;
        for (struct tr_wal_chunk *c = qhead; c; c = c->next) {
            c->take = c->hand;
            qlast = c;
        }
        uint64_t fseq = w->flushed_seq, fg = w->flushed_g, dirgen = w->dir_changes;
        struct tr_wal_seg *seals = w->seals, *recl = w->reclaim;
        w->seals = w->reclaim = NULL;
        uint64_t target = w->sync_req;
        int sync_asked = w->sync_req != w->sync_done, closing = w->closing;
        struct tr_wal_ckpt ck = {.frontier = w->pub_frontier,
                                 .hint_seg = w->pub_hint_seg,
                                 .hint_off = w->pub_hint_off};
        /* moved since the last marker or checkpoint: no write carries it */
        int frontier_moved = w->pub_frontier != w->persisted_frontier;
        uint64_t prev_durable = w->s_durable_seq, wseq = w->written_seq, wg = w->written_g;
        uint64_t sseq = w->synced_seq, sg = w->synced_g;
        uint32_t spares_now = w->nspares;   /* only the owner takes some away meanwhile */
        pthread_mutex_unlock(&w->mu);

        int rc = write_taken(w, qhead, qlast, &dirty);
        if (qhead) give_back(w, rc);

        /* A reclaimed segment may be the one that was active (disk full,
         * everything acknowledged): its data needs no sync any more. */
        for (struct tr_wal_seg *s = recl; s; s = s->next_link) {
            if (s->wfd < 0) continue;
            dirty_remove(&dirty, s);
            s->dirty = 0;
            io->close(io->ctx, s->wfd);
            s->wfd = -1;
        }
        struct pass p = {0, 0, 0, 0};
        if (!rc && !failed && wrote) {
            unsynced = 1;
            wseq = fseq;
            wg = fg;
        }
        if (!rc && !failed &&
            ((pol == TR_WAL_SYNC_ALWAYS && wrote) || sync_asked || (closing && pol != TR_WAL_SYNC_NONE) ||
             (pol == TR_WAL_SYNC_INTERVAL && unsynced && now >= last_sync_ns + interval_ns))) {
            rc = sync_dirty(w, &dirty, dirgen, &dir_synced, &p);
            if (!rc) {
                sseq = wseq;
                sg = wg;
                unsynced = 0;
                last_sync_ns = now;
            }
        }
        /* Sealed segments: synced once (unless NONE) and closed. */
        for (struct tr_wal_seg *s = seals; s; s = s->seal_next) {
            if (!rc && !failed && s->dirty && pol != TR_WAL_SYNC_NONE) {
                rc = io->fdatasync(io->ctx, s->wfd);
                p.syncs++;
                if (!rc) rc = dir_sync(w, dirgen, &dir_synced, &p);
            }
            dirty_remove(&dirty, s);
            s->dirty = 0;
            if (s->wfd >= 0) io->close(io->ctx, s->wfd);
            s->wfd = -1;
        }
        uint64_t durable = pol == TR_WAL_SYNC_ALWAYS ? sseq : wseq;
        int ckpt_ok = 0;
        if (!rc && !failed &&
            (recl || closing || (frontier_moved && (sync_asked || now >= last_ckpt_ns + ckpt_ns)))) {
            /* The data is durable already: say so before the checkpoint and
             * unlinks, which concern only the frontier and space. */
            pthread_mutex_lock(&w->mu);
            publish(w, rc, wseq, wg, sseq, sg, &prev_durable);
            pthread_mutex_unlock(&w->mu);
            ck.next_seq = durable + 1;
            rc = tr_wal_ckpt_write(w, &ck);
            p.ckpts++;
            last_ckpt_ns = now;
            ckpt_ok = !rc;
        }
        /* Reclaimed segments: kept for reuse while there is room for spares
         * (no I/O: freeing a file's blocks is what costs, with discard), the
         * rest unlinked. Either only once the checkpoint is durable: a kept
         * file is written over, and its records must not be needed again. */
        struct tr_wal_seg *kept = NULL, *gone = NULL;
        if (ckpt_ok && recl) {
            int unlinked = 0;
            uint32_t room = w->cfg.spare_segments > spares_now ? w->cfg.spare_segments - spares_now : 0;
            for (struct tr_wal_seg *s = recl, *n; s; s = n) {
                n = s->next_link;
                if (room) {
                    room--;
                    s->next_link = kept;
                    kept = s;
                    continue;
                }
                s->next_link = gone;
                gone = s;
                int r = io->unlink(io->ctx, s->path);
                if (r && r != -ENOENT)   /* harmless: the next open reclaims it */
                    TR_WARN("wal", "%s: unlink: %s", s->path, tr_strerror(r));
                else
                    unlinked = 1;
            }
            recl = gone;
            /* not needed for safety (a segment that comes back is wholly
             * behind the checkpointed frontier and removed at open), but
             * it makes the space's return durable; it covers every file
             * created before it as well */
            if (unlinked && pol != TR_WAL_SYNC_NONE) {
                int r = io->fsync(io->ctx, w->dirfd);
                p.dirsyncs++;
                if (r) TR_WARN("wal", "%s: directory fsync after unlink: %s", w->dir, tr_strerror(r));
                else dir_synced = dirgen;
            }
        }

        pthread_mutex_lock(&w->mu);
        /* Notify before the waiters of this pass are released, so that when
         * tr_wal_sync returns the callback has seen the value. */
        publish(w, rc, wseq, wg, sseq, sg, &prev_durable);
        if (!w->failed && ckpt_ok && ck.frontier > w->persisted_frontier) w->persisted_frontier = ck.frontier;
        w->syncs += p.syncs;
        w->checkpoints += p.ckpts;
        w->dir_syncs += p.dirsyncs;
        w->sync_done = target;
        w->busy = 0;
        if (recl) {
            struct tr_wal_seg *t = recl;
            while (t->next_link) t = t->next_link;
            t->next_link = w->dead;
            w->dead = recl;
        }
        for (struct tr_wal_seg *s = kept, *n; s; s = n) {
            n = s->next_link;
            s->next_link = w->spares;
            w->spares = s;
            w->nspares++;
            w->spared = 1;
        }
        pthread_cond_broadcast(&w->done);
        if (closing && w->handovers == taken && !w->seals && !w->reclaim) break;
    }
    w->thread_exited = 1;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int tr_wal_syncer_start(struct tr_wal *w) {
    int rc = pthread_create(&w->thread, NULL, sync_main, w);
    if (rc) return -rc;
    w->thread_started = 1;
    return 0;
}

void tr_wal_syncer_stop(struct tr_wal *w) {
    if (!w->thread_started) return;
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->thread_started = 0;
}
