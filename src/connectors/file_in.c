/* file_in.c - the `file` onramp: one event per line of a file (Tremor 0.11
 * keys: source, close_on_done, sleep_on_done); `.xz` files are decompressed.
 *
 * Reads go through the libuv thread pool (uv_fs_read), one at a time, and
 * the loop splits and emits lines between them, so the loop never blocks on
 * the disk. A breaker trigger stops emitting at the next line (the rest of
 * the chunk waits in memory), a restore carries on from there. Not a tail
 * -f: at the end of the file it is done. Invariant: `plain` holds at most
 * one chunk plus one unfinished line (lines over TR_PROC_MAX_LINE bytes are
 * dropped), and every line is emitted once, in file order.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "codec/proc.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/srcfile.h"
#include "connectors/xz.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define MOD "file"
#define CHUNK 65536

struct file_in {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *path;
    int fd;
    struct tr_xz *xz;            /* NULL for a plain file */
    uv_fs_t req;
    uv_timer_t timer;            /* sleep_on_done */
    char *raw;                   /* xz: compressed bytes read, not yet decoded */
    size_t raw_pos, raw_len;
    struct tr_buf plain;         /* bytes not yet emitted */
    size_t pos;                  /* next unemitted byte in plain */
    bool skipping;               /* inside a line longer than the limit */
    bool eof;                    /* the read returned 0 (or failed) */
    bool reading, started, paused, finished, closing, timer_closed;
    bool pumping;                /* inside pump(): a restore from an emit must not nest */
    bool close_on_done;
    uint64_t sleep_ms;
    uint64_t lines, dropped;
    void (*done)(void *);
    void *done_arg;
};

struct fi_cfg {
    const char *source;
    bool close_on_done;
    uint64_t sleep_on_done;
};

const struct tr_cmap_entry tr_file_in_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "source", NULL, TR_CMAP_REQUIRED, offsetof(struct fi_cfg, source),
     "the file to read")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "close_on_done", "false", 0, offsetof(struct fi_cfg, close_on_done),
     "stop the server at the end of the file")},
    /* a day: longer is a mistake, and the timer stays far from overflow */
    {TR_CMAP_KEY(TR_CMAP_U64, "sleep_on_done", "0", TR_CMAP_RANGE, offsetof(struct fi_cfg, sleep_on_done),
     "ms to wait at the end of the file before closing (at most a day)"), .lo = -INFINITY, .hi = 86400000},
    {0},
};

static void pump(struct file_in *f);
static void drive(struct file_in *f);

static int fi_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct fi_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_file_in_cmap, &c, d);
    if (rc) return rc;
    const char *source = c.source;
    bool close_on_done = c.close_on_done;
    uint64_t sleep_ms = c.sleep_on_done;
    struct file_in *f = tr_calloc(1, sizeof *f);
    if (!f) return -ENOMEM;
    f->fd = -1;
    tr_buf_init(&f->plain);
    rc = tr_srcfile_open(spec, "source", source, &f->fd, &f->path, d);
    if (rc) goto fail;
    if (tr_xz_path(f->path)) {
        rc = tr_xz_create(&f->xz);
        if (!rc && !(f->raw = tr_malloc(CHUNK))) rc = -ENOMEM;
        if (rc) goto fail;
    }
    f->id = tr_strdup(spec->id ? spec->id : MOD);
    if (!f->id) {
        rc = -ENOMEM;
        goto fail;
    }
    f->host = host;
    f->loop = tr_onramp_loop(host);
    f->close_on_done = close_on_done;
    f->sleep_ms = sleep_ms;
    uv_timer_init(f->loop, &f->timer);
    f->timer.data = f;
    *self = f;
    return 0;
fail:
    if (f->fd >= 0) close(f->fd);
    tr_xz_destroy(f->xz);
    tr_free(f->raw);
    tr_free(f->path);
    tr_free(f);
    return rc;
}

/* ------------------------------------------------------------- the end */

static void on_sleep_done(uv_timer_t *t) {
    struct file_in *f = t->data;
    tr_onramp_done(f->host);
    if (f->close_on_done) tr_onramp_shutdown(f->host);   /* as in Tremor: the server exits 0 */
}

static void finish(struct file_in *f) {
    if (f->finished) return;
    f->finished = true;
    tr_onramp_stream_end(f->host, 0);
    TR_INFO(MOD, "%s: read %llu lines from '%s'%s", f->id, (unsigned long long)f->lines, f->path,
            f->dropped ? " (some over-long lines were dropped)" : "");
    if (f->sleep_ms) uv_timer_start(&f->timer, on_sleep_done, f->sleep_ms, 0);
    else on_sleep_done(&f->timer);
}

/* ------------------------------------------------------------- reading */

static void on_read(uv_fs_t *req) {
    struct file_in *f = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    f->reading = false;
    if (f->closing) {
        pump(f);   /* finishes the close */
        return;
    }
    if (n < 0) {
        TR_WARN(MOD, "%s: reading '%s' failed: %s; treating it as the end of the file", f->id, f->path,
                uv_strerror((int)n));
        n = 0;
    }
    if (n == 0) f->eof = true;
    if (f->xz) {
        f->raw_pos = 0;
        f->raw_len = (size_t)n;
    } else {
        f->plain.len += (size_t)n;
        f->plain.data[f->plain.len] = 0;
    }
    pump(f);
}

static void start_read(struct file_in *f) {
    char *into;
    if (f->xz) {
        into = f->raw;
    } else {
        if (tr_buf_reserve(&f->plain, CHUNK) != 0) {
            TR_ERROR(MOD, "%s: out of memory reading '%s'; stopping", f->id, f->path);
            f->eof = true;
            return;
        }
        into = f->plain.data + f->plain.len;
    }
    uv_buf_t b = uv_buf_init(into, CHUNK);
    f->req.data = f;
    f->reading = true;
    int rc = uv_fs_read(f->loop, &f->req, f->fd, &b, 1, -1, on_read);
    if (rc) {
        f->reading = false;
        TR_WARN(MOD, "%s: cannot read '%s': %s", f->id, f->path, uv_strerror(rc));
        f->eof = true;
    }
}

static void drop_line(struct file_in *f) {
    if (f->dropped++ == 0)
        TR_WARN(MOD, "%s: dropping lines of '%s' longer than %u bytes", f->id, f->path, TR_PROC_MAX_LINE);
}

/* Emit every complete line in plain; false when paused meanwhile. */
static bool emit_lines(struct file_in *f) {
    while (!f->paused && !f->closing) {
        char *start = f->plain.data + f->pos;
        size_t left = f->plain.len - f->pos;
        char *nl = left ? memchr(start, '\n', left) : NULL;
        if (!nl) return true;
        size_t n = (size_t)(nl - start);
        f->pos += n + 1;
        if (f->skipping) {
            f->skipping = false;
            continue;
        }
        if (n > TR_PROC_MAX_LINE) {   /* completed by the chunk that made it too long */
            drop_line(f);
            continue;
        }
        if (n && start[n - 1] == '\r') n--;
        f->lines++;
        /* A full WAL downstream: its trigger follows from the loop, but an
         * xz file decodes chunk after chunk without returning to it, so
         * stop here; the restore carries on from the next line. */
        if (tr_onramp_emit_bytes(f->host, 0, start, n, tr_v_null()) == TR_ONRAMP_PAUSED) f->paused = true;
    }
    return false;
}

/* Keep only the unfinished line, at the front; drop it when too long. */
static void compact(struct file_in *f) {
    size_t left = f->plain.len - f->pos;
    if (f->skipping || left > TR_PROC_MAX_LINE) {
        if (!f->skipping) drop_line(f);
        f->skipping = true;
        left = 0;
    }
    if (left && f->pos) memmove(f->plain.data, f->plain.data + f->pos, left);
    f->plain.len = left;
    f->pos = 0;
    if (f->plain.data) f->plain.data[left] = 0;
}

/* Decode some of the compressed input into plain. */
static int inflate_some(struct file_in *f) {
    int rc = tr_buf_reserve(&f->plain, CHUNK);
    if (rc) return rc;
    const char *in = f->raw + f->raw_pos;
    size_t left = f->raw_len - f->raw_pos, got;
    struct tr_diag d;
    tr_diag_clear(&d);
    rc = tr_xz_step(f->xz, &in, &left, f->eof, f->plain.data + f->plain.len, CHUNK, &got, &d);
    f->raw_pos = f->raw_len - left;
    f->plain.len += got;
    f->plain.data[f->plain.len] = 0;
    if (rc == TR_ECORRUPT) TR_WARN(MOD, "%s: '%s' %s", f->id, f->path, d.msg);
    return rc;
}

/* The one driver: emit what is there, decode or read more, or end. */
static void pump(struct file_in *f) {
    if (f->closing) {
        if (!f->reading && f->timer_closed) {
            void (*done)(void *) = f->done;
            void *arg = f->done_arg;
            if (f->fd >= 0) close(f->fd);
            tr_xz_destroy(f->xz);
            tr_free(f->raw);
            tr_buf_fini(&f->plain);
            tr_free(f->path);
            tr_free(f->id);
            tr_free(f);
            if (done) done(arg);
        }
        return;
    }
    if (f->pumping) return;
    f->pumping = true;
    drive(f);
    f->pumping = false;
}

static void drive(struct file_in *f) {
    while (f->started && !f->paused && !f->reading && !f->finished) {
        if (!emit_lines(f)) return;
        compact(f);
        if (f->xz && !tr_xz_ended(f->xz) && (f->raw_pos < f->raw_len || f->eof)) {
            int rc = inflate_some(f);
            if (!rc) continue;   /* ends with the stream's end or an error */
            if (rc == -ENOMEM) TR_ERROR(MOD, "%s: out of memory decompressing '%s'", f->id, f->path);
            /* what was decoded so far stands; the rest of the file is lost */
            f->eof = true;
            f->raw_pos = f->raw_len;
            tr_xz_destroy(f->xz);
            f->xz = NULL;
            continue;
        }
        if (!f->eof) {
            start_read(f);
            continue;
        }
        /* the end: a last line without a newline is still a line */
        if (f->plain.len && !f->skipping) {
            size_t n = f->plain.len;
            if (f->plain.data[n - 1] == '\r') n--;
            f->lines++;
            tr_onramp_emit_bytes(f->host, 0, f->plain.data, n, tr_v_null());
        }
        f->plain.len = 0;
        if (f->closing) return;
        finish(f);
    }
}

/* ------------------------------------------------------------------ ops */

static int fi_start(void *self) {
    struct file_in *f = self;
    f->started = true;
    pump(f);
    return 0;
}

static void fi_trigger(void *self) {
    struct file_in *f = self;
    f->paused = true;
}

static void fi_restore(void *self) {
    struct file_in *f = self;
    if (!f->paused) return;
    f->paused = false;
    pump(f);
}

static void fi_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void on_timer_closed(uv_handle_t *h) {
    struct file_in *f = h->data;
    f->timer_closed = true;
    pump(f);
}

static void fi_close(void *self, void (*done)(void *), void *arg) {
    struct file_in *f = self;
    if (f->closing) return;
    f->closing = true;
    f->done = done;
    f->done_arg = arg;
    uv_timer_stop(&f->timer);
    if (f->reading) uv_cancel((uv_req_t *)&f->req);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

const struct tr_onramp_ops tr_file_onramp = {
    .type = "file",
    .transactional = false,
    .create = fi_create,
    .start = fi_start,
    .trigger = fi_trigger,
    .restore = fi_restore,
    .ack = fi_noop_id,
    .fail = fi_noop_id,
    .close = fi_close,
};
