/* nats_link.c - libnats options from 0.11's keys, the loop mailbox and
 * header conversion shared by the `nats` onramp and offramp (nats_link.h).
 * Invariant: nothing here keeps state between calls except the mailbox,
 * whose every field is read and written under its mutex.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "connectors/conn.h"
#include "connectors/nats_link.h"
#include "core/alloc.h"

#define MAX_HOSTS 64
#define MAX_URL 512

const char *tr_nats_err(natsStatus s, char *buf, size_t n) {
    natsStatus last = NATS_OK;
    const char *txt = nats_GetLastError(&last);
    if (txt && txt[0]) snprintf(buf, n, "%s (%s)", txt, natsStatus_GetText(s));
    else snprintf(buf, n, "%s", natsStatus_GetText(s));
    return buf;
}

static const char *opt_str(const tr_value *o, const char *k) {
    const tr_value *v = o ? tr_rec_get_cstr(o, k) : NULL;
    return v && v->type == TR_STR ? v->as.s->data : NULL;
}

/* Every key of `options` with its type, so a typo is an error as in 0.11
 * (serde denies nothing there, but a silent typo costs more than a clear
 * refusal). */
static const struct {
    const char *key;
    int type;
} known_opts[] = {
    {"token", TR_STR}, {"username", TR_STR}, {"password", TR_STR}, {"credentials_path", TR_STR},
    {"cert_path", TR_STR}, {"key_path", TR_STR}, {"name", TR_STR}, {"echo", TR_BOOL},
    {"max_reconnects", TR_I64}, {"reconnect_buffer_size", TR_I64}, {"tls", TR_BOOL},
    {"root_cert", TR_STR},
};

static int check_options(const struct tr_conn_spec *spec, const tr_value *o, struct tr_diag *d) {
    if (!o || o->type == TR_NULL) return 0;
    if (o->type != TR_REC) return tr_conn_cfg_fail(spec, "options", d, "must be a record");
    for (uint32_t i = 0; i < o->as.r->len; i++) {
        const char *k = o->as.r->fields[i].key->data;
        size_t j = 0;
        for (; j < sizeof known_opts / sizeof *known_opts; j++)
            if (!strcmp(k, known_opts[j].key)) break;
        if (j == sizeof known_opts / sizeof *known_opts)
            return tr_conn_cfg_fail(spec, "options", d,
                                    ".%s is not an option (token, username, password, credentials_path, "
                                    "cert_path, key_path, name, echo, max_reconnects, "
                                    "reconnect_buffer_size, tls, root_cert)", k);
        const tr_value *v = &o->as.r->fields[i].val;
        if ((int)v->type != known_opts[j].type)
            return tr_conn_cfg_fail(spec, "options", d, ".%s must be a %s", k,
                                    known_opts[j].type == TR_STR    ? "string"
                                    : known_opts[j].type == TR_BOOL ? "boolean"
                                                                    : "non-negative integer");
        if (v->type == TR_I64 && (v->as.i < 0 || v->as.i > INT32_MAX))
            return tr_conn_cfg_fail(spec, "options", d, ".%s must be 0..%d", k, INT32_MAX);
    }
    return 0;
}

int tr_nats_options(const struct tr_conn_spec *spec, const tr_value *hosts, const tr_value *o,
                    natsConnectionHandler up, natsConnectionHandler down,
                    natsConnectionHandler closed, void *closure, natsOptions **out,
                    struct tr_diag *d) {
    *out = NULL;
    int rc = check_options(spec, o, d);
    if (rc) return rc;
    uint32_t n = tr_arr_len(hosts);
    if (n == 0 || n > MAX_HOSTS)
        return tr_conn_cfg_fail(spec, "hosts", d, "must list 1..%d servers", MAX_HOSTS);
    char *urls[MAX_HOSTS];
    const char *curls[MAX_HOSTS];
    uint32_t made = 0;
    natsOptions *no = NULL;
    natsStatus s = NATS_OK;
    for (; made < n; made++) {
        const char *h = tr_arr_at(hosts, made)->as.s->data;
        size_t len = strlen(h);
        if (len == 0 || len > MAX_URL - 16 || strpbrk(h, " ,\t\r\n")) {
            rc = tr_conn_cfg_fail(spec, "hosts", d, "entry %u must be host:port or a nats:// URL", made);
            goto out;
        }
        urls[made] = tr_malloc(len + 8);
        if (!urls[made]) {
            rc = -ENOMEM;
            goto out;
        }
        snprintf(urls[made], len + 8, "%s%s", strstr(h, "://") ? "" : "nats://", h);
        curls[made] = urls[made];
    }
    if (natsOptions_Create(&no) != NATS_OK) {
        rc = -ENOMEM;
        goto out;
    }
    s = natsOptions_SetServers(no, curls, (int)n);
    const char *tok = opt_str(o, "token"), *user = opt_str(o, "username"),
               *pass = opt_str(o, "password"), *creds = opt_str(o, "credentials_path"),
               *cert = opt_str(o, "cert_path"), *key = opt_str(o, "key_path"),
               *name = opt_str(o, "name"), *root = opt_str(o, "root_cert");
    const char *what = "hosts";
    if (s == NATS_OK && tok) s = natsOptions_SetToken(no, tok), what = "options";
    if (s == NATS_OK && user && pass) s = natsOptions_SetUserInfo(no, user, pass), what = "options";
    if (s == NATS_OK && creds) s = natsOptions_SetUserCredentialsFromFiles(no, creds, NULL), what = "options";
    const tr_value *tls = o && o->type == TR_REC ? tr_rec_get_cstr(o, "tls") : NULL;
    if (s == NATS_OK && ((tls && tls->as.b) || root || (cert && key)))
        s = natsOptions_SetSecure(no, tls ? tls->as.b : true), what = "options.tls";
    if (s == NATS_OK && root) s = natsOptions_LoadCATrustedCertificates(no, root), what = "options.root_cert";
    if (s == NATS_OK && cert && key)
        s = natsOptions_LoadCertificatesChain(no, cert, key), what = "options.cert_path";
    if (s == NATS_OK && name) s = natsOptions_SetName(no, name), what = "options.name";
    /* 0.11 turns echo off when `echo: true` (its ConnectOptions::generate) */
    const tr_value *echo = o && o->type == TR_REC ? tr_rec_get_cstr(o, "echo") : NULL;
    if (s == NATS_OK && echo && echo->as.b) s = natsOptions_SetNoEcho(no, true);
    const tr_value *mr = o && o->type == TR_REC ? tr_rec_get_cstr(o, "max_reconnects") : NULL;
    /* 0.11's client reconnects for ever unless told; so do we */
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(no, mr ? (int)mr->as.i : -1);
    const tr_value *rb = o && o->type == TR_REC ? tr_rec_get_cstr(o, "reconnect_buffer_size") : NULL;
    if (s == NATS_OK && rb) s = natsOptions_SetReconnectBufSize(no, (int)rb->as.i);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, 250);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(no, true, up, closure);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(no, up, closure);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(no, down, closure);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(no, closed, closure);
    if (s != NATS_OK) {
        char buf[256];
        rc = tr_conn_cfg_fail(spec, strchr(what, '.') ? "options" : what, d, "is refused by libnats: %s",
                              tr_nats_err(s, buf, sizeof buf));
        goto out;
    }
    *out = no;
    no = NULL;
out:
    for (uint32_t i = 0; i < made; i++) tr_free(urls[i]);
    if (no) natsOptions_Destroy(no);
    return rc;
}

/* ------------------------------------------------------------ mailbox */

int tr_nats_mbox_init(struct tr_nats_mbox *m, uv_loop_t *loop, uv_async_cb cb, void *data) {
    memset(m, 0, sizeof *m);
    int rc = uv_mutex_init(&m->mu);
    if (rc) return rc;
    rc = uv_cond_init(&m->cv);
    if (rc) {
        uv_mutex_destroy(&m->mu);
        return rc;
    }
    rc = uv_async_init(loop, &m->async, cb);
    if (rc) {
        uv_cond_destroy(&m->cv);
        uv_mutex_destroy(&m->mu);
        return rc;
    }
    m->async.data = data;
    return 0;
}

void tr_nats_mbox_push(struct tr_nats_mbox *m, struct tr_nats_item *it, bool locked) {
    it->next = NULL;
    if (!locked) uv_mutex_lock(&m->mu);
    if (m->tail) m->tail->next = it;
    else m->head = it;
    m->tail = it;
    m->n++;
    if (!locked) uv_mutex_unlock(&m->mu);
    uv_async_send(&m->async);
}

int tr_nats_mbox_post(struct tr_nats_mbox *m, int kind, uint64_t token, int status) {
    struct tr_nats_item *it = tr_calloc(1, sizeof *it);
    if (!it) return -ENOMEM;
    it->kind = kind;
    it->token = token;
    it->status = status;
    tr_nats_mbox_push(m, it, false);
    return 0;
}

struct tr_nats_item *tr_nats_mbox_take(struct tr_nats_mbox *m) {
    uv_mutex_lock(&m->mu);
    struct tr_nats_item *it = m->head;
    m->head = m->tail = NULL;
    m->n = 0;
    uv_mutex_unlock(&m->mu);
    return it;
}

void tr_nats_mbox_closed(struct tr_nats_mbox *m) {
    uv_mutex_lock(&m->mu);
    m->closed = true;
    uv_cond_broadcast(&m->cv);
    uv_mutex_unlock(&m->mu);
}

bool tr_nats_mbox_wait_closed(struct tr_nats_mbox *m, uint64_t ms) {
    uint64_t until = uv_hrtime() + ms * 1000000u;
    uv_mutex_lock(&m->mu);
    while (!m->closed) {
        uint64_t now = uv_hrtime();
        if (now >= until || uv_cond_timedwait(&m->cv, &m->mu, until - now) == UV_ETIMEDOUT) break;
    }
    bool closed = m->closed;
    uv_mutex_unlock(&m->mu);
    return closed;
}

void tr_nats_mbox_close(struct tr_nats_mbox *m, uv_close_cb close_cb) {
    uv_close((uv_handle_t *)&m->async, close_cb);
}

void tr_nats_items_free(struct tr_nats_item *it) {
    while (it) {
        struct tr_nats_item *next = it->next;
        if (it->msg) natsMsg_Destroy(it->msg);
        tr_free(it);
        it = next;
    }
}

void tr_nats_mbox_fini(struct tr_nats_mbox *m) {
    tr_nats_items_free(m->head);
    m->head = m->tail = NULL;
    uv_cond_destroy(&m->cv);
    uv_mutex_destroy(&m->mu);
}

/* ------------------------------------------------------------ headers */

int tr_nats_add_headers(natsMsg *msg, const tr_value *h) {
    if (!h || h->type != TR_REC) return 0;
    for (uint32_t i = 0; i < h->as.r->len; i++) {
        const char *k = h->as.r->fields[i].key->data;
        const tr_value *vals = &h->as.r->fields[i].val;
        if (vals->type == TR_STR) {
            natsStatus s = natsMsgHeader_Add(msg, k, vals->as.s->data);
            if (s != NATS_OK) return (int)s;
            continue;
        }
        if (vals->type != TR_ARR) continue;
        for (uint32_t j = 0; j < tr_arr_len(vals); j++) {
            const tr_value *v = tr_arr_at(vals, j);
            if (v->type != TR_STR) continue;
            natsStatus s = natsMsgHeader_Add(msg, k, v->as.s->data);
            if (s != NATS_OK) return (int)s;
        }
    }
    return 0;
}

int tr_nats_headers_value(natsMsg *msg, tr_value *out) {
    *out = tr_v_null();
    const char **keys = NULL;
    int nk = 0;
    if (natsMsgHeader_Keys(msg, &keys, &nk) != NATS_OK || nk <= 0) {
        free((void *)keys);   /* libnats allocates with malloc */
        return 0;
    }
    tr_value rec;
    int rc = tr_v_rec((size_t)nk, &rec);
    for (int i = 0; !rc && i < nk; i++) {
        const char **vals = NULL;
        int nv = 0;
        if (natsMsgHeader_Values(msg, keys[i], &vals, &nv) != NATS_OK) continue;
        tr_value arr;
        rc = tr_v_arr((size_t)nv, &arr);
        for (int j = 0; !rc && j < nv; j++) {
            tr_value s;
            rc = tr_v_cstr(vals[j], &s);
            if (!rc) rc = tr_arr_push(&arr, s);
        }
        free((void *)vals);
        if (!rc) rc = tr_rec_set(&rec, keys[i], strlen(keys[i]), arr);
        else tr_value_unref(arr);
    }
    free((void *)keys);
    if (rc) {
        tr_value_unref(rec);
        return -ENOMEM;
    }
    *out = rec;
    return 0;
}
