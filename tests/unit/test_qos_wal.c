/* test_qos_wal.c - the qos::wal operator against a fake pipeline host.
 *
 * The host records what the operator emits and which insights it sends
 * upstream. Progress is driven by the operator's tick (no loop here), and
 * every wait is for a condition, bounded by a generous number of ticks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"
#include "ops/op.h"

extern const struct tr_op_ops tr_op_qos_wal;

#define UID 777
#define MAXE 4096

struct fake {
    struct tr_op_host base;
    struct tr_event out[MAXE];
    int nout;
    enum tr_cb ups[MAXE];
    uint64_t up_ids[MAXE];
    int nups;
    int nfatal;
    char fatal_why[256];
};

static int fake_emit(struct tr_op_host *h, const char *port, struct tr_event *ev) {
    struct fake *f = (struct fake *)h;
    assert_string_equal(port, "out");
    assert_true(f->nout < MAXE);
    f->out[f->nout++] = *ev;
    return 0;
}

static void fake_insight(struct tr_op_host *h, struct tr_insight *in) {
    struct fake *f = (struct fake *)h;
    assert_true(f->nups < MAXE);
    f->ups[f->nups] = in->cb;
    f->up_ids[f->nups] = in->ids.id.event;
    f->nups++;
    tr_insight_fini(in);
}

static void fake_fatal(struct tr_op_host *h, const char *why) {
    struct fake *f = (struct fake *)h;
    f->nfatal++;
    snprintf(f->fatal_why, sizeof f->fatal_why, "%s", why);
}

static const struct tr_op_host_ops fake_ops = {fake_emit, fake_insight, fake_fatal};

static void fake_init(struct fake *f) {
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
}

static void fake_reset(struct fake *f) {
    for (int i = 0; i < f->nout; i++) tr_event_fini(&f->out[i]);
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
}

static char tmpdir[64];

/* The disk, as the WAL's plain POSIX I/O sees it: these definitions take the
 * place of libc's in this program, so faults reach the real code path.
 * disk_room > 0: a segment file can be created only while fewer than
 * disk_room exist (a small file system); sync_eio / write_eio: fdatasync /
 * pwrite fail with EIO (a failing disk). */
static atomic_int disk_room, sync_eio, write_eio, nospace_calls, deny_create;
/* sync_lie: the next fdatasync reports success but the bytes written since
 * the last one are not kept (zeroed), and every later one fails: a file
 * system going down under a sync in flight (ext4 shut down while the
 * written extents were still being converted). */
static atomic_int sync_lie;
static int64_t dirty_lo[1024];   /* per fd: lowest offset written since its last fdatasync, -1 none */
static int64_t dirty_hi[1024];
/* the owner thread writes (pwrite) while the WAL's sync thread syncs */
static pthread_mutex_t dirty_mu = PTHREAD_MUTEX_INITIALIZER;

static int wal_files(void) {
    char p[128];
    snprintf(p, sizeof p, "%s/wal", tmpdir);
    DIR *d = opendir(p);
    int n = 0;
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wal")) n++;
    closedir(d);
    return n;
}

int fallocate(int fd, int mode, off_t off, off_t len) {
    int room = atomic_load(&disk_room);
    if (room && wal_files() > room) {   /* the new file counts itself */
        atomic_fetch_add(&nospace_calls, 1);
        errno = ENOSPC;
        return -1;
    }
    return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

/* sync_hold: fdatasync waits until it is cleared (a slow disk), counting
 * the callers held in sync_waiting. */
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static int sync_hold;
static atomic_int sync_waiting;

static void hold_syncs(int on) {
    pthread_mutex_lock(&sync_mu);
    sync_hold = on;
    if (!on) pthread_cond_broadcast(&sync_cv);
    pthread_mutex_unlock(&sync_mu);
}

int fdatasync(int fd) {
    pthread_mutex_lock(&sync_mu);
    if (sync_hold) {
        atomic_fetch_add(&sync_waiting, 1);
        while (sync_hold) pthread_cond_wait(&sync_cv, &sync_mu);
    }
    pthread_mutex_unlock(&sync_mu);
    if (atomic_load(&sync_eio)) {
        errno = EIO;
        return -1;
    }
    int rc = (int)syscall(SYS_fdatasync, fd);
    pthread_mutex_lock(&dirty_mu);
    if (fd >= 0 && fd < 1024 && dirty_lo[fd] >= 0 && atomic_exchange(&sync_lie, 0)) {
        static const char zeros[4096];
        for (int64_t o = dirty_lo[fd]; o < dirty_hi[fd]; o += (int64_t)sizeof zeros) {
            size_t n = dirty_hi[fd] - o < (int64_t)sizeof zeros ? (size_t)(dirty_hi[fd] - o) : sizeof zeros;
            (void)syscall(SYS_pwrite64, fd, zeros, n, o);
        }
        atomic_store(&sync_eio, 1);
    }
    if (fd >= 0 && fd < 1024) dirty_lo[fd] = -1;
    pthread_mutex_unlock(&dirty_mu);
    return rc;
}

/* deny_create: creating a segment file fails with EACCES (the directory
 * became unwritable: root ignores permission bits, so it is done here). */
int open(const char *path, int flags, ...) {
    int mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    if (atomic_load(&deny_create) && (flags & O_CREAT) && strstr(path, ".wal")) {
        errno = EACCES;
        return -1;
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    if (atomic_load(&write_eio)) {
        errno = EIO;
        return -1;
    }
    ssize_t r = (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
    if (r > 0 && fd >= 0 && fd < 1024) {
        pthread_mutex_lock(&dirty_mu);
        if (dirty_lo[fd] < 0 || off < dirty_lo[fd]) dirty_lo[fd] = off;
        if (off + r > dirty_hi[fd] || dirty_lo[fd] == off) dirty_hi[fd] = off + r;
        pthread_mutex_unlock(&dirty_mu);
    }
    return r;
}

static int setup(void **state) {
    (void)state;
    atomic_store(&disk_room, 0);
    atomic_store(&sync_eio, 0);
    atomic_store(&write_eio, 0);
    atomic_store(&deny_create, 0);
    atomic_store(&sync_lie, 0);
    for (int i = 0; i < 1024; i++) dirty_lo[i] = dirty_hi[i] = -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tr_qoswal_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* params "k=v,k=v" with integer or string values */
static tr_value params(const char *spec) {
    tr_value rec;
    assert_int_equal(tr_v_rec(0, &rec), 0);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        const char *v = eq + 1;
        tr_value val;
        if (v[0] == '"') {
            assert_int_equal(tr_v_str(v + 1, strlen(v) - 2, &val), 0);
        } else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
            val = tr_v_bool(v[0] == 't');
        } else {
            val = tr_v_int(atoll(v));
        }
        assert_int_equal(tr_rec_set(&rec, tok, strlen(tok), val), 0);
    }
    return rec;
}

static int create(struct fake *f, const char *spec, void **op, struct tr_diag *d) {
    char full[600];
    snprintf(full, sizeof full, "dir=\"%s/wal\"%s%s", tmpdir, spec[0] ? "," : "", spec);
    tr_value p = params(full);
    struct tr_op_spec s = {.id = "w", .kind = "qos::wal", .params = &p, .uid = UID,
                           .pipeline = "p", .instance = "01", .data_dir = tmpdir,
                           .file = "q.trickle", .line = 3, .col = 1};
    tr_diag_clear(d);
    int rc = tr_op_qos_wal.create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

/* A fresh fake host and an operator on it made from spec, which must be
 * valid (a test of bad specs calls create itself). */
static void *start_op(struct fake *f, const char *spec) {
    fake_init(f);
    void *op;
    struct tr_diag d = {0};
    int rc = create(f, spec, &op, &d);
    if (rc) fail_msg("create(%s): %d %s", spec, rc, d.msg);
    return op;
}

static int create_plain(const char *spec, struct tr_diag *d) {
    struct fake f;
    memset(&f, 0, sizeof f);
    f.base.ops = &fake_ops;
    tr_value p = params(spec);
    struct tr_op_spec s = {.id = "w", .kind = "qos::wal", .params = &p, .uid = UID,
                           .pipeline = "p", .instance = "01", .data_dir = tmpdir,
                           .file = "q.trickle", .line = 3, .col = 1};
    void *op = NULL;
    tr_diag_clear(d);
    int rc = tr_op_qos_wal.create(&s, &f.base, &op, d);
    tr_value_unref(p);
    if (rc == 0) tr_op_qos_wal.destroy(op);
    return rc;
}

static void push(void *op, uint64_t id, bool transactional) {
    tr_value v;
    assert_int_equal(tr_v_rec(1, &v), 0);
    assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_uint(id)), 0);
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 1000 + id), 0);
    tr_ids_init(&ev.ids, 1, 0, id);
    ev.transactional = transactional;
    int rc = tr_op_qos_wal.event(op, "in", &ev);
    assert_true(rc == 0);
}

/* An event {"id": id, "pad": "xxx..."} whose pad is len bytes. */
static void make_big(struct tr_event *ev, uint64_t id, size_t len, bool transactional) {
    tr_value v, pad;
    char *p = malloc(len);
    assert_non_null(p);
    memset(p, 'x', len);
    assert_int_equal(tr_v_rec(2, &v), 0);
    assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_uint(id)), 0);
    assert_int_equal(tr_v_str(p, len, &pad), 0);
    assert_int_equal(tr_rec_set(&v, "pad", 3, pad), 0);
    free(p);
    assert_int_equal(tr_event_init(ev, v, tr_v_null(), 1000 + id), 0);
    tr_ids_init(&ev->ids, 1, 0, id);
    ev->transactional = transactional;
}

static void push_big(void *op, uint64_t id, size_t len) {
    struct tr_event ev;
    make_big(&ev, id, len, false);
    assert_int_equal(tr_op_qos_wal.event(op, "in", &ev), 0);
}

static void cf(void *op, enum tr_cb cb, uint64_t seq) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, UID, 0, seq);
    tr_op_qos_wal.contraflow(op, &in);
    assert_int_equal(in.cb, TR_CB_NONE);  /* the WAL absorbs what is meant for it */
    tr_insight_fini(&in);
}

/* Tick until cond holds; at most ~20 s of ticks. */
#define TICK_UNTIL(op, cond)                                  \
    do {                                                      \
        for (int i_ = 0; i_ < 200000 && !(cond); i_++) {      \
            tr_op_qos_wal.tick(op, 0);                        \
            if (!(cond)) usleep(100);                         \
        }                                                     \
        assert_true(cond);                                    \
    } while (0)

static uint64_t out_id(struct fake *f, int i) {
    return (uint64_t)tr_rec_get_cstr(&f->out[i].value, "id")->as.i;
}

static uint64_t out_seq(struct fake *f, int i) { return f->out[i].ids.id.event; }

static void config_errors_name_the_problem(void **state) {
    (void)state;
    struct tr_diag d;
    assert_int_equal(create_plain("max_elements=10", &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "read_count"));
    assert_int_equal(create_plain("read_count=10", &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg,
        "WAL operator needs at least one of `max_elements` or `max_bytes` config entries.");
    assert_int_equal(create_plain("read_count=1,max_bytes=10,colour=\"red\"", &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "`colour`"));
    assert_int_equal(create_plain("read_count=1,max_bytes=10,sync=\"sometimes\"", &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "sometimes"));
    assert_int_equal(d.line, 3);
}

/* The config map: types, ranges and enum values are checked as for every
 * other operator, with the key named; the old readers let a string read_count
 * through as "missing", and sync_interval_ms = 0 only under a special case. */
static void config_map_types_and_ranges(void **state) {
    (void)state;
    static const struct {
        const char *spec, *want1, *want2;
    } bad[] = {
        {"read_count=\"ten\",max_bytes=4096", "`read_count`", "invalid type"},
        {"read_count=0,max_bytes=4096", "read_count", NULL},
        {"read_count=1,max_bytes=4096,sync_interval_ms=0", "sync_interval_ms", NULL},
        {"read_count=1,max_bytes=4096,on_full=\"drop_oldest\"", "drop_oldest", NULL},
        {"read_count=1,max_bytes=4096,flush_on_evnt=1", "flush_on_evnt", NULL},
        {"read_count=1,max_bytes=4096,max_in_flight=-1", "max_in_flight", NULL},
        {"read_count=1,max_bytes=100", "at least 1024", NULL},
        {"read_count=1,max_bytes=4096,spare_segments=65", "spare_segments", NULL},
    };
    struct tr_diag d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(create_plain(bad[i].spec, &d), TR_EINVAL_CFG);
        if (!strstr(d.msg, bad[i].want1) || (bad[i].want2 && !strstr(d.msg, bad[i].want2)))
            fail_msg("%s: got '%s'", bad[i].spec, d.msg);
    }
    assert_int_equal(create_plain("read_count=1,max_elements=0,sync=\"none\",on_full=\"drop_newest\","
                                  "max_in_flight=0,flush_on_evnt=true", &d), 0);
    assert_int_equal(create_plain("read_count=1,max_bytes=4096,spare_segments=0", &d), 0);
}

static void emits_only_after_restore_in_order(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=100");
    for (uint64_t i = 0; i < 5; i++) push(op, i, false);
    for (int i = 0; i < 50; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 0);   /* starts paused until downstream restores */
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out_id(&f, i), i);
        assert_true(f.out[i].transactional);
        assert_int_equal(f.out[i].ids.id.source, UID);
        uint64_t orig;
        assert_int_equal(tr_ids_max_for(&f.out[i].ids, 1, &orig), 0);  /* tracks the original */
        assert_int_equal(orig, i);
        assert_int_equal(f.out[i].ingest_ns, 1000 + i);
    }
    /* non-transactional input: no acks upstream, only the one-time
     * announcement that the WAL takes events */
    assert_int_equal(f.nups, 1);
    assert_int_equal(f.ups[0], TR_CB_RESTORE);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void read_count_and_window_bound_emission(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=3,max_elements=100,max_in_flight=4");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 10; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 4);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 4);   /* window full: nothing more until acks */
    cf(op, TR_CB_ACK, out_seq(&f, 0));
    TICK_UNTIL(op, f.nout == 5);
    for (int i = 1; i < 5; i++) cf(op, TR_CB_ACK, out_seq(&f, i));
    TICK_UNTIL(op, f.nout == 9);
    for (int i = 0; i < 9; i++) assert_int_equal(out_id(&f, i), i);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void fail_replays_from_the_failed_event(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=100");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 6; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 6);
    cf(op, TR_CB_ACK, out_seq(&f, 0));
    cf(op, TR_CB_ACK, out_seq(&f, 1));
    cf(op, TR_CB_TRIGGER, 0);      /* the sink went away ... */
    cf(op, TR_CB_FAIL, out_seq(&f, 2));
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 6);   /* ... nothing while it is away */
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 10);
    for (int i = 6; i < 10; i++) assert_int_equal(out_id(&f, i), i - 4);  /* 2,3,4,5 again */
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void full_log_triggers_upstream_and_restores(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=3");
    for (uint64_t i = 0; i < 5; i++) push(op, i, false);
    assert_int_equal(f.nups, 1);
    assert_int_equal(f.ups[0], TR_CB_TRIGGER);
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 3);
    for (int i = 0; i < 3; i++) cf(op, TR_CB_ACK, out_seq(&f, i));
    TICK_UNTIL(op, f.nout == 5);   /* the two held events, in order */
    for (int i = 0; i < 5; i++) assert_int_equal(out_id(&f, i), i);
    cf(op, TR_CB_ACK, out_seq(&f, 3));
    cf(op, TR_CB_ACK, out_seq(&f, 4));
    TICK_UNTIL(op, f.nups == 2);
    assert_int_equal(f.ups[1], TR_CB_RESTORE);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void drop_newest_counts_instead(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(create(&f, "read_count=20,max_elements=3,on_full=\"drop_newest\"", &op, &d), 0);
    for (uint64_t i = 0; i < 5; i++) push(op, i, true);
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 3);
    for (int i = 0; i < 30; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 3);
    /* transactional inputs: the two refused are failed, the three stored acked once durable */
    int acks = 0, fails = 0;
    for (int i = 0; i < f.nups; i++) {
        acks += f.ups[i] == TR_CB_ACK;
        fails += f.ups[i] == TR_CB_FAIL;
        assert_true(f.ups[i] != TR_CB_TRIGGER);
    }
    assert_int_equal(acks, 3);
    assert_int_equal(fails, 2);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void restart_replays_unacked_then_new(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(create(&f, "read_count=20,max_elements=100", &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 6; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 6);
    for (int i = 0; i < 3; i++) cf(op, TR_CB_ACK, out_seq(&f, i));
    uint64_t last_seq = out_seq(&f, 5);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);

    assert_int_equal(create(&f, "read_count=20,max_elements=100", &op, &d), 0);
    push(op, 100, false);
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 4);
    assert_int_equal(out_id(&f, 0), 3);
    assert_int_equal(out_id(&f, 1), 4);
    assert_int_equal(out_id(&f, 2), 5);
    assert_int_equal(out_id(&f, 3), 100);
    assert_true(out_seq(&f, 3) > last_seq);   /* numbering continues */
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static int count_ups(struct fake *f, enum tr_cb cb) {
    int n = 0;
    for (int i = 0; i < f->nups; i++) n += f->ups[i] == cb;
    return n;
}

/* Ack everything emitted from index *acked on; returns how many were acked. */
/* An insight about emitted event i, with that event's own id (its stream
 * is the log's epoch). */
static void cf_out(void *op, struct fake *f, enum tr_cb cb, int i) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, UID, f->out[i].ids.id.stream, out_seq(f, i));
    tr_op_qos_wal.contraflow(op, &in);
    assert_int_equal(in.cb, TR_CB_NONE);
    tr_insight_fini(&in);
}

static int ack_emitted(void *op, struct fake *f, int *acked) {
    int n = 0;
    for (; *acked < f->nout; (*acked)++, n++) cf_out(op, f, TR_CB_ACK, *acked);
    return n;
}

static uint64_t stat_of(void *op, const char *k);

/* With the disk slow (syncs held), push records with pad bytes of padding
 * until upstream is paused: that must happen after lo..hi records. Then the
 * group commit resumes it and (when they fit the fake's MAXE outputs) every
 * record is delivered in order. */
static void copies_bound_pauses(bool downstream_there, size_t pad, uint64_t lo, uint64_t hi) {
    struct fake f;
    /* at most 1000 out unacknowledged: within the fake's outputs */
    void *op = start_op(&f, "read_count=20,max_elements=100000,max_in_flight=1000");
    if (downstream_there) cf(op, TR_CB_RESTORE, 0);
    hold_syncs(1);
    uint64_t n = 0;
    while (f.nups == 0 && n < 20000) push_big(op, n++, pad);
    hold_syncs(0);
    assert_int_equal(f.nups, 1);
    assert_int_equal(f.ups[0], TR_CB_TRIGGER);
    if (n < lo || n > hi) fail_msg("paused after %llu records of %zu bytes", (unsigned long long)n, pad);
    assert_int_equal(stat_of(op, "pauses"), 1);   /* counted (a metric) */
    TICK_UNTIL(op, f.nups == 2);
    assert_int_equal(f.ups[1], TR_CB_RESTORE);
    assert_int_equal(stat_of(op, "pauses"), 1);
    int acked = 0;
    if (!downstream_there) cf(op, TR_CB_RESTORE, 0);   /* downstream is there now: deliver */
    if (n < MAXE) {
        TICK_UNTIL(op, (ack_emitted(op, &f, &acked), (uint64_t)f.nout == n));
        for (int i = 0; i < f.nout; i++) assert_int_equal(out_id(&f, i), i);
    }
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* While the disk is slow, the copies kept of records not yet durable are
 * bounded (512 KiB, half of all copies kept, while downstream is away):
 * upstream is paused at the bound, not after tens of megabytes, and resumed
 * once the group commit is done. 512 KiB of 10 KB records, and the one that
 * passed the bound. */
static void not_yet_durable_copies_are_bounded(void **state) {
    (void)state;
    copies_bound_pauses(false, 10000, 1, 56);
}

/* While downstream takes events, the bound is four times that (2 MiB not
 * yet durable): a pause then stops the relay's source for a whole sync, and
 * one loop turn's read can be a burst. Still bounded, in bytes and in
 * records (16384: they are in flight upstream too, where sources count
 * them): 16384 small records and the one that passed the bound. */
static void not_yet_durable_copies_bound_is_larger_while_downstream_takes_events(void **state) {
    (void)state;
    copies_bound_pauses(true, 10000, 200, 215);
    copies_bound_pauses(true, 10, 16385, 16392);
}

static void keep_full_line(const char *line, void *arg) {
    if (strstr(line, "WAL full (")) snprintf(arg, 256, "%s", line);
}

/* Paused only for a group commit (routine, not logged), then the log
 * reaches max_elements while still paused: that is logged like any
 * other time the log fills up, and upstream stays paused. */
static void full_during_a_routine_pause_is_logged(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=60");
    char last[256] = "";
    tr_log_set_writer(keep_full_line, last);
    hold_syncs(1);
    uint64_t n = 0;
    while (f.nups == 0 && n < 2000) push_big(op, n++, 10000);
    assert_int_equal(f.ups[0], TR_CB_TRIGGER);
    if (n >= 60) fail_msg("the copies' bound paused only after %llu records", (unsigned long long)n);
    while (n < 70) push_big(op, n++, 10000);   /* already on their way: held */
    hold_syncs(0);
    TICK_UNTIL(op, last[0] != 0);
    tr_log_set_writer(NULL, NULL);
    if (!strstr(last, "WAL full (60 events")) fail_msg("logged: '%s'", last);
    assert_int_equal(count_ups(&f, TR_CB_RESTORE), 0);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* A disk with room for one segment: the second cannot be created. Upstream
 * is paused, the log is not retried on every tick (no spinning), stored
 * events are still delivered, and once they are acknowledged the current
 * segment is reclaimed, the held events go in and upstream is restored:
 * every event once, in order. */
static void full_disk_pauses_delivers_reclaims_and_resumes(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    atomic_store(&disk_room, 1);
    assert_int_equal(create(&f, "read_count=50,max_elements=100000,max_bytes=20000,segment_bytes=19900,"
                                "sync=\"none\"", &op, &d), 0);
    tr_op_qos_wal.tick(op, 0);   /* the one-time announcement */
    int base_ups = f.nups;
    uint64_t n = 0;
    while (count_ups(&f, TR_CB_TRIGGER) == 0 && n < 2000) push(op, n++, false);
    assert_int_equal(count_ups(&f, TR_CB_TRIGGER), 1);
    assert_true(atomic_load(&nospace_calls) >= 1);   /* paused by the disk, not by the limits */
    assert_int_equal(wal_files(), 1);
    for (int i = 0; i < 10; i++) push(op, n++, false);   /* already on their way: held */
    /* the sink is away: ticks retry the disk with backoff, not each time */
    int calls = atomic_load(&nospace_calls);
    for (int i = 0; i < 200; i++) {
        tr_op_qos_wal.tick(op, 0);
        usleep(100);
    }
    assert_true(atomic_load(&nospace_calls) - calls < 10);   /* before: one per tick */
    assert_int_equal(f.nout, 0);
    /* the sink comes back: deliver, ack, reclaim, resume */
    cf(op, TR_CB_RESTORE, 0);
    int acked = 0;
    for (int i = 0; i < 100000 && (f.nout < (int)n || count_ups(&f, TR_CB_RESTORE) < 1 + (base_ups > 0));
         i++) {
        tr_op_qos_wal.tick(op, 0);
        if (!ack_emitted(op, &f, &acked)) usleep(100);
    }
    assert_int_equal(f.nout, (int)n);
    for (int i = 0; i < (int)n; i++) assert_int_equal(out_id(&f, i), i);
    assert_int_equal(count_ups(&f, TR_CB_TRIGGER), 1);
    assert_int_equal(f.ups[f.nups - 1], TR_CB_RESTORE);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* Transactional and other inputs mixed: once durable, exactly the
 * transactional ones are acknowledged upstream, each with its own ids, in
 * the order they came (their ids wait in a ring of their own beside the
 * copies, matched by order). Before the durable sync, nothing. */
static void mixed_inputs_ack_their_own_ids(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000");
    cf(op, TR_CB_RESTORE, 0);
    int want = 0;
    uint64_t ids[60];
    for (uint64_t i = 0; i < 60; i++) {
        bool tx = i % 3 != 0 && i != 31;
        if (tx) ids[want++] = i;
        push(op, i, tx);
    }
    TICK_UNTIL(op, count_ups(&f, TR_CB_ACK) == want);
    for (int i = 0; i < 200; i++) tr_op_qos_wal.tick(op, 0);   /* nothing more comes */
    assert_int_equal(count_ups(&f, TR_CB_ACK), want);
    assert_int_equal(count_ups(&f, TR_CB_FAIL), 0);
    int k = 0;
    for (int i = 0; i < f.nups; i++)
        if (f.ups[i] == TR_CB_ACK) assert_int_equal(f.up_ids[i], ids[k++]);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* A failing disk (fdatasync or write errors): intake stops at once (trigger
 * upstream), nothing is emitted or refused, the log is closed and reopened
 * (retried while the disk still fails), and then every event taken - those
 * the disk kept and those it did not - comes out once, in order, with each
 * transactional input acknowledged upstream exactly once. */
static void failed_log_reopens_and_loses_nothing(atomic_int *fault) {
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 10; i++) push(op, i, true);
    TICK_UNTIL(op, f.nout == 10);
    int acked = 0;
    ack_emitted(op, &f, &acked);
    TICK_UNTIL(op, count_ups(&f, TR_CB_ACK) == 10);
    atomic_store(fault, 1);
    for (uint64_t i = 10; i < 30; i++) push(op, i, true);
    TICK_UNTIL(op, count_ups(&f, TR_CB_TRIGGER) == 1);
    for (uint64_t i = 30; i < 40; i++) push(op, i, true);   /* on their way: held */
    for (int i = 0; i < 300; i++) {   /* the disk still fails: reopen attempts fail too */
        tr_op_qos_wal.tick(op, 0);
        usleep(1000);
    }
    assert_int_equal(f.nout, 10);
    assert_int_equal(count_ups(&f, TR_CB_FAIL), 0);   /* nothing refused */
    assert_int_equal(count_ups(&f, TR_CB_ACK), 10);   /* nothing acked that is not durable */
    atomic_store(fault, 0);
    for (int i = 0; i < 200000 && (f.nout == 0 || out_id(&f, f.nout - 1) != 39); i++) {
        tr_op_qos_wal.tick(op, 0);
        if (!ack_emitted(op, &f, &acked)) usleep(100);
    }
    ack_emitted(op, &f, &acked);
    /* every id, first seen in order; a record whose acknowledgement or
     * durability the failed disk may have lost can come again: from the
     * reopened log and from its copy (kept until a later sync succeeded),
     * so three times at most */
    uint64_t next = 0;
    int seen[40] = {0};
    for (int i = 0; i < f.nout; i++) {
        uint64_t id = out_id(&f, i);
        assert_true(id < 40);
        if (!seen[id]) assert_int_equal(id, next++);
        assert_true(++seen[id] <= 3);
    }
    assert_int_equal(next, 40);
    TICK_UNTIL(op, count_ups(&f, TR_CB_ACK) == 40);
    assert_int_equal(count_ups(&f, TR_CB_FAIL), 0);
    assert_int_equal(f.ups[f.nups - 1], TR_CB_RESTORE);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

static void fdatasync_error_reopens_and_loses_nothing(void **state) {
    (void)state;
    failed_log_reopens_and_loses_nothing(&sync_eio);
}

static void write_error_reopens_and_loses_nothing(void **state) {
    (void)state;
    failed_log_reopens_and_loses_nothing(&write_eio);
}

/* The directory becomes unwritable at a segment switch: the log fails,
 * intake stops, every reopen fails again at the next segment (the same
 * episode, retried with backoff), and once it is writable again everything
 * taken comes out, in order of first delivery. */
static void unwritable_directory_at_segment_switch(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(create(&f, "read_count=50,max_elements=100000,max_bytes=4200,segment_bytes=4100",
                            &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 10; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 10);
    int acked = 0;
    ack_emitted(op, &f, &acked);
    atomic_store(&deny_create, 1);
    uint64_t n = 10;
    while (count_ups(&f, TR_CB_TRIGGER) == 0 && n < 500) push(op, n++, false);
    assert_int_equal(count_ups(&f, TR_CB_TRIGGER), 1);
    for (int i = 0; i < 5; i++) push(op, n++, false);   /* on their way: held */
    for (int i = 0; i < 300; i++) {
        tr_op_qos_wal.tick(op, 0);
        usleep(1000);
        ack_emitted(op, &f, &acked);
    }
    int out_while_denied = f.nout;
    atomic_store(&deny_create, 0);
    for (int i = 0; i < 200000 && (f.nout == 0 || out_id(&f, f.nout - 1) != n - 1); i++) {
        tr_op_qos_wal.tick(op, 0);
        if (!ack_emitted(op, &f, &acked)) usleep(100);
    }
    assert_true(out_while_denied < (int)n);
    uint64_t next = 0;
    static int seen[600];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < f.nout; i++) {
        uint64_t id = out_id(&f, i);
        assert_true(id < n);
        if (!seen[id]) assert_int_equal(id, next++);
        assert_true(++seen[id] <= 2);
    }
    assert_int_equal(next, n);   /* expected every id; before: those after the failure were dropped */
    assert_int_equal(count_ups(&f, TR_CB_TRIGGER), 1);   /* one pause for the whole episode */
    TICK_UNTIL(op, f.ups[f.nups - 1] == TR_CB_RESTORE);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* A value with every kind the binary record holds, different per id. */
static tr_value rich(uint64_t id, size_t pad) {
    tr_value v, arr, inner, str;
    assert_int_equal(tr_v_rec(4, &v), 0);
    assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_uint(id)), 0);
    assert_int_equal(tr_v_arr(3, &arr), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_float(0.5 + (double)id)), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_int(-(int64_t)id)), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_bool(id % 2)), 0);
    assert_int_equal(tr_v_rec(1, &inner), 0);
    assert_int_equal(tr_rec_set(&inner, "nil", 3, tr_v_null()), 0);
    assert_int_equal(tr_arr_push(&arr, inner), 0);
    assert_int_equal(tr_rec_set(&v, "a", 1, arr), 0);
    char *p = malloc(pad + 1);
    assert_non_null(p);
    memset(p, 'a' + (int)(id % 26), pad);
    assert_int_equal(tr_v_str(p, pad, &str), 0);
    free(p);
    assert_int_equal(tr_rec_set(&v, "pad", 3, str), 0);
    return v;
}

static void push_rich(void *op, uint64_t id, size_t pad) {
    tr_value meta;
    assert_int_equal(tr_v_rec(1, &meta), 0);
    assert_int_equal(tr_rec_set(&meta, "n", 1, tr_v_uint(id * 7)), 0);
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, rich(id, pad), meta, 1000 + id), 0);
    tr_ids_init(&ev.ids, 1, 0, id);
    ev.transactional = id % 2;
    assert_int_equal(tr_op_qos_wal.event(op, "in", &ev), 0);
}

static uint64_t stat_of(void *op, const char *k) {
    tr_value r;
    assert_int_equal(tr_op_qos_wal.stats(op, &r), 0);
    const tr_value *v = tr_rec_get_cstr(&r, k);
    assert_non_null(v);
    uint64_t n = (uint64_t)v->as.i;
    tr_value_unref(r);
    return n;
}

static void keep_line(const char *line, void *arg) {
    char *last = arg;
    if (strstr(line, "refused an event")) snprintf(last, 256, "%s", line);
}

/* The log's own limit is the one applied: with max_bytes 20000 its largest
 * record is 19744 bytes, and an event over that is refused and counted by
 * the operator before anything is made for it, naming that limit. */
static void record_over_the_logs_limit_is_refused(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000,max_bytes=20000,segment_bytes=19900");
    cf(op, TR_CB_RESTORE, 0);
    char last[256] = "";
    tr_log_set_writer(keep_line, last);
    struct tr_event ev;
    make_big(&ev, 1, 25000, true);
    assert_true(tr_op_qos_wal.event(op, "in", &ev) != 0);
    tr_log_set_writer(NULL, NULL);
    if (!strstr(last, "(limit 19744)")) fail_msg("logged: '%s'", last);
    assert_int_equal(stat_of(op, "refused"), 1);
    push(op, 2, true);
    TICK_UNTIL(op, f.nout == 1);
    assert_int_equal(out_id(&f, 0), 2);
    TICK_UNTIL(op, count_ups(&f, TR_CB_FAIL) == 1);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* An event whose record would be over the log's largest is refused and
 * counted at once (its source hears FAIL), nothing is kept for it, and
 * the events around it go through in order. */
static void oversized_event_is_refused(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000");
    cf(op, TR_CB_RESTORE, 0);
    push(op, 0, true);
    size_t before = tr_alloc_used();
    struct tr_event ev;
    make_big(&ev, 1, 17u << 20, true);
    assert_true(tr_op_qos_wal.event(op, "in", &ev) != 0);
    /* its value is gone, and no room was made for a copy of its record:
     * what stays is the encoding buffer (32 MiB, kept for the next event),
     * not another 17 MiB beside it */
    assert_true(tr_alloc_used() < before + (40u << 20));
    push(op, 2, true);
    TICK_UNTIL(op, f.nout == 2);
    assert_int_equal(out_id(&f, 0), 0);
    assert_int_equal(out_id(&f, 1), 2);
    TICK_UNTIL(op, count_ups(&f, TR_CB_FAIL) == 1);
    for (int i = 0; i < f.nups; i++)
        if (f.ups[i] == TR_CB_FAIL) assert_int_equal(f.up_ids[i], 1);
    assert_int_equal(stat_of(op, "refused"), 1);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* out[i] is event id as push_rich made it: value, meta, ingest time, the
 * source's id tracked, and the flags. */
static void assert_rich(struct fake *f, int i, uint64_t id, size_t pad) {
    const struct tr_event *ev = &f->out[i];
    tr_value want = rich(id, pad);
    assert_true(tr_value_eq(&ev->value, &want));
    tr_value_unref(want);
    assert_int_equal(tr_rec_get_cstr(&ev->meta, "n")->as.i, (int64_t)id * 7);
    assert_int_equal(ev->ingest_ns, 1000 + id);
    uint64_t src_event = 0;
    assert_int_equal(tr_ids_max_for(&ev->ids, 1, &src_event), 0);
    assert_int_equal(src_event, id);
    assert_true(ev->transactional);
    assert_false(ev->is_batch);
}

/* Events read right after their group commit come out of memory as they
 * went in, without decoding their records; what a fail replays, what waits
 * while downstream is away, and what a backlog holds beyond the kept bound
 * is decoded from the log, and is the same. */
static void kept_events_come_out_as_appended(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=10000,max_in_flight=40");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 30; i++) push_rich(op, i, 10);
    TICK_UNTIL(op, f.nout == 30);
    assert_int_equal(stat_of(op, "decoded"), 0);
    for (int i = 0; i < 30; i++) assert_rich(&f, i, (uint64_t)i, 10);
    /* the sink fails 10: 10..29 again, from their records */
    cf(op, TR_CB_TRIGGER, 0);
    cf(op, TR_CB_FAIL, out_seq(&f, 10));
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 50);
    assert_int_equal(stat_of(op, "decoded"), 20);
    for (int i = 30; i < 50; i++) assert_rich(&f, i, (uint64_t)i - 20, 10);
    for (int i = 0; i < 50; i++) cf(op, TR_CB_ACK, out_seq(&f, i));
    /* appended while the sink is away: none kept */
    cf(op, TR_CB_TRIGGER, 0);
    for (uint64_t i = 30; i < 60; i++) push_rich(op, i, 10);
    TICK_UNTIL(op, stat_of(op, "records") == 30);
    cf(op, TR_CB_RESTORE, 0);
    int acked = 50;
    for (int i = 0; i < 200000 && f.nout < 80; i++) {
        tr_op_qos_wal.tick(op, 0);
        if (!ack_emitted(op, &f, &acked)) usleep(100);
    }
    assert_int_equal(f.nout, 80);
    assert_int_equal(stat_of(op, "decoded"), 50);
    for (int i = 50; i < 80; i++) assert_rich(&f, i, (uint64_t)i - 20, 10);
    ack_emitted(op, &f, &acked);   /* the loop may end before acking the last ones */
    TICK_UNTIL(op, stat_of(op, "records") == 0);
    /* a backlog of 2.9 MB behind a full window (nothing acked): 2 MiB of
     * records are kept, the rest decoded; all of it comes out in order */
    for (uint64_t i = 60; i < 760; i++) {
        push_rich(op, i, 4096);
        /* each in the log, not held back for the not-yet-durable bound */
        if (i % 50 == 9) TICK_UNTIL(op, stat_of(op, "records") == i - 59);
    }
    TICK_UNTIL(op, stat_of(op, "records") == 700);
    for (int i = 0; i < 200000 && f.nout < 780; i++) {
        tr_op_qos_wal.tick(op, 0);
        if (!ack_emitted(op, &f, &acked)) usleep(100);
    }
    assert_int_equal(f.nout, 780);
    uint64_t decoded = stat_of(op, "decoded") - 50;
    assert_true(decoded > 0 && decoded < 700);
    for (int i = 80; i < 780; i++) assert_rich(&f, i, (uint64_t)i - 20, 4096);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* max_in_flight = 4: four records out hold the window; once the peer has
 * them (released, not acked) four more go out, and again, while nothing is
 * acked. The released ones are still in the log: a fail of one replays it
 * and everything after it, from the WAL. */
static void released_records_leave_the_window(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=100,max_in_flight=4");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 12; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 4);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 4);   /* window full */
    for (int i = 0; i < 4; i++) cf(op, TR_CB_RELEASE, out_seq(&f, i));
    TICK_UNTIL(op, f.nout == 8);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 8);   /* the new four hold it again */
    for (int i = 4; i < 8; i++) cf(op, TR_CB_RELEASE, out_seq(&f, i));
    TICK_UNTIL(op, f.nout == 12);
    for (int i = 0; i < 12; i++) assert_int_equal(out_id(&f, i), i);
    /* a release is not an ack: nothing is reclaimed, a fail replays */
    cf(op, TR_CB_ACK, out_seq(&f, 0));
    cf(op, TR_CB_FAIL, out_seq(&f, 1));
    TICK_UNTIL(op, f.nout == 16);   /* 1, 2, 3, 4 again (window 4) */
    for (int i = 12; i < 16; i++) assert_int_equal(out_id(&f, i), i - 11);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* The ws linger: records the peer confirmed are released at the pong. The
 * link drops inside the linger: the offramp fails them and the WAL replays
 * them. The process dies there instead (state torn down, no ack): the
 * reopened WAL has them and replays them. Nothing released was forgotten. */
static void released_then_dropped_or_killed_is_replayed(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(create(&f, "read_count=20,max_elements=100", &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 5; i++) push(op, i, true);
    TICK_UNTIL(op, f.nout == 5);
    cf(op, TR_CB_ACK, out_seq(&f, 0));   /* lingered out: final */
    for (int i = 1; i < 5; i++) cf(op, TR_CB_RELEASE, out_seq(&f, i));
    cf(op, TR_CB_FAIL, out_seq(&f, 1));  /* the link dropped inside the linger */
    TICK_UNTIL(op, f.nout == 9);
    for (int i = 5; i < 9; i++) assert_int_equal(out_id(&f, i), i - 4);   /* 1..4 again */
    for (int i = 5; i < 9; i++) cf(op, TR_CB_RELEASE, out_seq(&f, i));
    /* killed inside the next linger: no ack, no fail, the state is gone */
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);

    assert_int_equal(create(&f, "read_count=20,max_elements=100", &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    TICK_UNTIL(op, f.nout == 4);
    for (int i = 0; i < 4; i++) assert_int_equal(out_id(&f, i), i + 1);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 4);   /* the acked one does not come back */
    for (int i = 0; i < 4; i++) cf(op, TR_CB_ACK, out_seq(&f, i));
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);

    assert_int_equal(create(&f, "read_count=20,max_elements=100", &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 0);   /* acked after the linger: gone for good */
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* A release for a record that is not out (stale, or another operator's)
 * changes nothing. */
/* ack_upstream = "delivered": a transactional source hears of an event
 * only once downstream acknowledged it, in whatever order that comes;
 * with the default ("durable") it hears as soon as the record is synced. */
static void ack_upstream_delivered_waits_for_downstream(void **state) {
    (void)state;
    for (int delivered = 0; delivered <= 1; delivered++) {
        struct fake f;
        fake_init(&f);
        void *op;
        struct tr_diag d;
        assert_int_equal(create(&f, delivered ? "read_count=20,max_elements=100,ack_upstream=\"delivered\""
                                              : "read_count=20,max_elements=100", &op, &d), 0);
        cf(op, TR_CB_RESTORE, 0);
        for (uint64_t i = 0; i < 4; i++) push(op, 10 + i, true);
        TICK_UNTIL(op, f.nout == 4);   /* emitted: durable */
        if (!delivered) {
            TICK_UNTIL(op, count_ups(&f, TR_CB_ACK) == 4);
            for (int i = 0; i < 4; i++) cf(op, TR_CB_ACK, out_seq(&f, i));   /* an empty log for the next */
        } else {
            for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
            assert_int_equal(count_ups(&f, TR_CB_ACK), 0);
            cf(op, TR_CB_ACK, out_seq(&f, 2));
            assert_int_equal(count_ups(&f, TR_CB_ACK), 1);
            assert_int_equal(f.up_ids[f.nups - 1], 12);
            cf(op, TR_CB_FAIL, out_seq(&f, 0));   /* replayed, still not acked upstream */
            assert_int_equal(count_ups(&f, TR_CB_ACK), 1);
            TICK_UNTIL(op, f.nout >= 5);
            cf(op, TR_CB_ACK, out_seq(&f, 0));   /* replayed: the same record */
            cf(op, TR_CB_ACK, out_seq(&f, 1));
            cf(op, TR_CB_ACK, out_seq(&f, 3));
            assert_int_equal(count_ups(&f, TR_CB_ACK), 4);
            uint64_t seen = 0;
            for (int i = 0; i < f.nups; i++)
                if (f.ups[i] == TR_CB_ACK) seen |= (uint64_t)1 << (f.up_ids[i] - 10);
            assert_int_equal(seen, 0xf);
            cf(op, TR_CB_ACK, out_seq(&f, 2));   /* twice: nothing more */
            assert_int_equal(count_ups(&f, TR_CB_ACK), 4);
        }
        tr_op_qos_wal.destroy(op);
        fake_reset(&f);
    }
}

static void stray_release_is_harmless(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=20,max_elements=100,max_in_flight=2");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 4; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 2);
    cf(op, TR_CB_RELEASE, 999);
    for (int i = 0; i < 20; i++) tr_op_qos_wal.tick(op, 0);
    assert_int_equal(f.nout, 2);
    struct tr_insight in;
    in.cb = TR_CB_RELEASE;
    tr_ids_init(&in.ids, UID + 1, 0, out_seq(&f, 0));
    tr_op_qos_wal.contraflow(op, &in);
    assert_int_equal(in.cb, TR_CB_RELEASE);   /* not ours: passed on */
    tr_insight_fini(&in);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* The log fails and a source that cannot replay (not transactional) keeps
 * sending past the trigger until the events held in memory reach their
 * bound: the operator cannot go on without losing more, so it tells the
 * host, which stops the server with a non-zero exit. */
static void ignored_backpressure_on_a_failed_log_is_fatal(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000");
    cf(op, TR_CB_RESTORE, 0);
    atomic_store(&sync_eio, 1);
    push(op, 0, false);
    TICK_UNTIL(op, count_ups(&f, TR_CB_TRIGGER) == 1);
    assert_int_equal(f.nfatal, 0);
    for (uint64_t i = 1; i < 5000 && f.nfatal == 0; i++) push(op, i, false);
    if (f.nfatal == 0) fail_msg("expected the operator to report that it cannot go on");
    if (!strstr(f.fatal_why, "ignores backpressure")) fail_msg("got '%s'", f.fatal_why);
    atomic_store(&sync_eio, 0);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* An fdatasync reports success, but the disk does not keep what it covered,
 * and the next sync fails (the file system went down under it). Records it
 * "made durable" that were not yet delivered must come out again after the
 * reopen: their copies are kept until a later sync succeeded. */
static void sync_that_lied_loses_nothing(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(create(&f, "read_count=50,max_elements=100000", &op, &d), 0);
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 10; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 10);
    int acked = 0;
    ack_emitted(op, &f, &acked);   /* 0..9 delivered */
    atomic_store(&sync_lie, 1);
    for (uint64_t i = 10; i < 20; i++) push(op, i, false);
    TICK_UNTIL(op, atomic_load(&sync_eio) == 1);   /* the lying sync happened */
    push(op, 20, false);                           /* its sync fails: the log failed */
    TICK_UNTIL(op, count_ups(&f, TR_CB_TRIGGER) == 1);
    int before = f.nout;   /* 10..19 may have gone out, never acknowledged */
    atomic_store(&sync_eio, 0);
    int seen[21] = {0};
    for (int i = 0; i < 200000; i++) {
        tr_op_qos_wal.tick(op, 0);
        for (int k = before; k < f.nout; k++)
            if (out_id(&f, k) <= 20) seen[out_id(&f, k)] = 1;
        int all = 1;
        for (int k = 10; k <= 20; k++) all &= seen[k];
        if (all) break;
        usleep(100);
    }
    for (int k = 10; k <= 20; k++)
        if (!seen[k]) fail_msg("id %d never came out of the reopened log", k);
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

/* The disk fails and comes back empty (it lost what it had said was
 * durable), so the reopened log numbers records from 1 again. Acks for
 * events emitted before the reopen carry the old numbers: they must not
 * acknowledge the new records that now have those numbers, or those would
 * never be delivered. */
static void stale_acks_after_a_wiped_reopen_touch_nothing(void **state) {
    (void)state;
    struct fake f;
    void *op = start_op(&f, "read_count=50,max_elements=100000");
    cf(op, TR_CB_RESTORE, 0);
    for (uint64_t i = 0; i < 10; i++) push(op, i, false);
    TICK_UNTIL(op, f.nout == 10);   /* out, not yet acknowledged */
    atomic_store(&sync_eio, 1);
    push(op, 10, false);
    TICK_UNTIL(op, count_ups(&f, TR_CB_TRIGGER) == 1);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s/wal/*", tmpdir);
    assert_int_equal(system(cmd), 0);
    atomic_store(&sync_eio, 0);
    TICK_UNTIL(op, count_ups(&f, TR_CB_RESTORE) > 0);
    for (uint64_t i = 11; i < 16; i++) push(op, i, false);
    /* 10..15 out again, numbered from 1 in the new log (after copies of
     * 0..9, kept until a later sync succeeded, when the log lost them) */
    TICK_UNTIL(op, f.nout >= 16 && out_id(&f, f.nout - 1) == 15);
    int again = f.nout - 10;
    for (int i = 0; i < 10; i++) cf_out(op, &f, TR_CB_ACK, i);   /* the old events' acks */
    cf_out(op, &f, TR_CB_FAIL, 10);   /* the link drops: the new ones are failed */
    TICK_UNTIL(op, f.nout >= 10 + 2 * again);   /* and replayed, none taken for acknowledged */
    for (int i = 0; i < again; i++) assert_int_equal(out_id(&f, 10 + again + i), out_id(&f, 10 + i));
    tr_op_qos_wal.destroy(op);
    fake_reset(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_errors_name_the_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(config_map_types_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(emits_only_after_restore_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(mixed_inputs_ack_their_own_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_event_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(record_over_the_logs_limit_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(kept_events_come_out_as_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(read_count_and_window_bound_emission, setup, teardown),
        cmocka_unit_test_setup_teardown(fail_replays_from_the_failed_event, setup, teardown),
        cmocka_unit_test_setup_teardown(full_log_triggers_upstream_and_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(drop_newest_counts_instead, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_replays_unacked_then_new, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_pauses_delivers_reclaims_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(fdatasync_error_reopens_and_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(not_yet_durable_copies_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(not_yet_durable_copies_bound_is_larger_while_downstream_takes_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_during_a_routine_pause_is_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(write_error_reopens_and_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_directory_at_segment_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(released_records_leave_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(released_then_dropped_or_killed_is_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(ack_upstream_delivered_waits_for_downstream, setup, teardown),
        cmocka_unit_test_setup_teardown(stray_release_is_harmless, setup, teardown),
        cmocka_unit_test_setup_teardown(ignored_backpressure_on_a_failed_log_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_acks_after_a_wiped_reopen_touch_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_that_lied_loses_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
