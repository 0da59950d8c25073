/* blaster.c - the `blaster` onramp: replays the lines of a file in a loop,
 * for benchmarks (Tremor 0.11 keys: source, interval, iters, base64).
 *
 * The file (.xz is decompressed) is read once at create time into memory and
 * split into lines; each line is one event, handed to the runtime's
 * preprocessors and codec. Without `interval` events go out as fast as the
 * pipeline takes them, in batches from an idle handle so timers, signals
 * and sockets still get their turn between batches; with it, a timer emits
 * whatever is due, PACED_CHUNK events per loop turn. Not a file reader for production (see file_in.c).
 * Invariant: at most `iters` events in all, then done() exactly once.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "codec/base64.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/srcfile.h"
#include "connectors/xz.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "blaster"
#define MAX_SOURCE ((size_t)1 << 30)   /* decompressed bytes kept in memory */
#define BATCH 1024                     /* events per idle or timer callback */
/* interval mode: events due at a timer tick go out this many per loop turn
 * (the rest from the idle handle in the next turns), so a millisecond's
 * worth does not hold the loop in one turn */
#define PACED_CHUNK 32
#define READ_CHUNK 65536

struct line {
    size_t off, len;
};

struct blaster {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *data;                  /* the whole file, decompressed */
    struct line *lines;
    size_t nlines;
    size_t next;                 /* index of the next line to send */
    uint64_t interval_ns;        /* 0: as fast as possible */
    uint64_t iters;              /* events in all; 0 with !has_iters: forever */
    bool has_iters;
    uint64_t sent;
    uint64_t t0_ns, sent_at_t0;  /* interval mode: the schedule's origin */
    uv_idle_t idle;
    uv_timer_t timer;
    int handles;                 /* open uv handles */
    bool started, triggered, finished, closing, running;
    void (*done)(void *);
    void *done_arg;
};

/* ---------------------------------------------------------------- loading */

/* Append n bytes to b unless that passes MAX_SOURCE. */
static int take(struct tr_buf *b, const char *data, size_t n) {
    if (n > MAX_SOURCE - b->len) return TR_ETOOBIG;
    return tr_buf_append(b, data, n);
}

/* Read all of fd into b, through the xz decoder when xz. Blocking: this
 * runs once, at create time. */
static int slurp(int fd, bool xz, struct tr_buf *b, struct tr_diag *xd) {
    struct tr_xz *dec = NULL;
    char *chunk = tr_malloc(READ_CHUNK), *plain = xz ? tr_malloc(READ_CHUNK) : NULL;
    int rc = chunk && (plain || !xz) ? 0 : -ENOMEM;
    if (!rc && xz) rc = tr_xz_create(&dec);
    while (!rc) {
        ssize_t n = read(fd, chunk, READ_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (!dec) {
            if (n == 0) break;
            rc = take(b, chunk, (size_t)n);
            continue;
        }
        const char *in = chunk;
        size_t left = (size_t)n, got;
        do {
            rc = tr_xz_step(dec, &in, &left, n == 0, plain, READ_CHUNK, &got, xd);
            if (!rc && got) rc = take(b, plain, got);
        } while (!rc && !tr_xz_ended(dec) && (left || got == READ_CHUNK || n == 0));
        if (n == 0 || tr_xz_ended(dec)) break;
    }
    tr_xz_destroy(dec);
    tr_free(plain);
    tr_free(chunk);
    return rc;
}

/* Split b->data into lines (without "\n" or "\r\n"); empty lines are
 * skipped. With base64, every line is decoded in place. */
static int split(struct blaster *bl, bool base64, size_t len, size_t *bad) {
    size_t cap = 0, pos = 0;
    *bad = 0;
    while (pos < len) {
        char *start = bl->data + pos;
        char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && start[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (base64) {
            size_t out;
            if (tr_base64_decode(start, n, (unsigned char *)start, &out) != 0) {
                (*bad)++;
                continue;
            }
            n = out;
        }
        int rc = tr_grow((void **)&bl->lines, &cap, bl->nlines + 1, sizeof *bl->lines);
        if (rc) return rc;
        bl->lines[bl->nlines].off = (size_t)(start - bl->data);
        bl->lines[bl->nlines].len = n;
        bl->nlines++;
    }
    return 0;
}

struct bl_cfg {
    const char *source;
    uint64_t interval, iters;
    bool has_iters;
    bool base64;
};

const struct tr_cmap_entry tr_blaster_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "source", NULL, TR_CMAP_REQUIRED, offsetof(struct bl_cfg, source),
     "a file to replay")},
    {TR_CMAP_KEY(TR_CMAP_U64, "interval", "0", 0, offsetof(struct bl_cfg, interval),
     "ns between events, 0: as fast as possible")},
    {TR_CMAP_KEY(TR_CMAP_U64, "iters", NULL, TR_CMAP_PRESENCE, offsetof(struct bl_cfg, iters),
                 "events to send in all; absent: no limit"),
     .seen = offsetof(struct bl_cfg, has_iters)},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "base64", "false", 0, offsetof(struct bl_cfg, base64),
     "each line is base64 of the bytes to send")},
    {0},
};

static void free_blaster(struct blaster *bl) {
    tr_free(bl->lines);
    tr_free(bl->data);
    tr_free(bl->id);
    tr_free(bl);
}

static int bl_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    if (!spec->config || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "blaster '%s': a config with config.source is required", spec->id);
    struct bl_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_blaster_cmap, &c, d);
    if (rc) return rc;
    const char *source = c.source;
    uint64_t interval = c.interval, iters = c.iters;
    bool base64 = c.base64, has_iters = c.has_iters;

    struct blaster *bl = tr_calloc(1, sizeof *bl);
    if (!bl) return -ENOMEM;
    int fd;
    char *used = NULL;
    rc = tr_srcfile_open(spec, "source", source, &fd, &used, d);
    if (rc) goto fail;
    struct tr_buf b;
    tr_buf_init(&b);
    struct tr_diag xd;
    tr_diag_clear(&xd);
    rc = slurp(fd, tr_xz_path(used), &b, &xd);
    close(fd);
    if (rc == TR_ETOOBIG) {
        rc = tr_diag_set(d, rc, spec->file, spec->line, spec->col,
                         "blaster '%s': config.source: '%s' holds more than %zu MiB", spec->id,
                         used, MAX_SOURCE >> 20);
    } else if (rc == TR_ECORRUPT) {
        rc = tr_diag_set(d, rc, spec->file, spec->line, spec->col, "blaster '%s': config.source: '%s' %s",
                         spec->id, used, xd.msg);
    } else if (rc && rc != -ENOMEM) {
        rc = tr_diag_set(d, rc, spec->file, spec->line, spec->col,
                         "blaster '%s': config.source: cannot read '%s': %s", spec->id, used,
                         tr_strerror(rc));
    }
    size_t len = b.len;
    bl->data = tr_buf_steal(&b, NULL);
    if (rc) goto fail;
    size_t bad = 0;
    if (bl->data && (rc = split(bl, base64, len, &bad))) goto fail;
    if (bad)
        TR_WARN(MOD, "%s: %zu lines of '%s' are not valid base64 and are skipped", spec->id, bad, used);
    if (bl->nlines == 0) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                         "blaster '%s': config.source: '%s' has no lines to replay", spec->id, used);
        goto fail;
    }
    bl->id = tr_strdup(spec->id ? spec->id : MOD);
    if (!bl->id) {
        rc = -ENOMEM;
        goto fail;
    }
    TR_INFO(MOD, "%s: replaying %zu lines of '%s'", bl->id, bl->nlines, used);
    tr_free(used);
    bl->host = host;
    bl->loop = tr_onramp_loop(host);
    bl->interval_ns = interval;
    bl->iters = iters;
    bl->has_iters = has_iters;
    uv_idle_init(bl->loop, &bl->idle);
    uv_timer_init(bl->loop, &bl->timer);
    bl->idle.data = bl->timer.data = bl;
    bl->handles = 2;
    *self = bl;
    return 0;
fail:
    tr_free(used);
    free_blaster(bl);
    return rc;
}

/* ---------------------------------------------------------------- sending */

static void stop_running(struct blaster *bl) {
    if (!bl->running) return;
    bl->running = false;
    uv_idle_stop(&bl->idle);
    uv_timer_stop(&bl->timer);
}

static void finish(struct blaster *bl) {
    if (bl->finished) return;
    bl->finished = true;
    stop_running(bl);
    TR_INFO(MOD, "%s: sent %llu events", bl->id, (unsigned long long)bl->sent);
    tr_onramp_done(bl->host);
}

/* Send up to n events; stops early on a trigger, a close or `iters`. */
static void send_some(struct blaster *bl, uint64_t n) {
    while (n-- && bl->running) {
        if (bl->has_iters && bl->sent >= bl->iters) {
            finish(bl);
            return;
        }
        const struct line *l = &bl->lines[bl->next];
        if (++bl->next == bl->nlines) bl->next = 0;
        bl->sent++;
        tr_onramp_emit_bytes(bl->host, 0, bl->data + l->off, l->len, tr_v_null());
    }
    if (bl->running && bl->has_iters && bl->sent >= bl->iters) finish(bl);
}

static void on_idle(uv_idle_t *h);

/* interval mode: send what is due, a chunk per turn; behind schedule, the
 * idle handle sends the next chunk in the next turn. */
static void paced(struct blaster *bl) {
    uint64_t due = (tr_now_ns() - bl->t0_ns) / bl->interval_ns;
    uint64_t done = bl->sent - bl->sent_at_t0;
    uint64_t n = due > done ? due - done : 0;
    if (n) send_some(bl, n > PACED_CHUNK ? PACED_CHUNK : n);
    if (!bl->running) return;
    if (n > PACED_CHUNK) uv_idle_start(&bl->idle, on_idle);
    else uv_idle_stop(&bl->idle);
}

static void on_idle(uv_idle_t *h) {
    struct blaster *bl = h->data;
    if (bl->interval_ns) paced(bl);
    else send_some(bl, BATCH);
}

static void on_timer(uv_timer_t *t) { paced(t->data); }

static void run(struct blaster *bl) {
    if (bl->running || !bl->started || bl->triggered || bl->finished || bl->closing) return;
    if (bl->has_iters && bl->sent >= bl->iters) {
        finish(bl);
        return;
    }
    bl->running = true;
    if (bl->interval_ns == 0) {
        uv_idle_start(&bl->idle, on_idle);
        return;
    }
    /* a fresh schedule: what was missed while paused is not caught up */
    bl->t0_ns = tr_now_ns();
    bl->sent_at_t0 = bl->sent;
    uint64_t ms = bl->interval_ns / 1000000;
    uv_timer_start(&bl->timer, on_timer, ms ? ms : 1, ms ? ms : 1);
}

static int bl_start(void *self) {
    struct blaster *bl = self;
    bl->started = true;
    run(bl);
    return 0;
}

static void bl_trigger(void *self) {
    struct blaster *bl = self;
    bl->triggered = true;
    stop_running(bl);
}

static void bl_restore(void *self) {
    struct blaster *bl = self;
    bl->triggered = false;
    run(bl);
}

static void bl_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void on_closed(uv_handle_t *h) {
    struct blaster *bl = h->data;
    if (--bl->handles) return;
    void (*done)(void *) = bl->done;
    void *arg = bl->done_arg;
    free_blaster(bl);
    if (done) done(arg);
}

static void bl_close(void *self, void (*done)(void *), void *arg) {
    struct blaster *bl = self;
    if (bl->closing) return;
    bl->closing = true;
    bl->done = done;
    bl->done_arg = arg;
    stop_running(bl);
    uv_close((uv_handle_t *)&bl->idle, on_closed);
    uv_close((uv_handle_t *)&bl->timer, on_closed);
}

const struct tr_onramp_ops tr_blaster_onramp = {
    .type = "blaster",
    .transactional = false,
    .create = bl_create,
    .start = bl_start,
    .trigger = bl_trigger,
    .restore = bl_restore,
    .ack = bl_noop_id,
    .fail = bl_noop_id,
    .close = bl_close,
};
