/* qos_wal.c - the `qos::wal` operator: guaranteed delivery over src/wal.
 *
 * Every incoming event is appended to a persistent log and emitted only once
 * it is durable under the sync policy; emitted events carry the WAL's own id
 * (tracking the original) and are transactional. Acks acknowledge records,
 * a fail rewinds the reader (go-back-N, in order), and the log reclaims
 * space as acks arrive. The WAL absorbs downstream breaker signals (that is
 * its job: keep buffering while the sink is away) and sends its own trigger
 * upstream when full, restore when it has room again.
 *
 * Invariant: an event is emitted at most once per read of its record, only
 * when durable, and never more than max_in_flight records (and
 * max_in_flight_bytes) are out, neither acked nor released. A released
 * record (the peer has it, but may still lose it: TR_CB_RELEASE) no longer
 * holds the window, yet stays in the log until its ack; its fail rewinds
 * like any other. Read passes of read_count records run back to back from
 * the loop's deferred queue (core/defer.h: after the acks that opened the
 * window, a share per loop turn: TURN_RECORDS records or TURN_NS of passes,
 * counted from one poll to the next) while the window has room and
 * durable records wait. Insights never arrive inside a pass (op.h's rule);
 * a pass stops at an event its sink refused at once (TR_EREFUSED). Events
 * refused for lack of room wait in order in `held` (bounded); nothing is
 * dropped unless on_full = drop_newest says so, and then it is counted.
 * Until a record is durable a copy of it is kept (`pend`), so a disk that
 * fails loses nothing that was handed over:
 *
 *   RUNNING --store refused (limits, disk full)--> held, trigger upstream
 *      ^      --held drained, under the limits---> restore upstream
 *      |
 *      |  write / sync / segment error (any time)
 *      |     v
 *      |   FAILED: trigger upstream, keep held + copies, emit nothing
 *      |     |  tick, when the backoff (100 ms doubling to 5 s) is due:
 *      |     |  close the log, open it again (full recovery from disk)
 *      |     |--open fails--> FAILED (logged at most every 10 s, with counts)
 *      +-----+  open works: copies of records the disk did not keep are
 *               appended again first, then the held events, in order
 *
 * Differences from Tremor 0.11 (see examples/persistent-wal/README.md):
 * persistent by default, read_count is exact, capacity is enforced at
 * admission, acks are per record rather than "highest id seen".
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "codec/event_bin.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hist.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/spool.h"
#include "ops/ops_int.h"
#include "wal/wal.h"

#define HELD_MAX 4096            /* events kept in memory while the log is full */
#define MAX_RECORD (16u << 20)   /* largest serialised event accepted */
/* Copies of records kept for the failing-disk rules (struct pend): those
 * not yet durable take up to half of the bound, the rest is those durable
 * and waiting for a second sync (one group commit, so at most that half
 * too). Reaching the half pauses upstream until the next group commit.
 * While downstream is away that bounds what a backlog costs: with 1 MiB per
 * half, 2 MiB of copies (and their entries) stayed once the sink stopped,
 * 15% over a small backlog's VmHWM; at 64 MiB a fill held tens of
 * megabytes. So the bound is PEND_MAX_BYTES then (512 KiB is about 4,500
 * events of 100 bytes). While downstream takes events the copies go within
 * two group commits whatever the backlog, and a pause costs the relay its
 * rate: the source stops reading while a sync runs, and a loop turn that
 * reads a burst (a source takes up to 32 socket buffers a turn) reaches
 * 512 KiB at once. With PEND_MAX_BYTES_FLOWING the durable relay went from
 * 1.51M to 1.77M events/s (8 pairs, bench/results/wal-writes-round9.md).
 * The records not yet durable are records in flight upstream too, whose
 * acks wait for the sync, and sources bound those in number (the kafka
 * onramp pauses its partitions past max_in_flight records awaiting acks,
 * 65,536 by default): PEND_MAX_RECORDS_FLOWING bounds them here, well
 * inside that. At 8,192 the relay of 100-byte records still paused about
 * 290 times in 2,000,000 events (a slow fdatasync lets that many wait), at
 * 16,384 about 130, and ran 1.78M -> 1.89M events/s (medians of 19 and 20
 * runs, faster in 17 of 19 pairs). At
 * 32,768 and twice the bytes it hardly paused but ran slower: the reads
 * trailed the appends past HOT_MAX_BYTES and 71% of the events were decoded
 * from their records; with a larger hot set too it was still no faster
 * (more memory walked per event). bench/results/relay-pauses-round10.md. */
#define PEND_MAX_BYTES (1u << 20)
#define PEND_MAX_BYTES_FLOWING (4u << 20)
#define PEND_MAX_RECORDS_FLOWING 16384u
/* Events appended and not yet read, kept as they are (struct hot): a read
 * pass emits them without decoding their record (the binary decode cost as
 * much as the JSON decode on the relay). Past these bounds (a backlog) the
 * rest are decoded from the log when their turn comes. On the relay at full
 * rate the reads trail the appends by a loop turn's intake plus a group
 * commit: with 256 KiB 80% of the events were decoded, with 2 MiB 20%, with
 * 4 MiB none; the values kept cost about 3x their records (VmHWM +5 MB at
 * 4 MiB). */
#define HOT_MAX_BYTES (2u << 20)   /* of their records */
#define HOT_MAX 16384u
#define REOPEN_MIN_NS 100000000ull   /* 100 ms */
#define REOPEN_MAX_NS 5000000000ull  /* 5 s */
#define LOG_EVERY_NS 10000000000ull  /* repeated conditions: one line per 10 s */
#define WINDOW_RECORDS 65536u        /* max_in_flight default */
#define WINDOW_BYTES (64u << 20)     /* max_in_flight_bytes default */
#define TURN_RECORDS 1024u           /* records emitted per loop turn before yielding */
/* ...or passes run for this long (ns): records reach the sinks a few at a
 * time, so the loop reads their peers' confirmations between shares (a
 * confirmation read only when a 1000-record turn ends waits that turn out) */
#define TURN_NS 200000u

/* A record handed out and not yet acked, in the order read (seq rising). */
enum flst { FL_OUT, FL_RELEASED, FL_ACKED };
struct flight {
    uint64_t seq;
    uint32_t len;
    uint8_t st;                  /* enum flst */
};

/* A record appended and not yet trusted durable: a copy, to append again if
 * the log fails before, and the upstream ids to ack once it is durable. A
 * record counts as durable when the fdatasync after it succeeded, but its
 * copy is kept until a LATER sync succeeded too: an fdatasync racing a
 * file system going down can report success for data the file system then
 * does not keep (ext4 shut down while unwritten extents are being
 * converted), and only the next sync sees the failure. */
struct pend {
    uint64_t seq;                /* 0: not in the log (to be appended again) */
    unsigned char *data;         /* in the operator's spool, released front first */
    uint32_t len;                /* at most MAX_RECORD */
    uint8_t transactional;       /* its upstream ids wait, in order, in pend_ids */
};
/* A window of 1 MiB of small records is tens of thousands of these: they
 * stay small, and the ids (96 bytes) of the few transactional ones go to a
 * ring of their own. */
_Static_assert(sizeof(struct pend) <= 24, "struct pend is kept per record in flight");

/* ack_upstream = "delivered": the upstream ids of a durable record, kept
 * until downstream acknowledged the record (seq rising, in append order). */
struct upack {
    uint64_t seq;
    bool done;                   /* answered, waiting to leave the front */
    struct tr_ids ids;
};

enum walop_state { WALOP_RUNNING, WALOP_PAUSED, WALOP_FAILED };

/* Counters for a later metrics endpoint (the log and tests read them now). */
struct walop_stats {
    enum walop_state state;
    uint64_t failures;           /* times the log failed */
    uint64_t reopen_attempts;    /* close + open tries after a failure */
    uint64_t reopens;            /* of those, successful */
    uint64_t reappended;         /* copies appended again after a reopen */
    uint64_t refused;            /* events refused by the log (failed upstream or dropped) */
    uint64_t lost;               /* of those, not transactional: gone */
    uint64_t pauses;             /* times upstream was paused */
    uint64_t pauses_routine;     /* of those, only until the next group commit */
    uint64_t paused_ns;          /* time upstream spent paused, pauses that ended */
    uint64_t paused_at_ns;       /* when the current pause began */
};

/* An event as it was appended as record seq. Its record decodes to the
 * same event (values are immutable once shared), so the first read of seq
 * takes this instead of decoding. Only valid for the log it was appended
 * to: a reopen may hand out seq again for another record. */
struct hot {
    uint64_t seq;
    size_t len;                  /* of the record */
    struct tr_event ev;
};

struct walop {
    struct tr_op_host *host;
    char *id;
    uint64_t uid;
    uint64_t epoch;              /* reopens so far: the stream of the ids it emits */
    struct tr_wal *wal;
    uv_async_t async;
    int async_open;
    uv_prepare_t turn;           /* before the loop polls: writes what this turn appended, opens a new share */
    int turn_open;
    struct tr_defer *defer;      /* the host's deferred queue, or NULL (no loop: at once) */
    struct tr_defer_node kick;   /* the next read pass, from the loop */
    int handles_open;            /* freed when the last one's close callback ran */
    int appended;                /* appended since the last tr_wal_flush */
    uint64_t turn_records;       /* emitted in this loop turn (reset by `turn`) */
    uint64_t turn_t0;            /* when this turn's first pass began (ns), 0: none yet */
    /* configuration */
    uint64_t read_count;
    uint64_t max_in_flight;
    uint64_t max_in_flight_bytes;
    uint64_t max_elements;       /* 0 = none */
    uint64_t max_bytes;          /* 0 = none */
    int drop_newest;
    int ack_delivered;           /* ack_upstream = "delivered" */
    struct tr_ring ups;          /* of struct upack (ack_delivered only) */
    /* state */
    int broken;                  /* downstream breaker triggered: do not emit */
    int full;                    /* we triggered upstream */
    bool full_routine;           /* ...only to wait for the next group commit (logged at debug) */
    int quiesced;
    int refused;                 /* an emit was refused at once: no pass until its FAIL (or two ticks) */
    struct tr_ring fl;           /* of struct flight: records handed out and not yet acked */
    uint64_t out_n, out_bytes;   /* of those, FL_OUT: what holds the window */
    uint64_t rel_n;              /* of those, FL_RELEASED */
    struct tr_ring held;         /* of struct tr_event: events waiting for room */
    struct tr_ring hot;          /* of struct hot, seq order: appended, not read yet */
    size_t hot_bytes;            /* their records' bytes */
    struct tr_ring pend;         /* of struct pend: records not yet durable, in append order */
    struct tr_spool copies;      /* their bytes, end to end (released in the same order) */
    struct tr_ring pend_ids;     /* of struct tr_ids: of each transactional one not yet durable, in order */
    size_t pend_stored;          /* the first pend_stored are in the log, the rest wait */
    size_t pend_acked;           /* of those, the first pend_acked are durable (acked upstream) */
    uint64_t seen_durable;       /* the log's durable-through number, as last seen */
    uint64_t trusted;            /* durable-through before the last sync that succeeded after it */
    uint64_t pend_bytes;
    uint64_t pend_durable_bytes; /* of the first pend_acked: durable, waiting for a second sync */
    /* the log failed: what reopens it */
    struct tr_wal_config cfg;    /* cfg.dir points at dir; cfg.expect at where once open */
    struct tr_wal_ident where;   /* a reopen takes this log and no other */
    char *dir;
    int wal_failed;              /* the error, 0 when running */
    uint64_t failed_since_ns, reopen_at_ns, reopen_backoff_ns, reopen_logged_ns;
    uint64_t tries;              /* reopen attempts since this failure */
    char reopen_why[192];        /* why the last logged reopen failed: a new reason is logged at once */
    int reopened;                /* reopened, but nothing made durable since: same episode */
    struct walop_stats st;
    struct tr_buf rec;
    uint64_t dropped;
    struct tr_log_limit refuse_log;   /* a source that ignores the pause refuses many in a row */
    uint64_t decode_errors;
    uint64_t emitted;            /* events emitted so far */
    uint64_t decoded;            /* of those, read back from their record (not kept: struct hot) */
    uint64_t rejected;           /* events that could not be serialised */
    int announced;               /* told upstream once that we take events */
};

/* ------------------------------------------------------------- config */

struct wal_cfg {
    uint64_t read_count, max_elements, max_bytes, max_in_flight, max_in_flight_bytes;
    uint64_t sync_interval_ms, segment_bytes, spare_segments;
    bool has_elements, has_bytes, has_in_flight, has_interval, has_segment, flush_on_evnt;
    const char *dir;
    int sync, on_full, ack_upstream;
};

static const char *const sync_choices[] = {"always", "interval", "none", NULL};
static const char *const on_full_choices[] = {"backpressure", "drop_newest", NULL};
static const char *const ack_upstream_choices[] = {"durable", "delivered", NULL};

/* 0.11's keys first (read_count, max_elements, max_bytes, flush_on_evnt);
 * the rest are ours. At least one of max_elements / max_bytes is checked
 * after the map, with 0.11's message. */
static const struct tr_cmap_entry wal_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_U64, "read_count", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
                 offsetof(struct wal_cfg, read_count), "events emitted per read pass"),
     .lo = 1, .hi = INFINITY},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_elements", NULL, TR_CMAP_PRESENCE, offsetof(struct wal_cfg, max_elements),
                 "unacknowledged events the log holds before it pushes back (0: no limit)"),
     .seen = offsetof(struct wal_cfg, has_elements)},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_bytes", NULL, TR_CMAP_PRESENCE, offsetof(struct wal_cfg, max_bytes),
                 "unacknowledged log bytes held before it pushes back (0: no limit; else >= 1024)"),
     .seen = offsetof(struct wal_cfg, has_bytes)},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "flush_on_evnt", "false", 0, offsetof(struct wal_cfg, flush_on_evnt),
                 "0.11's per-event flush: true forces sync = \"always\" (grouped)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "dir", NULL, 0, offsetof(struct wal_cfg, dir),
                 "log directory (default <data dir>/wal/<pipeline>/<instance>/<operator>)")},
    {TR_CMAP_KEY(TR_CMAP_ENUM, "sync", "always", 0, offsetof(struct wal_cfg, sync),
                 "when a record counts as durable: after its fdatasync, on an interval, or never synced"),
     .choices = sync_choices},
    {TR_CMAP_KEY(TR_CMAP_U64, "sync_interval_ms", "100", TR_CMAP_RANGE | TR_CMAP_PRESENCE,
                 offsetof(struct wal_cfg, sync_interval_ms), "fdatasync period under sync = \"interval\""),
     .lo = 1, .hi = 3600000, .seen = offsetof(struct wal_cfg, has_interval)},
    {TR_CMAP_KEY(TR_CMAP_ENUM, "on_full", "backpressure", 0, offsetof(struct wal_cfg, on_full),
                 "when full: push back upstream, or drop the newest event (counted)"),
     .choices = on_full_choices},
    /* delivered: for a source that is itself a durable log shared with
     * others (a kafka consumer group): an instance that dies for good must
     * not take records its source already forgot */
    {TR_CMAP_KEY(TR_CMAP_ENUM, "ack_upstream", "durable", 0, offsetof(struct wal_cfg, ack_upstream),
                 "when a transactional source hears of an event: once it is in this log (durable), "
                 "or once downstream acknowledged it (delivered)"),
     .choices = ack_upstream_choices},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_in_flight", NULL, TR_CMAP_PRESENCE, offsetof(struct wal_cfg, max_in_flight),
                 "records emitted and not yet confirmed (default 65536; 0 counts as 1)"),
     .seen = offsetof(struct wal_cfg, has_in_flight)},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_in_flight_bytes", "67108864", 0,
                 offsetof(struct wal_cfg, max_in_flight_bytes), "bytes of records emitted and not yet confirmed")},
    {TR_CMAP_KEY(TR_CMAP_U64, "segment_bytes", NULL, TR_CMAP_PRESENCE, offsetof(struct wal_cfg, segment_bytes),
                 "largest segment file (default 64 MiB)"),
     .seen = offsetof(struct wal_cfg, has_segment)},
    {TR_CMAP_KEY(TR_CMAP_U64, "spare_segments", "2", TR_CMAP_RANGE, offsetof(struct wal_cfg, spare_segments),
                 "acknowledged segment files kept for reuse instead of unlinked (0: unlink them)"),
     .lo = 0, .hi = TR_WAL_SPARES_MAX},
    {0},
};

/* A path component from a name we do not control (instance, ids). */
static void component(char *dst, size_t n, const char *src) {
    size_t j = 0;
    for (size_t i = 0; src[i] && j + 1 < n; i++) {
        char c = src[i];
        dst[j++] = (c == '/' || c == '\\' || (unsigned char)c < 0x20) ? '_' : c;
    }
    dst[j] = 0;
    if (strcmp(dst, ".") == 0 || strcmp(dst, "..") == 0 || !dst[0]) snprintf(dst, n, "_");
}

/* ------------------------------------------------------------ helpers */

/* ids_taken is moved into the insight and left empty; NULL sends our own id. */
static void send_up(struct walop *w, enum tr_cb cb, struct tr_ids *ids_taken) {
    struct tr_insight in;
    in.cb = cb;
    if (ids_taken) tr_ids_move(&in.ids, ids_taken);
    else tr_ids_init(&in.ids, w->uid, 0, 0);
    tr_op_insight(w->host, &in);   /* takes in */
}

/* How many more records may go out now: max_in_flight minus those out and
 * neither acked nor released; none while their bytes reach the byte bound. */
static uint64_t window_left(struct walop *w) {
    if (w->out_bytes >= w->max_in_flight_bytes) return 0;
    return w->out_n >= w->max_in_flight ? 0 : w->max_in_flight - w->out_n;
}

static struct flight *fl_at(struct walop *w, size_t i) { return tr_ring_at(&w->fl, i); }

/* Note a record just handed out; 0 or -ENOMEM. */
static int fl_push(struct walop *w, uint64_t seq, size_t len) {
    struct flight *f = tr_ring_push_slot(&w->fl);   /* one per record: stored in place */
    if (!f) return -ENOMEM;
    *f = (struct flight){.seq = seq, .len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, .st = FL_OUT};
    w->out_n++;
    w->out_bytes += f->len;
    return 0;
}

/* Index of the first entry with seq >= lo (the length if none): seqs rise.
 * Downstream mostly answers in order, so the front is tried first. */
static size_t fl_find(struct walop *w, uint64_t lo) {
    size_t a = 0, b = tr_ring_len(&w->fl);
    if (b == 0 || fl_at(w, 0)->seq >= lo) return 0;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (fl_at(w, m)->seq < lo) a = m + 1;
        else b = m;
    }
    return a;
}

/* Entries lo..hi leave the window (released or acked: to); acked ones at
 * the front are forgotten. */
static void fl_mark(struct walop *w, uint64_t lo, uint64_t hi, enum flst to) {
    for (size_t i = fl_find(w, lo); i < tr_ring_len(&w->fl); i++) {
        struct flight *f = fl_at(w, i);
        if (f->seq > hi) break;
        if (f->st == FL_OUT) {
            w->out_n--;
            w->out_bytes -= f->len;
        }
        if (f->st == FL_RELEASED && to == FL_ACKED) w->rel_n--;
        if (f->st == FL_OUT && to == FL_RELEASED) w->rel_n++;
        if (to == FL_ACKED || f->st == FL_OUT) f->st = (uint8_t)to;
    }
    while (tr_ring_len(&w->fl) && fl_at(w, 0)->st == FL_ACKED) tr_ring_pop(&w->fl, NULL);
}

/* The cursor moved back to seq: from there on everything is read again. */
static void fl_cut(struct walop *w, uint64_t seq) {
    size_t n;
    while ((n = tr_ring_len(&w->fl)) && fl_at(w, n - 1)->seq >= seq) {
        struct flight *f = fl_at(w, n - 1);
        if (f->st == FL_OUT) {
            w->out_n--;
            w->out_bytes -= f->len;
        }
        if (f->st == FL_RELEASED) w->rel_n--;
        tr_ring_pop_back(&w->fl, NULL);
    }
}

/* Run progress() from the deferred queue, after what is queued already
 * (without one: now). Used where the window opens (acks, releases): every
 * ack of a batch is in before one read pass fills the window again. */
static void progress(struct walop *w);
static void schedule(struct walop *w) {
    if (w->defer) {
        tr_defer_post(w->defer, &w->kick);
        return;
    }
    progress(w);
}

/* max_elements counts the records still to deliver: released ones (the peer
 * has them, inside their linger) are in the log on top, up to max_in_flight
 * of them (the log's own record limit is max_elements + max_in_flight). So
 * a linger never throttles intake, and the log stays bounded. */
static int records_full(struct walop *w, const struct tr_wal_stats *st) {
    uint64_t slack = w->rel_n < w->max_in_flight ? w->rel_n : w->max_in_flight;
    return w->max_elements && st->records >= w->max_elements + slack;
}

static int over_limits(struct walop *w) {
    struct tr_wal_stats st;
    tr_wal_stats(w->wal, &st);
    return records_full(w, &st) ||
           (w->max_bytes && st.bytes >= w->max_bytes);
}

static void set_full(struct walop *w, int full, const char *why, bool routine);
static void update_breaker(struct walop *w);

static uint64_t now_ns(void) { return uv_hrtime(); }

static struct pend *pend_at(struct walop *w, size_t i) { return tr_ring_at(&w->pend, i); }

static size_t unstored(const struct walop *w) { return tr_ring_len(&w->pend) - w->pend_stored; }

/* The log met a write, sync or creation error: stop intake (trigger
 * upstream), emit nothing, keep everything, and reopen from the tick. */
static void report_failure(struct walop *w, int rc) {
    if (w->wal_failed) return;
    uint64_t now = now_ns();
    w->wal_failed = rc;
    w->st.state = WALOP_FAILED;
    if (w->reopened) {
        /* failed again before anything went through the reopened log (a
         * directory that stays unwritable): the same episode, so the same
         * backoff and the same rate-limited line */
        w->reopen_at_ns = now + w->reopen_backoff_ns;
        w->reopen_backoff_ns = w->reopen_backoff_ns * 2 > REOPEN_MAX_NS ? REOPEN_MAX_NS : w->reopen_backoff_ns * 2;
        if (!w->reopen_logged_ns || now - w->reopen_logged_ns >= LOG_EVERY_NS) {
            TR_WARN("qos::wal", "%s: the reopened log failed again (%s): %llu attempts in %llu s; %zu "
                    "held events and %zu records not yet durable kept", w->id, tr_strerror(rc),
                    (unsigned long long)w->tries,
                    (unsigned long long)((now - w->failed_since_ns) / 1000000000ull), tr_ring_len(&w->held), tr_ring_len(&w->pend));
            w->reopen_logged_ns = now;
        }
        update_breaker(w);
        return;
    }
    w->tries = 0;
    w->st.failures++;
    w->st.state = WALOP_FAILED;
    w->failed_since_ns = now;
    w->reopen_backoff_ns = REOPEN_MIN_NS;
    w->reopen_at_ns = now;   /* first try at the next tick */
    w->reopen_logged_ns = 0;
    w->reopen_why[0] = 0;
    TR_ERROR("qos::wal", "%s: the log failed (%s): intake paused upstream; %zu held events and %zu "
             "records not yet durable are kept in memory; closing and reopening the log from disk",
             w->id, tr_strerror(rc), tr_ring_len(&w->held), tr_ring_len(&w->pend));
    update_breaker(w);
}

/* Too many copies of records not yet durable: half the bound. Those
 * durable and only waiting for a second sync do not count: that sync needs
 * new appends, so pausing for them could wait forever; they are at most
 * one group commit, made of copies under this test, so the other half. */
static bool pend_over(const struct walop *w) {
    uint64_t bytes = w->pend_bytes - w->pend_durable_bytes;
    if (w->broken) return bytes >= PEND_MAX_BYTES / 2;
    return bytes >= PEND_MAX_BYTES_FLOWING / 2 || w->pend_stored - w->pend_acked >= PEND_MAX_RECORDS_FLOWING;
}

/* Acks upstream for transactional inputs now durable; copies go once a
 * later sync succeeded too (see struct pend). */
static void release_durable(struct walop *w) {
    if (!w->pend_stored || w->wal_failed) return;
    uint64_t durable = tr_wal_durable_seq(w->wal);
    if (durable > w->seen_durable) {
        w->trusted = w->seen_durable;
        w->seen_durable = durable;
    }
    for (; w->pend_acked < w->pend_stored; w->pend_acked++) {
        struct pend *e = pend_at(w, w->pend_acked);
        if (e->seq > durable) break;
        w->pend_durable_bytes += e->len;
        if (e->transactional) {
            e->transactional = 0;
            struct tr_ids ids;
            bool had = tr_ring_pop(&w->pend_ids, &ids);   /* this entry's: the first transactional one left */
            assert(had);
            (void)had;
            if (!w->ack_delivered) {
                send_up(w, TR_CB_ACK, &ids);   /* takes the ids, leaves them empty */
            } else {
                struct upack u = {.seq = e->seq};
                tr_ids_move(&u.ids, &ids);
                if (tr_ring_push(&w->ups, &u) != 0) send_up(w, TR_CB_ACK, &u.ids);   /* no memory: ack now */
            }
            tr_ids_fini(&ids);
        }
    }
    while (w->pend_acked) {
        struct pend *e = pend_at(w, 0);
        if (e->seq > w->trusted) break;
        w->pend_stored--;
        w->pend_acked--;
        w->pend_bytes -= e->len;
        w->pend_durable_bytes -= e->len;
        tr_spool_release(&w->copies, e->len);
        tr_ring_pop(&w->pend, NULL);
    }
}

/* Append the copies the reopened log did not have, in order. Stops at the
 * first refusal (they stay first in line) or failure. */
static void drain_unstored(struct walop *w) {
    while (unstored(w) && !w->wal_failed) {
        struct pend *e = pend_at(w, w->pend_stored);
        uint64_t seq = 0;
        int rc = tr_wal_append(w->wal, e->data, e->len, &seq);
        if (rc == TR_EFULL || rc == TR_EDROPPED) return;   /* never dropped: it was taken before */
        if (rc) {
            report_failure(w, rc);
            return;
        }
        e->seq = seq;
        w->pend_stored++;
        w->appended = 1;
        w->st.reappended++;
    }
}

/* The kept events reach 1/div of their bounds, in number or in bytes. */
static bool hot_reaches(const struct walop *w, unsigned div) {
    return tr_ring_len(&w->hot) >= HOT_MAX / div || w->hot_bytes >= HOT_MAX_BYTES / div;
}

/* Record seq (len bytes) was just appended from ev: keep a copy of ev
 * (values are shared, not copied), within the bounds, unless downstream is
 * away (a backlog that waits for it holds no values in memory). Nothing is
 * lost when it is not kept: the read decodes it. */
static void keep_hot(struct walop *w, uint64_t seq, size_t len, const struct tr_event *ev) {
    /* downstream is away: nothing reads soon, keep no memory for it */
    if (w->broken || hot_reaches(w, 1) || w->hot_bytes + len > HOT_MAX_BYTES) return;
    /* built in its slot: a kept event is 160 bytes, one copy per event */
    struct hot *h = tr_ring_push_slot(&w->hot);
    if (!h) return;
    h->seq = seq;
    h->len = len;
    if (tr_event_copy(&h->ev, ev) != 0) {
        tr_event_fini(&h->ev);
        tr_ring_pop_back(&w->hot, NULL);
        return;
    }
    w->hot_bytes += len;
}

/* Take the oldest kept event into *out (NULL: it is dropped). */
static void hot_take(struct walop *w, struct tr_event *out) {
    struct hot *h = tr_ring_peek(&w->hot);
    if (!h) return;
    w->hot_bytes -= h->len;
    if (out) *out = h->ev;
    else tr_event_fini(&h->ev);
    tr_ring_pop(&w->hot, NULL);
}

/* Forget every kept event (the log is closed or reopened). */
static void drop_hot(struct walop *w) {
    while (tr_ring_len(&w->hot)) hot_take(w, NULL);
}

/* Is record seq, about to be read, kept? Kept ones below it are stale (it
 * was read without them, e.g. again after a rewind): they go. */
static bool hot_has(struct walop *w, uint64_t seq) {
    struct hot *h;
    while ((h = tr_ring_peek(&w->hot)) && h->seq < seq) hot_take(w, NULL);
    return h && h->seq == seq;
}

/* Append ev (not taken). 0, TR_EFULL (no room, or the log failed: keep it),
 * or another error (the event is refused: failed upstream if
 * transactional, counted). */
static int store(struct walop *w, struct tr_event *ev) {
    if (w->wal_failed || pend_over(w)) return TR_EFULL;
    int rc;
    uint64_t seq = 0;
    if (w->max_elements) {
        struct tr_wal_stats st;
        tr_wal_stats(w->wal, &st);
        if (records_full(w, &st)) {
            if (!w->drop_newest) return TR_EFULL;
            rc = TR_EDROPPED;
            goto not_stored;
        }
    }
    tr_buf_reset(&w->rec);
    rc = tr_event_encode(ev, &w->rec);
    if (rc == 0 && w->rec.len > w->cfg.max_record_bytes) {
        /* the log would refuse it (TR_ETOOBIG), and only after room for
         * its copy was made: up to a 16 MiB block, for nothing */
        rc = TR_ETOOBIG;
        goto not_stored;
    }
    if (rc) {
        w->rejected++;
        TR_WARN("qos::wal", "%s: cannot serialise an event (%s): refused (%llu so far)", w->id,
                tr_strerror(rc), (unsigned long long)w->rejected);
        goto refused;
    }
    /* room for the copy first: once appended the record must be recoverable */
    unsigned char *copy = tr_ring_reserve(&w->pend, 1) == 0 &&
                                  (!ev->transactional || tr_ring_reserve(&w->pend_ids, 1) == 0)
                              ? tr_spool_room(&w->copies, w->rec.len)
                              : NULL;
    if (!copy) return TR_EFULL;   /* out of memory: hold it and try again later */
    rc = tr_wal_append(w->wal, w->rec.data, w->rec.len, &seq);
    if (rc == 0) {
        w->appended = 1;
        memcpy(copy, w->rec.data, w->rec.len);
        tr_spool_commit(&w->copies, w->rec.len);
        keep_hot(w, seq, w->rec.len, ev);
        /* the log refuses records over max_record_bytes, so len fits */
        if (ev->transactional)   /* cannot fail: room reserved above */
            tr_ids_move(tr_ring_push_slot(&w->pend_ids), &ev->ids);
        /* cannot fail either; one per record: stored in place */
        *(struct pend *)tr_ring_push_slot(&w->pend) =
            (struct pend){.seq = seq, .data = copy, .len = (uint32_t)w->rec.len, .transactional = ev->transactional};
        w->pend_stored++;
        w->pend_bytes += w->rec.len;
        return 0;
    }
    if (rc == TR_EFULL) return rc;
not_stored:
    if (rc == TR_EDROPPED) {
        w->dropped++;
        if (w->dropped == 1 || w->dropped % 1000 == 0)
            TR_WARN("qos::wal", "%s: full, dropped the newest event (on_full = drop_newest; %llu "
                    "dropped so far)", w->id, (unsigned long long)w->dropped);
    } else if (rc == TR_ETOOBIG) {
        TR_WARN("qos::wal", "%s: refused an event of %zu bytes (limit %u)", w->id, w->rec.len,
                (unsigned)w->cfg.max_record_bytes);
    } else {
        report_failure(w, rc);   /* keep it: it is appended once the log is back */
        return TR_EFULL;
    }
refused:
    w->st.refused++;
    if (ev->transactional) {
        send_up(w, TR_CB_FAIL, &ev->ids);
    } else {
        w->st.lost++;
    }
    return rc;
}

/* Time upstream spent paused so far, the current pause included. */
static uint64_t paused_ns(const struct walop *w) {
    return w->st.paused_ns + (w->full ? uv_hrtime() - w->st.paused_at_ns : 0);
}

static void set_full(struct walop *w, int full, const char *why, bool routine) {
    /* Paused only for a group commit when the log reached its limits (or
     * the disk filled up, or the log failed): that is news too, and the
     * line that says so must not depend on which came first. */
    bool changed = full != w->full;
    if (!changed && !(full && w->full_routine && !routine)) return;
    w->full = full;
    if (!w->wal_failed) w->st.state = full ? WALOP_PAUSED : WALOP_RUNNING;
    struct tr_wal_stats st;
    tr_wal_stats(w->wal, &st);
    /* A pause that only waits for the next group commit is flow control,
     * many times a second under load: not worth a line each. */
    if (full) w->full_routine = routine;
    enum tr_log_level lvl = w->full_routine ? TR_LOG_DEBUG : TR_LOG_INFO;
    if (full)
        tr_log(lvl, "qos::wal", "%s: %s (%llu events, %llu bytes in the log, %zu held): %s", w->id, why,
               (unsigned long long)st.records, (unsigned long long)st.bytes, tr_ring_len(&w->held),
               changed ? "pausing upstream" : "upstream stays paused");
    else
        tr_log(lvl, "qos::wal", "%s: WAL not full any more: resuming upstream", w->id);
    if (changed) {
        /* what pausing costs the source, reported at shutdown */
        uint64_t now = uv_hrtime();
        if (full) {
            w->st.pauses++;
            w->st.pauses_routine += routine;
            w->st.paused_at_ns = now;
        } else {
            w->st.paused_ns += now - w->st.paused_at_ns;
        }
        send_up(w, full ? TR_CB_TRIGGER : TR_CB_RESTORE, NULL);
    }
}

/* Upstream is paused while anything waits for room, the log failed, or the
 * log is over its limits (unless drop_newest, which never pauses). */
static void update_breaker(struct walop *w) {
    struct tr_wal_stats st;
    tr_wal_stats(w->wal, &st);
    bool over = !w->drop_newest && over_limits(w);
    /* the lasting reason first: copies waiting for a sync are gone within
     * a group commit, a full log stays full until downstream acks */
    const char *why = w->wal_failed ? "the log failed"
                      : st.no_space ? "disk full"
                      : over ? "WAL full"
                      : pend_over(w) ? "too much not yet durable"
                                     : "WAL full";
    bool routine = !w->wal_failed && !st.no_space && !over && pend_over(w);
    set_full(w, w->wal_failed || tr_ring_len(&w->held) || unstored(w) || over, why, routine);
}

/* Move held events into the log while there is room. */
static void drain_held(struct walop *w) {
    drain_unstored(w);
    if (unstored(w)) return;   /* they go first */
    struct tr_event *ev;
    while ((ev = tr_ring_peek(&w->held))) {
        int rc = store(w, ev);
        if (rc == TR_EFULL) return;
        tr_event_fini(ev);
        tr_ring_pop(&w->held, NULL);
    }
}

static int hold(struct walop *w, struct tr_event *ev) {
    if (tr_ring_len(&w->held) == HELD_MAX) return TR_EFULL;
    return tr_ring_push(&w->held, ev);   /* moved (the caller forgets ev on 0) */
}

/* One read pass: emit up to read_count durable records, within the
 * in-flight window. Returns how many records it took from the log and
 * whether it stopped only for read_count (more may go at once). */
static uint64_t one_pass(struct walop *w, int *more, int *refused) {
    uint64_t room = window_left(w), n = 0;
    *more = 0;
    for (; n < w->read_count && !w->broken && !w->quiesced && !w->wal_failed; n++) {
        /* the byte bound is checked per record: one larger than it still goes */
        if (!room || w->out_bytes >= w->max_in_flight_bytes) return n;
        struct tr_wal_record r;
        /* the oldest kept event is most likely the next record: its bytes
         * are not checked, nor used (hot_take below) */
        const struct hot *kept = tr_ring_peek(&w->hot);
        int rc = tr_wal_read_held(w->wal, kept ? kept->seq : 0, &r);
        if (rc == -EAGAIN) return n;
        if (rc) {
            report_failure(w, rc);
            return n;
        }
        struct tr_event ev, orig;
        bool hot = hot_has(w, r.seq);
        if (!hot) w->decoded++;
        rc = hot ? 0 : tr_event_decode(r.data, r.len, &orig);
        if (rc) {
            /* Checksummed, so this is our own bug or an incompatible file:
             * count it, acknowledge it so it cannot wedge the log. */
            w->decode_errors++;
            TR_ERROR("qos::wal", "%s: record %llu cannot be decoded (%s): skipped (%llu so far)",
                     w->id, (unsigned long long)r.seq, tr_strerror(rc),
                     (unsigned long long)w->decode_errors);
            tr_wal_ack(w->wal, r.seq);
            continue;
        }
        if (fl_push(w, r.seq, r.len) != 0) {
            /* cannot account for it: give it back to the log, a later pass
             * takes it again */
            if (!hot) tr_event_fini(&orig);
            tr_wal_rewind(w->wal, r.seq);
            return n;
        }
        if (hot) hot_take(w, &orig);
        room--;
        ev = orig;
        tr_ids_init(&ev.ids, w->uid, w->epoch, r.seq);
        if (tr_ids_track(&ev.ids, &orig.ids) != 0)
            TR_WARN("qos::wal", "%s: out of memory tracking ids of record %llu", w->id,
                    (unsigned long long)r.seq);
        tr_ids_fini(&orig.ids);
        ev.transactional = true;
        w->emitted++;
        if (tr_op_emit(w->host, "out", &ev) == TR_EREFUSED) {
            /* its FAIL is queued and rewinds the reader to it: emitting
             * past it would only send what gets replayed after it */
            *refused = 1;
            w->refused = 1;
            return n + 1;
        }
    }
    *more = n == w->read_count && !w->broken && !w->quiesced && !w->wal_failed &&
            window_left(w) > 0 && w->out_bytes < w->max_in_flight_bytes;
    return n;
}

/* This loop turn's share is out: TURN_RECORDS records, or passes for
 * TURN_NS since the turn's first one. Not while the reader lags half the
 * kept events behind the appends: a source's read callback takes in up to
 * 32 socket buffers a turn, far more than a share, and every event that
 * no longer fits the kept bound must be decoded from its record later
 * (at full rate that was most of them); catching up costs nothing then. */
static int turn_spent(const struct walop *w) {
    int lagging = hot_reaches(w, 2);
    if (lagging) return w->turn_records >= HOT_MAX;   /* still bounded: a kept bound's worth */
    return w->turn_records >= TURN_RECORDS || uv_hrtime() - w->turn_t0 >= TURN_NS;
}

/* Emit what the window allows, read_count records per pass, passes back to
 * back. With a loop, passes stop once a turn's share (turn_spent) went
 * out and go on in the next loop turn, so the sinks write in between and
 * read_count bounds a pass, not the rate. An event refused at once ends
 * them: resending right away would only be refused again; the tick, a
 * restore or the next ack retries. Never nested: insights wait in the
 * deferred queue until the pass is over (op.h). */
static void read_pass(struct walop *w) {
    if (w->broken || w->quiesced || w->wal_failed || w->refused) return;
    int more = 0, refused = 0;
    int yield = w->defer && w->defer->loop;
    if (yield && !w->turn_t0) w->turn_t0 = uv_hrtime();
    for (;;) {
        if (yield && turn_spent(w)) {
            tr_defer_post_later(w->defer, &w->kick);
            break;
        }
        uint64_t n = one_pass(w, &more, &refused);
        w->turn_records += n;
        if (!more || n == 0 || refused) break;
    }
    if (tr_log_enabled(TR_LOG_DEBUG)) {
        struct tr_wal_stats st;
        tr_wal_stats(w->wal, &st);
        TR_DEBUG("qos::wal", "%s: read pass: frontier %llu read %llu durable %llu next %llu",
                 w->id, (unsigned long long)st.frontier, (unsigned long long)st.read_seq,
                 (unsigned long long)st.durable_seq, (unsigned long long)st.next_seq);
    }
}

/* Everything that may have changed: durability, room, window. */
static void progress(struct walop *w) {
    if (w->wal_failed) return;   /* the tick reopens */
    int rc = tr_wal_pump(w->wal);
    if (rc) {
        report_failure(w, rc);
        return;
    }
    release_durable(w);
    if (tr_ring_len(&w->held) || unstored(w)) drain_held(w);
    if (w->full) update_breaker(w);
    read_pass(w);
}

/* After a failure: close the log and open it again, which recovers it from
 * what is on disk (nothing is trusted from the page cache after a failed
 * fdatasync). Records it does not hold are appended again from the copies. */
static void try_reopen(struct walop *w) {
    uint64_t now = now_ns();
    if (!w->wal_failed || now < w->reopen_at_ns) return;
    w->st.reopen_attempts++;
    w->tries++;
    if (w->wal) {
        tr_wal_close(w->wal);   /* its error is the one already reported */
        w->wal = NULL;
    }
    drop_hot(w);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_wal_open(&w->cfg, &w->wal, &d);
    if (rc) {
        w->reopen_at_ns = now + w->reopen_backoff_ns;
        w->reopen_backoff_ns = w->reopen_backoff_ns * 2 > REOPEN_MAX_NS ? REOPEN_MAX_NS : w->reopen_backoff_ns * 2;
        char msg[1400];
        tr_diag_format(&d, msg, sizeof msg);
        const char *why = d.msg[0] ? msg : tr_strerror(rc);
        /* one line per 10 s, but a new reason at once: an operator fixing
         * the disk sees each step's effect (e.g. I/O error -> not mounted) */
        int changed = strncmp(why, w->reopen_why, sizeof w->reopen_why - 1) != 0;
        if (changed || !w->reopen_logged_ns || now - w->reopen_logged_ns >= LOG_EVERY_NS) {
            TR_WARN("qos::wal", "%s: reopening the log failed (%s): %llu attempts in %llu s; %zu held "
                    "events and %zu records not yet durable kept; retrying every %llu ms at most",
                    w->id, why, (unsigned long long)w->tries,
                    (unsigned long long)((now - w->failed_since_ns) / 1000000000ull), tr_ring_len(&w->held), tr_ring_len(&w->pend),
                    REOPEN_MAX_NS / 1000000ull);
            w->reopen_logged_ns = now;
            size_t n = strlen(why) < sizeof w->reopen_why - 1 ? strlen(why) : sizeof w->reopen_why - 1;
            memcpy(w->reopen_why, why, n);
            w->reopen_why[n] = 0;
        }
        return;
    }
    struct tr_wal_stats st;
    tr_wal_stats(w->wal, &st);
    uint64_t last = st.next_seq - 1;
    /* Every copy still here was never confirmed durable: after a failed
     * fdatasync the kernel may have dropped those pages while the file
     * still reads them back, so whether recovery found a record says
     * nothing. All go back in line; a record the disk did keep is then
     * delivered twice (bounded by the copies), never zero times. */
    for (size_t i = 0; i < w->pend_stored; i++) pend_at(w, i)->seq = 0;
    w->pend_stored = w->pend_acked = 0;
    w->pend_durable_bytes = 0;
    w->seen_durable = w->trusted = 0;   /* the reopened log's numbers */
    /* the reopened reader starts at the frontier: nothing is out */
    tr_ring_clear(&w->fl);
    w->out_n = w->out_bytes = w->rel_n = 0;
    tr_wal_ident(w->wal, &w->where);   /* the same log; maybe a new device number */
    w->wal_failed = 0;
    w->reopened = 1;
    w->st.reopens++;
    w->epoch++;   /* numbers handed out before may now name other records */
    w->st.state = w->full ? WALOP_PAUSED : WALOP_RUNNING;
    size_t again = unstored(w), held = tr_ring_len(&w->held);
    /* Nothing is emitted until what is re-appended is durable: a disk that
     * fails again fails here, before anything recovered goes out twice. */
    if (again || held) {
        drain_held(w);
        rc = w->wal_failed ? w->wal_failed : tr_wal_sync(w->wal);
        if (rc) {
            report_failure(w, rc);
            return;
        }
    }
    TR_INFO("qos::wal", "%s: log reopened after %llu attempts in %llu ms: %llu records to replay (seq "
            "%llu..%llu); appended again %zu records never confirmed durable, then %zu of %zu held events",
            w->id, (unsigned long long)w->tries,
            (unsigned long long)((now_ns() - w->failed_since_ns) / 1000000ull), (unsigned long long)st.records,
            (unsigned long long)(st.frontier + 1), (unsigned long long)last, again - unstored(w),
            held - tr_ring_len(&w->held), held);
    w->tries = 0;
    w->reopened = 0;
    progress(w);
}

/* ------------------------------------------------------------ the op */

static void on_notify(void *arg, uint64_t durable_seq) {   /* sync thread */
    (void)durable_seq;
    struct walop *w = arg;
    uv_async_send(&w->async);
}

static void on_async(uv_async_t *a) { progress(a->data); }

static void on_kick(struct tr_defer_node *n) {
    struct walop *w = (struct walop *)((char *)n - offsetof(struct walop, kick));
    progress(w);
}

/* Records become durable only once written: write what was appended, once
 * per loop turn (one write for the whole turn's events), so the sync thread
 * can cover it with its next fdatasync. */
static void flush_appended(struct walop *w) {
    if (!w->appended || !w->wal) return;
    w->appended = 0;
    int rc = tr_wal_flush(w->wal);
    if (rc) report_failure(w, rc);
}

static void on_turn(uv_prepare_t *p) {
    struct walop *w = p->data;
    w->turn_records = 0;   /* a new turn: a new share */
    w->turn_t0 = 0;
    flush_appended(w);
}

static void free_op(struct walop *w) {
    struct tr_event ev;
    while (tr_ring_pop(&w->held, &ev)) tr_event_fini(&ev);
    drop_hot(w);
    struct tr_ids ids;
    while (tr_ring_pop(&w->pend_ids, &ids)) tr_ids_fini(&ids);
    tr_ring_fini(&w->pend_ids);
    tr_spool_fini(&w->copies);
    struct upack u;
    while (tr_ring_pop(&w->ups, &u)) tr_ids_fini(&u.ids);
    tr_ring_fini(&w->ups);
    tr_ring_fini(&w->held);
    tr_ring_fini(&w->hot);
    tr_ring_fini(&w->pend);
    tr_ring_fini(&w->fl);
    tr_free(w->dir);
    tr_buf_fini(&w->rec);
    tr_free(w->id);
    tr_free(w);
}

static void handle_closed(uv_handle_t *h) {
    struct walop *w = h->data;
    if (--w->handles_open == 0) free_op(w);
}

/* Close the loop handles; the last close callback frees w (at once if none). */
static void close_op(struct walop *w) {
    if (w->defer) tr_defer_cancel(w->defer, &w->kick);
    if (w->turn_open) uv_close((uv_handle_t *)&w->turn, handle_closed);
    if (w->async_open) uv_close((uv_handle_t *)&w->async, handle_closed);
    if (!w->handles_open) free_op(w);
}

static int wal_create(const struct tr_op_spec *s, struct tr_op_host *host, void **self,
                      struct tr_diag *d) {
    struct wal_cfg c;
    int rc = tr_op_cfg_apply(s, wal_cmap, &c, d);
    if (rc) return rc;
    if (!c.has_elements && !c.has_bytes)
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                           "WAL operator needs at least one of `max_elements` or `max_bytes` "
                           "config entries.");
    uint64_t read_count = c.read_count, max_elements = c.max_elements, max_bytes = c.max_bytes;
    uint64_t window_bytes = c.max_in_flight_bytes;
    const char *dir = c.dir;
    struct tr_wal_config cfg;
    tr_wal_config_init(&cfg);
    static const enum tr_wal_sync_policy policies[] = {TR_WAL_SYNC_ALWAYS, TR_WAL_SYNC_INTERVAL, TR_WAL_SYNC_NONE};
    cfg.sync = policies[c.sync];
    /* flush_on_evnt asks for a sync per event: `always` gives that, grouped. */
    if (c.flush_on_evnt) cfg.sync = TR_WAL_SYNC_ALWAYS;
    cfg.on_full = c.on_full == 0 ? TR_WAL_ON_FULL_BLOCK : TR_WAL_ON_FULL_DROP_NEWEST;
    if (c.has_interval) cfg.sync_interval_ms = (uint32_t)c.sync_interval_ms;
    if (c.has_segment) cfg.segment_bytes = c.segment_bytes;
    cfg.spare_segments = (uint32_t)c.spare_segments;
    uint64_t window = c.has_in_flight ? (c.max_in_flight ? c.max_in_flight : 1) : WINDOW_RECORDS;
    /* room for released records on top (see records_full) */
    cfg.max_records = !max_elements ? 0 : max_elements > UINT64_MAX - window ? UINT64_MAX : max_elements + window;
    cfg.max_bytes = max_bytes;
    /* A record must fit the byte limit (the log refuses a smaller limit). */
    cfg.max_record_bytes = MAX_RECORD;
    if (max_bytes && max_bytes < (uint64_t)MAX_RECORD + 256) {
        if (max_bytes < 1024)
            return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                               "qos::wal operator '%s': `max_bytes` must be at least 1024", s->id);
        cfg.max_record_bytes = (uint32_t)(max_bytes - 256);
    }

    char path[PATH_MAX];
    if (dir) {
        snprintf(path, sizeof path, "%s", dir);
    } else {
        char pl[128], in[128], op[128];
        component(pl, sizeof pl, s->pipeline ? s->pipeline : "pipeline");
        component(in, sizeof in, s->instance ? s->instance : "01");
        component(op, sizeof op, s->id);
        snprintf(path, sizeof path, "%s/wal/%s/%s/%s", s->data_dir ? s->data_dir : "tremor-data",
                 pl, in, op);   /* created by tr_wal_open, through its I/O seam */
    }
    cfg.dir = path;

    struct walop *w = tr_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    tr_ring_init(&w->fl, sizeof(struct flight));
    tr_ring_init(&w->held, sizeof(struct tr_event));
    tr_ring_init(&w->hot, sizeof(struct hot));
    tr_ring_init(&w->pend, sizeof(struct pend));
    tr_ring_init(&w->pend_ids, sizeof(struct tr_ids));
    tr_spool_init(&w->copies);
    tr_ring_init(&w->ups, sizeof(struct upack));
    w->host = host;
    w->defer = host->defer;
    tr_defer_node_init(&w->kick, on_kick);
    w->uid = s->uid;
    w->id = tr_strdup(s->id);
    w->read_count = read_count;
    /* the window is independent of read_count (records per pass): by
     * default large enough never to be the limit on loopback */
    w->max_in_flight = window;
    w->max_in_flight_bytes = window_bytes ? window_bytes : WINDOW_BYTES;   /* 0: the default */
    w->max_elements = max_elements;
    w->max_bytes = max_bytes;
    w->drop_newest = cfg.on_full == TR_WAL_ON_FULL_DROP_NEWEST;
    w->ack_delivered = c.ack_upstream == 1;
    w->broken = 1;   /* as in Tremor: nothing is emitted until downstream restores */
    tr_buf_init(&w->rec);
    w->dir = tr_strdup(path);
    if (!w->id || !w->dir) {
        free_op(w);
        return -ENOMEM;
    }
    if (host->loop) {
        if ((rc = uv_async_init(host->loop, &w->async, on_async))) {
            free_op(w);
            return rc;
        }
        w->async.data = w;
        w->async_open = 1;
        w->handles_open++;
        if ((rc = uv_prepare_init(host->loop, &w->turn))) {
            close_op(w);
            return rc;
        }
        w->turn.data = w;
        w->turn_open = 1;
        w->handles_open++;
        uv_prepare_start(&w->turn, on_turn);
        uv_unref((uv_handle_t *)&w->turn);   /* it only follows the loop's other work */
        cfg.notify = on_notify;
        cfg.notify_arg = w;
    }
    w->cfg = cfg;
    w->cfg.dir = w->dir;   /* kept to reopen the log after a failure */
    struct tr_diag wd;
    tr_diag_clear(&wd);
    rc = tr_wal_open(&w->cfg, &w->wal, &wd);
    if (rc) {
        char msg[1400];
        tr_diag_format(&wd, msg, sizeof msg);
        tr_diag_set(d, rc, s->file, s->line, s->col, "qos::wal operator '%s': %s", s->id,
                    wd.msg[0] ? msg : tr_strerror(rc));
        close_op(w);
        return rc;
    }
    tr_wal_ident(w->wal, &w->where);
    w->cfg.expect = &w->where;
    struct tr_wal_stats st;
    tr_wal_stats(w->wal, &st);
    TR_INFO("qos::wal", "%s: opened %s: %llu events to replay (seq %llu..%llu)%s", w->id, path,
            (unsigned long long)st.records, (unsigned long long)(st.frontier + 1),
            (unsigned long long)(st.next_seq ? st.next_seq - 1 : 0),
            st.corrupt_records || st.torn_bytes ? "; damage was repaired, see above" : "");
    if (st.corrupt_records || st.torn_bytes)
        TR_WARN("qos::wal", "%s: recovery dropped %llu corrupt record(s) (%llu bytes) and a torn "
                "tail of %llu bytes", w->id, (unsigned long long)st.corrupt_records,
                (unsigned long long)st.corrupt_bytes, (unsigned long long)st.torn_bytes);
    *self = w;
    return 0;
}

static int wal_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct walop *w = self;
    int rc = 0;
    if (tr_ring_len(&w->held) || unstored(w)) drain_held(w);
    if (tr_ring_len(&w->held) == 0 && !unstored(w)) {
        rc = store(w, ev);
        if (rc != TR_EFULL) {
            /* Nothing to emit yet: the record becomes readable once durable,
             * and the WAL's notify (or the tick) runs progress() then. */
            tr_event_fini(ev);
            if (!w->turn_open) flush_appended(w);   /* no loop: no turn to wait for */
            return rc == TR_EDROPPED ? 0 : rc;
        }
    }
    /* No room (or the log failed): keep it in order behind the others and
     * ask upstream to pause. */
    rc = hold(w, ev);
    if (rc) {
        w->dropped++;
        w->st.refused++;
        if (!ev->transactional) w->st.lost++;
        tr_log_limited(&w->refuse_log, TR_LOG_ERROR, "qos::wal",
                       "%s: %s and %d events already waiting: event refused (%llu so far)%s", w->id,
                       w->wal_failed ? "the log failed" : "full", HELD_MAX, (unsigned long long)w->dropped,
                       ev->transactional ? "; failed upstream" : "; the source ignored backpressure");
        if (ev->transactional) {
            send_up(w, TR_CB_FAIL, &ev->ids);
        } else {
            /* Its source cannot replay it and ignored backpressure: going
             * on would lose more. Stop so that a supervisor restarts us. */
            char why[160];
            snprintf(why, sizeof why, "qos::wal %s: the log is %s, %d events wait in memory and the "
                     "source ignores backpressure", w->id, w->wal_failed ? "failing" : "full", HELD_MAX);
            tr_op_fatal(w->host, why);
        }
        tr_event_fini(ev);
    }
    update_breaker(w);
    return 0;
}

static void wal_tick(void *self, uint64_t tick_ns) {
    (void)tick_ns;
    struct walop *w = self;
    tr_log_limit_flush(&w->refuse_log);   /* a flood that stopped is still counted */
    try_reopen(w);   /* no-op unless the log failed and the backoff is due */
    if (!w->announced) {
        /* We take events whatever the state downstream (we buffer them), so
         * tell upstream once, e.g. a WAL before us that waits for a restore. */
        w->announced = 1;
        if (!w->full) send_up(w, TR_CB_RESTORE, NULL);
    }
    flush_appended(w);   /* without a loop this is the only other writer */
    /* A FAIL that went elsewhere must not hold us for good, but ours may
     * still be queued: the loop drains its queue between two ticks, so the
     * second tick after a refusal lets the passes go on. */
    if (w->refused && ++w->refused > 2) w->refused = 0;
    progress(w);
    /* under drop_newest a full log refuses and counts; it never pauses upstream */
    update_breaker(w);
}

static void ack_range(struct walop *w, uint64_t lo, uint64_t hi) {
    int rc = tr_wal_ack_range(w->wal, lo, hi);
    if (rc && rc != -EINVAL) report_failure(w, rc);
    if (!w->ack_delivered || !tr_ring_len(&w->ups)) return;
    /* ack_upstream = "delivered": records lo..hi reached downstream, so
     * their sources hear of it now. ups is in seq order: find lo. */
    size_t a = 0, b = tr_ring_len(&w->ups);
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (((struct upack *)tr_ring_at(&w->ups, m))->seq < lo) a = m + 1;
        else b = m;
    }
    for (size_t i = a; i < tr_ring_len(&w->ups); i++) {
        struct upack *u = tr_ring_at(&w->ups, i);
        if (u->seq > hi) break;
        if (u->done) continue;
        u->done = true;
        send_up(w, TR_CB_ACK, &u->ids);
    }
    struct upack u;
    while (tr_ring_len(&w->ups) && ((struct upack *)tr_ring_peek(&w->ups))->done) {
        tr_ring_pop(&w->ups, &u);
        tr_ids_fini(&u.ids);
    }
}

/* The records of ours an insight is about. Emitted events carry the log's
 * epoch as their stream: after a reopen the log may have lost records and
 * hand out their numbers again, so an answer about an event of an earlier
 * epoch must not touch the record that now has its number (acking it would
 * forget an event never delivered). 1: lo..hi of this epoch; 0: ours, an
 * earlier epoch (dropped; what the reopened log holds is replayed anyway);
 * -1: not ours. */
static int our_range(const struct walop *w, const struct tr_ids *ids, uint64_t *lo, uint64_t *hi) {
    if (tr_ids_range_for_stream(ids, w->uid, w->epoch, lo, hi) == 0) return 1;
    uint64_t any;
    if (tr_ids_min_for(ids, w->uid, &any) != 0) return -1;
    if (tr_ids_max_for(ids, w->uid, &any) != 0) return -1;
    return 0;
}

static void wal_contraflow(void *self, struct tr_insight *in) {
    struct walop *w = self;
    uint64_t lo = 0, hi = 0;
    int r;
    if (tr_log_enabled(TR_LOG_DEBUG)) {
        tr_ids_min_for(&in->ids, w->uid, &lo);
        tr_ids_max_for(&in->ids, w->uid, &hi);
        TR_DEBUG("qos::wal", "%s: %s %llu..%llu", w->id, tr_cb_name(in->cb),
                 (unsigned long long)lo, (unsigned long long)hi);
    }
    switch (in->cb) {
    case TR_CB_TRIGGER:
        w->broken = 1;
        in->cb = TR_CB_NONE;
        return;
    case TR_CB_RESTORE:
        w->broken = 0;
        w->refused = 0;
        in->cb = TR_CB_NONE;
        progress(w);
        return;
    case TR_CB_ACK:
        if ((r = our_range(w, &in->ids, &lo, &hi)) < 0) return;   /* not ours: pass it on */
        if (r == 0) {
            in->cb = TR_CB_NONE;
            return;
        }
        ack_range(w, lo, hi);
        fl_mark(w, lo, hi, FL_ACKED);
        in->cb = TR_CB_NONE;
        schedule(w);
        return;
    case TR_CB_RELEASE:
        /* the peer has them: out of the window, still in the log */
        if ((r = our_range(w, &in->ids, &lo, &hi)) < 0) return;
        if (r == 0) {
            in->cb = TR_CB_NONE;
            return;
        }
        fl_mark(w, lo, hi, FL_RELEASED);
        in->cb = TR_CB_NONE;
        schedule(w);
        return;
    case TR_CB_FAIL: {
        w->refused = 0;   /* the fail a refused emit was waiting for (or another) */
        if ((r = our_range(w, &in->ids, &lo, &hi)) < 0) return;
        if (r == 0) {   /* the reopened log replays everything unacknowledged anyway */
            in->cb = TR_CB_NONE;
            return;
        }
        if (tr_wal_rewind(w->wal, lo) != 0)
            TR_DEBUG("qos::wal", "%s: fail for record %llu that is not out", w->id,
                     (unsigned long long)lo);
        struct tr_wal_stats st;
        tr_wal_stats(w->wal, &st);
        fl_cut(w, st.read_seq);   /* released or not, they are read again */
        in->cb = TR_CB_NONE;
        return;   /* replay on the next pass: the tick or the next restore */
    }
    case TR_CB_NONE:
        return;
    }
}

static int wal_flush(void *self) {
    struct walop *w = self;
    uint64_t before = w->emitted;
    int rc = tr_wal_sync(w->wal);
    if (rc) {
        report_failure(w, rc);
        return 0;
    }
    for (;;) {   /* until nothing more goes out; its acks come after this returns (op.h) */
        uint64_t mark = w->emitted;
        progress(w);
        if (w->emitted == mark) break;
    }
    return (int)(w->emitted - before);
}

static void wal_quiesce(void *self) {
    struct walop *w = self;
    w->quiesced = 1;
}

/* What is still in memory at shutdown: write it if the log takes it, else
 * say what happens to each kind. A transactional event gets no ack and is
 * replayed by its source; anything else is lost and counted. */
static void wal_destroy(void *self) {
    struct walop *w = self;
    if (!w) return;
    w->quiesced = 1;   /* the graph is going away: write, emit nothing */
    if (w->wal_failed) {
        w->reopen_at_ns = 0;   /* one last reopen, to write what is held */
        try_reopen(w);
    }
    size_t held_before = tr_ring_len(&w->held) + unstored(w);
    if (!w->wal_failed && held_before) drain_held(w);
    int rc = w->wal_failed;
    if (!rc) rc = tr_wal_sync(w->wal);
    size_t left_tx = 0, left_other = 0;
    for (size_t i = 0; i < tr_ring_len(&w->held); i++)
        ((struct tr_event *)tr_ring_at(&w->held, i))->transactional ? left_tx++ : left_other++;
    /* with the log failed, no copy is known to be durable */
    for (size_t i = rc ? 0 : w->pend_stored; i < tr_ring_len(&w->pend); i++)
        pend_at(w, i)->transactional ? left_tx++ : left_other++;
    if (held_before > tr_ring_len(&w->held) + unstored(w))
        TR_INFO("qos::wal", "%s: at shutdown %zu events held in memory were written to the log", w->id,
                held_before - (tr_ring_len(&w->held) + unstored(w)));
    if (left_tx || left_other) {
        w->st.lost += left_other;
        TR_ERROR("qos::wal", "%s: at shutdown %zu events could not be written to the log (%s): %zu "
                 "transactional ones are not acknowledged (their source replays them), %zu others are "
                 "lost", w->id, left_tx + left_other,
                 rc ? tr_strerror(rc) : "no room", left_tx, left_other);
    }
    if (!rc) {   /* what durability cost this run, as the offramps' ack_report does */
        struct tr_buf rep;
        tr_buf_init(&rep);
        if (tr_wal_durable_report(w->wal, &rep) == 0 && rep.len)
            TR_INFO("qos::wal", "%s: %.*s", w->id, (int)rep.len, rep.data);
        tr_buf_fini(&rep);
    }
    if (w->emitted)
        TR_INFO("qos::wal", "%s: emitted %llu events, %llu of them decoded from their records", w->id,
                (unsigned long long)w->emitted, (unsigned long long)w->decoded);
    if (w->st.pauses)
        TR_INFO("qos::wal", "%s: paused upstream %llu times (%llu of them only until a group commit), "
                "%.1f ms in all", w->id, (unsigned long long)w->st.pauses,
                (unsigned long long)w->st.pauses_routine,
                (double)paused_ns(w) / 1e6);
    int crc = tr_wal_close(w->wal);   /* final sync and checkpoint */
    w->wal = NULL;
    if (crc && !rc) TR_ERROR("qos::wal", "%s: closing the log: %s", w->id, tr_strerror(crc));
    close_op(w);
}

static int put_n(tr_value *r, const char *k, uint64_t n, int rc) {
    return rc ? rc : tr_rec_set(r, k, strlen(k), tr_v_uint(n));
}

/* The log's depth, durability lag, syncs and the append -> durable
 * latency, plus this operator's own counters. */
static int wal_stats(void *self, tr_value *out) {
    struct walop *w = self;
    tr_value r, lat = tr_v_null();
    int rc = tr_v_rec(22, &r);
    if (rc) return rc;
    struct tr_wal_stats st;
    memset(&st, 0, sizeof st);
    if (w->wal) tr_wal_stats(w->wal, &st);
    uint64_t appended = st.next_seq ? st.next_seq - 1 : 0;
    rc = put_n(&r, "records", st.records, rc);
    rc = put_n(&r, "bytes", st.bytes, rc);
    rc = put_n(&r, "segments", st.segments, rc);
    /* appended but not yet durable: what a crash now would have to redo */
    rc = put_n(&r, "durable_lag_records", appended > st.durable_seq ? appended - st.durable_seq : 0, rc);
    rc = put_n(&r, "fdatasyncs", st.syncs, rc);
    rc = put_n(&r, "dir_syncs", st.dir_syncs, rc);
    rc = put_n(&r, "recycled", st.recycled, rc);   /* segments made of a kept file */
    rc = put_n(&r, "spares", st.spares, rc);       /* kept files waiting for reuse */
    rc = put_n(&r, "dropped", st.dropped + w->dropped, rc);
    rc = put_n(&r, "refused_full", st.refused_full, rc);
    rc = put_n(&r, "corrupt_records", st.corrupt_records, rc);
    rc = put_n(&r, "emitted", w->emitted, rc);
    rc = put_n(&r, "decoded", w->decoded, rc);
    rc = put_n(&r, "in_flight", w->out_n, rc);
    rc = put_n(&r, "failures", w->st.failures, rc);
    rc = put_n(&r, "reopens", w->st.reopens, rc);
    rc = put_n(&r, "refused", w->st.refused, rc);
    rc = put_n(&r, "lost", w->st.lost, rc);
    rc = put_n(&r, "pauses", w->st.pauses, rc);
    rc = put_n(&r, "paused_ms", paused_ns(w) / 1000000, rc);
    rc = put_n(&r, "failed", w->wal_failed != 0 || !w->wal, rc);
    const struct tr_hist *h = w->wal ? tr_wal_durable_hist(w->wal) : NULL;
    if (!rc && h) {
        rc = tr_v_rec(6, &lat);
        rc = put_n(&lat, "count", tr_hist_count(h), rc);
        rc = put_n(&lat, "sum_ns", (uint64_t)(tr_hist_mean(h) * (double)tr_hist_count(h)), rc);
        rc = put_n(&lat, "p50_ns", tr_hist_value_at(h, 0.5), rc);
        rc = put_n(&lat, "p90_ns", tr_hist_value_at(h, 0.9), rc);
        rc = put_n(&lat, "p99_ns", tr_hist_value_at(h, 0.99), rc);
        rc = put_n(&lat, "p999_ns", tr_hist_value_at(h, 0.999), rc);
        if (!rc) rc = tr_rec_set(&r, "durable_latency", 15, lat), lat = tr_v_null();
    }
    tr_value_unref(lat);
    if (rc) {
        tr_value_unref(r);
        return rc;
    }
    *out = r;
    return 0;
}

const struct tr_op_ops tr_op_qos_wal = {
    .stats = wal_stats,
    .kind = "qos::wal",
    .create = wal_create,
    .event = wal_event,
    .tick = wal_tick,
    .contraflow = wal_contraflow,
    .release = true,
    .range_acks = true,
    .takes_raw = true,
    .cmap = wal_cmap,
    .quiesce = wal_quiesce,
    .flush = wal_flush,
    .destroy = wal_destroy,
};
