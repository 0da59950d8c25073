/* world_decode.c - an onramp's codec off the loop thread.
 *
 * Decoding is the largest share of a pipeline that reads its events (a
 * 629-byte JSON log line: about 40% of the loop's time), and it needs
 * nothing of the world: bytes in, a value out. So when the world runs
 * with decode_off_loop, an onramp hands the frames its preprocessors cut
 * to libuv's thread pool in batches, and the loop turns the decoded
 * values into events when a batch comes back (uv_queue_work's after_work,
 * on the loop). While the pool decodes one batch the loop runs the
 * pipelines and offramps of the one before and collects the next: two
 * cores busy.
 *
 * Invariants:
 * - Order: an onramp has at most one batch in the pool, and once it has
 *   frames queued every later frame queues behind them, so events leave
 *   in the order their bytes came. Ids, ingest times, meta and errors are
 *   what decoding on the loop gives; ids are taken at delivery.
 * - Ownership: frame bytes are copied into the batch (a connector's
 *   buffer is only lent for the call). The pool thread touches only the
 *   batch's bytes and results; values it made live on their own carried
 *   block, which it gives up before the batch goes back, so from then on
 *   only the loop counts their references (value.h: values stay on one
 *   thread). Meta references stay on the loop.
 * - Bound: with a batch in the pool and BATCH_FRAMES frames or
 *   BATCH_BYTES bytes waiting, the onramp is told to stop reading (its
 *   trigger, from the loop; and TR_ONRAMP_PAUSED to the emit call), and
 *   restored when the batch is back, unless a pipeline holds it too. What
 *   waits is then bounded by what a connector reads in one loop turn.
 * - Stop: the world's stop sequence counts an onramp with frames queued
 *   as still closing until they are delivered (world_decode_quiet), so
 *   no decoded event is lost at shutdown; the instance is never freed
 *   with a batch in the pool.
 * Not for linked onramps (replies find their connection by the stream of
 * the event, taken while the bytes are being emitted), nor for connectors
 * that read the ids their bytes became around the emit call (kafka commits
 * an offset once those ids are acknowledged: conn.h ids_at_emit), nor for
 * frames a pipeline takes undecoded (the durable relay: a lazy decode is a
 * scan, cheaper than the trip), nor for codecs that do not gain from it
 * (codec.h, off_loop).
 */
#include <errno.h>
#include <string.h>

#include "codec/codec.h"
#include "pipeline/world_int.h"

#define BATCH_FRAMES 512
#define BATCH_BYTES (512u * 1024u)

struct dframe {
    size_t off, len;           /* the frame in the batch's bytes */
    uint64_t now, ingest_ns;   /* the chunk's time, the ingest-ns stage's */
    tr_value meta;             /* a reference (loop thread only) */
    int mode;                  /* enum world_decode_mode */
    int first;                 /* the first frame of its chunk (errors' event_id) */
    /* written by the pool thread */
    int rc;
    tr_value v;
    struct tr_str *raw;
    char *msg;                 /* the error, when rc < 0; may be NULL */
};

struct world_batch {
    uv_work_t work;
    struct onramp_inst *o;
    const struct tr_codec *codec;
    struct tr_buf bytes;         /* the frames, one after the other */
    struct dframe *f;
    size_t n, fcap;
};

static struct world_batch *batch_new(struct onramp_inst *o) {
    struct world_batch *b = tr_calloc(1, sizeof *b);
    if (b) {
        b->o = o;
        b->work.data = b;
        tr_buf_init(&b->bytes);
    }
    return b;
}

static void batch_free(struct world_batch *b) {
    if (!b) return;
    tr_buf_fini(&b->bytes);
    tr_free(b->f);
    tr_free(b);
}

/* The pool thread: every frame of the batch, on a carry of the batch's
 * own that is given up before the batch goes back. */
static void decode_work(uv_work_t *w) {
    struct world_batch *b = w->data;
    struct tr_varena_carry carry = {0};
    struct tr_varena_carry *prev = tr_varena_use_carry(&carry);
    for (size_t i = 0; i < b->n; i++) {
        struct dframe *f = &b->f[i];
        struct tr_diag d;
        tr_diag_clear(&d);
        f->rc = world_decode_one(b->codec, f->mode, b->bytes.data + f->off, f->len, f->now, &f->v, &f->raw, &d);
        if (f->rc < 0 && d.msg[0]) f->msg = tr_strdup(d.msg);
    }
    tr_varena_use_carry(prev);
    tr_varena_carry_drop(&carry);
}

static int submit(struct onramp_inst *o);

static void decode_done(uv_work_t *w, int status) {
    struct world_batch *b = w->data;
    struct onramp_inst *o = b->o;
    (void)status;   /* never cancelled: nothing calls uv_cancel on it */
    o->dq_busy = NULL;
    /* the next batch goes to the pool first, so that it is decoded while
     * the loop runs this one through the pipelines */
    if (o->dq_fill && o->dq_fill->n) (void)submit(o);
    for (size_t i = 0; i < b->n; i++) {
        struct dframe *f = &b->f[i];
        if (f->first) o->chunk_id = o->next_id;
        world_onramp_deliver(o, f->rc, f->v, f->raw, f->meta, f->ingest_ns, f->msg, f->len);
        tr_free(f->msg);
    }
    b->n = 0;
    tr_buf_reset(&b->bytes);
    /* a burst (a connector reads up to a loop turn past the bound) does
     * not keep its memory */
    if (b->bytes.cap > 8 * BATCH_BYTES) tr_buf_fini(&b->bytes);
    if (b->fcap > 8 * BATCH_FRAMES) {
        tr_free(b->f);
        b->f = NULL;
        b->fcap = 0;
    }
    /* the emptied batch collects frames again */
    if (!o->dq_fill) o->dq_fill = b;
    else if (!o->dq_spare) o->dq_spare = b;
    else batch_free(b);
    /* a delivery may have stopped the world, which submitted it already */
    if (!o->dq_busy && o->dq_fill->n) (void)submit(o);
    if (o->dq_paused) {
        o->dq_paused = 0;
        tr_defer_cancel(&o->w->defer, &o->dq_pause_node);
        if (!o->pipe_paused && o->self) o->ops->restore(o->self);
    }
    if (!world_decode_pending(o) && o->dq_waiter) {
        o->dq_waiter = 0;
        world_stop_closed_one(o->w);
    }
}

/* The waiting batch goes to the pool. 0 or -ENOMEM / a libuv error (then
 * it stays waiting). */
static int submit(struct onramp_inst *o) {
    struct world_batch *b = o->dq_fill;
    b->codec = o->codec;
    int rc = uv_queue_work(o->w->loop, &b->work, decode_work, decode_done);
    if (rc) return rc;
    o->dq_busy = b;
    /* frames arriving now go to the spare; with none (the batch before
     * is still being delivered) to a batch made at the next frame */
    o->dq_fill = o->dq_spare;
    o->dq_spare = NULL;
    return 0;
}

/* For connectors that do not stop at TR_ONRAMP_PAUSED (the blaster):
 * their trigger, from the loop. */
static void pause_run(struct tr_defer_node *n) {
    struct onramp_inst *o = (struct onramp_inst *)((char *)n - offsetof(struct onramp_inst, dq_pause_node));
    if (o->dq_paused && o->self) o->ops->trigger(o->self);
}

bool world_decode_pending(const struct onramp_inst *o) {
    return o->dq_busy || (o->dq_fill && o->dq_fill->n);
}

bool world_decode_wanted(const struct onramp_inst *o, int mode) {
    if (world_decode_pending(o)) return true;   /* behind the frames queued */
    return o->w->decode_off_loop && mode != WORLD_DECODE_LAZY && o->codec->off_loop &&
           !on_art(o)->linked && !o->ops->ids_at_emit;
}

int world_decode_enqueue(struct onramp_inst *o, const char *data, size_t len, int mode, uint64_t now,
                         uint64_t ingest_ns, int first) {
    if (!o->dq_fill && !(o->dq_fill = batch_new(o))) return -ENOMEM;
    struct world_batch *b = o->dq_fill;
    size_t off = b->bytes.len;
    if (tr_grow((void **)&b->f, &b->fcap, b->n + 1, sizeof *b->f) || tr_buf_append(&b->bytes, data, len))
        return -ENOMEM;
    b->f[b->n++] = (struct dframe){.off = off, .len = len, .now = now, .ingest_ns = ingest_ns,
                                   .meta = tr_value_ref(o->cur_meta), .mode = mode, .first = first};
    if (!o->dq_busy) {
        /* an idle pool starts on it at once: a quiet stream waits for no
         * batch to fill, a busy one fills the next batch meanwhile (if
         * it cannot be submitted, it stays waiting: the next frame or
         * the stop tries again) */
        (void)submit(o);
        return 0;
    }
    if (b->n >= BATCH_FRAMES || b->bytes.len >= BATCH_BYTES) {
        if (!o->dq_paused) {
            /* told by the answer or by the trigger: either way it is
             * restored when the batch is back */
            o->dq_paused = 1;
            o->dq_pause_node.run = pause_run;
            tr_defer_post(&o->w->defer, &o->dq_pause_node);
        }
        return TR_ONRAMP_PAUSED;
    }
    return 0;
}

/* Drop what waits (not the batch in the pool), said in the log. */
static void discard(struct onramp_inst *o) {
    struct world_batch *b = o->dq_fill;
    for (size_t i = 0; b && i < b->n; i++) tr_value_unref(b->f[i].meta);
    if (b && b->n)
        TR_WARN("world", "onramp %s/%s: %zu frames not decoded are dropped", on_art(o)->id, o->instance,
                b->n);
    if (b) {
        b->n = 0;
        tr_buf_reset(&b->bytes);
    }
}

void world_decode_quiet(struct onramp_inst *o) {
    if (!world_decode_pending(o) || o->dq_waiter) return;
    /* a batch that could not be submitted goes now: the stop waits for it */
    if (!o->dq_busy) {
        if (submit(o)) {
            discard(o);
            return;
        }
    }
    o->dq_waiter = 1;
    o->w->closing_count++;
}

void world_decode_wait(struct onramp_inst *o) {
    /* outside the loop's run (tr_world_destroy): run it until the batch
     * in the pool is back */
    while (o->dq_busy) uv_run(o->w->loop, UV_RUN_ONCE);
}

void world_decode_fini(struct onramp_inst *o) {
    discard(o);
    tr_defer_cancel(&o->w->defer, &o->dq_pause_node);
    batch_free(o->dq_fill);
    batch_free(o->dq_spare);
    o->dq_fill = o->dq_spare = NULL;
}
