/* ws_link.c - response pairing of the linked ws offramp (ws_link.h).
 *
 * Two queues: the messages sent, in send order, each waiting for its
 * response; and the server's messages not yet delivered. Pairing is by
 * position on the connection (0.11 reads the next message after each send).
 * An entry leaves the front once answered (acked or failed); an ack is held
 * until the entry has its response or can no longer get one.
 *
 * Invariant: every token given to tr_ws_link_sent is answered exactly once,
 * after its response or error event (if any) was emitted.
 */
#include "connectors/ws_link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec.h"
#include "core/alloc.h"
#include "core/event.h"

#define MOD "ws"

enum held { H_NONE, H_ACK };

struct tr_ws_link_wait {
    uint64_t token;
    tr_value corr;       /* the event's $correlation, TR_NULL when none */
    bool done;           /* its response came (or none can come any more) */
    bool answered;       /* acked or failed (a failed one may still get its response: dropped) */
    enum held held;
};

struct tr_ws_link_msg {
    char *data;
    size_t len;
    bool binary;
};

static struct tr_ws_link_wait *wat(struct tr_ws_link *l, size_t i) { return tr_ring_at(&l->wait, i); }

void tr_ws_link_init(struct tr_ws_link *l, struct tr_offramp_host *host, const struct tr_codec *codec,
                     const char *url) {
    memset(l, 0, sizeof *l);
    l->host = host;
    l->codec = codec;
    l->url = url;
    tr_ring_init(&l->wait, sizeof(struct tr_ws_link_wait));
    tr_ring_init(&l->inbox, sizeof(struct tr_ws_link_msg));
}

void tr_ws_link_fini(struct tr_ws_link *l) {
    for (size_t i = 0; i < tr_ring_len(&l->wait); i++) tr_value_unref(wat(l, i)->corr);
    struct tr_ws_link_msg m;
    while (tr_ring_pop(&l->inbox, &m)) {
        tr_free(m.data);
    }
    tr_ring_fini(&l->wait);
    tr_ring_fini(&l->inbox);
}

static tr_value corr_of(const tr_value *meta) {
    if (!meta || meta->type != TR_REC) return tr_v_null();
    const tr_value *c = tr_rec_get_cstr(meta, "correlation");
    return c ? tr_value_ref(*c) : tr_v_null();
}

static int set_str(tr_value *rec, const char *key, const char *s) {
    tr_value x;
    int rc = tr_v_cstr(s, &x);
    if (!rc) rc = tr_rec_set(rec, key, strlen(key), x);
    return rc;
}

/* 0.11's create_error_response: {"error"} with meta {error, correlation}. */
static void emit_error(struct tr_ws_link *l, uint64_t token, tr_value corr, const char *msg) {
    l->errors++;
    tr_log_limited(&l->lim, TR_LOG_WARN, MOD, "%s: %s", l->url, msg);
    tr_value v, m;
    if (tr_v_rec(1, &v)) return;
    if (tr_v_rec(2, &m)) {
        tr_value_unref(v);
        return;
    }
    int rc = set_str(&v, "error", msg);
    if (!rc) rc = set_str(&m, "error", msg);
    if (!rc && corr.type != TR_NULL) rc = tr_rec_set(&m, "correlation", 11, tr_value_ref(corr));
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return;
    }
    (void)tr_offramp_emit(l->host, token, true, v, m);
}

static void answer_host(struct tr_ws_link *l, uint64_t token, bool ok) {
    if (ok) tr_offramp_ack(l->host, token);
    else tr_offramp_fail(l->host, token);
}

/* Retire entries answered and done with from the front. */
static void trim(struct tr_ws_link *l) {
    while (tr_ring_len(&l->wait) && wat(l, 0)->answered && wat(l, 0)->done) {
        struct tr_ws_link_wait e;
        tr_ring_pop(&l->wait, &e);
        tr_value_unref(e.corr);
        if (l->unpaired) l->unpaired--;
    }
}

int tr_ws_link_sent(struct tr_ws_link *l, uint64_t token, const tr_value *meta) {
    if (tr_ring_len(&l->wait) >= TR_WS_LINK_MAX_WAITING) return TR_EFULL;
    struct tr_ws_link_wait e = {.token = token, .corr = corr_of(meta)};
    int rc = tr_ring_push(&l->wait, &e);
    if (rc) tr_value_unref(e.corr);
    return rc;
}

void tr_ws_link_unsend(struct tr_ws_link *l) {
    struct tr_ws_link_wait e;
    if (!tr_ring_pop_back(&l->wait, &e)) return;
    tr_value_unref(e.corr);
    if (l->unpaired > tr_ring_len(&l->wait)) l->unpaired = tr_ring_len(&l->wait);
}

void tr_ws_link_refuse(struct tr_ws_link *l, uint64_t token, const tr_value *meta, const char *why) {
    tr_value corr = corr_of(meta);
    emit_error(l, token, corr, why);
    tr_value_unref(corr);
    tr_offramp_fail(l->host, token);
}

/* Entries are answered roughly in send order: look from the front. */
static struct tr_ws_link_wait *find(struct tr_ws_link *l, uint64_t token) {
    for (size_t i = 0; i < tr_ring_len(&l->wait); i++) {
        struct tr_ws_link_wait *e = wat(l, i);
        if (e->token == token && !e->answered) return e;
    }
    return NULL;
}

void tr_ws_link_answer(struct tr_ws_link *l, uint64_t token, bool ok) {
    struct tr_ws_link_wait *e = find(l, token);
    if (!e) {
        answer_host(l, token, ok);
        return;
    }
    if (!e->done && ok) {
        e->held = H_ACK;   /* the response comes first */
        return;
    }
    if (!e->done) {
        /* failed before its response (0.11's "Error sending event"); it keeps
         * its place, so a response that still comes is dropped, not misplaced */
        char msg[256];
        snprintf(msg, sizeof msg, "Error sending event to server %s.", l->url);
        emit_error(l, token, e->corr, msg);
    }
    e->answered = true;
    answer_host(l, token, ok);
    trim(l);
}

int tr_ws_link_received(struct tr_ws_link *l, const uint8_t *data, size_t len, bool binary) {
    if (tr_ring_len(&l->inbox) >= TR_WS_LINK_MAX_INBOX) return TR_EFULL;
    struct tr_ws_link_msg m = {.len = len, .binary = binary};
    m.data = tr_malloc(len ? len : 1);
    if (!m.data) return -ENOMEM;
    if (len) memcpy(m.data, data, len);
    int rc = tr_ring_push(&l->inbox, &m);
    if (rc) tr_free(m.data);
    return rc;
}

/* The next entry still waiting for a response, or NULL. */
static struct tr_ws_link_wait *next_waiting(struct tr_ws_link *l) {
    while (l->unpaired < tr_ring_len(&l->wait)) {
        struct tr_ws_link_wait *e = wat(l, l->unpaired);
        if (!e->done) return e;
        l->unpaired++;
    }
    return NULL;
}

/* One response for e: decoded, out of `out` with meta {binary, correlation};
 * or an error out of `err`. */
static void respond(struct tr_ws_link *l, struct tr_ws_link_wait *e, struct tr_ws_link_msg *m) {
    uint64_t token = e->token;
    e->done = true;
    tr_value v = tr_v_null(), meta;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = l->codec->decode(m->data, m->len, tr_now_ns(), &v, &d);
    if (rc < 0) {
        char msg[1200];
        snprintf(msg, sizeof msg,
                 "Error deserializing Response message (codec/preprocessors): %s: %s", l->codec->name,
                 d.msg[0] ? d.msg : tr_strerror(rc));
        emit_error(l, token, e->corr, msg);
        return;
    }
    /* 0.11: an empty record when the codec gives nothing */
    if (rc == TR_CODEC_NOTHING && tr_v_rec(0, &v)) return;
    if (tr_v_rec(2, &meta)) {
        tr_value_unref(v);
        return;
    }
    rc = tr_rec_set(&meta, "binary", 6, tr_v_bool(m->binary));
    if (!rc && e->corr.type != TR_NULL) rc = tr_rec_set(&meta, "correlation", 11, tr_value_ref(e->corr));
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(meta);
        return;
    }
    l->responses++;
    (void)tr_offramp_emit(l->host, token, false, v, meta);
}

void tr_ws_link_deliver(struct tr_ws_link *l) {
    struct tr_ws_link_msg m;
    while (tr_ring_pop(&l->inbox, &m)) {
        struct tr_ws_link_wait *e = next_waiting(l);
        if (!e) {
            l->unsolicited++;
            tr_log_limited(&l->lim, TR_LOG_WARN, MOD,
                           "%s: a message from the server answers nothing sent: dropped (%llu so far)",
                           l->url, (unsigned long long)l->unsolicited);
        } else if (e->answered) {
            e->done = true;   /* failed already: its response goes nowhere */
        } else {
            respond(l, e, &m);   /* e may move: emit can send more (a pipeline loop) */
        }
        tr_free(m.data);
        /* answer the acks that waited for their responses, in order */
        for (size_t i = 0; i < tr_ring_len(&l->wait); i++) {
            struct tr_ws_link_wait *w = wat(l, i);
            if (!w->done) break;
            if (w->answered || w->held != H_ACK) continue;
            w->answered = true;
            answer_host(l, w->token, true);
        }
        trim(l);
    }
}

void tr_ws_link_down(struct tr_ws_link *l, const char *why) {
    char msg[512];
    snprintf(msg, sizeof msg, "Error while receiving reply from server %s: %s", l->url, why);
    /* responses that came before the end still count */
    tr_ws_link_deliver(l);
    for (size_t i = 0; i < tr_ring_len(&l->wait); i++) {
        struct tr_ws_link_wait *w = wat(l, i);
        if (w->done) continue;
        w->done = true;
        if (w->answered) continue;
        emit_error(l, w->token, w->corr, msg);
        if (w->held == H_ACK && !w->answered) {
            w->answered = true;
            answer_host(l, w->token, true);
        }
    }
    l->unpaired = tr_ring_len(&l->wait);
    trim(l);
}
