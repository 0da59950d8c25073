/* fuzz_wal.c - WAL recovery over a damaged directory (src/wal).
 *
 * The input describes a WAL directory; it is written to a scratch directory
 * (FUZZ_WAL_DIR, else /dev/shm when there is one), opened, every
 * record read, acknowledged or rewound as the flags say, and closed; then it
 * is opened once more, to recover from what the first run left.
 *
 * Input: byte 0 flags (bit 0 ack what is read, bit 1 rewind once to the
 * start and read again, bit 2 append a record after reading), then files,
 * each: tag (u8), length (u16 little-endian), bytes (cut at the end of the
 * input). Tag % 4: 0-1 segment, named by the first sequence number in its
 * header (bytes 16..23) when it has one, else by its index; 2 the
 * checkpoint; 3 a stray "*.tmp" file.
 *
 * First the directory is scanned read-only (tr_wal_inspect, as `tremor wal
 * verify` does): it must return 0 or a documented error with a message, and
 * count no more intact records than their bytes allow.
 *
 * Oracles: open either succeeds or fails with a documented error and a
 * message; records come out in increasing order above the frontier, each
 * within max_record_bytes; after a clean close the second open has a
 * frontier and a next number no lower than the first run's.
 *
 * fdatasync and fsync are no-ops through the WAL's I/O seam: durability
 * against power loss is tests/wal's business, and it would make every run
 * wait for the disk. With FUZZ_WAL_MKSEED=DIR set, the program writes seed
 * inputs (directories of real WALs, packed as above) into DIR and exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "wal/wal.h"

#define MAX_RECORD 1024
#define MAX_READS 100000

enum { F_ACK = 1, F_REWIND = 2, F_APPEND = 4 };

static char scratch[512];
static struct tr_wal_io io;

static int no_sync(void *ctx, int fd) {
    (void)ctx;
    (void)fd;
    return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    /* keep the scratch directory itself */
    return ftw->level == 0 ? 0 : remove(p);
}

static void clear_dir(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_scratch(void) {
    clear_dir(scratch);
    rmdir(scratch);
}

static void config(struct tr_wal_config *c, const char *dir) {
    tr_wal_config_init(c);
    c->dir = dir;
    c->segment_bytes = 2048;   /* small: several segments from a few records */
    c->max_record_bytes = MAX_RECORD;
    c->sync = TR_WAL_SYNC_ALWAYS;
    c->io = &io;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return -1;
    ssize_t w = n ? write(fd, p, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Write the files the input describes into dir. */
static void unpack(const uint8_t *data, size_t size, const char *dir) {
    size_t off = 1, nseg = 0, ntmp = 0;
    while (off + 3 <= size) {
        uint8_t tag = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off) len = size - off;
        const uint8_t *p = data + off;
        off += len;
        char name[64];
        switch (tag % 4) {
        case 0:
        case 1: {
            uint64_t first = len >= 24 ? le64(p + 16) : 1 + 1000 * (uint64_t)nseg;
            snprintf(name, sizeof name, "%020" PRIu64 ".wal", first);
            nseg++;
            break;
        }
        case 2: snprintf(name, sizeof name, "checkpoint"); break;
        default: snprintf(name, sizeof name, "stray%zu.tmp", ntmp++); break;
        }
        write_file(dir, name, p, len);   /* a second file of the same name is dropped */
    }
}

static void check_open_error(int rc, const struct tr_diag *d) {
    if (rc != TR_ECORRUPT && rc != TR_EUNSUPPORTED && rc != -ENOMEM && rc != -EIO && rc != -ENOSPC)
        fuzz_fail("open failed with %d (%s): %s", rc, tr_strerror(rc), d->msg);
    if (!d->msg[0]) fuzz_fail("open failed with %d without a message", rc);
}

/* Read until nothing is left; returns the records handed out. */
static uint64_t drain(struct tr_wal *w, int ack, uint64_t *last) {
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    uint64_t n = 0, prev = st.frontier;
    for (; n < MAX_READS; n++) {
        struct tr_wal_record rec;
        int rc = tr_wal_read(w, &rec);
        if (rc == -EAGAIN) break;
        if (rc) {
            if (rc != -ENOMEM && rc != -EIO && rc != TR_ECORRUPT) fuzz_fail("read failed with %d", rc);
            break;
        }
        if (rec.seq <= prev) fuzz_fail("record %" PRIu64 " handed out after %" PRIu64, rec.seq, prev);
        if (rec.len == 0 || rec.len > MAX_RECORD) fuzz_fail("record %" PRIu64 " of %zu bytes", rec.seq, rec.len);
        volatile uint8_t sum = 0;   /* touch every byte: ASan checks the payload is really there */
        for (size_t i = 0; i < rec.len; i++) sum ^= ((const uint8_t *)rec.data)[i];
        (void)sum;
        prev = rec.seq;
        if (ack && tr_wal_ack(w, rec.seq)) fuzz_fail("ack of %" PRIu64 " refused", rec.seq);
    }
    if (n == MAX_READS) fuzz_fail("more than %d records from a %d-byte input", MAX_READS, 1 << 17);
    *last = prev;
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t flags = data[0];
    clear_dir(scratch);
    unpack(data, size, scratch);

    struct tr_wal_config c;
    struct tr_wal *w = NULL;
    struct tr_diag d;
    struct tr_wal_summary sum;
    tr_diag_clear(&d);
    int rc = tr_wal_inspect(scratch, NULL, &sum, &d);
    if (rc && rc != TR_ECORRUPT && rc != TR_EUNSUPPORTED && rc != -ENOMEM)
        fuzz_fail("inspect returned %d", rc);
    if (rc && !d.msg[0]) fuzz_fail("inspect error %d without a message", rc);
    if (!rc && sum.records * 21 > sum.file_bytes) fuzz_fail("inspect counted %" PRIu64 " records in %" PRIu64 " bytes", sum.records, sum.file_bytes);
    config(&c, scratch);
    tr_diag_clear(&d);
    rc = tr_wal_open(&c, &w, &d);
    if (rc) {
        if (w) fuzz_fail("failed open returned a WAL");
        check_open_error(rc, &d);
        return 0;
    }
    uint64_t last = 0;
    drain(w, flags & F_ACK, &last);
    if (flags & F_REWIND) {
        if (tr_wal_rewind(w, 1)) fuzz_fail("rewind to the start refused");
        drain(w, flags & F_ACK, &last);
    }
    if (flags & F_APPEND) {
        static const char rec[] = "appended after recovery";
        uint64_t seq = 0;
        rc = tr_wal_append(w, rec, sizeof rec - 1, &seq);
        if (rc == 0 && seq <= last) fuzz_fail("append got %" PRIu64 ", already handed out %" PRIu64, seq, last);
        if (rc == 0 && tr_wal_sync(w)) fuzz_fail("sync after append");
    }
    struct tr_wal_stats st;
    tr_wal_stats(w, &st);
    int failed = st.failed;
    rc = tr_wal_close(w);
    if (rc && !failed) fuzz_fail("close failed with %d", rc);

    /* recover from what the first run left: nothing acknowledged or numbered goes back */
    w = NULL;
    tr_diag_clear(&d);
    rc = tr_wal_open(&c, &w, &d);
    if (rc) fuzz_fail("reopen after a clean close failed: %d %s", rc, d.msg);
    struct tr_wal_stats st2;
    tr_wal_stats(w, &st2);
    if (!failed && st2.frontier < st.frontier)
        fuzz_fail("frontier went back from %" PRIu64 " to %" PRIu64, st.frontier, st2.frontier);
    if (!failed && st2.next_seq < st.next_seq)
        fuzz_fail("next number went back from %" PRIu64 " to %" PRIu64, st.next_seq, st2.next_seq);
    drain(w, 0, &last);
    tr_wal_close(w);
    return 0;
}

/* ------------------------------------------------------------ seed maker */

static void pack_file(FILE *out, uint8_t tag, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    uint8_t buf[65535];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t h[3] = {tag, (uint8_t)n, (uint8_t)(n >> 8)};
    fwrite(h, 1, 3, out);
    fwrite(buf, 1, n, out);
}

/* Pack every file of dir (segments in name order, then the checkpoint). */
static void pack_dir(const char *dir, uint8_t flags, const char *outpath) {
    FILE *out = fopen(outpath, "wb");
    if (!out) fuzz_fail("cannot write %s", outpath);
    fputc(flags, out);
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        if (strstr(list[i]->d_name, ".wal")) pack_file(out, 0, path);
        free(list[i]);
    }
    free(list);
    char path[1024];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    pack_file(out, 2, path);
    fclose(out);
}

/* A real WAL: nrec records of 1..64 bytes, the first nack acknowledged. */
static void make_seed(const char *outdir, const char *name, int nrec, int nack, uint8_t flags) {
    struct tr_wal_config c;
    struct tr_wal *w = NULL;
    struct tr_diag d;
    clear_dir(scratch);
    config(&c, scratch);
    if (tr_wal_open(&c, &w, &d)) fuzz_fail("seed: open: %s", d.msg);
    for (int i = 0; i < nrec; i++) {
        char rec[64];
        size_t len = 1 + (size_t)(i * 7) % sizeof rec;
        for (size_t k = 0; k < len; k++) rec[k] = (char)('a' + (i + k) % 26);
        if (tr_wal_append(w, rec, len, NULL)) fuzz_fail("seed: append");
    }
    if (tr_wal_sync(w)) fuzz_fail("seed: sync");
    struct tr_wal_record r;
    for (int i = 0; i < nack && tr_wal_read(w, &r) == 0; i++) tr_wal_ack(w, r.seq);
    tr_wal_close(w);
    char out[1024];
    snprintf(out, sizeof out, "%s/%s", outdir, name);
    pack_dir(scratch, flags, out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    io = *tr_wal_io_posix();
    io.fdatasync = no_sync;
    io.fsync = no_sync;
    const char *base = getenv("FUZZ_WAL_DIR");
    struct stat sb;
    if (!base) base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/tremor-fuzz-wal-%ld", base, (long)getpid());
    if (mkdir(scratch, 0755) && errno != EEXIST) fuzz_fail("cannot create %s", scratch);
    /* libFuzzer ends with _Exit, so this only runs for the seed maker; scripts/fuzz.sh
     * points FUZZ_WAL_DIR at a directory it removes afterwards */
    atexit(remove_scratch);
    const char *seeds = getenv("FUZZ_WAL_MKSEED");
    if (seeds) {
        make_seed(seeds, "empty", 0, 0, 0);
        make_seed(seeds, "one", 1, 0, F_ACK);
        make_seed(seeds, "unacked", 12, 0, F_ACK | F_APPEND);
        make_seed(seeds, "half-acked", 40, 20, F_ACK | F_REWIND);
        make_seed(seeds, "all-acked", 30, 30, F_APPEND);
        make_seed(seeds, "many-segments", 120, 50, F_ACK | F_REWIND | F_APPEND);
        exit(0);
    }
    return 0;
}
