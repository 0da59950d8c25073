/* test_wal_crash.c - SIGKILL the writer, many times over; nothing durable is lost.
 *
 * A forked child appends, reads and acks (out of order, with rewinds) under
 * policy ALWAYS and reports on a pipe: "D n" once records up to n are
 * durable, "A n" BEFORE it acks n. The parent kills it - at a random point of
 * its progress, or the child kills itself at a named I/O step (before or
 * after the Nth pwrite / fdatasync / fsync / unlink / rename / open) - then
 * reopens the directory and checks the oracle:
 *   - the records present are exactly frontier+1 .. next-1, consecutive,
 *     payloads intact, nothing counted corrupt (a kill can only tear a tail);
 *   - next-1 >= every number reported durable;
 *   - every number at or below the recovered frontier was reported acked,
 *     and the frontier is at least what a completed tr_wal_sync covered.
 * The next child continues the same log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "core/log.h"
#include "wal/wal.h"
#include "wal_test_util.h"

#define PMAX 300
#define CYCLES 40

enum { K_PWRITE, K_FDATASYNC, K_FSYNC, K_UNLINK, K_RENAME, K_OPEN, K_COUNT };
static const char *kind_name[K_COUNT] = {"pwrite", "fdatasync", "fsync", "unlink", "rename", "open"};

/* ---- the child's I/O seam: kill at a named step ---- */
struct crash_io {
    struct tr_wal_io io;
    const struct tr_wal_io *real;
    int kind, nth, after;
    atomic_int count[K_COUNT];
};

static void step(struct crash_io *c, int kind, int after) {
    if (c->kind != kind || c->after != after) return;
    if (!after && atomic_fetch_add(&c->count[kind], 1) + 1 != c->nth) return;
    if (after && atomic_load(&c->count[kind]) != c->nth) return;
    kill(getpid(), SIGKILL);
}
#define PRE(k) step(c, k, 0)
#define POST(k)                                          \
    do {                                                 \
        if (c->after) atomic_fetch_add(&c->count[k], 1); \
        step(c, k, 1);                                   \
    } while (0)

static int c_open(void *ctx, const char *p, int fl, int mode) {
    struct crash_io *c = ctx;
    PRE(K_OPEN);
    int r = c->real->open(NULL, p, fl, mode);
    POST(K_OPEN);
    return r;
}
static int c_close(void *ctx, int fd) { return ((struct crash_io *)ctx)->real->close(NULL, fd); }
static ssize_t c_pread(void *ctx, int fd, void *b, size_t n, uint64_t off) {
    return ((struct crash_io *)ctx)->real->pread(NULL, fd, b, n, off);
}
static ssize_t c_pwrite(void *ctx, int fd, const void *b, size_t n, uint64_t off) {
    struct crash_io *c = ctx;
    PRE(K_PWRITE);
    ssize_t r;
    if (c->kind == K_PWRITE && !c->after && n > 1 && atomic_load(&c->count[K_PWRITE]) == c->nth - 1) {
        r = c->real->pwrite(NULL, fd, b, n / 2, off);   /* the write right before: half of it */
        (void)r;
        kill(getpid(), SIGKILL);
    }
    r = c->real->pwrite(NULL, fd, b, n, off);
    POST(K_PWRITE);
    return r;
}
static int c_fdatasync(void *ctx, int fd) {
    struct crash_io *c = ctx;
    PRE(K_FDATASYNC);
    int r = c->real->fdatasync(NULL, fd);
    POST(K_FDATASYNC);
    return r;
}
static int c_fsync(void *ctx, int fd) {
    struct crash_io *c = ctx;
    PRE(K_FSYNC);
    int r = c->real->fsync(NULL, fd);
    POST(K_FSYNC);
    return r;
}
static int c_ftruncate(void *ctx, int fd, uint64_t l) { return ((struct crash_io *)ctx)->real->ftruncate(NULL, fd, l); }
static int c_fallocate(void *ctx, int fd, uint64_t l) { return ((struct crash_io *)ctx)->real->fallocate(NULL, fd, l); }
static int c_fsize(void *ctx, int fd, uint64_t *s) { return ((struct crash_io *)ctx)->real->fsize(NULL, fd, s); }
static int c_rename(void *ctx, const char *a, const char *b) {
    struct crash_io *c = ctx;
    PRE(K_RENAME);
    int r = c->real->rename(NULL, a, b);
    POST(K_RENAME);
    return r;
}
static int c_unlink(void *ctx, const char *p) {
    struct crash_io *c = ctx;
    PRE(K_UNLINK);
    int r = c->real->unlink(NULL, p);
    POST(K_UNLINK);
    return r;
}
static int c_mkdir(void *ctx, const char *p, int m) { return ((struct crash_io *)ctx)->real->mkdir(NULL, p, m); }

static void wal_config(struct tr_wal_config *c, const char *dir) {
    tr_wal_config_init(c);
    c->dir = dir;
    c->sync = TR_WAL_SYNC_ALWAYS;
    c->segment_bytes = 16 << 10;   /* small: rolls and reclaims all the time */
    c->max_record_bytes = 512;
    c->max_records = 4000;
}

static void out(int fd, char *buf, size_t *n) {
    size_t done = 0;
    while (done < *n) {
        ssize_t r = write(fd, buf + done, *n - done);
        if (r <= 0) _exit(9);
        done += (size_t)r;
    }
    *n = 0;
}

/* The child: never returns; exits non-zero on any violation it sees. */
static void child(const char *dir, int fd, int kind, int nth, int after, unsigned seed) {
    tr_log_set_level(TR_LOG_ERROR);
    srand(seed);
    static struct crash_io c;
    c.real = tr_wal_io_posix();
    c.kind = kind;
    c.nth = nth;
    c.after = after;
    c.io = (struct tr_wal_io){&c, c_open, c_close, c_pread, c_pwrite, c_fdatasync, c_fsync, c_ftruncate,
                              c_fallocate, c_fsize, c_rename, c_unlink, c_mkdir};
    struct tr_wal_config cfg;
    wal_config(&cfg, dir);
    cfg.io = &c.io;
    struct tr_wal *w = NULL;
    if (tr_wal_open(&cfg, &w, NULL)) _exit(2);
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t next = st.next_seq, last_d = 0, handed[512];
    size_t nh = 0, ob = 0;
    static char obuf[1 << 16];
    unsigned char buf[PMAX];
    for (;;) {
        int k = 1 + rand() % 40;
        for (int i = 0; i < k; i++) {
            uint64_t seq;
            int rc = tr_wal_append(w, buf, wt_payload(next, PMAX, buf), &seq);
            if (rc == TR_EFULL) break;
            if (rc) _exit(3);
            if (seq != next) _exit(4);
            next++;
        }
        uint64_t d = tr_wal_durable_seq(w);
        if (d > last_d) {
            ob += (size_t)snprintf(obuf + ob, sizeof obuf - ob, "D %" PRIu64 "\n", d);
            last_d = d;
        }
        struct tr_wal_record r;
        while (nh < 512 && tr_wal_read(w, &r) == 0) {
            if (!wt_payload_ok(r.seq, PMAX, r.data, r.len)) _exit(5);
            handed[nh++] = r.seq;
        }
        /* ack a random subset, in random order, reported first */
        uint64_t acks[512];
        size_t na = 0;
        size_t m = nh ? (size_t)rand() % (nh + 1) : 0;
        for (size_t i = 0; i < m && nh; i++) {
            size_t j = (size_t)rand() % nh;
            acks[na++] = handed[j];
            handed[j] = handed[--nh];
        }
        for (size_t i = 0; i < na; i++)
            ob += (size_t)snprintf(obuf + ob, sizeof obuf - ob, "A %" PRIu64 "\n", acks[i]);
        out(fd, obuf, &ob);
        for (size_t i = 0; i < na; i++)
            if (tr_wal_ack(w, acks[i])) _exit(6);
        if (nh && rand() % 50 == 0) {   /* a failed delivery: replay from the oldest out */
            uint64_t lo = handed[0];
            for (size_t i = 1; i < nh; i++)
                if (handed[i] < lo) lo = handed[i];
            if (tr_wal_rewind(w, lo)) _exit(7);
            nh = 0;
        }
        if (rand() % 20 == 0) {
            /* acks before a completed sync must never be replayed: report it */
            tr_wal_stats(w, &st);
            uint64_t f = st.frontier;
            if (tr_wal_sync(w)) _exit(8);
            ob += (size_t)snprintf(obuf + ob, sizeof obuf - ob, "S %" PRIu64 "\n", f);
        }
        tr_wal_stats(w, &st);
        if (st.corrupt_records || st.corrupt_bytes) {
            fprintf(stderr, "child: corrupt %lu/%lu frontier %lu read %lu durable %lu\n", (unsigned long)st.corrupt_records, (unsigned long)st.corrupt_bytes, (unsigned long)st.frontier, (unsigned long)st.read_seq, (unsigned long)st.durable_seq);
            _exit(10);
        }
    }
}

struct oracle {
    uint64_t max_d;
    uint64_t synced_frontier;   /* a frontier reported durable by a completed sync */
    unsigned char *acked;   /* acked[seq] = reported acked */
    size_t cap;
};

static void mark_acked(struct oracle *o, uint64_t s) {
    if (s >= o->cap) {
        size_t nc = o->cap ? o->cap : 4096;
        while (nc <= s) nc *= 2;
        o->acked = realloc(o->acked, nc);
        memset(o->acked + o->cap, 0, nc - o->cap);
        o->cap = nc;
    }
    o->acked[s] = 1;
}

static int is_acked(struct oracle *o, uint64_t s) { return s < o->cap && o->acked[s]; }

/* Parse complete lines; returns the max durable seen so far. */
static void parse(struct oracle *o, char *buf, size_t *len) {
    size_t start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\n') continue;
        buf[i] = 0;
        char t = buf[start];
        uint64_t v = strtoull(buf + start + 2, NULL, 10);
        if (t == 'D' && v > o->max_d) o->max_d = v;
        if (t == 'A') mark_acked(o, v);
        if (t == 'S' && v > o->synced_frontier) o->synced_frontier = v;
        start = i + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
}

static void test_kill_cycles(void **state) {
    (void)state;
    tr_log_set_level(TR_LOG_ERROR);
    char *dir = wt_mkdtemp();
    assert_non_null(dir);
    struct oracle o = {0, 0, NULL, 0};
    srand(12345);
    uint64_t replayed_acked = 0, delivered = 0;
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        int kind = -1, nth = 0, after = 0;
        if (cycle % 2) {   /* a named step */
            kind = (cycle / 2) % K_COUNT;
            nth = 1 + rand() % (kind == K_PWRITE || kind == K_FDATASYNC ? 60 : 4);
            after = (cycle / 2 / K_COUNT) % 2;
        }
        uint64_t d0 = o.max_d, budget = 1 + (uint64_t)(rand() % 3000);
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, pfd[1], kind, nth, after, (unsigned)rand() ^ (unsigned)cycle);
        }
        close(pfd[1]);
        char lb[1 << 16];
        size_t ll = 0;
        int killed = 0;
        for (;;) {
            struct pollfd pf = {pfd[0], POLLIN, 0};
            int pr = poll(&pf, 1, 30000);   /* only a hang guard: a live child writes constantly */
            assert_true(pr > 0);
            ssize_t r = read(pfd[0], lb + ll, sizeof lb - ll);
            if (r <= 0) break;   /* the child is gone */
            ll += (size_t)r;
            parse(&o, lb, &ll);
            /* random moment: after a random amount of progress (or a named
             * step that never came within a larger budget) */
            if (!killed && o.max_d >= d0 + (kind < 0 ? budget : 20000)) {
                kill(pid, SIGKILL);
                killed = 1;
            }
        }
        close(pfd[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            print_error("cycle %d: child ended with status %d\n", cycle, status);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* the oracle */
        struct tr_wal_config cfg;
        wal_config(&cfg, dir);
        struct tr_wal *w = NULL;
        struct tr_diag dg;
        tr_diag_clear(&dg);
        int rc = tr_wal_open(&cfg, &w, &dg);
        if (rc) print_error("cycle %d (%s): open: %s %s\n", cycle, kind >= 0 ? kind_name[kind] : "random",
                            tr_strerror(rc), dg.msg);
        assert_int_equal(rc, 0);
        struct tr_wal_stats st;
        tr_wal_stats(w, &st);
        if (st.next_seq - 1 < o.max_d)
            print_error("cycle %d: durable %lu reported, log ends at %lu\n", cycle, (unsigned long)o.max_d,
                        (unsigned long)(st.next_seq - 1));
        assert_true(st.next_seq - 1 >= o.max_d);
        if (st.frontier < o.synced_frontier)
            print_error("cycle %d: frontier %lu went back behind %lu, durable by a sync\n", cycle,
                        (unsigned long)st.frontier, (unsigned long)o.synced_frontier);
        assert_true(st.frontier >= o.synced_frontier);
        for (uint64_t s = 1; s <= st.frontier; s++) {
            if (!is_acked(&o, s)) print_error("cycle %d: frontier %lu covers unacked %lu\n", cycle,
                                              (unsigned long)st.frontier, (unsigned long)s);
            assert_true(is_acked(&o, s));
        }
        struct tr_wal_record r;
        for (uint64_t s = st.frontier + 1; s < st.next_seq; s++) {
            rc = tr_wal_read(w, &r);
            if (rc || r.seq != s)
                print_error("cycle %d: expected %lu, rc %d seq %lu\n", cycle, (unsigned long)s, rc,
                            (unsigned long)r.seq);
            assert_int_equal(rc, 0);
            assert_int_equal(r.seq, s);
            assert_true(wt_payload_ok(s, PMAX, r.data, r.len));
            if (is_acked(&o, s)) replayed_acked++;
            delivered++;
        }
        assert_int_equal(tr_wal_read(w, &r), -EAGAIN);
        tr_wal_stats(w, &st);
        assert_int_equal(st.corrupt_records, 0);
        assert_int_equal(st.corrupt_bytes, 0);
        assert_int_equal(tr_wal_close(w), 0);
    }
    print_message("%d kill cycles, durable through %lu; %lu records replayed after kills, %lu of them "
                  "acknowledged before the kill\n",
                  CYCLES, (unsigned long)o.max_d, (unsigned long)delivered, (unsigned long)replayed_acked);
    free(o.acked);
    wt_rmrf(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
