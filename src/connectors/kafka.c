/* kafka.c - what both kafka connectors share: librdkafka's configuration
 * from 0.11's keys (brokers, rdkafka_options), and the wake-up pipe that
 * hands librdkafka's queued work to our loop (see kafka_int.h). Not a
 * connector itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "kafka"

/* ------------------------------------------------------------ wake-up pipe */

static void on_readable(uv_poll_t *p, int status, int events) {
    (void)status;
    (void)events;
    struct tr_kafka_wake *w = p->data;
    char buf[256];
    /* empty the pipe first: what librdkafka adds from now on writes again */
    while (read(w->fd[0], buf, sizeof buf) > 0) {
    }
    w->cb(w->arg);
}

static void on_again(uv_timer_t *t) {
    struct tr_kafka_wake *w = t->data;
    w->cb(w->arg);
}

int tr_kafka_wake_open(struct tr_kafka_wake *w, uv_loop_t *loop, rd_kafka_queue_t *q,
                       void (*cb)(void *), void *arg) {
    memset(w, 0, sizeof *w);
    if (pipe2(w->fd, O_NONBLOCK | O_CLOEXEC) < 0) return -errno;
    int rc = uv_poll_init(loop, &w->poll, w->fd[0]);
    if (rc) {
        close(w->fd[0]);
        close(w->fd[1]);
        return rc;
    }
    uv_timer_init(loop, &w->again);
    w->poll.data = w->again.data = w;
    w->handles = 2;
    w->q = q;
    w->cb = cb;
    w->arg = arg;
    uv_poll_start(&w->poll, UV_READABLE, on_readable);
    rd_kafka_queue_io_event_enable(q, w->fd[1], "1", 1);
    uv_timer_start(&w->again, on_again, 0, 0);   /* work queued before we watched */
    return 0;
}

void tr_kafka_wake_again(struct tr_kafka_wake *w) {
    if (w->handles == 2 && !uv_is_active((uv_handle_t *)&w->again))
        uv_timer_start(&w->again, on_again, 0, 0);
}

void tr_kafka_wake_switch(struct tr_kafka_wake *w, rd_kafka_queue_t *q) {
    rd_kafka_queue_io_event_enable(w->q, -1, NULL, 0);
    w->q = q;
    rd_kafka_queue_io_event_enable(q, w->fd[1], "1", 1);
    tr_kafka_wake_again(w);
}

static void on_closed(uv_handle_t *h) {
    struct tr_kafka_wake *w = h->data;
    if (--w->handles == 0) {
        close(w->fd[0]);
        close(w->fd[1]);
        w->closed(w->arg);
    }
}

void tr_kafka_wake_close(struct tr_kafka_wake *w, void (*closed)(void *), void *arg) {
    rd_kafka_queue_io_event_enable(w->q, -1, NULL, 0);
    w->closed = closed;
    w->arg = arg;
    uv_close((uv_handle_t *)&w->poll, on_closed);
    uv_close((uv_handle_t *)&w->again, on_closed);
}

/* ------------------------------------------------------------ configuration */

/* The text of an option's value: strings as they are, numbers and booleans
 * as YAML wrote them (0.11 takes strings; a YAML 5000 means "5000"). */
static const char *opt_text(const tr_value *v, char *buf, size_t n) {
    switch (v->type) {
    case TR_STR: return v->as.s->data;
    case TR_BOOL: return v->as.b ? "true" : "false";
    case TR_I64: snprintf(buf, n, "%lld", (long long)v->as.i); return buf;
    case TR_U64: snprintf(buf, n, "%llu", (unsigned long long)v->as.u); return buf;
    case TR_F64: snprintf(buf, n, "%.17g", v->as.f); return buf;
    default: return NULL;
    }
}

const char *tr_kafka_option(const struct tr_kafka_common *c, const char *key, char *buf, size_t n) {
    const tr_value *o = c->rdkafka_options;
    if (!o || o->type != TR_REC) return NULL;
    const tr_value *v = tr_rec_get_cstr(o, key);
    return v ? opt_text(v, buf, n) : NULL;
}

void tr_kafka_client_id(const char *host, const char *id, char *buf, size_t n) {
    char h[256];
    if (!host) {
        if (gethostname(h, sizeof h) != 0) snprintf(h, sizeof h, "localhost");
        h[sizeof h - 1] = 0;
        host = h;
    }
    snprintf(buf, n, "tremor-%s-%s", host, id);
}

int tr_kafka_conf(const struct tr_conn_spec *spec, const struct tr_kafka_common *c,
                  const char *const *defaults, rd_kafka_conf_t **out, struct tr_diag *d) {
    *out = NULL;
    char errstr[512], num[64];
    const tr_value *b = c->brokers;
    if (!b || b->type != TR_ARR || tr_arr_len(b) == 0)
        return tr_conn_cfg_fail(spec, "brokers", d, "must be a non-empty list of \"host:port\" strings");
    size_t need = 1;
    for (uint32_t i = 0; i < tr_arr_len(b); i++) {
        const tr_value *e = tr_arr_at(b, i);
        if (e->type != TR_STR || e->as.s->len == 0 || e->as.s->len > 1024 ||
            strpbrk(e->as.s->data, ", \t\r\n") || strchr(e->as.s->data, ':') != strrchr(e->as.s->data, ':'))
            return tr_conn_cfg_fail(spec, "brokers", d, "must be a list of \"host:port\" strings "
                                    "(item %u is not)", i + 1);
        need += e->as.s->len + 1;
    }
    if (need > 65536) return tr_conn_cfg_fail(spec, "brokers", d, "is too long");
    if (c->rdkafka_options && c->rdkafka_options->type != TR_REC && c->rdkafka_options->type != TR_NULL)
        return tr_conn_cfg_fail(spec, "rdkafka_options", d, "must be a map of librdkafka "
                                "properties to strings");
    char *servers = tr_malloc(need);
    if (!servers) return -ENOMEM;
    servers[0] = 0;
    for (uint32_t i = 0; i < tr_arr_len(b); i++) {
        if (i) strcat(servers, ",");
        strcat(servers, tr_arr_at(b, i)->as.s->data);
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", servers, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rc = tr_conn_cfg_fail(spec, "brokers", d, "is not accepted by librdkafka: %s", errstr);
        goto out;
    }
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "default %s: %s", defaults[i], errstr);
            goto out;
        }
    const tr_value *o = c->rdkafka_options;
    for (uint32_t i = 0; o && o->type == TR_REC && i < tr_rec_len(o); i++) {
        struct tr_field *f = tr_rec_at(o, i);
        const char *val = opt_text(&f->val, num, sizeof num);
        if (!val) {
            rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "'%.128s' must be a string, number or "
                                  "boolean", f->key->data);
            goto out;
        }
        if (strcmp(f->key->data, "log.queue") == 0 || strstr(f->key->data, "interceptor") ||
            strcmp(f->key->data, "plugin.library.paths") == 0) {
            rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "'%.128s' cannot be set: the "
                                  "connector needs its own value", f->key->data);
            goto out;
        }
        if (rd_kafka_conf_set(conf, f->key->data, val, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "'%.128s': %s", f->key->data, errstr);
            goto out;
        }
    }
    /* log lines come through our queue, so they are written from the loop */
    rd_kafka_conf_set(conf, "log.queue", "true", errstr, sizeof errstr);
    rd_kafka_conf_set_log_cb(conf, tr_kafka_log_cb);
out:
    tr_free(servers);
    if (rc) rd_kafka_conf_destroy(conf);
    else *out = conf;
    return rc;
}

void tr_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* syslog levels: 0..3 errors, 4 warnings, 5..6 information, 7 debug */
    enum tr_log_level l = level <= 3 ? TR_LOG_ERROR : level == 4 ? TR_LOG_WARN
                        : level <= 6 ? TR_LOG_INFO : TR_LOG_DEBUG;
    if (!tr_log_enabled(l)) return;
    tr_log(l, MOD, "%s: %s: %s", rk ? rd_kafka_name(rk) : "rdkafka", fac, buf);
}
