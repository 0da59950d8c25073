/* dns.c - the `dns` offramp: each event is a DNS lookup, as 0.11's
 * src/sink/dns.rs: {"lookup": "name"} (addresses: A, then AAAA when there
 * is no A) or {"lookup": {"name": "name", "type": "MX"}}. The answer is an
 * event out of `out`: an array of {"<TYPE>": "<data>", "ttl": n}, meta
 * {"correlation"} when the request had one. A bad request or a failed
 * lookup (NXDOMAIN, no records, timeout, refused) is {"event": <request>,
 * "error": msg} out of `err`, and the event is failed (0.11 acks it). A
 * batch is looked up request by request, the event acked once all succeeded.
 *
 * Resolution runs on our loop with c-ares: c-ares says which sockets to
 * watch (ARES_OPT_SOCK_STATE_CB -> uv_poll, then ares_process_fd) and when
 * it next needs the clock (ares_timeout -> uv_timer); nothing blocks. The
 * resolver is the system's (/etc/resolv.conf, search domains included)
 * unless `servers` names others (beyond 0.11). Answers are parsed by
 * dns_answer.c. Bounds: `concurrency` lookups in flight (at the limit the
 * circuit breaker is triggered upstream and restored below it; a request
 * that still comes is failed at once) and `timeout_ms` per lookup (from
 * tick(): the event is answered then, the c-ares query keeps its slot
 * until c-ares gives up on it, which its own timeouts bound).
 *
 * Invariant: every message is answered exactly once (by its group, when its
 * last lookup ends); a lookup is on o->lookups
 * from ares_search to its c-ares callback, which comes exactly once (at the
 * latest from ares_destroy in close).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ares.h>

#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/batch.h"
#include "connectors/conn.h"
#include "connectors/dns_answer.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "dns"
#define NAME_MAX_LEN 253   /* RFC 1035: a name of at most 255 octets on the wire */

struct dns_cfg {
    const tr_value *servers;
    uint64_t concurrency, timeout_ms;
};

const struct tr_cmap_entry tr_dns_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "servers", NULL, TR_CMAP_RANGE, offsetof(struct dns_cfg, servers),
     "resolvers as \"ip\", \"ip:port\" or \"[ipv6]:port\" (beyond 0.11; default: the system's)"),
     .lo = 1, .hi = 16},
    {TR_CMAP_KEY(TR_CMAP_U64, "concurrency", "64", TR_CMAP_RANGE, offsetof(struct dns_cfg, concurrency),
     "lookups in flight; at the limit the circuit breaker is triggered (beyond 0.11)"),
     .lo = 1, .hi = 65536},
    {TR_CMAP_KEY(TR_CMAP_U64, "timeout_ms", "5000", TR_CMAP_RANGE, offsetof(struct dns_cfg, timeout_ms),
     "ms a lookup may take before it is an error (beyond 0.11)"), .lo = 10, .hi = 600000},
    {0},
};

struct dns;

struct sock {
    uv_poll_t poll;
    ares_socket_t fd;
    struct dns *o;
    struct sock *next;
};

/* The answer of one message: every lookup of it (a batch has several)
 * must end before the message is acked, or failed when any of them failed. */
struct group {
    uint64_t token;
    bool answer;            /* the message wants an ack or fail */
    bool failed;
    uint32_t pending;
};

struct lookup {
    struct dns *o;
    struct group *g;        /* NULL once answered (timed out): only the slot is held */
    tr_value request;       /* the request, for err */
    tr_value corr;          /* $correlation or TR_NULL */
    char *name;
    int qtype;              /* -1: addresses (A, then AAAA) */
    int asked;              /* the type of the query now in c-ares */
    uint64_t deadline_ns;
    struct lookup *prev, *next;
};

struct dns {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    ares_channel channel;
    const struct tr_codec *codec;
    bool linked, tripped, closing;
    uint64_t concurrency, in_flight, timeout_ns;
    uv_timer_t timer;
    struct sock *socks;
    struct lookup *lookups;
    int handles;
    uint64_t errors;
    struct tr_log_limit lim;
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------------ c-ares <-> uv */

static void update_timer(struct dns *o);

static void handle_gone(struct dns *o) {
    if (--o->handles == 0 && o->closing) {
        void (*done)(void *) = o->done;
        void *arg = o->done_arg;
        tr_log_limit_flush(&o->lim);
        tr_free(o->id);
        tr_free(o);
        if (done) done(arg);
    }
}

static void on_sock_closed(uv_handle_t *h) {
    struct sock *s = h->data;
    struct dns *o = s->o;
    tr_free(s);
    handle_gone(o);
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }

static void sock_drop(struct dns *o, struct sock *s) {
    for (struct sock **pp = &o->socks; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events) {
    struct sock *s = p->data;
    struct dns *o = s->o;
    ares_socket_t fd = s->fd;
    bool r = status < 0 || (events & UV_READABLE), w = status < 0 || (events & UV_WRITABLE);
    ares_process_fd(o->channel, r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
    update_timer(o);
}

/* c-ares: watch fd for reading/writing, or stop watching it (0, 0). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
    struct dns *o = data;
    struct sock *s = o->socks;
    while (s && s->fd != fd) s = s->next;
    if (!readable && !writable) {
        if (s) sock_drop(o, s);
        return;
    }
    if (!s) {
        s = tr_calloc(1, sizeof *s);
        if (!s) return;   /* c-ares times the query out: an error answer, not a hang */
        if (uv_poll_init_socket(o->loop, &s->poll, fd)) {
            tr_free(s);
            return;
        }
        s->fd = fd;
        s->o = o;
        s->poll.data = s;
        s->next = o->socks;
        o->socks = s;
        o->handles++;
    }
    uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void on_timer(uv_timer_t *t) {
    struct dns *o = t->data;
    ares_process_fd(o->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    update_timer(o);
}

static void update_timer(struct dns *o) {
    if (o->closing || !o->channel) return;
    struct timeval tv, *tvp = ares_timeout(o->channel, NULL, &tv);
    if (!tvp) {
        uv_timer_stop(&o->timer);
        return;
    }
    uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
    uv_timer_start(&o->timer, on_timer, ms ? ms : 1, 0);
}

/* ------------------------------------------------------------ answers */

static tr_value corr_meta(tr_value corr) {
    tr_value m;
    if (tr_v_rec(1, &m)) return tr_v_null();
    if (corr.type != TR_NULL) tr_rec_set(&m, "correlation", 11, tr_value_ref(corr));
    return m;
}

/* {"event": request, "error": msg} out of err. */
static void emit_error(struct dns *o, uint64_t token, tr_value request, tr_value corr, const char *msg) {
    o->errors++;
    tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: %s (%llu errors so far)", o->id, msg,
                   (unsigned long long)o->errors);
    if (o->linked && !o->closing) {   /* closing: only the fail, as the rest offramp */
        tr_value data, s;
        if (!tr_v_rec(2, &data)) {
            tr_rec_set(&data, "event", 5, tr_value_ref(request));
            if (!tr_v_cstr(msg, &s)) tr_rec_set(&data, "error", 5, s);
            tr_offramp_emit(o->host, token, true, data, corr_meta(corr));
        }
    }
}

/* One lookup of g ended; the last one answers the message. */
static void group_done(struct dns *o, struct group *g, bool ok) {
    if (!ok) g->failed = true;
    if (--g->pending) return;
    if (g->answer) {
        if (g->failed) tr_offramp_fail(o->host, g->token);
        else tr_offramp_ack(o->host, g->token);
    }
    tr_free(g);
}

static void lookup_free(struct lookup *l) {
    struct dns *o = l->o;
    if (l->prev) l->prev->next = l->next;
    else o->lookups = l->next;
    if (l->next) l->next->prev = l->prev;
    tr_value_unref(l->request);
    tr_value_unref(l->corr);
    tr_free(l->name);
    tr_free(l);
    o->in_flight--;
    if (o->tripped && !o->closing && o->in_flight < o->concurrency) {
        o->tripped = false;
        tr_offramp_restore(o->host);
    }
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void ask(struct lookup *l, int type) {
    l->asked = type;
    ares_search(l->o->channel, l->name, 1 /* IN */, type, on_answer, l);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    (void)timeouts;
    struct lookup *l = arg;
    struct dns *o = l->o;
    if (!l->g) {
        lookup_free(l);
        return;
    }
    char tb[16], msg[512];
    const char *tn = tr_dns_type_name(l->asked, tb, sizeof tb);
    tr_value recs = tr_v_null();
    int rcode = 0;
    if (status == ARES_SUCCESS && abuf) {
        int rc = tr_v_arr(4, &recs);
        if (!rc) rc = tr_dns_answer_parse(abuf, (size_t)alen, l->asked, &recs, &rcode);
        if (rc) {
            snprintf(msg, sizeof msg, "%s (%s): %s", l->name, tn,
                     rc == -ENOMEM ? "out of memory" : "malformed answer from the resolver");
            goto fail;
        }
    }
    bool none = recs.type != TR_ARR || tr_arr_len(&recs) == 0;
    if (none && l->qtype < 0 && l->asked == 1 && !o->closing &&
        (status == ARES_SUCCESS || status == ARES_ENODATA)) {
        /* 0.11's lookup_ip (Ipv4thenIpv6): AAAA when there is no A */
        tr_value_unref(recs);
        ask(l, 28);
        update_timer(o);
        return;
    }
    if (status != ARES_SUCCESS) {
        snprintf(msg, sizeof msg, "%s (%s): %s", l->name, tn,
                 status == ARES_EDESTRUCTION || status == ARES_ECANCELLED ? "offramp closed"
                                                                           : ares_strerror(status));
        goto fail;
    }
    if (none) {
        snprintf(msg, sizeof msg, "no record found for %s (%s)", l->name, tn);
        goto fail;
    }
    if (o->linked) tr_offramp_emit(o->host, l->g->token, false, recs, corr_meta(l->corr));
    else tr_value_unref(recs);
    group_done(o, l->g, true);
    lookup_free(l);
    return;
fail:
    tr_value_unref(recs);
    emit_error(o, l->g->token, l->request, l->corr, msg);
    group_done(o, l->g, false);
    lookup_free(l);
}

/* ------------------------------------------------------------ offramp */

/* 0.11's request shapes and messages; 0, or -1 with msg. */
static int parse(const tr_value *v, const char **name, int *type, char *msg, size_t n) {
    const tr_value *lk = v->type == TR_REC ? tr_rec_get_cstr(v, "lookup") : NULL;
    if (!lk) {
        snprintf(msg, n, "Invalid DNS request");
        return -1;
    }
    const tr_value *nv = lk->type == TR_STR ? lk : lk->type == TR_REC ? tr_rec_get_cstr(lk, "name") : NULL;
    if (!nv || nv->type != TR_STR) {
        snprintf(msg, n, "Invaliud DNS request");   /* sic, 0.11's text */
        return -1;
    }
    *name = nv->as.s->data;
    if (nv->as.s->len == 0 || nv->as.s->len > NAME_MAX_LEN || memchr(*name, 0, nv->as.s->len)) {
        snprintf(msg, n, "Invalid DNS name: it must be 1 to %d bytes without NUL", NAME_MAX_LEN);
        return -1;
    }
    *type = -1;
    const tr_value *tv = lk->type == TR_REC ? tr_rec_get_cstr(lk, "type") : NULL;
    if (tv && tv->type == TR_STR) {
        *type = tr_dns_type_from_name(tv->as.s->data);
        if (*type < 0) {
            snprintf(msg, n, "Invalid or unsupported record type: %.64s", tv->as.s->data);
            return -1;
        }
    }
    return 0;
}

/* One request of g: asked, or answered with an error at once. */
static void start_one(struct dns *o, struct group *g, const tr_value *req, const tr_value *corrp,
                      const char *decode_err) {
    char msg[512];
    tr_value corr = corrp ? tr_value_ref(*corrp) : tr_v_null();
    const char *name = NULL;
    int type = -1;
    if (o->closing) {
        snprintf(msg, sizeof msg, "offramp closed");
        goto fail;
    }
    if (decode_err) {
        snprintf(msg, sizeof msg, "%s", decode_err);
        goto fail;
    }
    if (parse(req, &name, &type, msg, sizeof msg)) goto fail;
    if (o->in_flight >= o->concurrency) {
        snprintf(msg, sizeof msg, "%llu lookups in flight (concurrency): dropped",
                 (unsigned long long)o->in_flight);
        goto fail;
    }
    struct lookup *l = tr_calloc(1, sizeof *l);
    if (!l || !(l->name = tr_strdup(name))) {
        tr_free(l);
        snprintf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    l->o = o;
    l->g = g;
    l->request = tr_value_ref(*req);
    l->corr = corr;
    l->qtype = type;
    l->deadline_ns = tr_now_ns() + o->timeout_ns;
    l->next = o->lookups;
    if (o->lookups) o->lookups->prev = l;
    o->lookups = l;
    o->in_flight++;
    if (o->in_flight >= o->concurrency && !o->tripped) {
        o->tripped = true;
        tr_offramp_trigger(o->host);
    }
    g->pending++;
    ask(l, type < 0 ? 1 : type);   /* may answer at once (a bad name) */
    return;
fail:
    emit_error(o, g->token, *req, corr, msg);
    g->failed = true;
    tr_value_unref(corr);
}

/* Each request of a batch is looked up and answered (0.11: value_meta_iter,
 * its own $correlation); the event is acked when all of them succeeded. */
static void dns_send(void *self, const struct tr_out_msg *m) {
    struct dns *o = self;
    bool answer = m->transactional || o->linked;
    struct group *g = tr_calloc(1, sizeof *g);
    if (!g) {
        if (answer) tr_offramp_fail(o->host, m->token);
        return;
    }
    g->token = m->token;
    g->answer = answer;
    g->pending = 1;   /* held until every request is started */
    tr_value req = tr_v_null();
    struct tr_diag d;
    char derr[512] = {0};
    tr_diag_clear(&d);
    /* a batch's elements are taken from its value (its bytes are the
     * elements' encodings one after another) */
    int rc = m->is_batch && m->value && tr_batch_is(m->value)
                 ? ((req = tr_value_ref(*m->value)), 0)
                 : o->codec->decode(m->data ? m->data : "", m->len, m->ingest_ns, &req, &d);
    if (rc < 0)
        snprintf(derr, sizeof derr, "cannot decode the request with codec %s: %.300s", o->codec->name,
                 d.msg[0] ? d.msg : tr_strerror(rc));
    const tr_value *meta = m->meta && m->meta->type == TR_REC ? m->meta : NULL;
    if (!derr[0] && tr_batch_is(&req)) {
        for (uint32_t i = 0; i < tr_arr_len(&req); i++) {
            const tr_value *v, *em;
            tr_batch_at(&req, i, &v, &em);
            start_one(o, g, v, em ? tr_rec_get_cstr(em, "correlation") : NULL, NULL);
        }
    } else {
        start_one(o, g, &req, meta ? tr_rec_get_cstr(meta, "correlation") : NULL, derr[0] ? derr : NULL);
    }
    tr_value_unref(req);
    update_timer(o);
    group_done(o, g, true);
}

/* Lookups past timeout_ms are answered now; c-ares ends them later. */
static void dns_tick(void *self, uint64_t now_ns) {
    struct dns *o = self;
    char msg[512];
    for (struct lookup *l = o->lookups; l; l = l->next) {
        if (!l->g || now_ns < l->deadline_ns) continue;
        snprintf(msg, sizeof msg, "%s: lookup timed out after %llu ms", l->name,
                 (unsigned long long)(o->timeout_ns / 1000000));
        emit_error(o, l->g->token, l->request, l->corr, msg);
        struct group *g = l->g;
        l->g = NULL;
        group_done(o, g, false);
    }
}

static bool dns_is_active(void *self) { return !((struct dns *)self)->tripped; }

static int set_servers(struct dns *o, const tr_value *list) {
    struct tr_buf csv;
    tr_buf_init(&csv);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < tr_arr_len(list); i++) {
        const tr_value *s = tr_arr_at(list, i);
        if (i && tr_buf_putc(&csv, ',')) rc = -ENOMEM;
        if (!rc && (memchr(s->as.s->data, ',', s->as.s->len) || memchr(s->as.s->data, 0, s->as.s->len)))
            rc = TR_EINVAL_CFG;
        if (!rc && tr_buf_append(&csv, s->as.s->data, s->as.s->len)) rc = -ENOMEM;
    }
    if (!rc && tr_buf_putc(&csv, 0)) rc = -ENOMEM;
    if (!rc && ares_set_servers_ports_csv(o->channel, csv.data) != ARES_SUCCESS) rc = TR_EINVAL_CFG;
    tr_buf_fini(&csv);
    return rc;
}

static int dns_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    struct dns_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_dns_cmap, &c, d);
    if (rc) return rc;
    static int ares_ready;
    if (!ares_ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
            return tr_conn_cfg_fail(spec, "servers", d, "cannot be used: c-ares did not initialise");
        ares_ready = 1;
    }
    struct dns *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->id = tr_strdup(spec->id ? spec->id : "dns");
    /* 0.11's default codec is null (it reads the event itself); here the
     * request arrives encoded, so it must be a codec that keeps it */
    o->codec = tr_codec_find(spec->codec ? spec->codec : "json");
    if (!o->codec) o->codec = tr_codec_find("json");
    o->linked = spec->linked;
    o->concurrency = c.concurrency;
    o->timeout_ns = c.timeout_ms * 1000000u;
    struct ares_options opt;
    memset(&opt, 0, sizeof opt);
    opt.sock_state_cb = on_sock_state;
    opt.sock_state_cb_data = o;
    /* per try; c-ares doubles it on the next round: about timeout_ms in all */
    opt.timeout = (int)(c.timeout_ms / 3 ? c.timeout_ms / 3 : 1);
    opt.tries = 2;
    int st = o->id ? ares_init_options(&o->channel, &opt, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
                                                              ARES_OPT_TRIES)
                   : ARES_ENOMEM;
    if (st != ARES_SUCCESS) {
        o->channel = NULL;
        tr_free(o->id);
        tr_free(o);
        if (st == ARES_ENOMEM) return -ENOMEM;
        return tr_conn_cfg_fail(spec, "servers", d, "cannot set up the resolver: %s", ares_strerror(st));
    }
    if (c.servers && (rc = set_servers(o, c.servers))) {
        ares_destroy(o->channel);
        tr_free(o->id);
        tr_free(o);
        if (rc == -ENOMEM) return rc;
        return tr_conn_cfg_fail(spec, "servers", d, "must be addresses as \"ip\", \"ip:port\" or "
                                "\"[ipv6]:port\"");
    }
    uv_timer_init(o->loop, &o->timer);
    o->timer.data = o;
    o->handles = 1;
    *self = o;
    return 0;
}

static int dns_start(void *self) {
    struct dns *o = self;
    TR_INFO(MOD, "%s: resolving%s", o->id, o->linked ? " (linked)" : "");
    return 0;
}

static void dns_close(void *self, void (*done)(void *), void *arg) {
    struct dns *o = self;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    /* every open lookup's callback comes now (ARES_EDESTRUCTION): failed */
    ares_destroy(o->channel);
    o->channel = NULL;
    while (o->socks) sock_drop(o, o->socks);
    uv_close((uv_handle_t *)&o->timer, on_timer_closed);
}

const struct tr_offramp_ops tr_dns_offramp = {
    .type = "dns",
    .linked = true,
    .always_linked = true,   /* 0.11's sink replies whether linked or not */
    .create = dns_create,
    .start = dns_start,
    .send = dns_send,
    .tick = dns_tick,
    .is_active = dns_is_active,
    .close = dns_close,
};
