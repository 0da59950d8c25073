/* syncer.c - the sync thread: write, fdatasync, checkpoint, unlink (group commit).
 *
 * Each pass takes EVERYTHING appended since the last one and (ALWAYS) covers
 * it with one fdatasync while the owner keeps appending. Durable order, every
 * pass: data written -> data fdatasync (+ directory fsync for a new segment)
 * -> checkpoint + fdatasync -> acknowledged segments unlinked -> directory
 * fsync -> durable-through published -> notify. Any write or sync error fails
 * the WAL for good; a failed fdatasync is never retried. This thread
 * allocates nothing: buffers return to the owner through the done list.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

/* A frontier that moved while no data was appended is checkpointed at most
 * this often (data batches carry it for free in a marker). */
#define FRONTIER_CKPT_GAP_NS 2000000ull

struct pass {
    uint64_t syncs, ckpts;
    int synced;
};

static int sync_dirty(struct tr_wal *w, struct tr_wal_seg **dirty, struct pass *p) {
    const struct tr_wal_io *io = w->io;
    int dirsync = 0, rc = 0;
    for (struct tr_wal_seg *s = *dirty; s; s = s->next_dirty) {
        if (s->wfd < 0) continue;
        rc = io->fdatasync(io->ctx, s->wfd);
        p->syncs++;
        if (rc) return rc;
        s->dirty = 0;
        if (s->need_dirsync) dirsync = 1;
    }
    *dirty = NULL;
    if (dirsync) {
        rc = io->fsync(io->ctx, w->dirfd);
        if (rc) return rc;
    }
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
    int newly_failed = 0;
    if (rc && !w->failed) {
        w->failed = rc;
        newly_failed = 1;
        TR_ERROR("wal", "%s: write or sync failed, no more records become durable: %s", w->dir,
                 tr_strerror(rc));
    }
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
    if ((nd != *told || newly_failed) && w->cfg.notify) {
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

static void *sync_main(void *arg) {
    struct tr_wal *w = arg;
    const struct tr_wal_io *io = w->io;
    const enum tr_wal_sync_policy pol = w->cfg.sync;
    const uint64_t interval_ns = (uint64_t)w->cfg.sync_interval_ms * 1000000ull;
    struct tr_wal_seg *dirty = NULL;
    uint64_t last_sync_ns = tr_wal_now_ns(), last_ckpt_ns = 0;
    int unsynced = 0;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        uint64_t now;
        for (;;) {
            now = tr_wal_now_ns();
            if (w->reclaim || w->seals || w->sync_req != w->sync_done || w->closing) break;
            uint64_t deadline = UINT64_MAX;
            if (w->pend_head) {
                if (pol == TR_WAL_SYNC_ALWAYS || w->failed || w->pend_bytes >= TR_WAL_COALESCE_BYTES ||
                    now >= w->pend_since_ns + TR_WAL_COALESCE_NS)
                    break;
                deadline = w->pend_since_ns + TR_WAL_COALESCE_NS;
            }
            if (!w->failed && w->pub_frontier != w->persisted_frontier) {
                if (now >= last_ckpt_ns + FRONTIER_CKPT_GAP_NS) break;
                if (last_ckpt_ns + FRONTIER_CKPT_GAP_NS < deadline) deadline = last_ckpt_ns + FRONTIER_CKPT_GAP_NS;
            }
            if (!w->failed && pol == TR_WAL_SYNC_INTERVAL && unsynced) {
                if (now >= last_sync_ns + interval_ns) break;
                if (last_sync_ns + interval_ns < deadline) deadline = last_sync_ns + interval_ns;
            }
            w->idle = 1;
            wait_until(w, deadline);
            w->idle = 0;
        }

        /* Take the batch. The frontier rides along in a marker at its end. */
        struct tr_wal_chunk *batch = w->pend_head, *tail = w->pend_tail;
        w->pend_head = w->pend_tail = NULL;
        int failed = w->failed;
        if (batch && !failed && w->pub_frontier != w->persisted_frontier && tail->seg == w->active &&
            tail->len + TR_WAL_MARKER_BYTES <= tail->cap && w->active_off == tail->off + tail->len) {
            tr_wal_marker_encode(tail->buf + tail->len, w->next_seq, w->pub_frontier, w->pub_hint_seg,
                                 w->pub_hint_off);
            tail->len += TR_WAL_MARKER_BYTES;
            w->active_off += TR_WAL_MARKER_BYTES;
            w->active->size = w->active_off;
            w->end_g += TR_WAL_MARKER_BYTES;
            tail->g_end = w->end_g;
            w->pend_bytes += TR_WAL_MARKER_BYTES;
            w->persisted_frontier = w->pub_frontier;
        }
        struct tr_wal_seg *seals = w->seals, *recl = w->reclaim;
        w->seals = w->reclaim = NULL;
        uint64_t target = w->sync_req;
        int sync_asked = w->sync_req != w->sync_done, closing = w->closing;
        struct tr_wal_ckpt ck = {.frontier = w->pub_frontier,
                                 .hint_seg = w->pub_hint_seg,
                                 .hint_off = w->pub_hint_off};
        int frontier_moved = w->pub_frontier != w->persisted_frontier;
        uint64_t prev_durable = w->s_durable_seq, wseq = w->written_seq, wg = w->written_g;
        uint64_t sseq = w->synced_seq, sg = w->synced_g;
        pthread_mutex_unlock(&w->mu);

        struct pass p = {0, 0, 0};
        int rc = 0, wrote = 0;
        uint64_t bytes = 0;
        for (struct tr_wal_chunk *c = batch; c; c = c->next) bytes += c->len;
        for (struct tr_wal_chunk *c = batch; c; c = c->next) {
            if (failed || !c->len) continue;
            rc = tr_wal_pwrite_full(io, c->seg->wfd, c->buf, c->len, c->off);
            if (rc) break;
            if (!c->seg->dirty) {
                c->seg->dirty = 1;
                c->seg->next_dirty = dirty;
                dirty = c->seg;
            }
            wrote = unsynced = 1;
            if (c->last_seq > wseq) wseq = c->last_seq;
            if (c->g_end > wg) wg = c->g_end;
        }
        if (!rc && !failed &&
            ((pol == TR_WAL_SYNC_ALWAYS && wrote) || sync_asked || (closing && pol != TR_WAL_SYNC_NONE) ||
             (pol == TR_WAL_SYNC_INTERVAL && unsynced && now >= last_sync_ns + interval_ns))) {
            rc = sync_dirty(w, &dirty, &p);
            if (!rc) {
                sseq = wseq;
                sg = wg;
                unsynced = 0;
                last_sync_ns = now;
            }
        }
        /* Sealed segments: synced once (unless NONE) and closed. */
        for (struct tr_wal_seg *s = seals; s; s = s->next_link) {
            if (!rc && !failed && s->dirty && pol != TR_WAL_SYNC_NONE) {
                rc = io->fdatasync(io->ctx, s->wfd);
                p.syncs++;
                if (!rc && s->need_dirsync) rc = io->fsync(io->ctx, w->dirfd);
            }
            dirty_remove(&dirty, s);
            s->dirty = 0;
            if (s->wfd >= 0) io->close(io->ctx, s->wfd);
            s->wfd = -1;
        }
        uint64_t durable = pol == TR_WAL_SYNC_ALWAYS ? sseq : wseq;
        int ckpt_ok = 0;
        if (!rc && !failed &&
            (recl || closing ||
             (frontier_moved && (sync_asked || (!batch && now >= last_ckpt_ns + FRONTIER_CKPT_GAP_NS))))) {
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
        if (ckpt_ok && recl) {
            int unlinked = 0;
            for (struct tr_wal_seg *s = recl; s; s = s->next_link) {
                int r = io->unlink(io->ctx, s->path);
                if (r && r != -ENOENT)   /* harmless: the next open reclaims it */
                    TR_WARN("wal", "%s: unlink: %s", s->path, tr_strerror(r));
                else
                    unlinked = 1;
            }
            if (unlinked && pol != TR_WAL_SYNC_NONE) {
                int r = io->fsync(io->ctx, w->dirfd);
                if (r) TR_WARN("wal", "%s: directory fsync after unlink: %s", w->dir, tr_strerror(r));
            }
        }

        pthread_mutex_lock(&w->mu);
        /* Notify before the waiters of this pass are released, so that when
         * tr_wal_sync returns the callback has seen the value. */
        publish(w, rc, wseq, wg, sseq, sg, &prev_durable);
        if (!w->failed && ckpt_ok && ck.frontier > w->persisted_frontier) w->persisted_frontier = ck.frontier;
        w->syncs += p.syncs;
        w->checkpoints += p.ckpts;
        w->sync_done = target;
        w->pend_bytes -= bytes;
        if (batch) {
            struct tr_wal_chunk *t = batch;
            while (t->next) t = t->next;
            t->next = w->done_chunks;
            w->done_chunks = batch;
        }
        if (recl) {
            struct tr_wal_seg *t = recl;
            while (t->next_link) t = t->next_link;
            t->next_link = w->dead;
            w->dead = recl;
        }
        pthread_cond_broadcast(&w->done);
        if (closing && !w->pend_head && !w->seals && !w->reclaim) break;
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
