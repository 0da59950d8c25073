/* file_out.c - the `file` offramp: one encoded event per line (Tremor 0.11
 * key: file); the file is created, or truncated, when the offramp is created.
 * Writes go through the libuv thread pool (uv_fs_write), one at a time;
 * events arriving meanwhile join the next batch, so under load one write(2)
 * carries many lines and the loop never waits on the disk. A transactional
 * event is acked once the write(2) holding its line returned (no fsync: as
 * in Tremor, not durable). Invariant: every transactional send() is answered
 * exactly once, in order (failed when its write fails or while closing).
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define MOD "file"
#define HIGH_WATER ((size_t)16 << 20)   /* queued bytes: trigger the breaker */
#define LOW_WATER ((size_t)4 << 20)     /* ...and restore below this */
#define MAX_QUEUED ((size_t)64 << 20)   /* refuse events beyond this */

struct batch {
    struct tr_buf data;
    uint64_t *tokens;             /* transactional messages in data, in order */
    size_t ntokens, cap;
};

struct file_out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *path;
    int fd;
    struct batch next;            /* filling */
    struct batch out;             /* being written */
    size_t out_done;              /* bytes of out already written */
    uv_fs_t req;
    bool writing, triggered, closing;
    uint64_t dropped, write_errors;
    void (*done)(void *);
    void *done_arg;
};

struct fo_cfg {
    const char *file;
};

const struct tr_cmap_entry tr_file_out_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "file", NULL, TR_CMAP_REQUIRED, offsetof(struct fo_cfg, file),
     "the file to write")},
    {0},
};

static void write_some(struct file_out *o);

static void batch_fini(struct batch *b) {
    tr_buf_fini(&b->data);
    tr_free(b->tokens);
}

static int fo_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct fo_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_file_out_cmap, &c, d);
    if (rc) return rc;
    const char *path = c.file;
    /* Once, at create time: a blocking open gives a located error. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return tr_diag_set(d, -errno, spec->file, spec->line, spec->col,
                           "file '%s': config.file: cannot create '%s': %s", spec->id, path,
                           strerror(errno));
    struct file_out *o = tr_calloc(1, sizeof *o);
    if (o) {
        o->id = tr_strdup(spec->id ? spec->id : MOD);
        o->path = tr_strdup(path);
    }
    if (!o || !o->id || !o->path) {
        close(fd);
        if (o) {
            tr_free(o->id);
            tr_free(o->path);
        }
        tr_free(o);
        return -ENOMEM;
    }
    o->fd = fd;
    o->host = host;
    o->loop = tr_offramp_loop(host);
    tr_buf_init(&o->next.data);
    tr_buf_init(&o->out.data);
    *self = o;
    return 0;
}

static int fo_start(void *self) {
    (void)self;
    return 0;
}

static size_t queued(const struct file_out *o) {
    return o->next.data.len + (o->out.data.len - o->out_done);
}

static void maybe_finish_close(struct file_out *o) {
    if (!o->closing || o->writing || o->next.data.len) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    if (o->write_errors)
        TR_WARN(MOD, "%s: %llu writes to '%s' failed", o->id, (unsigned long long)o->write_errors,
                o->path);
    close(o->fd);
    batch_fini(&o->next);
    batch_fini(&o->out);
    tr_free(o->id);
    tr_free(o->path);
    tr_free(o);
    if (done) done(arg);
}

/* Answer every token of the written batch; the batch is reset. Tokens are
 * read by index: an answer may make the runtime send() more, which only
 * ever appends to o->next while o->writing is set. */
static void answer_out(struct file_out *o, bool ok) {
    for (size_t i = 0; i < o->out.ntokens; i++) {
        if (ok) tr_offramp_ack(o->host, o->out.tokens[i]);
        else tr_offramp_fail(o->host, o->out.tokens[i]);
    }
    o->out.ntokens = 0;
    tr_buf_reset(&o->out.data);
    o->out_done = 0;
}

static void on_write(uv_fs_t *req) {
    struct file_out *o = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n < 0) {
        if (o->write_errors++ == 0)
            TR_WARN(MOD, "%s: writing '%s' failed: %s", o->id, o->path, uv_strerror((int)n));
        answer_out(o, false);
    } else {
        o->out_done += (size_t)n;
        if (o->out_done < o->out.data.len) {   /* a short write: the rest */
            write_some(o);
            return;
        }
        answer_out(o, true);
    }
    o->writing = false;
    if (o->triggered && queued(o) < LOW_WATER && !o->closing) {
        o->triggered = false;
        tr_offramp_restore(o->host);
    }
    if (o->next.data.len) write_some(o);
    else maybe_finish_close(o);
}

/* Write what is left of out, or swap next in as out when out is done. */
static void write_some(struct file_out *o) {
    if (o->out_done == o->out.data.len) {
        struct batch t = o->out;
        o->out = o->next;
        o->next = t;
        o->out_done = 0;
    }
    uv_buf_t b = uv_buf_init(o->out.data.data + o->out_done, (unsigned)(o->out.data.len - o->out_done));
    o->req.data = o;
    o->writing = true;
    int rc = uv_fs_write(o->loop, &o->req, o->fd, &b, 1, -1, on_write);
    if (rc) {
        /* as if the write had failed: fail this batch and whatever the
         * answers made the runtime send meanwhile */
        if (o->write_errors++ == 0)
            TR_WARN(MOD, "%s: cannot write '%s': %s", o->id, o->path, uv_strerror(rc));
        while (o->out.data.len) {
            answer_out(o, false);
            struct batch t = o->out;
            o->out = o->next;
            o->next = t;
        }
        o->writing = false;
        maybe_finish_close(o);
    }
}

static void fo_send(void *self, const struct tr_out_msg *m) {
    struct file_out *o = self;
    if (o->closing || queued(o) + m->len + 1 > MAX_QUEUED || m->len > UINT32_MAX) {
        if (m->transactional) tr_offramp_fail(o->host, m->token);
        else if (o->dropped++ == 0)
            TR_WARN(MOD, "%s: '%s' is not keeping up: dropping events", o->id, o->path);
        return;
    }
    struct batch *b = &o->next;
    int rc = tr_buf_reserve(&b->data, m->len + 1);
    if (!rc && m->transactional) rc = tr_grow((void **)&b->tokens, &b->cap, b->ntokens + 1, sizeof *b->tokens);
    if (rc) {
        if (m->transactional) tr_offramp_fail(o->host, m->token);
        return;
    }
    tr_buf_append(&b->data, m->data, m->len);
    tr_buf_putc(&b->data, '\n');
    if (m->transactional) b->tokens[b->ntokens++] = m->token;
    if (!o->triggered && queued(o) > HIGH_WATER) {
        o->triggered = true;
        tr_offramp_trigger(o->host);
    }
    if (!o->writing) write_some(o);
}

static bool fo_active(void *self) {
    struct file_out *o = self;
    return !o->closing && !o->triggered;
}

static void fo_close(void *self, void (*done)(void *), void *arg) {
    struct file_out *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    /* what is queued is still written (and acked); then the file is closed */
    if (!o->writing && o->next.data.len) write_some(o);
    else maybe_finish_close(o);
}

const struct tr_offramp_ops tr_file_offramp = {
    .type = "file",
    .bytes_only = true,
    .create = fo_create,
    .start = fo_start,
    .send = fo_send,
    .is_active = fo_active,
    .close = fo_close,
};
