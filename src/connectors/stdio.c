/* stdio.c - `stdin` onramp and `stdout` / `stderr` offramps.
 *
 * stdin is read through libuv (tty, pipe or regular file) and every line is
 * one event (decoded by the codec, json by default). stdout/stderr write one
 * encoded event per line with a single write(2) so lines never interleave,
 * and ack a transactional event once its line is written. As 0.11, bytes
 * that are not UTF-8 are written as the list of their values ("[255, 6]",
 * Rust's debug form) unless `raw` is set. Writes block: these
 * offramps are for people and tests, not for throughput.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"

/* ------------------------------------------------------------- stdin */

struct in_src {
    struct tr_onramp_host *host;
    uv_handle_type kind;
    union {
        uv_pipe_t pipe;
        uv_tty_t tty;
    } h;
    uv_fs_t req;
    char fbuf[65536];
    int paused, reading, eof, closing;
    void (*done)(void *);
    void *done_arg;
};

/* stdin takes no settings: any key is an error that lists none. */
const struct tr_cmap_entry tr_stdin_cmap[] = {{0}};

static void in_closed_quiet(uv_handle_t *h) { tr_free(h->data); }

static int in_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    int rc = tr_conn_cfg_apply(spec, tr_stdin_cmap, NULL, d);
    if (rc) return rc;
    struct in_src *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->host = host;
    s->kind = uv_guess_handle(0);
    uv_loop_t *loop = tr_onramp_loop(host);
    if (s->kind == UV_TTY) {
        rc = uv_tty_init(loop, &s->h.tty, 0, 1);
    } else if (s->kind == UV_NAMED_PIPE) {
        rc = uv_pipe_init(loop, &s->h.pipe, 0);
        if (!rc && (rc = uv_pipe_open(&s->h.pipe, 0)) != 0) {
            /* the handle is in the loop now: it goes in its close callback */
            s->h.pipe.data = s;
            uv_close((uv_handle_t *)&s->h.pipe, in_closed_quiet);
            return tr_diag_set(d, rc, spec->file, spec->line, spec->col,
                               "stdin '%s': cannot use standard input: %s", spec->id,
                               uv_strerror(rc));
        }
    } else {
        s->kind = UV_FILE;
    }
    if (rc) {
        tr_free(s);
        return tr_diag_set(d, rc, spec->file, spec->line, spec->col,
                           "stdin '%s': cannot use standard input: %s", spec->id, uv_strerror(rc));
    }
    if (s->kind != UV_FILE) s->h.pipe.data = s;
    *self = s;
    return 0;
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    struct in_src *s = h->data;
    (void)hint;
    buf->base = s->fbuf;
    buf->len = sizeof s->fbuf;
}

static void in_eof(struct in_src *s) {
    s->eof = 1;
    tr_onramp_stream_end(s->host, 0);
    tr_onramp_done(s->host);
}

static void in_trigger(void *self);

static void in_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    struct in_src *s = st->data;
    if (n > 0) {
        if (tr_onramp_emit_bytes(s->host, 0, buf->base, (size_t)n, tr_v_null()) == TR_ONRAMP_PAUSED)
            in_trigger(s);
    } else if (n < 0) {
        uv_read_stop(st);
        s->reading = 0;
        if (n != UV_EOF) TR_WARN("stdin", "read failed: %s", uv_strerror((int)n));
        in_eof(s);
    }
}

static void file_read(uv_fs_t *req);

static void file_next(struct in_src *s) {
    if (s->paused || s->eof || s->closing || s->reading) return;
    s->reading = 1;
    uv_buf_t b = uv_buf_init(s->fbuf, sizeof s->fbuf);
    int rc = uv_fs_read(tr_onramp_loop(s->host), &s->req, 0, &b, 1, -1, file_read);
    if (rc) {
        s->reading = 0;
        TR_WARN("stdin", "read failed: %s", uv_strerror(rc));
        in_eof(s);
    }
}

static void file_read(uv_fs_t *req) {
    struct in_src *s = (struct in_src *)((char *)req - offsetof(struct in_src, req));
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    s->reading = 0;
    if (s->closing) {
        if (s->done) s->done(s->done_arg);
        tr_free(s);
        return;
    }
    if (n > 0) {
        tr_onramp_emit_bytes(s->host, 0, s->fbuf, (size_t)n, tr_v_null());
        file_next(s);
    } else {
        if (n < 0) TR_WARN("stdin", "read failed: %s", uv_strerror((int)n));
        in_eof(s);
    }
}

static void in_resume(struct in_src *s) {
    if (s->kind == UV_FILE) {
        file_next(s);
    } else if (!s->reading && !s->eof) {
        if (uv_read_start((uv_stream_t *)&s->h.pipe, in_alloc, in_read) == 0) s->reading = 1;
    }
}

static int in_start(void *self) {
    in_resume(self);
    return 0;
}

static void in_trigger(void *self) {
    struct in_src *s = self;
    s->paused = 1;
    if (s->kind != UV_FILE && s->reading) {
        uv_read_stop((uv_stream_t *)&s->h.pipe);
        s->reading = 0;
    }
}

static void in_restore(void *self) {
    struct in_src *s = self;
    s->paused = 0;
    in_resume(s);
}

static void in_noop(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void in_closed(uv_handle_t *h) {
    struct in_src *s = h->data;
    if (s->done) s->done(s->done_arg);
    tr_free(s);
}

static void in_close(void *self, void (*done)(void *), void *arg) {
    struct in_src *s = self;
    s->closing = 1;
    s->done = done;
    s->done_arg = arg;
    if (s->kind != UV_FILE) {
        uv_close((uv_handle_t *)&s->h.pipe, in_closed);
    } else if (!s->reading) {
        tr_free(s);
        if (done) done(arg);
    } /* else: file_read finishes the close when the pending read returns */
}

/* Tremor's stdin onramp reads lines whatever the config says. */
static char *stdin_pre[] = {"lines"};

const struct tr_onramp_ops tr_stdin_onramp = {
    .type = "stdin",
    .transactional = false,
    .default_codec = "string",   /* as 0.11's stdin onramp */
    .create = in_create,
    .start = in_start,
    .trigger = in_trigger,
    .restore = in_restore,
    .ack = in_noop,
    .fail = in_noop,
    .close = in_close,
    .default_pre = stdin_pre,
    .ndefault_pre = 1,
};

/* ---------------------------------------------------- stdout / stderr */

struct out_sink {
    struct tr_offramp_host *host;
    int fd;
    bool raw;
    struct tr_buf line;
};

struct out_cfg {
    const char *prefix;
    bool raw;
};

/* stdout and stderr share one map. */
const struct tr_cmap_entry tr_stdout_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "prefix", NULL, 0, offsetof(struct out_cfg, prefix),
     "text written before each event")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "raw", "false", 0, offsetof(struct out_cfg, raw),
     "write the bytes as they are; false: bytes that are not UTF-8 are written as "
     "the list of their values, e.g. [255, 6]")},
    {0},
};

static int out_create_fd(const struct tr_conn_spec *spec, struct tr_offramp_host *host,
                         void **self, struct tr_diag *d, int fd) {
    struct out_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_stdout_cmap, &c, d);
    if (rc) return rc;
    struct out_sink *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host = host;
    o->fd = fd;
    o->raw = c.raw;
    tr_buf_init(&o->line);
    const char *prefix = c.prefix;
    if (prefix && tr_buf_append(&o->line, prefix, strlen(prefix)) != 0) {
        tr_free(o);
        return -ENOMEM;
    }
    *self = o;
    return 0;
}

static int stdout_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host,
                         void **self, struct tr_diag *d) {
    return out_create_fd(spec, host, self, d, 1);
}

static int stderr_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host,
                         void **self, struct tr_diag *d) {
    return out_create_fd(spec, host, self, d, 2);
}

static int out_start(void *self) {
    (void)self;
    return 0;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void out_send(void *self, const struct tr_out_msg *m) {
    struct out_sink *o = self;
    size_t keep = o->line.len;  /* the prefix stays at the front */
    size_t ok, bad;
    int rc = 0;
    if (o->raw || tr_utf8_check(m->data, m->len, &ok, &bad) == 0) {
        rc = tr_buf_append(&o->line, m->data, m->len);
    } else {
        rc = tr_buf_putc(&o->line, '[');
        for (size_t i = 0; !rc && i < m->len; i++)
            rc = tr_buf_printf(&o->line, "%s%u", i ? ", " : "", (unsigned)(unsigned char)m->data[i]);
        if (!rc) rc = tr_buf_putc(&o->line, ']');
    }
    if (!rc) rc = tr_buf_putc(&o->line, '\n');
    if (!rc) rc = write_all(o->fd, o->line.data, o->line.len);
    o->line.len = keep;
    if (rc) TR_WARN("stdout", "write failed: %s", tr_strerror(rc));
    if (m->transactional) {
        if (rc) tr_offramp_fail(o->host, m->token);
        else tr_offramp_ack(o->host, m->token);
    }
}

static bool out_active(void *self) {
    (void)self;
    return true;
}

static void out_close(void *self, void (*done)(void *), void *arg) {
    struct out_sink *o = self;
    tr_buf_fini(&o->line);
    tr_free(o);
    if (done) done(arg);
}

const struct tr_offramp_ops tr_stdout_offramp = {
    .type = "stdout",
    .bytes_only = true,
    .create = stdout_create,
    .start = out_start,
    .send = out_send,
    .is_active = out_active,
    .close = out_close,
};

const struct tr_offramp_ops tr_stderr_offramp = {
    .type = "stderr",
    .bytes_only = true,
    .create = stderr_create,
    .start = out_start,
    .send = out_send,
    .is_active = out_active,
    .close = out_close,
};
