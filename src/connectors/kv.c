/* kv.c - the `kv` offramp: a key-value store on an embedded LMDB file,
 * answering each command as 0.11's src/sink/kv.rs does (0.11 used sled).
 *
 * Commands (one per event, decoded with the entry's codec, json by default):
 *   {"get": {"key": k}}                      -> {"ok": {"key": k, "value": v|null}}
 *   {"put": {"key": k, "value": v}}          -> {"ok": {"key": k, "value": previous|null}}
 *   {"delete": {"key": k}}                   -> {"ok": {"key": k, "value": removed|null}}
 *   {"scan": {"start": k1?, "end": k2?}}     -> {"ok": [{"key": k, "value": v}, ...]}
 *   {"cas": {"key": k, "old": v?, "new": v?}} -> {"ok": {"key": k, "value": null}}, or
 *                     {"key": k, "error": {"current": v|null, "proposed": v|null}}
 * out of the port `out` with meta {"kv": {"op": name}, "correlation"?}. A key is
 * a string or binary (its bytes), and comes back as a binary. Values are
 * stored as the codec encodes them (JSON text by default, as 0.11). An
 * absent `old` means "the key must not exist", an absent `new` deletes. A
 * scan is [start, end) in byte order, at most max_scan entries. A bad
 * command (or an LMDB error) is {"key": k|null, "error": msg} out of `err`
 * with meta {"kv": {"op": name|null}, "error": msg, "correlation"?}, and the
 * event is failed (0.11 fails the event too: its sink returns the error).
 * A batch is run command by command (0.11's value_meta_iter), each answered
 * with its own correlation; the event fails when any command did.
 *
 * LMDB runs synchronously on the loop thread. Group commit: the commands
 * of one loop turn (at most GROUP_MAX) run each in a child transaction of
 * one write transaction (a failed command aborts only its child); at the
 * next turn (a 0 ms timer) that transaction is committed, which with LMDB's
 * default flags syncs the file, and only then are the responses emitted
 * and the messages acked, in order. So an ack means "on disk", and one
 * sync serves every command of the turn. Each command's work is bounded
 * (one key; a scan at most max_scan entries / max_scan_bytes).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "config/cmap.h"
#include "connectors/batch.h"
#include "connectors/conn.h"
#include "connectors/kv_cmd.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "kv"

struct kv_cfg {
    const char *dir;
    uint64_t map_size, max_scan, max_scan_bytes;
};

const struct tr_cmap_entry tr_kv_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "dir", NULL, TR_CMAP_REQUIRED, offsetof(struct kv_cfg, dir),
     "directory of the LMDB store (created when missing)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "map_size", "1073741824", TR_CMAP_RANGE, offsetof(struct kv_cfg, map_size),
     "largest size of the store in bytes (beyond 0.11); a put past it is an error"),
     .lo = 1048576, .hi = 1099511627776.0},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_scan", "1000", TR_CMAP_RANGE, offsetof(struct kv_cfg, max_scan),
     "most entries one scan returns (beyond 0.11); $kv.truncated says when more were left"),
     .lo = 1, .hi = 1000000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_scan_bytes", "16777216", TR_CMAP_RANGE,
     offsetof(struct kv_cfg, max_scan_bytes), "most key and value bytes one scan returns (beyond 0.11)"),
     .lo = 1024, .hi = 1073741824.0},
    {0},
};

/* What waits for the group's commit: a response, or a message's answer. */
struct queued {
    uint64_t token;
    bool is_answer;
    bool err;                    /* response: on err; answer: fail */
    bool answer;                 /* answer: the message wants one */
    tr_value data, meta;         /* response */
};

#define GROUP_MAX 1024           /* commands in one commit at most */

struct kv {
    struct tr_offramp_host *host;
    char *id;
    MDB_env *env;
    MDB_dbi dbi;
    const struct tr_codec *codec;
    bool linked;
    uint64_t max_scan, max_scan_bytes;
    size_t max_key;
    uint64_t errors;
    struct tr_log_limit lim;
    /* group commit: every command of a loop turn runs in a child of one
     * write transaction, committed (and synced) once at the next turn */
    MDB_txn *group;
    uint64_t in_group;
    struct queued *q;
    size_t nq, capq;
    uv_timer_t flush_timer;
    bool armed;
    void (*done)(void *);
    void *done_arg;
};

/* What a command produced: a response (err false) or an error. */
struct result {
    tr_value data;
    bool err, truncated;
    char msg[512];
};

/* ------------------------------------------------------------ execution */

static int fail_with(struct result *r, const char *what, int rc) {
    snprintf(r->msg, sizeof r->msg, "%s: %s", what, mdb_strerror(rc));
    return -1;
}

/* The stored bytes back to a value (TR_NULL for none). */
static int decode(const struct kv *kv, const MDB_val *v, tr_value *out, struct result *r) {
    *out = tr_v_null();
    if (!v) return 0;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = kv->codec->decode(v->mv_data, v->mv_size, tr_now_ns(), out, &d);
    if (rc == TR_CODEC_NOTHING) rc = 0;
    if (rc) {
        snprintf(r->msg, sizeof r->msg, "stored value does not decode with codec %s: %.300s", kv->codec->name,
                 d.msg[0] ? d.msg : tr_strerror(rc));
        return -1;
    }
    return 0;
}

static int encode(const struct kv *kv, const tr_value *v, struct tr_buf *b, struct result *r) {
    int rc = kv->codec->encode(v, b);
    if (rc) {
        snprintf(r->msg, sizeof r->msg, "value does not encode with codec %s: %s", kv->codec->name,
                 tr_strerror(rc));
        return -1;
    }
    return 0;
}

static int key_ok(const struct kv *kv, const MDB_val *k, struct result *r) {
    if (k->mv_size == 0 || k->mv_size > kv->max_key) {
        snprintf(r->msg, sizeof r->msg, "key must be 1 to %zu bytes (LMDB), found %zu", kv->max_key, k->mv_size);
        return -1;
    }
    return 0;
}

static int bin(const MDB_val *k, tr_value *out) { return tr_v_bin(k->mv_data, k->mv_size, out); }

/* {"ok": {"key": k, "value": v}}; takes v. */
static int ok_kv(const MDB_val *k, tr_value v, tr_value *out) {
    tr_value inner, kb;
    int rc = tr_v_rec(2, &inner);
    if (!rc) rc = bin(k, &kb);
    if (!rc) rc = tr_rec_set(&inner, "key", 3, kb);
    if (!rc) rc = tr_rec_set(&inner, "value", 5, v);
    else tr_value_unref(v);
    if (!rc) rc = tr_v_rec(1, out);
    if (!rc) return tr_rec_set(out, "ok", 2, inner);
    tr_value_unref(inner);
    return rc;
}

/* A copy of the current value of key inside txn (NULL when absent). */
static int current(const struct kv *kv, MDB_txn *txn, MDB_val *k, struct tr_buf *copy, bool *found,
                   struct result *r) {
    MDB_val v;
    int rc = mdb_get(txn, kv->dbi, k, &v);
    *found = rc == 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return fail_with(r, "cannot read", rc);
    if (tr_buf_append(copy, v.mv_data, v.mv_size)) return fail_with(r, "cannot read", ENOMEM);
    return 0;
}

static void on_flush(uv_timer_t *t);

/* The group is committed at the next loop turn (timers run first there). */
static void arm(struct kv *kv) {
    if (kv->armed) return;
    uv_timer_start(&kv->flush_timer, on_flush, 0, 0);
    kv->armed = true;
}

/* A child of this turn's group transaction (begun when there is none). */
static int child_txn(struct kv *kv, MDB_txn **txn, struct result *r) {
    *txn = NULL;
    if (!kv->group) {
        int e = mdb_txn_begin(kv->env, NULL, 0, &kv->group);
        if (e) {
            kv->group = NULL;
            return fail_with(r, "cannot begin a transaction", e);
        }
    }
    arm(kv);
    kv->in_group++;
    int e = mdb_txn_begin(kv->env, kv->group, 0, txn);
    if (e) {
        *txn = NULL;
        return fail_with(r, "cannot begin a transaction", e);
    }
    return 0;
}

static int exec_scan(struct kv *kv, const struct tr_kv_cmd *c, struct result *r) {
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    tr_value arr = tr_v_null();
    int rc = child_txn(kv, &txn, r);
    if (rc) return -1;
    rc = mdb_cursor_open(txn, kv->dbi, &cur);
    if (rc) {
        fail_with(r, "cannot open a cursor", rc);
        goto out;
    }
    if (tr_v_arr(16, &arr)) {
        rc = fail_with(r, "cannot scan", ENOMEM);
        goto out;
    }
    MDB_val k, v;
    if (c->has_start && c->start.mv_size > 0) {
        k = c->start;
        if (k.mv_size > kv->max_key) k.mv_size = kv->max_key;  /* a longer start sorts after this prefix */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        /* a truncated start is smaller than the real one: skip what sorts before it */
        while (!rc && c->start.mv_size > kv->max_key) {
            size_t n = k.mv_size < c->start.mv_size ? k.mv_size : c->start.mv_size;
            int cmp = memcmp(k.mv_data, c->start.mv_data, n);
            if (cmp > 0 || (cmp == 0 && k.mv_size >= c->start.mv_size)) break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    uint64_t n = 0, bytes = 0;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (c->has_end) {
            size_t m = k.mv_size < c->end.mv_size ? k.mv_size : c->end.mv_size;
            int cmp = memcmp(k.mv_data, c->end.mv_data, m);
            if (cmp > 0 || (cmp == 0 && k.mv_size >= c->end.mv_size)) break;
        }
        if (n == kv->max_scan || bytes + k.mv_size + v.mv_size > kv->max_scan_bytes) {
            r->truncated = true;
            break;
        }
        n++;
        bytes += k.mv_size + v.mv_size;
        tr_value val, kb, e;
        if (decode(kv, &v, &val, r)) {
            rc = -1;
            goto out;
        }
        int e2 = tr_v_rec(2, &e);
        if (!e2) e2 = bin(&k, &kb);
        if (!e2) e2 = tr_rec_set(&e, "key", 3, kb);
        if (!e2) e2 = tr_rec_set(&e, "value", 5, val);
        else tr_value_unref(val);
        if (!e2) e2 = tr_arr_push(&arr, e);
        else tr_value_unref(e);
        if (e2) {
            rc = fail_with(r, "cannot scan", ENOMEM);
            goto out;
        }
    }
    if (rc != MDB_NOTFOUND && rc != 0) {
        rc = fail_with(r, "cannot scan", rc);
        goto out;
    }
    rc = tr_v_rec(1, &r->data);
    if (!rc) rc = tr_rec_set(&r->data, "ok", 2, arr);
    arr = tr_v_null();
    if (rc) rc = fail_with(r, "cannot scan", ENOMEM);
out:
    tr_value_unref(arr);
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);   /* read only */
    return rc ? -1 : 0;
}

/* get/put/delete/cas: one child transaction on one key. 0 with r->data,
 * or -1 with r->msg (the child aborted). A write is in the group when this
 * returns 0, on disk after the group's commit. */
static int exec_key(struct kv *kv, const struct tr_kv_cmd *c, struct result *r) {
    if (key_ok(kv, &c->key, r)) return -1;
    MDB_txn *txn = NULL;
    struct tr_buf cur, enc_old, enc_new;
    tr_buf_init(&cur);
    tr_buf_init(&enc_old);
    tr_buf_init(&enc_new);
    MDB_val key = c->key;
    bool found = false, write = c->op != TR_KV_GET;
    int rc = -1;
    /* encode before the transaction: keep it short */
    if (c->op == TR_KV_PUT && encode(kv, c->value, &enc_new, r)) goto out;
    if (c->op == TR_KV_CAS && ((c->old && encode(kv, c->old, &enc_old, r)) ||
                            (c->new_ && encode(kv, c->new_, &enc_new, r))))
        goto out;
    if (child_txn(kv, &txn, r)) goto out;
    int e;
    if (current(kv, txn, &key, &cur, &found, r)) goto out;
    MDB_val nv = {.mv_size = enc_new.len, .mv_data = enc_new.data ? enc_new.data : (char *)""};
    switch (c->op) {
    case TR_KV_GET:
        break;
    case TR_KV_PUT:
        e = mdb_put(txn, kv->dbi, &key, &nv, 0);
        if (e) {
            fail_with(r, "cannot put", e);
            goto out;
        }
        break;
    case TR_KV_DELETE:
        e = found ? mdb_del(txn, kv->dbi, &key, NULL) : 0;
        if (e) {
            fail_with(r, "cannot delete", e);
            goto out;
        }
        break;
    case TR_KV_CAS: {
        bool match = c->old ? found && cur.len == enc_old.len && memcmp(cur.data, enc_old.data, cur.len) == 0
                            : !found;
        if (!match) {
            /* {"key": k, "error": {"current": v, "proposed": v}} on out */
            MDB_val cv = {.mv_size = cur.len, .mv_data = cur.data};
            tr_value curv, prop, err = tr_v_null(), kb;
            if (decode(kv, found ? &cv : NULL, &curv, r)) goto out;
            if (decode(kv, c->new_ ? &nv : NULL, &prop, r)) {
                tr_value_unref(curv);
                goto out;
            }
            e = tr_v_rec(2, &err);
            if (!e) e = tr_rec_set(&err, "current", 7, curv);
            else tr_value_unref(curv);
            if (!e) e = tr_rec_set(&err, "proposed", 8, prop);
            else tr_value_unref(prop);
            if (!e) e = tr_v_rec(2, &r->data);
            if (!e) e = bin(&key, &kb);
            if (!e) e = tr_rec_set(&r->data, "key", 3, kb);
            if (!e) {
                e = tr_rec_set(&r->data, "error", 5, err);
                err = tr_v_null();
            }
            tr_value_unref(err);
            if (e) {
                tr_value_unref(r->data);
                r->data = tr_v_null();
                fail_with(r, "cannot answer", ENOMEM);
                goto out;
            }
            rc = 0;
            goto out;
        }
        e = c->new_ ? mdb_put(txn, kv->dbi, &key, &nv, 0) : found ? mdb_del(txn, kv->dbi, &key, NULL) : 0;
        if (e) {
            fail_with(r, "cannot swap", e);
            goto out;
        }
        break;
    }
    case TR_KV_SCAN:
        goto out;   /* not a key command */
    }
    if (write) {
        e = mdb_txn_commit(txn);   /* into the group; durable with it */
        txn = NULL;
        if (e) {
            fail_with(r, "cannot commit", e);
            goto out;
        }
    }
    /* answer: the value read (get), the previous one (put, delete), null (cas) */
    tr_value v = tr_v_null();
    MDB_val cv = {.mv_size = cur.len, .mv_data = cur.data};
    if (c->op != TR_KV_CAS && decode(kv, found ? &cv : NULL, &v, r)) goto out;
    if (ok_kv(&key, v, &r->data)) {
        fail_with(r, "cannot answer", ENOMEM);
        goto out;
    }
    rc = 0;
out:
    if (txn) mdb_txn_abort(txn);
    tr_buf_fini(&cur);
    tr_buf_fini(&enc_old);
    tr_buf_fini(&enc_new);
    return rc;
}

/* ------------------------------------------------------------ offramp */

static tr_value meta_for(const tr_value *op, const tr_value *corr, const char *err, bool truncated) {
    tr_value m, kvm, s;
    if (tr_v_rec(3, &m)) return tr_v_null();
    if (!tr_v_rec(2, &kvm)) {
        tr_rec_set(&kvm, "op", 2, tr_value_ref(*op));
        if (truncated) tr_rec_set(&kvm, "truncated", 9, tr_v_bool(1));
        tr_rec_set(&m, "kv", 2, kvm);
    }
    if (err && !tr_v_cstr(err, &s)) tr_rec_set(&m, "error", 5, s);
    if (corr) tr_rec_set(&m, "correlation", 11, tr_value_ref(*corr));
    return m;
}

/* Queue a response (takes data and meta) or an answer for the group's
 * commit; on -ENOMEM the response is dropped, an answer becomes a fail now. */
static void enqueue(struct kv *kv, struct queued e) {
    if (tr_grow((void **)&kv->q, &kv->capq, kv->nq + 1, sizeof *kv->q)) {
        if (e.is_answer && e.answer) tr_offramp_fail(kv->host, e.token);
        tr_value_unref(e.data);
        tr_value_unref(e.meta);
        return;
    }
    kv->q[kv->nq++] = e;
    arm(kv);
}

static void queue_resp(struct kv *kv, uint64_t token, bool err, tr_value data, tr_value meta) {
    enqueue(kv, (struct queued){.token = token, .err = err, .data = data, .meta = meta});
}

static tr_value meta_for(const tr_value *op, const tr_value *corr, const char *err, bool truncated);

/* Commit the group (one sync for every command in it), then send what
 * waited for it, in order. When the commit fails, nothing of the group is
 * on disk: every message in it gets an error event and fails. */
static void flush(struct kv *kv) {
    int e = 0;
    if (kv->group) {
        e = mdb_txn_commit(kv->group);
        kv->group = NULL;
    }
    kv->in_group = 0;
    char msg[256];
    if (e) {
        snprintf(msg, sizeof msg, "cannot commit: %s", mdb_strerror(e));
        kv->errors++;
        tr_log_limited(&kv->lim, TR_LOG_WARN, MOD, "%s: %s (%llu errors so far)", kv->id, msg,
                       (unsigned long long)kv->errors);
    }
    for (size_t i = 0; i < kv->nq; i++) {
        struct queued *q = &kv->q[i];
        if (!q->is_answer) {
            if (!e) tr_offramp_emit(kv->host, q->token, q->err, q->data, q->meta);
            else {
                tr_value_unref(q->data);
                tr_value_unref(q->meta);
            }
            continue;
        }
        if (e && kv->linked) {
            tr_value data, s, op = tr_v_null();
            if (!tr_v_rec(2, &data)) {
                tr_rec_set(&data, "key", 3, tr_v_null());
                if (!tr_v_cstr(msg, &s)) tr_rec_set(&data, "error", 5, s);
                tr_offramp_emit(kv->host, q->token, true, data, meta_for(&op, NULL, msg, false));
            }
        }
        if (!q->answer) continue;
        if (e || q->err) tr_offramp_fail(kv->host, q->token);
        else tr_offramp_ack(kv->host, q->token);
    }
    kv->nq = 0;
}

static void on_flush(uv_timer_t *t) {
    struct kv *kv = t->data;
    kv->armed = false;
    flush(kv);
}

/* One command; its response (or error event) queued with token. 0, or -1
 * when it was an error. */
static int run_one(struct kv *kv, uint64_t token, const tr_value *cmdv, const tr_value *corr,
                   const char *decode_err) {
    struct result r = {.data = tr_v_null()};
    struct tr_kv_cmd c;
    tr_value op = tr_v_null(), key = tr_v_null();
    if (decode_err) {
        snprintf(r.msg, sizeof r.msg, "%s", decode_err);
        goto err;
    }
    if (tr_kv_parse(cmdv, &c, r.msg, sizeof r.msg)) goto err;
    if (tr_v_cstr(tr_kv_op_name(c.op), &op) || (c.op != TR_KV_SCAN && bin(&c.key, &key))) {
        snprintf(r.msg, sizeof r.msg, "out of memory");
        goto err;
    }
    if (c.op == TR_KV_SCAN ? exec_scan(kv, &c, &r) : exec_key(kv, &c, &r)) goto err;
    tr_value_unref(key);
    if (kv->linked) queue_resp(kv, token, false, r.data, meta_for(&op, corr, NULL, r.truncated));
    else tr_value_unref(r.data);
    tr_value_unref(op);
    return 0;
err:
    kv->errors++;
    tr_log_limited(&kv->lim, TR_LOG_WARN, MOD, "%s: %s (%llu errors so far)", kv->id, r.msg,
                   (unsigned long long)kv->errors);
    tr_value_unref(r.data);
    if (kv->linked) {
        tr_value data, s;
        if (!tr_v_rec(2, &data)) {
            tr_rec_set(&data, "key", 3, tr_value_ref(key));
            if (!tr_v_cstr(r.msg, &s)) tr_rec_set(&data, "error", 5, s);
            queue_resp(kv, token, true, data, meta_for(&op, corr, r.msg, false));
        }
    }
    tr_value_unref(key);
    tr_value_unref(op);
    return -1;
}

static const tr_value *corr_of(const tr_value *meta) {
    return meta && meta->type == TR_REC ? tr_rec_get_cstr(meta, "correlation") : NULL;
}

/* Each command of a batch is run and answered (0.11: value_meta_iter, its
 * own $correlation); the event fails when any of them did. */
static void kv_send(void *self, const struct tr_out_msg *m) {
    struct kv *kv = self;
    bool answer = m->transactional || kv->linked;
    tr_value cmdv = tr_v_null();
    struct tr_diag d;
    char derr[512] = {0};
    tr_diag_clear(&d);
    /* a batch's elements are taken from its value: its bytes are the
     * elements' encodings one after another */
    int rc = m->is_batch && m->value && tr_batch_is(m->value)
                 ? ((cmdv = tr_value_ref(*m->value)), 0)
                 : kv->codec->decode(m->data ? m->data : "", m->len, m->ingest_ns, &cmdv, &d);
    if (rc < 0)
        snprintf(derr, sizeof derr, "cannot decode the command with codec %s: %.300s", kv->codec->name,
                 d.msg[0] ? d.msg : tr_strerror(rc));
    int failed = 0;
    if (!derr[0] && tr_batch_is(&cmdv)) {
        for (uint32_t i = 0; i < tr_arr_len(&cmdv); i++) {
            const tr_value *v, *meta;
            tr_batch_at(&cmdv, i, &v, &meta);
            failed |= run_one(kv, m->token, v, corr_of(meta), NULL);
        }
    } else {
        failed = run_one(kv, m->token, &cmdv, corr_of(m->meta), derr[0] ? derr : NULL);
    }
    tr_value_unref(cmdv);
    /* acked (or failed) after the group's commit, with its responses */
    enqueue(kv, (struct queued){.token = m->token, .is_answer = true, .err = failed != 0, .answer = answer,
                                .data = tr_v_null(), .meta = tr_v_null()});
    if (kv->in_group >= GROUP_MAX) flush(kv);
}

/* mkdir -p: 0.11's sled::open creates the directory. */
static int mkdirs(const char *dir) {
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return -ENAMETOOLONG;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char ch = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) && errno != EEXIST) return -errno;
        p[i] = ch;
    }
    struct stat st;
    if (stat(dir, &st)) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void kv_free(struct kv *kv) {
    if (!kv) return;
    if (kv->group) mdb_txn_abort(kv->group);
    for (size_t i = 0; i < kv->nq; i++) {
        tr_value_unref(kv->q[i].data);
        tr_value_unref(kv->q[i].meta);
    }
    tr_free(kv->q);
    if (kv->env) mdb_env_close(kv->env);
    tr_log_limit_flush(&kv->lim);
    tr_free(kv->id);
    tr_free(kv);
}

static int kv_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct kv_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_kv_cmap, &c, d);
    if (rc) return rc;
    const struct tr_codec *codec = tr_codec_find(spec->codec ? spec->codec : "json");
    if (!codec) codec = tr_codec_find("json");
    rc = mkdirs(c.dir);
    if (rc) return tr_conn_cfg_fail(spec, "dir", d, "cannot be created: %s", tr_strerror(rc));
    struct kv *kv = tr_calloc(1, sizeof *kv);
    if (!kv) return -ENOMEM;
    kv->host = host;
    kv->id = tr_strdup(spec->id ? spec->id : "kv");
    kv->codec = codec;
    kv->linked = spec->linked;
    kv->max_scan = c.max_scan;
    kv->max_scan_bytes = c.max_scan_bytes;
    if (!kv->id) {
        kv_free(kv);
        return -ENOMEM;
    }
    const char *what = "cannot create an LMDB environment";
    int e = mdb_env_create(&kv->env);
    if (e) {
        kv->env = NULL;
        goto fail;
    }
    what = "cannot set the map size";
    e = mdb_env_set_mapsize(kv->env, (size_t)c.map_size);
    if (e) goto fail;
    /* default flags: every commit is synced before it returns */
    what = "cannot open the LMDB store";
    e = mdb_env_open(kv->env, c.dir, 0, 0644);
    if (e) goto fail;
    MDB_txn *txn;
    e = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (!e) {
        e = mdb_dbi_open(txn, NULL, 0, &kv->dbi);
        if (e) mdb_txn_abort(txn);
        else e = mdb_txn_commit(txn);
    }
    if (e) goto fail;
    kv->max_key = (size_t)mdb_env_get_maxkeysize(kv->env);
    uv_timer_init(tr_offramp_loop(host), &kv->flush_timer);
    kv->flush_timer.data = kv;
    *self = kv;
    return 0;
fail:
    kv_free(kv);
    return tr_conn_cfg_fail(spec, "dir", d, "'%.256s': %s: %s", c.dir, what, mdb_strerror(e));
}

static int kv_start(void *self) {
    struct kv *kv = self;
    TR_INFO(MOD, "%s: store open%s", kv->id, kv->linked ? " (linked)" : "");
    return 0;
}

static bool kv_is_active(void *self) {
    (void)self;
    return true;
}

static void on_closed(uv_handle_t *h) {
    struct kv *kv = h->data;
    void (*done)(void *) = kv->done;
    void *arg = kv->done_arg;
    kv_free(kv);
    if (done) done(arg);
}

static void kv_close(void *self, void (*done)(void *), void *arg) {
    struct kv *kv = self;
    flush(kv);   /* what was sent is committed and answered */
    kv->done = done;
    kv->done_arg = arg;
    uv_close((uv_handle_t *)&kv->flush_timer, on_closed);
}

const struct tr_offramp_ops tr_kv_offramp = {
    .type = "kv",
    .linked = true,
    .always_linked = true,   /* 0.11's sink replies whether linked or not */
    .create = kv_create,
    .start = kv_start,
    .send = kv_send,
    .is_active = kv_is_active,
    .close = kv_close,
};
