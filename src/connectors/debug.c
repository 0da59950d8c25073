/* debug.c - the `debug` offramp (Tremor 0.11): counts events per
 * classification (the `$class` metadata, "<unclassified>" without one) and,
 * when an event arrives more than a second after the last report, prints
 * the counts so far to stdout and starts counting again, in 0.11's layout:
 *
 *   |classification      | total  |
 *   |TOTAL               |       5|
 *   |error               |       2|
 *
 * As in 0.11 the report is driven by events, not by a timer: the counts of
 * the last second before traffic stops are never printed. Classes print in
 * the order first seen (0.11's hash map order is arbitrary). Events are
 * acked on arrival. At most MAX_CLASSES classes are kept per report; more
 * are counted under "<other>" so a hostile `$class` cannot grow memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"

#define MAX_CLASSES 1024
#define REPORT_NS 1000000000ull

struct bucket {
    char *name;
    uint64_t cnt;
};

struct dbg {
    struct tr_offramp_host *host;
    FILE *out;
    uint64_t last_ns, cnt, other;
    struct bucket *b;
    size_t n;
};

const struct tr_cmap_entry tr_debug_cmap[] = {{0}};

static int dbg_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                      struct tr_diag *d) {
    (void)spec;
    (void)d;
    struct dbg *g = tr_calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    g->b = tr_calloc(MAX_CLASSES, sizeof *g->b);
    if (!g->b) {
        tr_free(g);
        return -ENOMEM;
    }
    g->host = host;
    g->out = stdout;
    g->last_ns = tr_now_ns();
    *self = g;
    return 0;
}

static int dbg_start(void *self) {
    (void)self;
    return 0;
}

static void report(struct dbg *g) {
    fprintf(g->out, "\n|%-20s| %-7s|\n|%-20s| %7" PRIu64 "|\n", "classification", "total", "TOTAL",
            g->cnt);
    for (size_t i = 0; i < g->n; i++) {
        fprintf(g->out, "|%-20s| %7" PRIu64 "|\n", g->b[i].name, g->b[i].cnt);
        tr_free(g->b[i].name);
    }
    if (g->other) fprintf(g->out, "|%-20s| %7" PRIu64 "|\n", "<other>", g->other);
    fflush(g->out);
    g->n = 0;
    g->cnt = g->other = 0;
}

static void count(struct dbg *g, const char *c, size_t len) {
    g->cnt++;
    for (size_t i = 0; i < g->n; i++)
        if (strlen(g->b[i].name) == len && memcmp(g->b[i].name, c, len) == 0) {
            g->b[i].cnt++;
            return;
        }
    char *name = g->n < MAX_CLASSES ? tr_malloc(len + 1) : NULL;
    if (!name) {
        g->other++;
        return;
    }
    memcpy(name, c, len);
    name[len] = 0;
    g->b[g->n++] = (struct bucket){name, 1};
}

static void dbg_send(void *self, const struct tr_out_msg *m) {
    struct dbg *g = self;
    uint64_t now = tr_now_ns();
    if (now - g->last_ns > REPORT_NS) {
        g->last_ns = now;
        report(g);
    }
    const tr_value *c = m->meta && m->meta->type == TR_REC ? tr_rec_get_cstr(m->meta, "class") : NULL;
    if (c && c->type == TR_STR) count(g, c->as.s->data, c->as.s->len);
    else count(g, "<unclassified>", 14);
    if (m->transactional) tr_offramp_ack(g->host, m->token);
}

static bool dbg_is_active(void *self) {
    (void)self;
    return true;
}

static void dbg_close(void *self, void (*done)(void *), void *arg) {
    struct dbg *g = self;
    for (size_t i = 0; i < g->n; i++) tr_free(g->b[i].name);
    tr_free(g->b);
    tr_free(g);
    if (done) done(arg);
}

const struct tr_offramp_ops tr_debug_offramp = {
    .type = "debug",
    .create = dbg_create,
    .start = dbg_start,
    .send = dbg_send,
    .is_active = dbg_is_active,
    .close = dbg_close,
};
