/* blackhole.c - the `blackhole` offramp: a benchmark sink (Tremor 0.11 keys:
 * warmup_secs, stop_after_secs, significant_figures).
 *
 * Counts events and encoded bytes and records each event's latency from
 * ingest to here in an HDR histogram, all after the warmup. When the run is
 * over (warmup + stop_after_secs after start) it prints the percentile table
 * and the throughput to stdout, then asks the server to stop (exit 0), as
 * Tremor does. stop_after_secs = 0 runs until the server stops; the report
 * is then printed on close. Not a null device for production: it prints.
 * Invariant: every transactional message is acked at once; one report.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/hist.h"
#include "core/log.h"

#define MOD "blackhole"
#define HIGHEST_NS 100000000000ull   /* 100 s, as in Tremor */
#define NS 1000000000ull

struct blackhole {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    uint64_t warmup_ns, run_ns;      /* run_ns 0: no stop */
    struct tr_hist *hist;
    uint64_t t_warm;                 /* absolute ns: the warmup ends, set at start */
    uint64_t events, bytes;          /* counted after warmup */
    uint64_t seen;                   /* all events */
    uv_timer_t timer;
    bool started, reported, closing;
    void (*done)(void *);
    void *done_arg;
};

struct bh_cfg {
    uint64_t warmup, stop, sig;
};

/* A year is plenty and keeps the nanosecond sums far from overflow. */
#define YEAR_SECS 31536000.0
const struct tr_cmap_entry tr_blackhole_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_U64, "warmup_secs", "0", TR_CMAP_RANGE, offsetof(struct bh_cfg, warmup),
     "seconds of events not counted at the start"), .lo = -INFINITY, .hi = YEAR_SECS},
    {TR_CMAP_KEY(TR_CMAP_U64, "stop_after_secs", "0", TR_CMAP_RANGE, offsetof(struct bh_cfg, stop),
     "seconds after the warmup to report and stop, 0: never"), .lo = -INFINITY, .hi = YEAR_SECS},
    {TR_CMAP_KEY(TR_CMAP_U64, "significant_figures", "2", TR_CMAP_RANGE,
     offsetof(struct bh_cfg, sig), "precision of the latency histogram"), .lo = 1, .hi = 5},
    {0},
};

static int bh_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct bh_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_blackhole_cmap, &c, d);
    if (rc) return rc;
    uint64_t warmup = c.warmup, stop = c.stop, sig = c.sig;
    struct blackhole *b = tr_calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    rc = tr_hist_create(HIGHEST_NS, (int)sig, &b->hist);
    b->id = tr_strdup(spec->id ? spec->id : MOD);
    if (rc || !b->id) {
        tr_hist_destroy(b->hist);
        tr_free(b->id);
        tr_free(b);
        return rc ? rc : -ENOMEM;
    }
    b->host = host;
    b->loop = tr_offramp_loop(host);
    b->warmup_ns = warmup * NS;
    b->run_ns = stop * NS;
    uv_timer_init(b->loop, &b->timer);
    b->timer.data = b;
    *self = b;
    return 0;
}

/* The percentile table and throughput, in one write so that nothing else
 * printed meanwhile lands in the middle. */
static void report(struct blackhole *b) {
    if (b->reported) return;
    b->reported = true;
    uint64_t now = tr_now_ns();
    double secs = now > b->t_warm ? (double)(now - b->t_warm) / (double)NS : 0;
    struct tr_buf out;
    tr_buf_init(&out);
    int rc = tr_hist_print(b->hist, 2, &out);
    if (!rc)
        rc = tr_buf_printf(&out,
                           "\n\nThroughput   (data): %.1f MB/s\nThroughput (events): %.1fk events/s\n"
                           "Measured: %llu events, %llu bytes in %.3f s (after %.0f s warmup)\n",
                           secs > 0 ? (double)b->bytes / secs / (1024.0 * 1024.0) : 0.0,
                           secs > 0 ? (double)b->events / secs / 1000.0 : 0.0,
                           (unsigned long long)b->events, (unsigned long long)b->bytes, secs,
                           (double)b->warmup_ns / (double)NS);
    if (rc) {
        TR_ERROR(MOD, "%s: cannot format the report: %s", b->id, tr_strerror(rc));
    } else {
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
    }
    tr_buf_fini(&out);
    if (tr_hist_clamped(b->hist))
        TR_WARN(MOD, "%s: %llu latencies above 100 s were counted as 100 s", b->id,
                (unsigned long long)tr_hist_clamped(b->hist));
}

static void on_stop(uv_timer_t *t) {
    struct blackhole *b = t->data;
    report(b);
    tr_offramp_shutdown(b->host);
}

static int bh_start(void *self) {
    struct blackhole *b = self;
    if (b->started) return 0;
    b->started = true;
    uint64_t now = tr_now_ns();
    b->t_warm = now + b->warmup_ns;
    if (b->run_ns) {
        uv_timer_start(&b->timer, on_stop, (b->warmup_ns + b->run_ns) / 1000000, 0);
    }
    return 0;
}

static void bh_send(void *self, const struct tr_out_msg *m) {
    struct blackhole *b = self;
    b->seen++;
    if (b->started && !b->reported) {
        uint64_t now = tr_now_ns();
        if (now >= b->t_warm) {
            b->events++;
            b->bytes += m->len;
            tr_hist_record(b->hist, now > m->ingest_ns ? now - m->ingest_ns : 0);
        }
    }
    if (m->transactional) tr_offramp_ack(b->host, m->token);
}

static bool bh_active(void *self) {
    (void)self;
    return true;
}

static void on_closed(uv_handle_t *h) {
    struct blackhole *b = h->data;
    void (*done)(void *) = b->done;
    void *arg = b->done_arg;
    tr_hist_destroy(b->hist);
    tr_free(b->id);
    tr_free(b);
    if (done) done(arg);
}

static void bh_close(void *self, void (*done)(void *), void *arg) {
    struct blackhole *b = self;
    if (b->closing) return;
    b->closing = true;
    b->done = done;
    b->done_arg = arg;
    /* stopped early (or no stop_after_secs): still say what was measured */
    if (b->started && b->events) report(b);
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, on_closed);
}

const struct tr_offramp_ops tr_blackhole_offramp = {
    .type = "blackhole",
    .bytes_only = true,
    .create = bh_create,
    .start = bh_start,
    .send = bh_send,
    .is_active = bh_active,
    .close = bh_close,
};
